//! The fake API server's object store: objects by (resource, namespace, name), a global
//! `resourceVersion` counter, `uid`/`generation`/`creationTimestamp`, server-side apply and
//! merge patch, label and field selectors, and the event history watches replay from.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value, json};

use super::resources::{RESOURCES, Resource};

/// How many events watches can resume from.
const HISTORY: usize = 100_000;

/// A Kubernetes API error, answered as a `Status` object.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details` of the `Status` (name, group, kind, causes), when the real server sends them.
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found(resource: &Resource, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", resource.plural),
        )
    }

    /// The `Status` body.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

/// A change to one object, as watches see it.
#[derive(Debug, Clone)]
pub struct Event {
    pub resource_version: u64,
    pub resource: usize,
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub object: Value,
}

type Key = (usize, String, String);

/// All objects of the fake cluster.
#[derive(Debug, Default)]
pub struct Objects {
    /// Where every event is also sent, for live watches.
    pub sender: Option<tokio::sync::broadcast::Sender<Event>>,
    map: BTreeMap<Key, Value>,
    resource_version: u64,
    next_uid: u64,
    history: VecDeque<Event>,
    /// How many times each object (`Kind namespace/name`) was created.
    pub creations: BTreeMap<String, u32>,
}

/// Index of `resource` in [`RESOURCES`].
pub fn index_of(resource: &Resource) -> usize {
    RESOURCES
        .iter()
        .position(|r| std::ptr::eq(r, resource))
        .unwrap_or_default()
}

fn namespace_resource() -> usize {
    RESOURCES
        .iter()
        .position(|r| r.kind == "Namespace")
        .unwrap_or_default()
}

impl Objects {
    /// An empty store that also sends every event to `sender`.
    pub fn with_sender(sender: tokio::sync::broadcast::Sender<Event>) -> Self {
        Self {
            sender: Some(sender),
            ..Self::default()
        }
    }

    /// The current `resourceVersion`.
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// Oldest version a watch can resume from.
    pub fn oldest_resumable(&self) -> u64 {
        self.history
            .front()
            .map_or(self.resource_version, |e| e.resource_version - 1)
    }

    /// Events after `after`, in order.
    pub fn events_since(&self, after: u64) -> Vec<Event> {
        self.history
            .iter()
            .filter(|e| e.resource_version > after)
            .cloned()
            .collect()
    }

    pub fn get(&self, resource: &Resource, namespace: &str, name: &str) -> Option<&Value> {
        self.map
            .get(&(index_of(resource), namespace.to_owned(), name.to_owned()))
    }

