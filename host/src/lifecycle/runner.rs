//! The durable job runner: `PROVISIONING_CONCURRENCY` workers claim jobs with a lease
//! (heartbeated while they work), run the provisioning or deletion pipeline, and settle each
//! outcome: done; retried with exponential backoff and jitter (transient); delayed without
//! counting an attempt (circuit breaker open); failed with its reason (permanent, or the
//! deadline passed); given back (shutdown); or let go (lease lost). Every log line of a job
//! carries its store, kind and the request id of the API call that created it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{Notify, watch};
use tracing::Instrument as _;

use super::job::{JobContext, StepError};
use super::provision::Pipeline;
use crate::db::{ClaimedJob, JobChange, JobKind, JobTransition, StorePatch, StoreStatus};
use crate::guardrails::backoff;
use crate::metrics::Metrics;

/// Settings of the runner, from the configuration.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    pub concurrency: u32,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub provisioning_timeout: Duration,
}

/// Runs jobs of this replica.
#[derive(Debug)]
pub struct JobRunner {
    pipeline: Arc<Pipeline>,
    settings: RunnerSettings,
    metrics: Arc<Metrics>,
    /// Identifies this process in leases.
    owner: String,
    /// Woken when this replica enqueues a job.
    wake: Arc<Notify>,
}

