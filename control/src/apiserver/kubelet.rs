//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`: forwarded
//! to the kubelet of the pod's node (its InternalIP and the port the Node
//! reports), over TLS with this server's client certificate. Upgrades pass
//! through, so kubectl's SPDY or WebSocket stream reaches the runtime.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::response::Response;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use serde_json::Value;

use super::registry;

/// A node that does not accept a connection by then is reported as down,
/// rather than leaving `kubectl logs` waiting on the kernel's timeout.
const KUBELET_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
use super::routes::AppState;
use super::status::status;

/// TLS to kubelets: this server's admin client certificate; kubelets'
/// self-made serving certificates are not checked (upstream's default
/// without --kubelet-certificate-authority).
pub fn client_config(pki: &super::pki::Pki) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.admin_cert.as_bytes()).collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(pki.admin_key.as_bytes())?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_client_auth_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn get(
    state: &AppState,
    plural: &str,
    ns: Option<&str>,
    name: &str,
) -> Result<Option<Value>, Response> {
    let info = registry::find("", "v1", plural).expect("core resources are served");
    match state.store.get(&info.key(ns, Some(name))).await {
        Ok(Some(kv)) => Ok(serde_json::from_slice(&kv.value).ok()),
        Ok(None) => Ok(None),
        Err(e) => Err(status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            &format!("store: {e}"),
        )),
    }
}

/// Where the pod's kubelet listens, and the container meant (the query's
/// `container`, or the pod's only one).
async fn locate(
    state: &AppState,
    ns: &str,
    name: &str,
    query: &[(String, String)],
    needs_container: bool,
) -> Result<(String, u16, String), Response> {
    let Some(pod) = get(state, "pods", Some(ns), name).await? else {
        return Err(status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("pods \"{name}\" not found"),
        ));
    };
    let containers: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            pod["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .filter_map(|c| c["name"].as_str())
        .collect();
    let asked = query
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone());
    let container = match asked {
        Some(c) if containers.contains(&c.as_str()) => c,
        Some(c) => {
            return Err(status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("container {c} is not valid for pod {name}"),
            ));
        }
        None if !needs_container => String::new(),
        None if containers.len() == 1 => containers[0].to_owned(),
        None => {
            let regular: Vec<&str> = pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str())
                .collect();
            return Err(status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    regular.join(" ")
                ),
            ));
        }
    };
    let Some(node_name) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) else {
        return Err(status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("pod {name} does not have a host assigned"),
        ));
    };
    let Some(node) = get(state, "nodes", None, node_name).await? else {
        return Err(status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("nodes \"{node_name}\" not found"),
        ));
    };
    let address = node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .map(str::to_owned);
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .filter(|p| *p > 0)
        .unwrap_or(10250) as u16;
    let Some(address) = address else {
        return Err(status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            &format!("node {node_name} reports no InternalIP: is its kubelet running?"),
        ));
    };
    Ok((address, port, container))
}

async fn to_kubelet(
    state: &AppState,
    address: &str,
    port: u16,
    path: String,
    req: Request<Body>,
) -> Response {
    let unreachable = |e: String| {
        status(
            StatusCode::BAD_GATEWAY,
            "ServiceUnavailable",
            &format!("the kubelet at {address}:{port} cannot be reached: {e}"),
        )
    };
    let connect = tokio::net::TcpStream::connect((address, port));
    let tcp = match tokio::time::timeout(KUBELET_CONNECT_TIMEOUT, connect).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return unreachable(e.to_string()),
        Err(_) => {
            return unreachable(format!(
                "no answer in {}s",
                KUBELET_CONNECT_TIMEOUT.as_secs()
            ));
        }
    };
    let Ok(server_name) = ServerName::try_from(address.to_owned()) else {
        return unreachable("not an address".into());
    };
    let connector = tokio_rustls::TlsConnector::from(state.kubelet_tls.clone());
    let tls = match connector.connect(server_name, tcp).await {
        Ok(t) => t,
        Err(e) => return unreachable(e.to_string()),
    };
    let answer = crate::streaming::forward(tls, req, &path, &format!("{address}:{port}")).await;
    as_status(answer).await
}

/// The kubelet says what went wrong in plain text; clients expect a `Status`.
async fn as_status(answer: Response) -> Response {
    let code = answer.status();
    if code.is_success() || code == StatusCode::SWITCHING_PROTOCOLS {
        return answer;
    }
    let text = axum::body::to_bytes(answer.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let reason = match code {
        StatusCode::BAD_REQUEST => "BadRequest",
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::FORBIDDEN => "Forbidden",
        _ => "InternalError",
    };
    status(code, reason, &text)
}

fn query(req: &Request<Body>) -> (String, Vec<(String, String)>) {
    let raw = req.uri().query().unwrap_or_default().to_owned();
    let pairs = form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    (raw, pairs)
}

pub async fn log(
    State(state): State<Arc<AppState>>,
    Path((ns, name)): Path<(String, String)>,
    req: Request<Body>,
) -> Response {
    stream(state, "containerLogs", ns, name, req).await
}

/// logs, exec and attach of one container: `kind` is the kubelet's path segment.
pub async fn stream(
    state: Arc<AppState>,
    kind: &str,
    ns: String,
    name: String,
    req: Request<Body>,
) -> Response {
    let (raw, pairs) = query(&req);
    let (address, port, container) = match locate(&state, &ns, &name, &pairs, true).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let path = format!("/{kind}/{ns}/{name}/{container}?{raw}");
    to_kubelet(&state, &address, port, path, req).await
}

pub async fn exec(
    State(state): State<Arc<AppState>>,
    Path((ns, name)): Path<(String, String)>,
    req: Request<Body>,
) -> Response {
    stream(state, "exec", ns, name, req).await
}

pub async fn attach(
    State(state): State<Arc<AppState>>,
    Path((ns, name)): Path<(String, String)>,
    req: Request<Body>,
) -> Response {
    stream(state, "attach", ns, name, req).await
}

pub async fn port_forward(
    State(state): State<Arc<AppState>>,
    Path((ns, name)): Path<(String, String)>,
    req: Request<Body>,
) -> Response {
    let (raw, pairs) = query(&req);
    let (address, port, _) = match locate(&state, &ns, &name, &pairs, false).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let path = format!("/portForward/{ns}/{name}?{raw}");
    to_kubelet(&state, &address, port, path, req).await
}
