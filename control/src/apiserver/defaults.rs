//! Defaults the server fills in, as upstream's defaulters do, so clients
//! read back the same objects they would from kube-apiserver.

use serde_json::{Value, json};

/// Sets `obj[key]` when absent or null.
fn or(obj: &mut Value, key: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        let slot = map.entry(key).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

/// Applies `f` to each item of the list at `obj[key]`, if there is one
/// (indexing would insert a null where there is none).
fn each(obj: &mut Value, key: &str, mut f: impl FnMut(&mut Value)) {
    if let Some(items) = obj.get_mut(key).and_then(Value::as_array_mut) {
        items.iter_mut().for_each(&mut f);
    }
}

/// A rolling-update strategy at `obj[key]`: of type RollingUpdate unless
/// it says otherwise, then with the limits it leaves out. Go clients send
/// an unset strategy as `{}`.
fn rolling(obj: &mut Value, key: &str, max_surge: Value, max_unavailable: Value) {
    if !obj.is_object() {
        return;
    }
    or(obj, key, json!({}));
    let strategy = &mut obj[key];
    or(strategy, "type", json!("RollingUpdate"));
    if strategy["type"] == "RollingUpdate" {
        or(strategy, "rollingUpdate", json!({}));
        let limits = &mut strategy["rollingUpdate"];
        or(limits, "maxUnavailable", max_unavailable);
        or(limits, "maxSurge", max_surge);
    }
}

fn container(c: &mut Value) {
    let image = c["image"].as_str().unwrap_or_default();
    let tag = image.rsplit('/').next().unwrap_or_default();
    let latest = !image.contains('@') && (!tag.contains(':') || tag.ends_with(":latest"));
    or(
        c,
        "imagePullPolicy",
        json!(if latest { "Always" } else { "IfNotPresent" }),
    );
    or(c, "terminationMessagePath", json!("/dev/termination-log"));
    or(c, "terminationMessagePolicy", json!("File"));
    each(c, "ports", |p| or(p, "protocol", json!("TCP")));
}

pub fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    or(spec, "restartPolicy", json!("Always"));
    or(spec, "dnsPolicy", json!("ClusterFirst"));
    or(spec, "terminationGracePeriodSeconds", json!(30));
    or(spec, "schedulerName", json!("default-scheduler"));
    or(spec, "securityContext", json!({}));
    or(spec, "enableServiceLinks", json!(true));
    each(spec, "containers", container);
    each(spec, "initContainers", container);
}

fn service(spec: &mut Value) {
    or(spec, "type", json!("ClusterIP"));
    or(spec, "sessionAffinity", json!("None"));
    if spec["type"] != "ExternalName" {
        or(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer")) {
        or(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    each(spec, "ports", |p| {
        or(p, "protocol", json!("TCP"));
        // Go clients write an unset targetPort as 0.
        if let Some(m) = p.as_object_mut()
            && m.get("targetPort").is_some_and(|t| *t == 0 || *t == "")
        {
            m.remove("targetPort");
        }
        let port = p["port"].clone();
        or(p, "targetPort", port);
    });
}

/// Defaults for a new or replaced object of `kind`.
pub fn apply(kind: &str, obj: &mut Value) {
    let spec = &mut obj["spec"];
    match kind {
        "Pod" => pod_spec(spec),
        "Service" => service(spec),
        "Deployment" => {
            or(spec, "replicas", json!(1));
            or(spec, "revisionHistoryLimit", json!(10));
            or(spec, "progressDeadlineSeconds", json!(600));
            rolling(spec, "strategy", json!("25%"), json!("25%"));
            pod_spec(&mut spec["template"]["spec"]);
        }
        "ReplicaSet" => {
            or(spec, "replicas", json!(1));
            pod_spec(&mut spec["template"]["spec"]);
        }
        "DaemonSet" => {
            or(spec, "revisionHistoryLimit", json!(10));
            rolling(spec, "updateStrategy", json!(0), json!(1));
            pod_spec(&mut spec["template"]["spec"]);
        }
        "Secret" => or(obj, "type", json!("Opaque")),
        _ => {}
    }
    // A spec that was absent stays absent.
    if obj.get("spec").is_some_and(Value::is_null)
        && let Some(map) = obj.as_object_mut()
    {
        map.remove("spec");
    }
}

/// A Service that stops being a NodePort (or LoadBalancer) loses the node
/// ports it did not ask to change, as upstream drops type-dependent fields.
pub fn service_update(new: &mut Value, old: &Value) {
    let node_ports = |v: &Value| {
        matches!(
            v["spec"]["type"].as_str(),
            Some("NodePort" | "LoadBalancer")
        )
    };
    if !node_ports(old) || node_ports(new) {
        return;
    }
    let before: Vec<&Value> = old["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| &p["nodePort"])
        .collect();
    if let Some(ports) = new["spec"]["ports"].as_array_mut() {
        for (i, p) in ports.iter_mut().enumerate() {
            if before.get(i).is_some_and(|b| **b == p["nodePort"])
                && let Some(m) = p.as_object_mut()
            {
                m.remove("nodePort");
            }
        }
    }
}

/// The status a new object starts with: clients do not set it on create.
pub fn initial_status(kind: &str, obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    match kind {
        "Pod" => {
            map.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": "BestEffort"}),
            );
        }
        "Namespace" => {
            map.insert("status".into(), json!({"phase": "Active"}));
        }
        "Service" => {
            map.insert("status".into(), json!({"loadBalancer": {}}));
        }
        "Deployment" | "ReplicaSet" | "DaemonSet" => {
            map.remove("status");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_deployments() {
        let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
        apply("Service", &mut svc);
        assert_eq!(svc["spec"]["type"], "ClusterIP");
        assert_eq!(
            svc["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "demo:1"}, {"name": "b", "image": "demo"}]}}}});
        apply("Deployment", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let cs = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            (
                cs[0]["imagePullPolicy"].as_str(),
                cs[1]["imagePullPolicy"].as_str()
            ),
            (Some("IfNotPresent"), Some("Always"))
        );
        // As Go clients send them: an empty strategy, a targetPort of 0.
        let mut d = json!({"spec": {"strategy": {}, "template": {"spec": {"containers": [{"name": "a", "image": "demo:1"}]}}}});
        apply("Deployment", &mut d);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
        );
        let pod = &d["spec"]["template"]["spec"];
        assert!(pod.get("initContainers").is_none() && pod["containers"][0].get("ports").is_none());
        let mut d = json!({"spec": {"strategy": {"type": "Recreate"}}});
        apply("Deployment", &mut d);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
        let mut svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 0}]}});
        apply("Service", &mut svc);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
        let mut cm = json!({"data": {}});
        apply("ConfigMap", &mut cm);
        assert!(cm.get("spec").is_none());
    }
}
