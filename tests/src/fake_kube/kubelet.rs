//! The scheduler and the kubelet, simulated for each pod the controllers create, from an image
//! catalog kept here: which images exist (an unknown one fails to pull: `ErrImagePull`, then
//! `ImagePullBackOff` with `Back-off pulling image "…"`), who each runs as (`runAsNonRoot`
//! with a root image: `CreateContainerConfigError`), and what each program needs before it
//! stays up (a database answers after `database_startup_ms`; the Medusa server exits while
//! its database does not answer and is restarted with a doubling back-off, shown as
//! `CrashLoopBackOff`; an init container that waits for the database finishes once it
//! answers). Scripted faults: pulls that fail a number of times (a registry's 429), a
//! scheduling delay (a cluster autoscaler adding a node). Wording after k/k
//! pkg/kubelet/images, kuberuntime, status/generate.go and the scheduler.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::events;
use super::objects::{Objects, Selector};
use super::pod_references;
use super::probes::{self, StaticSite};
use super::resources::of_kind;
use super::state::{FakeState, Settings, lock, now_ms};

/// How often a pod that is not running yet is looked at again.
const TICK: Duration = Duration::from_millis(25);

/// What a program in an image needs to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Program {
    /// Accepts connections `database_startup_ms` after it starts.
    Database,
    /// Exits unless the database of its `DATABASE_URL` answers.
    MedusaServer,
    Other,
}

/// An image the fake registry has.
#[derive(Debug, Clone, Copy)]
struct Image {
    runs_as_root: bool,
    program: Program,
    /// The static pages it serves, when its probes' answers can be known.
    site: Option<StaticSite>,
}

/// The images the store charts use, by repository name.
/// An image reference as containerd resolves it: `docker.io/library/` before a bare name,
/// `docker.io/` before a name whose first part is not a registry host.
fn fully_qualified(image: &str) -> String {
    match image.split_once('/') {
        None => format!("docker.io/library/{image}"),
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            image.to_owned()
        }
        Some(_) => format!("docker.io/{image}"),
    }
}

fn catalog(image: &str) -> Option<Image> {
    let repository = image.rsplit_once(':').map_or(image, |(r, _)| r);
    let name = repository.rsplit('/').next().unwrap_or(repository);
    let (runs_as_root, program) = match name {
        // Apache binds port 80 as root, then drops to www-data.
        "wordpress" => (true, Program::Other),
        // prestashop/prestashop: the same, on the php:apache base.
        "prestashop" => (true, Program::Other),
        // The official images start as root and step down in their entrypoint.
        "mariadb" | "postgres" => (true, Program::Database),
        // docker/medusa: USER 1000.
        "medusa" => (false, Program::MedusaServer),
        "busybox" | "alpine" | "nginx" => (true, Program::Other),
        // nginxinc/nginx-unprivileged: USER 101, listens on 8080.
        "nginx-unprivileged" => (false, Program::Other),
        _ => return None,
    };
    let site = match name {
        "nginx" => Some(probes::NGINX),
        "nginx-unprivileged" => Some(probes::NGINX_UNPRIVILEGED),
        _ => None,
    };
    Some(Image {
        runs_as_root,
        program,
        site,
    })
}

/// Resident memory of the Medusa server (Node with the whole application loaded), and of one
/// `medusa` CLI process (`db:migrate`, `exec`, `user`: the application again). Estimates of
/// what Medusa 2.x uses idle; what matters is that two do not fit in 1 GiB.
const MEDUSA_SERVER_MIB: i128 = 700;
const MEDUSA_CLI_MIB: i128 = 450;

fn mib(container: &Value) -> Option<i128> {
    let limit = container.pointer("/resources/limits/memory")?.as_str()?;
    storeplane::k8s::quantity::Quantity::parse(limit)
        .ok()
        .map(|q| q.milli() / 1000 / (1 << 20))
}

