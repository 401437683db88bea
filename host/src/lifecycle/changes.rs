//! What moving a store from one rendered plan to another changes, computed before anything is
//! touched: objects added, changed (with the fields that differ), removed and kept, the plan's
//! values that differ, and the changes Kubernetes cannot make in place — recreated keeping the
//! data where that is safe (a Deployment's selector, a StatefulSet's fixed fields: its claims
//! stay), refused with the reason where it is not (a claim that would shrink or change class,
//! a Service's cluster IP, a Job's template).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// At most this many differing fields are listed per object or for the values.
const MAX_PATHS: usize = 40;

/// One object, as the preview names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl ObjectRef {
    fn of(object: &Value) -> Option<Self> {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        Some(Self {
            api_version: text("/apiVersion")?.to_owned(),
            kind: text("/kind")?.to_owned(),
            name: text("/metadata/name")?.to_owned(),
        })
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// An object both plans render, with the fields that differ.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangedObject {
    pub object: ObjectRef,
    /// JSON Pointers of the fields that differ (at most 40).
    pub fields: Vec<String>,
    /// Why it is deleted and created again (its data kept), when a field that cannot change
    /// in place does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recreated: Option<String>,
}

/// One value of the plan that differs.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValueChange {
    /// JSON Pointer into the plan's Helm values.
    pub path: String,
    /// `null` when added.
    #[schema(value_type = Object)]
    pub from: Value,
    /// `null` when removed.
    #[schema(value_type = Object)]
    pub to: Value,
}

/// What a move from one rendered plan to another does to the store's objects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectChanges {
    pub added: Vec<ObjectRef>,
    pub changed: Vec<ChangedObject>,
    /// Deleted once the new plan is running.
    pub removed: Vec<ObjectRef>,
    /// No longer rendered but kept, because they hold data (PersistentVolumeClaims).
    pub kept: Vec<ObjectRef>,
    /// Changes Kubernetes cannot make, each naming the object, the field and why: the upgrade
    /// is refused before anything is touched.
    pub refused: Vec<String>,
}

/// Objects never deleted because a plan stopped rendering them: they hold the store's data.
fn holds_data(object: &ObjectRef) -> bool {
    object.kind == "PersistentVolumeClaim"
}

/// Indexes rendered objects by reference (objects without a kind or name are skipped: the
/// host's checks refuse them before this is reached).
fn index(objects: &[Value]) -> BTreeMap<ObjectRef, &Value> {
    objects
        .iter()
        .filter_map(|o| ObjectRef::of(o).map(|r| (r, o)))
        .collect()
}

/// What moving from the objects `from` to the objects `to` changes.
pub(super) fn object_changes(from: &[Value], to: &[Value]) -> ObjectChanges {
    let (old, new) = (index(from), index(to));
    let mut changes = ObjectChanges::default();
    for (reference, object) in &new {
        match old.get(reference) {
            None => changes.added.push(reference.clone()),
            Some(before) => {
                let mut fields = Vec::new();
                diff_paths(before, object, String::new(), &mut fields);
                if fields.is_empty() {
                    continue;
                }
                match immutable_change(reference, before, object) {
                    Some(Immutable::Refused(why)) => changes.refused.push(why),
                    Some(Immutable::Recreated(why)) => changes.changed.push(ChangedObject {
                        object: reference.clone(),
                        fields,
                        recreated: Some(why),
                    }),
                    None => changes.changed.push(ChangedObject {
                        object: reference.clone(),
                        fields,
                        recreated: None,
                    }),
                }
            }
        }
    }
    for reference in old.keys().filter(|r| !new.contains_key(*r)) {
        if holds_data(reference) {
            changes.kept.push(reference.clone());
        } else {
            changes.removed.push(reference.clone());
        }
    }
    changes
}

/// The objects of `from` that `to` no longer renders and may be deleted (not those holding
/// data).
pub(super) fn removable(from: &[Value], to: &[Value]) -> Vec<ObjectRef> {
    let new = index(to);
    index(from)
        .into_keys()
        .filter(|r| !new.contains_key(r) && !holds_data(r))
        .collect()
}

/// The values that differ between two plans.
pub(super) fn value_changes(from: &Value, to: &Value) -> Vec<ValueChange> {
    let mut paths = Vec::new();
    diff_paths(from, to, String::new(), &mut paths);
    paths
        .into_iter()
        .map(|path| ValueChange {
            from: from.pointer(&path).cloned().unwrap_or(Value::Null),
            to: to.pointer(&path).cloned().unwrap_or(Value::Null),
            path,
        })
        .collect()
}

