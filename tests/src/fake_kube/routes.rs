//! The HTTP face of the fake API server: fault injection and request recording around every
//! Kubernetes request, discovery, and CRUD / apply / patch / watch on the resource paths.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde_json::{Value, json};

use super::admission;
use super::admission_policy;
use super::authz::{self, Attributes, Identity};
use super::objects::{ApiError, Selector};
use super::resources::{self, Resource};
use super::simulate;
use super::state::{FakeState, RequestRecord, lock};

/// A JSON response.
pub fn json_response(status: u16, body: &Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error(err: &ApiError) -> Response {
    json_response(err.code, &err.status())
}

/// Query parameters in order; kube-rs writes `?&a=b`, so empty pairs are skipped.
pub fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Latency, outages and random transient failures, then the request log.
pub async fn faults(State(state): State<Arc<FakeState>>, request: Request, next: Next) -> Response {
    let settings = state.settings();
    if settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.latency_ms)).await;
    }
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let response = if settings.outage {
        error(&ApiError::new(
            503,
            "ServiceUnavailable",
            "the fake cluster is in an outage",
        ))
    } else if settings.fail_rate > 0.0 && rand::random::<f64>() < settings.fail_rate {
        if rand::random::<bool>() {
            error(&ApiError::new(
                503,
                "ServiceUnavailable",
                "injected transient failure",
            ))
        } else {
            error(&ApiError::new(
                500,
                "InternalError",
                "injected transient failure",
            ))
        }
    } else {
        next.run(request).await
    };
    lock(&state.requests).push(RequestRecord {
        method,
        uri,
        status: response.status().as_u16(),
    });
    response
}

/// Authenticates the bearer token and authorizes the request with RBAC, as kube-apiserver's
/// filters do before any handler runs. Discovery and `/version` are open to every
/// authenticated user (the default `system:discovery` and `system:public-info-viewer` roles).
pub async fn authorize(
    State(state): State<Arc<FakeState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // No token: the anonymous user, as with kube-apiserver's default anonymous auth; a token
    // the fake did not issue: 401.
    let identity = match token {
        None => Identity::anonymous(),
        Some(token) => match Identity::of_token(token) {
            Some(identity) => identity,
            None => return error(&ApiError::new(401, "Unauthorized", "Unauthorized")),
        },
    };
    let path = request.uri().path().to_owned();
    let pairs = query_pairs(request.uri());
    let attributes = Attributes::of_request(request.method().as_str(), &path, &pairs);
    let refusal = match &attributes {
        None => (!authz::allowed_path(&identity, &path))
            .then(|| authz::forbidden_path(&identity, &path)),
        Some(attributes) if !state.authorize(&identity, attributes) => {
            Some(authz::forbidden(&identity, attributes))
        }
        // 1.35 (AuthorizePodWebsocketUpgradeCreatePermission): a websocket exec also needs
        // `create`, and its refusal carries no "User … cannot" text.
        Some(attributes) if attributes.subresource == "exec" && attributes.verb == "get" => {
            let create = attributes.with_verb("create");
            (!state.authorize(&identity, &create))
                .then(|| authz::forbidden_with_reason(&create, ""))
        }
        Some(_) => None,
    };
    if let Some(refusal) = refusal {
        return error(&refusal);
    }
    if let Some(attributes) = attributes {
        request.extensions_mut().insert(Authorized {
            identity,
            attributes,
        });
    }
    next.run(request).await
}

/// An authorized resource request: who asked, and what for (handlers make further checks
/// with it, as kube-apiserver's do).
#[derive(Debug, Clone)]
pub struct Authorized {
    pub identity: Identity,
    pub attributes: Attributes,
}

/// Where a request points.
struct Target {
    resource: &'static Resource,
    /// Namespace from the path (`None` for cluster-wide).
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_target(segments: &[&str]) -> Result<Target, ApiError> {
    let (group, version, rest) = match segments {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => {
            return Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    };
    let find = |plural: &str| {
        resources::find(group, version, plural).ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                format!(
                    "the server could not find the requested resource ({group}/{version} {plural})"
                ),
            )
        })
    };
    let owned = |s: &&str| Some((*s).to_owned());
    Ok(match rest {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            let resource = find(plural)?;
            Target {
                resource,
                namespace: owned(ns),
                name: tail.first().and_then(owned),
                subresource: tail.get(1).and_then(owned),
            }
        }
        [plural, tail @ ..] => {
            let resource = find(plural)?;
            Target {
                resource,
                namespace: None,
                name: tail.first().and_then(owned),
                subresource: tail.get(1).and_then(owned),
            }
        }
        [] => return Err(ApiError::new(404, "NotFound", "no resource")),
    })
}

