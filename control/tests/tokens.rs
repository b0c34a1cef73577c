//! Service account tokens: issued by `serviceaccounts/<name>/token`, accepted
//! as bearer tokens while valid, refused once what they are bound to is gone.

mod support;

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use support::{Server, kubectl_current};

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// A client that authenticates with `token` only.
async fn as_token(server: &Server, token: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(server.kubeconfig()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    config.auth_info = kube::config::AuthInfo {
        token: Some(token.to_owned().into()),
        ..Default::default()
    };
    kube::Client::try_from(config).unwrap()
}

async fn allowed(server: &Server, token: &str) -> Result<(), u16> {
    let api: Api<ConfigMap> = Api::namespaced(as_token(server, token).await, "default");
    match api.list(&ListParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) => Err(s.code),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn tokens_work_until_what_they_are_bound_to_is_gone() {
    let server = Server::start();
    let client = server.client().await;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    accounts
        .create(
            &PostParams::default(),
            &from(json!({"metadata": {"name": "web"}})),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = pods
        .create(&PostParams::default(), &from(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "demo:1"}]}})))
        .await
        .unwrap();

    let plain = accounts
        .create_token_request("web", &PostParams::default(), &from(json!({"spec": {}})))
        .await
        .unwrap();
    let plain: TokenRequest = plain;
    let token = plain.status.unwrap().token.unwrap();
    assert_eq!(allowed(&server, &token).await, Ok(()));
    let tampered = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(allowed(&server, &tampered).await, Err(401));

    let uid = pod.metadata.uid.unwrap();
    let bound: TokenRequest = accounts
        .create_token_request(
            "web",
            &PostParams::default(),
            &from(json!({"spec": {"expirationSeconds": 600, "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": uid}}})),
        )
        .await
        .unwrap();
    let bound = bound.status.unwrap().token.unwrap();
    assert_eq!(allowed(&server, &bound).await, Ok(()));
    pods.delete("p", &DeleteParams::default()).await.unwrap();
    assert_eq!(allowed(&server, &bound).await, Err(401), "its pod is gone");
    accounts
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        allowed(&server, &token).await,
        Err(401),
        "its account is gone"
    );

    let short = accounts
        .create_token_request(
            "default",
            &PostParams::default(),
            &from(json!({"spec": {"expirationSeconds": 60}})),
        )
        .await;
    assert!(
        matches!(&short, Err(kube::Error::Api(s)) if s.code == 422 || s.code == 404),
        "{short:?}"
    );

    // kubectl asks for one the same way.
    let k = server.admin(kubectl_current());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while accounts.get_opt("default").await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "no default account");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let token = k.ok(&["create", "token", "default"]);
    assert_eq!(allowed(&server, token.trim()).await, Ok(()));
}