fn chrono_after(duration: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

impl JobRunner {
    pub fn new(
        pipeline: Arc<Pipeline>,
        settings: RunnerSettings,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
    ) -> Self {
        let host = crate::config::host_name();
        let owner = format!(
            "{host}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        Self {
            pipeline,
            settings,
            metrics,
            owner,
            wake,
        }
    }

    /// Starts the workers; the returned task ends when all of them have stopped after
    /// `shutdown` turned true (running steps reach a safe point, their jobs are given back).
    pub fn start(self: Arc<Self>, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tracing::info!(owner = %self.owner, workers = self.settings.concurrency, "job runner started");
        let workers: Vec<_> = (0..self.settings.concurrency)
            .map(|_| tokio::spawn(Arc::clone(&self).worker(shutdown.clone())))
            .collect();
        tokio::spawn(async move {
            for worker in workers {
                let _ = worker.await;
            }
            tracing::info!("job runner stopped");
        })
    }

    async fn worker(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let db = Arc::clone(&self.pipeline.db);
        while !*shutdown.borrow() {
            match db
                .claim_job(
                    &self.owner,
                    self.settings.lease,
                    self.settings.provisioning_timeout,
                )
                .await
            {
                Ok(Some(job)) => self.run(job, shutdown.clone()).await,
                Ok(None) => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(self.settings.poll_interval) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "claiming a job failed");
                    tokio::select! {
                        () = tokio::time::sleep(self.settings.poll_interval) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
    }

    async fn run(&self, job: ClaimedJob, shutdown: watch::Receiver<bool>) {
        let span = tracing::info_span!(
            "job",
            job = job.id,
            kind = job.kind.as_str(),
            store = %job.store_id,
            request_id = job.request_id.as_deref().unwrap_or("-"),
        );
        async {
            tracing::info!(
                attempt = job.attempt,
                resumed_at = job.step.as_deref().unwrap_or("-"),
                "job claimed"
            );
            let (lost_tx, lost) = watch::channel(false);
            let heartbeat = tokio::spawn(heartbeat(
                Arc::clone(&self.pipeline.db),
                job.id,
                self.owner.clone(),
                self.settings.lease,
                lost_tx,
            ));
            let ctx = JobContext {
                job,
                owner: self.owner.clone(),
                db: Arc::clone(&self.pipeline.db),
                lost,
                shutdown,
                events: self.pipeline.events.clone(),
            };
            let started = Instant::now();
            let result = match ctx.job.kind {
                JobKind::Provision => self.pipeline.provision(&ctx).await,
                JobKind::Delete => self.pipeline.delete(&ctx).await,
                JobKind::Upgrade => self.pipeline.upgrade(&ctx).await,
                JobKind::Suspend => self.pipeline.suspend(&ctx).await,
                JobKind::Resume => self.pipeline.resume(&ctx).await,
            };
            heartbeat.abort();
            self.settle(&ctx, result, started).await;
        }
        .instrument(span)
        .await;
    }

    /// Records how a run ended.
    async fn settle(&self, ctx: &JobContext, result: Result<(), StepError>, started: Instant) {
        let kind = ctx.job.kind;
        let requeue = |run_after: Duration,
                       error: Option<String>,
                       count_attempt: bool,
                       extend: Option<Duration>| {
            ctx.update_of(JobChange::Requeue {
                run_after: chrono_after(run_after),
                error,
                count_attempt,
                deadline_at: extend.and_then(|d| {
                    ctx.job
                        .deadline_at
                        .map(|at| at + chrono::Duration::from_std(d).unwrap_or_default())
                }),
            })
        };
        let (outcome, update) = match result {
            Ok(()) => {
                tracing::info!(ms = started.elapsed().as_millis(), "job finished");
                ("done", None)
            }
            Err(StepError::LeaseLost) => {
                tracing::info!("lease lost (job cancelled or taken over); stopping");
                if let Err(err) = ctx.db.release_job(ctx.job.id, &ctx.owner).await {
                    tracing::warn!(error = %err, "releasing the lease failed; it will expire");
                }
                ("lease_lost", None)
            }
            Err(StepError::Shutdown) => {
                tracing::info!("shutting down: job given back");
                ("released", Some(requeue(Duration::ZERO, None, false, None)))
            }
            Err(StepError::Delayed(wait)) => {
                tracing::info!(
                    wait_ms = wait.as_millis(),
                    "cluster circuit breaker open: job delayed"
                );
                (
                    "delayed",
                    Some(requeue(
                        wait,
                        Some("waiting: cluster circuit breaker open".into()),
                        false,
                        Some(wait),
                    )),
                )
            }
            // An upgrade keeps its own time (past its deadline it rolls back, and the rollback
            // is retried until done), so its transient failures are always retried.
            Err(StepError::Transient(reason))
                if kind == JobKind::Upgrade || !self.past_deadline(ctx) =>
            {
                let wait = self.retry_delay(ctx.job.attempt);
                tracing::warn!(error = %reason, retry_in_ms = wait.as_millis(), "transient failure; will retry");
                ("retry", Some(requeue(wait, Some(reason), true, None)))
            }
            Err(StepError::Permanent(reason) | StepError::Forbidden(reason))
                if kind == JobKind::Delete =>
            {
                // A store being deleted never fails: it keeps trying, so it is never left
                // behind nor falsely marked deleted.
                let wait = self.retry_delay(ctx.job.attempt);
                tracing::error!(error = %reason, retry_in_ms = wait.as_millis(), "deletion failed; will retry");
                ("retry", Some(requeue(wait, Some(reason), true, None)))
            }
            Err(
                StepError::Transient(reason)
                | StepError::Permanent(reason)
                | StepError::Forbidden(reason),
            ) => {
                let reason = if kind != JobKind::Upgrade && self.past_deadline(ctx) {
                    format!("gave up at the {} deadline: {reason}", kind.noun())
                } else {
                    reason
                };
                tracing::error!(error = %reason, kind = kind.as_str(), "job failed");
                let mut update = ctx.update_of(JobChange::Finish {
                    failed: true,
                    error: Some(reason.clone()),
                });
                update.transition = Some(JobTransition {
                    from: kind.working_status(),
                    to: StoreStatus::Failed,
                    patch: StorePatch {
                        failure_reason: Some(Some(reason.clone())),
                        ..StorePatch::default()
                    },
                    audit: {
                        let what = match kind {
                            JobKind::Upgrade => "the upgrade and its rollback failed",
                            JobKind::Suspend => "suspending failed",
                            JobKind::Resume => "resuming failed",
                            JobKind::Provision | JobKind::Delete => "provisioning failed",
                        };
                        let mut event = ctx.event("store.failed", format!("{what}: {reason}"));
                        event.details = serde_json::json!({"step": ctx.job.step, "reason": reason});
                        event
                    },
                });
                ("failed", Some(update))
            }
        };
        self.metrics.job_outcome(kind.as_str(), outcome);
        if let Some(update) = update {
            match ctx.db.update_job(update).await {
                Ok(true) => ctx.events.publish(&ctx.job.store_id),
                Ok(false) => tracing::info!("the job changed hands meanwhile; nothing recorded"),
                Err(err) => {
                    tracing::warn!(error = %err, "recording the job's outcome failed; its lease will expire and it resumes")
                }
            }
        }
    }

    fn past_deadline(&self, ctx: &JobContext) -> bool {
        ctx.job.deadline_at.is_some_and(|at| Utc::now() > at)
    }

    fn retry_delay(&self, attempt: i32) -> Duration {
        backoff(
            u32::try_from(attempt).unwrap_or(0),
            self.settings.retry_base,
            self.settings.retry_max,
            rand::random::<f64>(),
        )
    }
}

/// Renews the lease every third of its length; flags `lost` when it is gone.
async fn heartbeat(
    db: Arc<dyn crate::db::Db>,
    job: i64,
    owner: String,
    lease: Duration,
    lost: watch::Sender<bool>,
) {
    let every = lease / 3;
    loop {
        tokio::time::sleep(every).await;
        match db.heartbeat_job(job, &owner, lease).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = lost.send(true);
                return;
            }
            Err(err) => tracing::warn!(error = %err, "heartbeat failed; trying again"),
        }
    }
}
