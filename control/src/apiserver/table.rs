//! The `meta.k8s.io/v1` `Table` that `kubectl get` asks for
//! (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`). kubectl prints
//! whatever columns the server sends, so each kind gets the columns and cell
//! texts of kube-apiserver's printers; kinds without printers get its default
//! (name and creation time).
//!
//! Like kube-apiserver, every row carries the wide (`-o wide`) cells too: the
//! columns say which ones are wide (priority 1) and kubectl hides them.
//! Column descriptions are the first sentence of upstream's.

use super::select::{LabelSelector, go_quote, pod_ip};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// What each row carries besides its cells (the `includeObject` parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    /// The object's metadata as a `PartialObjectMetadata`.
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// Reads `?includeObject=`; absent, empty or unknown means `Metadata`.
    pub fn from_query(v: Option<&str>) -> IncludeObject {
        Self::parse(v).unwrap_or_default()
    }

    /// As `from_query`, but an unknown value is an error: upstream's 400
    /// BadRequest, with this message.
    pub fn parse(v: Option<&str>) -> Result<IncludeObject, String> {
        match v.unwrap_or_default() {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(format!(
                "unrecognized includeObject value: {}",
                go_quote(other)
            )),
        }
    }
}

/// The Table for `items` of `kind`. `list_metadata` becomes the table's
/// `metadata` (resourceVersion, continue); ages count from now.
pub fn table(
    kind: &str,
    items: &[Value],
    list_metadata: Value,
    include_object: IncludeObject,
) -> Value {
    // jiff's clock needs its std feature; the system clock is enough here.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let now = Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH);
    table_at(kind, items, list_metadata, include_object, now)
}

fn table_at(
    kind: &str,
    items: &[Value],
    list_metadata: Value,
    include: IncludeObject,
    now: Timestamp,
) -> Value {
    let (columns, print) = printer(kind);
    let columns: Vec<Value> = columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.ty,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let (cells, conditions) = print(obj, now);
            let object = match include {
                IncludeObject::None => Value::Null,
                IncludeObject::Object => obj.clone(),
                IncludeObject::Metadata => json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": non_null(&obj["metadata"]),
                }),
            };
            let mut row = json!({"cells": cells, "object": object});
            if let Some(c) = conditions {
                row["conditions"] = c;
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": non_null(&list_metadata),
        "columnDefinitions": columns,
        "rows": rows,
    })
}

fn non_null(v: &Value) -> Value {
    if v.is_null() { json!({}) } else { v.clone() }
}

/// Upstream's `duration.HumanDuration`: two or three significant figures,
/// coarser as durations grow ("45s", "3m12s", "5h", "2d3h", "2y30d").
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (minutes, hours) = (secs / 60, secs / 3600);
    let days = hours / 24;
    let pair = |big: u64, big_unit: &str, small: u64, small_unit: &str| match small {
        0 => format!("{big}{big_unit}"),
        s => format!("{big}{big_unit}{s}{small_unit}"),
    };
    if secs < 120 {
        format!("{secs}s")
    } else if minutes < 10 {
        pair(minutes, "m", secs % 60, "s")
    } else if minutes < 3 * 60 {
        format!("{minutes}m")
    } else if hours < 8 {
        pair(hours, "h", minutes % 60, "m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 8 * 24 {
        pair(days, "d", hours % 24, "h")
    } else if hours < 2 * 365 * 24 {
        format!("{days}d")
    } else if hours < 8 * 365 * 24 {
        pair(days / 365, "y", days % 365, "d")
    } else {
        format!("{}y", days / 365)
    }
}

fn parse_time(v: &Value) -> Option<Timestamp> {
    v.as_str()?.parse().ok()
}

/// Time since `t` as kubectl shows ages. A time slightly ahead of ours
/// (clock skew under two seconds) reads "0s", further ahead "<invalid>".
fn since(t: Option<Timestamp>, now: Timestamp) -> String {
    let Some(t) = t else {
        return "<unknown>".to_string();
    };
    match now.duration_since(t).as_secs() {
        s if s < -1 => "<invalid>".to_string(),
        s => human_duration(Duration::from_secs(s.max(0) as u64)),
    }
}

fn age(obj: &Value, now: Timestamp) -> String {
    since(parse_time(&obj["metadata"]["creationTimestamp"]), now)
}

struct Column {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    priority: u8,
    description: &'static str,
}

const fn col(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        priority: 0,
        description,
    }
}

/// A column only `-o wide` shows.
const fn wide(name: &'static str, description: &'static str) -> Column {
    Column {
        priority: 1,
        ..col(name, "string", description)
    }
}

const NAME: Column = Column {
    format: "name",
    ..col("Name", "string", "Name must be unique within a namespace.")
};
const CREATED: &str =
    "CreationTimestamp is a timestamp representing the server time when this object was created.";
const AGE: Column = col("Age", "string", CREATED);
const CONTAINERS: Column = wide("Containers", "Names of each container in the template.");
const IMAGES: Column = wide(
    "Images",
    "Images referenced by each container in the template.",
);

type Cells = (Vec<Value>, Option<Value>);
type Print = fn(&Value, Timestamp) -> Cells;

