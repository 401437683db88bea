//! Records and parameters of the [`super::Db`] methods.

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use super::jobs::JobKind;
use serde::Serialize;

pub use crate::domain::{Role, StoreId, StoreStatus, UserId};

/// A user account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// A user to create (already validated and hashed).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: crate::domain::Email,
    pub username: crate::domain::Username,
    pub password_hash: String,
}

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("a user with this email or username already exists")]
    Exists,
    #[error(transparent)]
    Db(#[from] super::DbError),
}

/// A store.
#[derive(Debug, Clone, PartialEq)]
pub struct Store {
    pub id: StoreId,
    pub owner_id: UserId,
    pub name: String,
    pub engine: String,
    pub options: serde_json::Value,
    pub status: StoreStatus,
    pub version: i64,
    pub plugin_version: Option<String>,
    pub plugin_digest: Option<String>,
    pub endpoints: serde_json::Value,
    pub failure_reason: Option<String>,
    pub retry_count: i32,
    pub current_step: Option<String>,
    /// When `current_step` began.
    pub step_started_at: Option<DateTime<Utc>>,
    /// The provisioning record (pinned plan, steps done); see `lifecycle`.
    pub progress: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Its owner keeps it on its engine version: rollouts pass it by (unless told not to).
    pub pinned: bool,
}

/// A store to create.
#[derive(Debug, Clone)]
pub struct NewStore {
    pub id: StoreId,
    pub owner_id: UserId,
    pub name: crate::domain::StoreName,
    pub engine: String,
    pub options: serde_json::Value,
    pub plugin_version: Option<String>,
    pub plugin_digest: Option<String>,
}

/// Guardrails checked inside the store-creation transaction.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    /// Most non-deleted stores per user.
    pub max_active: u32,
    /// Least time between two store creations of one user (zero disables).
    pub cooldown: Duration,
}

/// Why a store could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateStoreError {
    #[error("store limit of {limit} reached")]
    LimitExceeded { limit: u32 },
    #[error("creation cooldown: retry in {retry_after:?}")]
    Cooldown { retry_after: Duration },
    #[error("you already have a store with this name")]
    NameTaken,
    #[error(transparent)]
    Db(#[from] super::DbError),
}

/// Who did something, from where, in which request.
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    pub actor_id: Option<UserId>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

/// An audit event to record. `details` must never hold secrets.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub context: AuditContext,
    pub store_id: Option<StoreId>,
    /// Owner of the store concerned, so tenants can read their stores' history.
    pub store_owner: Option<UserId>,
    pub action: String,
    pub from_status: Option<StoreStatus>,
    pub to_status: Option<StoreStatus>,
    pub message: String,
    pub details: serde_json::Value,
}

impl NewAudit {
    /// An event with no store and empty details.
    pub fn new(context: AuditContext, action: &str, message: impl Into<String>) -> Self {
        Self {
            context,
            store_id: None,
            store_owner: None,
            action: action.to_owned(),
            from_status: None,
            to_status: None,
            message: message.into(),
            details: serde_json::json!({}),
        }
    }
}

/// A recorded audit event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub actor_id: Option<String>,
    pub store_id: Option<String>,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
}

/// Which audit events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Restrict to events by this user or about this user's stores (tenants).
    pub visible_to: Option<UserId>,
    pub store_id: Option<StoreId>,
    pub action: Option<String>,
    /// Only events this user caused.
    pub actor: Option<UserId>,
    pub limit: u32,
    pub offset: u32,
}

/// Which stores to list.
#[derive(Debug, Clone, Default)]
pub struct StoreFilter {
    pub owner: Option<UserId>,
    /// Without a status, deleted stores are left out.
    pub status: Option<StoreStatus>,
    pub engine: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// A user and the number of stores they hold (not counting deleted ones): the admin's list.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub user: User,
    pub active_stores: i64,
}

/// One page of a list and the total count.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// A durable job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub store_id: String,
    pub kind: String,
    pub state: String,
    pub step: Option<String>,
    pub attempt: i32,
    pub request_id: Option<String>,
    pub run_after: DateTime<Utc>,
}

/// Changes to apply with a transition.
#[derive(Debug, Clone, Default)]
pub struct StorePatch {
    /// `Some(None)` clears the failure reason.
    pub failure_reason: Option<Option<String>>,
    pub endpoints: Option<serde_json::Value>,
    pub increment_retry: bool,
    /// New options (an upgrade or resize that finished).
    pub options: Option<serde_json::Value>,
    /// New provisioning record (an upgrade's target, set as it is requested).
    pub progress: Option<serde_json::Value>,
}

/// A compare-and-set transition.
#[derive(Debug, Clone)]
pub struct Transition {
    pub store_id: StoreId,
    pub from: StoreStatus,
    pub expected_version: i64,
    pub to: StoreStatus,
    pub patch: StorePatch,
    pub audit: NewAudit,
    /// Cancel the store's open job first (a delete cancels provisioning).
    pub cancel_open_job: bool,
    /// Enqueue a job of this kind.
    pub enqueue: Option<JobKind>,
}

/// Why a transition did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error("store not found")]
    NotFound,
    #[error("cannot go from {from} to {to}")]
    Invalid { from: StoreStatus, to: StoreStatus },
    #[error("the store changed concurrently (now {current})")]
    Conflict { current: StoreStatus },
    #[error(transparent)]
    Db(#[from] super::DbError),
}

/// An uploaded plugin version to keep.
#[derive(Debug, Clone)]
pub struct NewPlugin {
    pub engine: String,
    pub version: String,
    pub digest: String,
    pub wasm: Vec<u8>,
    pub uploaded_by: Option<UserId>,
}

/// A stored plugin version.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRecord {
    pub engine: String,
    pub version: String,
    pub digest: String,
    pub wasm: Vec<u8>,
    pub active: bool,
    pub uploaded_by: Option<String>,
    pub created_at: DateTime<Utc>,
}
