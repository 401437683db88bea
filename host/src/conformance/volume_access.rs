//! Claims that only one node may use at a time (`ReadWriteOnce`, `ReadWriteOncePod`) and the
//! Deployments that mount them. On a cluster of more than one node, a second pod of the
//! Deployment scheduled elsewhere never starts (the attach/detach controller's `Multi-Attach
//! error for volume … Volume is already used by pod(s) …`): so such a Deployment keeps one
//! replica (no HorizontalPodAutoscaler above one), and replaces its pod with `Recreate` or a
//! rolling update that stops the old pod first (`maxSurge: 0`); otherwise every upgrade or
//! resize would wait for the volume until it fails. StatefulSets give each pod a claim of its
//! own (`volumeClaimTemplates`) and are not concerned. A single-node cluster (kind, k3d) does
//! not show the problem, which is why it is checked here.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::k8s::Manifest;
use crate::k8s::footprint::deployment_surge;

/// Access modes that bind a volume to one node (or one pod).
const SINGLE_NODE_MODES: &[&str] = &["ReadWriteOnce", "ReadWriteOncePod"];

/// Every Deployment that would start a second pod beside the one using a single-node claim.
pub(super) fn check_volume_access(manifests: &[Manifest]) -> Vec<String> {
    let single_node: BTreeMap<&str, String> = manifests
        .iter()
        .filter(|m| m.kind == "PersistentVolumeClaim")
        .filter_map(|m| {
            let modes: Vec<&str> = m
                .object
                .pointer("/spec/accessModes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let only_single =
                !modes.is_empty() && modes.iter().all(|m| SINGLE_NODE_MODES.contains(m));
            only_single.then(|| (m.name.as_str(), modes.join(", ")))
        })
        .collect();
    let mut problems = Vec::new();
    for deployment in manifests.iter().filter(|m| m.kind == "Deployment") {
        let Some(pod) = deployment.pod_spec() else {
            continue;
        };
        let claims: Vec<(&str, &String)> = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.pointer("/persistentVolumeClaim/claimName")?.as_str())
            .filter_map(|c| single_node.get_key_value(c).map(|(k, v)| (*k, v)))
            .collect();
        let Some((claim, modes)) = claims.first() else {
            continue;
        };
        let id = deployment.id();
        let uses = format!("mounts claim {claim:?} ({modes}), which one node attaches at a time");
        let replicas = deployment
            .object
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        if replicas > 1 {
            problems.push(format!(
                "{id}: spec.replicas is {replicas} and it {uses}: a replica on another node would never start (Multi-Attach error); keep one replica, or give each pod its own claim (a StatefulSet's volumeClaimTemplates)"
            ));
        }
        if let Some(max) = autoscaled_to(manifests, &deployment.name).filter(|max| *max > 1) {
            problems.push(format!(
                "{id}: a HorizontalPodAutoscaler scales it to {max} replicas and it {uses}: a replica on another node would never start (Multi-Attach error)"
            ));
        }
        if deployment_surge(deployment.object.get("spec"), replicas) > 0 {
            let surge = deployment
                .object
                .pointer("/spec/strategy/rollingUpdate/maxSurge")
                .filter(|v| !v.is_null())
                .map_or_else(
                    || "25% (the default)".to_owned(),
                    |v| v.to_string().trim_matches('"').to_owned(),
                );
            problems.push(format!(
                "{id}: spec.strategy starts the new pod before the old one stops (rolling update, maxSurge {surge}) and it {uses}: on another node the new pod waits for the volume until the upgrade fails (Multi-Attach error); use strategy Recreate, or maxSurge 0"
            ));
        }
    }
    problems
}

/// The most replicas a HorizontalPodAutoscaler gives Deployment `name`.
fn autoscaled_to(manifests: &[Manifest], name: &str) -> Option<i64> {
    manifests
        .iter()
        .filter(|m| m.kind == "HorizontalPodAutoscaler")
        .filter(|m| {
            m.object
                .pointer("/spec/scaleTargetRef/kind")
                .and_then(Value::as_str)
                == Some("Deployment")
                && m.object
                    .pointer("/spec/scaleTargetRef/name")
                    .and_then(Value::as_str)
                    == Some(name)
        })
        .filter_map(|m| {
            m.object
                .pointer("/spec/maxReplicas")
                .and_then(Value::as_i64)
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(modes: &str, spec: &str) -> Vec<String> {
        let yaml = format!(
            "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: pages}}
spec: {{accessModes: [{modes}], resources: {{requests: {{storage: 1Gi}}}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  {spec}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      volumes: [{{name: pages, persistentVolumeClaim: {{claimName: pages}}}}]
      containers: [{{name: web, image: i}}]
"
        );
        check_volume_access(
            &crate::k8s::manifest::parse_documents(&yaml).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn one_pod_at_a_time_on_a_single_node_claim_passes() {
        assert!(check("ReadWriteOnce", "strategy: {type: Recreate}").is_empty());
        assert!(check("ReadWriteOnce", "strategy: {rollingUpdate: {maxSurge: 0}}").is_empty());
        assert!(check("ReadWriteMany", "replicas: 3").is_empty());
    }

    #[test]
    fn a_second_pod_beside_a_single_node_claim_is_refused() {
        assert_eq!(
            check("ReadWriteOnce", "replicas: 2"),
            [
                r#"Deployment/web: spec.replicas is 2 and it mounts claim "pages" (ReadWriteOnce), which one node attaches at a time: a replica on another node would never start (Multi-Attach error); keep one replica, or give each pod its own claim (a StatefulSet's volumeClaimTemplates)"#,
                r#"Deployment/web: spec.strategy starts the new pod before the old one stops (rolling update, maxSurge 25% (the default)) and it mounts claim "pages" (ReadWriteOnce), which one node attaches at a time: on another node the new pod waits for the volume until the upgrade fails (Multi-Attach error); use strategy Recreate, or maxSurge 0"#,
            ]
        );
        let surge = check(
            "ReadWriteOncePod",
            "strategy: {rollingUpdate: {maxSurge: 1}}",
        );
        assert_eq!(surge.len(), 1, "{surge:?}");
        assert!(surge[0].contains("(ReadWriteOncePod)") && surge[0].contains("maxSurge 1)"));
    }
}
