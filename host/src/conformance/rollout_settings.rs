//! Workload settings under which a real cluster never finishes what the host waits for. The
//! host counts a store (or an upgrade, or a resize) done when its workloads have rolled out
//! as `kubectl rollout status` says; a paused Deployment gets no pods from the deployment
//! controller, a StatefulSet updated `OnDelete` (or with a `partition`) keeps pods of the old
//! revision until someone deletes them. Each would wait until the store's time limit and
//! fail, on every cluster; the fake API server does the same (`docs/fake-kubernetes.md`).
//! (A pod's readiness gates, which no controller sets for a store, are refused with the pod's
//! other fields, in `pod_fields`.)

use serde_json::Value;

use crate::k8s::Manifest;

/// A problem for each setting of `manifests`' workloads that stops a roll-out from finishing.
pub(super) fn check_rollout_settings(manifests: &[Manifest]) -> Vec<String> {
    let mut problems = Vec::new();
    for manifest in manifests {
        let id = manifest.id();
        let spec = manifest.object.get("spec").unwrap_or(&Value::Null);
        match manifest.kind.as_str() {
            "Deployment" if spec["paused"] == true => problems.push(format!(
                "{id}: spec.paused is true: the deployment controller makes no pods for a paused Deployment, so the store would never be ready"
            )),
            "StatefulSet" => {
                let strategy = &spec["updateStrategy"];
                if strategy["type"] == "OnDelete" {
                    problems.push(format!(
                        "{id}: spec.updateStrategy.type is OnDelete: the controller replaces no pod when the template changes, so an upgrade or a resize would never finish; use RollingUpdate"
                    ));
                }
                if let Some(partition) = strategy
                    .pointer("/rollingUpdate/partition")
                    .and_then(Value::as_i64)
                    .filter(|p| *p > 0)
                {
                    problems.push(format!(
                        "{id}: spec.updateStrategy.rollingUpdate.partition is {partition}: pods below ordinal {partition} keep the old revision, so an upgrade or a resize would never finish; leave it at 0"
                    ));
                }
            }
            _ => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn manifest(object: Value) -> Manifest {
        Manifest::from_value(object).expect("a manifest")
    }

    #[test]
    fn settings_that_stop_a_roll_out_are_refused_naming_object_field_and_rule() {
        let manifests = [
            manifest(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"paused": true, "template": {"spec": {"containers": [{"name": "app"}]}}}})),
            manifest(json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "db"},
                "spec": {"updateStrategy": {"type": "OnDelete"},
                         "template": {"spec": {"containers": [{"name": "db"}]}}}})),
            manifest(json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "cache"},
                "spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
                         "template": {"spec": {"containers": [{"name": "cache"}]}}}})),
        ];
        let problems = check_rollout_settings(&manifests);
        for expected in [
            "Deployment/web: spec.paused is true: the deployment controller makes no pods",
            "StatefulSet/db: spec.updateStrategy.type is OnDelete: the controller replaces no pod",
            "StatefulSet/cache: spec.updateStrategy.rollingUpdate.partition is 2: pods below ordinal 2",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "missing {expected:?} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), 3, "{problems:#?}");
    }

    #[test]
    fn the_usual_settings_pass() {
        let manifests = [
            manifest(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"paused": false, "strategy": {"type": "Recreate"},
                         "template": {"spec": {"containers": [{"name": "app"}]}}}})),
            manifest(json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "db"},
                "spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                         "template": {"spec": {"containers": [{"name": "db"}]}}}})),
        ];
        assert_eq!(check_rollout_settings(&manifests), Vec::<String>::new());
    }
}
