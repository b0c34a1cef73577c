//! Requests and limits as cgroup settings, and as the downward API shows them.

use anyhow::bail;
use k8s_cri::v1::LinuxContainerResources;
use k8s_openapi::api::core::v1::{Container, Pod, ResourceFieldSelector};

use crate::kubelet::Ctx;
use crate::scheduler::resources::{amount, parse};

const CPU_PERIOD_US: i64 = 100_000;
/// The kernel's floor for cpu.shares.
const MIN_SHARES: i64 = 2;

fn quantity(container: &Container, which: &str, name: &str) -> Option<i64> {
    let r = container.resources.as_ref()?;
    let list = if which == "limits" {
        &r.limits
    } else {
        &r.requests
    };
    list.as_ref()?.get(name).map(|q| amount(name, q))
}

/// Upstream's mapping: shares from the CPU request (a limit stands in for
/// a missing request), quota from the CPU limit, memory from its limit.
pub fn linux(container: &Container) -> LinuxContainerResources {
    let cpu_limit = quantity(container, "limits", "cpu");
    let cpu_request = quantity(container, "requests", "cpu").or(cpu_limit);
    let shares = cpu_request.map_or(MIN_SHARES, |m| (m * 1024 / 1000).max(MIN_SHARES));
    let (period, quota) = match cpu_limit {
        Some(m) if m > 0 => (CPU_PERIOD_US, (m * CPU_PERIOD_US / 1000).max(1000)),
        _ => (0, 0),
    };
    LinuxContainerResources {
        cpu_period: period,
        cpu_quota: quota,
        cpu_shares: shares,
        memory_limit_in_bytes: quantity(container, "limits", "memory").unwrap_or(0),
        ..Default::default()
    }
}

/// `resourceFieldRef`: the container's limit (the node's allocatable when
/// it has none) or request, divided by the divisor, rounded up.
pub fn field_value(
    ctx: &Ctx,
    _pod: &Pod,
    container: &Container,
    r: &ResourceFieldSelector,
) -> anyhow::Result<String> {
    let Some((which, name)) = r.resource.split_once('.') else {
        bail!("unsupported resourceFieldRef {}", r.resource);
    };
    let value = match quantity(container, which, name) {
        Some(v) => v,
        None if which == "limits" => {
            let cap = crate::kubelet::node::host::capacity(&ctx.cfg.root_dir, ctx.cfg.max_pods);
            cap.get(name).map_or(0, |q| amount(name, q))
        }
        None => 0,
    };
    let divisor = r
        .divisor
        .as_ref()
        .and_then(|d| parse(&d.0, if name == "cpu" { 3 } else { 0 }))
        .filter(|d| *d > 0)
        .unwrap_or(if name == "cpu" { 1000 } else { 1 });
    // Rounded up, as upstream's ConvertResourceToString.
    Ok(((value.max(0) + divisor - 1) / divisor).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let list = |l: &[(&str, &str)]| {
            Some(
                l.iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect(),
            )
        };
        Container {
            resources: Some(ResourceRequirements {
                requests: list(requests),
                limits: list(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn cgroup_settings() {
        let r = linux(&container(
            &[("cpu", "250m")],
            &[("cpu", "500m"), ("memory", "64Mi")],
        ));
        assert_eq!(
            (r.cpu_shares, r.cpu_period, r.cpu_quota),
            (256, 100_000, 50_000)
        );
        assert_eq!(r.memory_limit_in_bytes, 64 << 20);
        // A limit alone stands in for the request.
        assert_eq!(linux(&container(&[], &[("cpu", "1")])).cpu_shares, 1024);
        let none = linux(&container(&[], &[]));
        assert_eq!(
            (none.cpu_shares, none.cpu_quota, none.memory_limit_in_bytes),
            (2, 0, 0)
        );
    }
}
