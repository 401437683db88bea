//! SQLite implementation of [`Db`] (the zero-configuration default): what differs from
//! PostgreSQL; the rest is `shared.rs`. Write transactions start
//! with `BEGIN IMMEDIATE`, taking SQLite's single write lock up front, so a read-then-write
//! transaction (count, then insert) can neither interleave with another writer nor fail to
//! upgrade; WAL keeps readers concurrent. Timestamps are RFC 3339 text.

use chrono::Utc;
use std::str::FromStr as _;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction as SqlxTx};

use super::rows::{
    AUDIT_COLUMNS, AuditRow, CountedStoreRow, JOB_COLUMNS, JobRow, PluginRow, STORE_COLUMNS,
    StoreRow, USER_COLUMNS, UserRow, UserSummaryRow, cooldown_remaining, email_map, list_users_sql,
    store_page,
};
use super::*;

/// A SQLite-backed [`Db`].
#[derive(Debug, Clone)]
pub(super) struct SqliteDb {
    pub(super) pool: SqlitePool,
}

super::rollouts::rollout_store!(SqliteDb, insert_audit, is_unique_violation);

impl SqliteDb {
    /// Opens (creating if missing, with its directory) the database at `url`.
    pub(super) async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(10));
        let file = options.get_filename();
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|err| DbError(format!("cannot create {}: {err}", dir.display())))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // An in-process database cannot drop a connection: no ping before each use.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    pub(super) async fn begin_write(&self) -> Result<SqlxTx<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Nothing to do: `BEGIN IMMEDIATE` already made this the only writer, so an owner's
    /// store count and cooldown cannot change under a create.
    async fn serialize_creates_of(_tx: &mut SqlxTx<'_, Sqlite>, _owner: &UserId) -> Result<()> {
        Ok(())
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

super::shared::shared_db!(SqliteDb, Sqlite, {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("../migrations/sqlite")
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
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, email FROM users WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(serde_json::json!(ids.iter().map(|id| id.0.as_str()).collect::<Vec<_>>()).to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(email_map(rows))
    }

    async fn change_feed(&self) -> Result<Option<ChangeFeed>> {
        // One process writes a SQLite database: its own notifications are all there is.
        Ok(None)
    }
});
