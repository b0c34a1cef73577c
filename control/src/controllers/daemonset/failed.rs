//! A back-off per DaemonSet and node for replacing failed pods: a node
//! whose kubelet rejects the pod (ports taken, resources short) would
//! otherwise see a create and delete loop (upstream's failedPodsBackoff:
//! 1 s doubling to 15 min).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FIRST: Duration = Duration::from_secs(1);
const MOST: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub struct FailedPods {
    last: Mutex<HashMap<String, (Duration, Instant)>>,
}

impl FailedPods {
    /// None: replace now (the back-off grows); Some: wait this long.
    pub fn replace(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut last = self.last.lock().expect("not poisoned");
        // Entries idle for twice the longest back-off are forgotten.
        last.retain(|_, (_, at)| now.duration_since(*at) < 2 * MOST);
        match last.get_mut(key) {
            Some((delay, at)) if now < *at + *delay => Some(*at + *delay - now),
            Some((delay, at)) => {
                *delay = (*delay * 2).min(MOST);
                *at = now;
                None
            }
            None => {
                last.insert(key.to_owned(), (FIRST, now));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_back_off() {
        let f = FailedPods::default();
        let t = Instant::now();
        assert_eq!(f.replace("a", t), None);
        assert_eq!(
            f.replace("a", t + Duration::from_millis(400)),
            Some(Duration::from_millis(600))
        );
        assert_eq!(f.replace("b", t), None);
        assert_eq!(f.replace("a", t + Duration::from_secs(1)), None);
        assert_eq!(
            f.replace("a", t + Duration::from_secs(2)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(f.replace("a", t + Duration::from_secs(3)), None);
    }
}
