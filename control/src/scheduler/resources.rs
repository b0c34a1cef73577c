//! Resource amounts as the scheduler counts them: CPU in millicores,
//! everything else in whole units (bytes, pods, devices), rounded up as
//! upstream's `Quantity.MilliValue()` and `Value()` round.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const PODS: &str = "pods";

/// What a container that asks for no CPU or memory counts as when nodes are
/// compared by usage (upstream's DefaultMilliCPURequest and
/// DefaultMemoryRequest), so pods without requests do not all pile onto one
/// node. Never used to decide whether a pod fits.
pub const DEFAULT_MILLI_CPU: i64 = 100;
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// Named amounts, CPU in millicores.
pub type Amounts = BTreeMap<String, i64>;

/// A quantity string times 10^`scale` (3 for milli-units), rounded up;
/// amounts too large for an i64 saturate. None when it does not parse.
pub fn parse(q: &str, scale: i32) -> Option<i64> {
    let q = q.trim();
    let (negative, rest) = match q.as_bytes().first()? {
        b'-' => (true, &q[1..]),
        b'+' => (false, &q[1..]),
        _ => (false, q),
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(end);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    let (pow2, pow10): (u32, i32) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        s if s.starts_with(['e', 'E']) => (0, s[1..].parse().ok()?),
        _ => return None,
    };
    let mantissa = format!("{int}{frac}");
    let mantissa = mantissa.trim_start_matches('0');
    let exp10 = pow10 + scale - frac.len() as i32;
    let magnitude = scaled(mantissa, pow2, exp10);
    Some(if negative { -magnitude } else { magnitude })
}

/// `mantissa` × 2^`pow2` × 10^`exp10`, rounded up, saturating.
fn scaled(mantissa: &str, pow2: u32, exp10: i32) -> i64 {
    if mantissa.is_empty() {
        return 0;
    }
    // More digits than an i128 holds is far beyond any i64 anyway.
    let Ok(n) = mantissa.parse::<i128>() else {
        return i64::MAX;
    };
    let Some(n) = n.checked_mul(1i128 << pow2) else {
        return i64::MAX;
    };
    let value = if exp10 >= 0 {
        10i128
            .checked_pow(exp10 as u32)
            .and_then(|p| n.checked_mul(p))
    } else {
        match 10i128.checked_pow(exp10.unsigned_abs()) {
            Some(p) => Some(n / p + i128::from(n % p != 0)),
            // Smaller than any unit: a positive amount rounds up to one.
            None => Some(1),
        }
    };
    value.map_or(i64::MAX, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// The amount of `name` in `q`: millicores for CPU, units otherwise.
pub fn amount(name: &str, q: &Quantity) -> i64 {
    let scale = if name == CPU { 3 } else { 0 };
    parse(&q.0, scale).unwrap_or(0)
}

pub fn amounts(list: Option<&BTreeMap<String, Quantity>>) -> Amounts {
    list.into_iter()
        .flatten()
        .map(|(name, q)| (name.clone(), amount(name, q)))
        .collect()
}

/// Resources of a node, or summed over pods: the named ones upstream keeps
/// as fields, the rest (extended resources, hugepages) by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub pods: i64,
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    pub fn from_amounts(a: &Amounts) -> Self {
        let mut r = Resources::default();
        for (name, v) in a {
            match name.as_str() {
                CPU => r.milli_cpu += v,
                MEMORY => r.memory += v,
                EPHEMERAL_STORAGE => r.ephemeral_storage += v,
                PODS => r.pods += v,
                other if is_scalar(other) => *r.scalar.entry(other.to_owned()).or_default() += v,
                _ => {}
            }
        }
        r
    }

    /// Adds (`sign` 1) or takes away (-1) `other`.
    pub fn add(&mut self, other: &Resources, sign: i64) {
        self.milli_cpu += sign * other.milli_cpu;
        self.memory += sign * other.memory;
        self.ephemeral_storage += sign * other.ephemeral_storage;
        self.pods += sign * other.pods;
        for (name, v) in &other.scalar {
            let e = self.scalar.entry(name.clone()).or_default();
            *e += sign * v;
            if *e == 0 {
                self.scalar.remove(name);
            }
        }
    }

    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.milli_cpu,
            MEMORY => self.memory,
            EPHEMERAL_STORAGE => self.ephemeral_storage,
            PODS => self.pods,
            other => self.scalar.get(other).copied().unwrap_or(0),
        }
    }

    /// Whether any amount is below `other`'s (a pod that shrank frees room).
    pub fn any_below(&self, other: &Resources) -> bool {
        self.milli_cpu < other.milli_cpu
            || self.memory < other.memory
            || self.ephemeral_storage < other.ephemeral_storage
            || other.scalar.iter().any(|(n, v)| self.get(n) < *v)
    }
}

/// Extended resources (`example.com/gpu`), hugepages and attachable volumes:
/// the ones upstream counts by name.
pub fn is_scalar(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.starts_with("kubernetes.io/"))
}

