//! Rollouts in the database: a rollout and its member stores, each member's state changed by
//! compare-and-set, and the lease under which one replica at a time drives a rollout. The SQL
//! is written once (`$n` placeholders, which both drivers accept) and implemented for both
//! backends by [`rollout_store!`].

use chrono::{DateTime, Utc};

use super::{DbError, NewAudit, Page, Result, StoreId, UserId};

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RolloutState {
    /// Starting upgrades batch after batch.
    Running,
    /// Starting nothing new; upgrades under way finish.
    Paused,
    /// Aborted: nothing new starts, the current batch's upgraded stores go back.
    Aborting,
    /// Stopped by itself (the failure budget was exceeded, or a canary failed).
    Stopped,
    Aborted,
    Completed,
}

impl RolloutState {
    pub const ALL: [Self; 6] = [
        Self::Running,
        Self::Paused,
        Self::Aborting,
        Self::Stopped,
        Self::Aborted,
        Self::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Aborting => "aborting",
            Self::Stopped => "stopped",
            Self::Aborted => "aborted",
            Self::Completed => "completed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a replica still drives it.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Paused | Self::Aborting)
    }
}

/// Where one store of a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    Pending,
    Upgrading,
    Upgraded,
    /// Its upgrade failed (the store was rolled back to its old version).
    Failed,
    /// Not upgraded: not ready when its turn came, deleted, or the rollout ended first.
    Skipped,
    /// Going back to its old version (the rollout was aborted).
    Reverting,
    Reverted,
}

impl MemberState {
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::Upgrading,
        Self::Upgraded,
        Self::Failed,
        Self::Skipped,
        Self::Reverting,
        Self::Reverted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Upgrading => "upgrading",
            Self::Upgraded => "upgraded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Reverting => "reverting",
            Self::Reverted => "reverted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a job of the store runs for the rollout.
    pub fn in_flight(self) -> bool {
        matches!(self, Self::Upgrading | Self::Reverting)
    }
}

/// A rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub id: i64,
    pub engine: String,
    pub version: String,
    pub digest: String,
    pub state: RolloutState,
    /// Canary, batches, concurrency and failure budget (see `lifecycle::RolloutSettings`).
    pub settings: serde_json::Value,
    /// Why it stopped, was paused or aborted.
    pub reason: Option<String>,
    pub created_by: Option<UserId>,
    /// The next batch starts no earlier (the pause between batches).
    pub next_batch_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One store of a rollout.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutMember {
    #[schema(value_type = String)]
    pub store_id: StoreId,
    /// Its place in the rollout's order.
    pub position: i32,
    /// 0 is the canary.
    pub batch: i32,
    pub state: MemberState,
    /// The version it ran when the rollout began (where an abort takes it back).
    pub from_version: String,
    pub from_digest: String,
    pub detail: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A rollout to create, with its members in order.
#[derive(Debug, Clone)]
pub struct NewRollout {
    pub engine: String,
    pub version: String,
    pub digest: String,
    pub settings: serde_json::Value,
    pub created_by: Option<UserId>,
    pub members: Vec<NewMember>,
    pub audit: NewAudit,
}

/// A store of a new rollout.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub store_id: StoreId,
    pub batch: i32,
    pub from_version: String,
    pub from_digest: String,
}

/// Why a rollout could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateRolloutError {
    #[error("a rollout of this engine is already under way")]
    AlreadyActive,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Rollouts and their members.
