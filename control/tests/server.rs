//! The real skiff-control binary, reached by the real kubectl with the
//! kubeconfig it writes.

use std::process::Command;
use std::time::Duration;

mod support;

use support::{Server, free_port, ok};

#[test]
fn kubectl_authenticates_and_discovers_the_api() {
    let server = Server::start();
    let kc = server.kubeconfig();

    let version: serde_json::Value =
        serde_json::from_str(&ok(&server.kubectl(&kc, &["version", "-o", "json"]))).unwrap();
    assert_eq!(version["serverVersion"]["major"], "1", "{version}");

    let resources = ok(&server.kubectl(&kc, &["api-resources", "--no-headers"]));
    for (name, group) in [
        ("services", "v1"),
        ("endpointslices", "discovery.k8s.io/v1"),
        ("deployments", "apps/v1"),
        ("leases", "coordination.k8s.io/v1"),
    ] {
        assert!(
            resources
                .lines()
                .any(|l| l.starts_with(name) && l.contains(group)),
            "{name} ({group}) in:\n{resources}"
        );
    }
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("services") && l.contains(" svc ")),
        "short names:\n{resources}"
    );
    assert_eq!(ok(&server.kubectl(&kc, &["get", "--raw", "/readyz"])), "ok");

    // A kubeconfig with a bearer token: a known one works, an unknown one
    // gets 401 and only the public paths answer.
    let admin: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    let ca = admin["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_token = |token: &str| {
        let path = server.dir.path().join(format!("{token}.kubeconfig"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{}', certificate-authority-data: {ca}}}}}]\nusers: [{{name: u, user: {{token: {token}}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\n",
                server.port
            ),
        )
        .unwrap();
        path
    };
    assert!(
        ok(&server.kubectl(&with_token("s3cret"), &["get", "--raw", "/api"]))
            .contains("APIVersions")
    );
    let stranger = with_token("wrong");
    let denied = server.kubectl(&stranger, &["get", "--raw", "/api"]);
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Unauthorized"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    assert_eq!(
        ok(&server.kubectl(&stranger, &["get", "--raw", "/healthz"])),
        "ok"
    );
    assert!(ok(&server.kubectl(&stranger, &["get", "--raw", "/version"])).contains("gitVersion"));
}

#[test]
fn a_busy_port_a_bad_data_directory_or_no_etcd_is_a_clear_error() {
    let server = Server::start();
    let out = Command::new(env!("CARGO_BIN_EXE_skiff-control"))
        .arg("--data-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .args(["--bind", &format!("127.0.0.1:{}", server.port)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{}", server.port)),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_skiff-control"))
        .arg("--data-dir")
        .arg(server.dir.path())
        .args(["--bind", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another process"),
        "the second server names the lock: {err}"
    );

    // A data directory that cannot be made, and an etcd that is not there.
    let file = server.dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_skiff-control"))
        .arg("--data-dir")
        .arg(file.join("sub"))
        .args(["--bind", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot create the data directory") && err.contains("--data-dir"),
        "{err}"
    );
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_skiff-control"))
        .arg("--data-dir")
        .arg(server.dir.path().join("elsewhere"))
        .args(["--bind", &format!("127.0.0.1:{}", free_port())])
        .args(["--etcd-endpoints", &dead])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach etcd at {dead}")) && err.contains("--etcd-endpoints"),
        "{err}"
    );
}

