//! What the workload controllers would do, after Kubernetes' own (pkg/controller): a
//! Deployment gets a ReplicaSet `<name>-<template hash>` whose pods are created through
//! admission (a refusal sets the ReplicaSet's and Deployment's `ReplicaFailure` condition, with
//! a `FailedCreate` event, and is retried); a StatefulSet gets its claims `<template>-<name>-<i>`
//! and pods `<name>-<i>` in order (`OrderedReady`: the next once the last runs and is ready),
//! each through admission; a Job runs one pod to completion; the kubelet simulation
//! (`kubelet`) decides when pods run; deleting a workload deletes its pods (or orphans them).
//! Namespace-wide controllers (quota, PVC protection, namespace deletion) are in
//! `namespace_controllers`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::admission;
use super::events;
use super::kubelet;
use super::namespace_controllers::{policy_labels, policy_quota, release_claims, sync_quota};
pub use super::namespace_controllers::{protect_claim, terminate_namespace};
use super::objects::{Objects, Selector};
use super::resources::{Resource, of_kind};
use super::state::{FakeState, ReadyMark, lock, now_ms};

/// How often a controller retries creating pods that admission refused.
const CREATE_RETRIES: u32 = 40;

/// Reacts to a create/update of an object.
pub fn after_write(
    state: &Arc<FakeState>,
    resource: &Resource,
    namespace: &str,
    object: &Value,
    changed: bool,
) {
    if matches!(resource.kind, "RoleBinding" | "ClusterRoleBinding") {
        state.binding_written(resource.kind, namespace, name_of(object));
    }
    // A policy engine's mutation applies to every write of a namespace, labels included.
    if resource.kind == "Namespace" {
        policy_labels(state, name_of(object));
    }
    if !changed {
        return;
    }
    if resource.kind == "ResourceQuota" {
        sync_quota(state, namespace, name_of(object));
        return;
    }
    if resource.kind == "Namespace" {
        policy_quota(state, name_of(object));
        return;
    }
    if resource.kind == "Job" {
        run_job(state, namespace, name_of(object));
        return;
    }
    if !matches!(resource.kind, "Deployment" | "StatefulSet") {
        return;
    }
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    observe_new_generation(state, resource, namespace, object, generation);
    schedule_roll_out(
        state,
        resource.kind,
        namespace,
        name_of(object),
        generation,
        0,
    );
}

/// What the controller writes as soon as it sees a new generation, before any pod is
/// replaced: `observedGeneration` is the new one, but no replica is updated yet (and a
/// StatefulSet's `updateRevision` differs from its `currentRevision`) while the old pods are
/// still ready. A client that only compares generations thinks the roll-out is done.
fn observe_new_generation(
    state: &FakeState,
    resource: &Resource,
    namespace: &str,
    object: &Value,
    generation: i64,
) {
    let name = name_of(object);
    let revision = format!(
        "{name}-{}",
        template_hash(object.pointer("/spec/template").unwrap_or(&Value::Null))
    );
    let mut objects = lock(&state.objects);
    let Some(mut current) = objects.get(resource, namespace, name).cloned() else {
        return;
    };
    let status = current
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut status = status;
    status["observedGeneration"] = json!(generation);
    status["updatedReplicas"] = json!(0);
    if resource.kind == "StatefulSet" {
        if status.get("currentRevision").is_none() {
            status["currentRevision"] = json!(revision);
        }
        status["updateRevision"] = json!(revision);
    }
    current["status"] = status;
    let _ = objects.replace(resource, namespace, name, current);
}

pub(super) fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn schedule_roll_out(
    state: &Arc<FakeState>,
    kind: &'static str,
    namespace: &str,
    name: &str,
    generation: i64,
    attempt: u32,
) {
    let delay = Duration::from_millis(state.settings().ready_after_ms);
    let state = Arc::clone(state);
    let namespace = namespace.to_owned();
    let name = name.to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let refused = roll_out(&state, kind, &namespace, &name, generation, false);
        if refused && attempt < CREATE_RETRIES {
            schedule_roll_out(&state, kind, &namespace, &name, generation, attempt + 1);
        }
    });
}

