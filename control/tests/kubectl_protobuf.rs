//! Kubernetes protobuf request bodies against the real server. kubectl 1.32's
//! `create` generators send their objects as protobuf: each object reads back
//! with what the command asked for, and exactly as the same command's object
//! does when sent as JSON. Bodies other Go clients send (Binding,
//! DeleteOptions), a field the server does not decode and a broken body go
//! through the raw API.

mod support;

use prost::encoding;
use serde_json::{Value, json};
use support::{Kubectl, Server, kubectl_current};

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
const JSON: &str = "application/json";

/// Runs a command that must succeed with `-v=8` and returns the
/// Content-Type of the request that carried a body.
fn sent(k: &Kubectl, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.push("-v=8");
    let out = k.run(&all);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl {args:?} failed:\n{log}");
    let mut in_request = false;
    let mut found = vec![];
    for line in log.lines() {
        if line.contains("Request Headers:") {
            in_request = true;
        } else if line.contains("Response Status:") {
            in_request = false;
        } else if in_request && let Some(ct) = line.split("Content-Type: ").nth(1) {
            found.push(ct.trim().to_owned());
        }
    }
    assert_eq!(found.len(), 1, "one request with a body in:\n{log}");
    found.remove(0)
}

/// The object without what the server assigns.
fn stored(k: &Kubectl, kind: &str, name: &str, ns: &str) -> Value {
    let mut v = k.json(&["get", kind, name, "-n", ns]);
    let meta = v["metadata"].as_object_mut().unwrap();
    for f in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "namespace",
        "managedFields",
        "generation",
    ] {
        meta.remove(f);
    }
    // The status is the loops' (a Deployment's conditions carry the time
    // they were written), not what the command sent.
    if kind != "namespace" {
        v.as_object_mut().unwrap().remove("status");
    }
    if kind == "service" {
        let spec = v["spec"].as_object_mut().unwrap();
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        for p in spec["ports"].as_array_mut().unwrap() {
            p.as_object_mut().unwrap().remove("nodePort");
        }
    }
    v
}

/// The same command's object, sent as JSON (`create -f`) into `viajson`.
fn via_json(k: &Kubectl, args: &[&str]) {
    let mut all = args.to_vec();
    all.extend(["-n", "viajson", "--dry-run=client", "-o", "json"]);
    let object = k.ok(&all);
    let file = k.file("object.json", &object);
    assert_eq!(sent(k, &["create", "-f", &file]), JSON);
}

#[test]
fn kubectl_generators_send_protobuf_and_get_what_they_asked_for() {
    let server = Server::start();
    let k = server.admin(kubectl_current());
    assert_eq!(sent(&k, &["create", "namespace", "pb"]), PROTOBUF);
    k.ok(&["create", "namespace", "viajson"]);
    let ns = stored(&k, "namespace", "pb", "");
    assert_eq!(ns["metadata"]["name"], "pb");
    assert_eq!(ns["status"], json!({"phase": "Active"}));

    let commands: &[(&[&str], &str, &str)] = &[
        (
            &[
                "create",
                "configmap",
                "settings",
                "--from-literal=mode=fast",
                "--from-literal=level=3",
            ],
            "configmap",
            "settings",
        ),
        (
            &[
                "create",
                "secret",
                "generic",
                "creds",
                "--from-literal=user=admin",
            ],
            "secret",
            "creds",
        ),
        (
            &[
                "create",
                "deployment",
                "web",
                "--image=demo:1",
                "--replicas=2",
                "--port=8080",
            ],
            "deployment",
            "web",
        ),
        (
            &["create", "service", "clusterip", "web", "--tcp=80:8080"],
            "service",
            "web",
        ),
        (
            &["create", "service", "nodeport", "edge", "--tcp=80:8080"],
            "service",
            "edge",
        ),
        (
            &["create", "serviceaccount", "robot"],
            "serviceaccount",
            "robot",
        ),
    ];
    for (args, kind, name) in commands {
        let mut in_pb = args.to_vec();
        in_pb.extend(["-n", "pb"]);
        assert_eq!(sent(&k, &in_pb), PROTOBUF, "{args:?}");
        via_json(&k, args);
        assert_eq!(
            stored(&k, kind, name, "pb"),
            stored(&k, kind, name, "viajson"),
            "{args:?}: protobuf and JSON give the same object"
        );
    }

    let cm = stored(&k, "configmap", "settings", "pb");
    assert_eq!(
        cm,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
               "data": {"mode": "fast", "level": "3"}})
    );
    let secret = stored(&k, "secret", "creds", "pb");
    assert_eq!(
        secret,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
               "data": {"user": "YWRtaW4="}, "type": "Opaque"})
    );
    let sa = stored(&k, "serviceaccount", "robot", "pb");
    assert_eq!(
        sa,
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}})
    );

    let deploy = stored(&k, "deployment", "web", "pb");
    assert_eq!(deploy["metadata"]["labels"], json!({"app": "web"}));
    let spec = &deploy["spec"];
    assert_eq!(spec["replicas"], 2);
    assert_eq!(spec["selector"], json!({"matchLabels": {"app": "web"}}));
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    assert_eq!(
        spec["template"]["metadata"]["labels"],
        json!({"app": "web"})
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(
        pod["containers"],
        json!([{"name": "demo", "image": "demo:1", "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}], "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"}])
    );
    assert!(pod.get("initContainers").is_none(), "{pod}");

    let svc = stored(&k, "service", "web", "pb");
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}])
    );
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    let edge = k.json(&["get", "service", "edge", "-n", "pb"]);
    assert_eq!(edge["spec"]["type"], "NodePort");
    let node_port = edge["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&node_port), "{edge}");

    // run and expose send JSON (they build their objects untyped).
    assert_eq!(
        sent(
            &k,
            &[
                "run",
                "pod1",
                "-n",
                "pb",
                "--image=demo:1",
                "--env=A=1",
                "--port=80",
                "--labels=app=x"
            ]
        ),
        JSON
    );
    let pod1 = stored(&k, "pod", "pod1", "pb");
    assert_eq!(pod1["metadata"]["labels"], json!({"app": "x"}));
    let c = &pod1["spec"]["containers"][0];
    assert_eq!(
        (&c["image"], &c["env"], &c["ports"]),
        (
            &json!("demo:1"),
            &json!([{"name": "A", "value": "1"}]),
            &json!([{"containerPort": 80, "protocol": "TCP"}])
        )
    );
    assert_eq!(
        sent(
            &k,
            &[
                "expose",
                "deployment",
                "web",
                "-n",
                "pb",
                "--name=web-public",
                "--port=80",
                "--target-port=8080"
            ]
        ),
        JSON
    );
    let public = stored(&k, "service", "web-public", "pb");
    assert_eq!(public["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(
        public["spec"]["ports"],
        json!([{"port": 80, "protocol": "TCP", "targetPort": 8080}])
    );
}

/// A message under construction, with upstream's field numbers.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn str(mut self, tag: u32, s: &str) -> Self {
        encoding::string::encode(tag, &s.to_owned(), &mut self.0);
        self
    }

    fn int(mut self, tag: u32, v: i64) -> Self {
        encoding::int64::encode(tag, &v, &mut self.0);
        self
    }

    fn msg(mut self, tag: u32, m: Pb) -> Self {
        encoding::bytes::encode(tag, &m.0, &mut self.0);
        self
    }
}

