//! Server-side apply of objects into a store namespace with the field manager `storeplane`
//! (forced, so the host's intent wins over drift), for every kind the host knows: the kinds a
//! store chart may render and the kinds the host creates itself.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::Value;

use super::cluster::Cluster;
use super::error::{KubeError, Result, retrying, within};
use super::guard::FIELD_MANAGER;

/// `(apiVersion, kind, plural, namespaced)` of every kind the host applies.
const KINDS: &[(&str, &str, &str, bool)] = &[
    ("v1", "Namespace", "namespaces", false),
    ("v1", "ConfigMap", "configmaps", true),
    ("v1", "Service", "services", true),
    (
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
    ),
    ("v1", "ServiceAccount", "serviceaccounts", true),
    ("v1", "ResourceQuota", "resourcequotas", true),
    ("v1", "LimitRange", "limitranges", true),
    ("apps/v1", "Deployment", "deployments", true),
    ("apps/v1", "StatefulSet", "statefulsets", true),
    ("batch/v1", "Job", "jobs", true),
    ("batch/v1", "CronJob", "cronjobs", true),
    ("networking.k8s.io/v1", "Ingress", "ingresses", true),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    (
        "policy/v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    ),
    (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    ),
];

/// `(API group, plural)` of every kind the host applies (what its RBAC must allow to create
/// and patch).
pub fn applied_resources() -> impl Iterator<Item = (&'static str, &'static str)> {
    KINDS.iter().map(|(api, _, plural, _)| {
        let group = api.split_once('/').map_or("", |(group, _)| group);
        (group, *plural)
    })
}

/// The API resource of `apiVersion`/`kind` and whether it is namespaced.
fn resource(api_version: &str, kind: &str) -> Option<(ApiResource, bool)> {
    KINDS
        .iter()
        .find(|(a, k, _, _)| *a == api_version && *k == kind)
        .map(|(api, kind, plural, namespaced)| {
            let (group, version) = api.split_once('/').unwrap_or(("", api));
            (
                ApiResource {
                    group: group.to_owned(),
                    version: version.to_owned(),
                    api_version: (*api).to_owned(),
                    kind: (*kind).to_owned(),
                    plural: (*plural).to_owned(),
                },
                *namespaced,
            )
        })
}

impl Cluster {
    /// Server-side applies `object`: namespaced objects into `namespace`, cluster-scoped ones
    /// (only the store's Namespace) with `namespace` ignored.
    pub async fn apply(&self, namespace: &str, object: &Value) -> Result<()> {
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let (api_version, kind, name) =
            (text("/apiVersion"), text("/kind"), text("/metadata/name"));
        let (resource, namespaced) = resource(api_version, kind).ok_or_else(|| {
            KubeError::Rejected(format!(
                "{kind} ({api_version}) is not a kind the host applies"
            ))
        })?;
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &resource)
        } else {
            Api::all_with(self.client.clone(), &resource)
        };
        let params = PatchParams::apply(FIELD_MANAGER).force();
        retrying(|| {
            within(self.call_timeout, async {
                api.patch(name, &params, &Patch::Apply(object))
                    .await
                    .map(drop)
                    .map_err(|err| match KubeError::from(err) {
                        KubeError::NotFound(m) => {
                            KubeError::Transient(format!("{kind}/{name}: {m}"))
                        }
                        other => other,
                    })
            })
        })
        .await
        .map_err(|err| match err {
            KubeError::Rejected(m) => KubeError::Rejected(format!("applying {kind}/{name}: {m}")),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chart_kind_can_be_applied() {
        for (api, kind) in super::super::manifest::ALLOWED_KINDS {
            assert!(
                resource(api, kind).is_some(),
                "{kind} ({api}) has no resource"
            );
        }
    }
}
