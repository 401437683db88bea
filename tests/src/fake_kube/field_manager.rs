//! Server-side apply's field ownership (apimachinery `pkg/util/managedfields`, and the
//! "Server-Side Apply" reference page): each manager's applied fields are recorded in
//! `metadata.managedFields` as a `FieldsV1` set; a field a manager applied before and no longer
//! sends is removed unless another manager owns it; applying a field another manager owns with
//! a different value is a conflict (409, `Apply failed with 1 conflict: conflict with "m":
//! .spec.replicas`) unless forced, which takes ownership. Simplification: lists are owned
//! whole (real SSA merges lists with merge keys, e.g. containers by name, per manager).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::objects::ApiError;

/// A field path: object keys from the root.
type Path = Vec<String>;

/// Fields of an applied configuration that are owned: every leaf (scalars, lists, empty
/// objects), except identity fields the manager cannot own.
fn leaves(value: &Value) -> BTreeSet<Path> {
    fn walk(value: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    path.push(key.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(value, &mut Vec::new(), &mut out);
    out.retain(|p| {
        !matches!(
            p.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
            ["apiVersion"]
                | ["kind"]
                | [
                    "metadata",
                    "name"
                        | "namespace"
                        | "managedFields"
                        | "resourceVersion"
                        | "uid"
                        | "creationTimestamp"
                        | "generation"
                ]
                | ["status", ..]
        )
    });
    out
}

/// `FieldsV1`: `{"f:spec": {"f:replicas": {}}}`.
fn to_fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for key in path {
            node = node
                .entry(format!("f:{key}"))
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("fieldsV1 nodes are objects");
        }
    }
    Value::Object(root)
}

fn from_fields_v1(fields: &Value) -> BTreeSet<Path> {
    fn walk(node: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        let children: Vec<(&String, &Value)> = node
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with("f:"))
            .collect();
        if children.is_empty() {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            return;
        }
        for (key, child) in children {
            path.push(key[2..].to_owned());
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(fields, &mut Vec::new(), &mut out);
    out
}

fn get<'a>(value: &'a Value, path: &Path) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, k| v.get(k))
}

fn remove(value: &mut Value, path: &Path) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = value;
    for key in parents {
        match node.get_mut(key) {
            Some(child) => node = child,
            None => return,
        }
    }
    if let Some(map) = node.as_object_mut() {
        map.remove(last);
    }
}

fn dotted(path: &Path) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

/// The managed-fields entries of `object`.
fn entries(object: &Value) -> Vec<Value> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn is_entry(entry: &Value, manager: &str, operation: &str) -> bool {
    entry.get("manager").and_then(Value::as_str) == Some(manager)
        && entry.get("operation").and_then(Value::as_str) == Some(operation)
}

fn entry(manager: &str, operation: &str, api_version: &str, fields: &BTreeSet<Path>) -> Value {
    json!({
        "manager": manager, "operation": operation, "apiVersion": api_version,
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(fields),
    })
}

/// Prepares `current` (`None`: the object is new) for merging `applied` by `manager`:
/// removes the fields the manager dropped, checks conflicts, and returns the new
/// `managedFields`.
pub fn apply(
    current: Option<&mut Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
) -> Result<Value, ApiError> {
    let wanted = leaves(applied);
    let Some(current) = current else {
        return Ok(json!([entry(manager, "Apply", api_version, &wanted)]));
    };
    let mut all = entries(current);
    let previous = all
        .iter()
        .find(|e| is_entry(e, manager, "Apply"))
        .map(|e| from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null)))
        .unwrap_or_default();
    // Conflicts: fields another manager owns, applied with a different value.
    let mut conflicts: Vec<(String, Path)> = Vec::new();
    for other in all.iter().filter(|e| !is_entry(e, manager, "Apply")) {
        let name = other.get("manager").and_then(Value::as_str).unwrap_or("");
        let owned = from_fields_v1(other.get("fieldsV1").unwrap_or(&Value::Null));
        for path in wanted.intersection(&owned) {
            if get(current, path) != get(applied, path) {
                conflicts.push((name.to_owned(), path.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict(&conflicts));
    }
    // Forcing takes the conflicting fields from their owners.
    for other in &mut all {
        if is_entry(other, manager, "Apply") {
            continue;
        }
        let mut owned = from_fields_v1(other.get("fieldsV1").unwrap_or(&Value::Null));
        let before = owned.len();
        owned.retain(|p| !conflicts.iter().any(|(_, c)| c == p));
        if owned.len() != before {
            other["fieldsV1"] = to_fields_v1(&owned);
        }
    }
    let others: BTreeSet<Path> = all
        .iter()
        .filter(|e| !is_entry(e, manager, "Apply"))
        .flat_map(|e| from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null)))
        .collect();
    for dropped in previous.difference(&wanted) {
        if !others.contains(dropped) {
            remove(current, dropped);
        }
    }
    all.retain(|e| !is_entry(e, manager, "Apply"));
    all.push(entry(manager, "Apply", api_version, &wanted));
    Ok(Value::Array(all))
}

