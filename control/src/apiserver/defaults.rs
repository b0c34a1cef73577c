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
    // A kubelet runs probes on these; a zero period would never tick.
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) {
            or(p, "periodSeconds", json!(10));
            or(p, "timeoutSeconds", json!(1));
            or(p, "successThreshold", json!(1));
            or(p, "failureThreshold", json!(3));
            if let Some(http) = p.get_mut("httpGet").filter(|h| h.is_object()) {
                or(http, "path", json!("/"));
                or(http, "scheme", json!("HTTP"));
            }
        }
    }
    each(c, "env", |e| {
        let field = e.get_mut("valueFrom").and_then(|v| v.get_mut("fieldRef"));
        if let Some(field) = field.filter(|f| f.is_object()) {
            or(field, "apiVersion", json!("v1"));
        }
    });
}

/// Mode 0644 for files of configMap, secret, downwardAPI and projected volumes.
fn volume(v: &mut Value) {
    for source in ["configMap", "secret", "downwardAPI", "projected"] {
        if let Some(s) = v.get_mut(source).filter(|s| s.is_object()) {
            or(s, "defaultMode", json!(420));
        }
    }
}

/// Upstream's QoS class: Guaranteed when every container's CPU and memory
/// limits equal its requests, BestEffort when none asks for any, otherwise
/// Burstable. Kubelets place the pod's cgroup by it.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .flat_map(|l| spec[*l].as_array().into_iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let r = &c["resources"];
        for res in ["cpu", "memory"] {
            let limit = &r["limits"][res];
            // A request left out defaults to the limit.
            let request = if r["requests"][res].is_null() {
                limit
            } else {
                &r["requests"][res]
            };
            any |= !limit.is_null() || !request.is_null();
            guaranteed &= !limit.is_null() && request == limit;
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
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
    each(spec, "volumes", volume);
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

/// A Service update keeps what the server allocated when the client leaves
/// it out (a `kubectl replace` of the original manifest), and loses the node
/// ports it did not ask to keep when it stops being a NodePort or
/// LoadBalancer: upstream's patchAllocatedValues and dropTypeDependentFields.
pub fn service_update(new: &mut Value, old: &Value) {
    let node_ports = |v: &Value| {
        matches!(
            v["spec"]["type"].as_str(),
            Some("NodePort" | "LoadBalancer")
        )
    };
    let unset = |v: &Value| v.is_null() || v.as_str() == Some("");
    if new["spec"]["type"] != "ExternalName" && unset(&new["spec"]["clusterIP"]) {
        for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if !old["spec"][f].is_null() {
                new["spec"][f] = old["spec"][f].clone();
            }
        }
    }
    let old_ports: Vec<&Value> = old["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if node_ports(new) && node_ports(old) {
        if let Some(ports) = new["spec"]["ports"].as_array_mut() {
            for p in ports.iter_mut().filter(|p| p["nodePort"].is_null()) {
                let same = |o: &&&Value| {
                    o["name"] == p["name"] && (!p["name"].is_null() || o["port"] == p["port"])
                };
                if let Some(o) = old_ports
                    .iter()
                    .find(same)
                    .filter(|o| !o["nodePort"].is_null())
                {
                    p["nodePort"] = o["nodePort"].clone();
                }
            }
        }
        return;
    }
    if !node_ports(old) || node_ports(new) {
        return;
    }
    if let Some(ports) = new["spec"]["ports"].as_array_mut() {
        for (i, p) in ports.iter_mut().enumerate() {
            if old_ports
                .get(i)
                .is_some_and(|b| b["nodePort"] == p["nodePort"])
                && let Some(m) = p.as_object_mut()
            {
                m.remove("nodePort");
            }
        }
    }
}

/// How long pods tolerate a not-ready or unreachable node unless they say
/// otherwise: upstream's DefaultTolerationSeconds admission (300 s).
#[derive(Clone, Copy, Debug)]
pub struct Admission {
    pub not_ready_toleration: i64,
    pub unreachable_toleration: i64,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            not_ready_toleration: 300,
            unreachable_toleration: 300,
        }
    }
}

/// Tolerations for the node lifecycle taints, unless the pod has its own.
pub fn default_tolerations(spec: &mut Value, admission: Admission) {
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    let list = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    for (key, secs) in [
        (
            "node.kubernetes.io/not-ready",
            admission.not_ready_toleration,
        ),
        (
            "node.kubernetes.io/unreachable",
            admission.unreachable_toleration,
        ),
    ] {
        let covered = list.iter().any(|t| {
            (t["key"] == key || (t["key"].is_null() && t["operator"] == "Exists"))
                && (t["effect"].is_null() || t["effect"] == "NoExecute")
        });
        if !covered {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}));
        }
    }
}

/// What a new object starts with: its status (clients do not set it on
/// create), and for pods the default tolerations.
pub fn on_create(kind: &str, obj: &mut Value) {
    on_create_with(kind, obj, Admission::default())
}

pub fn on_create_with(kind: &str, obj: &mut Value, admission: Admission) {
    if kind == "Pod" {
        default_tolerations(&mut obj["spec"], admission);
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    match kind {
        "Pod" => {
            let qos = map.get("spec").map_or("BestEffort", qos_class);
            map.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": qos}),
            );
        }
        "Namespace" => {
            map.insert("status".into(), json!({"phase": "Active"}));
            // The namespace loop empties a deleted namespace, then removes
            // this finalizer through `finalize`; only then is it gone.
            map.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
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
    fn pods() {
        let qos = |resources: Value| {
            qos_class(&json!({"containers": [{"name": "a", "resources": resources}]}))
        };
        assert_eq!(qos(json!({})), "BestEffort");
        assert_eq!(
            qos(json!({"limits": {"cpu": "1", "memory": "1Gi"}})),
            "Guaranteed"
        );
        assert_eq!(qos(json!({"requests": {"cpu": "1"}})), "Burstable");
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "x",
            "readinessProbe": {"httpGet": {"port": 80}}}], "volumes": [{"name": "v", "configMap": {"name": "c"}}]}});
        apply("Pod", &mut pod);
        let probe = &pod["spec"]["containers"][0]["readinessProbe"];
        assert_eq!(
            (
                probe["periodSeconds"].as_i64(),
                probe["httpGet"]["path"].as_str()
            ),
            (Some(10), Some("/"))
        );
        assert_eq!(pod["spec"]["volumes"][0]["configMap"]["defaultMode"], 420);
        assert!(
            pod["spec"]["containers"][0].get("livenessProbe").is_none(),
            "absent stays absent"
        );
    }

    #[test]
    fn a_service_replace_keeps_what_was_allocated() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
                                  "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}});
        let mut new =
            json!({"spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80}]}});
        service_update(&mut new, &old);
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.9");
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
        let mut to_cluster_ip = old.clone();
        to_cluster_ip["spec"]["type"] = json!("ClusterIP");
        service_update(&mut to_cluster_ip, &old);
        assert!(to_cluster_ip["spec"]["ports"][0].get("nodePort").is_none());
    }

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
