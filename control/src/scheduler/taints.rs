//! Taints and tolerations, matched as upstream's `Toleration.ToleratesTaint`.

use k8s_openapi::api::core::v1 as core;

pub const NO_SCHEDULE: &str = "NoSchedule";
pub const NO_EXECUTE: &str = "NoExecute";
pub const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: String,
}

impl From<&core::Taint> for Taint {
    fn from(t: &core::Taint) -> Self {
        Taint {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    key: String,
    exists: bool,
    value: String,
    effect: String,
}

impl From<&core::Toleration> for Toleration {
    fn from(t: &core::Toleration) -> Self {
        Toleration {
            key: t.key.clone().unwrap_or_default(),
            exists: t.operator.as_deref() == Some("Exists"),
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.clone().unwrap_or_default(),
        }
    }
}

impl Toleration {
    /// An empty effect tolerates every effect; an empty key with `Exists`
    /// tolerates every taint.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        (self.effect.is_empty() || self.effect == taint.effect)
            && (self.key.is_empty() || self.key == taint.key)
            && (self.exists || self.value == taint.value)
    }

    /// Whether this toleration may apply to `PreferNoSchedule` taints.
    pub fn prefer_no_schedule(&self) -> bool {
        self.effect.is_empty() || self.effect == PREFER_NO_SCHEDULE
    }
}

pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// The first `NoSchedule` or `NoExecute` taint none of `tolerations` covers.
pub fn untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect == NO_SCHEDULE || t.effect == NO_EXECUTE)
        .find(|t| !tolerated(tolerations, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn toleration(v: serde_json::Value) -> Toleration {
        Toleration::from(&serde_json::from_value::<core::Toleration>(v).unwrap())
    }

    #[test]
    fn tolerations_match_as_upstream() {
        let taint = Taint {
            key: "dedicated".into(),
            value: "gpu".into(),
            effect: NO_SCHEDULE.into(),
        };
        let cases = [
            (
                json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}),
                true,
            ),
            (
                json!({"key": "dedicated", "operator": "Equal", "value": "gpu"}),
                true,
            ),
            (json!({"key": "dedicated", "operator": "Exists"}), true),
            (json!({"operator": "Exists"}), true),
            (json!({"key": "dedicated", "value": "cpu"}), false),
            (
                json!({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}),
                false,
            ),
            (json!({"key": "other", "operator": "Exists"}), false),
        ];
        for (t, want) in cases {
            assert_eq!(toleration(t.clone()).tolerates(&taint), want, "{t}");
        }
    }

    #[test]
    fn prefer_no_schedule_taints_never_block() {
        let taints = [Taint {
            key: "k".into(),
            value: String::new(),
            effect: PREFER_NO_SCHEDULE.into(),
        }];
        assert!(untolerated(&taints, &[]).is_none());
    }
}
