//! Waiting for the cluster to reach a state, failing with every component's
//! log when it does not in time or when a component ends meanwhile.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Cluster;

const POLL: Duration = Duration::from_millis(250);

impl Cluster {
    /// Calls `check` until it returns `Some`, for at most `timeout`.
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = check(self) {
                return value;
            }
            if let Some(ended) = self.nodes.iter().find_map(|n| n.exited()) {
                self.fail(&format!("while waiting for {what}: {ended}"));
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out after {timeout:?} waiting for {what}"));
            }
            std::thread::sleep(POLL);
        }
    }

    /// `kubectl get <args> -o json`, parsed; `None` if kubectl fails.
    pub fn get_json(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(&all);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// Every node registered, Ready, and rid of the taints the node
    /// lifecycle controller puts on nodes that are not (it looks every
    /// second): pods created next may go to any node.
    pub fn wait_nodes_ready(&self, timeout: Duration) {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        let schedulable = |n: &Value| {
            n["spec"]["taints"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|t| {
                    !matches!(
                        t["key"].as_str(),
                        Some("node.kubernetes.io/not-ready" | "node.kubernetes.io/unreachable")
                    )
                })
        };
        self.wait_until("every node to be Ready", timeout, |c| {
            let list = c.get_json(&["nodes"])?;
            let items = list["items"].as_array()?;
            names
                .iter()
                .all(|name| {
                    items.iter().any(|n| {
                        n["metadata"]["name"] == name.as_str()
                            && condition(n, "Ready")
                            && schedulable(n)
                    })
                })
                .then_some(())
        })
    }

    /// Every agent's /healthz answers 200.
    pub fn wait_agents_healthy(&self, timeout: Duration) {
        self.wait_until("every agent to be healthy", timeout, |c| {
            c.nodes.iter().all(|n| n.agent_healthy()).then_some(())
        })
    }

    /// At least `count` pods matching `selector` in `namespace` are Ready;
    /// returns them.
    pub fn wait_pods_ready(
        &self,
        namespace: &str,
        selector: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        self.wait_until(
            &format!("{count} ready pods {selector} in {namespace}"),
            timeout,
            |c| {
                let list = c.get_json(&["pods", "-n", namespace, "-l", selector])?;
                let ready: Vec<Value> = list["items"]
                    .as_array()?
                    .iter()
                    .filter(|p| condition(p, "Ready"))
                    .cloned()
                    .collect();
                (ready.len() >= count).then_some(ready)
            },
        )
    }
}

/// Whether the object's status has condition `kind` set to True.
pub fn condition(object: &Value, kind: &str) -> bool {
    object["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == kind && c["status"] == "True")
    })
}
