//! The controllers that look after a namespace as a whole, after Kubernetes' own: the quota
//! controller filling a ResourceQuota's status (after `quota_sync_ms`, `status.used` perhaps
//! `quota_used_lag_ms` later), a policy engine's labels and quota on every new namespace
//! (`namespace_labels`, `namespace_quota`), PVC protection (a claim a pod mounts stays
//! terminating until no pod does), and the namespace controller deleting a namespace's content
//! and then the namespace (held `Terminating` by `stuck_finalizer`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::admission;
use super::objects::Objects;
use super::resources::of_kind;
use super::simulate::{list, name_of};
use super::state::{FakeState, lock};

/// The quota controller: `status.hard` after `quota_sync_ms`, `status.used` with it, or
/// `quota_used_lag_ms` later.
pub(super) fn sync_quota(state: &Arc<FakeState>, namespace: &str, name: &str) {
    let settings = state.settings();
    let state = Arc::clone(state);
    let namespace = namespace.to_owned();
    let name = name.to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(settings.quota_sync_ms)).await;
        let lagging = settings.quota_used_lag_ms > 0;
        write_quota_status(&state, &namespace, &name, !lagging);
        if lagging {
            tokio::time::sleep(Duration::from_millis(settings.quota_used_lag_ms)).await;
            write_quota_status(&state, &namespace, &name, true);
        }
    });
}

/// The `namespace_labels` setting: a policy engine's mutation of every namespace's labels
/// (e.g. Pod Security levels the cluster's owners impose), winning over what was applied.
pub(super) fn policy_labels(state: &FakeState, namespace: &str) {
    let (Some(forced), Some(namespaces)) = (
        state.settings().namespace_labels,
        of_kind("v1", "Namespace"),
    ) else {
        return;
    };
    let mut objects = lock(&state.objects);
    let Some(mut ns) = objects.get(namespaces, "", namespace).cloned() else {
        return;
    };
    for (key, value) in forced.as_object().into_iter().flatten() {
        ns["metadata"]["labels"][key] = value.clone();
    }
    let _ = objects.replace(namespaces, "", namespace, ns);
}

/// The `namespace_quota` setting: a quota of the cluster's own in every new namespace.
pub(super) fn policy_quota(state: &Arc<FakeState>, namespace: &str) {
    let (Some(hard), Some(quotas)) = (
        state.settings().namespace_quota,
        of_kind("v1", "ResourceQuota"),
    ) else {
        return;
    };
    let quota = json!({"metadata": {"name": "cluster-policy"}, "spec": {"hard": hard}});
    if lock(&state.objects)
        .create(quotas, namespace, quota)
        .is_ok()
    {
        sync_quota(state, namespace, "cluster-policy");
    }
}

fn write_quota_status(state: &FakeState, namespace: &str, name: &str, with_used: bool) {
    let Some(quotas) = of_kind("v1", "ResourceQuota") else {
        return;
    };
    let mut objects = lock(&state.objects);
    let Some(mut quota) = objects.get(quotas, namespace, name).cloned() else {
        return;
    };
    quota["status"] = admission::quota_status(&objects, namespace, &quota, with_used);
    let _ = objects.replace(quotas, namespace, name, quota);
}

/// Whether a pod in `namespace` mounts claim `name`.
fn claim_in_use(objects: &Objects, namespace: &str, name: &str) -> bool {
    list(objects, "v1", "Pod", namespace).iter().any(|pod| {
        pod.pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|v| {
                v.pointer("/persistentVolumeClaim/claimName")
                    .and_then(Value::as_str)
                    == Some(name)
            })
    })
}

