//! The pod status the kubelet reports: phase, conditions, IPs and one
//! status per container, computed from what the runtime says, the probes
//! and why a container is waiting. Pure, so upstream's rules are tables.

use std::collections::HashMap;

use k8s_cri::v1::{ContainerState as CriState, ContainerStatus as CriStatus};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::Failure;
use super::probes::State as ProbeState;

/// What the worker observed about one container name: the runtime's status
/// of its newest and previous instances, probe results, and a reason it is
/// waiting (back-off, pull or create errors).
#[derive(Default, Clone)]
pub struct Observed {
    pub latest: Option<CriStatus>,
    pub previous: Option<CriStatus>,
    pub probe: ProbeState,
    pub waiting: Option<Failure>,
}

pub struct Input<'a> {
    pub pod: &'a Pod,
    pub init: &'a HashMap<String, Observed>,
    pub containers: &'a HashMap<String, Observed>,
    pub pod_ips: &'a [String],
    pub host_ip: &'a str,
    pub sandbox_ready: bool,
}

fn time(nanos: i64) -> Option<Time> {
    (nanos > 0)
        .then(|| Timestamp::from_nanosecond(nanos as i128).ok())
        .flatten()
        .map(Time)
}

fn terminated(s: &CriStatus) -> ContainerStateTerminated {
    let reason = if !s.reason.is_empty() {
        s.reason.clone()
    } else if s.exit_code == 0 {
        "Completed".into()
    } else {
        "Error".into()
    };
    ContainerStateTerminated {
        exit_code: s.exit_code,
        reason: Some(reason),
        message: (!s.message.is_empty()).then(|| s.message.clone()),
        started_at: time(s.started_at),
        finished_at: time(s.finished_at),
        container_id: Some(format!("containerd://{}", s.id)),
        ..Default::default()
    }
}

fn is(s: &CriStatus, state: CriState) -> bool {
    s.state == state as i32
}

