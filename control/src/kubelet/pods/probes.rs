//! Startup, readiness and liveness probes (exec, httpGet, tcpSocket), one
//! task per running container, with upstream's timings and thresholds.
//! Results land in a shared table; the pod's worker is woken on a change.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use k8s_cri::v1::ExecSyncRequest;
use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::kubelet::Ctx;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub started: bool,
    pub ready: bool,
    /// Liveness (or startup) failed: the container is to be restarted.
    pub failed: bool,
}

type Table = Arc<Mutex<HashMap<String, State>>>;

#[derive(Default)]
pub struct Probes {
    table: Table,
    tasks: HashMap<String, JoinHandle<()>>,
    pub changed: Arc<Notify>,
}

impl Drop for Probes {
    fn drop(&mut self) {
        for t in self.tasks.values() {
            t.abort();
        }
    }
}

impl Probes {
    /// Starts probing a running container once.
    pub fn watch(&mut self, ctx: &Ctx, id: &str, c: &Container, pod_ip: Option<String>) {
        if self.tasks.contains_key(id) {
            return;
        }
        let initial = State {
            started: c.startup_probe.is_none(),
            ready: c.readiness_probe.is_none() && c.startup_probe.is_none(),
            failed: false,
        };
        self.table.lock().unwrap().insert(id.to_owned(), initial);
        let target = Target {
            ctx: ctx.clone(),
            id: id.to_owned(),
            container: c.clone(),
            pod_ip,
            table: self.table.clone(),
            notify: self.changed.clone(),
        };
        self.tasks.insert(id.to_owned(), tokio::spawn(target.run()));
    }

    /// Forgets containers that are no longer running.
    pub fn retain(&mut self, running: &[String]) {
        self.tasks.retain(|id, t| {
            let keep = running.contains(id);
            if !keep {
                t.abort();
            }
            keep
        });
        self.table
            .lock()
            .unwrap()
            .retain(|id, _| running.contains(id));
    }

    pub fn state(&self, id: &str) -> State {
        self.table
            .lock()
            .unwrap()
            .get(id)
            .copied()
            .unwrap_or_default()
    }
}

struct Target {
    ctx: Ctx,
    id: String,
    container: Container,
    pod_ip: Option<String>,
    table: Table,
    notify: Arc<Notify>,
}

impl Target {
    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut table = self.table.lock().unwrap();
        let Some(state) = table.get_mut(&self.id) else {
            return;
        };
        let before = *state;
        f(state);
        if *state != before {
            self.notify.notify_one();
        }
    }

    async fn run(self) {
        let c = self.container.clone();
        if let Some(p) = &c.startup_probe {
            let ok = self.until_threshold(p).await;
            self.update(|s| {
                if ok {
                    s.started = true;
                    s.ready = c.readiness_probe.is_none();
                } else {
                    s.failed = true;
                }
            });
            if !ok {
                return;
            }
        }
        let readiness = async {
            if let Some(p) = &c.readiness_probe {
                self.readiness(p).await;
            }
        };
        let liveness = async {
            if let Some(p) = &c.liveness_probe
                && !self.until_threshold_fails(p).await
            {
                self.update(|s| s.failed = true);
            }
        };
        tokio::join!(readiness, liveness);
    }

    /// Startup: true once `successThreshold` passes in a row, false after
    /// `failureThreshold` failures in a row.
    async fn until_threshold(&self, p: &Probe) -> bool {
        let t = Timing::of(p);
        tokio::time::sleep(t.initial).await;
        let mut failures = 0;
        loop {
            if self.once(p, t.timeout).await {
                return true;
            }
            failures += 1;
            if failures >= t.failures {
                return false;
            }
            tokio::time::sleep(t.period).await;
        }
    }

    /// Liveness: returns false after `failureThreshold` failures in a row.
    async fn until_threshold_fails(&self, p: &Probe) -> bool {
        let t = Timing::of(p);
        tokio::time::sleep(t.initial).await;
        let mut failures = 0;
        loop {
            if self.once(p, t.timeout).await {
                failures = 0;
            } else {
                failures += 1;
                if failures >= t.failures {
                    return false;
                }
            }
            tokio::time::sleep(t.period).await;
        }
    }

    async fn readiness(&self, p: &Probe) {
        let t = Timing::of(p);
        tokio::time::sleep(t.initial).await;
        let (mut successes, mut failures) = (0, 0);
        loop {
            if self.once(p, t.timeout).await {
                successes += 1;
                failures = 0;
                if successes >= t.successes {
                    self.update(|s| s.ready = true);
                }
            } else {
                failures += 1;
                successes = 0;
                if failures >= t.failures {
                    self.update(|s| s.ready = false);
                }
            }
            tokio::time::sleep(t.period).await;
        }
    }

    async fn once(&self, p: &Probe, timeout: Duration) -> bool {
        let action = Action {
            exec: p
                .exec
                .as_ref()
                .map(|e| e.command.clone().unwrap_or_default()),
            http_get: p.http_get.as_ref(),
            tcp_socket: p.tcp_socket.as_ref(),
        };
        action
            .run(
                &self.ctx,
                &self.id,
                &self.container,
                self.pod_ip.as_deref(),
                timeout,
            )
            .await
    }
}