fn printer(kind: &str) -> (&'static [Column], Print) {
    match kind {
        "Pod" => (POD, pod),
        "Service" => (SERVICE, service),
        "Deployment" => (DEPLOYMENT, deployment),
        "ReplicaSet" => (REPLICA_SET, replica_set),
        "DaemonSet" => (DAEMON_SET, daemon_set),
        "Node" => (NODE, node),
        "EndpointSlice" => (ENDPOINT_SLICE, endpoint_slice),
        "Namespace" => (NAMESPACE, namespace),
        "Endpoints" => (ENDPOINTS, endpoints),
        "ConfigMap" => (CONFIG_MAP, config_map),
        "Secret" => (SECRET, secret),
        "ServiceAccount" => (SERVICE_ACCOUNT, service_account),
        "Event" => (EVENT, event),
        "Lease" => (LEASE, lease),
        "ControllerRevision" => (CONTROLLER_REVISION, controller_revision),
        _ => (DEFAULT, created_at),
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or_default()
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn or<'a>(s: &'a str, fallback: &'a str) -> &'a str {
    if s.is_empty() { fallback } else { s }
}

fn name(obj: &Value) -> Value {
    text(&obj["metadata"]["name"]).into()
}

/// `labels.FormatLabels`: sorted `k=v` pairs, or "<none>".
fn format_labels(map: &Value) -> String {
    let pairs: BTreeSet<String> = map
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    or(&pairs.into_iter().collect::<Vec<_>>().join(","), "<none>").to_string()
}

/// `metav1.FormatLabelSelector`.
fn format_selector(sel: &Value) -> String {
    if sel.is_null() {
        return "<none>".to_string();
    }
    match LabelSelector::from_api(sel) {
        Ok(s) => or(&s.to_string(), "<none>").to_string(),
        Err(_) => "<error>".to_string(),
    }
}

/// Comma-joined container names and images of a pod template.
fn containers(template: &Value) -> [Value; 2] {
    let cs = list(&template["spec"]["containers"]);
    let join = |k: &str| cs.iter().map(|c| text(&c[k])).collect::<Vec<_>>().join(",");
    [join("name").into(), join("image").into()]
}

/// The first three entries, then " + N more..."; "<unset>" for none.
fn first_three<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = items.collect();
    let shown = all[..all.len().min(3)].join(",");
    if all.len() > 3 {
        format!("{shown} + {} more...", all.len() - 3)
    } else {
        or(&shown, "<unset>").to_string()
    }
}

// ---------------------------------------------------------------- Pod

const POD: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide("IP", "podIP address allocated to the pod."),
    wide(
        "Node",
        "NodeName indicates in which node this pod is scheduled.",
    ),
    wide(
        "Nominated Node",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
    ),
    wide(
        "Readiness Gates",
        "If specified, all readiness gates will be evaluated for pod readiness.",
    ),
];

fn condition_true(status: &Value, ty: &str) -> bool {
    list(&status["conditions"])
        .iter()
        .any(|c| c["type"] == ty && c["status"] == "True")
}

/// Upstream's `printPod`: READY counts ready containers (sidecars
/// included), STATUS is the phase unless an init step, a container's
/// waiting or terminated reason, or a deletion says more.
fn pod(pod: &Value, now: Timestamp) -> Cells {
    let (spec, status) = (&pod["spec"], &pod["status"]);
    let phase = text(&status["phase"]);
    let mut reason = or(text(&status["reason"]), phase).to_string();
    let gated = list(&status["conditions"])
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated");
    if gated {
        reason = "SchedulingGated".to_string();
    }

    let inits = list(&spec["initContainers"]);
    let sidecars: BTreeSet<&str> = inits
        .iter()
        .filter(|c| c["restartPolicy"] == "Always")
        .map(|c| text(&c["name"]))
        .collect();
    let total = list(&spec["containers"]).len() + sidecars.len();
    let (mut ready, mut restarts, mut last_restart) = (0, 0, None);
    let (mut sidecar_restarts, mut last_sidecar_restart) = (0, None);
    let finished = |c: &Value| parse_time(&c["lastState"]["terminated"]["finishedAt"]);

    let mut initializing = false;
    for (i, c) in list(&status["initContainerStatuses"]).iter().enumerate() {
        let sidecar = sidecars.contains(text(&c["name"]));
        restarts += int(&c["restartCount"]);
        last_restart = last_restart.max(finished(c));
        if sidecar {
            sidecar_restarts += int(&c["restartCount"]);
            last_sidecar_restart = last_sidecar_restart.max(finished(c));
        }
        let (term, waiting) = (
            &c["state"]["terminated"],
            text(&c["state"]["waiting"]["reason"]),
        );
        if term.is_object() && int(&term["exitCode"]) == 0 {
            continue;
        }
        if sidecar && c["started"] == true {
            ready += usize::from(c["ready"] == true);
            continue;
        }
        reason = if term.is_object() {
            match text(&term["reason"]) {
                "" if int(&term["signal"]) != 0 => format!("Init:Signal:{}", int(&term["signal"])),
                "" => format!("Init:ExitCode:{}", int(&term["exitCode"])),
                r => format!("Init:{r}"),
            }
        } else if !waiting.is_empty() && waiting != "PodInitializing" {
            format!("Init:{waiting}")
        } else {
            format!("Init:{i}/{}", inits.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(status, "Initialized") {
        (restarts, last_restart) = (sidecar_restarts, last_sidecar_restart);
        let mut running = false;
        for c in list(&status["containerStatuses"]).iter().rev() {
            restarts += int(&c["restartCount"]);
            last_restart = last_restart.max(finished(c));
            let (term, waiting) = (
                &c["state"]["terminated"],
                text(&c["state"]["waiting"]["reason"]),
            );
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if term.is_object() {
                reason = match text(&term["reason"]) {
                    "" if int(&term["signal"]) != 0 => format!("Signal:{}", int(&term["signal"])),
                    "" => format!("ExitCode:{}", int(&term["exitCode"])),
                    r => r.to_string(),
                };
            } else if c["ready"] == true && c["state"]["running"].is_object() {
                running = true;
                ready += 1;
            }
        }
        // A pod whose other containers still run is not "Completed".
        if reason == "Completed" && running {
            let ready = condition_true(status, "Ready");
            reason = if ready { "Running" } else { "NotReady" }.to_string();
        }
    }

    if !pod["metadata"]["deletionTimestamp"].is_null() {
        if text(&status["reason"]) == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_string();
        }
    }

    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };
    let gates = list(&spec["readinessGates"]);
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = list(&status["conditions"]);
        let met = gates
            .iter()
            .filter(|g| {
                let c = conditions.iter().find(|c| c["type"] == g["conditionType"]);
                c.is_some_and(|c| c["status"] == "True")
            })
            .count();
        format!("{met}/{}", gates.len())
    };
    let cells = vec![
        name(pod),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts.into(),
        age(pod, now).into(),
        or(pod_ip(pod), "<none>").into(),
        or(text(&spec["nodeName"]), "<none>").into(),
        or(text(&status["nominatedNodeName"]), "<none>").into(),
        gates.into(),
    ];
    let completed = |reason: &str, message: &str| {
        Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
    };
    let conditions = match phase {
        "Succeeded" => completed("Succeeded", "The pod has completed successfully."),
        "Failed" => completed("Failed", "The pod failed."),
        _ => None,
    };
    (cells, conditions)
}

