//! Store change notifications inside one process: every transition, step and progress change
//! made here is published, so event streams (`GET /stores/:id/events`) answer at once. Other
//! replicas' changes reach streams through their periodic re-read of the database.

use tokio::sync::broadcast;

use crate::domain::StoreId;

/// Which store changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreChanged(pub StoreId);

/// The hub: cheap to clone, publishing never blocks (slow listeners miss events and re-read).
#[derive(Debug, Clone)]
pub struct StoreEvents {
    sender: broadcast::Sender<StoreChanged>,
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
}