/// The Job controller, after `ready_after_ms`: one pod `<job>-<5 chars>` through admission
/// (a refusal is a Warning `FailedCreate` event, retried), which runs to completion; then the
/// Job is `Complete` with one success (k/k pkg/controller/job).
fn run_job(state: &Arc<FakeState>, namespace: &str, name: &str) {
    let delay = Duration::from_millis(state.settings().ready_after_ms);
    let state = Arc::clone(state);
    let (namespace, name) = (namespace.to_owned(), name.to_owned());
    tokio::spawn(async move {
        for _ in 0..CREATE_RETRIES {
            tokio::time::sleep(delay.max(Duration::from_millis(20))).await;
            if job_pod(&state, &namespace, &name) {
                return;
            }
        }
    });
}

/// Creates the Job's pod and completes the Job; `false` when admission refused the pod.
fn job_pod(state: &FakeState, namespace: &str, name: &str) -> bool {
    let (Some(jobs), Some(pods)) = (of_kind("batch/v1", "Job"), of_kind("v1", "Pod")) else {
        return true;
    };
    let mut objects = lock(&state.objects);
    let Some(mut job) = objects.get(jobs, namespace, name).cloned() else {
        return true; // deleted meanwhile
    };
    if job.pointer("/status/succeeded").is_some() {
        return true;
    }
    let template = job
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let pod_name = format!("{name}-{}", pod_suffix(&objects));
    let mut pod = json!({
        "metadata": {
            "name": pod_name,
            "labels": template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                 "uid": job.pointer("/metadata/uid"), "controller": true}],
        },
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    });
    if let Err(err) = admission::admit_create(&objects, pods, namespace, &mut pod) {
        record_event(
            &mut objects,
            namespace,
            "Job",
            name,
            &format!("Error creating: {}", err.message),
        );
        return false;
    }
    let finished: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "ready": false, "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}})
        })
        .collect();
    pod["status"] = json!({"phase": "Succeeded", "containerStatuses": finished,
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False", "reason": "PodCompleted"}]});
    let _ = objects.create(pods, namespace, pod);
    job["status"] = json!({"succeeded": 1, "active": 0,
        "conditions": [{"type": "Complete", "status": "True"}]});
    let _ = objects.replace(jobs, namespace, name, job);
    true
}

/// Deleting a workload deletes its ReplicaSets and pods; deleting a pod of a workload makes
/// its controller create it again (with the failure settings of that moment).
pub fn after_delete(state: &Arc<FakeState>, resource: &Resource, namespace: &str, removed: &Value) {
    forget_workload(state, resource, namespace, removed);
    // Pods may have gone with it: protected claims no pod mounts any more go too.
    release_claims(state, namespace);
}

fn forget_workload(state: &Arc<FakeState>, resource: &Resource, namespace: &str, removed: &Value) {
    let name = name_of(removed);
    match resource.kind {
        "Deployment" => {
            let mut objects = lock(&state.objects);
            for rs in replica_sets_of(&objects, namespace, name) {
                remove_owned_pods(&mut objects, namespace, &rs);
                if let Some(r) = of_kind("apps/v1", "ReplicaSet") {
                    let _ = objects.remove(r, namespace, &rs);
                }
            }
        }
        "StatefulSet" | "Job" => remove_owned_pods(&mut lock(&state.objects), namespace, name),
        "Pod" => {
            let Some((kind, workload)) = workload_of(&lock(&state.objects), namespace, removed)
            else {
                return;
            };
            let Some(workloads) = of_kind("apps/v1", kind) else {
                return;
            };
            let Some(object) = lock(&state.objects)
                .get(workloads, namespace, &workload)
                .cloned()
            else {
                return;
            };
            after_write(state, workloads, namespace, &object, true);
        }
        _ => {}
    }
}

/// The garbage collector's orphaning: dependents of `removed` lose their owner reference.
pub fn orphan_dependents(state: &FakeState, namespace: &str, removed: &Value) {
    let Some(uid) = removed.pointer("/metadata/uid") else {
        return;
    };
    let mut objects = lock(&state.objects);
    for (index, name) in objects.in_namespace(namespace) {
        let resource = &super::resources::RESOURCES[index];
        let Some(mut object) = objects.get(resource, namespace, &name).cloned() else {
            continue;
        };
        if object.pointer("/metadata/ownerReferences/0/uid") == Some(uid) {
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("ownerReferences");
            }
            let _ = objects.replace(resource, namespace, &name, object);
        }
    }
}

