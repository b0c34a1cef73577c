//! One set of handlers for every served resource: get, list, watch, create,
//! replace, patch, delete and deletecollection, and the status, scale and
//! binding subresources, over the store.

// The error side of these results is the HTTP answer itself, built once per
// failed request and returned straight to the client; boxing it buys nothing.
#![allow(clippy::result_large_err)]

mod decode;
mod delete;
mod errors;
mod object;
mod partial;
mod path;
mod read;
mod token;
mod watch;
mod write;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, Method};
use axum::response::Response;
use bytes::Bytes;

use crate::apiserver::routes::AppState;
pub use object::{now, prepare_create, served};
pub use path::{Target, parse};

/// A boolean query parameter, read as upstream's Go does (`strconv.ParseBool`):
/// the Python client sends `watch=True`.
fn flag(q: &HashMap<String, String>, name: &str) -> bool {
    matches!(
        q.get(name).map(String::as_str),
        Some("1" | "t" | "T" | "true" | "True" | "TRUE")
    )
}

pub async fn handle(
    state: Arc<AppState>,
    method: Method,
    headers: HeaderMap,
    t: Target,
    query: HashMap<String, String>,
    body: Bytes,
) -> Response {
    // Reads give metadata alone where they are served; writes are cut down
    // on the way out.
    let cut = method != Method::GET && partial::wanted(&headers);
    let response = dispatch(state, method, headers, t, query, body).await;
    if cut {
        return partial::response(response).await;
    }
    response
}

async fn dispatch(
    state: Arc<AppState>,
    method: Method,
    headers: HeaderMap,
    t: Target,
    query: HashMap<String, String>,
    body: Bytes,
) -> Response {
    let key = t.resource.key(t.namespace.as_deref(), t.name.as_deref());
    let q = &query;
    let h = &headers;
    let watching = flag(q, "watch");
    match (method, t.name.is_some(), t.subresource.as_deref()) {
        (Method::GET, true, None | Some("status" | "scale")) => {
            if t.subresource.is_some() {
                let (state, t) = (&state, &t);
                return match state.store.get(&key).await {
                    Ok(Some(kv)) => errors::json_response(
                        axum::http::StatusCode::OK,
                        &write::view(t, &served(&kv)),
                    ),
                    Ok(None) => errors::not_found(t, t.name.as_deref().unwrap_or_default()),
                    Err(e) => errors::store_error(t, t.name.as_deref().unwrap_or_default(), e),
                };
            }
            read::get(&state, &t, &key, h, q).await
        }
        (Method::GET, false, None) if watching => watch::watch(state.clone(), t, key, h, q).await,
        (Method::GET, false, None) => read::list(&state, &t, &key, h, q).await,
        (Method::POST, false, None) => write::create(&state, &t, h, q, &body).await,
        (Method::POST, true, Some("token")) => token::create(&state, &t, &key, h, q, &body).await,
        (Method::POST, true, Some("binding")) => write::bind(&state, &t, &key, h, q, &body).await,
        (Method::PUT, true, None | Some("status" | "scale" | "finalize")) => {
            write::replace(&state, &t, &key, h, q, &body).await
        }
        (Method::PATCH, true, None | Some("status" | "scale")) => {
            write::patch(&state, &t, &key, h, q, &body).await
        }
        (Method::DELETE, true, None) => delete::delete(&state, &t, &key, h, q, &body).await,
        (Method::DELETE, false, None) => {
            delete::delete_collection(&state, &t, &key, h, q, &body).await
        }
        (m, _, _) => errors::method_not_allowed(m.as_ref()),
    }
}
