//! Reading the audit log: admins see every event, anyone else the events they caused or that
//! concern their stores, without the details only administrators may read.

use std::sync::Arc;

use crate::db::{AuditEvent, AuditFilter, Db, DbError, Page, Store};
use crate::domain::Role;
use crate::tenancy::Caller;

/// A key of an event's details that only administrators see: what helm said about a failed
/// render (`store.render_failed`), which can hold the operator's overlay values.
const ADMIN_ONLY_DETAIL: &str = "detail";

/// The audit log as each caller may read it.
#[derive(Debug, Clone)]
pub struct AuditLog {
    db: Arc<dyn Db>,
}

impl AuditLog {
    pub fn new(db: Arc<dyn Db>) -> Self {
        Self { db }
    }

    /// One page of the events that match `filter` among those `caller` may read (its
    /// `visible_to` is set from the caller).
    pub async fn list(
        &self,
        caller: &Caller,
        mut filter: AuditFilter,
    ) -> Result<Page<AuditEvent>, DbError> {
        filter.visible_to = (caller.role != Role::Admin).then(|| caller.id.clone());
        let found = self.db.list_audit(&filter).await?;
        Ok(shown_to(caller, found))
    }

    /// One page of `store`'s history, every event about it (the caller was allowed to read
    /// the store: [`super::StoreService::get`]).
    pub async fn history_of(
        &self,
        caller: &Caller,
        store: &Store,
        limit: u32,
        offset: u32,
    ) -> Result<Page<AuditEvent>, DbError> {
        let filter = AuditFilter {
            store_id: Some(store.id.clone()),
            limit,
            offset,
            ..AuditFilter::default()
        };
        let found = self.db.list_audit(&filter).await?;
        Ok(shown_to(caller, found))
    }
}

/// `found` without the details `caller` may not read.
fn shown_to(caller: &Caller, mut found: Page<AuditEvent>) -> Page<AuditEvent> {
    if caller.role != Role::Admin {
        for event in &mut found.items {
            if let Some(details) = event.details.as_object_mut() {
                details.remove(ADMIN_ONLY_DETAIL);
            }
        }
    }
    found
}