fn owner(object: &Value) -> Option<(&str, &str)> {
    let owner = object.pointer("/metadata/ownerReferences/0")?;
    Some((owner.get("kind")?.as_str()?, owner.get("name")?.as_str()?))
}

/// The Deployment or StatefulSet a pod belongs to (through its ReplicaSet).
fn workload_of(objects: &Objects, namespace: &str, pod: &Value) -> Option<(&'static str, String)> {
    match owner(pod)? {
        ("StatefulSet", name) => Some(("StatefulSet", name.to_owned())),
        ("ReplicaSet", rs) => {
            let rs = objects.get(of_kind("apps/v1", "ReplicaSet")?, namespace, rs)?;
            match owner(rs)? {
                ("Deployment", name) => Some(("Deployment", name.to_owned())),
                _ => None,
            }
        }
        _ => None,
    }
}

pub(super) fn list(
    objects: &Objects,
    api_version: &str,
    kind: &str,
    namespace: &str,
) -> Vec<Value> {
    of_kind(api_version, kind).map_or_else(Vec::new, |r| {
        objects.list(
            r,
            Some(namespace),
            &Selector::default(),
            &Selector::default(),
        )
    })
}

fn replica_sets_of(objects: &Objects, namespace: &str, deployment: &str) -> Vec<String> {
    list(objects, "apps/v1", "ReplicaSet", namespace)
        .iter()
        .filter(|rs| owner(rs) == Some(("Deployment", deployment)))
        .map(|rs| name_of(rs).to_owned())
        .collect()
}

fn remove_owned_pods(objects: &mut Objects, namespace: &str, owner_name: &str) {
    let Some(pods) = of_kind("v1", "Pod") else {
        return;
    };
    let owned: Vec<String> = list(objects, "v1", "Pod", namespace)
        .iter()
        .filter(|pod| owner(pod).map(|(_, n)| n) == Some(owner_name))
        .map(|pod| name_of(pod).to_owned())
        .collect();
    for pod in owned {
        let _ = objects.remove(pods, namespace, &pod);
    }
}

/// Removes the ReplicaSets `sets` with their pods.
fn retire(objects: &mut Objects, namespace: &str, sets: &[String]) {
    for set in sets {
        remove_owned_pods(objects, namespace, set);
        if let Some(r) = of_kind("apps/v1", "ReplicaSet") {
            let _ = objects.remove(r, namespace, set);
        }
    }
}

/// The pods owned by any of `owners`, by name.
fn pods_of(objects: &Objects, namespace: &str, owners: &[String]) -> Vec<String> {
    list(objects, "v1", "Pod", namespace)
        .iter()
        .filter(|pod| owner(pod).is_some_and(|(_, n)| owners.iter().any(|o| o == n)))
        .map(|pod| name_of(pod).to_owned())
        .collect()
}

/// How many pods a Deployment's roll-out may run above `replicas`: none with `Recreate`;
/// `rollingUpdate.maxSurge` as a number or a percentage of `replicas` rounded up (25 % by
/// default), as the deployment controller resolves it (k/k `pkg/controller/deployment/util`).
fn max_surge(deployment: &Value, replicas: i64) -> i64 {
    let strategy = deployment.pointer("/spec/strategy");
    if strategy.and_then(|s| s.get("type")).and_then(Value::as_str) == Some("Recreate") {
        return 0;
    }
    match strategy.and_then(|s| s.pointer("/rollingUpdate/maxSurge")) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(text)) => text.strip_suffix('%').map_or_else(
            || text.parse().unwrap_or(0),
            |percent| (replicas * percent.parse::<i64>().unwrap_or(0) + 99) / 100,
        ),
        _ => (replicas * 25 + 99) / 100,
    }
}

/// `pod-template-hash`: fnv-32a of the template, written with the controller's safe alphabet
/// (k8s.io/apimachinery rand.SafeEncodeString).
fn template_hash(template: &Value) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in template.to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// A 5-character suffix for a generated pod name.
fn pod_suffix(objects: &Objects) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = objects.resource_version() + now_ms();
    (0..5)
        .map(|_| {
            let c = ALPHANUMS[usize::try_from(n % 27).unwrap_or(0)];
            n /= 27;
            char::from(c)
        })
        .collect()
}