/// Whether running `command` in `container` of `pod` goes over the container's memory limit
/// (the programs already in it, plus the new one): the kernel then kills the biggest process
/// in the container, the server, and the kubelet restarts the container.
pub fn exec_out_of_memory(pod: &Value, container: &str, command: &[String]) -> bool {
    let Some(spec) = container_names(pod, "containers")
        .into_iter()
        .find(|c| c["name"] == container)
    else {
        return false;
    };
    let image = spec["image"].as_str().unwrap_or_default();
    let Some(Image {
        program: Program::MedusaServer,
        ..
    }) = catalog(image)
    else {
        return false;
    };
    // A container whose command is overridden (the setup sidecar) does not run the server.
    let resident = if spec.get("command").is_none() {
        MEDUSA_SERVER_MIB
    } else {
        0
    };
    let joined = command.join(" ");
    let cli = if joined.contains("medusa ") {
        MEDUSA_CLI_MIB
    } else {
        0
    };
    mib(&spec).is_some_and(|limit| resident + cli > limit)
}

/// Per-pod memory of the simulation.
#[derive(Debug, Default)]
struct Memo {
    /// Failed pull attempts per image.
    pulls: BTreeMap<String, u32>,
    /// Until when a pull back-off lasts, per image.
    pull_backoff_until: BTreeMap<String, u64>,
    /// Restarts of each crashing container, and until when its back-off lasts.
    restarts: BTreeMap<String, (u32, u64)>,
    /// When each container started running.
    started: BTreeMap<String, u64>,
    /// Warning events already written, so each distinct one is written once.
    reported: std::collections::BTreeSet<Warning>,
}

/// One pod's status, worked out by the kubelet.
struct Outcome {
    status: Value,
    ready: bool,
    /// Nothing will change by waiting (a scripted permanent failure).
    settled: bool,
    /// What the kubelet reports as Warning events (failing probes, volumes it cannot mount).
    warnings: Vec<Warning>,
}

/// A Warning event the kubelet writes on a pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Warning {
    reason: &'static str,
    /// The container it is about (`involvedObject.fieldPath` `spec.containers{name}`).
    container: Option<String>,
    message: String,
}

fn container_names(pod: &Value, list: &str) -> Vec<Value> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn waiting(name: &str, image: &str, reason: &str, message: &str, restarts: u32) -> Value {
    json!({"name": name, "image": image, "imageID": "", "ready": false, "restartCount": restarts,
           "started": false, "state": {"waiting": {"reason": reason, "message": message}}})
}

