//! Plugins whose renders keep failing on real stores. A render that helm cannot finish, or
//! whose objects the host refuses, is the plugin's doing (a plan that merely needs more than
//! the per-store ceiling is the tenant's choice of size, and does not count). After
//! `threshold` such failures in a row of one plugin version on this replica, its engine is
//! disabled for new stores (as an administrator would with `plugin disable`), with an audit
//! event saying why; existing stores keep their pinned version. A successful render resets the
//! count. Counted per replica, in memory: a restart forgives.

use std::collections::HashMap;
use std::sync::Mutex;

/// Consecutive render failures per plugin digest.
#[derive(Debug, Default)]
pub struct RenderFailures {
    /// 0: never disable.
    threshold: u32,
    counts: Mutex<HashMap<String, u32>>,
}

impl RenderFailures {
    pub fn new(threshold: u32) -> Self {
        Self {
            threshold,
            counts: Mutex::default(),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a failed render of `digest`; `true` when this one reaches the threshold.
    pub fn failed(&self, digest: &str) -> bool {
        let mut counts = self.counts();
        let count = counts.entry(digest.to_owned()).or_insert(0);
        *count += 1;
        self.threshold > 0 && *count == self.threshold
    }

    /// Records a successful render of `digest`.
    pub fn succeeded(&self, digest: &str) {
        self.counts().remove(digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_reached_once_by_failures_in_a_row() {
        let failures = RenderFailures::new(3);
        assert!(!failures.failed("a"));
        assert!(!failures.failed("a"));
        failures.succeeded("a");
        assert!(!failures.failed("a"));
        assert!(!failures.failed("b"));
        assert!(!failures.failed("a"));
        assert!(failures.failed("a"), "the third in a row");
        assert!(!failures.failed("a"), "reported once");
        let never = RenderFailures::new(0);
        assert!((0..10).all(|_| !never.failed("a")));
    }
}
