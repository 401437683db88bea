//! Errors of cluster calls, classified the way the job runner needs them: transient (retry
//! later, and count towards the circuit breaker) or permanent (the store fails with the
//! reason). Plus a short in-call retry for transient failures, so one lost request does not
//! cost a whole pipeline step.

use std::future::Future;
use std::time::Duration;

/// Why a cluster call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// The cluster could not answer now (connection, timeout, 5xx, 429, conflicts): retry.
    #[error("cluster temporarily unavailable: {0}")]
    Transient(String),
    /// The cluster refused the request for good (4xx other than the above).
    #[error("{0}")]
    Rejected(String),
    /// RBAC refused the request: this client's role does not allow it. Permanent, unless a
    /// role binding made moments ago has not reached every API server yet.
    #[error("{0}")]
    Forbidden(String),
    /// The object does not exist.
    #[error("not found: {0}")]
    NotFound(String),
}

impl KubeError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// Whether RBAC refused the request.
    pub fn is_rbac_denial(&self) -> bool {
        matches!(self, Self::Forbidden(_))
    }

    /// The same failure, its message prefixed with what was being done.
    pub fn doing(self, what: impl std::fmt::Display) -> Self {
        match self {
            Self::Rejected(m) => Self::Rejected(format!("{what}: {m}")),
            Self::Forbidden(m) => Self::Forbidden(format!("{what}: {m}")),
            other => other,
        }
    }
}

/// Whether a 403's `message` is RBAC's. Kubernetes answers RBAC, quota and Pod Security
/// refusals alike (403, reason `Forbidden`); only RBAC's message names the user and what it
/// cannot do (`<resource> "<name>" is forbidden: User "<user>" cannot <verb> resource …`,
/// k8s.io/apiserver `endpoints/handlers/responsewriters/errors.go`).
fn is_rbac_message(message: &str) -> bool {
    message.contains("is forbidden: User ") && message.contains(" cannot ")
}

impl From<kube::Error> for KubeError {
    fn from(err: kube::Error) -> Self {
        match &err {
            kube::Error::Api(status) => {
                let message = format!("{} ({} {})", status.message, status.code, status.reason);
                match status.code {
                    404 => Self::NotFound(message),
                    403 if is_rbac_message(&status.message) => Self::Forbidden(message),
                    // Quota admission cannot count the request until the quota controller
                    // has caught up (a new or changed quota): heals by itself.
                    403 if status.message.contains("status unknown for quota") => {
                        Self::Transient(message)
                    }
                    // A server-side apply with a field the schema does not declare fails the
                    // same way every time (apimachinery structuredmerge.go answers it as 500).
                    500 if status.message.contains("field not declared in schema") => {
                        Self::Rejected(message)
                    }
                    // Conflict (someone else wrote first), Gone (watch expired), throttling
                    // and every server-side failure heal by trying again.
                    409 | 410 | 429 | 500..=599 => Self::Transient(message),
                    _ => Self::Rejected(message),
                }
            }
            kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => {
                Self::Rejected(err.to_string())
            }
            // Connection refused/reset, TLS, upgrade and timeout failures: the cluster or the
            // path to it is down.
            _ => Self::Transient(err.to_string()),
        }
    }
}

/// Result alias of cluster calls.
pub type Result<T, E = KubeError> = std::result::Result<T, E>;

/// Attempts of one cluster call before a transient failure is reported.
const CALL_ATTEMPTS: u32 = 4;

/// Runs `call`, retrying transient failures a few times with a short backoff.
pub async fn retrying<T, F, Fut>(mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut delay = Duration::from_millis(25);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(err) if err.is_transient() && attempt < CALL_ATTEMPTS => {
                tracing::debug!(error = %err, attempt, "cluster call failed; trying again");
                tokio::time::sleep(delay).await;
                delay *= 3;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Runs `call` with a time limit; running out is transient.
pub async fn within<T>(limit: Duration, call: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(KubeError::Transient(format!("no answer within {limit:?}"))))
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    fn api_error(code: u16, reason: &str, message: &str) -> KubeError {
        KubeError::from(kube::Error::Api(
            Status::failure(message, reason).with_code(code).boxed(),
        ))
    }

    #[test]
    fn quota_refusals_are_classified_by_cause() {
        // The API server's wording (apiserver plugin/resourcequota/controller.go).
        let lagging = api_error(
            403,
            "Forbidden",
            "persistentvolumeclaims \"data\" is forbidden: status unknown for quota: store-quota, resources: persistentvolumeclaims",
        );
        assert!(lagging.is_transient(), "{lagging:?}");
        let exceeded = api_error(
            403,
            "Forbidden",
            "persistentvolumeclaims \"data\" is forbidden: exceeded quota: store-quota, requested: requests.storage=10Gi, used: requests.storage=20Gi, limited: requests.storage=20Gi",
        );
        assert!(matches!(exceeded, KubeError::Rejected(_)), "{exceeded:?}");
    }

    #[test]
    fn an_undeclared_field_is_not_retried() {
        let err = api_error(
            500,
            "",
            "failed to create typed patch object (store-x/web; apps/v1, Kind=Deployment): .spec.replica: field not declared in schema",
        );
        assert!(matches!(err, KubeError::Rejected(_)), "{err:?}");
        assert!(api_error(500, "InternalError", "etcdserver: leader changed").is_transient());
    }

    #[test]
    fn only_rbacs_refusals_are_rbac_denials() {
        // The API server's wording (apiserver endpoints/handlers/responsewriters/errors.go,
        // plugin/resourcequota, pod-security-admission).
        let rbac = api_error(
            403,
            "Forbidden",
            "secrets \"s\" is forbidden: User \"u\" cannot get resource \"secrets\" in API group \"\" in the namespace \"n\"",
        );
        assert!(rbac.is_rbac_denial(), "{rbac:?}");
        assert!(
            rbac.clone().doing("reading secret s").is_rbac_denial(),
            "context keeps the kind"
        );
        let quota = api_error(
            403,
            "Forbidden",
            "pods \"p\" is forbidden: exceeded quota: store-quota, requested: limits.cpu=1, used: limits.cpu=4, limited: limits.cpu=4",
        );
        assert!(!quota.is_rbac_denial(), "{quota:?}");
        let psa = api_error(
            403,
            "Forbidden",
            "pods \"p\" is forbidden: violates PodSecurity \"restricted:latest\": runAsNonRoot != true",
        );
        assert!(!psa.is_rbac_denial(), "{psa:?}");
        let not_found = api_error(404, "NotFound", "User x cannot find it");
        assert!(!not_found.is_rbac_denial());
    }
}
