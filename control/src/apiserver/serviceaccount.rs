//! ServiceAccount admission, as upstream's plugin does it: a pod runs as
//! `default` unless it names an account, and unless the pod or its account
//! opts out, each of its containers finds the account's token, the cluster
//! CA and the namespace under /var/run/secrets/kubernetes.io/serviceaccount
//! (one projected `kube-api-access-*` volume): what in-cluster clients read.

use serde_json::{Value, json};

pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The ConfigMap with the cluster CA that every namespace holds.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
/// Upstream's: an hour and a bit, refreshed by the kubelet long before.
const TOKEN_SECONDS: i64 = 3607;
/// Upstream's alphabet for generated name suffixes (no vowels, no look-alikes).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Names the pod's account (`default` when the pod names none) in both the
/// field and its deprecated alias; returns the name.
pub fn account(spec: &mut Value) -> String {
    let named = |k: &str| {
        spec[k]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let name = named("serviceAccountName")
        .or_else(|| named("serviceAccount"))
        .unwrap_or_else(|| "default".into());
    if let Some(map) = spec.as_object_mut() {
        map.insert("serviceAccountName".into(), json!(name));
        map.insert("serviceAccount".into(), json!(name));
    }
    name
}

/// Whether the token is mounted: the pod's choice, else its account's,
/// else yes.
pub fn automount(spec: &Value, account: Option<&Value>) -> bool {
    spec["automountServiceAccountToken"]
        .as_bool()
        .or_else(|| account.and_then(|a| a["automountServiceAccountToken"].as_bool()))
        .unwrap_or(true)
}

/// Adds the projected volume and, to each container without something of
/// its own there, a read-only mount of it at `MOUNT_PATH`.
pub fn inject(spec: &mut Value) {
    let volume_name = format!("kube-api-access-{}", suffix());
    let mut mounted = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec[list].as_array_mut() else {
            continue;
        };
        for c in containers {
            let mounts = c
                .as_object_mut()
                .map(|c| c.entry("volumeMounts").or_insert_with(|| json!([])));
            let Some(mounts) = mounts.and_then(Value::as_array_mut) else {
                continue;
            };
            if mounts.iter().any(|m| m["mountPath"] == MOUNT_PATH) {
                continue;
            }
            mounts.push(json!({"name": volume_name, "readOnly": true, "mountPath": MOUNT_PATH}));
            mounted = true;
        }
    }
    if !mounted {
        return;
    }
    let volume = json!({"name": volume_name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIG_MAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}});
    if let Some(map) = spec.as_object_mut() {
        let volumes = map.entry("volumes").or_insert_with(|| json!([]));
        if let Some(list) = volumes.as_array_mut() {
            list.push(volume);
        }
    }
}

/// Five characters of `ALPHABET`, from a random UUID's bytes.
fn suffix() -> String {
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_default_account_and_keeps_a_named_one() {
        let mut spec = json!({"containers": []});
        assert_eq!(account(&mut spec), "default");
        assert_eq!(spec["serviceAccountName"], "default");
        let mut spec = json!({"serviceAccount": "builder"});
        assert_eq!(account(&mut spec), "builder");
        assert_eq!(spec["serviceAccountName"], "builder");
    }

    #[test]
    fn the_pod_then_the_account_decide_on_the_token() {
        let off = json!({"automountServiceAccountToken": false});
        let on = json!({"automountServiceAccountToken": true});
        assert!(automount(&json!({}), None));
        assert!(!automount(&json!({}), Some(&off)));
        assert!(automount(&on, Some(&off)));
        assert!(!automount(&off, Some(&on)));
    }

    #[test]
    fn mounts_one_volume_in_every_container_without_its_own() {
        let mut spec = json!({
            "initContainers": [{"name": "init"}],
            "containers": [
                {"name": "a", "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "b", "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        });
        inject(&mut spec);
        let volumes = spec["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 2);
        let name = volumes[1]["name"].as_str().unwrap();
        assert!(
            name.starts_with("kube-api-access-") && name.len() == 21,
            "{name}"
        );
        let sources = &volumes[1]["projected"]["sources"];
        assert_eq!(sources[0]["serviceAccountToken"]["path"], "token");
        assert_eq!(sources[1]["configMap"]["name"], ROOT_CA_CONFIG_MAP);
        assert_eq!(
            sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
            "metadata.namespace"
        );
        let mount_of = |c: &Value| {
            c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["mountPath"] == MOUNT_PATH)
                .map(|m| m["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(mount_of(&spec["initContainers"][0]), [name]);
        assert_eq!(mount_of(&spec["containers"][0]), [name]);
        assert_eq!(spec["containers"][0]["volumeMounts"][0]["name"], "data");
        assert_eq!(mount_of(&spec["containers"][1]), ["mine"]);
    }

    #[test]
    fn no_volume_when_every_container_has_its_own() {
        let mut spec = json!({"containers": [
            {"name": "a", "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]},
        ]});
        inject(&mut spec);
        assert!(spec.get("volumes").is_none());
    }
}
