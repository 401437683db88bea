//! PostgreSQL implementation of [`Db`]: what differs from SQLite (connecting, migrations, the
//! LISTEN change feed, creates of one owner serialized by locking the owner's `users` row);
//! the SQL both accept is in `shared.rs`.

use chrono::Utc;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction as SqlxTx};

use super::rows::{
    AUDIT_COLUMNS, AuditRow, CountedStoreRow, JOB_COLUMNS, JobRow, PluginRow, STORE_COLUMNS,
    StoreRow, USER_COLUMNS, UserRow, UserSummaryRow, cooldown_remaining, email_map, list_users_sql,
    store_page,
};
use super::*;

/// The channel a trigger on `stores` notifies with the store id (migration 0004).
const STORE_CHANGES_CHANNEL: &str = "storeplane_store_changed";
/// The channel migration 0007's trigger notifies with the id of every changed user.
const USER_CHANGES_CHANNEL: &str = "storeplane_user_changed";

/// A PostgreSQL-backed [`Db`].
#[derive(Debug, Clone)]
pub(super) struct PgDb {
    pub(super) pool: PgPool,
}

super::rollouts::rollout_store!(PgDb, insert_audit, is_unique_violation);

impl PgDb {
    /// A transaction for writes (PostgreSQL needs nothing special; SQLite's counterpart takes
    /// the write lock at once).
    pub(super) async fn begin_write(&self) -> Result<SqlxTx<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Serializes the creates of `owner` by locking the owner's row until `tx` ends, so the
    /// store count and cooldown a create checks are those of committed data.
    async fn serialize_creates_of(tx: &mut SqlxTx<'_, Postgres>, owner: &UserId) -> Result<()> {
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
            .bind(&owner.0)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Connects (lazily validating) to `url`.
    pub(super) async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            // sqlx pings every connection it hands out by default: a second round trip for
            // each query, most of a cheap request's cost. Only a connection that sat idle
            // (one the server or a proxy may have dropped meanwhile) is pinged.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > super::PING_IF_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        Ok(Self { pool })
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "23505")
}

super::shared::shared_db!(PgDb, Postgres, {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("../migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn user_emails(
        &self,
        ids: &[UserId],
    ) -> Result<std::collections::HashMap<UserId, String>> {
        if ids.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, email FROM users WHERE id = ANY($1)")
                .bind(ids.iter().map(|id| id.0.clone()).collect::<Vec<_>>())
                .fetch_all(&self.pool)
                .await?;
        Ok(email_map(rows))
    }

    async fn change_feed(&self) -> Result<Option<ChangeFeed>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener
            .listen_all([STORE_CHANGES_CHANNEL, USER_CHANGES_CHANNEL])
            .await?;
        // `try_recv`, not `recv`: `recv` re-makes a lost connection silently, and the
        // notifications committed meanwhile would be missed without anyone knowing.
        let feed = futures::stream::unfold(listener, |mut listener| async move {
            match listener.try_recv().await {
                Ok(None) => Some((Ok(Changed::Missed), listener)),
                Ok(Some(note)) => {
                    let payload = note.payload();
                    let change = if note.channel() == USER_CHANGES_CHANNEL {
                        Ok(Changed::User(UserId(payload.to_owned())))
                    } else {
                        StoreId::parse(payload).map(Changed::Store).ok_or_else(|| {
                            DbError(format!("store change for a bad store id {payload:?}"))
                        })
                    };
                    Some((change, listener))
                }
                Err(sqlx::Error::PoolClosed) => None,
                Err(err) => Some((Err(DbError::from(err)), listener)),
            }
        });
        Ok(Some(Box::pin(feed)))
    }
});