/// JSON Pointers where `a` and `b` differ: objects are compared key by key, anything else
/// (arrays included: a container list is one value) as a whole.
fn diff_paths(a: &Value, b: &Value, at: String, out: &mut Vec<String>) {
    if out.len() >= MAX_PATHS || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let path = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff_paths(x, y, path, out),
                    _ if out.len() < MAX_PATHS => out.push(path),
                    _ => return,
                }
            }
        }
        _ => out.push(if at.is_empty() { "/".into() } else { at }),
    }
}

enum Immutable {
    Recreated(String),
    Refused(String),
}

/// StatefulSet spec fields the API server lets an update change.
const STATEFULSET_UPDATABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// How Kubernetes takes a change of `before` into `after` when it cannot update in place.
fn immutable_change(reference: &ObjectRef, before: &Value, after: &Value) -> Option<Immutable> {
    let spec = |v: &Value, key: &str| v.pointer(&format!("/spec/{key}")).cloned();
    let differs = |key: &str| spec(before, key) != spec(after, key);
    match reference.kind.as_str() {
        "Deployment" if differs("selector") => Some(Immutable::Recreated(format!(
            "{reference}: spec.selector cannot change; its pods hold no data"
        ))),
        "StatefulSet" => {
            if let Some(why) = claim_template_refusal(reference, before, after) {
                return Some(Immutable::Refused(why));
            }
            let fixed: Vec<&str> = before
                .get("spec")
                .and_then(Value::as_object)
                .into_iter()
                .chain(after.get("spec").and_then(Value::as_object))
                .flat_map(|spec| spec.keys())
                .map(String::as_str)
                .filter(|key| !STATEFULSET_UPDATABLE.contains(key) && differs(key))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            (!fixed.is_empty()).then(|| {
                Immutable::Recreated(format!(
                    "{reference}: spec.{} cannot change; recreated without its pods' claims being touched",
                    fixed.join(", spec.")
                ))
            })
        }
        "PersistentVolumeClaim" => claim_refusal(reference, before, after).map(Immutable::Refused),
        "Service" if differs("clusterIP") => Some(Immutable::Refused(format!(
            "{reference}: spec.clusterIP cannot change once set"
        ))),
        "Job" if differs("template") || differs("selector") => Some(Immutable::Refused(format!(
            "{reference}: spec.template of a Job cannot change (it may have run already); give the new Job another name"
        ))),
        _ => None,
    }
}

/// Storage of a claim spec, in bytes, when it parses.
fn storage_of(spec: Option<&Value>) -> Option<i128> {
    spec.and_then(|s| s.pointer("/resources/requests/storage"))
        .and_then(Value::as_str)
        .and_then(|q| crate::k8s::Quantity::parse(q).ok())
        .map(|q| q.milli() / 1000)
}

/// Why a claim cannot move from `before` to `after`: only a larger size may change (volume
/// expansion); shrinking, another class or access mode would need the data moved.
fn claim_spec_refusal(at: &str, before: &Value, after: &Value) -> Option<String> {
    let field = |v: &Value, key: &str| v.get(key).cloned();
    for key in [
        "storageClassName",
        "accessModes",
        "volumeMode",
        "selector",
        "volumeName",
    ] {
        if field(before, key) != field(after, key) {
            return Some(format!(
                "{at}: {key} cannot change (the claim holds the store's data)"
            ));
        }
    }
    match (storage_of(Some(before)), storage_of(Some(after))) {
        (Some(old), Some(new)) if new < old => Some(format!(
            "{at}: storage cannot shrink ({} to {}); a claim only grows",
            before
                .pointer("/resources/requests/storage")
                .and_then(Value::as_str)
                .unwrap_or("?"),
            after
                .pointer("/resources/requests/storage")
                .and_then(Value::as_str)
                .unwrap_or("?"),
        )),
        _ => None,
    }
}

fn claim_refusal(reference: &ObjectRef, before: &Value, after: &Value) -> Option<String> {
    claim_spec_refusal(
        &reference.to_string(),
        before.get("spec").unwrap_or(&Value::Null),
        after.get("spec").unwrap_or(&Value::Null),
    )
}