mod kube_client {
    use super::*;
    use futures::StreamExt as _;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, DeleteParams, ListParams, PostParams};
    use kube::runtime::watcher;

    async fn client(server: &Server) -> kube::Client {
        server.client().await
    }

    /// The ConfigMaps these tests make, not the namespace's own CA one.
    const OURS: &str = "suite=kube-client";

    fn cm(name: &str, value: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"suite": "kube-client"}},
            "data": {"key": value},
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn create_get_list_replace_delete_and_conflicts() {
        let server = Server::start();
        let api: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");

        let created = api
            .create(&PostParams::default(), &cm("settings", "a"))
            .await
            .unwrap();
        let meta = &created.metadata;
        assert_eq!(meta.namespace.as_deref(), Some("default"));
        assert!(
            meta.uid.is_some()
                && meta.creation_timestamp.is_some()
                && meta.resource_version.is_some()
        );
        let again = api
            .create(&PostParams::default(), &cm("settings", "b"))
            .await
            .unwrap_err();
        assert!(
            matches!(&again, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"),
            "{again:?}"
        );

        let mut got = api.get("settings").await.unwrap();
        assert_eq!(got.data.as_ref().unwrap()["key"], "a");
        got.data = Some([("key".to_string(), "c".to_string())].into());
        let replaced = api
            .replace("settings", &PostParams::default(), &got)
            .await
            .unwrap();
        assert_eq!(replaced.data.as_ref().unwrap()["key"], "c");
        assert_eq!(
            replaced.metadata.uid, created.metadata.uid,
            "the uid survives a replace"
        );
        // `got` still carries the old resourceVersion: a stale write is refused.
        let stale = api
            .replace("settings", &PostParams::default(), &got)
            .await
            .unwrap_err();
        assert!(
            matches!(&stale, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
            "{stale:?}"
        );

        for i in 0..5 {
            api.create(&PostParams::default(), &cm(&format!("page-{i}"), "x"))
                .await
                .unwrap();
        }
        let page = api
            .list(&ListParams::default().labels(OURS).limit(2))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 2);
        let token = page.metadata.continue_.clone().expect("more pages");
        let rest = api
            .list(
                &ListParams::default()
                    .labels(OURS)
                    .limit(10)
                    .continue_token(&token),
            )
            .await
            .unwrap();
        assert_eq!(
            page.items.len() + rest.items.len(),
            6,
            "every object once over the pages"
        );
        assert!(rest.metadata.continue_.is_none());
        let other: Api<ConfigMap> = Api::namespaced(client(&server).await, "elsewhere");
        assert!(
            other
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty(),
            "namespaces are separate"
        );

        api.delete("settings", &DeleteParams::default())
            .await
            .unwrap();
        let gone = api.get("settings").await.unwrap_err();
        assert!(
            matches!(&gone, kube::Error::Api(s) if s.code == 404),
            "{gone:?}"
        );
    }

    /// Metadata clients (kube-rs `*_metadata`, client-go's metadata
    /// informers) get `PartialObjectMetadata`: no data, every metadata field.
    #[tokio::test]
    async fn metadata_reads_watches_and_patches() {
        let server = Server::start();
        let api: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");
        let mut labelled = cm("meta", "secret-ish");
        (labelled.metadata.labels.get_or_insert_default()).insert("app".into(), "x".into());
        api.create(&PostParams::default(), &labelled).await.unwrap();
        api.create(&PostParams::default(), &cm("other", "y"))
            .await
            .unwrap();
        // The raw answers: the kinds upstream gives, and no `data`.
        let raw = client(&server).await;
        let get = http::Request::get("/api/v1/namespaces/default/configmaps/meta")
            .header(
                "accept",
                "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
            )
            .body(Vec::new())
            .unwrap();
        let one: serde_json::Value = raw.request(get).await.unwrap();
        assert_eq!(one["kind"], "PartialObjectMetadata", "{one}");
        assert_eq!(one["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(one["metadata"]["labels"]["app"], "x");
        assert!(one.get("data").is_none(), "{one}");
        let list =
            http::Request::get("/api/v1/namespaces/default/configmaps?labelSelector=app%3Dx")
                .header(
                    "accept",
                    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
                )
                .body(Vec::new())
                .unwrap();
        let list: serde_json::Value = raw.request(list).await.unwrap();
        assert_eq!(list["kind"], "PartialObjectMetadataList", "{list}");
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
        assert!(list["items"][0].get("data").is_none(), "{list}");

        // kube-rs's typed metadata calls.
        let got = api.get_metadata("meta").await.unwrap();
        assert_eq!(got.metadata.name.as_deref(), Some("meta"));
        assert!(got.metadata.uid.is_some() && got.metadata.resource_version.is_some());
        let all = api
            .list_metadata(&ListParams::default().labels(OURS))
            .await
            .unwrap();
        assert_eq!(all.items.len(), 2);
        let patch = serde_json::json!({"metadata": {"annotations": {"seen": "yes"}}});
        let patched = api
            .patch_metadata("meta", &Default::default(), &kube::api::Patch::Merge(patch))
            .await
            .unwrap();
        assert_eq!(patched.metadata.annotations.unwrap()["seen"], "yes");
        assert_eq!(
            api.get("meta").await.unwrap().data.unwrap()["key"],
            "secret-ish",
            "a metadata patch keeps the data"
        );

        // A metadata watcher sees changes as metadata.
        let metadata: Api<kube::api::PartialObjectMeta<ConfigMap>> =
            Api::namespaced(client(&server).await, "default");
        let mut events =
            watcher::watcher(metadata, watcher::Config::default().labels(OURS)).boxed();
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < 2 {
            if let watcher::Event::InitApply(m) = events.next().await.unwrap().unwrap() {
                seen.insert(m.metadata.name.unwrap());
            }
        }
        api.delete("other", &DeleteParams::default()).await.unwrap();
        let deleted = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let watcher::Event::Delete(m) = events.next().await.unwrap().unwrap() {
                    return m;
                }
            }
        })
        .await
        .expect("the deletion is seen");
        assert_eq!(deleted.metadata.name.as_deref(), Some("other"));
        assert_eq!(
            deleted.types.unwrap().kind,
            "PartialObjectMetadata",
            "the watch sends metadata"
        );
    }

    #[tokio::test]
    async fn a_watcher_sees_every_change() {
        sees_every_change(watcher::Config::default()).await;
    }

    /// A streaming list: initial events end with a bookmark, without a list.
    #[tokio::test]
    async fn a_streaming_list_watcher_sees_every_change() {
        sees_every_change(watcher::Config::default().streaming_lists()).await;
    }

    async fn sees_every_change(config: watcher::Config) {
        let server = Server::start();
        let api: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");
        api.create(&PostParams::default(), &cm("before", "1"))
            .await
            .unwrap();

        let mut stream = watcher(api.clone(), config.labels(OURS)).boxed();
        let mut seen = Vec::new();
        let writer = {
            let api = api.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                api.create(&PostParams::default(), &cm("after", "2"))
                    .await
                    .unwrap();
                api.delete("before", &DeleteParams::default())
                    .await
                    .unwrap();
            })
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while seen.len() < 4 {
            let event = tokio::time::timeout_at(deadline, stream.next())
                .await
                .expect("events in time")
                .unwrap()
                .unwrap();
            match event {
                watcher::Event::InitApply(o) | watcher::Event::Apply(o) => {
                    seen.push(format!("apply {}", o.metadata.name.unwrap()))
                }
                watcher::Event::Delete(o) => {
                    seen.push(format!("delete {}", o.metadata.name.unwrap()))
                }
                watcher::Event::InitDone => seen.push("init done".into()),
                watcher::Event::Init => {}
            }
        }
        writer.await.unwrap();
        assert_eq!(
            seen,
            ["apply before", "init done", "apply after", "delete before"]
        );
    }

    #[test]
    fn invalid_objects_are_refused_with_the_field_named_and_nothing_stored() {
        let server = Server::start();
        let kc = server.kubeconfig();
        let post = |name: &str, body: &str| {
            let file = server.dir.path().join(name);
            std::fs::write(&file, body).unwrap();
            server.kubectl(
                &kc,
                &[
                    "create",
                    "--raw",
                    "/api/v1/namespaces/default/configmaps",
                    "-f",
                    file.to_str().unwrap(),
                ],
            )
        };
        let cases = [
            (
                "type.json",
                r#"{"metadata": {"name": "ok-name"}, "data": 5}"#,
                "invalid type",
            ),
            (
                "name.json",
                r#"{"metadata": {"name": "Bad_Name"}}"#,
                "metadata.name: Invalid value",
            ),
            (
                "noname.json",
                r#"{"metadata": {}}"#,
                "metadata.name: Required value",
            ),
            (
                "kind.json",
                r#"{"kind": "Secret", "metadata": {"name": "k"}}"#,
                "kind Secret does not match",
            ),
            ("broken.json", r#"{"metadata": "#, "not valid JSON"),
        ];
        for (file, body, expect) in cases {
            let out = post(file, body);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && err.contains(expect),
                "{file}: expected {expect:?} in {err}"
            );
        }
        let list = ok(&server.kubectl(
            &kc,
            &["get", "--raw", "/api/v1/namespaces/default/configmaps"],
        ));
        let list: serde_json::Value = serde_json::from_str(&list).unwrap();
        let stored: Vec<&serde_json::Value> = (list["items"].as_array().unwrap().iter())
            .filter(|i| i["metadata"]["name"] != "kube-root-ca.crt")
            .collect();
        assert!(stored.is_empty(), "nothing was stored: {stored:?}");
    }
}
