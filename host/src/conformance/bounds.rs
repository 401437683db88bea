//! Every count, size and duration a plan can set, bounded. The per-store ceiling
//! (`k8s::footprint`) already bounds what pods use together (CPU, memory, ephemeral storage,
//! volume storage, pods: replicas, rolling-update surge and autoscaler maxima included); this
//! module bounds the rest, by operator-configurable limits:
//! - container resources only of the kinds the store's quota counts (`cpu`, `memory`,
//!   `ephemeral-storage`): no extended resources (GPUs, hugepages), which no store quota
//!   covers;
//! - the time a pod may take to stop (`terminationGracePeriodSeconds`, of the pod and of its
//!   probes), which holds up deletions and roll-outs;
//! - Jobs: retries (`backoffLimit`), parallelism and completions; CronJobs never running two
//!   at once and keeping a short history;
//! - the total time of all setup steps (each step's time limit times its attempts).
//!
//! Each refusal names the object, the field and the bound.

use serde_json::Value;

use crate::k8s::Manifest;
use crate::plugins::DeploymentPlan;

/// Resource kinds a container may request or be limited to.
const RESOURCE_KINDS: &[&str] = &["cpu", "memory", "ephemeral-storage"];

/// The operator's bounds (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Longest `terminationGracePeriodSeconds`.
    pub grace_period_s: i64,
    /// Most retries (`backoffLimit`) of a Job.
    pub job_retries: i64,
    /// Most pods a Job runs at once, and most completions it asks for.
    pub job_parallelism: i64,
    /// Longest total time of all setup steps, in seconds.
    pub setup_total_s: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            grace_period_s: 120,
            job_retries: 6,
            job_parallelism: 4,
            setup_total_s: 7_200,
        }
    }
}

fn int(value: &Value, pointer: &str) -> Option<i64> {
    value.pointer(pointer).and_then(Value::as_i64)
}

/// Problems of `manifests` and `plan` against `bounds`.
pub(super) fn check_bounds(
    manifests: &[Manifest],
    plan: &DeploymentPlan,
    bounds: &Bounds,
) -> Vec<String> {
    let mut problems = Vec::new();
    for m in manifests {
        let id = m.id();
        let object = &m.object;
        if let Some(pod) = m.pod_spec() {
            pod_bounds(&id, pod, bounds, &mut problems);
        }
        let job = match m.kind.as_str() {
            "Job" => object.pointer("/spec"),
            "CronJob" => object.pointer("/spec/jobTemplate/spec"),
            _ => None,
        };
        if let Some(job) = job {
            job_bounds(&id, job, bounds, &mut problems);
        }
        if m.kind == "CronJob" {
            cron_bounds(&id, object, &mut problems);
        }
    }
    let total: u64 = plan
        .setup
        .iter()
        .map(|s| u64::from(s.timeout_seconds) * u64::from(s.attempts.max(1)))
        .sum();
    if total > bounds.setup_total_s {
        problems.push(format!(
            "setup: the steps may run {total} s in all (each step's timeoutSeconds times its attempts), more than the {} s this host allows",
            bounds.setup_total_s
        ));
    }
    problems
}

fn pod_bounds(id: &str, pod: &Value, bounds: &Bounds, problems: &mut Vec<String>) {
    if let Some(grace) = int(pod, "/terminationGracePeriodSeconds")
        && grace > bounds.grace_period_s
    {
        problems.push(format!(
            "{id}: terminationGracePeriodSeconds {grace} is above the {} s this host allows",
            bounds.grace_period_s
        ));
    }
    for list in ["initContainers", "containers"] {
        for container in pod
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = container["name"].as_str().unwrap_or_default();
            for field in ["requests", "limits"] {
                for key in container
                    .pointer(&format!("/resources/{field}"))
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|m| m.keys())
                    .filter(|k| !RESOURCE_KINDS.contains(&k.as_str()))
                {
                    problems.push(format!(
                        "{id}: container {name:?}: resources.{field}.{key} is not allowed (only cpu, memory and ephemeral-storage, which the store's quota counts)"
                    ));
                }
            }
            for probe in ["livenessProbe", "startupProbe"] {
                if let Some(grace) = int(
                    container,
                    &format!("/{probe}/terminationGracePeriodSeconds"),
                ) && grace > bounds.grace_period_s
                {
                    problems.push(format!(
                        "{id}: container {name:?}: {probe}.terminationGracePeriodSeconds {grace} is above the {} s this host allows",
                        bounds.grace_period_s
                    ));
                }
            }
        }
    }
}