// ---------------------------------------------------------------- Service

const SERVICE: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "type determines how the Service is exposed.",
    ),
    col(
        "Cluster-IP",
        "string",
        "clusterIP is the IP address of the service and is usually assigned randomly.",
    ),
    col(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
    ),
    col(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service.",
    ),
    AGE,
    wide(
        "Selector",
        "Route service traffic to pods with label keys and values matching this selector.",
    ),
];

fn service(svc: &Value, now: Timestamp) -> Cells {
    let spec = &svc["spec"];
    // The API defaults these; read an undefaulted object the same way.
    let ty = or(text(&spec["type"]), "ClusterIP");
    let cluster_ip = spec["clusterIPs"][0]
        .as_str()
        .or(spec["clusterIP"].as_str());
    let external: Vec<&str> = list(&spec["externalIPs"]).iter().map(text).collect();
    let external = match ty {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let ingress: BTreeSet<&str> = list(&svc["status"]["loadBalancer"]["ingress"])
                .iter()
                .map(|i| or(text(&i["ip"]), text(&i["hostname"])))
                .filter(|a| !a.is_empty())
                .collect();
            let all: Vec<&str> = ingress.into_iter().chain(external).collect();
            or(&all.join(","), "<pending>").to_string()
        }
        "ExternalName" => text(&spec["externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = list(&spec["ports"])
        .iter()
        .map(|p| {
            let proto = or(text(&p["protocol"]), "TCP");
            match int(&p["nodePort"]) {
                0 => format!("{}/{proto}", int(&p["port"])),
                node => format!("{}:{node}/{proto}", int(&p["port"])),
            }
        })
        .collect();
    let cells = vec![
        name(svc),
        ty.into(),
        or(cluster_ip.unwrap_or_default(), "<none>").into(),
        external.into(),
        or(&ports.join(","), "<none>").into(),
        age(svc, now).into(),
        format_labels(&spec["selector"]).into(),
    ];
    (cells, None)
}

// ---------------------------------------------------------------- workloads

const DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col(
        "Up-to-date",
        "string",
        "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
    ),
    col(
        "Available",
        "string",
        "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", "Label selector for pods."),
];

/// `spec.replicas`, which the API defaults to 1.
fn desired(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

fn deployment(d: &Value, now: Timestamp) -> Cells {
    let status = &d["status"];
    // Unlike the other workloads, upstream prints the bare selector here.
    let selector = match &d["spec"]["selector"] {
        Value::Null => String::new(),
        sel => LabelSelector::from_api(sel).map_or("<invalid>".to_string(), |s| s.to_string()),
    };
    let [names, images] = containers(&d["spec"]["template"]);
    let cells = vec![
        name(d),
        format!("{}/{}", int(&status["readyReplicas"]), desired(d)).into(),
        int(&status["updatedReplicas"]).into(),
        int(&status["availableReplicas"]).into(),
        age(d, now).into(),
        names,
        images,
        selector.into(),
    ];
    (cells, None)
}

const REPLICA_SET: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Replicas is the number of desired pods.",
    ),
    col(
        "Current",
        "integer",
        "Replicas is the most recently observed number of non-terminating pods.",
    ),
    col(
        "Ready",
        "integer",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    wide(
        "Selector",
        "Selector is a label query over pods that should match the replica count.",
    ),
];

fn replica_set(rs: &Value, now: Timestamp) -> Cells {
    let status = &rs["status"];
    let [names, images] = containers(&rs["spec"]["template"]);
    let cells = vec![
        name(rs),
        desired(rs).into(),
        int(&status["replicas"]).into(),
        int(&status["readyReplicas"]).into(),
        age(rs, now).into(),
        names,
        images,
        format_selector(&rs["spec"]["selector"]).into(),
    ];
    (cells, None)
}

const DAEMON_SET: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
    ),
    col(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
    ),
    col(
        "Ready",
        "integer",
        "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
    ),
    col(
        "Up-to-date",
        "integer",
        "The total number of nodes that are running updated daemon pod",
    ),
    col(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
    ),
    col(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    wide(
        "Selector",
        "A label query over pods that are managed by the daemon set.",
    ),
];