    /// Objects of `resource` (in `namespace` if given) matching the selectors.
    pub fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        labels: &Selector,
        fields: &Selector,
    ) -> Vec<Value> {
        let index = index_of(resource);
        self.map
            .iter()
            .filter(|((r, ns, _), _)| *r == index && namespace.is_none_or(|want| want == ns))
            .filter(|(_, obj)| labels.matches_labels(obj) && fields.matches_fields(obj))
            .map(|(_, obj)| obj.clone())
            .collect()
    }

    /// Every object in `namespace` (any resource).
    pub fn in_namespace(&self, namespace: &str) -> Vec<(usize, String)> {
        self.map
            .keys()
            .filter(|(_, ns, _)| ns == namespace)
            .map(|(r, _, name)| (*r, name.clone()))
            .collect()
    }

    fn check_namespace(&self, resource: &Resource, namespace: &str) -> Result<(), ApiError> {
        if !resource.namespaced {
            return Ok(());
        }
        let ns = self
            .map
            .get(&(namespace_resource(), String::new(), namespace.to_owned()))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    format!("namespaces \"{namespace}\" not found"),
                )
            })?;
        if ns.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                ),
            ));
        }
        Ok(())
    }

    /// Stores `object`, assigning a new resourceVersion, and records the event.
    fn put(
        &mut self,
        resource: &Resource,
        namespace: &str,
        mut object: Value,
        kind: &'static str,
    ) -> Value {
        self.resource_version += 1;
        let rv = self.resource_version;
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        let key = (index_of(resource), namespace.to_owned(), name);
        if kind == "DELETED" {
            self.map.remove(&key);
        } else {
            self.map.insert(key, object.clone());
        }
        let event = Event {
            resource_version: rv,
            resource: index_of(resource),
            namespace: namespace.to_owned(),
            kind,
            object: object.clone(),
        };
        if let Some(sender) = &self.sender {
            // No receiver is fine: nobody is watching.
            let _ = sender.send(event.clone());
        }
        self.history.push_back(event);
        if self.history.len() > HISTORY {
            self.history.pop_front();
        }
        object
    }

    /// Creates `object`; `AlreadyExists` if it does.
    pub fn create(
        &mut self,
        resource: &Resource,
        namespace: &str,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        self.check_namespace(resource, namespace)?;
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::new(422, "Invalid", "metadata.name: Required value"))?;
        if self.get(resource, namespace, &name).is_some() {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", resource.plural),
            ));
        }
        self.next_uid += 1;
        let object_map = object
            .as_object_mut()
            .ok_or_else(|| ApiError::new(400, "BadRequest", "the body is not an object"))?;
        object_map.insert("apiVersion".into(), json!(resource.api_version()));
        object_map.insert("kind".into(), json!(resource.kind));
        let meta = object_map
            .entry("metadata")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| ApiError::new(400, "BadRequest", "metadata is not an object"))?;
        meta.insert(
            "uid".into(),
            json!(format!("00000000-0000-4000-8000-{:012x}", self.next_uid)),
        );
        meta.insert("generation".into(), json!(1));
        meta.insert(
            "creationTimestamp".into(),
            json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
        if resource.namespaced {
            meta.insert("namespace".into(), json!(namespace));
        }
        if resource.kind == "Namespace" {
            // k/k pkg/registry/core/namespace/strategy.go
            object_map.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            object_map.insert("status".into(), json!({"phase": "Active"}));
        }
        *self
            .creations
            .entry(format!("{} {namespace}/{name}", resource.kind))
            .or_default() += 1;
        Ok(self.put(resource, namespace, object, "ADDED"))
    }

    /// Replaces an existing object's content (PUT, or an update by the simulation), bumping
    /// `generation` when `spec` changed.
    pub fn replace(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        object: Value,
    ) -> Result<Value, ApiError> {
        self.update(resource, namespace, name, object, true)
    }

    /// Replaces an object without update validation: what an older version of a chart, or
    /// another client long ago, left in the cluster (tests' set-up only).
    pub fn overwrite(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        object: Value,
    ) -> Result<Value, ApiError> {
        self.update(resource, namespace, name, object, false)
    }

    fn update(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        mut object: Value,
        validate: bool,
    ) -> Result<Value, ApiError> {
        let current = self
            .get(resource, namespace, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource, name))?;
        if validate {
            super::immutable::check_update(resource, &current, &object)?;
        }
        if let (Some(meta), Some(old)) = (
            object.get_mut("metadata").and_then(Value::as_object_mut),
            current.get("metadata").and_then(Value::as_object),
        ) {
            for key in [
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
            ] {
                if let Some(value) = old.get(key) {
                    meta.insert(key.into(), value.clone());
                }
            }
        }
        if object.get("spec") != current.get("spec") {
            let generation = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("generation".into(), json!(generation + 1));
            }
        }
        if object == current {
            return Ok(current);
        }
        Ok(self.put(resource, namespace, object, "MODIFIED"))
    }

    /// Server-side apply by `manager`: creates the object, or merges the applied fields into
    /// it after removing those the manager no longer sends (see `field_manager`); stored,
    /// with whether it created the object.
    pub fn apply(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        applied: Value,
        manager: &str,
        force: bool,
    ) -> Result<(Value, bool), ApiError> {
        let (object, created) =
            self.apply_result(resource, namespace, name, &applied, manager, force)?;
        self.store(resource, namespace, name, object, created)
    }

    /// The object a server-side apply would store and whether it would create it, without
    /// storing it (validating admission sees the result before it is written): each field
    /// manager's ownership recorded, the applied fields merged over the current object.
    pub fn apply_result(
        &self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        applied: &Value,
        manager: &str,
        force: bool,
    ) -> Result<(Value, bool), ApiError> {
        let api_version = resource.api_version();
        let mut applied = applied.clone();
        if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            meta.remove("managedFields");
        }
        match self.get(resource, namespace, name).cloned() {
            None => {
                let managed =
                    super::field_manager::apply(None, &applied, manager, force, &api_version)?;
                applied["metadata"]["managedFields"] = managed;
                Ok((applied, true))
            }
            Some(mut current) => {
                let managed = super::field_manager::apply(
                    Some(&mut current),
                    &applied,
                    manager,
                    force,
                    &api_version,
                )?;
                deep_merge(&mut current, &applied);
                current["metadata"]["managedFields"] = managed;
                Ok((current, false))
            }
        }
    }

    /// Stores the result of [`Objects::apply_result`].
    pub fn store(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        object: Value,
        created: bool,
    ) -> Result<(Value, bool), ApiError> {
        if created {
            self.create(resource, namespace, object).map(|v| (v, true))
        } else {
            self.replace(resource, namespace, name, object)
                .map(|v| (v, false))
        }
    }

    /// The object a JSON merge patch would store, without storing it.
    pub fn merge_patch_result(
        &self,
        resource: &Resource,
        namespace: &str,
        name: &str,
        patch: &Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let mut current = self
            .get(resource, namespace, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource, name))?;
        let managed =
            super::field_manager::update(&current, patch, manager, &resource.api_version());
        merge_patch(&mut current, patch);
        current["metadata"]["managedFields"] = managed;
        Ok(current)
    }

    /// Removes an object and records its `DELETED` event.
    pub fn remove(
        &mut self,
        resource: &Resource,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let current = self
            .get(resource, namespace, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource, name))?;
        Ok(self.put(resource, namespace, current, "DELETED"))
    }

    /// Marks a namespace terminating; the caller removes its content and then it.
    pub fn mark_terminating(&mut self, name: &str) -> Result<Value, ApiError> {
        let resource = &RESOURCES[namespace_resource()];
        let mut current = self
            .get(resource, "", name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource, name))?;
        if current.pointer("/metadata/deletionTimestamp").is_some() {
            // k/k pkg/registry/core/namespace/storage/storage.go: a namespace whose
            // finalizers have not run yet answers a second DELETE with a conflict.
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on namespaces \"{name}\": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."
                ),
            )
            .with_details(json!({"name": name, "kind": "namespaces"})));
        }
        if let Some(meta) = current.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert(
                "deletionTimestamp".into(),
                json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            );
        }
        current["status"] = json!({"phase": "Terminating"});
        Ok(self.put(resource, "", current, "MODIFIED"))
    }
}