/// Every Kubernetes path that is not exec.
pub async fn kubernetes(
    State(state): State<Arc<FakeState>>,
    authorized: Option<axum::Extension<Authorized>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["version"] => {
            return json_response(
                200,
                &json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "platform": "linux/amd64"}),
            );
        }
        ["api"] => return json_response(200, &resources::core_versions()),
        ["apis"] => return json_response(200, &resources::group_list()),
        ["api", "v1"] => return discovery("", "v1"),
        ["apis", group, version] => return discovery(group, version),
        [
            "apis",
            "authentication.k8s.io" | "authorization.k8s.io",
            "v1",
            review,
        ] if method == Method::POST => {
            let Some(axum::Extension(authorized)) = authorized else {
                return error(&ApiError::new(401, "Unauthorized", "Unauthorized"));
            };
            return match parse_body(&body).and_then(|body| {
                super::reviews::review(&state, &authorized.identity, review, &body)
            }) {
                Ok(answer) => json_response(201, &answer),
                Err(err) => error(&err),
            };
        }
        _ => {}
    }
    let target = match parse_target(&segments) {
        Ok(target) => target,
        Err(err) => return error(&err),
    };
    if let Some(sub) = target.subresource.as_deref().filter(|s| *s != "status") {
        return error(&ApiError::new(
            404,
            "NotFound",
            format!("subresource {sub} is not served"),
        ));
    }
    let pairs = query_pairs(&uri);
    // `authorize` runs first and leaves its decision on every resource request; without
    // one, nothing is allowed.
    let Some(axum::Extension(authorized)) = authorized else {
        return error(&ApiError::new(401, "Unauthorized", "Unauthorized"));
    };
    let result = match (&method, &target.name) {
        (&Method::GET, Some(name)) => get(&state, &target, name),
        (&Method::GET, None) if matches!(param(&pairs, "watch"), Some("true" | "1")) => {
            return watch(state, target, &pairs);
        }
        (&Method::GET, None) => list(&state, &target, &pairs),
        (&Method::POST, None) => {
            parse_body(&body).and_then(|obj| create(&state, &authorized, &target, obj))
        }
        (&Method::PUT, Some(name)) => {
            parse_body(&body).and_then(|obj| replace(&state, &authorized, &target, name, obj))
        }
        (&Method::PATCH, Some(name)) => {
            patch(&state, &authorized, &target, name, &headers, &pairs, &body)
        }
        (&Method::DELETE, Some(name)) => delete(&state, &authorized, &target, name, &pairs, &body),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported here"),
        )),
    };
    match result {
        Ok((status, body)) => json_response(status, &body),
        Err(err) => error(&err),
    }
}

fn discovery(group: &str, version: &str) -> Response {
    match resources::group_version(group, version) {
        Some(list) => json_response(200, &list),
        None => error(&ApiError::new(
            404,
            "NotFound",
            format!("{group}/{version} is not served"),
        )),
    }
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    // YAML is a superset of JSON: apply bodies may be either.
    serde_yaml_ng::from_slice::<Value>(body)
        .map_err(|err| ApiError::new(400, "BadRequest", format!("cannot decode the body: {err}")))
}

fn namespace_of(target: &Target) -> String {
    if target.resource.namespaced {
        target
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned())
    } else {
        String::new()
    }
}

fn get(state: &FakeState, target: &Target, name: &str) -> Result<(u16, Value), ApiError> {
    let objects = lock(&state.objects);
    objects
        .get(target.resource, &namespace_of(target), name)
        .cloned()
        .map(|obj| (200, obj))
        .ok_or_else(|| ApiError::not_found(target.resource, name))
}

fn selectors(pairs: &[(String, String)]) -> Result<(Selector, Selector), ApiError> {
    Ok((
        Selector::parse(param(pairs, "labelSelector").unwrap_or_default())?,
        Selector::parse(param(pairs, "fieldSelector").unwrap_or_default())?,
    ))
}

fn list(
    state: &FakeState,
    target: &Target,
    pairs: &[(String, String)],
) -> Result<(u16, Value), ApiError> {
    let (labels, fields) = selectors(pairs)?;
    let objects = lock(&state.objects);
    let namespace = target
        .namespace
        .as_deref()
        .filter(|_| target.resource.namespaced);
    let items = objects.list(target.resource, namespace, &labels, &fields);
    Ok((
        200,
        json!({
            "kind": format!("{}List", target.resource.kind),
            "apiVersion": target.resource.api_version(),
            "metadata": {"resourceVersion": objects.resource_version().to_string()},
            "items": items,
        }),
    ))
}