pub fn container(spec: &Container, o: &Observed, default_waiting: &str) -> ContainerStatus {
    let waiting = |reason: &str, message: Option<String>| ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message,
        }),
        ..Default::default()
    };
    let (state, last) = match &o.latest {
        Some(s) if is(s, CriState::ContainerRunning) => (
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: time(s.started_at),
                }),
                ..Default::default()
            },
            o.previous.as_ref().map(terminated),
        ),
        Some(s) if is(s, CriState::ContainerExited) => match &o.waiting {
            Some(w) => (
                waiting(&w.reason, Some(w.message.clone())),
                Some(terminated(s)),
            ),
            None => (
                ContainerState {
                    terminated: Some(terminated(s)),
                    ..Default::default()
                },
                o.previous.as_ref().map(terminated),
            ),
        },
        Some(_) => (waiting("ContainerCreating", None), None),
        None => match &o.waiting {
            Some(w) => (waiting(&w.reason, Some(w.message.clone())), None),
            None => (waiting(default_waiting, None), None),
        },
    };
    let running = state.running.is_some();
    ContainerStatus {
        name: spec.name.clone(),
        image: spec.image.clone().unwrap_or_default(),
        image_id: o
            .latest
            .as_ref()
            .map(|s| s.image_ref.clone())
            .unwrap_or_default(),
        container_id: o.latest.as_ref().map(|s| format!("containerd://{}", s.id)),
        restart_count: o
            .latest
            .as_ref()
            .and_then(|s| s.metadata.as_ref())
            .map_or(0, |m| m.attempt as i32),
        ready: running && o.probe.started && o.probe.ready,
        started: Some(running && o.probe.started),
        state: Some(state),
        last_state: Some(last.map_or_else(Default::default, |t| ContainerState {
            terminated: Some(t),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Whether every init container has exited 0.
pub fn init_done(pod: &Pod, init: &HashMap<String, Observed>) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .all(|c| {
            init.get(&c.name)
                .and_then(|o| o.latest.as_ref())
                .is_some_and(|s| is(s, CriState::ContainerExited) && s.exit_code == 0)
        })
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

/// An init container failed for good (restartPolicy Never).
fn init_failed(pod: &Pod, init: &HashMap<String, Observed>) -> bool {
    restart_policy(pod) == "Never"
        && init.values().any(|o| {
            o.latest
                .as_ref()
                .is_some_and(|s| is(s, CriState::ContainerExited) && s.exit_code != 0)
        })
}

/// Upstream's getPhase.
pub fn phase(
    pod: &Pod,
    statuses: &[ContainerStatus],
    init_done: bool,
    init_failed: bool,
) -> &'static str {
    if init_failed {
        return "Failed";
    }
    if !init_done {
        return "Pending";
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in statuses {
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if s
            .last_state
            .as_ref()
            .is_some_and(|l| l.terminated.is_some())
        {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    match () {
        _ if waiting > 0 => "Pending",
        _ if running > 0 => "Running",
        _ if stopped > 0 => match restart_policy(pod) {
            "Always" => "Running",
            "OnFailure" if stopped != succeeded => "Running",
            "Never" if stopped != succeeded => "Failed",
            _ => "Succeeded",
        },
        _ => "Pending",
    }
}

/// The conditions the kubelet sets; any other is someone else's.
const OWNED: &[&str] = &[
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

pub fn compute(input: &Input) -> PodStatus {
    let pod = input.pod;
    let spec = pod.spec.clone().unwrap_or_default();
    let previous = pod.status.clone().unwrap_or_default();
    let init_done = init_done(pod, input.init);
    let init_statuses: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            container(
                c,
                input.init.get(&c.name).unwrap_or(&Observed::default()),
                "PodInitializing",
            )
        })
        .collect();
    let default_waiting = if init_done {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| {
            container(
                c,
                input
                    .containers
                    .get(&c.name)
                    .unwrap_or(&Observed::default()),
                default_waiting,
            )
        })
        .collect();
    let phase = phase(pod, &statuses, init_done, init_failed(pod, input.init));
    let all_ready = !statuses.is_empty() && statuses.iter().all(|s| s.ready);
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let ready = all_ready && !terminal;
    let not_ready_message = || {
        let names: Vec<&str> = statuses
            .iter()
            .filter(|s| !s.ready)
            .map(|s| s.name.as_str())
            .collect();
        format!("containers with unready status: [{}]", names.join(" "))
    };
    let now = Time(Timestamp::now());
    let condition = |type_: &str, ok: bool, reason: Option<&str>, message: Option<String>| {
        let status = if ok { "True" } else { "False" };
        // A condition keeps its transition time until its status changes.
        let since = previous
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == type_ && c.status == status)
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        PodCondition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: (!ok).then(|| reason.map(str::to_owned)).flatten(),
            message: (!ok).then_some(message).flatten(),
            last_transition_time: Some(since),
            ..Default::default()
        }
    };
    // Readiness gates: conditions others set hold Ready back until True.
    let gates: Vec<String> = spec
        .readiness_gates
        .iter()
        .flatten()
        .filter_map(|g| {
            let found = previous
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == g.condition_type);
            match found {
                Some(c) if c.status == "True" => None,
                Some(c) => Some(format!(
                    "the status of pod readiness gate \"{}\" is not \"True\", but {}",
                    g.condition_type, c.status
                )),
                None => Some(format!(
                    "corresponding condition of pod readiness gate \"{}\" does not exist.",
                    g.condition_type
                )),
            }
        })
        .collect();
    let (ready_reason, ready_message) = if ready && !gates.is_empty() {
        ("ReadinessGatesNotReady", gates.join(", "))
    } else if terminal {
        ("PodCompleted", not_ready_message())
    } else {
        ("ContainersNotReady", not_ready_message())
    };
    let mut conditions = vec![
        condition("PodReadyToStartContainers", input.sandbox_ready, None, None),
        condition(
            "Initialized",
            init_done,
            Some("ContainersNotInitialized"),
            Some("containers with incomplete status".into()),
        ),
        condition(
            "Ready",
            ready && gates.is_empty(),
            Some(ready_reason),
            Some(ready_message),
        ),
        condition(
            "ContainersReady",
            ready,
            Some(if terminal {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            }),
            Some(not_ready_message()),
        ),
        condition("PodScheduled", true, None, None),
    ];
    // Conditions others own (readiness gates, disruption targets) stay as
    // they are: the status is written whole.
    conditions.extend(
        previous
            .conditions
            .iter()
            .flatten()
            .filter(|c| !OWNED.contains(&c.type_.as_str()))
            .cloned(),
    );
    PodStatus {
        phase: Some(phase.to_owned()),
        conditions: Some(conditions),
        host_ip: Some(input.host_ip.to_owned()),
        host_ips: Some(vec![HostIP {
            ip: input.host_ip.to_owned(),
        }]),
        pod_ip: input.pod_ips.first().cloned(),
        pod_ips: (!input.pod_ips.is_empty()).then(|| {
            input
                .pod_ips
                .iter()
                .map(|ip| PodIP { ip: ip.clone() })
                .collect()
        }),
        start_time: previous.start_time.clone().or(Some(now)),
        container_statuses: Some(statuses),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        qos_class: previous.qos_class.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_cri::v1::ContainerMetadata;
    use k8s_openapi::api::core::v1::{PodReadinessGate, PodSpec};

    fn cri(state: CriState, exit: i32, attempt: u32) -> CriStatus {
        CriStatus {
            id: format!("c{attempt}"),
            state: state as i32,
            exit_code: exit,
            metadata: Some(ContainerMetadata {
                name: "app".into(),
                attempt,
            }),
            ..Default::default()
        }
    }

    fn pod(policy: &str) -> Pod {
        Pod {
            spec: Some(PodSpec {
                restart_policy: Some(policy.into()),
                containers: vec![Container {
                    name: "app".into(),
                    image: Some("demo".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn status_of(policy: &str, o: Observed) -> PodStatus {
        let p = pod(policy);
        let containers = HashMap::from([("app".to_owned(), o)]);
        compute(&Input {
            pod: &p,
            init: &HashMap::new(),
            containers: &containers,
            pod_ips: &["10.244.1.5".into()],
            host_ip: "10.250.0.11",
            sandbox_ready: true,
        })
    }

    fn ready(s: &PodStatus) -> &str {
        &s.conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .status
    }

    #[test]
    fn readiness_gates_hold_ready_and_others_conditions_stay() {
        let running = Observed {
            latest: Some(cri(CriState::ContainerRunning, 0, 0)),
            probe: ProbeState {
                started: true,
                ready: true,
                failed: false,
            },
            ..Default::default()
        };
        let containers = HashMap::from([("app".to_owned(), running)]);
        let with = |gate: Option<&str>| {
            let mut p = pod("Always");
            p.spec.as_mut().unwrap().readiness_gates = Some(vec![PodReadinessGate {
                condition_type: "example.com/gate".into(),
            }]);
            p.status = Some(PodStatus {
                conditions: gate.map(|status| {
                    vec![PodCondition {
                        type_: "example.com/gate".into(),
                        status: status.into(),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            });
            compute(&Input {
                pod: &p,
                init: &HashMap::new(),
                containers: &containers,
                pod_ips: &[],
                host_ip: "10.250.0.11",
                sandbox_ready: true,
            })
        };
        let missing = with(None);
        assert_eq!(ready(&missing), "False");
        let cond = |s: &PodStatus, t: &str| {
            s.conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == t)
                .cloned()
        };
        let r = cond(&missing, "Ready").unwrap();
        assert_eq!(r.reason.as_deref(), Some("ReadinessGatesNotReady"));
        assert!(r.message.unwrap().contains("does not exist"));
        assert_eq!(cond(&missing, "ContainersReady").unwrap().status, "True");
        let unset = with(Some("False"));
        assert_eq!(ready(&unset), "False");
        assert_eq!(cond(&unset, "example.com/gate").unwrap().status, "False");
        let set = with(Some("True"));
        assert_eq!(ready(&set), "True");
        assert_eq!(cond(&set, "example.com/gate").unwrap().status, "True");
    }

    #[test]
    fn phases_and_readiness() {
        let started = ProbeState {
            started: true,
            ready: true,
            failed: false,
        };
        let running = Observed {
            latest: Some(cri(CriState::ContainerRunning, 0, 0)),
            probe: started,
            ..Default::default()
        };
        let s = status_of("Always", running.clone());
        assert_eq!((s.phase.as_deref(), ready(&s)), (Some("Running"), "True"));
        assert_eq!(s.pod_ip.as_deref(), Some("10.244.1.5"));

        let unready = Observed {
            probe: ProbeState {
                ready: false,
                ..started
            },
            ..running.clone()
        };
        let s = status_of("Always", unready);
        assert_eq!((s.phase.as_deref(), ready(&s)), (Some("Running"), "False"));

        let creating = status_of("Always", Observed::default());
        assert_eq!(creating.phase.as_deref(), Some("Pending"));
        let waiting = &creating.container_statuses.unwrap()[0];
        assert_eq!(
            waiting
                .state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("ContainerCreating")
        );

        // Crash-looping: waiting with the last termination, and Running.
        let crashing = Observed {
            latest: Some(cri(CriState::ContainerExited, 1, 3)),
            waiting: Some(Failure::new("CrashLoopBackOff", "back-off 40s")),
            ..Default::default()
        };
        let s = status_of("Always", crashing);
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let c = &s.container_statuses.unwrap()[0];
        assert_eq!(c.restart_count, 3);
        assert_eq!(
            c.last_state
                .as_ref()
                .unwrap()
                .terminated
                .as_ref()
                .unwrap()
                .exit_code,
            1
        );

        let done = |exit| Observed {
            latest: Some(cri(CriState::ContainerExited, exit, 0)),
            ..Default::default()
        };
        assert_eq!(
            status_of("Never", done(0)).phase.as_deref(),
            Some("Succeeded")
        );
        assert_eq!(status_of("Never", done(2)).phase.as_deref(), Some("Failed"));
        assert_eq!(
            status_of("OnFailure", done(2)).phase.as_deref(),
            Some("Running")
        );
        let s = status_of("Never", done(0));
        let t = s.container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap();
        assert_eq!(t.reason.as_deref(), Some("Completed"));
    }
}
