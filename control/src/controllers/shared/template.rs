//! Pod templates as controllers compare and hash them.
//!
//! Templates compare as their typed values re-serialized without the
//! `pod-template-hash` label and without nulls, empty lists and empty
//! objects: a client that writes a template back (kubectl's rollout undo
//! copies a template through Go structs, adding `resources: {}` and
//! `creationTimestamp: null`) must land on the same revision. An empty
//! object that names a volume's source (`emptyDir: {}`) is kept.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// The label a Deployment's ReplicaSets and their pods carry.
pub const HASH_LABEL: &str = "pod-template-hash";

/// Drops empty values; returns whether `v` itself is empty now.
fn prune(v: &mut Value, volume: bool) -> bool {
    match v {
        Value::Null => true,
        Value::Array(items) => {
            for item in items.iter_mut() {
                prune(item, false);
            }
            items.is_empty()
        }
        Value::Object(map) => {
            let has_volumes = map.contains_key("volumes");
            map.retain(|k, child| {
                if has_volumes
                    && k == "volumes"
                    && let Value::Array(items) = child
                {
                    for item in items.iter_mut() {
                        prune(item, true);
                    }
                    return !items.is_empty();
                }
                let empty = prune(child, false);
                // A volume's source may be an empty object (`emptyDir: {}`).
                !empty || (volume && k != "name" && child.is_object())
            });
            map.is_empty()
        }
        _ => false,
    }
}

/// The template as compared and hashed.
pub fn normalized(template: &PodTemplateSpec) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(HASH_LABEL);
    }
    let mut v = serde_json::to_value(&t).unwrap_or(Value::Null);
    prune(&mut v, false);
    v
}

/// Whether two templates are the same but for the hash label (upstream's
/// EqualIgnoreHash).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    normalized(a) == normalized(b)
}

/// Characters that never spell words, as upstream's SafeEncodeString uses.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1a, 32 bits.
fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The hash of a template: FNV-1a of its normalized JSON (and of the
/// collision count, which changes it when a namesake is in the way), its
/// decimal digits spelled in [`ALPHANUMS`].
pub fn hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut bytes = normalized(template).to_string().into_bytes();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(&(c as u32).to_le_bytes());
    }
    fnv32a(&bytes)
        .to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(v: Value) -> PodTemplateSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn round_trips_through_clients_compare_equal() {
        let stored = template(json!({"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "a"}],
                     "volumes": [{"name": "scratch", "emptyDir": {}}]}}));
        let written_back = template(
            json!({"metadata": {"labels": {"app": "web", HASH_LABEL: "x"}, "creationTimestamp": null},
            "spec": {"containers": [{"name": "c", "image": "a", "resources": {}, "args": []}],
                     "volumes": [{"name": "scratch", "emptyDir": {}}]}}),
        );
        assert!(equal_ignore_hash(&stored, &written_back));
        assert_eq!(hash(&stored, None), hash(&written_back, None));
        let other = template(json!({"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "b"}],
                     "volumes": [{"name": "scratch", "emptyDir": {}}]}}));
        assert!(!equal_ignore_hash(&stored, &other));
        assert_ne!(hash(&stored, None), hash(&other, None));
        // The volume's source stays, though empty.
        assert_eq!(
            normalized(&stored)["spec"]["volumes"][0],
            json!({"name": "scratch", "emptyDir": {}})
        );
    }

    #[test]
    fn the_hash_is_stable_and_moves_with_collisions() {
        let t = template(json!({"spec": {"containers": [{"name": "c", "image": "a"}]}}));
        let h = hash(&t, None);
        assert_eq!(h, hash(&t, None));
        assert!(h.bytes().all(|b| ALPHANUMS.contains(&b)) && !h.is_empty());
        assert_ne!(hash(&t, Some(1)), h);
        assert_ne!(hash(&t, Some(1)), hash(&t, Some(2)));
    }
}