fn check_body_namespace(target: &Target, object: &Value) -> Result<(), ApiError> {
    let in_body = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str);
    match (in_body, &target.namespace) {
        (Some(body), Some(path)) if target.resource.namespaced && body != path => {
            Err(ApiError::new(
                400,
                "BadRequest",
                format!(
                    "the namespace of the object ({body}) does not match the namespace on the request ({path})"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// The checks every write passes after authorization, in kube-apiserver's order: RBAC's
/// escalation check on bindings (in the registry), then validating admission policies.
fn admit_write(
    state: &FakeState,
    objects: &super::objects::Objects,
    request: &Authorized,
    operation: &str,
    target: &Target,
    (namespace, name): (&str, &str),
    (old, new): (Option<&Value>, Option<&Value>),
) -> Result<(), ApiError> {
    if let Some(binding) =
        new.filter(|_| matches!(target.resource.kind, "RoleBinding" | "ClusterRoleBinding"))
    {
        let pending = |kind: &str, ns: &str, name: &str| state.binding_pending(kind, ns, name);
        authz::check_binding(objects, &request.identity, binding, namespace, &pending)?;
        // Recorded like any decision, so tests see which grants the host used.
        let bind = authz::bind_attributes(binding, namespace);
        let allowed = authz::allowed(objects, &request.identity, &bind, &pending);
        lock(&state.authorizations).push(super::state::AuthorizationRecord {
            user: request.identity.user.clone(),
            attributes: bind,
            allowed,
        });
    }
    if target.resource.kind == "PersistentVolumeClaim"
        && !state.settings().volume_expansion
        && let (Some(old), Some(new)) = (old, new)
    {
        let storage = |v: &Value| {
            v.pointer("/spec/resources/requests/storage")
                .and_then(Value::as_str)
                .and_then(|s| storeplane::k8s::quantity::Quantity::parse(s).ok())
        };
        if storage(new) > storage(old) {
            // plugin/pkg/admission/storage/persistentvolume/resize/admission.go
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "persistentvolumeclaims \"{name}\" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
                ),
            ));
        }
    }
    admission_policy::validate(
        objects,
        &admission_policy::AdmissionRequest {
            operation,
            resource: target.resource,
            subresource: target.subresource.as_deref().unwrap_or_default(),
            namespace,
            name,
            who: &request.identity,
            object: new,
            old_object: old,
        },
    )
}

fn create(
    state: &Arc<FakeState>,
    request: &Authorized,
    target: &Target,
    object: Value,
) -> Result<(u16, Value), ApiError> {
    check_body_namespace(target, &object)?;
    let namespace = namespace_of(target);
    let mut object = object;
    let mut objects = lock(&state.objects);
    admission::admit_create(&objects, target.resource, &namespace, &mut object)?;
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    admit_write(
        state,
        &objects,
        request,
        "CREATE",
        target,
        (&namespace, &name),
        (None, Some(&object)),
    )?;
    let created = objects.create(target.resource, &namespace, object)?;
    drop(objects);
    simulate::after_write(state, target.resource, &namespace, &created, true);
    Ok((201, created))
}

fn replace(
    state: &Arc<FakeState>,
    request: &Authorized,
    target: &Target,
    name: &str,
    object: Value,
) -> Result<(u16, Value), ApiError> {
    check_body_namespace(target, &object)?;
    let namespace = namespace_of(target);
    let before = lock(&state.objects)
        .get(target.resource, &namespace, name)
        .cloned();
    admit_write(
        state,
        &lock(&state.objects),
        request,
        "UPDATE",
        target,
        (&namespace, name),
        (before.as_ref(), Some(&object)),
    )?;
    let updated = lock(&state.objects).replace(target.resource, &namespace, name, object)?;
    simulate::after_write(
        state,
        target.resource,
        &namespace,
        &updated,
        generation_changed(before.as_ref(), &updated),
    );
    Ok((200, updated))
}

fn generation_changed(before: Option<&Value>, after: &Value) -> bool {
    let generation = |v: &Value| v.pointer("/metadata/generation").and_then(Value::as_i64);
    before.is_none_or(|b| generation(b) != generation(after))
}

fn patch(
    state: &Arc<FakeState>,
    request: &Authorized,
    target: &Target,
    name: &str,
    headers: &HeaderMap,
    pairs: &[(String, String)],
    body: &Bytes,
) -> Result<(u16, Value), ApiError> {
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let (content_type, user_agent) = (
        header_text(header::CONTENT_TYPE),
        header_text(header::USER_AGENT),
    );
    let namespace = namespace_of(target);
    let patch = parse_body(body)?;
    let before = lock(&state.objects)
        .get(target.resource, &namespace, name)
        .cloned();
    let (status, object) = match content_type {
        "application/apply-patch+yaml" => {
            let manager = param(pairs, "fieldManager").ok_or_else(|| {
                ApiError::new(
                    422,
                    "Invalid",
                    "PATCH with application/apply-patch+yaml requires fieldManager",
                )
            })?;
            check_body_namespace(target, &patch)?;
            if patch.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    "the name of the object does not match the URL",
                ));
            }
            if before.is_none() {
                // An apply that creates the object also needs `create` on it (apiserver
                // handlers/patch.go), checked after the `patch` the filter checked.
                let create = request.attributes.with_verb("create");
                if !state.authorize(&request.identity, &create) {
                    return Err(authz::forbidden(&request.identity, &create));
                }
            }
            // A field the schema does not declare: apimachinery's structured merge cannot
            // build the typed patch (structuredmerge.go), answered as 500 with no reason.
            if let Ok(manifest) = storeplane::k8s::Manifest::from_value(patch.clone())
                && let Ok(undeclared) = manifest.undeclared_fields()
                && let Some(first) = undeclared.first()
            {
                return Err(ApiError::new(
                    500,
                    "",
                    format!(
                        "failed to create typed patch object ({namespace}/{name}; {}, Kind={}): {first}: field not declared in schema",
                        target.resource.api_version(),
                        target.resource.kind
                    ),
                ));
            }
            let mut patch = patch;
            let force = matches!(param(pairs, "force"), Some("true" | "1"));
            let mut objects = lock(&state.objects);
            if objects.get(target.resource, &namespace, name).is_none() {
                admission::admit_create(&objects, target.resource, &namespace, &mut patch)?;
            }
            let (after, created) =
                objects.apply_result(target.resource, &namespace, name, &patch, manager, force)?;
            admit_write(
                state,
                &objects,
                request,
                if created { "CREATE" } else { "UPDATE" },
                target,
                (&namespace, name),
                (before.as_ref(), Some(&after)),
            )?;
            let (object, created) =
                objects.store(target.resource, &namespace, name, after, created)?;
            drop(objects);
            (if created { 201 } else { 200 }, object)
        }
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            // Without fieldManager the API server names the manager after the user agent.
            let manager = param(pairs, "fieldManager").map_or_else(
                || {
                    user_agent
                        .split('/')
                        .next()
                        .filter(|m| !m.is_empty())
                        .unwrap_or("unknown")
                        .to_owned()
                },
                str::to_owned,
            );
            let mut objects = lock(&state.objects);
            let after =
                objects.merge_patch_result(target.resource, &namespace, name, &patch, &manager)?;
            admit_write(
                state,
                &objects,
                request,
                "UPDATE",
                target,
                (&namespace, name),
                (before.as_ref(), Some(&after)),
            )?;
            (
                200,
                objects.replace(target.resource, &namespace, name, after)?,
            )
        }
        other => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("unsupported patch type {other:?}"),
            ));
        }
    };
    simulate::after_write(
        state,
        target.resource,
        &namespace,
        &object,
        generation_changed(before.as_ref(), &object),
    );
    Ok((status, object))
}

