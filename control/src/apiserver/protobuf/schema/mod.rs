//! Which protobuf fields each message has and how each reads as JSON.
//!
//! Field numbers and names are upstream's (k8s.io/api and apimachinery
//! `generated.proto`). Go's protobuf encoder writes every value field, even
//! empty ones, while its JSON encoder leaves out the empty ones tagged
//! `omitempty`; the plain scalar kinds therefore drop their zero value and
//! the `Keep` kinds (pointers and fields without `omitempty`) keep it, so a
//! decoded body reads as the JSON the same client would have sent.

mod apps;
mod container;
mod core;
mod groups;
mod meta;
mod pod;
mod pod_status;
mod scheduling;
mod service;
mod volume;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// A string; "" is left out.
    Str,
    KeepStr,
    /// An int32 or int64; 0 is left out.
    Int,
    KeepInt,
    /// false is left out.
    Bool,
    KeepBool,
    /// Bytes, base64 in JSON.
    Bytes,
    /// A nested message: `{}` when present but empty.
    Msg(&'static str),
    /// An embedded Go struct whose fields JSON writes into the parent.
    Inline(&'static str),
    /// A repeated field; its elements are all kept.
    List(&'static Kind),
    /// A `map<string, _>`: entries of key = 1, value = 2.
    Map(&'static Kind),
    /// metav1.Time: RFC 3339 in whole seconds, null when zero.
    Time,
    /// metav1.MicroTime: RFC 3339 with microseconds, null when zero.
    MicroTime,
    /// intstr.IntOrString: a number or a string.
    IntOrStr,
    /// resource.Quantity: its canonical string.
    Qty,
    /// metav1.FieldsV1: JSON bytes.
    FieldsV1,
}

/// Field number, JSON name, kind.
pub type Field = (u32, &'static str, Kind);
pub type Message = (&'static str, &'static [Field]);

const TABLES: &[&[Message]] = &[
    meta::MESSAGES,
    core::MESSAGES,
    service::MESSAGES,
    pod::MESSAGES,
    scheduling::MESSAGES,
    pod_status::MESSAGES,
    container::MESSAGES,
    volume::MESSAGES,
    apps::MESSAGES,
    groups::MESSAGES,
];

/// The kinds a body may hold, and their messages.
const TOP: &[(&str, &str)] = &[
    ("Namespace", "core.v1.Namespace"),
    ("ConfigMap", "core.v1.ConfigMap"),
    ("Secret", "core.v1.Secret"),
    ("ServiceAccount", "core.v1.ServiceAccount"),
    ("Service", "core.v1.Service"),
    ("Pod", "core.v1.Pod"),
    ("Binding", "core.v1.Binding"),
    ("Endpoints", "core.v1.Endpoints"),
    ("Event", "core.v1.Event"),
    ("Deployment", "apps.v1.Deployment"),
    ("ReplicaSet", "apps.v1.ReplicaSet"),
    ("DaemonSet", "apps.v1.DaemonSet"),
    ("EndpointSlice", "discovery.v1.EndpointSlice"),
    ("Lease", "coordination.v1.Lease"),
    ("Eviction", "policy.v1.Eviction"),
    ("Scale", "autoscaling.v1.Scale"),
    ("DeleteOptions", "meta.v1.DeleteOptions"),
    ("TokenRequest", "authentication.v1.TokenRequest"),
];

pub fn fields(message: &str) -> Option<&'static [Field]> {
    TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|(name, _)| *name == message)
        .map(|(_, fields)| *fields)
}

pub fn message_of(kind: &str) -> Option<&'static str> {
    TOP.iter().find(|(k, _)| *k == kind).map(|(_, m)| *m)
}

pub fn kinds() -> impl Iterator<Item = &'static str> {
    TOP.iter().map(|(k, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn refs(kind: &Kind, out: &mut Vec<&'static str>) {
        match kind {
            Kind::Msg(m) | Kind::Inline(m) => out.push(m),
            Kind::List(k) | Kind::Map(k) => refs(k, out),
            _ => {}
        }
    }

    /// Every message is defined once, every reference resolves, and no
    /// message repeats a field number or a JSON name.
    #[test]
    fn table_is_consistent() {
        let mut names = HashSet::new();
        for (name, fields) in TABLES.iter().flat_map(|t| t.iter()) {
            assert!(names.insert(*name), "{name} defined twice");
            let mut nums = HashSet::new();
            let mut json = HashSet::new();
            for (num, json_name, kind) in fields.iter() {
                assert!(nums.insert(num), "{name}: field {num} twice");
                assert!(
                    json_name.is_empty() || json.insert(json_name),
                    "{name}: {json_name} twice"
                );
                assert_eq!(json_name.is_empty(), matches!(kind, Kind::Inline(_)));
                let mut to = vec![];
                refs(kind, &mut to);
                for m in to {
                    assert!(fields_exist(m), "{name}.{json_name}: no message {m}");
                }
            }
        }
        // An inlined message's fields land in its parent: no name twice.
        for (name, fields) in TABLES.iter().flat_map(|t| t.iter()) {
            let mut json: Vec<&str> = vec![];
            for (_, json_name, kind) in fields.iter() {
                match kind {
                    Kind::Inline(m) => json.extend(fields_of(m).iter().map(|f| f.1)),
                    _ => json.push(json_name),
                }
            }
            let unique: HashSet<_> = json.iter().collect();
            assert_eq!(
                unique.len(),
                json.len(),
                "{name}: a name twice with inlining"
            );
        }
        for (kind, m) in TOP {
            assert!(fields_exist(m), "{kind}: no message {m}");
        }
    }

    fn fields_exist(m: &str) -> bool {
        fields(m).is_some()
    }

    fn fields_of(m: &str) -> &'static [Field] {
        fields(m).unwrap()
    }
}
