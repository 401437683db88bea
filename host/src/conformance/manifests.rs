//! The checks on rendered manifests. Pure: a list of problems for one rendered plan.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::k8s::Manifest;
use crate::k8s::manifest::{Container, EnvVar, PodTemplateSpec};
use crate::plugins::{DeploymentPlan, EngineInfo, StoreSpec};

/// A Deployment or StatefulSet with its selector and pod template labels.
type Workload<'a> = (
    &'a Manifest,
    BTreeMap<String, String>,
    BTreeMap<String, String>,
);

/// Env var names that must never carry a literal value.
fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "PRIVATE_KEY",
    ]
    .iter()
    .any(|s| upper.contains(s))
}

/// Values keys that must never carry a literal string.
fn looks_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "token",
        "apikey",
        "api_key",
        "privatekey",
        "secretkey",
        "jwtsecret",
        "cookiesecret",
    ]
    .iter()
    .any(|s| lower.ends_with(s))
}

/// Every problem with `manifests`, the rendering of `plan` for `spec`.
pub fn check_manifests(
    info: &EngineInfo,
    spec: &StoreSpec,
    plan: &DeploymentPlan,
    manifests: &[Manifest],
) -> Vec<String> {
    let mut problems = Vec::new();
    if manifests.is_empty() {
        problems.push("the chart rendered no objects".into());
    }
    let requested: HashSet<&str> = info.secrets.iter().map(|s| s.key.as_str()).collect();
    secret_values_in(&Value::Object(plan.values.clone()), "values", &mut problems);

    let mut seen = HashSet::new();
    for m in manifests {
        let id = m.id();
        if !seen.insert((m.kind.clone(), m.name.clone())) {
            problems.push(format!("{id} is rendered twice"));
        }
        if !m.is_allowed_kind() {
            problems.push(format!(
                "{id} ({}) is not allowed in a store chart (cluster-scoped, RBAC, Secrets, quotas and network policies belong to the host)",
                m.api_version
            ));
            continue;
        }
        if let Some(ns) = &m.namespace
            && ns != &spec.namespace
        {
            problems.push(format!(
                "{id} targets namespace {ns:?}, not the store's {:?}",
                spec.namespace
            ));
        }
        if let Err(err) = m.check_typed() {
            problems.push(err);
        }
        if let Some(template) = m.pod_template() {
            check_pod(&id, &template, spec, &requested, &mut problems);
        }
        if let Some(pod_spec) = m.pod_spec() {
            problems.extend(super::pod_fields::check_pod_fields(
                &id,
                pod_spec,
                &spec.credentials_secret,
            ));
        }
    }

    let workloads: Vec<Workload<'_>> = manifests
        .iter()
        .filter(|m| matches!(m.kind.as_str(), "Deployment" | "StatefulSet"))
        .map(|m| {
            let labels = m
                .pod_template()
                .and_then(|t| t.metadata)
                .and_then(|md| md.labels)
                .unwrap_or_default();
            (m, m.selector().unwrap_or_default(), labels)
        })
        .collect();
    for (a, selector, labels) in &workloads {
        if selector.is_empty() || !matches(selector, labels) {
            problems.push(format!(
                "{}: selector does not match its own pod template",
                a.id()
            ));
        }
        for (b, _, other_labels) in &workloads {
            if a.id() != b.id() && matches(selector, other_labels) {
                problems.push(format!(
                    "{}: selector also matches the pods of {} (selectors overlap)",
                    a.id(),
                    b.id()
                ));
            }
        }
    }
    for service in manifests.iter().filter(|m| m.kind == "Service") {
        if let Some(selector) = service.selector()
            && !workloads
                .iter()
                .any(|(_, _, labels)| matches(&selector, labels))
        {
            problems.push(format!("{} selects no rendered workload", service.id()));
        }
    }
    for wanted in &plan.ready_when {
        if !manifests
            .iter()
            .any(|m| m.kind == wanted.kind.as_kind() && m.name == wanted.name)
        {
            problems.push(format!(
                "ready-when {}/{} is not rendered",
                wanted.kind.as_kind(),
                wanted.name
            ));
        }
    }
    for step in &plan.setup {
        let selector: BTreeMap<String, String> = step.pod_selector.iter().cloned().collect();
        let targets: Vec<_> = workloads
            .iter()
            .filter(|(_, _, labels)| matches(&selector, labels))
            .collect();
        if targets.is_empty() {
            problems.push(format!(
                "setup step {:?}: its pod selector matches no rendered workload",
                step.name
            ));
        } else if !targets.iter().any(|(workload, _, _)| {
            plan.ready_when
                .iter()
                .any(|w| w.kind.as_kind() == workload.kind && w.name == workload.name)
        }) {
            // Setup starts once the ready-when workloads are ready; pods of another may still
            // be starting on a cluster (the fake starts everything at once).
            // At most ten named: a hostile chart's thousands of workloads, times 50 steps,
            // would otherwise make the problem list grow with their product.
            let ids: Vec<String> = targets.iter().map(|(w, _, _)| w.id()).collect();
            problems.push(format!(
                "setup step {:?} runs in pods of {}, which ready-when does not list: setup starts once the ready-when workloads are ready, so on a cluster its pods may not be ready yet; add it to ready-when",
                step.name,
                super::listed(ids.iter().map(String::as_str))
            ));
        }
        for (workload, _, _) in targets {
            let has_container = workload
                .pod_template()
                .and_then(|t| t.spec)
                .is_some_and(|s| s.containers.iter().any(|c| c.name == step.container));
            if !has_container {
                problems.push(format!(
                    "setup step {:?}: {} has no container {:?}",
                    step.name,
                    workload.id(),
                    step.container
                ));
            }
        }
    }
    problems
}

