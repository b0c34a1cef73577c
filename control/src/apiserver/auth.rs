//! Who is calling: a client certificate signed by the cluster CA (user from
//! its CN, groups from its O), a bearer token from the token file, or nobody.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use rustls_pki_types::CertificateDer;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    fn authenticated(user: String, mut groups: Vec<String>) -> Self {
        groups.push("system:authenticated".into());
        Self { user, groups }
    }

    /// A service account, with the groups upstream gives it.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self::authenticated(
            format!("system:serviceaccount:{namespace}:{name}"),
            vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
            ],
        )
    }

    /// The identity in a verified client certificate (the TLS layer already
    /// checked it chains to the CA).
    pub fn from_certificate(cert: &CertificateDer<'_>) -> Option<Self> {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
        let subject = parsed.subject();
        let user = subject.iter_common_name().next()?.as_str().ok()?.to_owned();
        let groups = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_owned))
            .collect();
        Some(Self::authenticated(user, groups))
    }
}

/// Static bearer tokens, in kube-apiserver's `--token-auth-file` format:
/// `token,user,uid[,"group1,group2"]` per line.
#[derive(Default)]
pub struct Tokens(HashMap<String, Identity>);

impl Tokens {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading token file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in token file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut tokens = HashMap::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let mut fields = line.splitn(4, ',');
            let (Some(token), Some(user), Some(_uid)) =
                (fields.next(), fields.next(), fields.next())
            else {
                bail!("line {}: expected token,user,uid[,\"groups\"]", i + 1);
            };
            let groups = fields
                .next()
                .map(|g| {
                    g.trim()
                        .trim_matches('"')
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            tokens.insert(
                token.trim().to_owned(),
                Identity::authenticated(user.trim().to_owned(), groups),
            );
        }
        Ok(Self(tokens))
    }

    pub fn add(&mut self, token: &str, user: &str, groups: &[&str]) {
        let groups = groups.iter().map(|g| g.to_string()).collect();
        self.0.insert(
            token.to_owned(),
            Identity::authenticated(user.to_owned(), groups),
        );
    }

    /// The identity of an `Authorization: Bearer <token>` header value.
    pub fn authenticate(&self, authorization: &str) -> Option<Identity> {
        let token = authorization.strip_prefix("Bearer ")?.trim();
        self.0.get(token).cloned()
    }
}

/// Paths anyone may reach, as kube-apiserver leaves them to anonymous users.
pub fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/livez" | "/readyz" | "/version")
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file() {
        let t = Tokens::parse("# comment\nabc,alice,1\nxyz,bob,2,\"dev,ops\"\n").unwrap();
        let bob = t.authenticate("Bearer xyz").unwrap();
        assert_eq!(bob.user, "bob");
        assert_eq!(bob.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(t.authenticate("Bearer abc").unwrap().user, "alice");
        assert!(t.authenticate("Bearer nope").is_none());
        assert!(t.authenticate("Basic abc").is_none());
        assert!(format!("{:#}", Tokens::parse("lonely\n").err().unwrap()).contains("line 1"));
    }

    #[test]
    fn public_paths() {
        assert!(is_public("/healthz") && is_public("/version") && is_public("/readyz/etcd"));
        assert!(!is_public("/api") && !is_public("/api/v1/pods"));
    }
}