/// Replaces the workload's pods with pods of its current template and updates its status.
/// Returns whether admission refused a pod or claim (the controller tries again).
fn roll_out(
    state: &Arc<FakeState>,
    kind: &'static str,
    namespace: &str,
    name: &str,
    generation: i64,
    resume: bool,
) -> bool {
    let Some(workloads) = of_kind("apps/v1", kind) else {
        return false;
    };
    let mut objects = lock(&state.objects);
    let Some(workload) = objects.get(workloads, namespace, name).cloned() else {
        return false;
    };
    if workload
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        != Some(generation)
    {
        return false; // a newer generation has its own roll-out
    }
    // A paused Deployment gets no ReplicaSet for its template (k/k
    // `deployment_controller.go`: a paused Deployment is only scaled, `sync` never creates the
    // new ReplicaSet); it keeps what it had.
    if kind == "Deployment" && workload.pointer("/spec/paused") == Some(&Value::Bool(true)) {
        return false;
    }
    // `OnDelete`: the StatefulSet controller replaces no pod when the template changes
    // (k/k `stateful_set_control.go`); a pod gets the new revision once someone deletes it.
    let has_pods = |objects: &Objects| {
        list(objects, "v1", "Pod", namespace)
            .iter()
            .any(|p| owner(p) == Some(("StatefulSet", name)))
    };
    if kind == "StatefulSet"
        && !resume
        && workload.pointer("/spec/updateStrategy/type") == Some(&json!("OnDelete"))
        && has_pods(&objects)
    {
        return false;
    }
    let replicas = workload
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut template = workload
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
    let owner_ref = |kind: &str, name: &str, uid: Option<&Value>| json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true}]);
    // A Deployment's rolling update: the ReplicaSets it replaces, and how many pods it may run
    // above `replicas` while it does (their pods count against the quota meanwhile).
    let mut old_sets: Vec<String> = Vec::new();
    let mut surge = 0;
    // Who owns the pods: the StatefulSet, or the Deployment's ReplicaSet of this template.
    let pod_owner = if kind == "Deployment" {
        let hash = template_hash(&template);
        let rs_name = format!("{name}-{hash}");
        template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        // Pods this ReplicaSet already has stay (a retry after a refusal, or a roll-back to a
        // template whose pods still serve): it only makes up the missing ones.
        old_sets = replica_sets_of(&objects, namespace, name);
        old_sets.retain(|old| *old != rs_name);
        surge = max_surge(&workload, replicas);
        if surge == 0 {
            // Recreate (or a rolling update without surge): the old pods go first.
            retire(&mut objects, namespace, &old_sets);
            old_sets.clear();
        }
        let Some(replica_sets) = of_kind("apps/v1", "ReplicaSet") else {
            return false;
        };
        if objects.get(replica_sets, namespace, &rs_name).is_none() {
            let rs = json!({
                "metadata": {
                    "name": rs_name,
                    "labels": template.pointer("/metadata/labels"),
                    "ownerReferences": owner_ref("Deployment", name, workload.pointer("/metadata/uid")),
                },
                "spec": {"replicas": replicas, "template": template,
                         "selector": {"matchLabels": template.pointer("/metadata/labels")}},
            });
            let _ = objects.create(replica_sets, namespace, rs);
        }
        let uid = objects
            .get(replica_sets, namespace, &rs_name)
            .and_then(|rs| rs.pointer("/metadata/uid"))
            .cloned();
        ("ReplicaSet", rs_name, uid)
    } else {
        if !resume {
            remove_owned_pods(&mut objects, namespace, name);
        }
        // Orphaned pods of an earlier StatefulSet of this name are adopted (and then
        // replaced with the current template, like a rolling update).
        if let Some(pods) = of_kind("v1", "Pod")
            && !resume
        {
            for i in 0..replicas {
                let _ = objects.remove(pods, namespace, &format!("{name}-{i}"));
            }
        }
        (
            "StatefulSet",
            name.to_owned(),
            workload.pointer("/metadata/uid").cloned(),
        )
    };
    // The pods the owner has already: a resumed ordered StatefulSet's first ones, or those of
    // the Deployment's ReplicaSet for this template.
    let mut owned: Vec<Value> = list(&objects, "v1", "Pod", namespace)
        .into_iter()
        .filter(|p| owner(p).map(|(_, n)| n) == Some(pod_owner.1.as_str()))
        .collect();
    // Fewer replicas than pods: the ReplicaSet deletes the rest.
    while i64::try_from(owned.len()).unwrap_or(0) > replicas
        && let (Some(extra), Some(pods)) = (owned.pop(), of_kind("v1", "Pod"))
    {
        let _ = objects.remove(pods, namespace, name_of(&extra));
    }
    let existing = i64::try_from(owned.len()).unwrap_or(0);
    let mut created = existing;
    let mut ready = i64::try_from(
        owned
            .iter()
            .filter(|p| kubelet::is_ready(&p["status"]))
            .count(),
    )
    .unwrap_or(0);
    let mut to_follow = Vec::new();
    let mut refusal = None;
    let settings = state.settings();
    for i in existing..replicas {
        let pod_name = if kind == "StatefulSet" {
            format!("{name}-{i}")
        } else {
            format!("{}-{}", pod_owner.1, pod_suffix(&objects))
        };
        if kind == "StatefulSet"
            && let Err((claim, err)) =
                create_claims(state, &mut objects, namespace, name, &workload, i)
        {
            // stateful_pod_control.go: the claim's refusal, named with its pod.
            refusal = Some((format!("{pod_name}:{claim}"), err));
            break;
        }
        // A surging roll-out scales the old ReplicaSets down as far as it must to stay within
        // `replicas + maxSurge` pods (the real controller also waits for the new pods to be
        // available before it does; here they go at once).
        let old_pods = pods_of(&objects, namespace, &old_sets);
        let running = i64::try_from(old_pods.len()).unwrap_or(0) + created;
        if running >= replicas + surge
            && let (Some(pod), Some(pods)) = (old_pods.first(), of_kind("v1", "Pod"))
        {
            let _ = objects.remove(pods, namespace, pod);
        }
        let mut pod = json!({
            "metadata": {
                "name": pod_name,
                "labels": template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
                "ownerReferences": owner_ref(pod_owner.0, &pod_owner.1, pod_owner.2.as_ref()),
            },
            "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
        });
        pod["metadata"]["annotations"]["fake.storeplane.io/created-ms"] =
            json!(now_ms().to_string());
        let Some(pods) = of_kind("v1", "Pod") else {
            return false;
        };
        if admission::has_unenforced_quota(&objects, namespace) {
            lock(&state.unenforced_pods).push(format!("{namespace}/{pod_name}"));
        }
        match admission::admit_create(&objects, pods, namespace, &mut pod) {
            Ok(()) => {
                // The kubelet's first look (or a scripted failure, which stays).
                let follow = match &failure {
                    Some(f) => {
                        pod["status"] = pod_status(&template, Some(f.reason.as_str()));
                        false
                    }
                    None => {
                        let (status, more) =
                            kubelet::first_status(&objects, &settings, namespace, &pod);
                        ready += i64::from(!more && kubelet::is_ready(&status));
                        pod["status"] = status;
                        more
                    }
                };
                let _ = objects.create(pods, namespace, pod);
                created += 1;
                let waiting = follow || failure.is_some();
                if follow {
                    to_follow.push(pod_name);
                }
                // OrderedReady: the next ordinal waits until this pod runs and is ready.
                if kind == "StatefulSet" && waiting {
                    break;
                }
            }
            Err(err) => {
                refusal = Some((pod_name, err.message));
                break;
            }
        }
    }
    // The new pods are all there and ready: the old ReplicaSets go. Until then (a surging
    // rolling update keeps its old pods until the new ones are available, maxUnavailable 0)
    // or when refused, the old pods keep serving; `refresh_readiness` retires them later.
    if refusal.is_none() && ready >= replicas {
        retire(&mut objects, namespace, &old_sets);
    }
    let mut conditions = Vec::new();
    if let Some((pod_name, message)) = &refusal {
        let event = if kind == "Deployment" {
            format!("Error creating: {message}")
        } else if let Some((pod, claim)) = pod_name.split_once(':') {
            format!(
                "create Claim {claim} for Pod {pod} in StatefulSet {name} failed error: {message}"
            )
        } else {
            format!("create Pod {pod_name} in StatefulSet {name} failed error: {message}")
        };
        record_event(&mut objects, namespace, pod_owner.0, &pod_owner.1, &event);
        conditions.push(json!({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message}));
    }
    if kind == "Deployment"
        && let Some(replica_sets) = of_kind("apps/v1", "ReplicaSet")
        && let Some(mut rs) = objects.get(replica_sets, namespace, &pod_owner.1).cloned()
    {
        rs["status"] = json!({"replicas": created, "readyReplicas": ready, "availableReplicas": ready,
                              "observedGeneration": 1, "conditions": conditions});
        let _ = objects.replace(replica_sets, namespace, &pod_owner.1, rs);
    }
    let mut updated = workload.clone();
    updated["status"] = json!({
        "observedGeneration": generation, "replicas": created, "updatedReplicas": created,
        "readyReplicas": ready, "availableReplicas": ready, "currentReplicas": created,
        "unavailableReplicas": replicas - ready,
    });
    if kind == "Deployment" {
        let counts = deployment_counts(&objects, namespace, name, &pod_owner.1, replicas);
        for (key, value) in counts {
            updated["status"][key] = value;
        }
    }
    if kind == "StatefulSet" {
        // Rolled: the update revision is now the current one.
        let revision = format!("{name}-{}", template_hash(&workload["spec"]["template"]));
        updated["status"]["currentRevision"] = json!(revision);
        updated["status"]["updateRevision"] = json!(revision);
    }
    if kind == "Deployment" {
        updated["status"]["conditions"] = json!(conditions);
    }
    if objects.replace(workloads, namespace, name, updated).is_ok()
        && failure.is_none()
        && refusal.is_none()
        && ready >= replicas
    {
        drop(objects);
        mark_ready(state, kind, namespace, name);
    } else {
        drop(objects);
    }
    for pod in to_follow {
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        kubelet::follow(
            state,
            &namespace.clone(),
            &pod,
            move |state: &Arc<FakeState>| {
                refresh_readiness(state, kind, &namespace, &name);
            },
        );
    }
    refusal.is_some()
}