/// Claim templates are matched by name; one that appears, disappears or changes beyond its
/// labels and a larger size is refused (the StatefulSet's existing claims would not follow).
fn claim_template_refusal(reference: &ObjectRef, before: &Value, after: &Value) -> Option<String> {
    let templates = |v: &Value| -> BTreeMap<String, Value> {
        v.pointer("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let name = t.pointer("/metadata/name")?.as_str()?.to_owned();
                Some((name, t.get("spec").cloned().unwrap_or(Value::Null)))
            })
            .collect()
    };
    let (old, new) = (templates(before), templates(after));
    if old.keys().ne(new.keys()) {
        return Some(format!(
            "{reference}: its claim templates cannot be added or removed (from [{}] to [{}])",
            old.keys().cloned().collect::<Vec<_>>().join(", "),
            new.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    old.iter().find_map(|(name, spec)| {
        claim_spec_refusal(
            &format!("{reference}: claim template {name}"),
            spec,
            &new[name],
        )
    })
}

/// Claims of a StatefulSet's templates whose size grows: `(claim name, new size)` of each
/// existing claim (`<template>-<statefulset>-<ordinal>`), to expand after the set is applied.
pub(super) fn grown_claims(from: &[Value], to: &[Value]) -> Vec<(String, String)> {
    let old = index(from);
    let mut grown = Vec::new();
    for (reference, after) in index(to) {
        if reference.kind != "StatefulSet" {
            continue;
        }
        let Some(before) = old.get(&reference) else {
            continue;
        };
        let replicas = after
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0);
        let templates = |v: &Value| {
            v.pointer("/spec/volumeClaimTemplates")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        for template in templates(after) {
            let Some(name) = template.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            let previous = templates(before)
                .into_iter()
                .find(|t| t.pointer("/metadata/name").and_then(Value::as_str) == Some(name));
            let (Some(old_size), Some(new_size)) = (
                storage_of(previous.as_ref().and_then(|t| t.get("spec"))),
                storage_of(template.get("spec")),
            ) else {
                continue;
            };
            if new_size > old_size {
                let size = template
                    .pointer("/spec/resources/requests/storage")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                for ordinal in 0..replicas {
                    grown.push((
                        format!("{name}-{}-{ordinal}", reference.name),
                        size.to_owned(),
                    ));
                }
            }
        }
    }
    grown
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(image: &str, selector: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"selector": {"matchLabels": {"app": selector}},
                        "template": {"spec": {"containers": [{"name": "web", "image": image}]}}}})
    }

    fn sts(size: &str, class: Option<&str>) -> Value {
        let mut spec =
            json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}});
        if let Some(class) = class {
            spec["storageClassName"] = json!(class);
        }
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
               "spec": {"replicas": 1, "serviceName": "db", "template": {},
                        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": spec}]}})
    }

    #[test]
    fn lists_added_changed_removed_and_kept_objects() {
        let service =
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {}});
        let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"}});
        let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "files"}});
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "php"}});
        let from = [deployment("wp:1", "web"), service.clone(), ingress, claim];
        let to = [deployment("wp:2", "web"), service, config];
        let changes = object_changes(&from, &to);
        assert_eq!(changes.added.len(), 1);
        assert_eq!(changes.added[0].kind, "ConfigMap");
        assert_eq!(changes.changed.len(), 1);
        assert_eq!(
            changes.changed[0].fields,
            vec!["/spec/template/spec/containers"]
        );
        assert_eq!(changes.changed[0].recreated, None);
        assert_eq!(changes.removed.len(), 1);
        assert_eq!(changes.removed[0].kind, "Ingress");
        assert_eq!(changes.kept[0].kind, "PersistentVolumeClaim");
        assert!(changes.refused.is_empty());
        assert_eq!(removable(&from, &to), changes.removed);
    }

    #[test]
    fn a_new_selector_recreates_and_a_shrinking_claim_is_refused() {
        let changes = object_changes(&[deployment("a", "web")], &[deployment("a", "shop")]);
        assert!(
            changes.changed[0]
                .recreated
                .as_deref()
                .is_some_and(|why| why.contains("spec.selector"))
        );
        let shrink = object_changes(&[sts("10Gi", None)], &[sts("5Gi", None)]);
        assert_eq!(
            shrink.refused,
            vec![
                "StatefulSet db: claim template data: storage cannot shrink (10Gi to 5Gi); a claim only grows"
            ]
        );
        let class = object_changes(&[sts("5Gi", None)], &[sts("5Gi", Some("fast"))]);
        assert!(class.refused[0].contains("storageClassName cannot change"));
        let grow = object_changes(&[sts("5Gi", None)], &[sts("10Gi", None)]);
        assert!(grow.refused.is_empty());
        assert!(
            grow.changed[0]
                .recreated
                .as_deref()
                .is_some_and(|why| why.contains("volumeClaimTemplates"))
        );
        assert_eq!(
            grown_claims(&[sts("5Gi", None)], &[sts("10Gi", None)]),
            vec![("data-db-0".to_owned(), "10Gi".to_owned())]
        );
    }

    #[test]
    fn value_changes_name_each_path_with_both_sides() {
        let from = json!({"image": {"tag": "1"}, "size": "small", "old": true});
        let to = json!({"image": {"tag": "2"}, "size": "small", "new": 1});
        let changes = value_changes(&from, &to);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["/image/tag", "/new", "/old"]);
        assert_eq!(changes[0].from, json!("1"));
        assert_eq!(changes[0].to, json!("2"));
        assert_eq!(changes[1].from, Value::Null);
        assert_eq!(changes[2].to, Value::Null);
    }
}
