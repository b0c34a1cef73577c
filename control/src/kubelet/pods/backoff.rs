//! Restart back-off per container (CrashLoopBackOff, ImagePullBackOff):
//! the first retry is immediate, then 10 s doubling to 5 min, as upstream.

use std::collections::HashMap;
use std::time::{Duration, Instant};

const INITIAL: Duration = Duration::from_secs(10);
const MAX: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct Backoff {
    entries: HashMap<String, (Duration, Instant)>,
}

impl Backoff {
    /// How long `key` must still wait, if it must.
    pub fn remaining(&self, key: &str, now: Instant) -> Option<Duration> {
        let (delay, at) = self.entries.get(key)?;
        let until = *at + *delay;
        (until > now).then(|| until - now)
    }

    /// Records an attempt: the next one waits longer.
    pub fn next(&mut self, key: &str, now: Instant) {
        let delay = match self.entries.get(key) {
            Some((d, at)) if now.duration_since(*at) < 2 * MAX => (*d * 2).min(MAX),
            _ => INITIAL,
        };
        self.entries.insert(key.to_owned(), (delay, now));
    }

    /// The current delay of `key`, for the message.
    pub fn delay(&self, key: &str) -> Duration {
        self.entries.get(key).map_or(INITIAL, |e| e.0)
    }

    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        assert_eq!(b.remaining("c", t0), None, "the first restart is immediate");
        b.next("c", t0);
        assert_eq!(b.remaining("c", t0), Some(INITIAL));
        let mut t = t0;
        let mut seen = Vec::new();
        for _ in 0..7 {
            t += b.delay("c");
            assert_eq!(b.remaining("c", t), None);
            b.next("c", t);
            seen.push(b.delay("c").as_secs());
        }
        assert_eq!(seen, [20, 40, 80, 160, 300, 300, 300]);
        b.reset("c");
        assert_eq!(b.remaining("c", t), None);
    }
}