fn mark_ready(state: &FakeState, kind: &str, namespace: &str, name: &str) {
    lock(&state.ready_marks).push(ReadyMark {
        namespace: namespace.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        at_ms: now_ms(),
    });
}

/// The controller counting its ready pods again after the kubelet changed one.
fn refresh_readiness(state: &Arc<FakeState>, kind: &'static str, namespace: &str, name: &str) {
    let Some(workloads) = of_kind("apps/v1", kind) else {
        return;
    };
    let mut objects = lock(&state.objects);
    let Some(mut workload) = objects.get(workloads, namespace, name).cloned() else {
        return;
    };
    let owner_name = if kind == "Deployment" {
        format!("{name}-{}", template_hash(&pod_template(&workload)))
    } else {
        name.to_owned()
    };
    let pods = list(&objects, "v1", "Pod", namespace);
    let ready = pods
        .iter()
        .filter(|p| owner(p).map(|(_, n)| n) == Some(owner_name.as_str()))
        .filter(|p| kubelet::is_ready(&p["status"]))
        .count();
    let ready = i64::try_from(ready).unwrap_or(0);
    let replicas = workload
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    // What the status says now: a Deployment's counts over all its ReplicaSets (the old ones
    // retired once the new pods are available), a StatefulSet's ready pods.
    let counts = if kind == "Deployment" {
        if ready >= replicas {
            let mut old_sets = replica_sets_of(&objects, namespace, name);
            old_sets.retain(|set| *set != owner_name);
            retire(&mut objects, namespace, &old_sets);
        }
        deployment_counts(&objects, namespace, name, &owner_name, replicas)
    } else {
        vec![
            ("readyReplicas", json!(ready)),
            ("availableReplicas", json!(ready)),
            ("unavailableReplicas", json!(replicas - ready)),
        ]
    };
    if counts
        .iter()
        .all(|(key, value)| workload["status"][key] == *value)
    {
        return;
    }
    for (key, value) in counts {
        workload["status"][key] = value;
    }
    let owned = i64::try_from(
        pods.iter()
            .filter(|p| owner(p).map(|(_, n)| n) == Some(owner_name.as_str()))
            .count(),
    )
    .unwrap_or(0);
    let generation = workload
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if objects
        .replace(workloads, namespace, name, workload)
        .is_ok()
        && ready >= replicas
    {
        drop(objects);
        mark_ready(state, kind, namespace, name);
    } else if kind == "StatefulSet" && ready == owned && owned < replicas {
        // Every pod so far runs and is ready: the next ordinal's turn.
        drop(objects);
        roll_out(state, kind, namespace, name, generation, true);
    }
}

