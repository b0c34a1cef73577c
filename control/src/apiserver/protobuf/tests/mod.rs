//! Bodies built field by field with prost's encoders, with upstream's field
//! numbers, against the JSON the same objects have.

mod kubectl;

use prost::encoding;
use serde_json::{Value, json};

use super::decode;

/// A message under construction.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn new() -> Self {
        Self::default()
    }

    fn str(mut self, tag: u32, s: &str) -> Self {
        encoding::string::encode(tag, &s.to_owned(), &mut self.0);
        self
    }

    fn int(mut self, tag: u32, v: i64) -> Self {
        encoding::int64::encode(tag, &v, &mut self.0);
        self
    }

    fn bool(mut self, tag: u32, v: bool) -> Self {
        encoding::bool::encode(tag, &v, &mut self.0);
        self
    }

    fn bytes(mut self, tag: u32, b: &[u8]) -> Self {
        encoding::bytes::encode(tag, &b.to_vec(), &mut self.0);
        self
    }

    fn packed(mut self, tag: u32, v: &[i64]) -> Self {
        encoding::int64::encode_packed(tag, v, &mut self.0);
        self
    }

    fn msg(self, tag: u32, m: Pb) -> Self {
        self.bytes(tag, &m.0)
    }

    /// A `map<string, string>` entry.
    fn entry(self, tag: u32, k: &str, v: &str) -> Self {
        self.msg(tag, Pb::new().str(1, k).str(2, v))
    }
}

/// `k8s\0` and a runtime.Unknown around `raw`.
fn body(api_version: &str, kind: &str, raw: Pb) -> Vec<u8> {
    let unknown = Pb::new()
        .msg(1, Pb::new().str(1, api_version).str(2, kind))
        .msg(2, raw)
        .str(3, "")
        .str(4, "");
    [b"k8s\0".as_slice(), &unknown.0].concat()
}

/// ObjectMeta as Go writes it: every value field, most of them empty.
fn meta(name: &str) -> Pb {
    Pb::new()
        .str(1, name)
        .str(2, "")
        .str(3, "")
        .str(4, "")
        .str(5, "")
        .str(6, "")
        .int(7, 0)
        .msg(8, Pb::new())
}

fn int_or_str_int(v: i64) -> Pb {
    Pb::new().int(1, 0).int(2, v).str(3, "")
}

fn int_or_str_str(s: &str) -> Pb {
    Pb::new().int(1, 1).int(2, 0).str(3, s)
}

fn quantity(s: &str) -> Pb {
    Pb::new().str(1, s)
}