/// Rewrites history: `manager` applied `object` as it is now (tests' set-up of what an
/// older client left in the cluster).
pub fn record_as_applied(object: &mut Value, manager: &str, api_version: &str) {
    let fields = leaves(object);
    let mut all = entries(object);
    all.retain(|e| !is_entry(e, manager, "Apply"));
    all.push(entry(manager, "Apply", api_version, &fields));
    object["metadata"]["managedFields"] = Value::Array(all);
}

/// Records an update (`PUT`, merge patch) by `manager` of the fields in `patch`.
pub fn update(object: &Value, patch: &Value, manager: &str, api_version: &str) -> Value {
    let mut all = entries(object);
    let mut fields = all
        .iter()
        .find(|e| is_entry(e, manager, "Update"))
        .map(|e| from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null)))
        .unwrap_or_default();
    fields.extend(leaves(patch));
    all.retain(|e| !is_entry(e, manager, "Update"));
    all.push(entry(manager, "Update", api_version, &fields));
    Value::Array(all)
}

fn conflict(conflicts: &[(String, Path)]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m:?}"), "field": dotted(p)}))
        .collect();
    let message = if let [(manager, path)] = conflicts {
        format!(
            "Apply failed with 1 conflict: conflict with {manager:?}: {}",
            dotted(path)
        )
    } else {
        let managers: BTreeSet<&str> = conflicts.iter().map(|(m, _)| m.as_str()).collect();
        let quoted: Vec<String> = managers.iter().map(|m| format!("{m:?}")).collect();
        let list: Vec<String> = conflicts
            .iter()
            .map(|(_, p)| format!("- {}", dotted(p)))
            .collect();
        format!(
            "Apply failed with {} conflicts: conflicts with {}:\n{}",
            conflicts.len(),
            quoted.join(", "),
            list.join("\n")
        )
    };
    ApiError::new(409, "Conflict", message).with_details(json!({"causes": causes}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_fields_go_unless_another_manager_owns_them() {
        let first = json!({"metadata": {"name": "x", "labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1}});
        let mut object = first.clone();
        object["metadata"]["managedFields"] =
            apply(None, &first, "host", true, "v1").unwrap_or_default();
        let second =
            json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"replicas": 1}});
        let managed = apply(Some(&mut object), &second, "host", true, "v1").unwrap_or_default();
        assert_eq!(object["metadata"]["labels"], json!({"a": "1"}));
        assert_eq!(
            managed[0]["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:replicas": {}}})
        );
    }

    #[test]
    fn another_managers_field_conflicts_unless_forced() {
        let mine = json!({"spec": {"replicas": 1}});
        let mut object = mine.clone();
        object["metadata"] = json!({"managedFields": apply(None, &mine, "host", false, "apps/v1").unwrap_or_default()});
        let theirs = json!({"spec": {"replicas": 3}});
        let err = apply(
            Some(&mut object.clone()),
            &theirs,
            "kubectl",
            false,
            "apps/v1",
        )
        .err()
        .map(|e| (e.code, e.message))
        .unwrap_or_default();
        assert_eq!(
            err,
            (
                409,
                "Apply failed with 1 conflict: conflict with \"host\": .spec.replicas".to_owned()
            )
        );
        let managed =
            apply(Some(&mut object), &theirs, "kubectl", true, "apps/v1").unwrap_or_default();
        assert_eq!(
            managed[0]["fieldsV1"],
            json!({}),
            "forcing took the field: {managed}"
        );
    }
}