/// A Deployment's replica counts, from the pods of all its ReplicaSets as the deployment
/// controller counts them (k/k `pkg/controller/deployment/sync.go` `calculateStatus`):
/// `replicas` every pod, old ones included, `updatedReplicas` those of the current template's
/// ReplicaSet `new_set`, ready and available ones (`minReadySeconds` is not modelled) of any
/// ReplicaSet, and the unavailable rest of what the ReplicaSets want.
fn deployment_counts(
    objects: &Objects,
    namespace: &str,
    deployment: &str,
    new_set: &str,
    replicas: i64,
) -> Vec<(&'static str, Value)> {
    let sets = replica_sets_of(objects, namespace, deployment);
    let pods: Vec<Value> = list(objects, "v1", "Pod", namespace)
        .into_iter()
        .filter(|pod| owner(pod).is_some_and(|(_, n)| sets.iter().any(|set| set == n)))
        .collect();
    let count = |n: usize| i64::try_from(n).unwrap_or(0);
    let all = count(pods.len());
    let updated = count(
        pods.iter()
            .filter(|pod| owner(pod).map(|(_, n)| n) == Some(new_set))
            .count(),
    );
    let ready = count(
        pods.iter()
            .filter(|pod| kubelet::is_ready(&pod["status"]))
            .count(),
    );
    // What the ReplicaSets want: the new one `replicas`, each old one the pods it still has.
    let wanted = replicas + (all - updated);
    vec![
        ("replicas", json!(all)),
        ("updatedReplicas", json!(updated)),
        ("readyReplicas", json!(ready)),
        ("availableReplicas", json!(ready)),
        ("unavailableReplicas", json!((wanted - ready).max(0))),
    ]
}