fn pod() -> Pb {
    let container = Pb::new()
        .str(1, "app")
        .str(2, "demo:1")
        .str(3, "sh")
        .str(3, "-c")
        .str(4, "echo hi")
        .str(5, "/work")
        .msg(
            6,
            Pb::new().str(1, "http").int(2, 0).int(3, 80).str(4, "TCP"),
        )
        .msg(7, Pb::new().str(1, "A").str(2, "1"))
        .msg(
            7,
            Pb::new().str(1, "B").str(2, "").msg(
                3,
                Pb::new().msg(
                    3,
                    Pb::new()
                        .msg(1, Pb::new().str(1, "settings"))
                        .str(2, "mode")
                        .bool(3, true),
                ),
            ),
        )
        .msg(
            7,
            Pb::new().str(1, "NODE").msg(
                3,
                Pb::new().msg(1, Pb::new().str(1, "v1").str(2, "spec.nodeName")),
            ),
        )
        .msg(
            8,
            Pb::new()
                .msg(1, Pb::new().str(1, "memory").msg(2, quantity("128Mi")))
                .msg(2, Pb::new().str(1, "cpu").msg(2, quantity("100m"))),
        )
        .msg(9, Pb::new().str(1, "data").bool(2, false).str(3, "/data"))
        .msg(
            10,
            Pb::new()
                .msg(
                    1,
                    Pb::new().msg(
                        2,
                        Pb::new().str(1, "/healthz").msg(2, int_or_str_str("http")),
                    ),
                )
                .int(2, 5)
                .int(3, 0),
        )
        .msg(
            11,
            Pb::new().msg(1, Pb::new().msg(3, Pb::new().msg(1, int_or_str_int(80)))),
        )
        .msg(
            22,
            Pb::new().msg(1, Pb::new().msg(1, Pb::new().str(1, "true"))),
        )
        .str(14, "IfNotPresent")
        .bool(16, false);
    let spec = Pb::new()
        .msg(
            1,
            Pb::new()
                .str(1, "data")
                .msg(2, Pb::new().msg(2, Pb::new().str(1, ""))),
        )
        .msg(
            1,
            Pb::new().str(1, "cfg").msg(
                2,
                Pb::new().msg(
                    19,
                    Pb::new()
                        .msg(1, Pb::new().str(1, "settings"))
                        .msg(2, Pb::new().str(1, "mode").str(2, "mode.txt")),
                ),
            ),
        )
        .msg(
            1,
            Pb::new()
                .str(1, "host")
                .msg(2, Pb::new().msg(1, Pb::new().str(1, "/var/log").str(2, ""))),
        )
        .msg(2, container)
        .str(3, "Never")
        .int(4, 0)
        .str(6, "")
        .entry(7, "disk", "ssd")
        .str(8, "robot")
        .str(10, "")
        .bool(11, false)
        .msg(14, Pb::new().int(2, 1000).packed(4, &[1, 2]));
    let labels = meta("pod1").entry(11, "app", "x").msg(
        13,
        Pb::new()
            .str(5, "apps/v1")
            .str(1, "ReplicaSet")
            .str(3, "web-1")
            .str(4, "u-1")
            .bool(6, true),
    );
    Pb::new().msg(1, labels).msg(2, spec).msg(3, Pb::new())
}

#[test]
fn pod_with_the_common_fields() {
    let v = decode(&body("v1", "Pod", pod()), "Pod").unwrap();
    let expected = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "pod1",
            "creationTimestamp": null,
            "labels": {"app": "x"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u-1", "controller": true}],
        },
        "spec": {
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "cfg", "configMap": {"name": "settings", "items": [{"key": "mode", "path": "mode.txt"}]}},
                {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
            ],
            "containers": [{
                "name": "app",
                "image": "demo:1",
                "command": ["sh", "-c"],
                "args": ["echo hi"],
                "workingDir": "/work",
                "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode", "optional": true}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
                ],
                "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "100m"}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 5},
                "readinessProbe": {"tcpSocket": {"port": 80}},
                "startupProbe": {"exec": {"command": ["true"]}},
                "imagePullPolicy": "IfNotPresent",
            }],
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "nodeSelector": {"disk": "ssd"},
            "serviceAccountName": "robot",
            "securityContext": {"runAsUser": 1000, "supplementalGroups": [1, 2]},
        },
        "status": {},
    });
    assert_eq!(v, expected);
}

#[test]
fn an_unknown_field_is_refused_with_where_it_was() {
    let container = Pb::new().str(1, "app").str(2, "demo:1").int(99, 1);
    let spec = Pb::new().msg(2, container);
    let raw = Pb::new().msg(1, meta("p")).msg(2, spec);
    let err = decode(&body("v1", "Pod", raw), "Pod").unwrap_err();
    assert!(err.unsupported);
    assert_eq!(
        err.to_string(),
        "spec.containers[0]: protobuf field 99 of core.v1.Container is not supported"
    );
    // A volume plugin left out of the schema is refused the same way.
    let volume = Pb::new()
        .str(1, "disk")
        .msg(2, Pb::new().msg(3, Pb::new().str(1, "pd")));
    let raw = Pb::new().msg(2, Pb::new().msg(1, volume));
    let err = decode(&body("v1", "Pod", raw), "Pod").unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.volumes[0]: protobuf field 3 of core.v1.VolumeSource is not supported"
    );
}

#[test]
fn an_unknown_kind_is_refused() {
    let err = decode(&body("batch/v1", "Job", Pb::new()), "Job").unwrap_err();
    assert!(err.unsupported);
    assert!(
        err.to_string()
            .starts_with("protobuf bodies of kind Job are not supported")
    );
}

