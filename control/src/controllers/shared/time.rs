//! API timestamps: whole seconds, as the API serializes them, so that a
//! status computed here compares equal to the one read back.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

pub fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// Nanoseconds from `earlier` to `later` (negative if it is not earlier).
pub fn nanos_between(earlier: Timestamp, later: Timestamp) -> i128 {
    later.as_nanosecond() - earlier.as_nanosecond()
}

/// `ts` plus `secs` seconds, saturating at the ends of the range.
pub fn plus_seconds(ts: Timestamp, secs: i64) -> Timestamp {
    ts.checked_add(SignedDuration::from_secs(secs))
        .unwrap_or(if secs < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        })
}
