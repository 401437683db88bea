//! SQLite side of the job queue, the claim (the rest is `shared_jobs.rs`): one `BEGIN
//! IMMEDIATE` transaction, so two workers never claim the same job (SQLite has one writer).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Sqlite;

use super::jobs::{ClaimedJob, JobChange, JobUpdate};
use super::rows::{CLAIM_COLUMNS, ClaimRow, after};
use super::sqlite::{SqliteDb, apply_transition, insert_audit};
use super::{Result, Transition};

super::shared_jobs::shared_job_queue!(SqliteDb, Sqlite, {
    async fn claim_job(
        &self,
        owner: &str,
        lease: Duration,
        provision_deadline: Duration,
    ) -> Result<Option<ClaimedJob>> {
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let candidate: Option<i64> = sqlx::query_scalar(
            "SELECT j.id FROM jobs j \
             WHERE ((j.state = 'queued' AND j.run_after <= ?1) OR (j.state = 'running' AND j.lease_expires_at < ?1)) \
               AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.store_id = j.store_id AND o.id <> j.id \
                               AND o.lease_owner IS NOT NULL AND o.lease_expires_at > ?1) \
             ORDER BY j.run_after, j.id LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = candidate else {
            return Ok(None);
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = ?2, lease_expires_at = ?3, updated_at = ?4, \
             deadline_at = COALESCE(deadline_at, CASE WHEN kind <> 'delete' THEN ?5 END) \
             WHERE id = ?1 RETURNING {CLAIM_COLUMNS}"
        );
        let row: Option<ClaimRow> = sqlx::query_as(&sql)
            .bind(id)
            .bind(owner)
            .bind(after(now, lease))
            .bind(now)
            .bind(after(now, provision_deadline))
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(ClaimedJob::try_from).transpose()
    }
});
