//! Pages of store lists kept in memory: dashboards poll `GET /stores` every few seconds, and
//! reading the same unchanged page from the database was most of the cost of that request.
//!
//! An entry remembers the store-change count of the [`super::StoreEvents`] hub when its read
//! began, and is served only while that count is unchanged: any change to any store (this
//! replica's, published before the operation answers; another replica's, through the change
//! feed) retires every entry at once. Entries are kept and served only while the hub hears
//! every change, i.e. while the database's change feed (PostgreSQL, trigger-backed) is
//! followed; without it lists are read from the database each time. Entries also expire after
//! [`TIME_TO_LIVE`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::{Page, Store, StoreFilter};
use crate::domain::{StoreStatus, UserId};

/// How long an entry is served at most, changes or not.
const TIME_TO_LIVE: Duration = Duration::from_secs(10);

/// Most pages kept; when full the cache starts over.
const CAPACITY: usize = 4096;

/// What identifies a page: every field of the filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    owner: Option<UserId>,
    status: Option<StoreStatus>,
    engine: Option<String>,
    limit: u32,
    offset: u32,
}

impl From<&StoreFilter> for Key {
    fn from(filter: &StoreFilter) -> Self {
        Self {
            owner: filter.owner.clone(),
            status: filter.status,
            engine: filter.engine.clone(),
            limit: filter.limit,
            offset: filter.offset,
        }
    }
}

/// A page, with the change count its read began at and when it was read.
#[derive(Debug)]
struct Entry {
    changes: u64,
    read_at: Instant,
    page: Arc<Page<Store>>,
}

/// The cache; see the module documentation.
#[derive(Debug, Default)]
pub(super) struct ListCache {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl ListCache {
    /// The page for `filter` if it was read while the change count was `changes` (the
    /// current count) less than [`TIME_TO_LIVE`] ago.
    pub(super) fn get(
        &self,
        filter: &StoreFilter,
        changes: u64,
        now: Instant,
    ) -> Option<Arc<Page<Store>>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&Key::from(filter))
            .filter(|e| {
                e.changes == changes && now.saturating_duration_since(e.read_at) < TIME_TO_LIVE
            })
            .map(|e| Arc::clone(&e.page))
    }

    /// Keeps `page`, read for `filter` from a read that began at change count `changes`.
    pub(super) fn put(
        &self,
        filter: &StoreFilter,
        changes: u64,
        page: Arc<Page<Store>>,
        now: Instant,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Pages of an older count are never served again: dropped when one is added.
        entries.retain(|_, e| e.changes == changes);
        let key = Key::from(filter);
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                changes,
                read_at: now,
                page,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(owner: &str) -> StoreFilter {
        StoreFilter {
            owner: Some(UserId(owner.into())),
            limit: 50,
            ..StoreFilter::default()
        }
    }

    fn page(total: i64) -> Arc<Page<Store>> {
        Arc::new(Page {
            items: Vec::new(),
            total,
        })
    }

    #[test]
    fn a_page_is_served_only_at_the_change_count_it_was_read_at_and_for_its_own_filter() {
        let cache = ListCache::default();
        let now = Instant::now();
        cache.put(&filter("ann"), 7, page(3), now);
        assert_eq!(cache.get(&filter("ann"), 7, now).map(|p| p.total), Some(3));
        assert!(cache.get(&filter("bob"), 7, now).is_none());
        assert!(
            cache.get(&filter("ann"), 8, now).is_none(),
            "a store changed"
        );
        assert!(
            cache.get(&filter("ann"), 7, now + TIME_TO_LIVE).is_none(),
            "expired"
        );
        let mut other_page = filter("ann");
        other_page.offset = 50;
        assert!(cache.get(&other_page, 7, now).is_none());
    }
}
