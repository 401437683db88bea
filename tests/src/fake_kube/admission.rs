//! Admission of new objects, in the real API server's order and with its messages:
//! NamespaceLifecycle (nothing new in a terminating namespace), LimitRanger (pods get the
//! namespace's default requests and limits, then its maximum is checked), Pod Security (the
//! level the namespace enforces, see `pod_security`) and ResourceQuota
//! (pods, PersistentVolumeClaims and Services are counted against every quota whose status the
//! quota controller has filled; "status unknown for quota" while `status.used` lags).
//! Sources: apiserver plugin/namespace/lifecycle, kubernetes plugin/pkg/admission/limitranger,
//! apiserver plugin/resourcequota/controller.go, kubernetes pkg/quota/v1/evaluator/core,
//! component-helpers resource/helpers.go.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use storeplane::k8s::quantity::Quantity;

use super::objects::{ApiError, Objects, Selector};
use super::resources::{Resource, of_kind};

/// Resource names and amounts, as in a quota's `status.used`.
pub type Usage = BTreeMap<String, Quantity>;

fn forbidden(resource: &Resource, name: &str, why: &str) -> ApiError {
    let (target, details) = if resource.group.is_empty() {
        (
            resource.plural.to_owned(),
            json!({"name": name, "kind": resource.plural}),
        )
    } else {
        (
            format!("{}.{}", resource.plural, resource.group),
            json!({"name": name, "group": resource.group, "kind": resource.plural}),
        )
    };
    ApiError::new(
        403,
        "Forbidden",
        format!("{target} \"{name}\" is forbidden: {why}"),
    )
    .with_details(details)
}

fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn in_namespace(objects: &Objects, kind: &str, namespace: &str) -> Vec<Value> {
    let api_version = if kind == "ReplicaSet" {
        "apps/v1"
    } else {
        "v1"
    };
    of_kind(api_version, kind).map_or_else(Vec::new, |r| {
        objects.list(
            r,
            Some(namespace),
            &Selector::default(),
            &Selector::default(),
        )
    })
}

/// Admits a new `object` of `resource` in `namespace`, changing it as mutating admission
/// does (LimitRanger's defaults on pods).
pub fn admit_create(
    objects: &Objects,
    resource: &Resource,
    namespace: &str,
    object: &mut Value,
) -> Result<(), ApiError> {
    if !resource.namespaced {
        return Ok(());
    }
    let name = name_of(object).to_owned();
    namespace_lifecycle(objects, resource, namespace, &name)?;
    if resource.kind == "Pod" {
        limit_ranger(objects, resource, namespace, &name, object)?;
        if let Some(refusal) =
            super::pod_references::service_account_refusal(objects, namespace, object)
        {
            return Err(forbidden(resource, &name, &refusal));
        }
        let labels = of_kind("v1", "Namespace")
            .and_then(|r| objects.get(r, "", namespace))
            .and_then(|ns| ns.pointer("/metadata/labels"))
            .cloned()
            .unwrap_or(Value::Null);
        if let Some(refusal) = super::pod_security::check(object, &labels) {
            return Err(forbidden(resource, &name, &refusal));
        }
    }
    resource_quota(objects, resource, namespace, &name, object)
}

fn namespace_lifecycle(
    objects: &Objects,
    resource: &Resource,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let Some(ns) = of_kind("v1", "Namespace").and_then(|r| objects.get(r, "", namespace)) else {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!("namespaces \"{namespace}\" not found"),
        ));
    };
    if ns.pointer("/metadata/deletionTimestamp").is_none() {
        return Ok(());
    }
    let mut err = forbidden(
        resource,
        name,
        &format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        ),
    );
    if let Some(details) = err.details.as_mut() {
        details["causes"] = json!([{"reason": "NamespaceTerminating",
            "message": format!("namespace {namespace} is being terminated"),
            "field": "metadata.namespace"}]);
    }
    Err(err)
}

