//! ValidatingAdmissionPolicy, as kube-apiserver's `ValidatingAdmissionPolicy` admission plugin
//! runs it (apiserver `pkg/admission/plugin/policy/validating`): each binding's policy whose
//! `matchConstraints.resourceRules` match the request and whose `matchConditions` all hold has
//! its `validations` evaluated, in order, with a real CEL interpreter; the first that is false
//! denies the request:
//! `<resource> "<name>" is forbidden: ValidatingAdmissionPolicy '<policy>' with binding
//! '<binding>' denied request: <message>`, with the code of the validation's `reason`
//! (Invalid, 422, when unset).
//!
//! CEL sees `object` (null on DELETE), `oldObject` (null on CREATE), `request` (operation,
//! userInfo, namespace, name, resource, subResource) and `namespaceObject` (null for
//! cluster-scoped requests). Object property names that are CEL keywords are escaped as
//! Kubernetes does (`namespace` → `__namespace__`); label and annotation keys are map keys and
//! stay as they are. Not modelled: `params`, `variables`, `authorizer`, `namespaceSelector`,
//! `objectSelector` and the bindings' own `matchResources` (a policy using them is refused
//! loudly rather than half-applied).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};

use super::authz::Identity;
use super::objects::{ApiError, Objects, Selector};
use super::resources::{Resource, of_kind};
use super::state::lock;

/// One request as admission sees it.
#[derive(Debug)]
pub struct AdmissionRequest<'a> {
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: &'a str,
    pub resource: &'a Resource,
    pub subresource: &'a str,
    /// Empty for cluster-scoped requests.
    pub namespace: &'a str,
    pub name: &'a str,
    pub who: &'a Identity,
    pub object: Option<&'a Value>,
    pub old_object: Option<&'a Value>,
}

/// CEL keywords Kubernetes escapes in property names (apiserver `cel/escaping.go`).
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// `value` with keyword property names escaped; maps of free-form keys are left alone.
fn escaped(value: &Value, free_form: bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let key = if !free_form && RESERVED.contains(&key.as_str()) {
                        format!("__{key}__")
                    } else {
                        key.clone()
                    };
                    let inner_free = matches!(key.as_str(), "labels" | "annotations" | "data");
                    (key, escaped(v, inner_free))
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| escaped(v, false)).collect()),
        other => other.clone(),
    }
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn rule_matches(rule: &Value, request: &AdmissionRequest) -> bool {
    let has = |key: &str, wanted: &str| {
        strings(rule.get(key))
            .iter()
            .any(|v| *v == "*" || *v == wanted)
    };
    let resources = strings(rule.get("resources"));
    let plural = request.resource.plural;
    let resource_ok = if request.subresource.is_empty() {
        resources.iter().any(|r| *r == "*" || *r == plural)
    } else {
        let full = format!("{plural}/{}", request.subresource);
        resources.iter().any(|r| {
            *r == "*/*"
                || *r == full
                || *r == format!("{plural}/*")
                || *r == format!("*/{}", request.subresource)
        })
    };
    let scope_ok = match rule.get("scope").and_then(Value::as_str).unwrap_or("*") {
        "Namespaced" => request.resource.namespaced,
        "Cluster" => !request.resource.namespaced,
        _ => true,
    };
    has("operations", request.operation)
        && has("apiGroups", request.resource.group)
        && has("apiVersions", request.resource.version)
        && resource_ok
        && scope_ok
}

fn unsupported(what: &str, policy: &str) -> ApiError {
    ApiError::new(
        500,
        "InternalError",
        format!("the fake API server does not model {what} (ValidatingAdmissionPolicy {policy})"),
    )
}

/// An expression compiled once per process (as kube-apiserver compiles a policy when it is
/// stored, not on every request).
fn compiled(expression: &str) -> Result<Arc<cel::Program>, String> {
    static PROGRAMS: OnceLock<Mutex<HashMap<String, Arc<cel::Program>>>> = OnceLock::new();
    let programs = PROGRAMS.get_or_init(Mutex::default);
    if let Some(program) = lock(programs).get(expression) {
        return Ok(Arc::clone(program));
    }
    let program =
        Arc::new(cel::Program::compile(expression).map_err(|err| format!("compile: {err}"))?);
    lock(programs).insert(expression.to_owned(), Arc::clone(&program));
    Ok(program)
}

/// Evaluates one CEL expression to a boolean.
fn evaluate(expression: &str, context: &cel::Context) -> Result<bool, String> {
    let program = compiled(expression)?;
    match program.execute(context) {
        Ok(cel::Value::Bool(result)) => Ok(result),
        Ok(other) => Err(format!("expression did not return a bool: {other:?}")),
        Err(err) => Err(format!("evaluation: {err}")),
    }
}

