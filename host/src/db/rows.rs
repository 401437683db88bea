//! Row shapes shared by both backends (sqlx decodes them from either) and their conversion
//! into records. A value the schema's CHECK constraints should have made impossible surfaces as
//! a [`DbError`], never a panic.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{
    AuditEvent, DbError, Job, Page, PluginRecord, Role, Store, StoreId, StoreStatus, User, UserId,
    UserSummary,
};

fn json(text: &str, column: &str) -> Result<serde_json::Value, DbError> {
    serde_json::from_str(text)
        .map_err(|err| DbError(format!("column {column} holds invalid JSON: {err}")))
}

fn status(text: &str) -> Result<StoreStatus, DbError> {
    StoreStatus::parse(text).ok_or_else(|| DbError(format!("unknown store status {text:?}")))
}

#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// A `users` row and its count of stores that are not deleted.
#[derive(Debug, sqlx::FromRow)]
pub struct UserSummaryRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub active_stores: i64,
}

impl TryFrom<UserSummaryRow> for UserSummary {
    type Error = DbError;
    fn try_from(row: UserSummaryRow) -> Result<Self, DbError> {
        Ok(UserSummary {
            user: User::try_from(row.user)?,
            active_stores: row.active_stores,
        })
    }
}

/// `(id, email)` rows as a map from user id to e-mail address.
pub(super) fn email_map(rows: Vec<(String, String)>) -> HashMap<UserId, String> {
    rows.into_iter()
        .map(|(id, email)| (UserId(id), email))
        .collect()
}

/// Users with their store counts, oldest first, ending in the dialect's `paging` clause.
pub(super) fn list_users_sql(paging: &str) -> String {
    format!(
        "SELECT {USER_COLUMNS}, (SELECT COUNT(*) FROM stores \
         WHERE stores.owner_id = users.id AND stores.status <> 'deleted') AS active_stores \
         FROM users ORDER BY created_at, id {paging}"
    )
}

