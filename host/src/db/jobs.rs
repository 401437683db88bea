//! The durable job queue's side of the database: claiming a job with a lease, heartbeats, and
//! one lease-checked update that moves a job on (next step, back to the queue, finished)
//! together with its store's progress, status transition and audit events, in one
//! transaction. A worker whose lease was lost (expired and reclaimed, or its job cancelled by
//! a delete) finds every update refused and stops.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{NewAudit, Result, StoreId, StorePatch, StoreStatus};

/// Kinds of durable jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Provision,
    Delete,
    /// Moves a ready store to another engine version or other options (or back).
    Upgrade,
    Suspend,
    Resume,
}

impl JobKind {
    pub const ALL: [Self; 5] = [
        Self::Provision,
        Self::Delete,
        Self::Upgrade,
        Self::Suspend,
        Self::Resume,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provision => "provision",
            Self::Delete => "delete",
            Self::Upgrade => "upgrade",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// What the job does, for messages ("gave up at the provisioning deadline").
    pub fn noun(self) -> &'static str {
        match self {
            Self::Provision => "provisioning",
            Self::Delete => "deletion",
            Self::Upgrade => "upgrade",
            Self::Suspend => "suspension",
            Self::Resume => "resumption",
        }
    }

    /// The store's status while a job of this kind runs.
    pub fn working_status(self) -> StoreStatus {
        match self {
            Self::Provision => StoreStatus::Provisioning,
            Self::Delete => StoreStatus::Deleting,
            Self::Upgrade => StoreStatus::Upgrading,
            Self::Suspend => StoreStatus::Suspending,
            Self::Resume => StoreStatus::Resuming,
        }
    }
}

/// A job a worker holds the lease of.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub id: i64,
    pub store_id: StoreId,
    pub kind: JobKind,
    /// The step it was at when last seen (resuming after a crash).
    pub step: Option<String>,
    /// Transient failures so far.
    pub attempt: i32,
    /// The request id of the API call that created the job.
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// End-to-end deadline (provision jobs).
    pub deadline_at: Option<DateTime<Utc>>,
}

/// How a job moves on.
#[derive(Debug, Clone, PartialEq)]
pub enum JobChange {
    /// Still running, now at `step` (`index` of the pipeline, 1-based).
    Step { step: String, index: i32 },
    /// Back to the queue until `run_after`: a retry (`count_attempt`), a delay while the
    /// circuit breaker is open, or a graceful shutdown. `deadline_at` replaces the deadline.
    Requeue {
        run_after: DateTime<Utc>,
        error: Option<String>,
        count_attempt: bool,
        deadline_at: Option<DateTime<Utc>>,
    },
    /// Done (or failed for good).
    Finish { failed: bool, error: Option<String> },
    /// The job stays as it is; only its store changes.
    Keep,
}

/// A store status change made by a job.
#[derive(Debug, Clone)]
pub struct JobTransition {
    pub from: StoreStatus,
    pub to: StoreStatus,
    pub patch: StorePatch,
    pub audit: NewAudit,
}

/// One lease-checked update of a job and its store.
#[derive(Debug, Clone)]
pub struct JobUpdate {
    pub job_id: i64,
    pub owner: String,
    pub store_id: StoreId,
    pub change: JobChange,
    /// New provisioning record of the store.
    pub progress: Option<serde_json::Value>,
    /// `Some(None)` clears the store's current step.
    pub current_step: Option<Option<String>>,
    /// New pinned plugin `(version, digest)` (a retry re-planned with another version).
    pub plugin_pin: Option<(String, String)>,
    /// New `failure_reason` of a store that keeps its status (e.g. a deletion that is stuck);
    /// `Some(None)` clears it.
    pub failure_reason: Option<Option<String>>,
    pub transition: Option<JobTransition>,
    /// Audit events to record (store id and owner are filled in).
    pub events: Vec<NewAudit>,
}

impl JobUpdate {
    /// An update of `job` that changes nothing yet.
    pub fn new(job: &ClaimedJob, owner: &str, change: JobChange) -> Self {
        Self {
            job_id: job.id,
            owner: owner.to_owned(),
            store_id: job.store_id.clone(),
            change,
            progress: None,
            current_step: None,
            plugin_pin: None,
            failure_reason: None,
            transition: None,
            events: Vec::new(),
        }
    }
}

/// The job queue.
#[async_trait::async_trait]
pub trait JobQueue: Send + Sync {
    /// Claims the next due job (or one whose lease expired) for `owner` with a lease of
    /// `lease`. A store's delete job waits while a cancelled job of the store still holds a
    /// live lease, so a worker that has not yet noticed the cancellation cannot write into a
    /// namespace being deleted. Every job but a delete gets its deadline
    /// (`now + provision_deadline`) on its first claim.
    async fn claim_job(
        &self,
        owner: &str,
        lease: Duration,
        provision_deadline: Duration,
    ) -> Result<Option<ClaimedJob>>;
    /// Extends the lease; `false` when it is no longer `owner`'s running job.
    async fn heartbeat_job(&self, job_id: i64, owner: &str, lease: Duration) -> Result<bool>;
    /// Applies `update` if `owner` still holds the running job; `false` (and nothing changed)
    /// otherwise, or when the store's transition no longer applies.
    async fn update_job(&self, update: JobUpdate) -> Result<bool>;
    /// Gives up `owner`'s lease of a job whatever its state (a cancelled job's worker stops).
    async fn release_job(&self, job_id: i64, owner: &str) -> Result<()>;
}
