//! What a store's rendered objects use at most at one time, counted the way the API server's
//! ResourceQuota admission counts it: each pod as max(sum of its containers and sidecars,
//! largest init container plus the sidecars started before it) plus overhead, after the
//! store's LimitRange has filled in missing requests and limits; Deployments with one extra
//! pod per `maxSurge` during a rolling update, workloads an HPA scales at its maximum,
//! StatefulSet claim templates once per replica. The store's quota is sized from it, and a
//! plan that exceeds what the host allows one store is refused with the numbers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use serde_json::Value;

use super::quantity::Quantity;

/// What the store's LimitRange gives containers that name no requests or limits, and the most
/// one container may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerLimits {
    pub default_cpu: &'static str,
    pub default_memory: &'static str,
    pub default_request_cpu: &'static str,
    pub default_request_memory: &'static str,
    pub max_cpu: &'static str,
    pub max_memory: &'static str,
    pub default_ephemeral: &'static str,
    pub default_request_ephemeral: &'static str,
    pub max_ephemeral: &'static str,
}

/// The LimitRange of every store namespace.
pub const CONTAINER_LIMITS: ContainerLimits = ContainerLimits {
    default_cpu: "500m",
    default_memory: "512Mi",
    default_request_cpu: "50m",
    default_request_memory: "128Mi",
    max_cpu: "2",
    max_memory: "4Gi",
    default_ephemeral: "1Gi",
    default_request_ephemeral: "50Mi",
    max_ephemeral: "8Gi",
};

/// Requests and limits of one container or pod.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    requests_cpu: Quantity,
    limits_cpu: Quantity,
    requests_memory: Quantity,
    limits_memory: Quantity,
    requests_ephemeral: Quantity,
    limits_ephemeral: Quantity,
}

impl Usage {
    fn plus(self, other: Self) -> Self {
        Self {
            requests_cpu: self.requests_cpu + other.requests_cpu,
            limits_cpu: self.limits_cpu + other.limits_cpu,
            requests_memory: self.requests_memory + other.requests_memory,
            limits_memory: self.limits_memory + other.limits_memory,
            requests_ephemeral: self.requests_ephemeral + other.requests_ephemeral,
            limits_ephemeral: self.limits_ephemeral + other.limits_ephemeral,
        }
    }

    fn max(self, other: Self) -> Self {
        Self {
            requests_cpu: self.requests_cpu.max(other.requests_cpu),
            limits_cpu: self.limits_cpu.max(other.limits_cpu),
            requests_memory: self.requests_memory.max(other.requests_memory),
            limits_memory: self.limits_memory.max(other.limits_memory),
            requests_ephemeral: self.requests_ephemeral.max(other.requests_ephemeral),
            limits_ephemeral: self.limits_ephemeral.max(other.limits_ephemeral),
        }
    }
}

/// The most a store's objects use at one time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    pub requests_cpu: Quantity,
    pub limits_cpu: Quantity,
    pub requests_memory: Quantity,
    pub limits_memory: Quantity,
    /// Node-local disk its containers may use (writable layers, logs, emptyDir volumes).
    pub requests_ephemeral: Quantity,
    pub limits_ephemeral: Quantity,
    /// Sum of the storage its PersistentVolumeClaims request.
    pub storage: Quantity,
    pub pods: i64,
    pub claims: i64,
}

/// The most one store may use (operator configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceiling {
    pub cpu: Quantity,
    pub memory: Quantity,
    pub storage: Quantity,
    pub pods: i64,
    /// Node-local disk (limits of `ephemeral-storage`, summed like CPU).
    pub ephemeral_storage: Quantity,
}

impl Default for Ceiling {
    fn default() -> Self {
        let q = |t: &str| Quantity::parse(t).unwrap_or_default();
        Self {
            cpu: q("8"),
            memory: q("16Gi"),
            storage: q("100Gi"),
            pods: 20,
            ephemeral_storage: q("20Gi"),
        }
    }
}

