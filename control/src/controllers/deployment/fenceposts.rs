//! maxSurge and maxUnavailable as numbers of pods (upstream's
//! ResolveFenceposts): a percentage of the desired replicas, surge rounded
//! up and unavailability rounded down; both zero means one unavailable.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub use crate::controllers::shared::intstr::scaled;

/// (surge, unavailable) for `desired` replicas; absent values count as 0.
pub fn resolve(
    surge: Option<&IntOrString>,
    unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), String> {
    let zero = IntOrString::Int(0);
    let surge = scaled(surge.unwrap_or(&zero), desired, true)?;
    let unavailable = scaled(unavailable.unwrap_or(&zero), desired, false)?;
    // Rounding down may make both zero, and a rollout could then never
    // start; upstream then allows one unavailable, as surge may be blocked
    // by quota.
    if surge == 0 && unavailable == 0 {
        return Ok((0, 1));
    }
    Ok((surge, unavailable))
}

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.replicas.unwrap_or(1)
}

pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

/// The resolved pair; invalid values (validation's business) count as 0,
/// as upstream's MaxSurge and MaxUnavailable do.
fn fenceposts(d: &Deployment) -> (i32, i32) {
    let limits = d
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    resolve(
        limits.and_then(|l| l.max_surge.as_ref()),
        limits.and_then(|l| l.max_unavailable.as_ref()),
        replicas(d),
    )
    .unwrap_or((0, 1))
}

pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    fenceposts(d).0
}

/// Never more than the desired replicas.
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.into())
    }

    #[test]
    fn surge_rounds_up_unavailable_down() {
        let cases = [
            (Some(s("25%")), Some(s("25%")), 10, (3, 2)),
            (Some(s("25%")), Some(s("25%")), 4, (1, 1)),
            (Some(s("25%")), Some(s("25%")), 1, (1, 0)),
            (Some(s("1%")), Some(s("1%")), 1, (1, 0)),
            (Some(s("0%")), Some(s("1%")), 10, (0, 1)),
            (Some(s("50%")), Some(s("10%")), 3, (2, 0)),
            (
                Some(IntOrString::Int(1)),
                Some(IntOrString::Int(1)),
                3,
                (1, 1),
            ),
            (
                Some(IntOrString::Int(0)),
                Some(IntOrString::Int(0)),
                3,
                (0, 1),
            ),
            (None, None, 5, (0, 1)),
            (Some(s("100%")), Some(s("0%")), 7, (7, 0)),
        ];
        for (surge, unavailable, desired, want) in cases {
            assert_eq!(
                resolve(surge.as_ref(), unavailable.as_ref(), desired),
                Ok(want),
                "{surge:?} {unavailable:?} of {desired}"
            );
        }
        assert!(resolve(Some(&s("1.5")), None, 3).is_err());
        assert!(resolve(Some(&s("x%")), None, 3).is_err());
    }

    #[test]
    fn limits_follow_the_strategy() {
        let d = |strategy: serde_json::Value, replicas: i32| -> Deployment {
            serde_json::from_value(serde_json::json!({"spec": {"replicas": replicas,
                "selector": {}, "template": {}, "strategy": strategy}}))
            .unwrap()
        };
        let rolling = d(
            serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "30%", "maxUnavailable": 5}}),
            3,
        );
        assert_eq!((max_surge(&rolling), max_unavailable(&rolling)), (1, 3));
        let recreate = d(serde_json::json!({"type": "Recreate"}), 3);
        assert_eq!((max_surge(&recreate), max_unavailable(&recreate)), (0, 0));
        let none = d(serde_json::json!({"type": "RollingUpdate"}), 0);
        assert_eq!(max_unavailable(&none), 0);
    }
}
