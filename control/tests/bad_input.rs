//! A corpus of bad manifests, sent with kubectl 1.32 as users do and as raw
//! requests where kubectl would stop them itself: each is refused with the
//! code upstream gives and a message naming the field, and none of them
//! changes anything.

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::{Kubectl, Server, kubectl_current};

/// There before the corpus: changing it must be refused too.
const WEB_SERVICE: &str = "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
";

const WEB_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: demo:1}]
";

/// A manifest kubectl sends with `kubectl <verb> -f`; the HTTP status of
/// its write and what the message must say.
struct Sent {
    what: &'static str,
    verb: &'static str,
    manifest: String,
    code: u16,
    says: String,
}

fn sent(what: &'static str, verb: &'static str, manifest: String, code: u16, says: &str) -> Sent {
    Sent {
        what,
        verb,
        manifest,
        code,
        says: says.to_owned(),
    }
}

/// A Deployment named `broken`: `selector` (indented) and `extra` (spec
/// fields, indented) go in as given.
fn deployment(selector: &str, labels: &str, container: &str, extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: broken}}\nspec:\n{selector}{extra}  template:\n    metadata: {{labels: {labels}}}\n    spec:\n      containers: [{container}]\n"
    )
}

const SELECTOR: &str = "  selector: {matchLabels: {app: broken}}\n";
const LABELS: &str = "{app: broken}";
const CONTAINER: &str = "{name: c, image: demo:1}";

fn service(spec: &str) -> String {
    format!("apiVersion: v1\nkind: Service\nmetadata: {{name: svc}}\nspec:\n{spec}")
}

fn kubectl_corpus(other_ip: &str) -> Vec<Sent> {
    vec![
        sent(
            "wrong type",
            "apply",
            deployment(SELECTOR, LABELS, CONTAINER, "  replicas: two\n"),
            400,
            "spec.replicas: invalid type: string \"two\"",
        ),
        sent(
            "Service without ports",
            "apply",
            service("  selector: {app: x}\n"),
            422,
            "The Service \"svc\" is invalid: spec.ports: Required value",
        ),
        sent(
            "Deployment without selector",
            "apply",
            deployment("", LABELS, CONTAINER, ""),
            422,
            "spec.selector: Required value",
        ),
        sent(
            "container without image",
            "create",
            deployment(SELECTOR, LABELS, "{name: c}", ""),
            422,
            "spec.template.spec.containers[0].image: Required value",
        ),
        sent(
            "bad name",
            "create",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n".into(),
            422,
            "metadata.name: Invalid value: \"Bad_Name\"",
        ),
        sent(
            "duplicate Service ports",
            "apply",
            service("  ports: [{name: a, port: 80}, {name: b, port: 80}]\n"),
            422,
            "spec.ports[1]: Duplicate value",
        ),
        sent(
            "unknown field (kubectl asks for strict validation)",
            "apply",
            service("  foo: 1\n  ports: [{port: 80}]\n"),
            400,
            "unknown field \"spec.foo\"",
        ),
        sent(
            "selector not matching the template",
            "apply",
            deployment(SELECTOR, "{app: other}", CONTAINER, ""),
            422,
            "spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`",
        ),
        sent(
            "clusterIP outside the service range",
            "apply",
            service("  clusterIP: 192.168.1.1\n  ports: [{port: 80}]\n"),
            422,
            "spec.clusterIPs: Invalid value: [\"192.168.1.1\"]",
        ),
        sent(
            "changing a Service's clusterIP",
            "apply",
            WEB_SERVICE.replace("spec:\n", &format!("spec:\n  clusterIP: {other_ip}\n")),
            422,
            &format!("spec.clusterIP: Invalid value: \"{other_ip}\": field is immutable"),
        ),
    ]
}