#[test]
fn malformed_bodies_are_told_apart() {
    let err = decode(b"{\"kind\": \"Pod\"}", "Pod").unwrap_err();
    assert!(!err.unsupported);
    let mut truncated = body("v1", "ConfigMap", Pb::new().msg(1, meta("c")));
    truncated.truncate(truncated.len() - 6);
    assert!(!decode(&truncated, "ConfigMap").unwrap_err().unsupported);
    // A string field sent as a varint.
    let raw = Pb::new().msg(1, Pb::new().int(1, 7));
    assert!(
        !decode(&body("v1", "ConfigMap", raw), "ConfigMap")
            .unwrap_err()
            .unsupported
    );
}

#[test]
fn delete_options_keep_a_zero_grace_period() {
    let raw = Pb::new()
        .int(1, 0)
        .msg(2, Pb::new().str(1, "u-1"))
        .str(4, "Foreground")
        .str(5, "All");
    let v = decode(&body("v1", "DeleteOptions", raw), "DeleteOptions").unwrap();
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
               "preconditions": {"uid": "u-1"}, "propagationPolicy": "Foreground", "dryRun": ["All"]})
    );
}

#[test]
fn the_expected_kind_stands_in_for_a_missing_type_meta() {
    let raw = Pb::new()
        .msg(1, meta("p"))
        .msg(2, Pb::new().str(1, "Node").str(3, "node-1"));
    let v = decode(&body("", "", raw), "Binding").unwrap();
    assert_eq!(
        v,
        json!({"kind": "Binding", "metadata": {"name": "p", "creationTimestamp": null},
               "target": {"kind": "Node", "name": "node-1"}})
    );
}

#[test]
fn times_quantities_and_bytes() {
    // 2024-01-02T03:04:05.123456789Z
    let t = || Pb::new().int(1, 1_704_164_645).int(2, 123_456_789);
    let lease = Pb::new()
        .msg(1, meta("l").msg(8, t()))
        .msg(2, Pb::new().str(1, "me").int(2, 15).msg(4, t()).int(5, 0));
    let v = decode(&body("coordination.k8s.io/v1", "Lease", lease), "Lease").unwrap();
    assert_eq!(v["metadata"]["creationTimestamp"], "2024-01-02T03:04:05Z");
    assert_eq!(
        v["spec"],
        json!({"holderIdentity": "me", "leaseDurationSeconds": 15,
               "renewTime": "2024-01-02T03:04:05.123456Z", "leaseTransitions": 0})
    );
    let secret = Pb::new()
        .msg(1, meta("s"))
        .msg(2, Pb::new().str(1, "bin").bytes(2, &[0, 1, 0xff]))
        .msg(2, Pb::new().str(1, "empty"))
        .str(3, "Opaque")
        .bool(5, false);
    let v = decode(&body("v1", "Secret", secret), "Secret").unwrap();
    assert_eq!(v["data"], json!({"bin": "AAH/", "empty": ""}));
    assert_eq!(
        (&v["type"], &v["immutable"]),
        (&json!("Opaque"), &json!(false))
    );
}

#[test]
fn deployment_strategy_and_int_or_string() {
    let strategy = Pb::new().str(1, "RollingUpdate").msg(
        2,
        Pb::new()
            .msg(1, int_or_str_int(0))
            .msg(2, int_or_str_str("50%")),
    );
    let spec = Pb::new().int(1, 0).msg(4, strategy).bool(7, false);
    let v = decode(
        &body("apps/v1", "Deployment", Pb::new().msg(2, spec)),
        "Deployment",
    )
    .unwrap();
    assert_eq!(
        v["spec"],
        json!({"replicas": 0, "strategy": {"type": "RollingUpdate",
               "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "50%"}}})
    );
}

#[test]
fn every_kind_has_its_message() {
    for kind in super::schema::kinds() {
        let v: Value = decode(&body("", kind, Pb::new()), kind).unwrap();
        assert_eq!(v, json!({"kind": kind}));
    }
}