#[async_trait::async_trait]
pub trait RolloutStore: Send + Sync {
    /// Inserts a running rollout, its members (`pending`) and its audit event.
    async fn create_rollout(&self, rollout: NewRollout) -> Result<Rollout, CreateRolloutError>;
    async fn rollout(&self, id: i64) -> Result<Option<Rollout>>;
    /// Rollouts, newest first.
    async fn list_rollouts(&self, limit: u32, offset: u32) -> Result<Page<Rollout>>;
    /// The members of a rollout, in order.
    async fn rollout_members(&self, id: i64) -> Result<Vec<RolloutMember>>;
    /// The rollouts `owner` may drive now (free, its own, or whose lease expired), leased to
    /// it for `lease`: the active ones, and ended ones with upgrades still running (to record
    /// how they end).
    async fn claim_rollouts(&self, owner: &str, lease: std::time::Duration)
    -> Result<Vec<Rollout>>;
    /// Moves a rollout from one of `from` to `to` with `reason` and its audit event; `None`
    /// when it was in none of them.
    async fn set_rollout_state(
        &self,
        id: i64,
        from: &[RolloutState],
        to: RolloutState,
        reason: Option<String>,
        audit: NewAudit,
    ) -> Result<Option<Rollout>>;
    /// When the rollout's next batch may start.
    async fn set_rollout_next_batch(&self, id: i64, at: Option<DateTime<Utc>>) -> Result<()>;
    /// Moves a member from `from` to `to`; `false` when it was not in `from`.
    async fn set_member_state(
        &self,
        rollout: i64,
        store: &StoreId,
        from: MemberState,
        to: MemberState,
        detail: Option<String>,
    ) -> Result<bool>;
    /// Moves a member from `from` to `to` only while its rollout is `while_rollout`, in one
    /// transaction holding the rollout's row: a pause or abort that commits first leaves the
    /// member where it was, and one that comes later waits for this to commit. `false` when
    /// the member was not in `from` or the rollout not in `while_rollout`.
    async fn claim_member(
        &self,
        rollout: i64,
        store: &StoreId,
        from: MemberState,
        to: MemberState,
        while_rollout: RolloutState,
    ) -> Result<bool>;
}

/// Columns of a `rollouts` row, in [`RolloutRow`]'s order.
pub(super) const ROLLOUT_COLUMNS: &str = "id, engine, version, digest, state, settings, reason, \
     created_by, next_batch_at, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
