//! Rendered Kubernetes objects: parsing helm's multi-document YAML, the host's allow-list of
//! kinds a store chart may contain, and typed parsing into k8s-openapi types.
//!
//! The allow-list is the host's, not the plugin's: store charts may only create namespaced
//! workload objects. Namespaces, RBAC, quotas, network policies and Secrets are created by the
//! host itself (Secrets so that no secret value ever travels through a chart).

use k8s_openapi::api::{apps, autoscaling, batch, core, networking, policy};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The pod types conformance reads rendered workloads with (k8s-openapi's, named through here:
/// only `k8s` depends on k8s-openapi).
pub use k8s_openapi::api::core::v1::{Container, EnvVar, PodTemplateSpec};

/// `(apiVersion, kind)` a store chart may render.
pub const ALLOWED_KINDS: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "ServiceAccount"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("networking.k8s.io/v1", "Ingress"),
    ("policy/v1", "PodDisruptionBudget"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
];

/// One rendered object.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `metadata.namespace` as rendered (charts usually leave it empty).
    pub namespace: Option<String>,
    /// The whole object.
    pub object: Value,
}

/// Where a workload kind keeps its pod template (`None` for kinds without pods).
pub fn pod_template_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment" | "StatefulSet" | "Job" => Some("/spec/template"),
        "CronJob" => Some("/spec/jobTemplate/spec/template"),
        _ => None,
    }
}

impl Manifest {
    /// A manifest of one object (apiVersion, kind and name required).
    pub fn from_value(object: Value) -> Result<Self, String> {
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let api_version = text("/apiVersion").ok_or("a rendered object has no apiVersion")?;
        let kind = text("/kind").ok_or("a rendered object has no kind")?;
        let name = text("/metadata/name")
            .ok_or_else(|| format!("a rendered {kind} has no metadata.name"))?;
        let namespace = text("/metadata/namespace");
        Ok(Self {
            api_version,
            kind,
            name,
            namespace,
            object,
        })
    }

    /// `Kind/name`, for messages.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// Whether the kind is on the host's allow-list.
    pub fn is_allowed_kind(&self) -> bool {
        ALLOWED_KINDS
            .iter()
            .any(|(api, kind)| *api == self.api_version && *kind == self.kind)
    }

    /// The pod template of a workload (Deployment, StatefulSet, Job; CronJob's job template).
    pub fn pod_template(&self) -> Option<core::v1::PodTemplateSpec> {
        self.object
            .pointer(pod_template_pointer(&self.kind)?)
            .and_then(|t| serde_json::from_value(t.clone()).ok())
    }

    /// The pod spec of a workload as JSON (see [`Manifest::pod_template`]).
    pub fn pod_spec(&self) -> Option<&serde_json::Value> {
        self.object
            .pointer(pod_template_pointer(&self.kind)?)
            .and_then(|t| t.get("spec"))
    }

    /// `spec.selector.matchLabels` of a Deployment or StatefulSet, `spec.selector` of a Service.
    pub fn selector(&self) -> Option<std::collections::BTreeMap<String, String>> {
        let pointer = match self.kind.as_str() {
            "Deployment" | "StatefulSet" => "/spec/selector/matchLabels",
            "Service" => "/spec/selector",
            _ => return None,
        };
        self.object
            .pointer(pointer)
            .and_then(|s| serde_json::from_value(s.clone()).ok())
    }