impl Footprint {
    /// Adds up `objects` (rendered manifests). Problems name the object and field.
    pub fn of(objects: &[Value], limits: &ContainerLimits) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut total = Self::default();
        let scaled_by_hpa = hpa_maxima(objects);
        for object in objects {
            let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let id = format!("{kind} {name}");
            let spec = object.get("spec");
            let int = |pointer: &str, default: i64| {
                spec.and_then(|s| s.pointer(pointer))
                    .and_then(Value::as_i64)
                    .unwrap_or(default)
            };
            let (template, pods) = match kind {
                "Deployment" | "StatefulSet" => {
                    let replicas = int("/replicas", 1)
                        .max(scaled_by_hpa.get(&(kind, name)).copied().unwrap_or(0));
                    let surge = if kind == "Deployment" {
                        deployment_surge(spec, replicas)
                    } else {
                        0
                    };
                    if kind == "StatefulSet" {
                        claim_templates(object, replicas, &id, &mut total, &mut problems);
                    }
                    ("/spec/template", replicas + surge)
                }
                "Job" => ("/spec/template", int("/parallelism", 1)),
                "CronJob" => (
                    "/spec/jobTemplate/spec/template",
                    int("/jobTemplate/spec/parallelism", 1),
                ),
                "PersistentVolumeClaim" => {
                    total.claims += 1;
                    total.storage = total.storage
                        + storage_of(
                            object.pointer("/spec/resources/requests/storage"),
                            &id,
                            &mut problems,
                        );
                    continue;
                }
                _ => continue,
            };
            let Some(template) = object
                .pointer(template)
                .and_then(|t| serde_json::from_value::<PodTemplateSpec>(t.clone()).ok())
            else {
                continue; // the manifest checks report a template that does not parse
            };
            let pod = pod_usage(template.spec.as_ref(), limits, &id, &mut problems);
            let pods = pods.max(0);
            total.pods += pods;
            total.requests_cpu = total.requests_cpu + pod.requests_cpu * pods;
            total.limits_cpu = total.limits_cpu + pod.limits_cpu * pods;
            total.requests_memory = total.requests_memory + pod.requests_memory * pods;
            total.limits_memory = total.limits_memory + pod.limits_memory * pods;
            total.requests_ephemeral = total.requests_ephemeral + pod.requests_ephemeral * pods;
            total.limits_ephemeral = total.limits_ephemeral + pod.limits_ephemeral * pods;
        }
        if problems.is_empty() {
            Ok(total)
        } else {
            Err(problems)
        }
    }

    /// The larger of two footprints, field by field: what a store needs while it moves from
    /// one plan to the other (old and new pods run side by side during a rolling update).
    pub fn max(self, other: Self) -> Self {
        Self {
            requests_cpu: self.requests_cpu.max(other.requests_cpu),
            limits_cpu: self.limits_cpu.max(other.limits_cpu),
            requests_memory: self.requests_memory.max(other.requests_memory),
            limits_memory: self.limits_memory.max(other.limits_memory),
            requests_ephemeral: self.requests_ephemeral.max(other.requests_ephemeral),
            limits_ephemeral: self.limits_ephemeral.max(other.limits_ephemeral),
            storage: self.storage.max(other.storage),
            pods: self.pods.max(other.pods),
            claims: self.claims.max(other.claims),
        }
    }

    /// The same footprint with no compute: what a suspended store keeps (its claims).
    pub fn storage_only(self) -> Self {
        Self {
            storage: self.storage,
            claims: self.claims,
            ..Self::default()
        }
    }

    /// `None` when the footprint fits `ceiling`; else why not, naming CPU and memory always.
    pub fn exceeds(&self, ceiling: &Ceiling) -> Option<String> {
        let mut over = Vec::new();
        if self.limits_cpu > ceiling.cpu {
            over.push(format!(
                "CPU {} > {}",
                self.limits_cpu.cpu(),
                ceiling.cpu.cpu()
            ));
        }
        if self.limits_memory > ceiling.memory {
            over.push(format!(
                "memory {} > {}",
                self.limits_memory.bytes(),
                ceiling.memory.bytes()
            ));
        }
        if self.storage > ceiling.storage {
            over.push(format!(
                "storage {} > {}",
                self.storage.bytes(),
                ceiling.storage.bytes()
            ));
        }
        if self.limits_ephemeral > ceiling.ephemeral_storage {
            over.push(format!(
                "ephemeral storage {} > {}",
                self.limits_ephemeral.bytes(),
                ceiling.ephemeral_storage.bytes()
            ));
        }
        if self.pods > ceiling.pods {
            over.push(format!("pods {} > {}", self.pods, ceiling.pods));
        }
        (!over.is_empty()).then(|| {
            format!(
                "the store needs CPU {} and memory {} (limits; {} pods incl. rolling-update surge, {} storage), more than this host allows one store (CPU {}, memory {}, storage {}, {} pods): {}",
                self.limits_cpu.cpu(),
                self.limits_memory.bytes(),
                self.pods,
                self.storage.bytes(),
                ceiling.cpu.cpu(),
                ceiling.memory.bytes(),
                ceiling.storage.bytes(),
                ceiling.pods,
                over.join(", ")
            )
        })
    }
}

