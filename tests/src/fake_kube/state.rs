//! Shared state of a fake API server: the objects, the run-time settings (faults, readiness,
//! scripted exec results) and the records tests assert on (every request, every exec, when
//! workloads became ready).

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::objects::{Event, Objects};

/// How pods of matching workloads fail instead of becoming ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodFailure {
    /// Substring of the workload's name or of one of its container images.
    pub matches: String,
    /// `CrashLoopBackOff`, `ImagePullBackOff`, `ErrImagePull` or `Unschedulable`.
    pub reason: String,
}

/// The scripted result of execs whose command contains `pattern`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecScript {
    pub pattern: String,
    /// Only execs in these namespaces (in any when empty): one store's commands fail while
    /// the same commands of other stores succeed.
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub delay_ms: u64,
}

/// Run-time behaviour, changeable through the control endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Share of requests answered with a transient error (500/503), 0..=1.
    pub fail_rate: f64,
    /// Added to every request.
    pub latency_ms: u64,
    /// Every request fails with 503 and open watches end.
    pub outage: bool,
    /// Delay before a workload's pods are running and ready.
    pub ready_after_ms: u64,
    /// Delay between a namespace's deletion and its disappearance.
    pub namespace_termination_ms: u64,
    pub pod_failures: Vec<PodFailure>,
    /// First match wins; no match: exit 0 with `ok` on stdout after `default_exec_delay_ms`.
    pub exec_scripts: Vec<ExecScript>,
    pub default_exec_delay_ms: u64,
    /// While set, execs that have run their time do not finish: they stay open until this is
    /// cleared or the client goes away. Lets a test stop the host at a point where no command
    /// has finished without the host having heard of it.
    pub hold_execs: bool,
    /// Delay before the quota controller fills a new or changed ResourceQuota's status; until
    /// then admission does not enforce it (as the real API server).
    pub quota_sync_ms: u64,
    /// When set, `status.used` is filled this long after `status.hard`; meanwhile admission
    /// refuses what the quota counts with "status unknown for quota".
    pub quota_used_lag_ms: u64,
    /// `spec.hard` of a ResourceQuota `cluster-policy` put into every new namespace, as a
    /// cluster's policy engine (e.g. a Kyverno generate rule) does.
    pub namespace_quota: Option<serde_json::Value>,
    /// Labels a policy engine forces onto every namespace, over what was applied (e.g.
    /// `pod-security.kubernetes.io/enforce: restricted` on a locked-down cluster).
    pub namespace_labels: Option<serde_json::Value>,
    /// A finalizer some controller puts on every PersistentVolumeClaim of a namespace being
    /// deleted and never removes (a CSI driver or operator that is gone): the namespace stays
    /// `Terminating` until this is cleared.
    pub stuck_finalizer: Option<String>,
    /// Pulls of matching images that fail before one succeeds (a registry's rate limit).
    pub image_pull_errors: Vec<PullError>,
    /// New pods stay unschedulable this long (a cluster autoscaler adding a node).
    pub unschedulable_ms: u64,
    /// A database container accepts connections this long after it starts (first boot).
    pub database_startup_ms: u64,
    /// First restart back-off of a crashing container (doubling; the kubelet's is 10 s).
    pub crash_backoff_ms: u64,
    /// How long a written RoleBinding or ClusterRoleBinding takes to reach the authorizer
    /// (kube-apiserver's RBAC authorizer reads them from an informer cache).
    pub rbac_lag_ms: u64,
    /// Whether the claims' storage class allows volume expansion (`allowVolumeExpansion`);
    /// when not, a claim asking for more storage is refused by the `PersistentVolumeClaimResize`
    /// admission plugin, as on a cluster whose class cannot grow volumes (kind's local-path).
    pub volume_expansion: bool,
}

/// Pulls of images containing `matches` fail `times` times with `message`, then succeed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullError {
    pub matches: String,
    pub message: String,
    pub times: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            fail_rate: 0.0,
            latency_ms: 0,
            outage: false,
            ready_after_ms: 100,
            namespace_termination_ms: 100,
            pod_failures: Vec::new(),
            exec_scripts: Vec::new(),
            default_exec_delay_ms: 0,
            hold_execs: false,
            quota_sync_ms: 20,
            quota_used_lag_ms: 0,
            namespace_quota: None,
            namespace_labels: None,
            stuck_finalizer: None,
            image_pull_errors: Vec::new(),
            unschedulable_ms: 0,
            database_startup_ms: 0,
            crash_backoff_ms: 100,
            rbac_lag_ms: 20,
            volume_expansion: true,
        }
    }
}

/// One exec into a pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRecord {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub command: Vec<String>,
    /// The request URI exactly as received.
    pub uri: String,
    /// Whether the exit status was delivered (false: the client went away first).
    pub completed: bool,
    pub exit_code: Option<i32>,
    pub started_ms: u64,
    /// When the command ended in the container (a client going away does not end it; a
    /// `timeout` wrapper does, at its limit).
    pub ended_ms: u64,
    /// The limit of the `timeout` wrapper the command ran under, if any (`command` is what
    /// ran inside it).
    pub container_timeout_ms: Option<u64>,
}

