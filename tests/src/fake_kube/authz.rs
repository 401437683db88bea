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
    /// What a request asks for, read from its method, path and query alone, as kube-apiserver's
    /// `RequestInfoFactory` does before anything knows whether the resource exists; `None` for
    /// a non-resource path (`/version`, discovery documents).
    pub fn of_request(method: &str, path: &str, query: &[(String, String)]) -> Option<Self> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        // `/api/v1` and `/apis/{group}/{version}` are discovery, not resources.
        let (group, rest) = match parts.as_slice() {
            ["api", _version, rest @ ..] if !rest.is_empty() => ("", rest),
            ["apis", group, _version, rest @ ..] if !rest.is_empty() => (*group, rest),
            _ => return None,
        };
        let mut rest = rest;
        let mut namespace = "";
        if rest.first() == Some(&"namespaces") && rest.len() > 1 {
            // The namespace of a request for a namespace itself is that namespace.
            namespace = rest[1];
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        let resource = rest.first().copied().unwrap_or_default();
        let path_name = rest.get(1).copied().unwrap_or_default();
        let subresource = rest.get(2).copied().unwrap_or_default();
        let watch = query
            .iter()
            .any(|(k, v)| k == "watch" && v != "false" && v != "0");
        let verb = match (method, path_name.is_empty()) {
            ("GET" | "HEAD", false) => "get",
            ("GET" | "HEAD", true) if watch => "watch",
            ("GET" | "HEAD", true) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", false) => "delete",
            ("DELETE", true) => "deletecollection",
            _ => "",
        };
        let name = if matches!(verb, "list" | "watch") {
            name_from_field_selector(query).unwrap_or_default()
        } else {
            path_name.to_owned()
        };
        Some(Self {
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            subresource: subresource.to_owned(),
            namespace: namespace.to_owned(),
            name,
        })
    }

    /// The same request with another verb (the extra checks made inside handlers).
    pub fn with_verb(&self, verb: &str) -> Self {
        Self {
            verb: verb.to_owned(),
            ..self.clone()
        }
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

/// The name a list or watch is narrowed to by `fieldSelector=metadata.name=X`.
fn name_from_field_selector(query: &[(String, String)]) -> Option<String> {
    let selector = query
        .iter()
        .find(|(k, _)| k == "fieldSelector")
        .map(|(_, v)| v)?;
    let mut parts = selector.split(',');
    let only = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    only.strip_prefix("metadata.name==")
        .or_else(|| only.strip_prefix("metadata.name="))
        .map(str::to_owned)
}

/// Non-resource paths: `/version` is public (`system:public-info-viewer`), discovery is for
/// authenticated users (`system:discovery`), nothing else is served.
pub fn allowed_path(who: &Identity, path: &str) -> bool {
    path == "/version" || (who.is_authenticated() && (path.starts_with("/api")))
}

/// Whether a binding (`kind`, namespace, name) was written too recently for the authorizer to
/// have seen it: kube-apiserver's RBAC authorizer reads bindings from an informer cache, so
/// a new binding takes effect a moment after it is stored.
pub type Pending<'a> = &'a dyn Fn(&str, &str, &str) -> bool;

/// Whether `who` may do `what`, from the RBAC objects in `objects`.
pub fn allowed(objects: &Objects, who: &Identity, what: &Attributes, pending: Pending) -> bool {
    if who.is_master() {
        return true;
    }
    bound_rules(objects, who, &what.namespace, pending)
        .iter()
        .any(|rule| rule_allows(rule, what))
}

/// RBAC's escalation check on writing a RoleBinding or ClusterRoleBinding (k/k
/// `pkg/registry/rbac/rolebinding/policybased/storage.go`): allowed for `system:masters`, for
/// a user who may `bind` the role it refers to, or one who already holds every rule of that
/// role where the binding applies. Otherwise the real 403.
pub fn check_binding(
    objects: &Objects,
    who: &Identity,
    binding: &Value,
    binding_namespace: &str,
    pending: Pending,
) -> Result<(), ApiError> {
    if who.is_master() {
        return Ok(());
    }
    let role_kind = text(binding, "/roleRef/kind");
    let role_name = text(binding, "/roleRef/name");
    if allowed(
        objects,
        who,
        &bind_attributes(binding, binding_namespace),
        pending,
    ) {
        return Ok(());
    }
    let role = match role_kind {
        "ClusterRole" => resources::of_kind("rbac.authorization.k8s.io/v1", "ClusterRole")
            .and_then(|r| objects.get(r, "", role_name)),
        _ => resources::of_kind("rbac.authorization.k8s.io/v1", "Role")
            .and_then(|r| objects.get(r, binding_namespace, role_name)),
    };
    let rules = role
        .and_then(|r| r.get("rules"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let missing: Vec<String> = rules
        .iter()
        .filter(|rule| !covered(objects, who, rule, binding_namespace, pending))
        .map(|rule| {
            let list = |key| {
                strings(rule, key)
                    .iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let names = strings(rule, "resourceNames");
            let names = if names.is_empty() {
                String::new()
            } else {
                format!(", ResourceNames:[{}]", list("resourceNames"))
            };
            format!(
                "{{APIGroups:[{}], Resources:[{}]{names}, Verbs:[{}]}}",
                list("apiGroups"),
                list("resources"),
                list("verbs")
            )
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let groups: Vec<String> = who.groups.iter().map(|g| format!("{g:?}")).collect();
    let kind = binding["kind"].as_str().unwrap_or("RoleBinding");
    let plural = if kind == "ClusterRoleBinding" {
        "clusterrolebindings"
    } else {
        "rolebindings"
    };
    let name = text(binding, "/metadata/name");
    Err(ApiError::new(
        403,
        "Forbidden",
        format!(
            "{plural}.rbac.authorization.k8s.io {name:?} is forbidden: user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
            who.user,
            groups.join(" "),
            missing.join("\n")
        ),
    )
    .with_details(json!({"name": name, "group": "rbac.authorization.k8s.io", "kind": plural})))
}

/// The `bind` request on the role a binding refers to.
pub fn bind_attributes(binding: &Value, binding_namespace: &str) -> Attributes {
    let role_kind = text(binding, "/roleRef/kind");
    Attributes {
        verb: "bind".into(),
        group: "rbac.authorization.k8s.io".into(),
        resource: if role_kind == "Role" {
            "roles"
        } else {
            "clusterroles"
        }
        .into(),
        subresource: String::new(),
        namespace: binding_namespace.to_owned(),
        name: text(binding, "/roleRef/name").to_owned(),
    }
}

/// Whether every request `rule` allows is one `who` may make in `namespace` (each verb,
/// group, resource and name of the rule, wildcards only by wildcards).
fn covered(
    objects: &Objects,
    who: &Identity,
    rule: &Value,
    namespace: &str,
    pending: Pending,
) -> bool {
    let mut names = strings(rule, "resourceNames");
    if names.is_empty() {
        names.push(String::new());
    }
    let held = bound_rules(objects, who, namespace, pending);
    strings(rule, "verbs").iter().all(|verb| {
        strings(rule, "apiGroups").iter().all(|group| {
            strings(rule, "resources").iter().all(|resource| {
                let (resource, subresource) =
                    resource.split_once('/').unwrap_or((resource.as_str(), ""));
                names.iter().all(|name| {
                    let what = Attributes {
                        verb: verb.clone(),
                        group: group.clone(),
                        resource: resource.to_owned(),
                        subresource: subresource.to_owned(),
                        namespace: namespace.to_owned(),
                        name: name.clone(),
                    };
                    held.iter().any(|r| rule_allows(r, &what))
                })
            })
        })
    })
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
fn bound_rules(objects: &Objects, who: &Identity, namespace: &str, pending: Pending) -> Vec<Value> {
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
        if binds(&binding, who)
            && !pending("ClusterRoleBinding", "", text(&binding, "/metadata/name"))
        {
            let kind = text(&binding, "/roleRef/kind");
            if kind == "ClusterRole" {
                add_role(kind, text(&binding, "/roleRef/name"), "");
            }
        }
    }
    if !namespace.is_empty() {
        for binding in objects.list(rb, Some(namespace), &none, &none) {
            if binds(&binding, who)
                && !pending("RoleBinding", namespace, text(&binding, "/metadata/name"))
            {
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
    fn requests_become_attributes_as_the_request_info_factory_reads_them() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        };
        let of =
            |method, path, query: &[(&str, &str)]| Attributes::of_request(method, path, &q(query));
        assert_eq!(
            of("GET", "/api/v1/namespaces/s/pods/web-0/exec", &[]),
            Some(attributes("get", "pods", "exec", "s", "web-0"))
        );
        assert_eq!(
            of("GET", "/api/v1/namespaces/s/pods", &[]),
            Some(attributes("list", "pods", "", "s", ""))
        );
        assert_eq!(
            of(
                "GET",
                "/api/v1/namespaces",
                &[("watch", "true"), ("fieldSelector", "metadata.name=s")]
            ),
            Some(attributes("watch", "namespaces", "", "", "s"))
        );
        assert_eq!(
            of("GET", "/api/v1/namespaces", &[("watch", "0")]),
            Some(attributes("list", "namespaces", "", "", ""))
        );
        assert_eq!(
            of("DELETE", "/api/v1/namespaces/s", &[]),
            Some(attributes("delete", "namespaces", "", "s", "s")),
            "a namespace's own requests are in that namespace"
        );
        assert_eq!(
            of("DELETE", "/api/v1/namespaces/s/pods", &[]),
            Some(attributes("deletecollection", "pods", "", "s", ""))
        );
        let deploy = of("PATCH", "/apis/apps/v1/namespaces/s/deployments/web", &[]);
        assert_eq!(
            deploy.map(|a| (a.group, a.verb)),
            Some(("apps".into(), "patch".into()))
        );
        assert_eq!(
            of("GET", "/apis/example.com/v1/namespaces/s/widgets/w", &[]).map(|a| a.resource),
            Some("widgets".into()),
            "unknown resources are authorized too, before anything looks them up"
        );
        for discovery in ["/api", "/api/v1", "/apis", "/apis/apps/v1", "/version"] {
            assert_eq!(of("GET", discovery, &[]), None, "{discovery}");
        }
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
