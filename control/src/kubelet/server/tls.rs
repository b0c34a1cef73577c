//! The kubelet API's TLS: a certificate of its own for the node's address
//! (made at each start, as upstream's self-signed default), and client
//! certificates required and checked against the cluster's CA, which the
//! kubeconfig names.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub fn server_config(
    node_ip: IpAddr,
    node: &str,
    client: &kube::Config,
) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for der in client.root_cert.iter().flatten() {
        roots.add(CertificateDer::from(der.clone()))?;
    }
    if roots.is_empty() {
        anyhow::bail!(
            "the kubeconfig has no certificate-authority: the kubelet API checks its clients against the cluster's CA"
        );
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .context("the cluster CA cannot verify clients")?;
    let key = rcgen::KeyPair::generate()?;
    let params = rcgen::CertificateParams::new(vec![node_ip.to_string(), node.to_owned()])?;
    let cert = params.self_signed(&key)?;
    let chain = vec![cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    // HTTP/1.1 only: exec and port-forward upgrade the connection.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
