//! What the cluster's controllers would do: Deployments and StatefulSets get pods and a ready
//! status after `ready_after_ms` (or pods stuck in a scripted failure), deleting a workload
//! deletes its pods, and a deleted namespace terminates: its objects go away, then it does.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::objects::Selector;
use super::resources::{Resource, of_kind};
use super::state::{FakeState, ReadyMark, lock, now_ms};

/// Reacts to a create/update of an object.
pub fn after_write(
    state: &Arc<FakeState>,
    resource: &Resource,
    namespace: &str,
    object: &Value,
    changed: bool,
) {
    if !changed || !matches!(resource.kind, "Deployment" | "StatefulSet") {
        return;
    }
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let delay = Duration::from_millis(state.settings().ready_after_ms);
    let state = Arc::clone(state);
    let kind = resource.kind;
    let namespace = namespace.to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        roll_out(&state, kind, &namespace, &name, generation);
    });
}

/// Deleting a workload deletes its pods; deleting a pod of a workload makes its controller
/// roll the workload's pods out again (with the failure settings of that moment).
pub fn after_delete(state: &Arc<FakeState>, resource: &Resource, namespace: &str, removed: &Value) {
    let name = removed
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match resource.kind {
        "Deployment" | "StatefulSet" => remove_pods_of(state, namespace, name),
        "Pod" => {
            let owner = removed.pointer("/metadata/ownerReferences/0");
            let kind = owner.and_then(|o| o.get("kind")).and_then(Value::as_str);
            let owner_name = owner.and_then(|o| o.get("name")).and_then(Value::as_str);
            let (Some(kind @ ("Deployment" | "StatefulSet")), Some(owner_name)) =
                (kind, owner_name)
            else {
                return;
            };
            let Some(workloads) = of_kind("apps/v1", kind) else {
                return;
            };
            let Some(workload) = lock(&state.objects)
                .get(workloads, namespace, owner_name)
                .cloned()
            else {
                return;
            };
            after_write(state, workloads, namespace, &workload, true);
        }
        _ => {}
    }
}

fn remove_pods_of(state: &FakeState, namespace: &str, workload: &str) {
    let Some(pods) = of_kind("v1", "Pod") else {
        return;
    };
    let mut objects = lock(&state.objects);
    let owned: Vec<String> = objects
        .list(
            pods,
            Some(namespace),
            &Selector::default(),
            &Selector::default(),
        )
        .iter()
        .filter(|pod| {
            pod.pointer("/metadata/ownerReferences/0/name")
                .and_then(Value::as_str)
                == Some(workload)
        })
        .filter_map(|pod| {
            pod.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    for pod in owned {
        let _ = objects.remove(pods, namespace, &pod);
    }
}

/// Replaces the workload's pods with pods of its current template and updates its status.
fn roll_out(state: &FakeState, kind: &'static str, namespace: &str, name: &str, generation: i64) {
    let (Some(workloads), Some(pods)) = (of_kind("apps/v1", kind), of_kind("v1", "Pod")) else {
        return;
    };
    let Some(workload) = lock(&state.objects)
        .get(workloads, namespace, name)
        .cloned()
    else {
        return;
    };
    if workload
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        != Some(generation)
    {
        return; // a newer generation has its own roll-out
    }
    remove_pods_of(state, namespace, name);
    let replicas = workload
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let template = workload
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let images: Vec<String> = template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let failure = state
        .settings()
        .pod_failures
        .into_iter()
        .find(|f| name.contains(&f.matches) || images.iter().any(|i| i.contains(&f.matches)));
    let mut objects = lock(&state.objects);
    for i in 0..replicas {
        let pod_name = if kind == "StatefulSet" {
            format!("{name}-{i}")
        } else {
            format!("{name}-{:x}-{i}", generation * 7919 + 0x5f3a)
        };
        let pod = json!({
            "metadata": {
                "name": pod_name,
                "labels": template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": workload.pointer("/metadata/uid")}],
            },
            "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
            "status": pod_status(&template, failure.as_ref().map(|f| f.reason.as_str())),
        });
        let _ = objects.create(pods, namespace, pod);
    }
    let ready = if failure.is_some() { 0 } else { replicas };
    let mut updated = workload.clone();
    updated["status"] = json!({
        "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
        "readyReplicas": ready, "availableReplicas": ready, "currentReplicas": replicas,
        "unavailableReplicas": replicas - ready,
    });
    if objects.replace(workloads, namespace, name, updated).is_ok() && failure.is_none() {
        drop(objects);
        lock(&state.ready_marks).push(ReadyMark {
            namespace: namespace.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            at_ms: now_ms(),
        });
    }
}

fn pod_status(template: &Value, failure: Option<&str>) -> Value {
    let containers: Vec<&str> = template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let statuses = |state: Value, ready: bool, restarts: u32| -> Vec<Value> {
        containers
            .iter()
            .map(|c| json!({"name": c, "ready": ready, "restartCount": restarts, "state": state, "image": "", "imageID": ""}))
            .collect()
    };
    match failure {
        None => json!({
            "phase": "Running",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
            "containerStatuses": statuses(json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}}), true, 0),
        }),
        Some("Unschedulable") => json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                            "message": "0/1 nodes are available: 1 Insufficient memory."}],
        }),
        Some(reason @ "CrashLoopBackOff") => json!({
            "phase": "Running",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
            "containerStatuses": statuses(json!({"waiting": {"reason": reason, "message": "back-off 40s restarting failed container"}}), false, 4),
        }),
        Some(reason) => json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
            "containerStatuses": statuses(json!({"waiting": {"reason": reason, "message": "failed to pull image: not found"}}), false, 0),
        }),
    }
}

/// After `namespace_termination_ms`, removes everything in the namespace, then the namespace.
pub fn terminate_namespace(state: &Arc<FakeState>, namespace: &str) {
    let delay = Duration::from_millis(state.settings().namespace_termination_ms);
    let state = Arc::clone(state);
    let namespace = namespace.to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let mut objects = lock(&state.objects);
        for (resource, name) in objects.in_namespace(&namespace) {
            let _ = objects.remove(&super::resources::RESOURCES[resource], &namespace, &name);
        }
        if let Some(ns) = of_kind("v1", "Namespace") {
            let _ = objects.remove(ns, "", &namespace);
        }
    });
}