fn running(name: &str, image: &str, ready: bool, restarts: u32) -> Value {
    json!({"name": name, "image": image, "imageID": format!("{}@sha256:0", fully_qualified(image)),
           "ready": ready, "restartCount": restarts, "started": true,
           "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}})
}

/// The Service a `postgres://user:pass@host:port/db` URL names (the first label of its host).
fn service_of_url(url: &str) -> &str {
    url.split('@')
        .nth(1)
        .and_then(|rest| rest.split([':', '/', '.']).next())
        .unwrap_or_default()
}

/// Whether the pods behind Service `host` answer (are ready: a database pod is ready once it
/// has been running `database_startup_ms`).
fn database_answers(objects: &Objects, namespace: &str, host: &str) -> bool {
    let (Some(services), Some(pods)) = (of_kind("v1", "Service"), of_kind("v1", "Pod")) else {
        return false;
    };
    let Some(selector) = objects
        .get(services, namespace, host)
        .and_then(|s| s.pointer("/spec/selector"))
        .and_then(Value::as_object)
        .cloned()
    else {
        return false;
    };
    let all = Selector::default();
    objects
        .list(pods, Some(namespace), &all, &all)
        .iter()
        .filter(|p| {
            selector
                .iter()
                .all(|(k, v)| p.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v))
        })
        .any(|p| is_ready(&p["status"]))
}

/// Whether a pod status says Ready.
pub fn is_ready(status: &Value) -> bool {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn env_value(container: &Value, name: &str) -> Option<String> {
    container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(str::to_owned))
}

/// Whether the container asks not to run as root while running as root.
fn root_refused(pod: &Value, container: &Value, image: Image) -> bool {
    let pod_ctx = pod.pointer("/spec/securityContext");
    let ctx = container.get("securityContext");
    let get = |key: &str| {
        ctx.and_then(|c| c.get(key))
            .or_else(|| pod_ctx.and_then(|c| c.get(key)))
    };
    let non_root = get("runAsNonRoot").and_then(Value::as_bool) == Some(true);
    let user = get("runAsUser").and_then(Value::as_i64);
    non_root && user.map_or(image.runs_as_root, |u| u == 0)
}

/// Works out the pod's status at `now`.
fn evaluate(
    objects: &Objects,
    settings: &Settings,
    namespace: &str,
    pod: &Value,
    memo: &mut Memo,
    now: u64,
) -> Outcome {
    let created = pod
        .pointer("/metadata/annotations/fake.storeplane.io~1created-ms")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(now);
    let pending = |conditions: Value, extra: Value| {
        let mut status = json!({"phase": "Pending", "conditions": conditions});
        if let Some(map) = extra.as_object() {
            for (k, v) in map {
                status[k] = v.clone();
            }
        }
        status
    };
    // The scheduler could not place the pod (yet), with its message.
    let unschedulable = |message: &str| Outcome {
        status: pending(
            json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": message}]),
            json!({}),
        ),
        ready: false,
        settled: false,
        warnings: Vec::new(),
    };
    if now < created + settings.unschedulable_ms {
        return unschedulable(
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
        );
    }
    // What the pod's status says already happened: the scheduler placed it, a container ran.
    let earlier = pod.get("status");
    let placed = earlier
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "PodScheduled" && c["status"] == "True")
        });
    let started = earlier
        .and_then(|s| s.get("containerStatuses"))
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|c| c.pointer("/state/running").is_some()));
    // The scheduler's volume binding: a claim the pod names must exist (it may yet appear).
    // A pod already placed stays placed, whatever happens to its claims.
    if !placed && let Some(why) = pod_references::unschedulable_claim(objects, namespace, pod) {
        return unschedulable(&format!(
            "0/3 nodes are available: {why}. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        ));
    }
    let scheduled = json!({"type": "PodScheduled", "status": "True"});
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    // How the kubelet names the pod in its messages (k/k `pkg/kubelet/util/format`).
    let pod_ref = format!(
        "{pod_name}_{namespace}({})",
        pod["metadata"]["uid"].as_str().unwrap_or_default()
    );
    // The kubelet sets up every volume before it starts any container (once they run, a
    // ConfigMap that goes away leaves them running).
    if !started && let Some(message) = pod_references::mount_failure(objects, namespace, pod) {
        let creating = |list: &str| -> Vec<Value> {
            container_names(pod, list)
                .iter()
                .map(|c| {
                    let image = c["image"].as_str().unwrap_or_default();
                    waiting(
                        c["name"].as_str().unwrap_or_default(),
                        image,
                        "ContainerCreating",
                        "",
                        0,
                    )
                })
                .collect()
        };
        let mut status = pending(
            json!([scheduled, {"type": "Initialized", "status": "False"},
                   {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]),
            json!({"containerStatuses": creating("containers")}),
        );
        if pod.pointer("/spec/initContainers").is_some() {
            status["initContainerStatuses"] = json!(creating("initContainers"));
        }
        return Outcome {
            status,
            ready: false,
            settled: false,
            warnings: vec![Warning {
                reason: "FailedMount",
                container: None,
                message,
            }],
        };
    }
    let mut init_statuses = Vec::new();
    let mut statuses = Vec::new();
    let mut initialized = true;
    let mut all_ready = true;
    let mut settled = false;
    let mut warnings = Vec::new();
    for (list, is_init) in [("initContainers", true), ("containers", false)] {
        for container in container_names(pod, list) {
            let name = container["name"].as_str().unwrap_or_default().to_owned();
            let image_ref = container["image"].as_str().unwrap_or_default().to_owned();
            let out = if is_init {
                &mut init_statuses
            } else {
                &mut statuses
            };
            if !is_init && !initialized {
                out.push(waiting(&name, &image_ref, "PodInitializing", "", 0));
                all_ready = false;
                continue;
            }
            // Pull.
            let Some(image) = catalog(&image_ref) else {
                let full = fully_qualified(&image_ref);
                let message = format!(
                    "failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
                );
                let reason = if memo.pulls.get(&image_ref).copied().unwrap_or(0) == 0 {
                    "ErrImagePull"
                } else {
                    "ImagePullBackOff"
                };
                *memo.pulls.entry(image_ref.clone()).or_default() += 1;
                out.push(waiting(&name, &image_ref, reason, &message, 0));
                all_ready = false;
                initialized &= !is_init;
                continue;
            };
            if let Some(fault) = settings
                .image_pull_errors
                .iter()
                .find(|f| image_ref.contains(&f.matches))
            {
                let failed = memo.pulls.get(&image_ref).copied().unwrap_or(0);
                if failed < fault.times {
                    let backoff_until = memo
                        .pull_backoff_until
                        .get(&image_ref)
                        .copied()
                        .unwrap_or(0);
                    if now < backoff_until {
                        out.push(waiting(
                            &name,
                            &image_ref,
                            "ImagePullBackOff",
                            &format!("Back-off pulling image \"{image_ref}\""),
                            0,
                        ));
                    } else {
                        memo.pulls.insert(image_ref.clone(), failed + 1);
                        memo.pull_backoff_until
                            .insert(image_ref.clone(), now + settings.crash_backoff_ms * 2);
                        out.push(waiting(
                            &name,
                            &image_ref,
                            "ErrImagePull",
                            &fault.message,
                            0,
                        ));
                    }
                    all_ready = false;
                    initialized &= !is_init;
                    continue;
                }
            }
            if root_refused(pod, &container, image) {
                out.push(waiting(&name, &image_ref, "CreateContainerConfigError",
                    &format!("container has runAsNonRoot and image will run as root (pod: \"{pod_ref}\", container: {name})"), 0));
                all_ready = false;
                initialized &= !is_init;
                settled = true;
                continue;
            }
            // The environment is made before the container is created (it may heal: the
            // kubelet tries again).
            if let Some(message) = pod_references::env_failure(objects, namespace, &container) {
                out.push(waiting(
                    &name,
                    &image_ref,
                    "CreateContainerConfigError",
                    &message,
                    0,
                ));
                all_ready = false;
                initialized &= !is_init;
                continue;
            }
            let command = container
                .get("command")
                .map(ToString::to_string)
                .unwrap_or_default()
                + &container
                    .get("args")
                    .map(ToString::to_string)
                    .unwrap_or_default();
            if is_init {
                // An init container that waits for a database finishes once it answers.
                let waits_for = command.contains("pg_isready")
                    || command.contains("healthcheck")
                    || command.contains("mariadb-admin");
                let host = env_value(&container, "DATABASE_URL")
                    .map(|url| service_of_url(&url).to_owned())
                    .unwrap_or_else(|| host_option(&container));
                let done = !waits_for || database_answers(objects, namespace, &host);
                if done {
                    init_statuses.push(
                        json!({"name": name, "image": image_ref, "ready": true, "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}),
                    );
                } else {
                    init_statuses.push(running(&name, &image_ref, false, 0));
                    initialized = false;
                    all_ready = false;
                }
                continue;
            }
            let (restarts, backoff_until) = memo.restarts.get(&name).copied().unwrap_or((0, 0));
            // A container that exited (or was killed) waits out its back-off before it runs
            // again; it starts anew after it.
            if now < backoff_until {
                memo.started.remove(&name);
                // k/k `kuberuntime_manager.go`: written at each attempt to start it meanwhile.
                warnings.push(Warning {
                    reason: "BackOff",
                    container: Some(name.clone()),
                    message: format!(
                        "Back-off restarting failed container {name} in pod {pod_ref}"
                    ),
                });
                statuses.push(waiting(
                    &name,
                    &image_ref,
                    "CrashLoopBackOff",
                    &format!(
                        "back-off {}ms restarting failed container={name} pod={pod_ref}",
                        backoff_until - now
                    ),
                    restarts,
                ));
                all_ready = false;
                continue;
            }
            let started = *memo.started.entry(name.clone()).or_insert(now);
            // A container whose command is overridden runs that, not the image's program
            // (the Medusa setup sidecar idles).
            let program = if container.get("command").is_some() {
                Program::Other
            } else {
                image.program
            };
            match program {
                Program::MedusaServer => {
                    let url = env_value(&container, "DATABASE_URL").unwrap_or_default();
                    if !database_answers(objects, namespace, service_of_url(&url)) {
                        // Medusa's migrations at start cannot connect: it exits 1.
                        let exited = json!({"exitCode": 1, "reason": "Error"});
                        statuses.push(restart(
                            memo, settings, &name, &image_ref, now, exited, &pod_ref,
                        ));
                        all_ready = false;
                    } else {
                        statuses.push(running(&name, &image_ref, true, restarts));
                    }
                }
                Program::Database => {
                    let up = now >= started + settings.database_startup_ms;
                    statuses.push(running(&name, &image_ref, up, restarts));
                    all_ready &= up;
                }
                Program::Other => statuses.push(running(&name, &image_ref, true, restarts)),
            }
            // A running container is ready only once its startup and readiness probes pass.
            let target = probes::Target {
                namespace,
                pod,
                container: &container,
                // An overridden command does not run the image's web server.
                site: image.site.filter(|_| container.get("command").is_none()),
            };
            if let Some(status) = statuses.last_mut().filter(|s| s["ready"] == true)
                && let Some(failure) = probes::failing(objects, settings, &target)
            {
                status["ready"] = false.into();
                // Until its startup probe passes a container counts as not started.
                status["started"] = (failure.probe != "Startup").into();
                warnings.push(Warning {
                    reason: "Unhealthy",
                    container: Some(name.clone()),
                    message: failure.message(),
                });
                all_ready = false;
                // The startup probe's last allowed failure: the kubelet kills the container
                // ("failed startup probe, will be restarted") and it restarts after a back-off.
                if failure.probe == "Startup"
                    && now
                        >= started.saturating_add(startup_allowance_ms(&container["startupProbe"]))
                {
                    // nginx stops on SIGTERM; other programs get SIGTERM's exit status.
                    let exited = if target.site.is_some() {
                        json!({"exitCode": 0, "reason": "Completed"})
                    } else {
                        json!({"exitCode": 143, "reason": "Error"})
                    };
                    *status = restart(memo, settings, &name, &image_ref, now, exited, &pod_ref);
                }
            }
        }
    }
    // Readiness gates: conditions someone else sets on the pod (kept from its status).
    let (gate_conditions, unmet_gates) = readiness_gates(pod);
    let ready_condition = if all_ready && !unmet_gates.is_empty() {
        all_ready = false;
        json!({"type": "Ready", "status": "False", "reason": "ReadinessGatesNotReady",
               "message": unmet_gates.join(", ")})
    } else if all_ready {
        json!({"type": "Ready", "status": "True"})
    } else {
        let unready: Vec<&str> = statuses
            .iter()
            .filter(|s| s["ready"] != true)
            .filter_map(|s| s["name"].as_str())
            .collect();
        json!({"type": "Ready", "status": "False", "reason": "ContainersNotReady",
               "message": format!("containers with unready status: [{}]", unready.join(" "))})
    };
    let phase = if statuses
        .iter()
        .any(|s| s.pointer("/state/running").is_some())
    {
        "Running"
    } else {
        "Pending"
    };
    let mut conditions = vec![
        scheduled,
        json!({"type": "Initialized", "status": if initialized { "True" } else { "False" }}),
        ready_condition,
    ];
    conditions.extend(gate_conditions);
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "containerStatuses": statuses,
    });
    if !init_statuses.is_empty() {
        status["initContainerStatuses"] = json!(init_statuses);
    }
    Outcome {
        status,
        ready: all_ready,
        settled,
        warnings,
    }
}

/// How long after a container starts its startup probe may keep failing before the kubelet
/// kills it: `initialDelaySeconds + periodSeconds × failureThreshold` (defaults 0, 10, 3).
fn startup_allowance_ms(probe: &Value) -> u64 {
    // Saturating: a chart's numbers are the author's, and plugin-try runs whatever it renders.
    let field = |key: &str, default: u64| probe.get(key).and_then(Value::as_u64).unwrap_or(default);
    field("periodSeconds", 10)
        .saturating_mul(field("failureThreshold", 3))
        .saturating_add(field("initialDelaySeconds", 0))
        .saturating_mul(1_000)
}

/// A container that exited (`terminated`: its exit code and reason) and is restarted after a
/// back-off doubling with each restart (`crash_backoff_ms`, up to 32 times it), as the
/// kubelet's `CrashLoopBackOff`; its status meanwhile. `pod` is `<name>_<namespace>`.
fn restart(
    memo: &mut Memo,
    settings: &Settings,
    name: &str,
    image: &str,
    now: u64,
    terminated: Value,
    pod: &str,
) -> Value {
    let restarts = memo.restarts.get(name).map_or(0, |(count, _)| *count);
    let backoff = settings.crash_backoff_ms << restarts.min(5);
    memo.restarts
        .insert(name.to_owned(), (restarts + 1, now + backoff));
    memo.started.remove(name);
    json!({"name": name, "image": image, "ready": false, "restartCount": restarts + 1,
           "state": {"waiting": {"reason": "CrashLoopBackOff",
                                 "message": format!("back-off {backoff}ms restarting failed container={name} pod={pod}")}},
           "lastState": {"terminated": terminated}})
}

/// The conditions of `pod`'s status that its readiness gates name (kept as they are: a
/// controller of the cluster sets them, not the kubelet), and the kubelet's message for each
/// gate that is not `True` (k/k `pkg/kubelet/status/generate.go` `GeneratePodReadyCondition`).
fn readiness_gates(pod: &Value) -> (Vec<Value>, Vec<String>) {
    let earlier: Vec<&Value> = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let mut kept = Vec::new();
    let mut unmet = Vec::new();
    for gate in pod
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = gate["conditionType"].as_str().unwrap_or_default();
        match earlier.iter().find(|c| c["type"] == kind) {
            None => unmet.push(format!(
                "corresponding condition of pod readiness gate {kind:?} does not exist."
            )),
            Some(condition) => {
                if condition["status"] != "True" {
                    unmet.push(format!(
                        "the status of pod readiness gate {kind:?} is not \"True\", but {}",
                        condition["status"].as_str().unwrap_or_default()
                    ));
                }
                kept.push((*condition).clone());
            }
        }
    }
    (kept, unmet)
}

/// The host a database client in `container` is pointed at (`-h <host>` / `--host <host>`).
fn host_option(container: &Value) -> String {
    let words: Vec<String> = container
        .get("command")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            container
                .get("args")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        )
        .filter_map(|w| w.as_str().map(str::to_owned))
        .collect();
    let text = words.join(" ");
    text.split_whitespace()
        .skip_while(|w| *w != "-h" && *w != "--host")
        .nth(1)
        .unwrap_or_default()
        .trim_matches(['"', '\''])
        .to_owned()
}

