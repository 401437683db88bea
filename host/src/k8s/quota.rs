//! Waiting until a namespace's ResourceQuota is enforced. The API server's quota admission
//! only enforces keys the quota controller has copied into `status.hard` (a fresh quota with
//! an empty status limits nothing), and refuses every request it would count with 403
//! "status unknown for quota" while a key of `status.hard` is missing from `status.used`.
//! So the host waits, by watching the one quota, until both cover what it applied.

use std::time::Duration;

use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::Api;
use serde_json::Value;

use super::cluster::Cluster;
use super::error::{KubeError, Result};
use super::quantity::Quantity;

/// Whether `quota`'s status enforces every limit in `wanted` (`spec.hard` as applied).
fn enforces(quota: &ResourceQuota, wanted: &Value) -> bool {
    let Some(status) = &quota.status else {
        return false;
    };
    let (hard, used) = (status.hard.as_ref(), status.used.as_ref());
    wanted.as_object().is_some_and(|wanted| {
        wanted.iter().all(|(key, value)| {
            let want = value.as_str().and_then(|v| Quantity::parse(v).ok());
            let has = hard
                .and_then(|h| h.get(key))
                .and_then(|q| Quantity::parse(&q.0).ok());
            want.is_some() && want == has && used.is_some_and(|u| u.contains_key(key))
        })
    })
}

impl Cluster {
    /// Waits up to `limit` until the ResourceQuota `name` in `namespace` enforces `hard`;
    /// `false` when time ran out.
    pub async fn wait_quota_enforced(
        &self,
        namespace: &str,
        name: &str,
        hard: &Value,
        limit: Duration,
    ) -> Result<bool> {
        let api: Api<ResourceQuota> = Api::namespaced(self.client.clone(), namespace);
        self.watch_one(&api, name, limit, |quota| match quota {
            Some(quota) => Ok(enforces(quota, hard)),
            None => Err(KubeError::NotFound(format!(
                "resourcequota {name} in namespace {namespace}"
            ))),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn quota(status: Value) -> ResourceQuota {
        serde_json::from_value(json!({"metadata": {"name": "q"}, "status": status}))
            .unwrap_or_default()
    }

    #[test]
    fn enforced_only_when_hard_matches_and_used_is_known() {
        let wanted = json!({"limits.cpu": "4500m", "pods": "2"});
        assert!(!enforces(&quota(json!(null)), &wanted));
        assert!(!enforces(&quota(json!({})), &wanted));
        // Old hard values (the spec changed since the controller last looked).
        assert!(!enforces(
            &quota(
                json!({"hard": {"limits.cpu": "4", "pods": "2"}, "used": {"limits.cpu": "0", "pods": "0"}})
            ),
            &wanted
        ));
        // Hard filled, used lagging: the API server answers "status unknown for quota".
        assert!(!enforces(
            &quota(json!({"hard": {"limits.cpu": "4.5", "pods": "2"}, "used": {"pods": "0"}})),
            &wanted
        ));
        assert!(enforces(
            &quota(
                json!({"hard": {"limits.cpu": "4.5", "pods": "2"}, "used": {"limits.cpu": "0", "pods": "0"}})
            ),
            &wanted
        ));
    }
}
