//! The cluster's certificates, made on first start in the data directory: a CA,
//! the API server's serving certificate, and an admin client certificate
//! (group `system:masters`) with its kubeconfig. Later starts reuse them, so
//! kubeconfigs already handed out keep working.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

const FILES: [&str; 6] = [
    "ca.crt",
    "ca.key",
    "apiserver.crt",
    "apiserver.key",
    "admin.crt",
    "admin.key",
];

/// The PEM files of the cluster's certificates.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub admin_cert: String,
    pub admin_key: String,
}

pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

fn params(cn: &str, org: Option<&str>, sans: Vec<String>) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(sans)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(o) = org {
        dn.push(DnType::OrganizationName, o);
    }
    p.distinguished_name = dn;
    // Ten years, as kubeadm's CA; leaf certificates likewise, for a local cluster.
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2035, 1, 1);
    Ok(p)
}

impl Pki {
    /// Loads the certificates from `dir`, or makes them all when any is
    /// missing. `hosts` are the serving certificate's extra names and IPs
    /// (the service IP of `kubernetes`, the node's addresses).
    pub fn load_or_create(dir: &Path, hosts: &[String]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        if FILES.iter().all(|f| dir.join(f).exists()) {
            let read = |f: &str| {
                std::fs::read_to_string(dir.join(f))
                    .with_context(|| format!("reading {}", dir.join(f).display()))
            };
            return Ok(Self {
                dir: dir.to_owned(),
                ca: read("ca.crt")?,
                server_cert: read("apiserver.crt")?,
                server_key: read("apiserver.key")?,
                admin_cert: read("admin.crt")?,
                admin_key: read("admin.key")?,
            });
        }
        let pki = Self::generate(dir, hosts)?;
        for (name, text, private) in [
            ("ca.crt", &pki.ca, false),
            ("apiserver.crt", &pki.server_cert, false),
            ("apiserver.key", &pki.server_key, true),
            ("admin.crt", &pki.admin_cert, false),
            ("admin.key", &pki.admin_key, true),
        ] {
            let path = dir.join(name);
            if private {
                write_private(&path, text)?;
            } else {
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Ok(pki)
    }

    fn generate(dir: &Path, hosts: &[String]) -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = params("skiff-ca", None, vec![])?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        // The CA key is written before it signs anything, so a crash never
        // leaves certificates whose signer is lost.
        write_private(&dir.join("ca.key"), &ca_key.serialize_pem())?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut sans: Vec<String> = [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "127.0.0.1",
            "::1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for h in hosts {
            if !sans.contains(h) {
                sans.push(h.clone());
            }
        }
        let server_key = KeyPair::generate()?;
        let mut server = params("kube-apiserver", None, sans)?;
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &issuer)?;

        let admin_key = KeyPair::generate()?;
        let mut admin = params("admin", Some("system:masters"), vec![])?;
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_cert = admin.signed_by(&admin_key, &issuer)?;

        Ok(Self {
            dir: dir.to_owned(),
            ca: ca_cert.pem(),
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
            admin_cert: admin_cert.pem(),
            admin_key: admin_key.serialize_pem(),
        })
    }

    fn ca_roots(&self) -> anyhow::Result<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca.as_bytes()) {
            roots.add(cert?)?;
        }
        Ok(roots)
    }

    /// TLS for the API server: its certificate, and client certificates
    /// signed by the CA accepted but not required (tokens and anonymous
    /// requests come without one).
    pub fn server_config(&self) -> anyhow::Result<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(self.ca_roots()?),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()?;
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.server_cert.as_bytes())
                .collect::<Result<_, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(self.server_key.as_bytes())?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// An admin kubeconfig for `server` (e.g. `https://127.0.0.1:6443`), with
    /// the certificates inline so it can be copied anywhere.
    pub fn admin_kubeconfig(&self, server: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "skiff", "cluster": {"server": server, "certificate-authority-data": b64(&self.ca)}}],
            "users": [{"name": "admin", "user": {"client-certificate-data": b64(&self.admin_cert), "client-key-data": b64(&self.admin_key)}}],
            "contexts": [{"name": "skiff", "context": {"cluster": "skiff", "user": "admin"}}],
            "current-context": "skiff",
        });
        serde_yaml::to_string(&config).expect("a kubeconfig serializes")
    }
}