fn matches(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn check_pod(
    id: &str,
    template: &PodTemplateSpec,
    spec: &StoreSpec,
    requested: &HashSet<&str>,
    problems: &mut Vec<String>,
) {
    let Some(pod) = &template.spec else {
        problems.push(format!("{id} has no pod spec"));
        return;
    };
    if pod.host_network == Some(true) || pod.host_pid == Some(true) || pod.host_ipc == Some(true) {
        problems.push(format!("{id} uses host namespaces"));
    }
    for volume in pod.volumes.iter().flatten() {
        if volume.host_path.is_some() {
            problems.push(format!("{id} mounts a hostPath volume {:?}", volume.name));
        }
        if let Some(secret) = &volume.secret
            && secret.secret_name.as_deref() != Some(spec.credentials_secret.as_str())
        {
            problems.push(format!(
                "{id} mounts a Secret other than the credentials Secret"
            ));
        }
    }
    let containers = pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten());
    for container in containers {
        check_container(id, container, spec, requested, problems);
    }
}

fn check_container(
    id: &str,
    c: &Container,
    spec: &StoreSpec,
    requested: &HashSet<&str>,
    problems: &mut Vec<String>,
) {
    let at = format!("{id} container {:?}", c.name);
    let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
    let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    for (what, map) in [("requests", requests), ("limits", limits)] {
        if !map.is_some_and(|m| m.contains_key("cpu") && m.contains_key("memory")) {
            problems.push(format!("{at}: resources.{what} must set cpu and memory"));
        }
    }
    if c.security_context.as_ref().and_then(|s| s.privileged) == Some(true) {
        problems.push(format!("{at} is privileged"));
    }
    for env in c.env.iter().flatten() {
        check_env(&at, env, spec, requested, problems);
    }
    for from in c.env_from.iter().flatten() {
        if from.secret_ref.is_some() {
            problems.push(format!(
                "{at}: envFrom a Secret exposes every key; reference requested keys one by one"
            ));
        }
    }
}

fn check_env(
    at: &str,
    env: &EnvVar,
    spec: &StoreSpec,
    requested: &HashSet<&str>,
    problems: &mut Vec<String>,
) {
    if let Some(reference) = env
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
    {
        if reference.name != spec.credentials_secret {
            problems.push(format!(
                "{at}: env {} reads Secret {:?}, not the credentials Secret {:?}",
                env.name, reference.name, spec.credentials_secret
            ));
        } else if !requested.contains(reference.key.as_str()) {
            problems.push(format!(
                "{at}: env {} reads key {:?}, which the engine does not request (requested: {})",
                env.name,
                reference.key,
                sorted(requested)
            ));
        }
    } else if looks_secret(&env.name) && env.value.as_deref().is_some_and(|v| !v.is_empty()) {
        problems.push(format!(
            "{at}: env {} carries a literal value; secrets must come from the credentials Secret",
            env.name
        ));
    }
}

fn secret_values_in(value: &Value, path: &str, problems: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let here = format!("{path}.{key}");
                if looks_secret_key(key) && inner.as_str().is_some_and(|s| !s.is_empty()) {
                    problems.push(format!(
                        "{here} holds a literal secret; Helm values must carry no secrets"
                    ));
                }
                secret_values_in(inner, &here, problems);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                secret_values_in(inner, &format!("{path}[{i}]"), problems);
            }
        }
        _ => {}
    }
}