/// A Warning event of the kubelet on the pod (`involvedObject.fieldPath` names the container,
/// when it is about one). The kubelet repeats such an event with a growing count; the fake
/// writes each distinct one once.
fn record_warning(objects: &mut Objects, namespace: &str, pod: &Value, warning: &Warning) {
    let mut involved = json!({"kind": "Pod", "name": pod["metadata"]["name"], "namespace": namespace,
                              "uid": pod["metadata"]["uid"], "apiVersion": "v1"});
    if let Some(container) = &warning.container {
        involved["fieldPath"] = json!(format!("spec.containers{{{container}}}"));
    }
    let source = json!({"component": "kubelet", "host": "node-1"});
    events::record_warning(
        objects,
        namespace,
        involved,
        warning.reason,
        &warning.message,
        source,
    );
}

/// The status a new pod starts with (the kubelet's first look), and whether it needs more.
pub fn first_status(
    objects: &Objects,
    settings: &Settings,
    namespace: &str,
    pod: &Value,
) -> (Value, bool) {
    let mut memo = Memo::default();
    let outcome = evaluate(objects, settings, namespace, pod, &mut memo, now_ms());
    (outcome.status, !outcome.ready && !outcome.settled)
}

/// Follows a pod until it is ready, gone, or stuck for good, writing its status and telling
/// its controller (`on_change`) each time it changes.
pub fn follow(
    state: &Arc<FakeState>,
    namespace: &str,
    pod_name: &str,
    on_change: impl Fn(&Arc<FakeState>) + Send + 'static,
) {
    let state = Arc::clone(state);
    let namespace = namespace.to_owned();
    let pod_name = pod_name.to_owned();
    tokio::spawn(async move {
        let mut memo = Memo::default();
        let Some(pods) = of_kind("v1", "Pod") else {
            return;
        };
        loop {
            tokio::time::sleep(TICK).await;
            let settings = state.settings();
            let mut objects = lock(&state.objects);
            let Some(pod) = objects.get(pods, &namespace, &pod_name).cloned() else {
                return; // deleted
            };
            let outcome = evaluate(&objects, &settings, &namespace, &pod, &mut memo, now_ms());
            for warning in &outcome.warnings {
                if memo.reported.insert(warning.clone()) {
                    record_warning(&mut objects, &namespace, &pod, warning);
                }
            }
            let changed = pod.get("status") != Some(&outcome.status);
            if changed {
                let mut updated = pod;
                updated["status"] = outcome.status;
                if objects
                    .replace(pods, &namespace, &pod_name, updated)
                    .is_err()
                {
                    return;
                }
            }
            drop(objects);
            if changed {
                on_change(&state);
            }
            if outcome.ready || outcome.settled {
                return;
            }
        }
    });
}