fn job_bounds(id: &str, job: &Value, bounds: &Bounds, problems: &mut Vec<String>) {
    // backoffLimit defaults to 6, parallelism and completions to 1.
    for (field, default, bound, what) in [
        ("backoffLimit", 6, bounds.job_retries, "retries"),
        ("parallelism", 1, bounds.job_parallelism, "pods at once"),
        ("completions", 1, bounds.job_parallelism, "completions"),
    ] {
        let value = int(job, &format!("/{field}")).unwrap_or(default);
        if value > bound {
            problems.push(format!(
                "{id}: {field} {value} is above the {bound} {what} this host allows a Job"
            ));
        }
    }
    if job.get("backoffLimitPerIndex").is_some() {
        problems.push(format!(
            "{id}: backoffLimitPerIndex is not allowed (retries are bounded by backoffLimit)"
        ));
    }
}

fn cron_bounds(id: &str, cron: &Value, problems: &mut Vec<String>) {
    let policy = cron
        .pointer("/spec/concurrencyPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Allow");
    if policy == "Allow" {
        problems.push(format!(
            "{id}: spec.concurrencyPolicy must be Forbid or Replace (with Allow, runs that overrun pile up)"
        ));
    }
    for (field, default) in [
        ("successfulJobsHistoryLimit", 3),
        ("failedJobsHistoryLimit", 1),
    ] {
        let kept = int(cron, &format!("/spec/{field}")).unwrap_or(default);
        if kept > 3 {
            problems.push(format!(
                "{id}: spec.{field} {kept} is above the 3 finished Jobs a store may keep"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn manifest(object: Value) -> Manifest {
        Manifest::from_value(object).unwrap_or_else(|err| panic!("{err}"))
    }

    fn plan() -> DeploymentPlan {
        DeploymentPlan {
            values: serde_json::Map::new(),
            setup: Vec::new(),
            endpoints: Vec::new(),
            ready_when: Vec::new(),
            admin_login: None,
        }
    }

    #[test]
    fn extended_resources_long_grace_periods_and_unbounded_jobs_are_refused() {
        let pod = json!({
            "terminationGracePeriodSeconds": 86_400,
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "i",
                "resources": {"limits": {"cpu": "1", "nvidia.com/gpu": "1", "hugepages-2Mi": "1Gi"}},
                "livenessProbe": {"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 3_600}}],
        });
        let job = manifest(
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"backoffLimit": 1_000, "parallelism": 50, "template": {"spec": pod}}}),
        );
        let cron = manifest(
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"schedule": "* * * * *", "successfulJobsHistoryLimit": 100,
                     "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "i"}]}}}}}}),
        );
        let problems = check_bounds(&[job, cron], &plan(), &Bounds::default()).join("\n");
        for expected in [
            "Job/j: terminationGracePeriodSeconds 86400 is above the 120 s",
            "Job/j: container \"c\": resources.limits.nvidia.com/gpu is not allowed",
            "Job/j: container \"c\": resources.limits.hugepages-2Mi is not allowed",
            "Job/j: container \"c\": livenessProbe.terminationGracePeriodSeconds 3600",
            "Job/j: backoffLimit 1000 is above the 6 retries",
            "Job/j: parallelism 50 is above the 4 pods at once",
            "CronJob/c: spec.concurrencyPolicy must be Forbid or Replace",
            "CronJob/c: spec.successfulJobsHistoryLimit 100 is above",
        ] {
            assert!(
                problems.contains(expected),
                "{expected:?} missing from:\n{problems}"
            );
        }
    }

    #[test]
    fn setup_steps_may_not_run_longer_than_the_host_allows_in_all() {
        let step = |name: &str, timeout_seconds, attempts| crate::plugins::model::SetupStep {
            name: name.into(),
            description: String::new(),
            pod_selector: Vec::new(),
            container: "c".into(),
            command: vec!["true".into()],
            timeout_seconds,
            attempts,
        };
        let mut long = plan();
        long.setup = vec![step("a", 1800, 3), step("b", 1000, 2)];
        let problems = check_bounds(&[], &long, &Bounds::default());
        assert_eq!(
            problems,
            [
                "setup: the steps may run 7400 s in all (each step's timeoutSeconds times its attempts), more than the 7200 s this host allows"
            ]
        );
        long.setup.pop();
        assert!(check_bounds(&[], &long, &Bounds::default()).is_empty());
    }
}
