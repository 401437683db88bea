//! Persistence: the [`Db`] trait with one method per use case, and its PostgreSQL and SQLite
//! implementations: SQL both dialects accept written once (`shared.rs`, `rollouts.rs`), the
//! real differences per dialect, separate migration histories under `migrations/`.
//!
//! Invariants live in the database where it can hold them: unique e-mails and usernames, one
//! live store name per owner (partial unique index), one open job per store, the bootstrap
//! admin claimed exactly once (an insert-if-absent in `settings`), and every store transition a
//! compare-and-set on (status, version) in the same transaction as its audit event and jobs.
//! Only this module imports sqlx.

mod jobs;
mod postgres;
mod postgres_jobs;
mod rollouts;
mod rows;
mod shared;
mod shared_jobs;
mod sqlite;
mod sqlite_jobs;
mod types;

use std::sync::Arc;

pub use jobs::{ClaimedJob, JobChange, JobQueue, JobTransition, JobUpdate};
pub use rollouts::{
    CreateRolloutError, MemberState, NewMember, NewRollout, Rollout, RolloutMember, RolloutState,
    RolloutStore,
};
pub use types::*;

/// Failure of the database itself (connection, SQL, decoding).
#[derive(Debug, thiserror::Error)]
#[error("database error: {0}")]
pub struct DbError(String);

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        Self(err.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for DbError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self(format!("migration failed: {err}"))
    }
}

/// What a committed change touched; see [`Db::change_feed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    Store(StoreId),
    User(UserId),
    /// The feed's connection was lost and made again: changes committed meanwhile were not
    /// announced (whoever keeps copies must drop them).
    Missed,
}

/// Changes as they are committed; see [`Db::change_feed`].
pub type ChangeFeed = futures::stream::BoxStream<'static, Result<Changed>>;

/// A pooled PostgreSQL connection idle for longer than this is pinged before it is used.
const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Result alias of the persistence layer.
pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// Which backend a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Everything the control plane stores. One method per use case; every method is exercised by
/// the story test against both backends.
#[async_trait::async_trait]
pub trait Db: JobQueue + RolloutStore + Send + Sync + std::fmt::Debug {
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;
    /// A trivial query, for health checks.
    async fn ping(&self) -> Result<()>;
    /// Closes the pool (graceful shutdown).
    async fn close(&self);

    /// Creates a user and records the audit event. The first user ever created becomes admin
    /// (exactly once, whatever the concurrency); `force_admin` makes this one an admin anyway
    /// (`storeplane admin create`).
    async fn create_user(
        &self,
        user: NewUser,
        force_admin: bool,
        audit: AuditContext,
    ) -> Result<User, CreateUserError>;
    async fn user_by_id(&self, id: &UserId) -> Result<Option<User>>;
    async fn user_by_email(&self, email: &str) -> Result<Option<User>>;
    /// The e-mail addresses of the users among `ids` (unknown ids are left out).
    async fn user_emails(
        &self,
        ids: &[UserId],
    ) -> Result<std::collections::HashMap<UserId, String>>;
    /// Users, oldest first, each with their number of stores that are not deleted.
    async fn list_users(&self, limit: u32, offset: u32) -> Result<Page<UserSummary>>;

    /// The stores and users as any connection (any replica) commits a change to them, for
    /// event streams to hear of other replicas' work at once and for cached users to be
    /// dropped (PostgreSQL: `LISTEN` on channels triggers notify). `None` where one process is
    /// the only writer (SQLite). The stream ends when the pool closes. A lost connection is
    /// made again at once and reported as [`Changed::Missed`]; an error means it could not be
    /// made again yet (changes are missed until it is).
    async fn change_feed(&self) -> Result<Option<ChangeFeed>>;
    /// Activates or deactivates a user, recording `audit` in the same transaction; `None` if
    /// there is no such user. A user who already is in that state is returned unchanged, and
    /// nothing is recorded.
    async fn set_user_active(
        &self,
        id: &UserId,
        active: bool,
        audit: NewAudit,
    ) -> Result<Option<User>>;

    /// Inserts a `requested` store, its audit event and its provision job, after checking the
    /// owner's active-store limit and creation cooldown in the same transaction.
    async fn create_store(
        &self,
        store: NewStore,
        limits: StoreLimits,
        audit: AuditContext,
    ) -> Result<Store, CreateStoreError>;
    async fn store(&self, id: &StoreId) -> Result<Option<Store>>;
    async fn list_stores(&self, filter: &StoreFilter) -> Result<Page<Store>>;
    /// Compare-and-set transition with its audit event and job changes, in one transaction.
    async fn transition_store(&self, transition: Transition) -> Result<Store, TransitionError>;
    /// Pins a store to its engine version or unpins it, with `audit`; `None` if there is no
    /// such store.
    async fn set_store_pinned(
        &self,
        id: &StoreId,
        pinned: bool,
        audit: NewAudit,
    ) -> Result<Option<Store>>;
    /// Number of stores per status (for the metrics gauge).
    async fn count_stores_by_status(&self) -> Result<Vec<(StoreStatus, i64)>>;

    /// Records an audit event that is not part of a transition (auth, plugin, admin actions).
    async fn record_audit(&self, event: NewAudit) -> Result<()>;
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Page<AuditEvent>>;

    /// Number of jobs per `(kind, state)` (for the metrics gauge).
    async fn count_jobs(&self) -> Result<Vec<(String, String, i64)>>;
    /// The queued or running job of a store, if any.
    async fn open_job(&self, store: &StoreId) -> Result<Option<Job>>;

    /// Stores an uploaded plugin version (idempotent for the same digest).
    async fn save_plugin(&self, plugin: NewPlugin) -> Result<()>;
    /// Marks `engine@version` active and every other version of the engine registered.
    async fn mark_plugin_active(&self, engine: &str, version: &str) -> Result<bool>;
    async fn list_plugins(&self) -> Result<Vec<PluginRecord>>;
    /// The stored upload with `digest`, or else `engine@version` (another replica's upload,
    /// which this one has not registered yet).
    async fn find_plugin(
        &self,
        digest: &str,
        engine: &str,
        version: &str,
    ) -> Result<Option<PluginRecord>>;

    async fn setting(&self, key: &str) -> Result<Option<String>>;
    /// Stores `value` unless `key` exists; returns the stored value either way.
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String>;
    async fn put_setting(&self, key: &str, value: &str) -> Result<()>;
}

/// Connects to `url` (`postgres://…` or `sqlite://…`), creating a SQLite file when missing.
pub async fn connect(url: &str) -> Result<Arc<dyn Db>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgDb::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteDb::connect(url).await?))
    } else {
        Err(DbError(format!(
            "unsupported database URL scheme (use postgres:// or sqlite://): {}",
            redact_url(url)
        )))
    }
}

/// `url` without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("REDACTED"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
