//! A fake Kubernetes API server (axum, in memory) that kube-rs talks to over HTTP, so the
//! provisioning pipeline is tested without a cluster: authentication and RBAC with the
//! control-plane chart's rules (the host connects as its ServiceAccount), discovery, CRUD,
//! server-side apply, merge patch, selectors, watches with bookmarks, `Status` errors,
//! admission (NamespaceLifecycle, LimitRanger, Pod Security, ResourceQuota), Deployment → ReplicaSet →
//! Pod and StatefulSet → claims and pods controllers, namespace termination, simulated readiness and failures, websocket exec with scripted
//! results, and fault injection. `docs/fake-kubernetes.md` says what is modelled after which
//! Kubernetes source.
//!
//! Tests drive it in-process through [`FakeKube`]; the `fake-kube` binary serves the same
//! thing for benchmarks and manual runs, with control endpoints under `/_fake/`.

mod admission;
mod admission_policy;
pub mod authz;
mod chart_rbac;
mod events;
mod exec;
mod field_manager;
mod immutable;
mod kubelet;
mod namespace_controllers;
mod objects;
mod pod_references;
mod pod_security;
mod probes;
mod resources;
mod reviews;
mod routes;
mod simulate;
mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::routing::get;
use serde_json::{Value, json};

pub use authz::{ADMIN_TOKEN, HOST_TOKEN};
pub use chart_rbac::control_plane_rbac;
pub use objects::{ApiError, Selector};
pub use state::{
    AuthorizationRecord, ExecRecord, ExecScript, FakeState, PodFailure, PullError, ReadyMark,
    RequestRecord, Settings, lock, now_ms,
};

/// A running fake API server.
#[derive(Debug)]
pub struct FakeKube {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The router of a fake API server over `state`.
pub fn router(state: Arc<FakeState>) -> axum::Router {
    let kubernetes = axum::Router::new()
        .route(
            "/api/v1/namespaces/{namespace}/pods/{pod}/exec",
            get(exec::exec).post(exec::exec),
        )
        .fallback(routes::kubernetes)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            routes::authorize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            routes::faults,
        ));
    axum::Router::new()
        .route("/_fake/settings", get(get_settings).post(update_settings))
        .route(
            "/_fake/execs",
            get(|State(s): State<Arc<FakeState>>| async move { Json(lock(&s.execs).clone()) }),
        )
        .route(
            "/_fake/requests",
            get(|State(s): State<Arc<FakeState>>| async move { Json(lock(&s.requests).clone()) }),
        )
        .route(
            "/_fake/ready-marks",
            get(
                |State(s): State<Arc<FakeState>>| async move { Json(lock(&s.ready_marks).clone()) },
            ),
        )
        .route(
            "/_fake/creations",
            get(|State(s): State<Arc<FakeState>>| async move {
                Json(lock(&s.objects).creations.clone())
            }),
        )
        .route("/_fake/objects", get(list_objects))
        .merge(kubernetes)
        .with_state(state)
}

async fn get_settings(State(state): State<Arc<FakeState>>) -> Json<Settings> {
    Json(state.settings())
}

/// Merges a partial settings object into the current settings.
async fn update_settings(
    State(state): State<Arc<FakeState>>,
    Json(patch): Json<Value>,
) -> Result<Json<Settings>, (axum::http::StatusCode, String)> {
    let mut settings = lock(&state.settings);
    let mut current = serde_json::to_value(&*settings).unwrap_or_default();
    if let (Some(current), Some(patch)) = (current.as_object_mut(), patch.as_object()) {
        for (k, v) in patch {
            current.insert(k.clone(), v.clone());
        }
    }
    *settings = serde_json::from_value(current)
        .map_err(|err| (axum::http::StatusCode::BAD_REQUEST, err.to_string()))?;
    Ok(Json(settings.clone()))
}

#[derive(Debug, serde::Deserialize)]
struct ObjectsQuery {
    namespace: Option<String>,
}

async fn list_objects(
    State(state): State<Arc<FakeState>>,
    Query(q): Query<ObjectsQuery>,
) -> Json<Value> {
    Json(json!(objects_in(&state, q.namespace.as_deref())))
}