fn sorted(keys: &HashSet<&str>) -> String {
    let mut keys: Vec<_> = keys.iter().copied().collect();
    keys.sort_unstable();
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::manifest::parse_documents;
    use crate::plugins::model::{ChartSource, SecretRequest};
    use crate::plugins::samples::sample_spec;

    fn info() -> EngineInfo {
        EngineInfo {
            id: "demo".into(),
            display_name: "Demo".into(),
            version: semver::Version::new(1, 0, 0),
            description: String::new(),
            options_schema: serde_json::json!({"type": "object"}),
            secrets: vec![SecretRequest {
                key: "db-password".into(),
                description: String::new(),
                length: 32,
            }],
            chart: ChartSource::Bundled("x".into()),
            exec: vec![],
        }
    }

    fn plan() -> DeploymentPlan {
        DeploymentPlan {
            values: serde_json::Map::new(),
            setup: vec![],
            endpoints: vec![],
            ready_when: vec![],
            admin_login: None,
        }
    }

    fn workload(kind: &str, name: &str, selector: &str, env: &str) -> String {
        format!(
            "apiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{{selector}}}}}\n  template:\n    metadata: {{labels: {{{selector}, extra: x}}}}\n    spec:\n      containers:\n      - name: c\n        image: i\n        resources: {{requests: {{cpu: 1m, memory: 1Mi}}, limits: {{cpu: 1m, memory: 1Mi}}}}\n        env: [{env}]\n"
        )
    }

    fn problems_of(yaml: &str) -> Vec<String> {
        let manifests = parse_documents(yaml).unwrap_or_default();
        check_manifests(
            &info(),
            &sample_spec("5a3e0c1b", serde_json::json!({}), true),
            &plan(),
            &manifests,
        )
    }

    #[test]
    fn clean_workload_passes() {
        let env = "{name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: store-credentials, key: db-password}}}";
        assert_eq!(
            problems_of(&workload("Deployment", "web", "app: web", env)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_setup_step_in_pods_ready_when_does_not_wait_for_is_reported() {
        use crate::plugins::model::{SetupStep, WorkloadKind, WorkloadRef};
        let yaml = format!(
            "{}---\n{}",
            workload("Deployment", "web", "app: web", ""),
            workload("StatefulSet", "db", "app: db", "")
        );
        let manifests = parse_documents(&yaml).unwrap_or_default();
        let mut plan = plan();
        plan.ready_when = vec![WorkloadRef {
            kind: WorkloadKind::StatefulSet,
            name: "db".into(),
        }];
        plan.setup = vec![SetupStep {
            name: "install".into(),
            description: String::new(),
            pod_selector: vec![("app".into(), "web".into())],
            container: "c".into(),
            command: vec!["true".into()],
            timeout_seconds: 60,
            attempts: 1,
        }];
        let spec = sample_spec("5a3e0c1b", serde_json::json!({}), true);
        let problems = check_manifests(&info(), &spec, &plan, &manifests);
        assert_eq!(
            problems,
            [
                "setup step \"install\" runs in pods of Deployment/web, which ready-when does not list: setup starts once the ready-when workloads are ready, so on a cluster its pods may not be ready yet; add it to ready-when"
            ]
        );
        plan.ready_when.push(WorkloadRef {
            kind: WorkloadKind::Deployment,
            name: "web".into(),
        });
        assert_eq!(
            check_manifests(&info(), &spec, &plan, &manifests),
            Vec::<String>::new()
        );
    }

    #[test]
    fn overlapping_selectors_are_reported() {
        let yaml = format!(
            "{}---\n{}",
            workload("Deployment", "web", "app: shop", ""),
            workload("StatefulSet", "db", "app: shop", "")
        );
        assert!(
            problems_of(&yaml)
                .iter()
                .any(|p| p.contains("selectors overlap"))
        );
    }

    #[test]
    fn literal_passwords_and_unrequested_keys_are_reported() {
        let env = "{name: DB_PASSWORD, value: changeme}, {name: X, valueFrom: {secretKeyRef: {name: store-credentials, key: other}}}";
        let problems = problems_of(&workload("Deployment", "web", "app: web", env));
        assert!(
            problems.iter().any(|p| p.contains("literal value")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("does not request")),
            "{problems:?}"
        );
    }

    #[test]
    fn foreign_namespaces_and_kinds_are_reported() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: kube-system}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n";
        let problems = problems_of(yaml);
        assert!(
            problems.iter().any(|p| p.contains("kube-system")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("Namespace/n")),
            "{problems:?}"
        );
    }
}