fn daemon_set(ds: &Value, now: Timestamp) -> Cells {
    let (spec, status) = (&ds["spec"], &ds["status"]);
    let [names, images] = containers(&spec["template"]);
    let cells = vec![
        name(ds),
        int(&status["desiredNumberScheduled"]).into(),
        int(&status["currentNumberScheduled"]).into(),
        int(&status["numberReady"]).into(),
        int(&status["updatedNumberScheduled"]).into(),
        int(&status["numberAvailable"]).into(),
        format_labels(&spec["template"]["spec"]["nodeSelector"]).into(),
        age(ds, now).into(),
        names,
        images,
        format_selector(&spec["selector"]).into(),
    ];
    (cells, None)
}

// ---------------------------------------------------------------- Node

const NODE: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", "Kubelet Version reported by the node."),
    wide("Internal-IP", "List of addresses reachable to the node."),
    wide("External-IP", "List of addresses reachable to the node."),
    wide(
        "OS-Image",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    ),
    wide(
        "Kernel-Version",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    ),
    wide(
        "Container-Runtime",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
];

fn node(n: &Value, now: Timestamp) -> Cells {
    let status = &n["status"];
    let ready = list(&status["conditions"])
        .iter()
        .rfind(|c| c["type"] == "Ready");
    let mut state = vec![match ready {
        Some(c) if c["status"] == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if n["spec"]["unschedulable"] == true {
        state.push("SchedulingDisabled");
    }
    // Roles come from node-role.kubernetes.io/<role> keys and the older
    // kubernetes.io/role=<role>.
    let roles: BTreeSet<&str> = n["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
            Some(role) => Some(role),
            None if k == "kubernetes.io/role" => v.as_str(),
            None => None,
        })
        .filter(|r| !r.is_empty())
        .collect();
    let roles = roles.into_iter().collect::<Vec<_>>().join(",");
    let address = |ty: &str| {
        let a = list(&status["addresses"]).iter().find(|a| a["type"] == ty);
        a.map_or("<none>", |a| text(&a["address"]))
    };
    let info = &status["nodeInfo"];
    let cells = vec![
        name(n),
        state.join(",").into(),
        or(&roles, "<none>").into(),
        age(n, now).into(),
        text(&info["kubeletVersion"]).into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        or(text(&info["osImage"]), "<unknown>").into(),
        or(text(&info["kernelVersion"]), "<unknown>").into(),
        or(text(&info["containerRuntimeVersion"]), "<unknown>").into(),
    ];
    (cells, None)
}

// ---------------------------------------------------------------- endpoints

const ENDPOINT_SLICE: &[Column] = &[
    NAME,
    col(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice.",
    ),
    col(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
    ),
    col(
        "Endpoints",
        "string",
        "endpoints is a list of unique endpoints in this slice.",
    ),
    AGE,
];

fn endpoint_slice(es: &Value, now: Timestamp) -> Cells {
    let ports: Vec<String> = list(&es["ports"])
        .iter()
        .map(|p| match (p["port"].as_i64(), p["name"].as_str()) {
            (Some(n), _) => n.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".to_string(),
        })
        .collect();
    let addresses = list(&es["endpoints"])
        .iter()
        .flat_map(|e| list(&e["addresses"]))
        .map(text);
    let cells = vec![
        name(es),
        text(&es["addressType"]).into(),
        first_three(ports.iter().map(String::as_str)).into(),
        first_three(addresses).into(),
        age(es, now).into(),
    ];
    (cells, None)
}

const ENDPOINTS: &[Column] = &[
    NAME,
    col(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets.",
    ),
    AGE,
];

/// Up to three `ip:port` pairs (bare IPs for a subset without ports).
fn endpoints(ep: &Value, now: Timestamp) -> Cells {
    let subsets = list(&ep["subsets"]);
    let mut shown = Vec::new();
    let mut count = 0;
    for ss in subsets {
        let addresses = list(&ss["addresses"]);
        let ports = list(&ss["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            shown.extend(addresses.iter().map(|a| text(&a["ip"]).to_string()));
        }
        for p in ports {
            count += addresses.len();
            shown.extend(addresses.iter().map(|a| {
                let ip = text(&a["ip"]);
                match ip.contains(':') {
                    true => format!("[{ip}]:{}", int(&p["port"])),
                    false => format!("{ip}:{}", int(&p["port"])),
                }
            }));
        }
    }
    let cell = match (subsets.is_empty(), count > 3) {
        (true, _) => "<none>".to_string(),
        (false, true) => format!("{} + {} more...", shown[..3].join(","), count - 3),
        (false, false) => shown.join(","),
    };
    (vec![name(ep), cell.into(), age(ep, now).into()], None)
}

// ---------------------------------------------------------------- simple kinds

const NAMESPACE: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

fn namespace(ns: &Value, now: Timestamp) -> Cells {
    let phase = text(&ns["status"]["phase"]);
    (vec![name(ns), phase.into(), age(ns, now).into()], None)
}

const CONFIG_MAP: &[Column] = &[
    NAME,
    col("Data", "string", "Data contains the configuration data."),
    AGE,
];

fn entries(v: &Value) -> usize {
    v.as_object().map_or(0, |m| m.len())
}

fn config_map(cm: &Value, now: Timestamp) -> Cells {
    let n = entries(&cm["data"]) + entries(&cm["binaryData"]);
    (vec![name(cm), n.into(), age(cm, now).into()], None)
}

const SECRET: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data.",
    ),
    col("Data", "string", "Data contains the secret data."),
    AGE,
];

