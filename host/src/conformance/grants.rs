//! Exec grants an engine declares but cannot use: a grant names a container, and a setup step
//! can only run in a container some pod of the chart has. A grant for a container no rendered
//! pod has (a typo, a sidecar renamed) is reported by `plugin check` and at upload, with the
//! containers there are.

use std::collections::BTreeSet;

use crate::k8s::Manifest;
use crate::plugins::EngineInfo;

/// Names of the containers (and init containers) of every pod `manifests` render.
pub(super) fn container_names<'a>(
    manifests: impl IntoIterator<Item = &'a Manifest>,
) -> BTreeSet<String> {
    manifests
        .into_iter()
        .filter_map(Manifest::pod_spec)
        .flat_map(|spec| {
            ["containers", "initContainers"]
                .into_iter()
                .filter_map(|key| spec.get(key).and_then(serde_json::Value::as_array))
                .flatten()
                .filter_map(|c| c.get("name").and_then(serde_json::Value::as_str))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A problem for each exec grant of `info` whose container is not in `containers`.
pub(super) fn unused_grants(info: &EngineInfo, containers: &BTreeSet<String>) -> Vec<String> {
    info.exec
        .iter()
        .filter(|grant| !containers.contains(&grant.container))
        .map(|grant| {
            format!(
                "exec grant for container {:?}: no pod the chart renders has a container of that name (containers: {})",
                grant.container,
                if containers.is_empty() {
                    "none".to_owned()
                } else {
                    containers.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::model::{ChartSource, ExecGrant};
    use serde_json::json;

    #[test]
    fn a_grant_for_a_container_no_pod_has_is_named_with_the_containers_there_are() {
        let deployment = Manifest::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {
                "initContainers": [{"name": "init"}],
                "containers": [{"name": "web"}, {"name": "wp-cli"}],
            }}},
        }))
        .unwrap_or_else(|err| panic!("{err}"));
        let containers = container_names([&deployment]);
        let grant = |container: &str| ExecGrant {
            container: container.into(),
            programs: vec!["sh".into()],
        };
        let info = EngineInfo {
            id: "e".into(),
            display_name: "E".into(),
            version: semver::Version::new(1, 0, 0),
            description: String::new(),
            options_schema: json!({"type": "object"}),
            secrets: Vec::new(),
            chart: ChartSource::Bundled("ecommerce-store".into()),
            exec: vec![grant("wp-cli"), grant("wpcli")],
        };
        let problems = unused_grants(&info, &containers);
        assert_eq!(
            problems,
            vec![
                "exec grant for container \"wpcli\": no pod the chart renders has a container of that name (containers: init, web, wp-cli)"
            ]
        );
    }
}
