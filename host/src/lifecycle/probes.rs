//! What health checks, readiness and the metrics gauges read: whether the database and the
//! cluster answer, and how many stores and jobs there are in each state.

use std::sync::Arc;
use std::time::Duration;

use crate::db::{Db, DbError};
use crate::domain::StoreStatus;
use crate::k8s::{Cluster, ClusterError};

/// The checks behind `/health`, `/health/ready` and `/metrics`.
#[derive(Debug, Clone)]
pub struct Probes {
    db: Arc<dyn Db>,
    /// The cluster, when one is configured.
    cluster: Option<Cluster>,
}

impl Probes {
    pub fn new(db: Arc<dyn Db>, cluster: Option<Cluster>) -> Self {
        Self { db, cluster }
    }

    /// Whether the database answers.
    pub async fn database(&self) -> Result<(), DbError> {
        self.db.ping().await
    }

    /// The API server's version within `timeout`; `None` without a configured cluster.
    pub async fn cluster_version(&self, timeout: Duration) -> Option<Result<String, ClusterError>> {
        match &self.cluster {
            Some(cluster) => Some(cluster.version(timeout).await),
            None => None,
        }
    }

    /// The number of stores in each status (statuses without stores left out).
    pub async fn store_counts(&self) -> Result<Vec<(StoreStatus, i64)>, DbError> {
        self.db.count_stores_by_status().await
    }

    /// The number of jobs per `(kind, state)`.
    pub async fn job_counts(&self) -> Result<Vec<(String, String, i64)>, DbError> {
        self.db.count_jobs().await
    }
}