fn secret(s: &Value, now: Timestamp) -> Cells {
    let cells = vec![
        name(s),
        text(&s["type"]).into(),
        entries(&s["data"]).into(),
        age(s, now).into(),
    ];
    (cells, None)
}

const SERVICE_ACCOUNT: &[Column] = &[
    NAME,
    col(
        "Secrets",
        "string",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
    ),
    AGE,
];

fn service_account(sa: &Value, now: Timestamp) -> Cells {
    let n = list(&sa["secrets"]).len();
    (vec![name(sa), n.into(), age(sa, now).into()], None)
}

const LEASE: &[Column] = &[
    NAME,
    col(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease.",
    ),
    AGE,
];

fn lease(l: &Value, now: Timestamp) -> Cells {
    let holder = text(&l["spec"]["holderIdentity"]);
    (vec![name(l), holder.into(), age(l, now).into()], None)
}

// ---------------------------------------------------------------- ControllerRevision

const CONTROLLER_REVISION: &[Column] = &[
    NAME,
    col("Controller", "string", "Controller of the object"),
    col("Revision", "string", "Revision is the revision number"),
    AGE,
];

/// The controller as `daemonset.apps/web`.
fn controller_revision(cr: &Value, now: Timestamp) -> Cells {
    let controller = list(&cr["metadata"]["ownerReferences"])
        .iter()
        .find(|r| r["controller"] == true)
        .map(|r| {
            let group = text(&r["apiVersion"])
                .split_once('/')
                .map_or("", |(g, _)| g);
            let kind = text(&r["kind"]).to_lowercase();
            match group {
                "" => format!("{kind}/{}", text(&r["name"])),
                g => format!("{kind}.{g}/{}", text(&r["name"])),
            }
        })
        .unwrap_or_else(|| "<none>".into());
    let cells = vec![
        name(cr),
        controller.into(),
        int(&cr["revision"]).into(),
        age(cr, now).into(),
    ];
    (cells, None)
}

// ---------------------------------------------------------------- Event

