//! Restart back-off per container (CrashLoopBackOff, ImagePullBackOff):
//! the first retry is immediate, then 10 s doubling to 5 min, counted from
//! when the container exited (or the failed attempt), as upstream.

use std::collections::HashMap;
use std::time::{Duration, Instant};

const INITIAL: Duration = Duration::from_secs(10);
const MAX: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct Backoff {
    entries: HashMap<String, (Duration, Instant)>,
}

impl Backoff {
    /// How long `key` must still wait, if it must: the current delay from
    /// `since` (when its container exited), else from the last failure.
    pub fn remaining(&self, key: &str, since: Option<Instant>, now: Instant) -> Option<Duration> {
        let (delay, at) = self.entries.get(key)?;
        let until = since.unwrap_or(*at) + *delay;
        (until > now).then(|| until - now)
    }

    /// Records a failure at `at` (an exit, or a failed attempt): the next
    /// one waits longer, unless the last was long ago.
    pub fn next(&mut self, key: &str, at: Instant) {
        let delay = match self.entries.get(key) {
            Some((d, last)) if at.saturating_duration_since(*last) < 2 * MAX => (*d * 2).min(MAX),
            _ => INITIAL,
        };
        self.entries.insert(key.to_owned(), (delay, at));
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
        assert_eq!(
            b.remaining("c", None, t0),
            None,
            "the first restart is immediate"
        );
        b.next("c", t0);
        assert_eq!(b.remaining("c", None, t0), Some(INITIAL));
        let mut t = t0;
        let mut seen = Vec::new();
        for _ in 0..7 {
            t += b.delay("c");
            assert_eq!(b.remaining("c", None, t), None);
            b.next("c", t);
            seen.push(b.delay("c").as_secs());
        }
        assert_eq!(seen, [20, 40, 80, 160, 300, 300, 300]);
        b.reset("c");
        assert_eq!(b.remaining("c", None, t), None);
    }

    #[test]
    fn counts_from_the_exit_not_the_start() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        // Restarted at t0 after a first crash; it then runs a minute.
        b.next("c", t0);
        let exited = t0 + Duration::from_secs(60);
        assert_eq!(
            b.remaining("c", Some(exited), exited + Duration::from_secs(1)),
            Some(INITIAL - Duration::from_secs(1)),
            "a long run still waits its delay after exiting"
        );
        assert_eq!(b.remaining("c", Some(exited), exited + INITIAL), None);
        b.next("c", exited);
        assert_eq!(b.delay("c"), 2 * INITIAL);
        // Quiet for longer than twice the cap: back to the first delay.
        let much_later = exited + 3 * MAX;
        b.next("c", much_later);
        assert_eq!(b.delay("c"), INITIAL);
    }
}
