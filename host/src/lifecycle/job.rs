//! What a running job holds: its claimed row, its worker's lease, and signals (lease lost,
//! shutdown); and how a step can fail. Every write goes through [`JobContext::update`], which
//! is refused once the lease is lost, so a worker that was superseded changes nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::db::{AuditContext, ClaimedJob, Db, JobChange, JobUpdate, NewAudit};

/// Why a job step did not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// Heals by itself (cluster down, conflict, timeout): retried with backoff.
    #[error("{0}")]
    Transient(String),
    /// Will not heal by retrying: the store fails with this reason.
    #[error("{0}")]
    Permanent(String),
    /// RBAC refused a cluster call: permanent, unless the store role was bound moments ago
    /// (`Run::settled` tells which); treated as [`Permanent`](Self::Permanent) otherwise.
    #[error("{0}")]
    Forbidden(String),
    /// The circuit breaker is open: wait this long, without counting an attempt.
    #[error("cluster circuit breaker open")]
    Delayed(Duration),
    /// The host is shutting down: give the job back.
    #[error("shutting down")]
    Shutdown,
    /// This worker no longer holds the job (cancelled by a delete, or taken over).
    #[error("lease lost")]
    LeaseLost,
}

impl From<crate::db::DbError> for StepError {
    fn from(err: crate::db::DbError) -> Self {
        Self::Transient(err.to_string())
    }
}

impl From<crate::k8s::KubeError> for StepError {
    fn from(err: crate::k8s::KubeError) -> Self {
        match err {
            crate::k8s::KubeError::Transient(m) => Self::Transient(m),
            crate::k8s::KubeError::Forbidden(m) => Self::Forbidden(m),
            other => Self::Permanent(other.to_string()),
        }
    }
}

/// A claimed job and its worker.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub job: ClaimedJob,
    pub owner: String,
    pub db: Arc<dyn Db>,
    /// Turns true when the lease is lost.
    pub lost: watch::Receiver<bool>,
    /// Turns true when the host begins shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// Where store changes are announced.
    pub events: super::StoreEvents,
}

impl JobContext {
    /// Audit context of the job's events: the request that created it.
    pub fn audit_context(&self) -> AuditContext {
        AuditContext {
            actor_id: None,
            request_id: self.job.request_id.clone(),
            ip: None,
        }
    }

    /// An audit event of this job.
    pub fn event(&self, action: &str, message: impl Into<String>) -> NewAudit {
        NewAudit::new(self.audit_context(), action, message)
    }

    /// An update of this job.
    pub fn update_of(&self, change: JobChange) -> JobUpdate {
        JobUpdate::new(&self.job, &self.owner, change)
    }

    /// Applies `update`; [`StepError::LeaseLost`] when refused.
    pub async fn update(&self, update: JobUpdate) -> Result<(), StepError> {
        if self.db.update_job(update).await? {
            self.events.publish(&self.job.store_id);
            Ok(())
        } else {
            Err(StepError::LeaseLost)
        }
    }

    /// Runs `work` unless the lease is lost meanwhile (then the work is dropped: every step
    /// is idempotent, the next owner redoes it).
    pub async fn guarded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, StepError>>,
    ) -> Result<T, StepError> {
        let mut lost = self.lost.clone();
        tokio::select! {
            result = work => result,
            Ok(_) = lost.wait_for(|lost| *lost) => Err(StepError::LeaseLost),
        }
    }

    /// Time left before the job's deadline (ten minutes for a job without one).
    pub fn time_left(&self) -> Duration {
        self.job
            .deadline_at
            .and_then(|d| (d - chrono::Utc::now()).to_std().ok())
            .unwrap_or(Duration::from_secs(600))
    }

    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}