fn quantity(value: Option<&Value>) -> Option<Quantity> {
    value
        .and_then(Value::as_str)
        .and_then(|v| Quantity::parse(v).ok())
        .or_else(|| value.and_then(Value::as_i64).map(Quantity::units))
}

/// A quantity as the API server prints it (canonical form).
fn shown(key: &str, q: Quantity) -> String {
    if key.contains("memory") || key.contains("storage") {
        q.bytes()
    } else {
        q.cpu()
    }
}

/// API defaulting (requests default to limits), then the LimitRange's `default` and
/// `defaultRequest` for what is still missing; then its `max`.
fn limit_ranger(
    objects: &Objects,
    resource: &Resource,
    namespace: &str,
    name: &str,
    pod: &mut Value,
) -> Result<(), ApiError> {
    let ranges: Vec<Value> = in_namespace(objects, "LimitRange", namespace)
        .iter()
        .flat_map(|lr| {
            lr.pointer("/spec/limits")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("Container"))
        .collect();
    let mut set = Vec::new();
    let mut refusals = Vec::new();
    for key in ["initContainers", "containers"] {
        let Some(list) = pod
            .pointer_mut(&format!("/spec/{key}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for container in list {
            let container_name = name_of_container(container);
            let resources = container
                .as_object_mut()
                .map(|c| c.entry("resources").or_insert_with(|| json!({})));
            let Some(resources) = resources.and_then(Value::as_object_mut) else {
                continue;
            };
            let mut limits = take_map(resources, "limits");
            let mut requests = take_map(resources, "requests");
            for (k, v) in &limits {
                requests.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let mut defaulted_requests = Vec::new();
            let mut defaulted_limits = Vec::new();
            for range in &ranges {
                fill(range.get("default"), &mut limits, &mut defaulted_limits);
                fill(
                    range.get("defaultRequest"),
                    &mut requests,
                    &mut defaulted_requests,
                );
                for (k, max) in range
                    .get("max")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    let (Some(max_q), limit) = (quantity(Some(max)), quantity(limits.get(k)))
                    else {
                        continue;
                    };
                    match limit {
                        None => refusals.push(format!(
                            "maximum {k} usage per Container is {}.  No limit is specified.",
                            shown(k, max_q)
                        )),
                        Some(l) if l > max_q => refusals.push(format!(
                            "maximum {k} usage per Container is {}, but limit is {}.",
                            shown(k, max_q),
                            shown(k, l)
                        )),
                        Some(_) => {}
                    }
                }
            }
            let init = if key == "initContainers" { "init " } else { "" };
            if !defaulted_requests.is_empty() {
                set.push(format!(
                    "{} request for {init}container {container_name}",
                    defaulted_requests.join(", ")
                ));
            }
            if !defaulted_limits.is_empty() {
                set.push(format!(
                    "{} limit for {init}container {container_name}",
                    defaulted_limits.join(", ")
                ));
            }
            resources.insert("limits".into(), Value::Object(limits));
            resources.insert("requests".into(), Value::Object(requests));
        }
    }
    if !refusals.is_empty() {
        return Err(forbidden(resource, name, &refusals.join(", ")));
    }
    if !set.is_empty()
        && let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut)
    {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        annotations["kubernetes.io/limit-ranger"] =
            json!(format!("LimitRanger plugin set: {}", set.join("; ")));
    }
    Ok(())
}

fn name_of_container(container: &Value) -> String {
    container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn take_map(resources: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match resources.remove(key) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn fill(defaults: Option<&Value>, into: &mut Map<String, Value>, set: &mut Vec<String>) {
    for (k, v) in defaults.and_then(Value::as_object).into_iter().flatten() {
        if !into.contains_key(k) {
            into.insert(k.clone(), v.clone());
            set.push(k.clone());
        }
    }
}

/// What one object adds to a namespace's usage, and the compute keys a pod leaves unnamed.
fn usage_of(kind: &str, object: &Value) -> Usage {
    let mut usage = Usage::new();
    let mut add = |key: &str, q: Quantity| {
        let entry = usage.entry(key.to_owned()).or_insert(Quantity::ZERO);
        *entry = *entry + q;
    };
    match kind {
        "Pod" => {
            let phase = object.pointer("/status/phase").and_then(Value::as_str);
            if matches!(phase, Some("Succeeded" | "Failed")) {
                return usage;
            }
            add("pods", Quantity::units(1));
            add("count/pods", Quantity::units(1));
            for (key, q) in pod_compute(object) {
                add(&key, q);
                if let Some(short) = key.strip_prefix("requests.") {
                    add(short, q);
                }
            }
        }
        "PersistentVolumeClaim" => {
            add("persistentvolumeclaims", Quantity::units(1));
            add(
                "requests.storage",
                quantity(object.pointer("/spec/resources/requests/storage")).unwrap_or_default(),
            );
        }
        "Service" => {
            add("services", Quantity::units(1));
            let ports = object
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ports = Quantity::units(i64::try_from(ports).unwrap_or(0));
            match object.pointer("/spec/type").and_then(Value::as_str) {
                Some("NodePort") => add("services.nodeports", ports),
                Some("LoadBalancer") => {
                    add("services.loadbalancers", Quantity::units(1));
                    add("services.nodeports", ports);
                }
                _ => {}
            }
        }
        _ => {}
    }
    usage
}

/// A pod's requests and limits: max(sum of containers and sidecars, largest init container
/// plus the sidecars before it), plus overhead.
fn pod_compute(pod: &Value) -> Usage {
    let get = |c: &Value, kind: &str, res: &str| {
        quantity(c.pointer(&format!("/resources/{kind}/{res}"))).unwrap_or_default()
    };
    let keys = [
        ("requests.cpu", "requests", "cpu"),
        ("limits.cpu", "limits", "cpu"),
        ("requests.memory", "requests", "memory"),
        ("limits.memory", "limits", "memory"),
        (
            "requests.ephemeral-storage",
            "requests",
            "ephemeral-storage",
        ),
        ("limits.ephemeral-storage", "limits", "ephemeral-storage"),
    ];
    let list = |key: &str| {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut usage = Usage::new();
    for (key, kind, res) in keys {
        let mut sidecars = Quantity::ZERO;
        let mut init_peak = Quantity::ZERO;
        for init in list("initContainers") {
            if init.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
                sidecars = sidecars + get(&init, kind, res);
            } else {
                init_peak = init_peak.max(get(&init, kind, res) + sidecars);
            }
        }
        let regular: Quantity = list("containers").iter().map(|c| get(c, kind, res)).sum();
        let overhead = quantity(pod.pointer(&format!("/spec/overhead/{res}"))).unwrap_or_default();
        usage.insert(
            key.to_owned(),
            (regular + sidecars).max(init_peak) + overhead,
        );
    }
    usage
}

/// The object-count key of `resource`: `count/<plural>` (core) or `count/<plural>.<group>`.
fn count_key(resource: &Resource) -> String {
    if resource.group.is_empty() {
        format!("count/{}", resource.plural)
    } else {
        format!("count/{}.{}", resource.plural, resource.group)
    }
}

/// What everything in `namespace` uses now.
pub fn namespace_usage(objects: &Objects, namespace: &str) -> Usage {
    let mut total = Usage::new();
    for (index, _) in objects.in_namespace(namespace) {
        let key = count_key(&super::resources::RESOURCES[index]);
        let entry = total.entry(key).or_insert(Quantity::ZERO);
        *entry = *entry + Quantity::units(1);
    }
    for kind in ["Pod", "PersistentVolumeClaim", "Service"] {
        for object in in_namespace(objects, kind, namespace) {
            for (key, q) in usage_of(kind, &object) {
                let entry = total.entry(key).or_insert(Quantity::ZERO);
                *entry = *entry + q;
            }
        }
    }
    total
}

/// The quota `status` the quota controller computes: `hard` from the spec, `used` for each.
pub fn quota_status(objects: &Objects, namespace: &str, quota: &Value, with_used: bool) -> Value {
    let hard = quota
        .pointer("/spec/hard")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let usage = namespace_usage(objects, namespace);
    let used: Map<String, Value> = hard
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, _)| {
            let q = usage.get(key).copied().unwrap_or_default();
            (key.clone(), json!(shown(key, q)))
        })
        .collect();
    if with_used {
        json!({"hard": hard, "used": used})
    } else {
        json!({"hard": hard})
    }
}

/// Whether `namespace` has a quota the API server does not enforce yet (empty status).
pub fn has_unenforced_quota(objects: &Objects, namespace: &str) -> bool {
    in_namespace(objects, "ResourceQuota", namespace)
        .iter()
        .any(|q| {
            q.pointer("/status/hard")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty)
        })
}

