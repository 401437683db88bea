//! Store change notifications: every transition, step and progress change made in this process
//! is published, so event streams (`GET /stores/:id/events`) answer at once. With PostgreSQL the
//! hub also follows the database's change feed, so changes made by other replicas arrive just
//! as fast; streams then re-read the database only rarely, as a safety net for notifications
//! lost while the feed's connection was being re-made. The same feed drops changed users from
//! the cache of authenticated users.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::broadcast;

use super::user_cache::UserCache;
use crate::db::{ChangeFeed, Changed};
use crate::domain::StoreId;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChanged {
    /// This store.
    One(StoreId),
    /// Any store may have: the database's change feed lost its connection, and changes
    /// committed meanwhile were not announced. Listeners look at everything again.
    Unknown,
}

/// The hub: cheap to clone, publishing never blocks (slow listeners miss events and re-read).
#[derive(Debug, Clone)]
pub struct StoreEvents {
    sender: broadcast::Sender<StoreChanged>,
    /// Whether a database change feed is being followed right now.
    following: Arc<AtomicBool>,
    /// How many changes were published (and feed interruptions seen): a cached read is
    /// current while this is what it was when the read began.
    changes: Arc<AtomicU64>,
}

impl Default for StoreEvents {
    fn default() -> Self {
        Self::new()
    }
}

impl StoreEvents {
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(1024).0,
            following: Arc::new(AtomicBool::new(false)),
            changes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many changes were published (and feed interruptions seen) so far: a cached read
    /// is current while this is what it was when the read began.
    pub fn change_count(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Announces a change of `store`.
    pub fn publish(&self, store: &StoreId) {
        // Counted before anyone is told, so a cached read that began earlier is retired
        // before the operation that made the change answers.
        self.changes.fetch_add(1, Ordering::AcqRel);
        // No listener is fine.
        let _ = self.sender.send(StoreChanged::One(store.clone()));
    }

    /// Announces that changes were missed (listeners re-read everything).
    fn publish_unknown(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        let _ = self.sender.send(StoreChanged::Unknown);
    }

    /// Changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<StoreChanged> {
        self.sender.subscribe()
    }

    /// Whether changes made by other replicas are heard as they happen.
    pub fn hears_other_replicas(&self) -> bool {
        self.following.load(Ordering::Relaxed)
    }

    /// Publishes every store change the database's feed reports and drops every changed user
    /// from `users`, until the feed ends (the pool closed at shutdown). A feed error (its
    /// connection lost and not yet re-made) is waited out; meanwhile streams fall back to
    /// re-reading often, and `users` is emptied and bypassed until the feed is heard again.
    pub async fn follow(self, mut feed: ChangeFeed, users: Arc<UserCache>) {
        self.following.store(true, Ordering::Relaxed);
        users.changes_heard();
        while let Some(change) = feed.next().await {
            match change {
                Ok(change) => {
                    if !self.following.swap(true, Ordering::Relaxed) {
                        // Heard again after an interruption: what changed meanwhile is unknown.
                        self.publish_unknown();
                        users.changes_heard();
                    }
                    match change {
                        Changed::Store(store) => self.publish(&store),
                        Changed::User(user) => users.forget(&user),
                        Changed::Missed => {
                            // Listening again already: what was cached before is retired,
                            // and streams look at every store again now, not at their next
                            // periodic re-read.
                            tracing::warn!("change feed reconnected; cached reads dropped");
                            self.publish_unknown();
                            users.changes_missed();
                            users.changes_heard();
                        }
                    }
                }
                Err(err) => {
                    self.following.store(false, Ordering::Relaxed);
                    // Changes are missed until the connection is re-made: cached reads retire.
                    self.changes.fetch_add(1, Ordering::AcqRel);
                    users.changes_missed();
                    tracing::warn!(error = %err, "change feed interrupted; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        self.following.store(false, Ordering::Relaxed);
        users.changes_missed();
    }
}