/// What a pod asks for, as upstream's `resourcehelper.PodRequests`: the sum
/// of its containers and sidecars (restartable init containers), or the
/// largest init container plus the sidecars started before it if that is
/// more, plus the pod's overhead. With `defaults`, a container that leaves
/// CPU or memory out counts as [`DEFAULT_MILLI_CPU`] / [`DEFAULT_MEMORY`].
pub fn pod_requests(spec: &PodSpec, defaults: bool) -> Amounts {
    let mut total = Amounts::new();
    for c in &spec.containers {
        add(&mut total, &container_requests(c, defaults));
    }
    let mut sidecars = Amounts::new();
    let mut init = Amounts::new();
    for c in spec.init_containers.iter().flatten() {
        let r = container_requests(c, defaults);
        let running = if c.restart_policy.as_deref() == Some("Always") {
            add(&mut total, &r);
            add(&mut sidecars, &r);
            sidecars.clone()
        } else {
            let mut with_sidecars = r;
            add(&mut with_sidecars, &sidecars);
            with_sidecars
        };
        max(&mut init, &running);
    }
    max(&mut total, &init);
    add(&mut total, &amounts(spec.overhead.as_ref()));
    total
}

/// A container's requests. A limit without a request counts as the request:
/// upstream's API server writes it in when the pod is created.
fn container_requests(c: &Container, defaults: bool) -> Amounts {
    let r = c.resources.as_ref();
    let mut out = amounts(r.and_then(|r| r.requests.as_ref()));
    for (name, v) in amounts(r.and_then(|r| r.limits.as_ref())) {
        out.entry(name).or_insert(v);
    }
    if defaults {
        out.entry(CPU.into()).or_insert(DEFAULT_MILLI_CPU);
        out.entry(MEMORY.into()).or_insert(DEFAULT_MEMORY);
    }
    out
}

fn add(to: &mut Amounts, from: &Amounts) {
    for (name, v) in from {
        *to.entry(name.clone()).or_default() += v;
    }
}

fn max(to: &mut Amounts, from: &Amounts) {
    for (name, v) in from {
        let e = to.entry(name.clone()).or_default();
        *e = (*e).max(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_round_up_like_upstream() {
        let cases: &[(&str, i32, Option<i64>)] = &[
            ("1", 3, Some(1000)),
            ("100m", 3, Some(100)),
            ("0.5", 3, Some(500)),
            ("1.5", 0, Some(2)),
            ("250m", 0, Some(1)),
            ("1Ki", 0, Some(1024)),
            ("128Mi", 0, Some(128 << 20)),
            ("1Gi", 0, Some(1 << 30)),
            ("1k", 0, Some(1000)),
            ("2G", 0, Some(2_000_000_000)),
            ("1e3", 0, Some(1000)),
            ("1E", 0, Some(1_000_000_000_000_000_000)),
            ("1n", 3, Some(1)),
            ("0", 3, Some(0)),
            ("-1", 0, Some(-1)),
            ("100Ei", 0, Some(i64::MAX)),
            ("", 0, None),
            ("1.2.3", 0, None),
            ("5 cores", 0, None),
            ("1Xi", 0, None),
        ];
        for (q, scale, want) in cases {
            assert_eq!(parse(q, *scale), *want, "{q} scale {scale}");
        }
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn res(cpu: &str, mem: &str) -> serde_json::Value {
        json!({"requests": {"cpu": cpu, "memory": mem}})
    }

    #[test]
    fn init_containers_count_as_their_largest_and_sidecars_add_up() {
        let s = spec(json!({
            "containers": [
                {"name": "a", "resources": res("1", "1Gi")},
                {"name": "b", "resources": res("500m", "1Gi")}],
            "initContainers": [
                {"name": "i1", "resources": res("3", "1Gi")},
                {"name": "i2", "resources": res("1", "4Gi")}]}));
        let r = pod_requests(&s, false);
        assert_eq!((r[CPU], r[MEMORY]), (3000, 4 << 30));

        // A sidecar runs beside everything after it and beside the app.
        let s = spec(json!({
            "containers": [{"name": "a", "resources": res("1", "1Gi")}],
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": res("1", "1Gi")},
                {"name": "i", "resources": res("2", "1Gi")}]}));
        let r = pod_requests(&s, false);
        assert_eq!((r[CPU], r[MEMORY]), (3000, 2 << 30));
    }

    #[test]
    fn limits_stand_in_for_requests_and_defaults_fill_gaps() {
        let s = spec(json!({
            "containers": [
                {"name": "a", "resources": {"limits": {"cpu": "2"}}},
                {"name": "b"}],
            "overhead": {"cpu": "100m"}}));
        let r = pod_requests(&s, false);
        assert_eq!(r[CPU], 2100);
        assert!(!r.contains_key(MEMORY));
        let nz = pod_requests(&s, true);
        assert_eq!(nz[CPU], 2000 + DEFAULT_MILLI_CPU + 100);
        assert_eq!(nz[MEMORY], 2 * DEFAULT_MEMORY);
    }

    #[test]
    fn resources_sum_by_name() {
        let a: Amounts = [("cpu", 500), ("example.com/gpu", 1), ("pods", 110)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let mut r = Resources::from_amounts(&a);
        assert_eq!(
            (r.milli_cpu, r.pods, r.get("example.com/gpu")),
            (500, 110, 1)
        );
        let copy = r.clone();
        r.add(&copy, -1);
        assert_eq!(r, Resources::default());
    }
}
