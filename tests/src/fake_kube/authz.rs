//! Authentication and RBAC authorization as kube-apiserver does them, so the host is tested
//! with the rights the control-plane chart gives it and not one more.
//!
//! - Bearer tokens map to identities: the ServiceAccount the chart installs (what the host's
//!   kubeconfig carries) and an administrator in `system:masters` (tests' own set-up).
//! - Each request becomes attributes with the real verb mapping (apiserver
//!   `pkg/endpoints/request/requestinfo.go`): GET/HEAD `get`, or `list`/`watch` without a
//!   name; POST `create`; PUT `update`; PATCH `patch`; DELETE `delete`, or `deletecollection`
//!   without a name; a `metadata.name` field selector names the object of a list or watch.
//! - RBAC (`ClusterRole`/`ClusterRoleBinding`/`Role`/`RoleBinding` objects held in the fake)
//!   decides; `resourceNames` never restrict `create` or `deletecollection`.
//! - A refusal is the real 403 `Status` (apiserver `responsewriters/errors.go`).
//!
//! Extra checks the real server makes inside handlers live next to them: server-side apply of
//! a missing object also needs `create`, and a websocket exec also needs `create` (1.35).

use serde_json::{Value, json};

use super::objects::{ApiError, Objects};
use super::resources;

/// Token of the control plane's ServiceAccount (written into the host's kubeconfig).
pub const HOST_TOKEN: &str = "storeplane-service-account-token";
/// Token of a cluster administrator (`system:masters`), for tests' own set-up.
pub const ADMIN_TOKEN: &str = "fake-cluster-admin-token";
/// Namespace and name of the control plane's ServiceAccount.
pub const HOST_NAMESPACE: &str = "storeplane";
pub const HOST_SERVICE_ACCOUNT: &str = "storeplane";

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn admin() -> Self {
        Self {
            user: "kubernetes-admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }

    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            user: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }

    /// A request without credentials (kube-apiserver's default anonymous authentication).
    pub fn anonymous() -> Self {
        Self {
            user: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }

    pub fn is_authenticated(&self) -> bool {
        self.groups.iter().any(|g| g == "system:authenticated")
    }

    /// The identity of a bearer token, if it is one the fake issued.
    pub fn of_token(token: &str) -> Option<Self> {
        match token {
            HOST_TOKEN => Some(Self::service_account(HOST_NAMESPACE, HOST_SERVICE_ACCOUNT)),
            ADMIN_TOKEN => Some(Self::admin()),
            _ => None,
        }
    }

    fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

/// What a request asks to do, in RBAC's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    /// Plural, e.g. `pods`.
    pub resource: String,
    pub subresource: String,
    /// Empty for cluster-scoped requests.
    pub namespace: String,
    /// Empty when the request names no object.
    pub name: String,
}

impl Attributes {
    /// The verb kube-apiserver derives from a request's method and query.
    pub fn verb_of(method: &str, has_name: bool, query: &[(String, String)]) -> &'static str {
        let watch = query
            .iter()
            .any(|(k, v)| k == "watch" && v != "false" && v != "0");
        match (method, has_name) {
            ("GET" | "HEAD", true) => "get",
            ("GET" | "HEAD", false) if watch => "watch",
            ("GET" | "HEAD", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            _ => "",
        }
    }

    /// The name a list or watch is narrowed to by `fieldSelector=metadata.name=X`.
    pub fn name_from_field_selector(query: &[(String, String)]) -> Option<String> {
        let selector = query
            .iter()
            .find(|(k, _)| k == "fieldSelector")
            .map(|(_, v)| v)?;
        let mut parts = selector.split(',');
        let only = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        only.strip_prefix("metadata.name=")
            .or_else(|| only.strip_prefix("metadata.name=="))
            .map(str::to_owned)
    }

    /// `pods` or `deployments.apps`, as messages name a group-resource.
    fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn resource_with_subresource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// Whether `who` may do `what`, from the RBAC objects in `objects`.
pub fn allowed(objects: &Objects, who: &Identity, what: &Attributes) -> bool {
    if who.is_master() {
        return true;
    }
    bound_rules(objects, who, &what.namespace)
        .iter()
        .any(|rule| rule_allows(rule, what))
}

/// The real 403 for a refused request.
pub fn forbidden(who: &Identity, what: &Attributes) -> ApiError {
    let resource = what.resource_with_subresource();
    let scope = if what.namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace {:?}", what.namespace)
    };
    let reason = format!(
        "User {:?} cannot {} resource {resource:?} in API group {:?} {scope}",
        who.user, what.verb, what.group
    );
    forbidden_with_reason(what, &reason)
}

/// The 403 for a non-resource path (`forbidden: User "…" cannot get path "/apis"`).
pub fn forbidden_path(who: &Identity, path: &str) -> ApiError {
    ApiError::new(
        403,
        "Forbidden",
        format!("forbidden: User {:?} cannot get path {path:?}", who.user),
    )
    .with_details(json!({}))
}

/// `NewForbidden(groupResource, name, reason)`.
pub fn forbidden_with_reason(what: &Attributes, reason: &str) -> ApiError {
    let subject = if what.name.is_empty() {
        what.group_resource()
    } else {
        format!("{} {:?}", what.group_resource(), what.name)
    };
    let mut details = json!({"kind": what.resource});
    if !what.name.is_empty() {
        details["name"] = json!(what.name);
    }
    if !what.group.is_empty() {
        details["group"] = json!(what.group);
    }
    ApiError::new(
        403,
        "Forbidden",
        format!("{subject} is forbidden: {reason}"),
    )
    .with_details(details)
}

/// Rules of every role bound to `who`: cluster-wide bindings, and bindings in `namespace`.
fn bound_rules(objects: &Objects, who: &Identity, namespace: &str) -> Vec<Value> {
    let (Some(crb), Some(rb), Some(cr), Some(role)) = (
        resources::of_kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        resources::of_kind("rbac.authorization.k8s.io/v1", "RoleBinding"),
        resources::of_kind("rbac.authorization.k8s.io/v1", "ClusterRole"),
        resources::of_kind("rbac.authorization.k8s.io/v1", "Role"),
    ) else {
        return Vec::new();
    };
    let none = super::objects::Selector::default();
    let mut rules = Vec::new();
    let mut add_role = |kind: &str, name: &str, binding_namespace: &str| {
        let found = match kind {
            "ClusterRole" => objects.get(cr, "", name),
            "Role" => objects.get(role, binding_namespace, name),
            _ => None,
        };
        if let Some(Value::Array(list)) = found.and_then(|r| r.get("rules")) {
            rules.extend(list.iter().cloned());
        }
    };
    for binding in objects.list(crb, None, &none, &none) {
        if binds(&binding, who) {
            let kind = text(&binding, "/roleRef/kind");
            if kind == "ClusterRole" {
                add_role(kind, text(&binding, "/roleRef/name"), "");
            }
        }
    }
    if !namespace.is_empty() {
        for binding in objects.list(rb, Some(namespace), &none, &none) {
            if binds(&binding, who) {
                add_role(
                    text(&binding, "/roleRef/kind"),
                    text(&binding, "/roleRef/name"),
                    namespace,
                );
            }
        }
    }
    rules
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn binds(binding: &Value, who: &Identity) -> bool {
    let Some(Value::Array(subjects)) = binding.get("subjects") else {
        return false;
    };
    subjects.iter().any(|s| match text(s, "/kind") {
        "ServiceAccount" => {
            who.user
                == format!(
                    "system:serviceaccount:{}:{}",
                    text(s, "/namespace"),
                    text(s, "/name")
                )
        }
        "User" => who.user == text(s, "/name"),
        "Group" => who.groups.iter().any(|g| g == text(s, "/name")),
        _ => false,
    })
}

fn strings(rule: &Value, key: &str) -> Vec<String> {
    rule.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// RBAC's rule matching (`rbac/v1/evaluation_helpers.go`).
fn rule_allows(rule: &Value, what: &Attributes) -> bool {
    let verbs = strings(rule, "verbs");
    let groups = strings(rule, "apiGroups");
    let kinds = strings(rule, "resources");
    let names = strings(rule, "resourceNames");
    let combined = what.resource_with_subresource();
    let verb_ok = verbs.iter().any(|v| v == "*" || *v == what.verb);
    let group_ok = groups.iter().any(|g| g == "*" || *g == what.group);
    let resource_ok = kinds.iter().any(|r| {
        r == "*"
            || *r == combined
            || (!what.subresource.is_empty() && *r == format!("*/{}", what.subresource))
    });
    let name_ok = names.is_empty() || (!what.name.is_empty() && names.contains(&what.name));
    verb_ok && group_ok && resource_ok && name_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(verb: &str, resource: &str, sub: &str, ns: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: String::new(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn verbs_follow_the_request_info_rules() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        };
        assert_eq!(Attributes::verb_of("GET", true, &[]), "get");
        assert_eq!(Attributes::verb_of("GET", false, &[]), "list");
        assert_eq!(
            Attributes::verb_of("GET", false, &q(&[("watch", "true")])),
            "watch"
        );
        assert_eq!(
            Attributes::verb_of("GET", false, &q(&[("watch", "0")])),
            "list"
        );
        assert_eq!(
            Attributes::verb_of("DELETE", false, &[]),
            "deletecollection"
        );
        assert_eq!(
            Attributes::name_from_field_selector(&q(&[("fieldSelector", "metadata.name=store-a")])),
            Some("store-a".into())
        );
    }

    #[test]
    fn refusals_read_like_the_real_server() {
        let who = Identity::service_account("storeplane", "storeplane");
        let err = forbidden(&who, &attributes("get", "pods", "exec", "store-a", "web-0"));
        assert_eq!(err.code, 403);
        assert_eq!(
            err.message,
            "pods \"web-0\" is forbidden: User \"system:serviceaccount:storeplane:storeplane\" \
             cannot get resource \"pods/exec\" in API group \"\" in the namespace \"store-a\""
        );
        let cluster = forbidden(&who, &attributes("list", "namespaces", "", "", ""));
        assert!(
            cluster.message.ends_with("at the cluster scope"),
            "{}",
            cluster.message
        );
    }

    #[test]
    fn resource_names_narrow_everything_but_create() {
        let rule = json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "create"], "resourceNames": ["store-credentials"]});
        assert!(rule_allows(
            &rule,
            &attributes("get", "secrets", "", "ns", "store-credentials")
        ));
        assert!(!rule_allows(
            &rule,
            &attributes("get", "secrets", "", "ns", "other")
        ));
        assert!(
            !rule_allows(&rule, &attributes("create", "secrets", "", "ns", "")),
            "a create request names no object, so resourceNames cannot match it"
        );
        let sub = json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]});
        assert!(
            !rule_allows(&sub, &attributes("get", "pods", "exec", "ns", "p")),
            "pods does not grant pods/exec"
        );
    }
}