/// `maxReplicas` of each HorizontalPodAutoscaler, by the kind and name it scales.
fn hpa_maxima(objects: &[Value]) -> BTreeMap<(&str, &str), i64> {
    objects
        .iter()
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("HorizontalPodAutoscaler"))
        .filter_map(|hpa| {
            let target = hpa.pointer("/spec/scaleTargetRef")?;
            Some((
                (target.get("kind")?.as_str()?, target.get("name")?.as_str()?),
                hpa.pointer("/spec/maxReplicas")?.as_i64()?,
            ))
        })
        .collect()
}

/// Extra pods a rolling update may start: `maxSurge` (default 25 %, rounded up); none with
/// the `Recreate` strategy.
pub(crate) fn deployment_surge(spec: Option<&Value>, replicas: i64) -> i64 {
    let strategy = spec.and_then(|s| s.get("strategy"));
    if strategy.and_then(|s| s.get("type")).and_then(Value::as_str) == Some("Recreate") {
        return 0;
    }
    match strategy.and_then(|s| s.pointer("/rollingUpdate/maxSurge")) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(p)) => {
            let percent = p.trim_end_matches('%').parse::<i64>().unwrap_or(25);
            (replicas * percent + 99) / 100
        }
        _ => (replicas * 25 + 99) / 100,
    }
}

fn storage_of(value: Option<&Value>, id: &str, problems: &mut Vec<String>) -> Quantity {
    match value.and_then(Value::as_str) {
        Some(text) => Quantity::parse(text).unwrap_or_else(|err| {
            problems.push(format!("{id}: storage request: {err}"));
            Quantity::ZERO
        }),
        None => Quantity::ZERO,
    }
}

fn claim_templates(
    object: &Value,
    replicas: i64,
    id: &str,
    total: &mut Footprint,
    problems: &mut Vec<String>,
) {
    for claim in object
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let storage = storage_of(
            claim.pointer("/spec/resources/requests/storage"),
            id,
            problems,
        );
        total.claims += replicas;
        total.storage = total.storage + storage * replicas;
    }
}

/// One pod's usage (see the module comment), with its containers checked against the
/// per-container maximum.
fn pod_usage(
    spec: Option<&PodSpec>,
    limits: &ContainerLimits,
    id: &str,
    problems: &mut Vec<String>,
) -> Usage {
    let Some(spec) = spec else {
        return Usage::default();
    };
    let mut sidecars = Usage::default();
    let mut init_peak = Usage::default();
    for init in spec.init_containers.iter().flatten() {
        let usage = container_usage(init, limits, id, problems);
        if init.restart_policy.as_deref() == Some("Always") {
            sidecars = sidecars.plus(usage);
        } else {
            init_peak = init_peak.max(usage.plus(sidecars));
        }
    }
    let regular = spec
        .containers
        .iter()
        .map(|c| container_usage(c, limits, id, problems))
        .fold(Usage::default(), Usage::plus);
    let mut pod = regular.plus(sidecars).max(init_peak);
    if let Some(overhead) = &spec.overhead {
        let get = |key: &str| {
            overhead
                .get(key)
                .and_then(|q| Quantity::parse(&q.0).ok())
                .unwrap_or_default()
        };
        pod = pod.plus(Usage {
            requests_cpu: get("cpu"),
            limits_cpu: get("cpu"),
            requests_memory: get("memory"),
            limits_memory: get("memory"),
            requests_ephemeral: Quantity::ZERO,
            limits_ephemeral: Quantity::ZERO,
        });
    }
    pod
}