/// PVC protection (k/k pkg/controller/volume/pvcprotection): deleting a claim a pod mounts
/// marks it terminating with the `kubernetes.io/pvc-protection` finalizer instead; `None`
/// when no pod mounts it (it can go).
pub fn protect_claim(
    state: &FakeState,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, super::objects::ApiError> {
    let Some(claims) = of_kind("v1", "PersistentVolumeClaim") else {
        return Ok(None);
    };
    let mut objects = lock(&state.objects);
    let claim = objects
        .get(claims, namespace, name)
        .cloned()
        .ok_or_else(|| super::objects::ApiError::not_found(claims, name))?;
    if !claim_in_use(&objects, namespace, name) {
        return Ok(None);
    }
    let mut held = claim;
    held["metadata"]["deletionTimestamp"] =
        json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
    held["metadata"]["finalizers"] = json!(["kubernetes.io/pvc-protection"]);
    objects.overwrite(claims, namespace, name, held).map(Some)
}

/// The PVC protection controller after a pod went: protected claims no pod mounts any more
/// are removed.
pub(super) fn release_claims(state: &FakeState, namespace: &str) {
    let Some(claims) = of_kind("v1", "PersistentVolumeClaim") else {
        return;
    };
    let mut objects = lock(&state.objects);
    let releasable: Vec<String> = list(&objects, "v1", "PersistentVolumeClaim", namespace)
        .iter()
        .filter(|c| c.pointer("/metadata/deletionTimestamp").is_some())
        .map(|c| name_of(c).to_owned())
        .filter(|n| !claim_in_use(&objects, namespace, n))
        .collect();
    for name in releasable {
        let _ = objects.remove(claims, namespace, &name);
    }
}

/// The namespace controller: after `namespace_termination_ms`, removes everything in the
/// namespace, then the namespace. Objects held by a finalizer nobody removes (the
/// `stuck_finalizer` setting: claims of a CSI driver or operator that is gone) stay, marked
/// for deletion, and the namespace stays `Terminating` with the conditions the controller
/// sets (k/k pkg/controller/namespace/deletion), until the setting is cleared.
pub fn terminate_namespace(state: &Arc<FakeState>, namespace: &str) {
    let state = Arc::clone(state);
    let namespace = namespace.to_owned();
    tokio::spawn(async move {
        loop {
            let delay = state.settings().namespace_termination_ms;
            tokio::time::sleep(Duration::from_millis(delay.max(1))).await;
            if finish_termination(&state, &namespace) {
                return;
            }
        }
    });
}

/// One pass of the namespace controller; `true` when the namespace is gone.
fn finish_termination(state: &FakeState, namespace: &str) -> bool {
    let stuck = state.settings().stuck_finalizer;
    let Some(namespaces) = of_kind("v1", "Namespace") else {
        return true;
    };
    let mut objects = lock(&state.objects);
    let mut held = 0;
    for (index, name) in objects.in_namespace(namespace) {
        let resource = &super::resources::RESOURCES[index];
        match (&stuck, resource.kind) {
            (Some(finalizer), "PersistentVolumeClaim") => {
                held += 1;
                let Some(mut claim) = objects.get(resource, namespace, &name).cloned() else {
                    continue;
                };
                if claim.pointer("/metadata/deletionTimestamp").is_none() {
                    claim["metadata"]["deletionTimestamp"] =
                        json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
                    claim["metadata"]["finalizers"] = json!([finalizer]);
                    let _ = objects.replace(resource, namespace, &name, claim);
                }
            }
            _ => {
                let _ = objects.remove(resource, namespace, &name);
            }
        }
    }
    if held == 0 {
        let _ = objects.remove(namespaces, "", namespace);
        return true;
    }
    let finalizer = stuck.unwrap_or_default();
    if let Some(mut ns) = objects.get(namespaces, "", namespace).cloned()
        && ns.pointer("/status/conditions").is_none()
    {
        ns["status"]["conditions"] = json!([
            {"type": "NamespaceDeletionContentFailure", "status": "False", "reason": "ContentDeleted",
             "message": "All content successfully deleted, may be waiting on finalization"},
            {"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
             "message": format!("Some resources are remaining: persistentvolumeclaims. has {held} resource instances")},
            {"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
             "message": format!("Some content in the namespace has finalizers remaining: {finalizer} in {held} resource instances")},
        ]);
        let _ = objects.replace(namespaces, "", namespace, ns);
    }
    false
}
