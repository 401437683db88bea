//! Exponential backoff with jitter for retrying transient failures: the n-th retry waits a
//! random time between half and all of `base · 2ⁿ`, capped, so retries of many jobs that
//! failed together spread out instead of hitting the cluster in step.

use std::time::Duration;

/// The wait before retry number `attempt` (0-based); `unit` in [0, 1) is the random draw.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let exponential = base.saturating_mul(1_u32 << attempt.min(20)).min(cap);
    exponential.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_cap() {
        let base = Duration::from_millis(200);
        let cap = Duration::from_secs(30);
        assert_eq!(backoff(0, base, cap, 0.0), Duration::from_millis(100));
        assert_eq!(backoff(0, base, cap, 1.0), Duration::from_millis(200));
        assert_eq!(backoff(3, base, cap, 1.0), Duration::from_millis(1600));
        assert_eq!(backoff(30, base, cap, 1.0), cap);
        assert!(backoff(30, base, cap, 0.0) >= cap / 2);
    }
}