    /// Parses the object into its k8s-openapi type, reporting type errors (wrong field types,
    /// missing required fields) and fields the Kubernetes schema does not declare (a server-side
    /// apply of those fails with 500 "failed to create typed patch object … field not declared
    /// in schema"). Unknown kinds are an error.
    pub fn check_typed(&self) -> Result<(), String> {
        let undeclared = self.undeclared_fields()?;
        if undeclared.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}: {} not declared in the Kubernetes schema",
                self.id(),
                undeclared.join(", ")
            ))
        }
    }

    /// The fields (`.spec.foo` paths) the object's k8s-openapi type does not declare; an error
    /// when it does not parse as that type at all.
    pub fn undeclared_fields(&self) -> Result<Vec<String>, String> {
        let declared = self.round_trip()?;
        let mut undeclared = Vec::new();
        collect_undeclared(&self.object, &declared, &mut String::new(), &mut undeclared);
        Ok(undeclared)
    }

    /// The object parsed into its k8s-openapi type and written back: what the schema keeps.
    fn round_trip(&self) -> Result<Value, String> {
        fn parse<T: DeserializeOwned + serde::Serialize>(m: &Manifest) -> Result<Value, String> {
            let typed = serde_json::from_value::<T>(m.object.clone())
                .map_err(|err| format!("{}: {err}", m.id()))?;
            serde_json::to_value(&typed).map_err(|err| err.to_string())
        }
        match (self.api_version.as_str(), self.kind.as_str()) {
            ("v1", "ConfigMap") => parse::<core::v1::ConfigMap>(self),
            ("v1", "Service") => parse::<core::v1::Service>(self),
            ("v1", "PersistentVolumeClaim") => parse::<core::v1::PersistentVolumeClaim>(self),
            ("v1", "ServiceAccount") => parse::<core::v1::ServiceAccount>(self),
            ("v1", "Secret") => parse::<core::v1::Secret>(self),
            ("apps/v1", "Deployment") => parse::<apps::v1::Deployment>(self),
            ("apps/v1", "StatefulSet") => parse::<apps::v1::StatefulSet>(self),
            ("batch/v1", "Job") => parse::<batch::v1::Job>(self),
            ("batch/v1", "CronJob") => parse::<batch::v1::CronJob>(self),
            ("networking.k8s.io/v1", "Ingress") => parse::<networking::v1::Ingress>(self),
            ("policy/v1", "PodDisruptionBudget") => parse::<policy::v1::PodDisruptionBudget>(self),
            ("autoscaling/v2", "HorizontalPodAutoscaler") => {
                parse::<autoscaling::v2::HorizontalPodAutoscaler>(self)
            }
            (api, kind) => Err(format!(
                "{kind}/{} ({api}) is not a kind the host can check",
                self.name
            )),
        }
    }
}

/// Fields of `given` (a manifest) that the round trip through its k8s-openapi type dropped,
/// i.e. that the schema does not declare, as `.spec.foo` paths. Explicit nulls are not fields;
/// `status` is the server's.
fn collect_undeclared(given: &Value, declared: &Value, path: &mut String, out: &mut Vec<String>) {
    match (given, declared) {
        (Value::Object(given), declared) => {
            for (key, value) in given {
                if value.is_null() || (path.is_empty() && key == "status") {
                    continue;
                }
                let len = path.len();
                path.push('.');
                path.push_str(key);
                match declared.get(key) {
                    Some(inner) => collect_undeclared(value, inner, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(given), Value::Array(declared)) => {
            for (i, (value, inner)) in given.iter().zip(declared).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                collect_undeclared(value, inner, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Parses multi-document YAML (helm's output) into manifests; empty documents are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Manifest>, String> {
    let mut manifests = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value: Value =
            serde::Deserialize::deserialize(document).map_err(|err| err.to_string())?;
        if value.is_null() {
            continue;
        }
        manifests.push(Manifest::from_value(value)?);
    }
    Ok(manifests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documents_and_skips_empty_ones() {
        let text = "---\n# Source: x\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n---\n\
                    apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: other\n";
        let manifests = parse_documents(text).unwrap_or_default();
        assert_eq!(manifests.len(), 2);
        assert_eq!(manifests[0].id(), "Service/web");
        assert_eq!(manifests[1].namespace.as_deref(), Some("other"));
        assert!(manifests[0].is_allowed_kind());
    }

    #[test]
    fn rejects_objects_without_names() {
        assert!(parse_documents("apiVersion: v1\nkind: Service\nmetadata: {}\n").is_err());
    }

    #[test]
    fn cluster_scoped_and_rbac_kinds_are_not_allowed() {
        for (api, kind) in [
            ("v1", "Namespace"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole"),
            ("v1", "Secret"),
        ] {
            let m = Manifest::from_value(
                serde_json::json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x"}}),
            );
            assert!(
                m.is_ok_and(|m| !m.is_allowed_kind()),
                "{kind} must not be allowed"
            );
        }
    }

    #[test]
    fn typed_check_reports_fields_the_schema_does_not_declare() {
        let manifest = Manifest::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "creationTimestamp": null},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "replica": 2,
                     "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                         {"name": "c", "image": "x", "resource": {}}]}}},
            "status": {"whatever": 1},
        }))
        .expect("manifest");
        assert_eq!(
            manifest.check_typed(),
            Err("Deployment/web: .spec.replica, .spec.template.spec.containers[0].resource not declared in the Kubernetes schema".into())
        );
    }

    #[test]
    fn typed_check_reports_wrong_field_types() {
        let m = Manifest::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"replicas": "three", "selector": {}, "template": {}}
        }));
        assert!(m.is_ok_and(|m| m.check_typed().is_err()));
    }
}