/// A container's requests and limits as admission sees them: a missing request takes the
/// limit (API defaulting), then the LimitRange's default request; a missing limit the
/// LimitRange's default.
fn container_usage(
    container: &Container,
    limits: &ContainerLimits,
    id: &str,
    problems: &mut Vec<String>,
) -> Usage {
    let resources = container.resources.as_ref();
    let mut get = |map: Option<
        &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
                   field: &str,
                   key: &str| {
        let text = map.and_then(|m| m.get(key))?;
        match Quantity::parse(&text.0) {
            Ok(q) => Some(q),
            Err(err) => {
                problems.push(format!(
                    "{id}: container {}: resources.{field}.{key}: {err}",
                    container.name
                ));
                None
            }
        }
    };
    let fixed = |t: &str| Quantity::parse(t).unwrap_or_default();
    let limit_cpu = get(resources.and_then(|r| r.limits.as_ref()), "limits", "cpu");
    let limit_memory = get(
        resources.and_then(|r| r.limits.as_ref()),
        "limits",
        "memory",
    );
    let request_cpu = get(
        resources.and_then(|r| r.requests.as_ref()),
        "requests",
        "cpu",
    );
    let request_memory = get(
        resources.and_then(|r| r.requests.as_ref()),
        "requests",
        "memory",
    );
    let limit_ephemeral = get(
        resources.and_then(|r| r.limits.as_ref()),
        "limits",
        "ephemeral-storage",
    );
    let request_ephemeral = get(
        resources.and_then(|r| r.requests.as_ref()),
        "requests",
        "ephemeral-storage",
    );
    let usage = Usage {
        requests_ephemeral: request_ephemeral
            .or(limit_ephemeral)
            .unwrap_or_else(|| fixed(limits.default_request_ephemeral)),
        limits_ephemeral: limit_ephemeral.unwrap_or_else(|| fixed(limits.default_ephemeral)),
        requests_cpu: request_cpu
            .or(limit_cpu)
            .unwrap_or_else(|| fixed(limits.default_request_cpu)),
        requests_memory: request_memory
            .or(limit_memory)
            .unwrap_or_else(|| fixed(limits.default_request_memory)),
        limits_cpu: limit_cpu.unwrap_or_else(|| fixed(limits.default_cpu)),
        limits_memory: limit_memory.unwrap_or_else(|| fixed(limits.default_memory)),
    };
    for (what, value, max) in [
        ("cpu", usage.limits_cpu, fixed(limits.max_cpu)),
        ("memory", usage.limits_memory, fixed(limits.max_memory)),
        (
            "ephemeral-storage",
            usage.limits_ephemeral,
            fixed(limits.max_ephemeral),
        ),
    ] {
        if value > max {
            let shown = |q: Quantity| if what == "cpu" { q.cpu() } else { q.bytes() };
            problems.push(format!(
                "{id}: container {}: resources.limits.{what} {} is above the {} one container of a store may use",
                container.name,
                shown(value),
                shown(max)
            ));
        }
    }
    usage
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn container(name: &str, requests: Value, limits: Value) -> Value {
        json!({"name": name, "image": "x", "resources": {"requests": requests, "limits": limits}})
    }

    fn deployment(name: &str, replicas: i64, strategy: Value, containers: Value) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": name}, "spec": {
            "replicas": replicas, "strategy": strategy,
            "template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn a_large_woocommerce_store_adds_its_sidecar_and_claims() {
        let objects = vec![
            deployment(
                "wp",
                1,
                json!({"type": "Recreate"}),
                json!([
                    container(
                        "wordpress",
                        json!({"cpu": "500m", "memory": "1Gi"}),
                        json!({"cpu": "2", "memory": "2Gi"})
                    ),
                    container(
                        "wp-cli",
                        json!({"cpu": "10m", "memory": "32Mi"}),
                        json!({"cpu": "500m", "memory": "256Mi"})
                    ),
                ]),
            ),
            json!({"kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {"replicas": 1,
                "template": {"spec": {"containers": [container("mariadb", json!({"cpu": "500m", "memory": "1Gi"}), json!({"cpu": "2", "memory": "2Gi"}))]}},
                "volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": "10Gi"}}}}]}}),
            json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "docroot"}, "spec": {"resources": {"requests": {"storage": "10Gi"}}}}),
        ];
        let f = Footprint::of(&objects, &CONTAINER_LIMITS).unwrap_or_default();
        assert_eq!(f.limits_cpu.cpu(), "4500m");
        assert_eq!(f.limits_memory.bytes(), "4352Mi");
        assert_eq!(f.requests_cpu.cpu(), "1010m");
        assert_eq!(f.storage.bytes(), "20Gi");
        assert_eq!((f.pods, f.claims), (2, 2));
        let tight = Ceiling {
            cpu: Quantity::units(4),
            ..Ceiling::default()
        };
        let refusal = f.exceeds(&tight).unwrap_or_default();
        assert!(refusal.contains("CPU 4500m > 4"), "{refusal}");
        assert!(refusal.contains("memory 4352Mi"), "{refusal}");
        assert_eq!(f.exceeds(&Ceiling::default()), None);
    }

    #[test]
    fn rolling_updates_hpas_and_defaults_count() {
        // No resources: the LimitRange defaults (500m/512Mi limits, 50m/128Mi requests).
        let bare = json!([{"name": "app", "image": "x"}]);
        let objects = vec![
            deployment("web", 2, json!({}), bare.clone()),
            json!({"kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
                   "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 4}}),
        ];
        let f = Footprint::of(&objects, &CONTAINER_LIMITS).unwrap_or_default();
        // 4 replicas at most, plus ceil(25 % of 4) = 1 during a rollout.
        assert_eq!(f.pods, 5);
        assert_eq!(f.limits_cpu.cpu(), "2500m");
        assert_eq!(f.requests_memory.bytes(), "640Mi");
        let surge_two = deployment("api", 1, json!({"rollingUpdate": {"maxSurge": 2}}), bare);
        assert_eq!(
            Footprint::of(&[surge_two], &CONTAINER_LIMITS).map(|f| f.pods),
            Ok(3)
        );
    }

    #[test]
    fn init_containers_count_at_their_peak_and_sidecars_throughout() {
        let pod = json!({"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {
            "initContainers": [
                container("migrate", json!({"cpu": "1"}), json!({"cpu": "2"})),
                {"name": "proxy", "image": "x", "restartPolicy": "Always",
                 "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}},
            ],
            "containers": [container("main", json!({"cpu": "100m"}), json!({"cpu": "500m"}))],
        }}}});
        let f = Footprint::of(&[pod], &CONTAINER_LIMITS).unwrap_or_default();
        // max(main 500m + proxy 100m, migrate 2) = 2
        assert_eq!(f.limits_cpu.cpu(), "2");
        // main has no memory limit: the default 512Mi, plus the sidecar's 64Mi.
        assert_eq!(f.limits_memory.bytes(), "576Mi");
    }

    #[test]
    fn a_container_above_the_per_container_maximum_is_named() {
        let objects = vec![deployment(
            "big",
            1,
            json!({}),
            json!([container(
                "php",
                json!({}),
                json!({"cpu": "3", "memory": "1Gi"})
            )]),
        )];
        let problems = Footprint::of(&objects, &CONTAINER_LIMITS)
            .err()
            .unwrap_or_default();
        assert_eq!(
            problems,
            vec![
                "Deployment big: container php: resources.limits.cpu 3 is above the 2 one container of a store may use"
            ]
        );
    }
}
