//! Update validation of the fields Kubernetes never lets change, with the real 422 messages
//! (apimachinery `errors.NewInvalid`: `<Kind>.<group> "<name>" is invalid: <field errors>`):
//! StatefulSet spec beyond replicas/ordinals/template/updateStrategy/
//! persistentVolumeClaimRetentionPolicy/minReadySeconds (k/k pkg/apis/apps/validation), a
//! Deployment's selector (pkg/registry/apps/deployment/strategy.go), a Job's selector and
//! template (pkg/apis/batch/validation), a PersistentVolumeClaim's spec beyond a storage
//! request that grows (pkg/apis/core/validation), a Service's clusterIP.

use serde_json::{Value, json};

use super::objects::ApiError;
use super::resources::Resource;

/// StatefulSet spec fields an update may change.
const STATEFULSET_MUTABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

struct FieldError {
    field: &'static str,
    kind: &'static str,
    reason: &'static str,
    detail: String,
}

fn invalid(resource: &Resource, name: &str, errors: &[FieldError]) -> ApiError {
    let kind = if resource.group.is_empty() {
        resource.kind.to_owned()
    } else {
        format!("{}.{}", resource.kind, resource.group)
    };
    let texts: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}: {}", e.field, e.kind, e.detail))
        .collect();
    let joined = if texts.len() == 1 {
        texts[0].clone()
    } else {
        format!("[{}]", texts.join(", "))
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.reason, "message": format!("{}: {}", e.kind, e.detail), "field": e.field}))
        .collect();
    let mut details = json!({"name": name, "kind": resource.kind, "causes": causes});
    if !resource.group.is_empty() {
        details["group"] = json!(resource.group);
    }
    ApiError::new(
        422,
        "Invalid",
        format!("{kind} \"{name}\" is invalid: {joined}"),
    )
    .with_details(details)
}

fn without(spec: Option<&Value>, keep_out: &[&str]) -> Value {
    let mut spec = spec.cloned().unwrap_or_else(|| json!({}));
    if let Some(map) = spec.as_object_mut() {
        for key in keep_out {
            map.remove(*key);
        }
    }
    spec
}

/// Refuses an update of `before` to `after` that changes an immutable field.
pub fn check_update(resource: &Resource, before: &Value, after: &Value) -> Result<(), ApiError> {
    let name = before
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let field = |v: &Value, p: &str| v.pointer(p).cloned();
    let mut errors = Vec::new();
    match resource.kind {
        "StatefulSet"
            if without(before.get("spec"), STATEFULSET_MUTABLE)
                != without(after.get("spec"), STATEFULSET_MUTABLE) =>
        {
            errors.push(FieldError {
                field: "spec",
                kind: "Forbidden",
                reason: "FieldValueForbidden",
                detail: "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".into(),
            });
        }
        "Deployment" | "Job" => {
            if field(before, "/spec/selector") != field(after, "/spec/selector") {
                errors.push(FieldError {
                    field: "spec.selector",
                    kind: "Invalid value",
                    reason: "FieldValueInvalid",
                    detail: format!(
                        "{}: field is immutable",
                        field(after, "/spec/selector").unwrap_or(Value::Null)
                    ),
                });
            }
            if resource.kind == "Job"
                && field(before, "/spec/template") != field(after, "/spec/template")
            {
                errors.push(FieldError {
                    field: "spec.template",
                    kind: "Invalid value",
                    reason: "FieldValueInvalid",
                    detail: "field is immutable".into(),
                });
            }
        }
        "PersistentVolumeClaim" => {
            let keep_out = ["resources", "volumeAttributesClassName"];
            let storage = |v: &Value| {
                v.pointer("/spec/resources/requests/storage")
                    .and_then(Value::as_str)
                    .and_then(|s| storeplane::k8s::quantity::Quantity::parse(s).ok())
            };
            let shrinks = storage(after) < storage(before);
            if without(before.get("spec"), &keep_out) != without(after.get("spec"), &keep_out)
                || shrinks
            {
                errors.push(FieldError {
                    field: "spec",
                    kind: "Forbidden",
                    reason: "FieldValueForbidden",
                    detail: "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims".into(),
                });
            }
        }
        "Service" => {
            let before_ip = field(before, "/spec/clusterIP");
            let after_ip = field(after, "/spec/clusterIP");
            if before_ip.is_some() && after_ip.is_some() && before_ip != after_ip {
                errors.push(FieldError {
                    field: "spec.clusterIPs[0]",
                    kind: "Invalid value",
                    reason: "FieldValueInvalid",
                    detail: format!(
                        "{}: may not change once set",
                        after_ip.unwrap_or(Value::Null)
                    ),
                });
            }
        }
        _ => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(invalid(resource, name, &errors))
    }
}