fn pretty(usage: &Usage, keys: &BTreeSet<String>) -> String {
    keys.iter()
        .map(|k| {
            format!(
                "{k}={}",
                shown(k, usage.get(k).copied().unwrap_or_default())
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn resource_quota(
    objects: &Objects,
    resource: &Resource,
    namespace: &str,
    name: &str,
    object: &Value,
) -> Result<(), ApiError> {
    let mut delta = usage_of(resource.kind, object);
    // Object-count quotas (`count/deployments.apps`, …) count every kind.
    delta.insert(count_key(resource), Quantity::units(1));
    let quotas = in_namespace(objects, "ResourceQuota", namespace);
    let mut live = None;
    for quota in &quotas {
        let quota_name = name_of(quota);
        let read = |part: &str| -> Usage {
            quota
                .pointer(&format!("/status/{part}"))
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), quantity(Some(v))?)))
                .collect()
        };
        let hard = read("hard");
        // Only what the quota controller has put in status.hard is enforced.
        let relevant: BTreeSet<String> = hard
            .keys()
            .filter(|k| delta.contains_key(*k))
            .cloned()
            .collect();
        if relevant.is_empty() {
            continue;
        }
        if resource.kind == "Pod" {
            let missing = unspecified(object, &relevant);
            if !missing.is_empty() {
                return Err(forbidden(
                    resource,
                    name,
                    &format!("failed quota: {quota_name}: must specify {missing}"),
                ));
            }
        }
        let used = read("used");
        let unknown: Vec<&str> = relevant
            .iter()
            .filter(|k| !used.contains_key(*k))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(forbidden(
                resource,
                name,
                &format!(
                    "status unknown for quota: {quota_name}, resources: {}",
                    unknown.join(",")
                ),
            ));
        }
        let live = live.get_or_insert_with(|| namespace_usage(objects, namespace));
        let exceeded: BTreeSet<String> = relevant
            .iter()
            .filter(|k| {
                let now = live.get(*k).copied().unwrap_or_default();
                now + delta.get(*k).copied().unwrap_or_default()
                    > hard.get(*k).copied().unwrap_or_default()
            })
            .cloned()
            .collect();
        if !exceeded.is_empty() {
            return Err(forbidden(
                resource,
                name,
                &format!(
                    "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
                    pretty(&delta, &exceeded),
                    pretty(live, &exceeded),
                    pretty(&hard, &exceeded)
                ),
            ));
        }
    }
    Ok(())
}

/// `limits.cpu for: app; limits.memory for: app` — compute keys the quota limits but a
/// container does not name (pods evaluator).
fn unspecified(pod: &Value, relevant: &BTreeSet<String>) -> String {
    let mut missing = Vec::new();
    for key in relevant {
        let Some((kind, res)) = key.split_once('.') else {
            continue;
        };
        if !matches!(kind, "requests" | "limits") || !matches!(res, "cpu" | "memory") {
            continue;
        }
        let lacking: Vec<String> = ["initContainers", "containers"]
            .iter()
            .flat_map(|list| {
                pod.pointer(&format!("/spec/{list}"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|c| c.pointer(&format!("/resources/{kind}/{res}")).is_none())
            .map(|c| name_of_container(&c))
            .collect();
        if !lacking.is_empty() {
            missing.push(format!("{key} for: {}", lacking.join(",")));
        }
    }
    missing.join("; ")
}
