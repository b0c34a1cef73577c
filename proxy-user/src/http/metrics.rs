//! Prometheus metrics of the agent.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::{
    counter::Counter, family::Family, gauge::Gauge, histogram::Histogram,
};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MapLabel {
    pub map: &'static str,
}

pub struct Metrics {
    pub registry: Registry,
    pub sync_duration: Histogram,
    pub syncs: Counter,
    pub sync_errors: Counter,
    pub map_entries: Family<MapLabel, Gauge>,
    pub frontends: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("skiff_proxy");
        // From 100 µs to about 13 s.
        let sync_duration = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(1e-4, 2.0, 18),
        );
        let syncs = Counter::default();
        let sync_errors = Counter::default();
        let map_entries = Family::<MapLabel, Gauge>::default();
        let frontends = Gauge::default();
        registry.register(
            "sync_duration_seconds",
            "Time to compute and program one desired state",
            sync_duration.clone(),
        );
        registry.register("syncs", "Desired states programmed", syncs.clone());
        registry.register("sync_errors", "Syncs that failed", sync_errors.clone());
        registry.register(
            "map_entries",
            "Entries the agent programmed, by map",
            map_entries.clone(),
        );
        registry.register(
            "frontends",
            "Service frontends (address, port, protocol) programmed",
            frontends.clone(),
        );
        Self {
            registry,
            sync_duration,
            syncs,
            sync_errors,
            map_entries,
            frontends,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