/// `k8s\0`, then runtime.Unknown {typeMeta, raw}.
fn body(api_version: &str, kind: &str, raw: Pb) -> Vec<u8> {
    let type_meta = Pb::default().str(1, api_version).str(2, kind);
    let unknown = Pb::default().msg(1, type_meta).msg(2, raw);
    [b"k8s\0".as_slice(), &unknown.0].concat()
}

fn named(name: &str) -> Pb {
    Pb::default().str(1, name)
}

async fn send(
    client: &kube::Client,
    req: http::request::Builder,
    body: Vec<u8>,
) -> Result<String, kube::Error> {
    let req = req.header("content-type", PROTOBUF).body(body).unwrap();
    client.request_text(req).await
}

fn status(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("not an API error: {other:?}"),
    }
}

#[tokio::test]
async fn go_client_bodies_and_refusals() {
    let server = Server::start();
    let client = server.client().await;
    let pods = "/api/v1/namespaces/default/pods";

    // Pod {metadata {name}, spec {containers [{name, image}]}}.
    let container = Pb::default().str(1, "c").str(2, "demo:1");
    let pod = Pb::default()
        .msg(1, named("p"))
        .msg(2, Pb::default().msg(2, container));
    send(&client, http::Request::post(pods), body("v1", "Pod", pod))
        .await
        .unwrap();

    // Binding {metadata {name}, target {kind, name}}.
    let binding = Pb::default()
        .msg(1, named("p"))
        .msg(2, Pb::default().str(1, "Node").str(3, "node-1"));
    let uri = format!("{pods}/p/binding");
    send(
        &client,
        http::Request::post(&uri),
        body("v1", "Binding", binding),
    )
    .await
    .unwrap();
    let pod: Value = serde_json::from_str(
        &client
            .request_text(
                http::Request::get(format!("{pods}/p"))
                    .body(vec![])
                    .unwrap(),
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(pod["spec"]["nodeName"], "node-1");

    // DeleteOptions {preconditions {uid}}: a uid that does not match.
    let options = Pb::default().msg(2, Pb::default().str(1, "not-the-uid"));
    let err = send(
        &client,
        http::Request::delete(format!("{pods}/p")),
        body("v1", "DeleteOptions", options),
    )
    .await
    .unwrap_err();
    assert_eq!(status(err).0, 409, "the precondition was read");
    // DeleteOptions {gracePeriodSeconds: 0}: gone at once.
    let options = Pb::default().int(1, 0);
    send(
        &client,
        http::Request::delete(format!("{pods}/p")),
        body("v1", "DeleteOptions", options),
    )
    .await
    .unwrap();
    let err = client
        .request_text(
            http::Request::get(format!("{pods}/p"))
                .body(vec![])
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(status(err).0, 404);

    // ConfigMap with a field (9) the server does not decode: refused, not dropped.
    let cms = "/api/v1/namespaces/default/configmaps";
    let cm = Pb::default().msg(1, named("odd")).str(9, "?");
    let err = send(
        &client,
        http::Request::post(cms),
        body("v1", "ConfigMap", cm),
    )
    .await
    .unwrap_err();
    let (code, message) = status(err);
    assert_eq!(code, 415, "{message}");
    assert!(
        message.contains("protobuf field 9 of core.v1.ConfigMap is not supported")
            && message.contains("send it as application/json or application/yaml instead"),
        "{message}"
    );
    // A kind the server does not decode.
    let err = send(
        &client,
        http::Request::post(cms),
        body("batch/v1", "Job", named("j")),
    )
    .await
    .unwrap_err();
    assert_eq!(status(err).0, 415);
    // Not protobuf at all.
    let err = send(&client, http::Request::post(cms), b"{}".to_vec())
        .await
        .unwrap_err();
    let (code, message) = status(err);
    assert_eq!(code, 400, "{message}");
    let list = client
        .request_text(http::Request::get(cms).body(vec![]).unwrap())
        .await
        .unwrap();
    assert!(!list.contains("odd"), "nothing stored: {list}");
}
