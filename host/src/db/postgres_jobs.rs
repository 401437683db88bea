//! PostgreSQL side of the job queue, the claim (the rest is `shared_jobs.rs`): `FOR UPDATE
//! SKIP LOCKED`, so replicas claim different jobs without waiting on each other.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Postgres;

use super::jobs::{ClaimedJob, JobChange, JobUpdate};
use super::postgres::{PgDb, apply_transition, insert_audit};
use super::rows::{CLAIM_COLUMNS, ClaimRow, after};
use super::{Result, Transition};

super::shared_jobs::shared_job_queue!(PgDb, Postgres, {
    async fn claim_job(
        &self,
        owner: &str,
        lease: Duration,
        provision_deadline: Duration,
    ) -> Result<Option<ClaimedJob>> {
        let now = Utc::now();
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, updated_at = $3, \
             deadline_at = COALESCE(deadline_at, CASE WHEN kind <> 'delete' THEN $4 END) \
             WHERE id = ( \
               SELECT j.id FROM jobs j \
               WHERE ((j.state = 'queued' AND j.run_after <= $3) OR (j.state = 'running' AND j.lease_expires_at < $3)) \
                 AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.store_id = j.store_id AND o.id <> j.id \
                                 AND o.lease_owner IS NOT NULL AND o.lease_expires_at > $3) \
               ORDER BY j.run_after, j.id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING {CLAIM_COLUMNS}"
        );
        let row: Option<ClaimRow> = sqlx::query_as(&sql)
            .bind(owner)
            .bind(after(now, lease))
            .bind(now)
            .bind(after(now, provision_deadline))
            .fetch_optional(&self.pool)
            .await?;
        row.map(ClaimedJob::try_from).transpose()
    }
});