fn context(
    objects: &Objects,
    request: &AdmissionRequest,
) -> Result<cel::Context<'static, 'static>, String> {
    let namespace_object = if request.resource.namespaced {
        of_kind("v1", "Namespace")
            .and_then(|r| objects.get(r, "", request.namespace))
            .map(|ns| escaped(ns, false))
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let group = request.resource.group;
    let request_value = json!({
        "operation": request.operation,
        "userInfo": {"username": request.who.user, "groups": request.who.groups},
        "namespace": request.namespace,
        "name": request.name,
        "resource": {"group": group, "version": request.resource.version, "resource": request.resource.plural},
        "subResource": request.subresource,
        "kind": {"group": group, "version": request.resource.version, "kind": request.resource.kind},
    });
    let mut context = cel::Context::default();
    let variables = [
        (
            "object",
            request.object.map_or(Value::Null, |o| escaped(o, false)),
        ),
        (
            "oldObject",
            request
                .old_object
                .map_or(Value::Null, |o| escaped(o, false)),
        ),
        ("request", request_value),
        ("namespaceObject", namespace_object),
        ("params", Value::Null),
    ];
    for (name, value) in variables {
        context
            .add_variable(name, value)
            .map_err(|err| format!("variable {name}: {err}"))?;
    }
    Ok(context)
}

/// HTTP code of a validation's `reason` (apimachinery `errors.go`).
fn code_of(reason: &str) -> u16 {
    match reason {
        "Forbidden" => 403,
        "Unauthorized" => 401,
        "RequestEntityTooLarge" => 413,
        _ => 422,
    }
}

/// Runs every bound policy on `request`; the first denial is the error.
pub fn validate(objects: &Objects, request: &AdmissionRequest) -> Result<(), ApiError> {
    let (Some(policies), Some(bindings)) = (
        of_kind(
            "admissionregistration.k8s.io/v1",
            "ValidatingAdmissionPolicy",
        ),
        of_kind(
            "admissionregistration.k8s.io/v1",
            "ValidatingAdmissionPolicyBinding",
        ),
    ) else {
        return Ok(());
    };
    let none = Selector::default();
    let bindings = objects.list(bindings, None, &none, &none);
    if bindings.is_empty() {
        return Ok(());
    }
    let mut cel_context = None;
    for binding in &bindings {
        let binding_name = binding["metadata"]["name"].as_str().unwrap_or_default();
        let policy_name = binding["spec"]["policyName"].as_str().unwrap_or_default();
        if binding["spec"].get("matchResources").is_some()
            || binding["spec"].get("paramRef").is_some()
        {
            return Err(unsupported(
                "binding matchResources or paramRef",
                policy_name,
            ));
        }
        if !strings(binding["spec"].get("validationActions")).contains(&"Deny") {
            continue;
        }
        let Some(policy) = objects.get(policies, "", policy_name) else {
            continue;
        };
        let spec = &policy["spec"];
        for key in ["paramKind", "variables"] {
            if spec.get(key).is_some() {
                return Err(unsupported(key, policy_name));
            }
        }
        let constraints = &spec["matchConstraints"];
        for key in [
            "namespaceSelector",
            "objectSelector",
            "excludeResourceRules",
        ] {
            if constraints.get(key).is_some_and(|v| v != &json!({})) {
                return Err(unsupported(key, policy_name));
            }
        }
        let matched = constraints["resourceRules"]
            .as_array()
            .is_some_and(|rules| rules.iter().any(|rule| rule_matches(rule, request)));
        if !matched {
            continue;
        }
        if cel_context.is_none() {
            cel_context =
                Some(context(objects, request).map_err(|err| unsupported(&err, policy_name))?);
        }
        let Some(cel_context) = cel_context.as_ref() else {
            continue;
        };
        // An expression that cannot be evaluated counts as a denial (failurePolicy Fail, the
        // default), so a broken policy shows instead of letting everything through.
        let fails_open = spec["failurePolicy"].as_str() == Some("Ignore");
        let mut applies = true;
        for condition in spec["matchConditions"].as_array().into_iter().flatten() {
            let expression = condition["expression"].as_str().unwrap_or_default();
            match evaluate(expression, cel_context) {
                Ok(true) => {}
                Ok(false) => {
                    applies = false;
                    break;
                }
                Err(_) if fails_open => {
                    applies = false;
                    break;
                }
                Err(err) => return Err(denial(request, policy_name, binding_name, &err, "")),
            }
        }
        if !applies {
            continue;
        }
        for validation in spec["validations"].as_array().into_iter().flatten() {
            let expression = validation["expression"].as_str().unwrap_or_default();
            let message = validation["message"]
                .as_str()
                .map_or_else(|| format!("failed expression: {expression}"), str::to_owned);
            let reason = validation["reason"].as_str().unwrap_or("Invalid");
            match evaluate(expression, cel_context) {
                Ok(true) => {}
                Err(_) if fails_open => {}
                Ok(false) => {
                    return Err(denial(request, policy_name, binding_name, &message, reason));
                }
                Err(err) => {
                    return Err(denial(request, policy_name, binding_name, &err, reason));
                }
            }
        }
    }
    Ok(())
}

/// `admission.NewForbidden` with the validation's reason and its code.
fn denial(
    request: &AdmissionRequest,
    policy: &str,
    binding: &str,
    message: &str,
    reason: &str,
) -> ApiError {
    let reason = if reason.is_empty() { "Invalid" } else { reason };
    let resource = if request.resource.group.is_empty() {
        request.resource.plural.to_owned()
    } else {
        format!("{}.{}", request.resource.plural, request.resource.group)
    };
    let text = format!(
        "{resource} {:?} is forbidden: ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {message}",
        request.name
    );
    let reason: &'static str = match reason {
        "Forbidden" => "Forbidden",
        "Unauthorized" => "Unauthorized",
        "RequestEntityTooLarge" => "RequestEntityTooLarge",
        _ => "Invalid",
    };
    let mut details = json!({"name": request.name, "kind": request.resource.plural});
    if !request.resource.group.is_empty() {
        details["group"] = json!(request.resource.group);
    }
    ApiError::new(code_of(reason), reason, text).with_details(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_properties_are_escaped_and_label_keys_are_not() {
        let object = json!({
            "metadata": {"namespace": "n", "labels": {"namespace": "x", "a/b": "c"}},
            "subjects": [{"kind": "ServiceAccount", "namespace": "cp"}],
        });
        assert_eq!(
            escaped(&object, false),
            json!({
                "metadata": {"__namespace__": "n", "labels": {"namespace": "x", "a/b": "c"}},
                "subjects": [{"kind": "ServiceAccount", "__namespace__": "cp"}],
            })
        );
    }
}