/// What a probe or a lifecycle hook does: a command in the container, an
/// HTTP GET or a TCP connect to the pod.
pub struct Action<'a> {
    pub exec: Option<Vec<String>>,
    pub http_get: Option<&'a k8s_openapi::api::core::v1::HTTPGetAction>,
    pub tcp_socket: Option<&'a k8s_openapi::api::core::v1::TCPSocketAction>,
}

impl Action<'_> {
    /// Whether it succeeded within `timeout`.
    pub async fn run(
        &self,
        ctx: &Ctx,
        id: &str,
        container: &Container,
        pod_ip: Option<&str>,
        timeout: Duration,
    ) -> bool {
        let host = |h: &Option<String>| {
            h.clone()
                .or(pod_ip.map(str::to_owned))
                .unwrap_or_else(|| "127.0.0.1".into())
        };
        let attempt = async {
            if let Some(cmd) = &self.exec {
                let r = ctx
                    .cri
                    .runtime
                    .clone()
                    .exec_sync(ExecSyncRequest {
                        container_id: id.to_owned(),
                        cmd: cmd.clone(),
                        timeout: timeout.as_secs().max(1) as i64,
                    })
                    .await;
                return r.is_ok_and(|r| r.into_inner().exit_code == 0);
            }
            if let Some(h) = self.http_get {
                let Some(port) = port(container, &h.port) else {
                    return false;
                };
                let path = h.path.clone().unwrap_or_else(|| "/".into());
                let headers: Vec<(String, String)> = h
                    .http_headers
                    .iter()
                    .flatten()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect();
                return http_get(&host(&h.host), port, &path, &headers).await;
            }
            if let Some(t) = self.tcp_socket {
                let Some(port) = port(container, &t.port) else {
                    return false;
                };
                return tokio::net::TcpStream::connect((host(&t.host).as_str(), port))
                    .await
                    .is_ok();
            }
            false
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or(false)
    }
}

/// A port number, or a named container port.
fn port(container: &Container, port: &IntOrString) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// Upstream's defaults: period 10 s, timeout 1 s, thresholds 1 and 3.
struct Timing {
    initial: Duration,
    period: Duration,
    timeout: Duration,
    successes: u32,
    failures: u32,
}

impl Timing {
    fn of(p: &Probe) -> Self {
        let secs = |v: Option<i32>, d: i32| Duration::from_secs(v.unwrap_or(d).max(0) as u64);
        Self {
            initial: secs(p.initial_delay_seconds, 0),
            period: secs(p.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: secs(p.timeout_seconds, 1).max(Duration::from_secs(1)),
            successes: p.success_threshold.unwrap_or(1).max(1) as u32,
            failures: p.failure_threshold.unwrap_or(3).max(1) as u32,
        }
    }
}

/// An HTTP GET: 2xx and 3xx pass, as upstream's prober says.
async fn http_get(host: &str, port: u16, path: &str, headers: &[(String, String)]) -> bool {
    let addr: Option<SocketAddr> = format!("{host}:{port}")
        .parse()
        .ok()
        .or_else(|| format!("[{host}]:{port}").parse().ok());
    let stream = match addr {
        Some(a) => tokio::net::TcpStream::connect(a).await,
        None => tokio::net::TcpStream::connect((host, port)).await,
    };
    let Ok(stream) = stream else { return false };
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return false;
    };
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path)
        .header("host", format!("{host}:{port}"))
        .header("user-agent", "kube-probe/1.32")
        .header("accept", "*/*");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let Ok(req) = req.body(Empty::<bytes::Bytes>::new()) else {
        return false;
    };
    sender
        .send_request(req)
        .await
        .is_ok_and(|r| (200..400).contains(&r.status().as_u16()))
}
