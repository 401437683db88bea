//! The job queue's methods whose SQL both dialects accept, written once (`$n` placeholders,
//! `IS DISTINCT FROM`); [`shared_job_queue!`] implements them for a backend. Claiming differs
//! and stays per dialect: SQLite claims inside one `BEGIN IMMEDIATE` transaction, PostgreSQL
//! with `FOR UPDATE SKIP LOCKED` (`sqlite_jobs.rs`, `postgres_jobs.rs`).

/// Implements [`JobQueue`](super::JobQueue) for backend `$db` on driver `$driver`, with
/// `claim_job` written by the backend in `{ … }`. The invoking module has the job types,
/// `apply_transition`, `insert_audit` and the row helpers in scope.
macro_rules! shared_job_queue {
    ($db:ty, $driver:ty, { $($own:tt)* }) => {
        /// The job part of an update, conditional on the lease; whether it applied.
        async fn change_job(
            tx: &mut sqlx::Transaction<'_, $driver>,
            update: &JobUpdate,
            now: DateTime<Utc>,
        ) -> Result<bool> {
            let lease = "WHERE id = $1 AND lease_owner = $2 AND state = 'running'";
            let sql = match &update.change {
                JobChange::Step { .. } => {
                    format!("UPDATE jobs SET step = $3, step_index = $4, updated_at = $5 {lease}")
                }
                JobChange::Requeue { .. } => format!(
                    "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, run_after = $3, \
                     last_error = COALESCE($4, last_error), attempt = attempt + CASE WHEN $5 THEN 1 ELSE 0 END, \
                     deadline_at = COALESCE($6, deadline_at), updated_at = $7 {lease}"
                ),
                JobChange::Finish { .. } => format!(
                    "UPDATE jobs SET state = $3, lease_owner = NULL, lease_expires_at = NULL, \
                     last_error = COALESCE($4, last_error), updated_at = $5 {lease}"
                ),
                JobChange::Keep => format!("UPDATE jobs SET updated_at = $3 {lease}"),
            };
            let query = sqlx::query(&sql).bind(update.job_id).bind(&update.owner);
            let query = match &update.change {
                JobChange::Step { step, index } => query.bind(step).bind(index).bind(now),
                JobChange::Requeue {
                    run_after,
                    error,
                    count_attempt,
                    deadline_at,
                } => query
                    .bind(run_after)
                    .bind(error)
                    .bind(count_attempt)
                    .bind(deadline_at)
                    .bind(now),
                JobChange::Finish { failed, error } => query
                    .bind(if *failed { "failed" } else { "done" })
                    .bind(error)
                    .bind(now),
                JobChange::Keep => query.bind(now),
            };
            Ok(query.execute(&mut **tx).await?.rows_affected() == 1)
        }

        #[async_trait::async_trait]
        impl super::jobs::JobQueue for $db {
        $($own)*

            async fn heartbeat_job(&self, job_id: i64, owner: &str, lease: Duration) -> Result<bool> {
                let now = Utc::now();
                let done = sqlx::query(
                    "UPDATE jobs SET lease_expires_at = $3, updated_at = $4 \
                     WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                )
                .bind(job_id)
                .bind(owner)
                .bind(after(now, lease))
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn update_job(&self, update: JobUpdate) -> Result<bool> {
                let now = Utc::now();
                let mut tx = self.begin_write().await?;
                if !change_job(&mut tx, &update, now).await? {
                    return Ok(false);
                }
                if update.progress.is_some()
                    || update.current_step.is_some()
                    || update.plugin_pin.is_some()
                    || update.failure_reason.is_some()
                {
                    sqlx::query(
                        "UPDATE stores SET progress = COALESCE($2, progress), \
                         current_step = CASE WHEN $3 THEN $4 ELSE current_step END, \
                         step_started_at = CASE WHEN NOT $3 THEN step_started_at \
                             WHEN $4 IS NULL THEN NULL \
                             WHEN $4 IS DISTINCT FROM current_step OR step_started_at IS NULL THEN $7 \
                             ELSE step_started_at END, \
                         plugin_version = COALESCE($5, plugin_version), plugin_digest = COALESCE($6, plugin_digest), \
                         failure_reason = CASE WHEN $8 THEN $9 ELSE failure_reason END, \
                         updated_at = $7 WHERE id = $1",
                    )
                    .bind(update.store_id.as_str())
                    .bind(update.progress.as_ref().map(ToString::to_string))
                    .bind(update.current_step.is_some())
                    .bind(update.current_step.clone().flatten())
                    .bind(update.plugin_pin.as_ref().map(|(v, _)| v.as_str()))
                    .bind(update.plugin_pin.as_ref().map(|(_, d)| d.as_str()))
                    .bind(now)
                    .bind(update.failure_reason.is_some())
                    .bind(update.failure_reason.clone().flatten())
                    .execute(&mut *tx)
                    .await?;
                }
                let (version, owner_id): (i64, String) =
                    sqlx::query_as("SELECT version, owner_id FROM stores WHERE id = $1")
                        .bind(update.store_id.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                if let Some(change) = update.transition {
                    let transition = Transition {
                        store_id: update.store_id.clone(),
                        from: change.from,
                        expected_version: version,
                        to: change.to,
                        patch: change.patch,
                        audit: change.audit,
                        cancel_open_job: false,
                        enqueue: None,
                    };
                    if apply_transition(&mut tx, &transition, now).await?.is_none() {
                        return Ok(false);
                    }
                }
                for mut event in update.events {
                    event.store_id = Some(update.store_id.clone());
                    event.store_owner = Some(super::UserId(owner_id.clone()));
                    insert_audit(&mut tx, &event).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn release_job(&self, job_id: i64, owner: &str) -> Result<()> {
                sqlx::query(
                    "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = $3 \
                     WHERE id = $1 AND lease_owner = $2",
                )
                .bind(job_id)
                .bind(owner)
                .bind(Utc::now())
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}

pub(super) use shared_job_queue;
