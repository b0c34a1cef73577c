//! Service account tokens: JWTs the API server signs (ES256, a key made once
//! in the data directory) for `serviceaccounts/<name>/token`, and accepts as
//! bearer tokens for as long as they have not expired and what they are
//! bound to (the account, and a pod if named) still exists with the same uid.

use std::path::Path;

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The issuer and default audience, as kube-apiserver's defaults.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

pub struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Bound {
    pub name: String,
    pub uid: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct KubernetesClaims {
    pub namespace: String,
    pub serviceaccount: Bound,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<Bound>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
}

impl Signer {
    /// The key in `dir/sa.key`, made on first use.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("sa.key");
        let pem = match std::fs::read_to_string(&path) {
            Ok(pem) => pem,
            Err(_) => {
                let key = rcgen::KeyPair::generate().context("making the service account key")?;
                let pem = key.serialize_pem();
                super::pki::write_private(&path, &pem)?;
                pem
            }
        };
        let key = rcgen::KeyPair::from_pem(&pem)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(Signer {
            encoding: EncodingKey::from_ec_pem(pem.as_bytes())?,
            decoding: DecodingKey::from_ec_pem(key.public_key_pem().as_bytes())?,
        })
    }

    pub fn issue(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::ES256),
            claims,
            &self.encoding,
        )?)
    }

    /// The claims of a token this server signed that is valid now for any
    /// of the API server's audiences.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[ISSUER]);
        v.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .ok()
            .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in: i64) -> Claims {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        Claims {
            iss: ISSUER.into(),
            sub: "system:serviceaccount:default:web".into(),
            aud: vec![ISSUER.into()],
            exp: now + exp_in,
            iat: now,
            nbf: now,
            kubernetes: KubernetesClaims {
                namespace: "default".into(),
                serviceaccount: Bound {
                    name: "web".into(),
                    uid: "u1".into(),
                },
                pod: None,
            },
        }
    }

    #[test]
    fn tokens_verify_only_with_the_key_that_signed_them_and_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(dir.path()).unwrap();
        let token = signer.issue(&claims(600)).unwrap();
        let verified = signer.verify(&token).expect("a fresh token verifies");
        assert_eq!(verified.sub, "system:serviceaccount:default:web");
        assert_eq!(verified.kubernetes.serviceaccount.uid, "u1");
        let again = Signer::load_or_create(dir.path()).unwrap();
        assert!(
            again.verify(&token).is_some(),
            "the key is kept in the data directory"
        );
        let other = Signer::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(other.verify(&token).is_none(), "another cluster's key");
        assert!(
            signer
                .verify(&signer.issue(&claims(-10)).unwrap())
                .is_none(),
            "expired"
        );
    }
}