/// One API request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    pub uri: String,
    pub status: u16,
}

/// One authorization decision: who asked to do what, and whether RBAC allowed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRecord {
    pub user: String,
    pub attributes: super::authz::Attributes,
    pub allowed: bool,
}

/// When a workload became ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadyMark {
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub at_ms: u64,
}

/// Everything one fake server holds.
#[derive(Debug)]
pub struct FakeState {
    pub objects: Mutex<Objects>,
    pub settings: Mutex<Settings>,
    pub execs: Mutex<Vec<ExecRecord>>,
    pub requests: Mutex<Vec<RequestRecord>>,
    pub authorizations: Mutex<Vec<AuthorizationRecord>>,
    pub ready_marks: Mutex<Vec<ReadyMark>>,
    /// Pods and claims created while their namespace had a quota with an empty status, which
    /// the real API server does not enforce (`namespace/name`).
    pub unenforced_pods: Mutex<Vec<String>>,
    /// When each binding written through the API takes effect (`kind/namespace/name` → ms).
    pub bindings_effective: Mutex<std::collections::HashMap<String, u64>>,
    pub events: broadcast::Sender<Event>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Locks a mutex, ignoring poisoning (a panicked handler must not wedge the fake).
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeState {
    pub fn new(settings: Settings) -> Self {
        let (events, _) = broadcast::channel(65_536);
        let objects = Objects::with_sender(events.clone());
        let state = Self {
            objects: Mutex::new(objects),
            settings: Mutex::new(settings),
            execs: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            authorizations: Mutex::new(Vec::new()),
            ready_marks: Mutex::new(Vec::new()),
            unenforced_pods: Mutex::new(Vec::new()),
            bindings_effective: Mutex::new(std::collections::HashMap::new()),
            events,
        };
        {
            let ns = super::resources::of_kind("v1", "Namespace");
            let mut objects = lock(&state.objects);
            for name in ["default", "kube-system", super::authz::HOST_NAMESPACE] {
                if let Some(ns) = ns {
                    let _ = objects.create(ns, "", serde_json::json!({"metadata": {"name": name}}));
                }
            }
            // Kubernetes' own bootstrap roles, then the control plane's rights and admission
            // policies, exactly as its chart has them.
            let rbac = super::chart_rbac::control_plane_rbac()
                .unwrap_or_else(|err| panic!("the fake API server needs the chart's RBAC: {err}"));
            for object in bootstrap_roles().into_iter().chain(rbac) {
                let kind = object
                    .get("kind")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                let namespace = object
                    .pointer("/metadata/namespace")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let api_version = object
                    .get("apiVersion")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                if let Some(resource) = super::resources::of_kind(api_version, kind) {
                    let _ = objects.create(resource, &namespace, object);
                }
            }
        }
        state
    }

    /// Whether the binding `kind` `namespace/name` was written too recently to be in effect.
    pub fn binding_pending(&self, kind: &str, namespace: &str, name: &str) -> bool {
        lock(&self.bindings_effective)
            .get(&format!("{kind}/{namespace}/{name}"))
            .is_some_and(|at| *at > now_ms())
    }

    /// Records a write of a binding: it takes effect `rbac_lag_ms` from now.
    pub fn binding_written(&self, kind: &str, namespace: &str, name: &str) {
        let at = now_ms() + self.settings().rbac_lag_ms;
        lock(&self.bindings_effective).insert(format!("{kind}/{namespace}/{name}"), at);
    }

    /// RBAC's answer for `who` doing `what`, recorded for tests to inspect.
    pub fn authorize(&self, who: &super::authz::Identity, what: &super::authz::Attributes) -> bool {
        let pending = |kind: &str, ns: &str, name: &str| self.binding_pending(kind, ns, name);
        let allowed = super::authz::allowed(&lock(&self.objects), who, what, &pending);
        lock(&self.authorizations).push(AuthorizationRecord {
            user: who.user.clone(),
            attributes: what.clone(),
            allowed,
        });
        allowed
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }
}

/// Kubernetes' bootstrap RBAC that matters here (k/k `plugin/pkg/auth/authorizer/rbac/
/// bootstrappolicy/policy.go`): `cluster-admin`, and `system:basic-user` bound to every
/// authenticated user (who may ask who they are and what they may do).
fn bootstrap_roles() -> Vec<serde_json::Value> {
    use serde_json::json;
    let rbac = "rbac.authorization.k8s.io/v1";
    vec![
        json!({"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": "cluster-admin"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                      {"nonResourceURLs": ["*"], "verbs": ["*"]}]}),
        json!({"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": "system:basic-user"},
        "rules": [
            {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
        ]}),
        json!({"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": "system:basic-user"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:basic-user"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]}),
    ]
}
