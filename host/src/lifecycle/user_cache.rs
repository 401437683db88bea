//! The users behind API tokens, kept in memory: every authenticated request needs its caller's
//! row (a deactivated account must be refused at once), and reading it from the database was
//! most of the cost of a cheap request.
//!
//! An entry is trusted only while every change to users is heard: in a process that is the
//! database's only writer (SQLite) that is always; with PostgreSQL, while the change feed is
//! followed (its trigger announces every update of a user to every replica). When the feed's
//! connection is lost the cache is emptied and bypassed until the feed is heard from again.
//! Entries also expire after [`TIME_TO_LIVE`], a bound on how long any missed notification
//! could matter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::db::User;
use crate::domain::UserId;

/// How long an entry is used before the user is read again.
pub(super) const TIME_TO_LIVE: Duration = Duration::from_secs(30);

/// Most users kept; when full the cache starts over (tokens of this many distinct users within
/// [`TIME_TO_LIVE`] means a large platform, where a re-read of each is cheap in comparison).
const CAPACITY: usize = 10_000;

/// Users by id, with when each was read.
#[derive(Debug)]
pub struct UserCache {
    entries: Mutex<HashMap<UserId, (User, Instant)>>,
    /// Whether every change to a user reaches [`UserCache::forget`] now.
    trusted: AtomicBool,
    /// Bumped by every forget: a read that began before it must not store what it read.
    generation: AtomicU64,
}

/// A read of a user that may be stored once done; see [`UserCache::begin_read`].
#[derive(Debug, Clone, Copy)]
pub struct PendingRead {
    generation: u64,
    trusted: bool,
}

impl UserCache {
    /// An empty cache; `trusted` says whether changes are heard from the start.
    pub fn new(trusted: bool) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            trusted: AtomicBool::new(trusted),
            generation: AtomicU64::new(0),
        }
    }

    /// The cached user `id` (without its password hash), if it was read less than 30 s
    /// (`TIME_TO_LIVE`) ago and the cache is trusted.
    pub fn get(&self, id: &UserId, now: Instant) -> Option<User> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(id)
            .filter(|(_, read_at)| now.saturating_duration_since(*read_at) < TIME_TO_LIVE)
            .map(|(user, _)| user.clone())
    }

    /// Call before reading a user from the database; pass the result to [`UserCache::store`].
    pub fn begin_read(&self) -> PendingRead {
        PendingRead {
            generation: self.generation.load(Ordering::Acquire),
            trusted: self.trusted.load(Ordering::Acquire),
        }
    }

    /// Keeps `user`, read after `read` began, unless a change was heard meanwhile.
    pub fn store(&self, read: PendingRead, user: &User, now: Instant) {
        if !read.trusted {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock that `forget` bumps the generation under.
        if self.generation.load(Ordering::Acquire) != read.generation {
            return;
        }
        if entries.len() >= CAPACITY && !entries.contains_key(&user.id) {
            entries.clear();
        }
        // The password hash is not needed to serve a token's requests: not kept.
        let kept = User {
            password_hash: String::new(),
            ..user.clone()
        };
        entries.insert(user.id.clone(), (kept, now));
    }

    /// Drops user `id` (it changed).
    pub fn forget(&self, id: &UserId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(id);
    }

    /// Changes may be missed from now on (the change feed's connection was lost): empties the
    /// cache and stops using it until [`UserCache::changes_heard`].
    pub fn changes_missed(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.trusted.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Every change is heard again.
    pub fn changes_heard(&self) {
        self.trusted.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn user(id: &str) -> User {
        User {
            id: UserId(id.to_owned()),
            email: format!("{id}@example.com"),
            username: id.to_owned(),
            password_hash: String::new(),
            role: Role::Tenant,
            active: true,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_user_read_before_a_change_is_not_kept() {
        let cache = UserCache::new(true);
        let now = Instant::now();
        let read = cache.begin_read();
        cache.forget(&UserId("a".into()));
        cache.store(read, &user("a"), now);
        assert!(cache.get(&UserId("a".into()), now).is_none());
        let read = cache.begin_read();
        cache.store(read, &user("a"), now);
        assert!(cache.get(&UserId("a".into()), now).is_some());
    }

    #[test]
    fn entries_expire_and_a_lost_feed_empties_the_cache_until_heard_again() {
        let cache = UserCache::new(true);
        let now = Instant::now();
        cache.store(cache.begin_read(), &user("a"), now);
        assert!(cache.get(&UserId("a".into()), now + TIME_TO_LIVE).is_none());
        assert!(cache.get(&UserId("a".into()), now).is_some());
        cache.changes_missed();
        assert!(cache.get(&UserId("a".into()), now).is_none());
        cache.store(cache.begin_read(), &user("a"), now);
        assert!(
            cache.get(&UserId("a".into()), now).is_none(),
            "not kept while untrusted"
        );
        cache.changes_heard();
        cache.store(cache.begin_read(), &user("a"), now);
        assert!(cache.get(&UserId("a".into()), now).is_some());
    }
}