const EVENT: &[Column] = &[
    col(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    col(
        "Type",
        "string",
        "Type of this event (Normal, Warning), new types could be added in the future",
    ),
    col(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    col("Object", "string", "The object that this event is about."),
    wide(
        "Subobject",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
    ),
    wide("Source", "The component reporting this event."),
    col(
        "Message",
        "string",
        "A human-readable description of the status of this operation.",
    ),
    wide(
        "First Seen",
        "The time at which the event was first recorded.",
    ),
    wide("Count", "The number of times this event has occurred."),
    Column {
        priority: 1,
        ..NAME
    },
];

/// Events from both APIs: the older timestamps and count, or the newer
/// eventTime and series.
fn event(e: &Value, now: Timestamp) -> Cells {
    let first = match parse_time(&e["firstTimestamp"]) {
        Some(t) => since(Some(t), now),
        None => since(parse_time(&e["eventTime"]), now),
    };
    let mut last = match parse_time(&e["lastTimestamp"]) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = int(&e["count"]);
    if e["series"].is_object() {
        last = since(parse_time(&e["series"]["lastObservedTime"]), now);
        count = int(&e["series"]["count"]);
    } else if count == 0 {
        count = 1;
    }
    let involved = &e["involvedObject"];
    let kind = text(&involved["kind"]).to_lowercase();
    let target = match text(&involved["name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = or(
        text(&e["source"]["component"]),
        text(&e["reportingComponent"]),
    );
    let instance = or(text(&e["source"]["host"]), text(&e["reportingInstance"]));
    let source = match instance {
        "" => component.to_string(),
        i => format!("{component}, {i}"),
    };
    let cells = vec![
        last.into(),
        text(&e["type"]).into(),
        text(&e["reason"]).into(),
        target.into(),
        text(&involved["fieldPath"]).into(),
        source.into(),
        text(&e["message"]).trim().into(),
        first.into(),
        count.into(),
        name(e),
    ];
    (cells, None)
}

// ---------------------------------------------------------------- others

/// Upstream's default for kinds without printers: the creation time itself.
const DEFAULT: &[Column] = &[NAME, col("Created At", "date", CREATED)];

fn created_at(obj: &Value, _: Timestamp) -> Cells {
    let created = parse_time(&obj["metadata"]["creationTimestamp"]);
    let created = match created {
        Some(t) => format!("{t:.0}"),
        None => "0001-01-01T00:00:00Z".to_string(),
    };
    (vec![name(obj), created.into()], None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2025-01-10T12:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    /// The time `secs` seconds before NOW, as the API writes it.
    fn ago(secs: i64) -> String {
        let t = Timestamp::from_second(now().as_second() - secs).unwrap();
        format!("{t:.0}")
    }

    fn rows(kind: &str, items: &[Value]) -> Vec<Vec<Value>> {
        let t = table_at(kind, items, json!({}), IncludeObject::None, now());
        let rows = t["rows"].as_array().unwrap();
        rows.iter()
            .map(|r| r["cells"].as_array().unwrap().clone())
            .collect()
    }

    fn row(kind: &str, item: Value) -> Vec<Value> {
        rows(kind, &[item]).remove(0)
    }

    fn column_names(kind: &str) -> Vec<(String, u64)> {
        let t = table_at(kind, &[], Value::Null, IncludeObject::None, now());
        let cols = t["columnDefinitions"].as_array().unwrap();
        cols.iter()
            .map(|c| {
                let name = c["name"].as_str().unwrap().to_string();
                (name, c["priority"].as_u64().unwrap())
            })
            .collect()
    }

    #[test]
    fn human_duration_thresholds() {
        let cases = [
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (192, "3m12s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (8 * 3600 - 1, "7h59m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 3599, "47h"),
            (48 * 3600, "2d"),
            (51 * 3600, "2d3h"),
            (8 * 86400 - 1, "7d23h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (760 * 86400, "2y30d"),
            (8 * 365 * 86400 - 1, "7y364d"),
            (8 * 365 * 86400, "8y"),
            (20 * 365 * 86400, "20y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
        assert_eq!(human_duration(Duration::from_millis(1999)), "1s");
    }

    #[test]
    fn ages_from_timestamps() {
        let at = |s: &str| since(s.parse().ok(), now());
        assert_eq!(at(&ago(75)), "75s");
        assert_eq!(at("2025-01-10T12:00:01Z"), "0s");
        assert_eq!(at("2025-01-10T12:00:02Z"), "<invalid>");
        assert_eq!(at("2025-01-10T11:59:59.5Z"), "0s");
        assert_eq!(since(None, now()), "<unknown>");
        assert_eq!(age(&json!({"metadata": {}}), now()), "<unknown>");
    }

    #[test]
    fn table_shape_and_include_object() {
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n", "creationTimestamp": ago(30)},
            "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""},
        });
        let meta = json!({"resourceVersion": "42"});
        let t = table_at(
            "ConfigMap",
            std::slice::from_ref(&cm),
            meta,
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "42"}));
        assert_eq!(
            t["columnDefinitions"][0],
            json!({
                "name": "Name", "type": "string", "format": "name", "priority": 0,
                "description": "Name must be unique within a namespace.",
            })
        );
        assert_eq!(t["rows"][0]["cells"], json!(["c", 3, "30s"]));
        assert_eq!(
            t["rows"][0]["object"],
            json!({
                "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": cm["metadata"],
            })
        );
        let t = table_at(
            "ConfigMap",
            std::slice::from_ref(&cm),
            Value::Null,
            IncludeObject::Object,
            now(),
        );
        assert_eq!(t["rows"][0]["object"], cm);
        assert_eq!(t["metadata"], json!({}));
        let t = table_at("ConfigMap", &[cm], Value::Null, IncludeObject::None, now());
        assert!(t["rows"][0]["object"].is_null());
        let t = table_at("ConfigMap", &[], Value::Null, IncludeObject::None, now());
        assert_eq!(t["rows"], json!([]));

        let q = IncludeObject::from_query;
        assert_eq!(q(None), IncludeObject::Metadata);
        assert_eq!(q(Some("")), IncludeObject::Metadata);
        assert_eq!(q(Some("Metadata")), IncludeObject::Metadata);
        assert_eq!(q(Some("None")), IncludeObject::None);
        assert_eq!(q(Some("Object")), IncludeObject::Object);
        assert_eq!(q(Some("all")), IncludeObject::Metadata);
        assert_eq!(
            IncludeObject::parse(Some("all")),
            Err("unrecognized includeObject value: \"all\"".to_string())
        );
        assert_eq!(IncludeObject::parse(None), Ok(IncludeObject::Metadata));
    }

    fn container_status(name: &str, state: Value, ready: bool, restarts: i64) -> Value {
        json!({"name": name, "state": state, "ready": ready, "restartCount": restarts})
    }

    #[test]
    fn pod_rows() {
        let names: Vec<_> = column_names("Pod").into_iter().collect();
        assert_eq!(
            names,
            [
                ("Name", 0),
                ("Ready", 0),
                ("Status", 0),
                ("Restarts", 0),
                ("Age", 0),
                ("IP", 1),
                ("Node", 1),
                ("Nominated Node", 1),
                ("Readiness Gates", 1),
            ]
            .map(|(n, p)| (n.to_string(), p))
        );

        let mut crashing = container_status(
            "sidecar",
            json!({"waiting": {"reason": "CrashLoopBackOff"}}),
            false,
            3,
        );
        crashing["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(300)}});
        let pod = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(3 * 86400)},
            "spec": {
                "nodeName": "n1",
                "containers": [{"name": "app"}, {"name": "sidecar"}],
                "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "x"}],
            },
            "status": {
                "phase": "Running",
                "podIPs": [{"ip": "10.0.0.7"}],
                "conditions": [{"type": "example.com/lb", "status": "True"}],
                "containerStatuses": [
                    container_status("app", json!({"running": {}}), true, 0),
                    crashing,
                ],
            },
        });
        assert_eq!(
            row("Pod", pod.clone()),
            json!([
                "web",
                "1/2",
                "CrashLoopBackOff",
                "3 (5m ago)",
                "3d",
                "10.0.0.7",
                "n1",
                "<none>",
                "1/2"
            ])
            .as_array()
            .unwrap()
            .clone()
        );

        let mut deleting = pod.clone();
        deleting["metadata"]["deletionTimestamp"] = ago(1).into();
        assert_eq!(row("Pod", deleting)[2], "Terminating");

        let running = json!({
            "metadata": {"name": "ok"},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [
                container_status("app", json!({"running": {}}), true, 0),
            ]},
        });
        assert_eq!(
            row("Pod", running),
            json!([
                "ok",
                "1/1",
                "Running",
                "0",
                "<unknown>",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ])
            .as_array()
            .unwrap()
            .clone()
        );

        let done = json!({
            "metadata": {"name": "job"},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [
                container_status("app", json!({"terminated": {"exitCode": 0, "reason": "Completed"}}), false, 0),
            ]},
        });
        let t = table_at(
            "Pod",
            std::slice::from_ref(&done),
            json!({}),
            IncludeObject::None,
            now(),
        );
        assert_eq!(t["rows"][0]["cells"][1], "0/1");
        assert_eq!(t["rows"][0]["cells"][2], "Completed");
        assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
        let mut deleted_done = done;
        deleted_done["metadata"]["deletionTimestamp"] = ago(1).into();
        assert_eq!(row("Pod", deleted_done)[2], "Completed");

        let killed = json!({
            "metadata": {"name": "k"},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [
                container_status("app", json!({"terminated": {"exitCode": 137, "signal": 9}}), false, 0),
            ]},
        });
        assert_eq!(row("Pod", killed)[2], "Signal:9");

        let init = json!({
            "metadata": {"name": "i"},
            "spec": {
                "initContainers": [{"name": "setup"}, {"name": "proxy", "restartPolicy": "Always"}],
                "containers": [{"name": "app"}],
            },
            "status": {"phase": "Pending", "initContainerStatuses": [
                container_status("setup", json!({"running": {}}), false, 0),
            ]},
        });
        let r = row("Pod", init);
        assert_eq!(
            (r[1].clone(), r[2].clone()),
            (json!("0/2"), json!("Init:0/2"))
        );

        let pending = json!({"metadata": {"name": "p"}, "status": {"phase": "Pending"}});
        assert_eq!(row("Pod", pending)[1..3], [json!("0/0"), json!("Pending")]);
    }

    #[test]
    fn service_ports_and_addresses() {
        let svc = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(40)},
            "spec": {
                "type": "NodePort",
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "selector": {"tier": "front", "app": "web"},
                "ports": [
                    {"port": 80, "nodePort": 30080, "protocol": "TCP"},
                    {"port": 53, "protocol": "UDP"},
                ],
            },
        });
        assert_eq!(
            row("Service", svc),
            [
                "web",
                "NodePort",
                "10.96.0.10",
                "<none>",
                "80:30080/TCP,53/UDP",
                "40s",
                "app=web,tier=front"
            ]
            .map(Value::from)
        );
        let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}});
        let r = row("Service", lb.clone());
        assert_eq!(r[2..5], ["<none>", "<pending>", "443/TCP"].map(Value::from));
        assert_eq!(r[6], "<none>");
        let mut lb = lb;
        lb["status"] = json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "a.example"}]}});
        lb["spec"]["externalIPs"] = json!(["198.51.100.1"]);
        assert_eq!(row("Service", lb)[3], "203.0.113.9,a.example,198.51.100.1");
        let bare = json!({"metadata": {"name": "b"}, "spec": {}});
        assert_eq!(
            row("Service", bare)[1..5],
            ["ClusterIP", "<none>", "<none>", "<none>"].map(Value::from)
        );
    }

    #[test]
    fn node_status_and_roles() {
        let node = |labels: Value, ready: Option<&str>, unschedulable: bool| {
            let conditions = match ready {
                Some(s) => {
                    json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": s}])
                }
                None => json!([]),
            };
            json!({
                "metadata": {"name": "n1", "labels": labels, "creationTimestamp": ago(600)},
                "spec": {"unschedulable": unschedulable},
                "status": {
                    "conditions": conditions,
                    "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.1.5"}],
                    "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian"},
                },
            })
        };
        let labels = json!({
            "node-role.kubernetes.io/worker": "",
            "node-role.kubernetes.io/control-plane": "",
            "kubernetes.io/role": "infra",
            "kubernetes.io/hostname": "n1",
        });
        assert_eq!(
            row("Node", node(labels, Some("True"), true)),
            [
                "n1",
                "Ready,SchedulingDisabled",
                "control-plane,infra,worker",
                "10m",
                "v1.33.0",
                "192.168.1.5",
                "<none>",
                "Debian",
                "<unknown>",
                "<unknown>"
            ]
            .map(Value::from)
        );
        let r = row("Node", node(json!({}), Some("False"), false));
        assert_eq!(r[1..3], ["NotReady", "<none>"].map(Value::from));
        assert_eq!(row("Node", node(Value::Null, None, false))[1], "Unknown");
        assert_eq!(
            row("Node", node(json!({}), Some("Unknown"), false))[1],
            "NotReady"
        );
    }

    #[test]
    fn workload_rows() {
        let template = json!({"spec": {"containers": [
            {"name": "app", "image": "nginx:1"},
            {"name": "log", "image": "busybox"},
        ]}});
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(7200)},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": template,
            },
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
        });
        assert_eq!(
            row("Deployment", d.clone()),
            [
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("120m"),
                json!("app,log"),
                json!("nginx:1,busybox"),
                json!("app=web")
            ]
        );
        let unset = json!({"metadata": {"name": "u"}, "spec": {}});
        assert_eq!(row("Deployment", unset.clone())[1], "0/1");
        assert_eq!(row("Deployment", unset.clone())[7], "");
        assert_eq!(row("ReplicaSet", unset)[7], "<none>");

        let rs = json!({
            "metadata": {"name": "web-1"},
            "spec": {"replicas": 2, "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}, "template": template},
            "status": {"replicas": 2, "readyReplicas": 1},
        });
        let r = row("ReplicaSet", rs);
        assert_eq!(r[1..4], [2, 2, 1].map(Value::from));
        assert_eq!(r[7], "app in (web)");

        let ds = json!({
            "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"spec": {
                "nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a", "image": "agent:2"}],
            }}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2},
        });
        assert_eq!(
            row("DaemonSet", ds),
            [
                json!("agent"),
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux"),
                json!("<unknown>"),
                json!("a"),
                json!("agent:2"),
                json!("app=agent")
            ]
        );
        assert_eq!(column_names("DaemonSet").len(), 11);
    }

    #[test]
    fn endpoints_rows() {
        let addrs: Vec<Value> = (1..=5).map(|i| json!(format!("10.0.0.{i}"))).collect();
        let es = json!({
            "metadata": {"name": "web-abc"},
            "addressType": "IPv4",
            "ports": [{"port": 80, "name": "http"}, {"name": "dns"}, {}],
            "endpoints": [{"addresses": addrs[..2]}, {"addresses": addrs[2..]}],
        });
        assert_eq!(
            row("EndpointSlice", es)[1..4],
            ["IPv4", "80,dns,*", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more..."].map(Value::from)
        );
        let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv6"});
        assert_eq!(
            row("EndpointSlice", empty)[2..4],
            ["<unset>", "<unset>"].map(Value::from)
        );

        let ep = json!({
            "metadata": {"name": "web"},
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}], "ports": [{"port": 80}, {"port": 443}]}],
        });
        assert_eq!(
            row("Endpoints", ep)[1],
            "10.0.0.1:80,[fd00::1]:80,10.0.0.1:443 + 1 more..."
        );
        assert_eq!(
            row("Endpoints", json!({"metadata": {"name": "x"}}))[1],
            "<none>"
        );
    }

    #[test]
    fn other_kinds() {
        let ns = json!({"metadata": {"name": "prod"}, "status": {"phase": "Active"}});
        assert_eq!(
            row("Namespace", ns)[..2],
            ["prod", "Active"].map(Value::from)
        );
        let s = json!({"metadata": {"name": "tls"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            row("Secret", s)[..3],
            [json!("tls"), json!("kubernetes.io/tls"), json!(2)]
        );
        let sa = json!({"metadata": {"name": "default"}});
        assert_eq!(row("ServiceAccount", sa)[1], 0);
        let l = json!({"metadata": {"name": "ctrl"}, "spec": {"holderIdentity": "node-a"}});
        assert_eq!(row("Lease", l)[1], "node-a");

        let e = json!({
            "metadata": {"name": "web.1"},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
            "reason": "Pulled", "type": "Normal", "message": " Pulled image \n",
            "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 4,
            "source": {"component": "kubelet", "host": "n1"},
        });
        assert_eq!(
            row("Event", e),
            [
                json!("30s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{app}"),
                json!("kubelet, n1"),
                json!("Pulled image"),
                json!("10m"),
                json!(4),
                json!("web.1")
            ]
        );
        let newer = json!({
            "metadata": {"name": "n"}, "involvedObject": {"kind": "Node"},
            "eventTime": "2025-01-10T11:59:00.123456Z", "reportingComponent": "ctrl",
            "series": {"count": 7, "lastObservedTime": "2025-01-10T11:59:50.000001Z"},
        });
        let r = row("Event", newer);
        assert_eq!(r[0], "9s");
        assert_eq!(r[3], "node");
        assert_eq!(r[5], "ctrl");
        assert_eq!((r[7].clone(), r[8].clone()), (json!("59s"), json!(7)));
        let names = column_names("Event");
        assert_eq!(names[0], ("Last Seen".to_string(), 0));
        assert_eq!(names[9], ("Name".to_string(), 1));

        let other = json!({"metadata": {"name": "x", "creationTimestamp": "2024-05-06T07:08:09Z"}});
        assert_eq!(
            row("Widget", other),
            ["x", "2024-05-06T07:08:09Z"].map(Value::from)
        );
        let t = table_at("Widget", &[], Value::Null, IncludeObject::None, now());
        assert_eq!(t["columnDefinitions"][1]["name"], "Created At");
        assert_eq!(t["columnDefinitions"][1]["type"], "date");
    }
}