/// Every object (in `namespace` if given), all kinds.
pub fn objects_in(state: &FakeState, namespace: Option<&str>) -> Vec<Value> {
    let objects = lock(&state.objects);
    resources::RESOURCES
        .iter()
        .flat_map(|r| {
            objects.list(
                r,
                namespace.filter(|_| r.namespaced),
                &Selector::default(),
                &Selector::default(),
            )
        })
        .filter(|o| {
            namespace.is_none_or(|ns| {
                o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)
                    || o.pointer("/metadata/name").and_then(Value::as_str) == Some(ns)
                        && o.get("kind") == Some(&json!("Namespace"))
            })
        })
        .collect()
}

/// A kubeconfig pointing at `addr` as the control plane's ServiceAccount (the rights its
/// chart grants).
pub fn kubeconfig(addr: SocketAddr) -> String {
    kubeconfig_with_token(addr, HOST_TOKEN)
}

/// A kubeconfig pointing at `addr` with `token` ([`HOST_TOKEN`] or [`ADMIN_TOKEN`]).
pub fn kubeconfig_with_token(addr: SocketAddr, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{addr}\n\
         users:\n- name: fake\n  user:\n    token: {token}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
         current-context: fake\n"
    )
}

impl FakeKube {
    /// Starts a server on 127.0.0.1 with `settings`.
    pub async fn start(settings: Settings) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(FakeState::new(settings));
        let app = router(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, kubeconfig(addr))?;
        Ok(Self {
            addr,
            state,
            kubeconfig: path,
            _dir: dir,
            task,
        })
    }

    /// The kubeconfig file of this server.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// Changes settings at run time.
    pub fn update(&self, change: impl FnOnce(&mut Settings)) {
        change(&mut lock(&self.state.settings));
    }

    /// Every exec so far.
    pub fn execs(&self) -> Vec<ExecRecord> {
        lock(&self.state.execs).clone()
    }

    /// When each workload became ready, in order.
    pub fn ready_marks(&self) -> Vec<ReadyMark> {
        lock(&self.state.ready_marks).clone()
    }

    /// Every authorization decision so far.
    pub fn authorizations(&self) -> Vec<AuthorizationRecord> {
        lock(&self.state.authorizations).clone()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state.requests).clone()
    }

    /// Objects in `namespace` (and the namespace itself).
    pub fn objects(&self, namespace: &str) -> Vec<Value> {
        objects_in(&self.state, Some(namespace))
    }

    /// One object by kind, namespace and name.
    pub fn object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let resource = resources::of_kind(api_version, kind)?;
        let namespace = if resource.namespaced { namespace } else { "" };
        lock(&self.state.objects)
            .get(resource, namespace, name)
            .cloned()
    }

    /// Changes an object in place (as someone editing it in the cluster would); `false` if it
    /// does not exist.
    pub fn edit(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> bool {
        let Some(resource) = resources::of_kind(api_version, kind) else {
            return false;
        };
        let namespace = if resource.namespaced { namespace } else { "" };
        let mut objects = lock(&self.state.objects);
        let Some(mut object) = objects.get(resource, namespace, name).cloned() else {
            return false;
        };
        change(&mut object);
        objects.overwrite(resource, namespace, name, object).is_ok()
    }

    /// Changes an object as an earlier server-side apply by `manager` would have left it:
    /// the change, and `manager` owning every field of the result (what an older chart
    /// applied). No update validation: this is history, not a request.
    pub fn edit_as_applied_by(
        &self,
        manager: &str,
        (api_version, kind): (&str, &str),
        (namespace, name): (&str, &str),
        change: impl FnOnce(&mut Value),
    ) -> bool {
        self.edit(api_version, kind, namespace, name, |object| {
            change(object);
            field_manager::record_as_applied(object, manager, api_version);
        })
    }

    /// How many times each object was created (`Kind namespace/name`).
    pub fn creations(&self) -> std::collections::BTreeMap<String, u32> {
        lock(&self.state.objects).creations.clone()
    }
}
