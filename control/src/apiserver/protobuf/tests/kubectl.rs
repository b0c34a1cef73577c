//! Bodies kubectl 1.32 sent (its `-v=10` request dumps), each decoded to
//! exactly the JSON the same command prints with `--dry-run=client -o json`.

use serde_json::{Value, json};

use super::super::decode;

fn hex(s: &[&str]) -> Vec<u8> {
    let s: String = s.concat();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn check(body: &[&str], expected: Value) {
    let kind = expected["kind"].as_str().unwrap();
    assert_eq!(decode(&hex(body), kind).unwrap(), expected);
}

#[test]
fn create_namespace() {
    check(
        &[
            "6b3873000a0f0a02763112094e616d657370616365121b0a130a036e733112001a0022002a003200",
            "3800420012001a020a001a002200",
        ],
        json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "ns1", "creationTimestamp": null}, "spec": {}, "status": {}}),
    );
}

#[test]
fn create_configmap_from_literals() {
    check(
        &[
            "6b3873000a0f0a0276311209436f6e6669674d617012260a120a02633112001a0022002a00320038",
            "00420012060a016112013112080a0162120374776f1a002200",
        ],
        json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c1", "creationTimestamp": null}, "data": {"a": "1", "b": "two"}}),
    );
}

#[test]
fn create_secret_generic() {
    check(
        &[
            "6b3873000a0c0a027631120653656372657412250a120a02733112001a0022002a00320038004200",
            "120d0a0475736572120561646d696e1a001a002200",
        ],
        json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s1", "creationTimestamp": null}, "data": {"user": "YWRtaW4="}}),
    );
}

#[test]
fn create_serviceaccount() {
    check(
        &[
            "6b3873000a140a027631120e536572766963654163636f756e7412150a130a0373613112001a0022",
            "002a003200380042001a002200",
        ],
        json!({"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "sa1", "creationTimestamp": null}}),
    );
}

#[test]
fn create_service_clusterip() {
    check(
        &[
            "6b3873000a0d0a02763112075365727669636512690a1f0a0377656212001a0022002a0032003800",
            "42005a0a0a03617070120377656212420a1b0a0738302d3830383012035443501850220708001090",
            "3f1a002800120a0a0361707012037765621a002209436c757374657249503a00420052005a006000",
            "68001a020a001a002200",
        ],
        json!({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}}, "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}], "selector": {"app": "web"}, "type": "ClusterIP"}, "status": {"loadBalancer": {}}}),
    );
}

#[test]
fn create_deployment() {
    check(
        &[
            "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b9010a1f0a0377656212001a",
            "0022002a003200380042005a0a0a0361707012037765621287010802120c0a0a0a03617070120377",
            "65621a6d0a1c0a0012001a0022002a003200380042005a0a0a036170701203776562124d122f0a04",
            "64656d6f120664656d6f3a312a00320b0a00100018903f22002a0042006a00720080010088010090",
            "0100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038",
            "001a0c0800100018002000280038001a002200",
        ],
        json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "web"}}, "spec": {"containers": [{"name": "demo", "image": "demo:1", "ports": [{"containerPort": 8080}], "resources": {}}]}}, "strategy": {}}, "status": {}}),
    );
}
