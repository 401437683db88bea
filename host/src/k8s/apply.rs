//! Server-side apply of objects into a store namespace with the field manager `storeplane`
//! (forced, so the host's intent wins over drift), for every kind the host knows: the kinds a
//! store chart may render and the kinds the host creates itself.
//!
//! When the API server refuses an apply because it changes a field that can never change
//! (422: a StatefulSet's claim templates after a chart upgrade, a Deployment's selector), the
//! object is deleted and applied again, keeping the data: a StatefulSet is deleted orphaning
//! its pods (the new one adopts them) and never its claims; a Deployment's pods hold no data.
//! Other immutable changes (a claim's spec, a Job's template) are refused with the reason, as
//! recreating them would lose data or work.

use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
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
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
        true,
    ),
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

/// Whether the host deletes objects of this kind when a store's new plan no longer renders
/// them: the kinds a chart may render, except claims (they hold the store's data).
fn is_pruned(api_version: &str, kind: &str) -> bool {
    kind != "PersistentVolumeClaim"
        && super::manifest::ALLOWED_KINDS
            .iter()
            .any(|(a, k)| *a == api_version && *k == kind)
}

/// `(API group, plural)` of every kind the host deletes when an upgrade no longer renders it
/// (what its store role must allow to delete).
pub fn pruned_resources() -> impl Iterator<Item = (&'static str, &'static str)> {
    KINDS
        .iter()
        .filter(|(api, kind, _, _)| is_pruned(api, kind))
        .map(|(api, _, plural, _)| {
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

/// How an apply went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    InPlace,
    /// Deleted and created again because a field that cannot change did; says which.
    Recreated(String),
}

/// Whether a 422 says the apply changed a field that can never change (apps, batch and core
/// validation messages).
fn is_immutable(status: &kube::core::Status) -> bool {
    status.code == 422
        && [
            "field is immutable",
            "updates to statefulset spec for fields other than",
            "spec is immutable after creation",
            "may not change once set",
        ]
        .iter()
        .any(|marker| status.message.contains(marker))
}

/// How long a deleted object may take to go before it is applied again.
const GONE_LIMIT: Duration = Duration::from_secs(60);

impl Cluster {
    /// Server-side applies `object`: namespaced objects into `namespace`, cluster-scoped ones
    /// (only the store's Namespace) with `namespace` ignored.
    pub async fn apply(&self, namespace: &str, object: &Value) -> Result<Applied> {
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
        let refused = match self.apply_once(&api, kind, name, object).await? {
            None => return Ok(Applied::InPlace),
            Some(refused) => refused,
        };
        let propagation = match kind {
            "StatefulSet" => PropagationPolicy::Orphan,
            "Deployment" => PropagationPolicy::Background,
            _ => {
                return Err(KubeError::Rejected(format!(
                    "applying {kind}/{name}: {refused}; it cannot be changed in place and recreating it would lose data, so the change needs an operator"
                )));
            }
        };
        tracing::info!(kind, name, reason = %refused, "recreating an object whose immutable fields changed");
        self.delete_and_wait(&api, name, propagation).await?;
        match self.apply_once(&api, kind, name, object).await? {
            None => Ok(Applied::Recreated(format!("{kind}/{name}: {refused}"))),
            Some(again) => Err(KubeError::Rejected(format!(
                "applying {kind}/{name} after recreating it: {again}"
            ))),
        }
    }

    /// Deletes one object of the store's namespace that a new plan no longer renders (its
    /// dependents in the background); `false` when it was already gone.
    pub async fn delete_object(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        name: &str,
    ) -> Result<bool> {
        let (resource, _) = resource(api_version, kind)
            .filter(|_| is_pruned(api_version, kind))
            .ok_or_else(|| {
                KubeError::Rejected(format!(
                    "{kind} ({api_version}) is not a kind the host deletes"
                ))
            })?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource);
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        retrying(|| {
            within(self.call_timeout, async {
                match api.delete(name, &params).await {
                    Ok(_) => Ok(true),
                    Err(err) => match KubeError::from(err) {
                        KubeError::NotFound(_) => Ok(false),
                        other => Err(other),
                    },
                }
            })
        })
        .await
        .map_err(|err| err.doing(format_args!("deleting {kind}/{name}")))
    }

    /// Asks for a larger volume for claim `name` (volume expansion; the API server refuses it
    /// when the claim's storage class does not allow expansion). `false` when there is no
    /// such claim.
    pub async fn expand_claim(&self, namespace: &str, name: &str, size: &str) -> Result<bool> {
        let api: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
            Api::namespaced(self.client.clone(), namespace);
        let patch = serde_json::json!({"spec": {"resources": {"requests": {"storage": size}}}});
        retrying(|| {
            within(self.call_timeout, async {
                match api
                    .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(err) => match KubeError::from(err) {
                        KubeError::NotFound(_) => Ok(false),
                        other => Err(other),
                    },
                }
            })
        })
        .await
        .map_err(|err| err.doing(format_args!("expanding claim {name} to {size}")))
    }

    /// One apply; `Ok(Some(message))` when it changed an immutable field.
    async fn apply_once(
        &self,
        api: &Api<DynamicObject>,
        kind: &str,
        name: &str,
        object: &Value,
    ) -> Result<Option<String>> {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        retrying(|| {
            within(self.call_timeout, async {
                match api.patch(name, &params, &Patch::Apply(object)).await {
                    Ok(_) => Ok(None),
                    Err(kube::Error::Api(status)) if is_immutable(&status) => {
                        Ok(Some(status.message.clone()))
                    }
                    Err(err) => Err(match KubeError::from(err) {
                        KubeError::NotFound(m) => {
                            KubeError::Transient(format!("{kind}/{name}: {m}"))
                        }
                        other => other,
                    }),
                }
            })
        })
        .await
        .map_err(|err| err.doing(format_args!("applying {kind}/{name}")))
    }

    /// Deletes `name` and waits until it is gone (an orphaning delete finishes once the
    /// garbage collector has released the dependents). Polls with `get`: the wait is short and
    /// a watch would need one more right.
    async fn delete_and_wait(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        propagation: PropagationPolicy,
    ) -> Result<()> {
        let params = DeleteParams {
            propagation_policy: Some(propagation),
            ..DeleteParams::default()
        };
        retrying(|| {
            within(self.call_timeout, async {
                match api.delete(name, &params).await {
                    Ok(_) => Ok(()),
                    Err(err) => match KubeError::from(err) {
                        KubeError::NotFound(_) => Ok(()),
                        other => Err(other),
                    },
                }
            })
        })
        .await?;
        let deadline = tokio::time::Instant::now() + GONE_LIMIT;
        let mut pause = Duration::from_millis(50);
        loop {
            let current =
                retrying(|| within(self.call_timeout, async { Ok(api.get_opt(name).await?) }))
                    .await?;
            if current.is_none() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(KubeError::Transient(format!(
                    "{name} was deleted to be recreated but is still there after {GONE_LIMIT:?}"
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
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