/// DELETE, with `propagationPolicy` from the query or the `DeleteOptions` body (kube-rs sends
/// the body): `Orphan` leaves the dependents, without their owner reference; otherwise the
/// garbage collector removes them.
fn delete(
    state: &Arc<FakeState>,
    request: &Authorized,
    target: &Target,
    name: &str,
    pairs: &[(String, String)],
    body: &Bytes,
) -> Result<(u16, Value), ApiError> {
    let namespace = namespace_of(target);
    {
        let objects = lock(&state.objects);
        let current = objects
            .get(target.resource, &namespace, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(target.resource, name))?;
        admit_write(
            state,
            &objects,
            request,
            "DELETE",
            target,
            (&namespace, name),
            (Some(&current), None),
        )?;
    }
    if target.resource.kind == "Namespace" {
        let object = lock(&state.objects).mark_terminating(name)?;
        simulate::terminate_namespace(state, name);
        return Ok((200, object));
    }
    let options = if body.is_empty() {
        Value::Null
    } else {
        parse_body(body)?
    };
    let orphan = param(pairs, "propagationPolicy")
        .or_else(|| options.get("propagationPolicy").and_then(Value::as_str))
        == Some("Orphan");
    // PVC protection: a claim a pod still mounts stays, terminating, until no pod does.
    if target.resource.kind == "PersistentVolumeClaim"
        && let Some(held) = simulate::protect_claim(state, &namespace, name)?
    {
        return Ok((200, held));
    }
    let removed = lock(&state.objects).remove(target.resource, &namespace, name)?;
    if orphan {
        simulate::orphan_dependents(state, &namespace, &removed);
    } else {
        simulate::after_delete(state, target.resource, &namespace, &removed);
    }
    Ok((200, removed))
}

