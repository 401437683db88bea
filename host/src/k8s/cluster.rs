//! The connection to the Kubernetes cluster: built from the kubeconfig named by `KUBECONFIG`
//! (or the in-cluster service account when running in a pod). The operations the pipeline
//! uses live beside it (`apply`, `namespace`, `readiness`, `exec`), each an `impl Cluster`.

use std::path::Path;
use std::time::Duration;

/// Why the cluster could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("kubeconfig {path}: {reason}")]
    Kubeconfig { path: String, reason: String },
    #[error("cluster unreachable: {0}")]
    Unreachable(String),
    #[error("cluster did not answer within {0:?}")]
    Timeout(Duration),
}

/// A client of one cluster.
#[derive(Clone)]
pub struct Cluster {
    pub(super) client: kube::Client,
    /// Time limit of one request (watches and execs have their own).
    pub(super) call_timeout: Duration,
    /// The user name the API server knows this client as (`access::own_user`).
    pub(super) own_user: std::sync::Arc<std::sync::OnceLock<String>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("default_namespace", &self.client.default_namespace())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// The cluster of `kubeconfig`, else the in-cluster configuration, else `None`
    /// (no cluster configured: the API still serves, provisioning cannot run).
    pub async fn connect(kubeconfig: Option<&Path>) -> Result<Option<Self>, ClusterError> {
        let config = match kubeconfig {
            Some(path) => {
                let fail = |reason: String| ClusterError::Kubeconfig {
                    path: path.display().to_string(),
                    reason,
                };
                let file = kube::config::Kubeconfig::read_from(path)
                    .map_err(|err| fail(err.to_string()))?;
                kube::Config::from_custom_kubeconfig(
                    file,
                    &kube::config::KubeConfigOptions::default(),
                )
                .await
                .map_err(|err| fail(err.to_string()))?
            }
            None => match kube::Config::incluster() {
                Ok(config) => config,
                Err(_) => return Ok(None),
            },
        };
        // The pipeline retries with its own classification, backoff and circuit breaker;
        // kube's built-in retry of 429/503/504 would hide outages from the breaker.
        let mut config = config;
        config.default_retry = false;
        let client = kube::Client::try_from(config)
            .map_err(|err| ClusterError::Unreachable(err.to_string()))?;
        Ok(Some(Self {
            client,
            call_timeout: Duration::from_secs(10),
            own_user: std::sync::Arc::default(),
        }))
    }

    /// The same cluster with another per-request time limit.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The API server's version (`GET /version`), within `timeout`.
    pub async fn version(&self, timeout: Duration) -> Result<String, ClusterError> {
        match tokio::time::timeout(timeout, self.client.apiserver_version()).await {
            Ok(Ok(info)) => Ok(info.git_version),
            Ok(Err(err)) => Err(ClusterError::Unreachable(err.to_string())),
            Err(_) => Err(ClusterError::Timeout(timeout)),
        }
    }
}
