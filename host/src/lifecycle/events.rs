//! Store change notifications: every transition, step and progress change made in this process
//! is published, so event streams (`GET /stores/:id/events`) answer at once. With PostgreSQL the
//! hub also follows the database's change feed, so changes made by other replicas arrive just
//! as fast; streams then re-read the database only rarely, as a safety net for notifications
//! lost while the feed's connection was being re-made.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::broadcast;

use crate::db::StoreChangeFeed;
use crate::domain::StoreId;

/// Which store changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreChanged(pub StoreId);

/// The hub: cheap to clone, publishing never blocks (slow listeners miss events and re-read).
#[derive(Debug, Clone)]
pub struct StoreEvents {
    sender: broadcast::Sender<StoreChanged>,
    /// Whether a database change feed is being followed right now.
    following: Arc<AtomicBool>,
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
        }
    }

    /// Announces a change of `store`.
    pub fn publish(&self, store: &StoreId) {
        // No listener is fine.
        let _ = self.sender.send(StoreChanged(store.clone()));
    }

    /// Changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<StoreChanged> {
        self.sender.subscribe()
    }

    /// Whether changes made by other replicas are heard as they happen.
    pub fn hears_other_replicas(&self) -> bool {
        self.following.load(Ordering::Relaxed)
    }

    /// Publishes every change the database's feed reports, until the feed ends (the pool
    /// closed at shutdown). A feed error (its connection lost and not yet re-made) is waited
    /// out; meanwhile streams fall back to re-reading often.
    pub async fn follow(self, mut feed: StoreChangeFeed) {
        self.following.store(true, Ordering::Relaxed);
        while let Some(change) = feed.next().await {
            match change {
                Ok(store) => {
                    self.following.store(true, Ordering::Relaxed);
                    self.publish(&store);
                }
                Err(err) => {
                    self.following.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %err, "store change feed interrupted; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        self.following.store(false, Ordering::Relaxed);
    }
}
