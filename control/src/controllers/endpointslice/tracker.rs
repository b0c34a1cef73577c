//! What this controller wrote and its slice cache has not shown yet. A sync
//! that planned from a cache missing its own last writes would create the
//! same slices twice, so a Service whose writes are not all seen waits (as
//! upstream's EndpointSliceTracker makes it). Resource versions are the
//! store's revisions, global and increasing, so "seen" is a comparison.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::discovery::v1::EndpointSlice;

/// An expectation the watch never meets (a slice deleted by someone else
/// between our write and our recording it) stops holding the Service back
/// after this long.
const GIVE_UP: Duration = Duration::from_secs(30);

#[derive(Debug)]
enum Expect {
    /// At this resourceVersion or later.
    AtLeast(u64),
    Gone,
}

/// Per Service (namespace, name): slice name -> what the cache should show.
#[derive(Debug, Default)]
pub struct Tracker {
    services: HashMap<(String, String), HashMap<String, (Expect, Instant)>>,
}

fn version(slice: &EndpointSlice) -> Option<u64> {
    slice.metadata.resource_version.as_deref()?.parse().ok()
}

impl Tracker {
    /// After a create or update: the cache is behind until it shows this.
    pub fn written(&mut self, service: &(String, String), slice: &EndpointSlice) {
        let (Some(name), Some(rv)) = (slice.metadata.name.clone(), version(slice)) else {
            return;
        };
        self.services
            .entry(service.clone())
            .or_default()
            .insert(name, (Expect::AtLeast(rv), Instant::now()));
    }

    pub fn deleted(&mut self, service: &(String, String), name: &str) {
        self.services
            .entry(service.clone())
            .or_default()
            .insert(name.to_owned(), (Expect::Gone, Instant::now()));
    }

    /// The watch reported the slice deleted: nothing more to wait for.
    pub fn forget(&mut self, service: &(String, String), name: &str) {
        if let Some(slices) = self.services.get_mut(service) {
            slices.remove(name);
            if slices.is_empty() {
                self.services.remove(service);
            }
        }
    }

    pub fn forget_service(&mut self, service: &(String, String)) {
        self.services.remove(service);
    }

    /// A fresh list replaced the cache: it holds every earlier write.
    pub fn clear(&mut self) {
        self.services.clear();
    }

    /// Whether `cached` (the Service's slices in the cache) misses one of
    /// our writes. Met expectations are dropped.
    pub fn behind(&mut self, service: &(String, String), cached: &[&EndpointSlice]) -> bool {
        let Some(slices) = self.services.get_mut(service) else {
            return false;
        };
        slices.retain(|name, (expect, since)| {
            if since.elapsed() > GIVE_UP {
                return false;
            }
            let found = cached
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name.as_str()));
            let met = match (expect, found) {
                (Expect::AtLeast(rv), Some(s)) => version(s).is_some_and(|v| v >= *rv),
                (Expect::AtLeast(_), None) => false,
                (Expect::Gone, found) => found.is_none(),
            };
            !met
        });
        let behind = !slices.is_empty();
        if !behind {
            self.services.remove(service);
        }
        behind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(name: &str, rv: u64) -> EndpointSlice {
        let mut s = EndpointSlice::default();
        s.metadata.name = Some(name.into());
        s.metadata.resource_version = Some(rv.to_string());
        s
    }

    #[test]
    fn waits_for_its_own_writes() {
        let svc = ("default".to_owned(), "web".to_owned());
        let mut t = Tracker::default();
        assert!(!t.behind(&svc, &[]));
        t.written(&svc, &slice("web-a", 10));
        t.deleted(&svc, "web-b");
        let old_b = slice("web-b", 3);
        assert!(t.behind(&svc, &[&slice("web-a", 9), &old_b]));
        assert!(
            t.behind(&svc, &[&slice("web-a", 10), &old_b]),
            "web-b still there"
        );
        assert!(!t.behind(&svc, &[&slice("web-a", 12)]));
        // Met expectations are gone: an older cache is not judged again.
        assert!(!t.behind(&svc, &[]));

        t.written(&svc, &slice("web-c", 20));
        assert!(t.behind(&svc, &[]), "web-c not seen yet");
        t.written(&svc, &slice("web-c", 20));
        t.forget(&svc, "web-c");
        assert!(!t.behind(&svc, &[]), "deleted after our write");
        t.written(&svc, &slice("web-d", 20));
        t.clear();
        assert!(!t.behind(&svc, &[]));
    }
}
