//! IntOrString fields of the rolling strategies: a count of pods, or a
//! percentage of the desired ones.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// An int, or a percentage of `total` rounded as asked.
pub fn scaled(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}: must be an integer or a percentage"))?;
            let share = pct * i64::from(total);
            let n = if round_up {
                share.div_euclid(100) + i64::from(share.rem_euclid(100) != 0)
            } else {
                share.div_euclid(100)
            };
            Ok(n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
        }
    }
}