/// Server-side apply's effect for one field manager: applied fields win, objects merge, lists
/// and scalars are replaced.
fn deep_merge(target: &mut Value, applied: &Value) {
    match (target, applied) {
        (Value::Object(target), Value::Object(applied)) => {
            for (key, value) in applied {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        deep_merge(existing, value);
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, applied) => *target = applied.clone(),
    }
}

/// RFC 7386: `null` removes a key, objects merge, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// One requirement of a label or field selector.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label or field selector (all requirements must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector(Vec<Requirement>);

impl Selector {
    /// Parses `a=b,c!=d,e,!f,g in (x,y),h notin (z)`.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let mut parts = Vec::new();
        let mut depth = 0;
        let mut current = String::new();
        for c in text.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        parts.push(current);
        let bad = || {
            ApiError::new(
                400,
                "BadRequest",
                format!("unable to parse selector {text:?}"),
            )
        };
        let mut requirements = Vec::new();
        for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let set = |rest: &str| -> Vec<String> {
                rest.trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .split(',')
                    .map(|v| v.trim().to_owned())
                    .collect()
            };
            let requirement = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), set(rest))
            } else if let Some((k, rest)) = part.split_once(" in ") {
                Requirement::In(k.trim().into(), set(rest))
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::NotExists(k.trim().into())
            } else if part.contains(' ') {
                return Err(bad());
            } else {
                Requirement::Exists(part.into())
            };
            requirements.push(requirement);
        }
        Ok(Self(requirements))
    }

    fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|req| match req {
            Requirement::Equals(k, v) => lookup(k).as_deref() == Some(v.as_str()),
            Requirement::NotEquals(k, v) => lookup(k).as_deref() != Some(v.as_str()),
            Requirement::In(k, vs) => lookup(k).is_some_and(|x| vs.contains(&x)),
            Requirement::NotIn(k, vs) => lookup(k).is_none_or(|x| !vs.contains(&x)),
            Requirement::Exists(k) => lookup(k).is_some(),
            Requirement::NotExists(k) => lookup(k).is_none(),
        })
    }

    /// Whether the object's labels match.
    pub fn matches_labels(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.matches(|key| {
            labels
                .and_then(|l| l.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    }

    /// Whether the object's fields (`metadata.name`, `status.phase`, …) match.
    pub fn matches_fields(&self, object: &Value) -> bool {
        self.matches(|path| {
            let pointer = format!("/{}", path.replace('.', "/"));
            object.pointer(&pointer).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_follow_kubernetes_syntax() {
        let obj = json!({"metadata": {"name": "a", "labels": {"app": "web", "tier": "front"}}});
        let sel = |s: &str| Selector::parse(s).expect("parses");
        assert!(sel("app=web,tier in (front, back)").matches_labels(&obj));
        assert!(!sel("app!=web").matches_labels(&obj));
        assert!(sel("!missing,app").matches_labels(&obj));
        assert!(!sel("tier notin (front)").matches_labels(&obj));
        assert!(sel("metadata.name=a").matches_fields(&obj));
        assert!(sel("").matches_labels(&obj));
    }

    #[test]
    fn merge_patch_removes_nulls_and_merges_objects() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut target, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(target, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }
}
