//! `POST serviceaccounts/<name>/token`: a TokenRequest answered with a
//! signed, expiring token for the account, optionally bound to a pod.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::decode;
use super::errors::{invalid, json_response, not_found, store_error};
use super::object::{from_now, served};
use super::path::Target;
use crate::apiserver::routes::AppState;
use crate::apiserver::satokens::{Bound, Claims, ISSUER, KubernetesClaims};
use crate::apiserver::validation::FieldError;

pub async fn create(
    state: &AppState,
    t: &Target,
    key: &str,
    headers: &HeaderMap,
    _q: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let name = t.name.clone().unwrap_or_default();
    let ns = t.namespace.clone().unwrap_or_default();
    let account = match state.store.get(key).await {
        Ok(Some(kv)) => served(&kv),
        Ok(None) => return not_found(t, &name),
        Err(e) => return store_error(t, &name, e),
    };
    let request = match decode::body(headers, body, "TokenRequest") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let spec = &request["spec"];
    let seconds = spec["expirationSeconds"].as_i64().unwrap_or(3600);
    if seconds < 600 {
        let e = FieldError::invalid(
            "spec.expirationSeconds",
            json!(seconds),
            "may not specify a duration less than 10 minutes",
        );
        return invalid(t, &name, &[e]);
    }
    let audiences: Vec<String> = spec["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| vec![ISSUER.to_owned()]);
    let bound = &spec["boundObjectRef"];
    let pod = match bound["kind"].as_str() {
        None => None,
        Some("Pod") => {
            let pod_name = bound["name"].as_str().unwrap_or_default();
            let pod = match state
                .store
                .get(&format!("/registry/core/pods/{ns}/{pod_name}"))
                .await
            {
                Ok(Some(kv)) => served(&kv),
                _ => {
                    let e = FieldError::invalid(
                        "spec.boundObjectRef.name",
                        json!(pod_name),
                        "no such pod",
                    );
                    return invalid(t, &name, &[e]);
                }
            };
            let uid = pod["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if bound["uid"]
                .as_str()
                .is_some_and(|u| !u.is_empty() && u != uid)
            {
                let e = FieldError::invalid(
                    "spec.boundObjectRef.uid",
                    bound["uid"].clone(),
                    "the pod has another uid",
                );
                return invalid(t, &name, &[e]);
            }
            Some(Bound {
                name: pod_name.to_owned(),
                uid,
            })
        }
        Some(other) => {
            let e = FieldError::not_supported("spec.boundObjectRef.kind", json!(other), &["Pod"]);
            return invalid(t, &name, &[e]);
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let claims = Claims {
        iss: ISSUER.into(),
        sub: format!("system:serviceaccount:{ns}:{name}"),
        aud: audiences.clone(),
        exp: now + seconds,
        iat: now,
        nbf: now,
        kubernetes: KubernetesClaims {
            namespace: ns.clone(),
            serviceaccount: Bound {
                name: name.clone(),
                uid: account["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            },
            pod,
        },
    };
    let token = match state.sa_tokens.issue(&claims) {
        Ok(t) => t,
        Err(e) => return store_error(t, &name, crate::store::Error::Internal(e.to_string())),
    };
    let mut answer: Value = request.clone();
    answer["apiVersion"] = json!("authentication.k8s.io/v1");
    answer["kind"] = json!("TokenRequest");
    answer["metadata"] = json!({"name": name, "namespace": ns, "creationTimestamp": null});
    answer["spec"]["audiences"] = json!(audiences);
    answer["spec"]["expirationSeconds"] = json!(seconds);
    answer["status"] = json!({"token": token, "expirationTimestamp": from_now(seconds)});
    json_response(StatusCode::CREATED, &answer)
}