/// Runs kubectl verbosely, which must fail; the HTTP status of its write
/// request and its stderr.
fn refused(k: &Kubectl, verb: &str, file: &str) -> (Option<u16>, String) {
    let out = k.run(&[verb, "-f", file, "-v=6"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "kubectl {verb} accepted it:\n{stderr}"
    );
    // `... round_trippers.go:560] POST https://... 422 Unprocessable Entity in 2 milliseconds`
    let code = stderr
        .lines()
        .filter(|l| l.contains("round_trippers") && !l.contains("] GET "))
        .find_map(|l| {
            let mut words = l
                .split_whitespace()
                .skip_while(|w| !w.starts_with("https://"));
            words.nth(1)?.parse().ok()
        });
    (code, stderr)
}

/// A request kubectl would not send as it is.
struct Raw {
    what: &'static str,
    content_type: &'static str,
    path: &'static str,
    body: Vec<u8>,
    code: u16,
    says: &'static str,
}

fn raw_corpus() -> Vec<Raw> {
    let services = "/api/v1/namespaces/default/services";
    let strict = json!({
        "metadata": {"name": "strict"},
        "spec": {
            "selector": {"matchLabels": {"app": "strict"}},
            "template": {
                "metadata": {"labels": {"app": "strict"}},
                "spec": {"containers": [{"name": "c", "image": "x", "imagePullPolicyy": "Always"}]},
            },
        },
    });
    let big = json!({
        "metadata": {"name": "big"},
        "data": {"blob": "x".repeat(3 * 1024 * 1024)},
    });
    vec![
        Raw {
            what: "a body over 3 MiB",
            content_type: "application/json",
            path: "/api/v1/namespaces/default/configmaps",
            body: big.to_string().into_bytes(),
            code: 413,
            says: "Request entity too large: limit is 3145728",
        },
        Raw {
            what: "broken JSON",
            content_type: "application/json",
            path: services,
            body: br#"{"metadata": {"name": "#.to_vec(),
            code: 400,
            says: "the body is not valid JSON",
        },
        Raw {
            what: "broken YAML",
            content_type: "application/yaml",
            path: services,
            body: b"metadata:\n  name: [svc\nspec: {".to_vec(),
            code: 400,
            says: "the body is not valid YAML",
        },
        Raw {
            what: "wrong type inside a list",
            content_type: "application/json",
            path: services,
            body: br#"{"metadata": {"name": "svc"}, "spec": {"ports": [{"port": "eighty"}]}}"#
                .to_vec(),
            code: 400,
            says: "spec.ports[0].port: invalid type: string \"eighty\"",
        },
        Raw {
            what: "unknown field deep down, fieldValidation=Strict",
            content_type: "application/json",
            path: "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict",
            body: strict.to_string().into_bytes(),
            code: 400,
            says: "unknown field \"spec.template.spec.containers[0].imagePullPolicyy\"",
        },
    ]
}

/// Path and name -> resourceVersion of every object of the kinds the
/// corpus touches.
async fn snapshot(client: &kube::Client) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for path in [
        "/api/v1/namespaces/default/configmaps",
        "/api/v1/namespaces/default/services",
        "/api/v1/namespaces/default/pods",
        "/apis/apps/v1/namespaces/default/deployments",
    ] {
        let list: Value = client
            .request(http::Request::get(path).body(vec![]).unwrap())
            .await
            .unwrap();
        for item in list["items"].as_array().unwrap() {
            let m = &item["metadata"];
            all.insert(
                format!("{path}/{}", m["name"].as_str().unwrap()),
                m["resourceVersion"].as_str().unwrap().to_owned(),
            );
        }
    }
    all
}

#[test]
fn bad_manifests_are_refused_with_the_field_named_and_change_nothing() {
    // Only the requests may change the store: no loops acting meanwhile on
    // the Deployment this test creates.
    let server = Server::start_with(&["--no-loops"]);
    let k = server.admin(kubectl_current());
    k.ok(&["apply", "-f", &k.file("service.yaml", WEB_SERVICE)]);
    k.ok(&["apply", "-f", &k.file("deployment.yaml", WEB_DEPLOYMENT)]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(server.client());
    let before = runtime.block_on(snapshot(&client));
    // The kubernetes Service, and ours.
    assert_eq!(before.len(), 3, "{before:?}");

    let ip = k.json(&["get", "service", "web"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_ip = if ip == "10.96.200.200" {
        "10.96.200.201"
    } else {
        "10.96.200.200"
    };
    for (i, case) in kubectl_corpus(other_ip).into_iter().enumerate() {
        let file = k.file(&format!("bad-{i}.yaml"), &case.manifest);
        let (code, stderr) = refused(&k, case.verb, &file);
        let what = case.what;
        assert_eq!(code, Some(case.code), "{what}: HTTP status in:\n{stderr}");
        assert!(
            stderr.contains(&case.says),
            "{what}: {:?} in:\n{stderr}",
            case.says
        );
    }

    for case in raw_corpus() {
        let what = case.what;
        let request = http::Request::post(case.path)
            .header("content-type", case.content_type)
            .body(case.body)
            .unwrap();
        let err = runtime
            .block_on(client.request_text(request))
            .expect_err(what);
        let kube::Error::Api(status) = err else {
            panic!("{what}: {err:?}");
        };
        // kube-rs makes up this reason when the body is not a Status.
        assert_ne!(status.reason, "Failed to parse error data", "{what}");
        assert_eq!(status.code, case.code, "{what}: {status:?}");
        assert!(
            status.message.contains(case.says),
            "{what}: {:?} in {status:?}",
            case.says
        );
    }

    let after = runtime.block_on(snapshot(&client));
    assert_eq!(before, after, "refused writes changed the store");
}