/// A workload's pod template (what a ReplicaSet's name hashes).
fn pod_template(workload: &Value) -> Value {
    workload
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}))
}

/// The claims of StatefulSet pod `ordinal`, created (through admission) if missing.
fn create_claims(
    state: &FakeState,
    objects: &mut Objects,
    namespace: &str,
    name: &str,
    workload: &Value,
    ordinal: i64,
) -> Result<(), (String, String)> {
    let Some(claims) = of_kind("v1", "PersistentVolumeClaim") else {
        return Ok(());
    };
    for template in workload
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let claim_name = format!("{}-{name}-{ordinal}", name_of(template));
        if objects.get(claims, namespace, &claim_name).is_some() {
            continue;
        }
        let mut claim = json!({
            "metadata": {"name": claim_name, "labels": template.pointer("/metadata/labels")},
            "spec": template.get("spec"),
            "status": {"phase": "Bound"},
        });
        if admission::has_unenforced_quota(objects, namespace) {
            lock(&state.unenforced_pods).push(format!("{namespace}/{claim_name}"));
        }
        admission::admit_create(objects, claims, namespace, &mut claim)
            .map_err(|e| (claim_name.clone(), e.message))?;
        objects
            .create(claims, namespace, claim)
            .map_err(|e| (claim_name.clone(), e.message))?;
    }
    Ok(())
}

/// A Warning `FailedCreate` event on the controller's object.
fn record_event(objects: &mut Objects, namespace: &str, kind: &str, name: &str, message: &str) {
    let component = if kind == "StatefulSet" {
        "statefulset-controller"
    } else {
        "replicaset-controller"
    };
    events::record_warning(
        objects,
        namespace,
        json!({"kind": kind, "name": name, "namespace": namespace}),
        "FailedCreate",
        message,
        json!({"component": component}),
    );
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
            "containerStatuses": statuses(json!({"waiting": {"reason": reason, "message": "back-off 2m40s restarting failed container"}}), false, 5),
        }),
        Some(reason) => json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
            "containerStatuses": statuses(json!({"waiting": {"reason": reason, "message": "failed to pull image: not found"}}), false, 0),
        }),
    }
}