impl TryFrom<UserRow> for User {
    type Error = DbError;
    fn try_from(row: UserRow) -> Result<Self, DbError> {
        Ok(User {
            role: Role::parse(&row.role)
                .ok_or_else(|| DbError(format!("unknown role {:?}", row.role)))?,
            id: UserId(row.id),
            email: row.email,
            username: row.username,
            password_hash: row.password_hash,
            active: row.active,
            created_at: row.created_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct StoreRow {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub engine: String,
    pub options: String,
    pub status: String,
    pub version: i64,
    pub plugin_version: Option<String>,
    pub plugin_digest: Option<String>,
    pub endpoints: String,
    pub failure_reason: Option<String>,
    pub retry_count: i32,
    pub current_step: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub progress: String,
    pub step_started_at: Option<DateTime<Utc>>,
    pub pinned: bool,
}

/// A row of a store list with the number of rows the whole list has (`COUNT(*) OVER ()`): one
/// statement for a page and its total.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct CountedStoreRow {
    #[sqlx(flatten)]
    pub(super) store: StoreRow,
    pub(super) total: i64,
}

/// A page of stores from counted rows; `count` gives the total when the page is empty (past
/// the end, where no row carries it).
pub(super) async fn store_page<F>(
    rows: Vec<CountedStoreRow>,
    offset: u32,
    count: F,
) -> Result<Page<Store>, DbError>
where
    F: std::future::Future<Output = Result<i64, DbError>>,
{
    let total = match rows.first() {
        Some(row) => row.total,
        None if offset == 0 => 0,
        None => count.await?,
    };
    Ok(Page {
        items: rows
            .into_iter()
            .map(|row| Store::try_from(row.store))
            .collect::<Result<_, _>>()?,
        total,
    })
}

impl TryFrom<StoreRow> for Store {
    type Error = DbError;
    fn try_from(row: StoreRow) -> Result<Self, DbError> {
        Ok(Store {
            id: StoreId::parse(&row.id)
                .ok_or_else(|| DbError(format!("invalid store id {:?}", row.id)))?,
            owner_id: UserId(row.owner_id),
            name: row.name,
            engine: row.engine,
            options: json(&row.options, "stores.options")?,
            status: status(&row.status)?,
            version: row.version,
            plugin_version: row.plugin_version,
            plugin_digest: row.plugin_digest,
            endpoints: json(&row.endpoints, "stores.endpoints")?,
            failure_reason: row.failure_reason,
            retry_count: row.retry_count,
            current_step: row.current_step,
            step_started_at: row.step_started_at,
            progress: json(&row.progress, "stores.progress")?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            ready_at: row.ready_at,
            deleted_at: row.deleted_at,
            pinned: row.pinned,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct AuditRow {
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
    pub details: String,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = DbError;
    fn try_from(row: AuditRow) -> Result<Self, DbError> {
        Ok(AuditEvent {
            details: json(&row.details, "audit_events.details")?,
            id: row.id,
            created_at: row.created_at,
            actor_id: row.actor_id,
            store_id: row.store_id,
            action: row.action,
            from_status: row.from_status,
            to_status: row.to_status,
            message: row.message,
            request_id: row.request_id,
            ip: row.ip,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub store_id: String,
    pub kind: String,
    pub state: String,
    pub step: Option<String>,
    pub attempt: i32,
    pub request_id: Option<String>,
    pub run_after: DateTime<Utc>,
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Self {
        Job {
            id: row.id,
            store_id: row.store_id,
            kind: row.kind,
            state: row.state,
            step: row.step,
            attempt: row.attempt,
            request_id: row.request_id,
            run_after: row.run_after,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct PluginRow {
    pub engine: String,
    pub version: String,
    pub digest: String,
    pub wasm: Vec<u8>,
    pub state: String,
    pub uploaded_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<PluginRow> for PluginRecord {
    fn from(row: PluginRow) -> Self {
        PluginRecord {
            active: row.state == "active",
            engine: row.engine,
            version: row.version,
            digest: row.digest,
            wasm: row.wasm,
            uploaded_by: row.uploaded_by,
            created_at: row.created_at,
        }
    }
}

/// Columns of `stores`, in `StoreRow` order.
pub(super) const STORE_COLUMNS: &str = "id, owner_id, name, engine, options, status, version, plugin_version, plugin_digest, \
     endpoints, failure_reason, retry_count, current_step, created_at, updated_at, ready_at, deleted_at, progress, step_started_at, pinned";

/// Columns of `audit_events`, in `AuditRow` order.
pub(super) const AUDIT_COLUMNS: &str = "id, created_at, actor_id, store_id, action, from_status, to_status, message, request_id, ip, details";

/// Columns of `jobs`, in `JobRow` order.
pub(super) const JOB_COLUMNS: &str =
    "id, store_id, kind, state, step, attempt, request_id, run_after";

/// Columns of `users`, in `UserRow` order.
pub(super) const USER_COLUMNS: &str =
    "id, email, username, password_hash, role, active, created_at";

/// How long until `last` + `cooldown` has passed, if it has not yet.
pub(super) fn cooldown_remaining(
    last: Option<DateTime<Utc>>,
    cooldown: std::time::Duration,
    now: DateTime<Utc>,
) -> Option<std::time::Duration> {
    let last = last?;
    let elapsed = (now - last).to_std().unwrap_or_default();
    cooldown.checked_sub(elapsed).filter(|left| !left.is_zero())
}

/// Columns of a claimed job, in `ClaimRow` order.
pub(super) const CLAIM_COLUMNS: &str =
    "id, store_id, kind, step, attempt, request_id, created_at, deadline_at";

#[derive(Debug, sqlx::FromRow)]
pub struct ClaimRow {
    pub id: i64,
    pub store_id: String,
    pub kind: String,
    pub step: Option<String>,
    pub attempt: i32,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub deadline_at: Option<DateTime<Utc>>,
}

impl TryFrom<ClaimRow> for super::ClaimedJob {
    type Error = DbError;
    fn try_from(row: ClaimRow) -> Result<Self, DbError> {
        Ok(Self {
            id: row.id,
            store_id: StoreId::parse(&row.store_id)
                .ok_or_else(|| DbError(format!("invalid store id {:?}", row.store_id)))?,
            kind: super::JobKind::parse(&row.kind)
                .ok_or_else(|| DbError(format!("invalid job kind {:?}", row.kind)))?,
            step: row.step,
            attempt: row.attempt,
            request_id: row.request_id,
            created_at: row.created_at,
            deadline_at: row.deadline_at,
        })
    }
}

pub(super) fn after(now: DateTime<Utc>, duration: std::time::Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