pub(super) struct RolloutRow {
    pub id: i64,
    pub engine: String,
    pub version: String,
    pub digest: String,
    pub state: String,
    pub settings: String,
    pub reason: Option<String>,
    pub created_by: Option<String>,
    pub next_batch_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<RolloutRow> for Rollout {
    type Error = DbError;
    fn try_from(row: RolloutRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            state: RolloutState::parse(&row.state)
                .ok_or_else(|| DbError(format!("unknown rollout state {:?}", row.state)))?,
            settings: serde_json::from_str(&row.settings)
                .map_err(|err| DbError(format!("rollout settings: {err}")))?,
            engine: row.engine,
            version: row.version,
            digest: row.digest,
            reason: row.reason,
            created_by: row.created_by.map(UserId),
            next_batch_at: row.next_batch_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct MemberRow {
    pub store_id: String,
    pub position: i32,
    pub batch: i32,
    pub state: String,
    pub from_version: String,
    pub from_digest: String,
    pub detail: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<MemberRow> for RolloutMember {
    type Error = DbError;
    fn try_from(row: MemberRow) -> Result<Self> {
        Ok(Self {
            store_id: StoreId::parse(&row.store_id)
                .ok_or_else(|| DbError(format!("bad store id {:?}", row.store_id)))?,
            position: row.position,
            batch: row.batch,
            state: MemberState::parse(&row.state)
                .ok_or_else(|| DbError(format!("unknown member state {:?}", row.state)))?,
            from_version: row.from_version,
            from_digest: row.from_digest,
            detail: row.detail,
            updated_at: row.updated_at,
        })
    }
}

/// Implements [`RolloutStore`] for a backend `$db` (with a `pool`, a `begin_write()` and
/// `$audit(tx, event)` writing an audit event), with SQL both dialects accept.
macro_rules! rollout_store {
    ($db:ty, $audit:path, $unique_violation:path) => {
        #[async_trait::async_trait]
        impl super::rollouts::RolloutStore for $db {
            async fn create_rollout(
                &self,
                new: super::rollouts::NewRollout,
            ) -> Result<super::rollouts::Rollout, super::rollouts::CreateRolloutError> {
                use super::rollouts::{CreateRolloutError, ROLLOUT_COLUMNS, RolloutRow};
                let now = chrono::Utc::now();
                let mut tx = self.begin_write().await?;
                let row: RolloutRow = match sqlx::query_as(&format!(
                    "INSERT INTO rollouts (engine, version, digest, state, settings, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'running', $4, $5, $6, $6) RETURNING {ROLLOUT_COLUMNS}"
                ))
                .bind(&new.engine)
                .bind(&new.version)
                .bind(&new.digest)
                .bind(new.settings.to_string())
                .bind(new.created_by.as_ref().map(|u| u.0.as_str()))
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                {
                    Ok(row) => row,
                    Err(err) if $unique_violation(&err) => {
                        return Err(CreateRolloutError::AlreadyActive)
                    }
                    Err(err) => return Err(CreateRolloutError::Db(err.into())),
                };
                for (position, member) in new.members.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO rollout_stores (rollout_id, store_id, position, batch, state, from_version, from_digest, updated_at) \
                         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)",
                    )
                    .bind(row.id)
                    .bind(member.store_id.as_str())
                    .bind(i32::try_from(position).unwrap_or(i32::MAX))
                    .bind(member.batch)
                    .bind(&member.from_version)
                    .bind(&member.from_digest)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(super::DbError::from)?;
                }
                let mut audit = new.audit.clone();
                audit.details["rollout"] = serde_json::json!(row.id);
                $audit(&mut tx, &audit).await?;
                tx.commit().await.map_err(super::DbError::from)?;
                Ok(super::rollouts::Rollout::try_from(row)?)
            }

            async fn rollout(&self, id: i64) -> Result<Option<super::rollouts::Rollout>> {
                use super::rollouts::{ROLLOUT_COLUMNS, RolloutRow};
                let row: Option<RolloutRow> =
                    sqlx::query_as(&format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(super::rollouts::Rollout::try_from).transpose()
            }

            async fn list_rollouts(
                &self,
                limit: u32,
                offset: u32,
            ) -> Result<Page<super::rollouts::Rollout>> {
                use super::rollouts::{ROLLOUT_COLUMNS, RolloutRow};
                let rows: Vec<RolloutRow> = sqlx::query_as(&format!(
                    "SELECT {ROLLOUT_COLUMNS} FROM rollouts ORDER BY id DESC LIMIT $1 OFFSET $2"
                ))
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(&self.pool)
                .await?;
                let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rollouts")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(Page {
                    items: rows
                        .into_iter()
                        .map(super::rollouts::Rollout::try_from)
                        .collect::<Result<_>>()?,
                    total,
                })
            }

            async fn rollout_members(
                &self,
                id: i64,
            ) -> Result<Vec<super::rollouts::RolloutMember>> {
                let rows: Vec<super::rollouts::MemberRow> = sqlx::query_as(
                    "SELECT store_id, position, batch, state, from_version, from_digest, detail, updated_at \
                     FROM rollout_stores WHERE rollout_id = $1 ORDER BY position",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(super::rollouts::RolloutMember::try_from)
                    .collect()
            }

            async fn claim_rollouts(
                &self,
                owner: &str,
                lease: std::time::Duration,
            ) -> Result<Vec<super::rollouts::Rollout>> {
                use super::rollouts::{ROLLOUT_COLUMNS, RolloutRow};
                let now = chrono::Utc::now();
                let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
                let rows: Vec<RolloutRow> = sqlx::query_as(&format!(
                    "UPDATE rollouts SET lease_owner = $1, lease_expires_at = $2 \
                     WHERE (state IN ('running', 'paused', 'aborting') \
                            OR EXISTS (SELECT 1 FROM rollout_stores m WHERE m.rollout_id = rollouts.id \
                                       AND m.state IN ('upgrading', 'reverting'))) \
                       AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at < $3) \
                     RETURNING {ROLLOUT_COLUMNS}"
                ))
                .bind(owner)
                .bind(until)
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(super::rollouts::Rollout::try_from)
                    .collect()
            }

            async fn set_rollout_state(
                &self,
                id: i64,
                from: &[super::rollouts::RolloutState],
                to: super::rollouts::RolloutState,
                reason: Option<String>,
                audit: NewAudit,
            ) -> Result<Option<super::rollouts::Rollout>> {
                use super::rollouts::{ROLLOUT_COLUMNS, RolloutRow};
                let state = |i: usize| from.get(i).or(from.first()).map_or("", |s| s.as_str());
                let mut tx = self.begin_write().await?;
                let row: Option<RolloutRow> = sqlx::query_as(&format!(
                    "UPDATE rollouts SET state = $2, reason = COALESCE($3, reason), updated_at = $4, \
                     lease_owner = CASE WHEN $2 IN ('running', 'paused', 'aborting') THEN lease_owner END, \
                     lease_expires_at = CASE WHEN $2 IN ('running', 'paused', 'aborting') THEN lease_expires_at END \
                     WHERE id = $1 AND state IN ($5, $6, $7) RETURNING {ROLLOUT_COLUMNS}"
                ))
                .bind(id)
                .bind(to.as_str())
                .bind(reason)
                .bind(chrono::Utc::now())
                .bind(state(0))
                .bind(state(1))
                .bind(state(2))
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let mut audit = audit;
                audit.details["rollout"] = serde_json::json!(id);
                $audit(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(Some(super::rollouts::Rollout::try_from(row)?))
            }

            async fn set_rollout_next_batch(
                &self,
                id: i64,
                at: Option<chrono::DateTime<chrono::Utc>>,
            ) -> Result<()> {
                sqlx::query("UPDATE rollouts SET next_batch_at = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .bind(chrono::Utc::now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_member_state(
                &self,
                rollout: i64,
                store: &StoreId,
                from: super::rollouts::MemberState,
                to: super::rollouts::MemberState,
                detail: Option<String>,
            ) -> Result<bool> {
                let now = chrono::Utc::now();
                let done = sqlx::query(
                    "UPDATE rollout_stores SET state = $4, detail = COALESCE($5, detail), updated_at = $6 \
                     WHERE rollout_id = $1 AND store_id = $2 AND state = $3",
                )
                .bind(rollout)
                .bind(store.as_str())
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(detail)
                .bind(now)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 1 {
                    // Any change of a member is a change of the rollout (its event stream).
                    sqlx::query("UPDATE rollouts SET updated_at = $2 WHERE id = $1")
                        .bind(rollout)
                        .bind(now)
                        .execute(&self.pool)
                        .await?;
                }
                Ok(done.rows_affected() == 1)
            }

            async fn claim_member(
                &self,
                rollout: i64,
                store: &StoreId,
                from: super::rollouts::MemberState,
                to: super::rollouts::MemberState,
                while_rollout: super::rollouts::RolloutState,
            ) -> Result<bool> {
                let now = chrono::Utc::now();
                let mut tx = self.begin_write().await?;
                // Writing the rollout's row first takes its lock: PostgreSQL re-checks the
                // state after a concurrent pause commits, and SQLite serialises writers.
                let rollout_held = sqlx::query(
                    "UPDATE rollouts SET updated_at = $2 WHERE id = $1 AND state = $3",
                )
                .bind(rollout)
                .bind(now)
                .bind(while_rollout.as_str())
                .execute(&mut *tx)
                .await?;
                if rollout_held.rows_affected() != 1 {
                    return Ok(false);
                }
                let claimed = sqlx::query(
                    "UPDATE rollout_stores SET state = $4, updated_at = $5 \
                     WHERE rollout_id = $1 AND store_id = $2 AND state = $3",
                )
                .bind(rollout)
                .bind(store.as_str())
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if claimed.rows_affected() != 1 {
                    return Ok(false);
                }
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

pub(super) use rollout_store;