/// A watch: replays events after `resourceVersion` (or the current objects as `ADDED` when
/// none or `0` is given), then streams live events, with bookmarks when asked, until
/// `timeoutSeconds`, an outage, or the client going away.
fn watch(state: Arc<FakeState>, target: Target, pairs: &[(String, String)]) -> Response {
    let (labels, fields) = match selectors(pairs) {
        Ok(s) => s,
        Err(err) => return error(&err),
    };
    let bookmarks = matches!(param(pairs, "allowWatchBookmarks"), Some("true" | "1"));
    let timeout = param(pairs, "timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs);
    let since = param(pairs, "resourceVersion")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|rv| *rv > 0);
    let resource_index = super::objects::index_of(target.resource);
    let namespace = target
        .resource
        .namespaced
        .then(|| target.namespace.clone())
        .flatten();

    let (mut live, initial, mut last) = {
        let objects = lock(&state.objects);
        let live = state.events.subscribe();
        let current = objects.resource_version();
        match since {
            Some(rv) if rv < objects.oldest_resumable() => {
                let gone = json!({"type": "ERROR", "object": ApiError::new(410, "Expired", format!("too old resource version: {rv}")).status()});
                return (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    format!("{gone}\n"),
                )
                    .into_response();
            }
            Some(rv) => {
                let events: Vec<(&'static str, Value)> = objects
                    .events_since(rv)
                    .into_iter()
                    .filter(|e| e.resource == resource_index)
                    .filter(|e| namespace.as_ref().is_none_or(|ns| *ns == e.namespace))
                    .map(|e| (e.kind, e.object))
                    .collect();
                (live, events, current)
            }
            None => {
                let items = objects.list(
                    target.resource,
                    namespace.as_deref(),
                    &Selector::default(),
                    &Selector::default(),
                );
                (
                    live,
                    items.into_iter().map(|o| ("ADDED", o)).collect(),
                    current,
                )
            }
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let matches =
        move |object: &Value| labels.matches_labels(object) && fields.matches_fields(object);
    let api_version = target.resource.api_version();
    let kind = target.resource.kind;
    tokio::spawn(async move {
        let line = |kind: &str, object: &Value| {
            Bytes::from(format!("{}\n", json!({"type": kind, "object": object})))
        };
        for (event, object) in initial {
            if matches(&object) && tx.send(Ok(line(event, &object))).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut ticker = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return,
                _ = ticker.tick() => {
                    if state.settings().outage || tx.is_closed() {
                        return;
                    }
                    if bookmarks {
                        let bookmark = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": last.to_string()}});
                        if tx.send(Ok(line("BOOKMARK", &bookmark))).await.is_err() {
                            return;
                        }
                    }
                }
                event = live.recv() => {
                    let Ok(event) = event else { return }; // lagged or closed: the client re-watches
                    if event.resource_version <= last {
                        continue;
                    }
                    last = event.resource_version;
                    let relevant = event.resource == resource_index
                        && namespace.as_ref().is_none_or(|ns| *ns == event.namespace)
                        && matches(&event.object);
                    if relevant && tx.send(Ok(line(event.kind, &event.object))).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream.boxed()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Unused-resource guard: every resource in the table has a plural the router can find.
#[cfg(test)]
mod tests {
    use super::super::resources::RESOURCES;
    use super::*;

    #[test]
    fn every_resource_path_resolves() {
        for resource in RESOURCES {
            let mut path: Vec<&str> = if resource.group.is_empty() {
                vec!["api", resource.version]
            } else {
                vec!["apis", resource.group, resource.version]
            };
            if resource.namespaced {
                path.extend(["namespaces", "ns"]);
            }
            path.extend([resource.plural, "name"]);
            let target = parse_target(&path).unwrap_or_else(|e| panic!("{path:?}: {}", e.message));
            assert_eq!(target.resource, resource);
            assert_eq!(target.name.as_deref(), Some("name"));
        }
    }
}
