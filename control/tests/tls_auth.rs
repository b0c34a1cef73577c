//! The cluster's certificates over a real TLS handshake on loopback.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use base64::Engine as _;
use control::apiserver::auth::Identity;
use control::apiserver::pki::Pki;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn client_config(trust: &Pki, client: Option<(&str, &str)>) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(trust.ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

/// One handshake: what the server saw of the client, or the server's error.
async fn handshake(server: &Pki, client: rustls::ClientConfig) -> Result<Option<Identity>, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server.server_config().unwrap()));
    let server_side = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let who = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(Identity::from_certificate);
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
        Ok::<_, String>(who)
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    if let Ok(mut tls) = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
    {
        let _ = tls.write_all(b"ping").await;
        let mut buf = [0u8; 4];
        let _ = tls.read_exact(&mut buf).await;
    }
    server_side.await.unwrap()
}

#[tokio::test]
async fn admin_certificate_anonymous_and_foreign_clients() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::load_or_create(dir.path(), &["10.96.0.1".into()]).unwrap();

    let admin = handshake(
        &pki,
        client_config(&pki, Some((&pki.admin_cert, &pki.admin_key))),
    )
    .await
    .unwrap();
    let admin = admin.expect("the admin certificate is seen");
    assert_eq!(admin.user, "admin");
    assert_eq!(admin.groups, ["system:masters", "system:authenticated"]);

    let anonymous = handshake(&pki, client_config(&pki, None)).await.unwrap();
    assert_eq!(
        anonymous, None,
        "no certificate: the handshake succeeds, nobody is authenticated"
    );

    let other_dir = tempfile::tempdir().unwrap();
    let other = Pki::load_or_create(other_dir.path(), &[]).unwrap();
    let foreign = handshake(
        &pki,
        client_config(&pki, Some((&other.admin_cert, &other.admin_key))),
    )
    .await;
    assert!(
        foreign.is_err(),
        "a certificate from another CA is refused: {foreign:?}"
    );
}

#[test]
fn certificates_are_made_once_and_kept_private() {
    let dir = tempfile::tempdir().unwrap();
    let first = Pki::load_or_create(dir.path(), &[]).unwrap();
    let again = Pki::load_or_create(dir.path(), &[]).unwrap();
    assert_eq!(first.ca, again.ca, "a second start reuses the CA");
    assert_eq!(first.admin_cert, again.admin_cert);
    for key in ["ca.key", "apiserver.key", "admin.key"] {
        let mode = std::fs::metadata(dir.path().join(key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key} is private");
    }

    let kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&first.admin_kubeconfig("https://127.0.0.1:6443")).unwrap();
    assert_eq!(kubeconfig["current-context"], "skiff");
    assert_eq!(
        kubeconfig["clusters"][0]["cluster"]["server"],
        "https://127.0.0.1:6443"
    );
    let b64 = |v: &serde_yaml::Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        b64(&kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]),
        first.ca
    );
    assert_eq!(
        b64(&kubeconfig["users"][0]["user"]["client-certificate-data"]),
        first.admin_cert
    );
}
