//! Plugins whose renders keep failing on real stores. A render that helm cannot finish, or
//! whose objects the host refuses, is the plugin's doing (a plan that merely needs more than
//! the per-store ceiling is the tenant's choice of size, and does not count). When the
//! failures in a row of one plugin version on this replica come from `threshold` different
//! store owners, its engine is disabled for new stores (as an administrator would with
//! `plugin disable`), with an audit event saying why; existing stores keep their pinned
//! version. Owners, not failures, are counted so that one tenant choosing options the plugin
//! cannot render cannot disable the engine for everyone. A successful render resets the
//! streak. Counted per replica, in memory: a restart forgives.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// The owners of the stores whose renders failed in a row, per plugin digest.
#[derive(Debug, Default)]
pub struct RenderFailures {
    /// 0: never disable.
    threshold: u32,
    streaks: Mutex<HashMap<String, BTreeSet<String>>>,
}

impl RenderFailures {
    pub fn new(threshold: u32) -> Self {
        Self {
            threshold,
            streaks: Mutex::default(),
        }
    }

    fn streaks(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeSet<String>>> {
        self.streaks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a failed render of `digest` for a store of `owner`; `true` when this one brings
    /// the streak's owners to the threshold.
    pub fn failed(&self, digest: &str, owner: &str) -> bool {
        let mut streaks = self.streaks();
        let owners = streaks.entry(digest.to_owned()).or_default();
        let new_owner = owners.insert(owner.to_owned());
        self.threshold > 0 && new_owner && owners.len() == self.threshold as usize
    }

    /// Records a successful render of `digest`.
    pub fn succeeded(&self, digest: &str) {
        self.streaks().remove(digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_reached_once_by_failures_of_different_owners_in_a_row() {
        let failures = RenderFailures::new(3);
        assert!(!failures.failed("a", "mallory"));
        assert!(
            (0..10).all(|_| !failures.failed("a", "mallory")),
            "one owner alone never reaches it"
        );
        assert!(!failures.failed("a", "bob"));
        failures.succeeded("a");
        assert!(!failures.failed("a", "mallory"));
        assert!(!failures.failed("b", "carol"));
        assert!(!failures.failed("a", "bob"));
        assert!(failures.failed("a", "carol"), "the third owner in a row");
        assert!(!failures.failed("a", "dave"), "reported once");
        let never = RenderFailures::new(0);
        assert!((0..10).all(|i| !never.failed("a", &i.to_string())));
    }
}
