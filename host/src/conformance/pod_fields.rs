//! What a store's pods may ask of the node, allow-listed (every workload kind's pod template):
//! only the pod fields a shop needs — no node pinning, scheduling priority, tolerations or
//! affinity (the operator's to set), no shared process namespace, host aliases or other
//! runtimes, no service-account token; volumes only of the kinds that stay inside the store
//! (configMap, the credentials Secret, emptyDir, its own claims, projected of those plus the
//! downward API; never a node mount such as nfs or a token for another audience); containers
//! without added capabilities beyond Pod Security's baseline set, without privilege
//! escalation asked for, and without host ports. Each refusal names the object, field and rule.

use serde_json::Value;

/// Pod spec fields a store's pods may set.
const POD_FIELDS: &[&str] = &[
    "containers",
    "initContainers",
    "volumes",
    "securityContext",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "serviceAccountName",
    "imagePullSecrets",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "hostname",
    "subdomain",
    "setHostnameAsFQDN",
    "topologySpreadConstraints",
];

/// Why some fields a chart may well write are not allowed, said with the refusal.
const REFUSED_BECAUSE: &[(&str, &str)] = &[(
    "readinessGates",
    "a pod is Ready only once a controller of the cluster sets the gate's condition, and none does for a store's pods, so the store would never be ready; use a readiness probe",
)];

/// Volume sources that keep a pod inside its store.
const VOLUME_KINDS: &[&str] = &[
    "configMap",
    "secret",
    "emptyDir",
    "persistentVolumeClaim",
    "projected",
    "downwardAPI",
];

/// Capabilities a container may add: Pod Security's baseline set.
const CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Problems of pod spec `pod` (JSON) of object `id`; `credentials` is the only Secret it may
/// read.
pub(super) fn check_pod_fields(id: &str, pod: &Value, credentials: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, value) in pod.as_object().into_iter().flatten() {
        if !POD_FIELDS.contains(&key.as_str()) && !value.is_null() {
            let why = REFUSED_BECAUSE
                .iter()
                .find(|(field, _)| field == key)
                .map_or_else(String::new, |(_, why)| format!(": {why}"));
            problems.push(format!(
                "{id}: spec.template.spec.{key} is not allowed in a store's pods{why}"
            ));
        }
    }
    if pod["automountServiceAccountToken"] == true {
        problems.push(format!(
            "{id}: spec.template.spec.automountServiceAccountToken must not be true (a store's pods get no Kubernetes credentials)"
        ));
    }
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        check_volume(id, volume, credentials, &mut problems);
    }
    for list in ["initContainers", "containers"] {
        for container in pod[list].as_array().into_iter().flatten() {
            check_container(id, list, container, &pod["securityContext"], &mut problems);
        }
    }
    problems
}

fn check_volume(id: &str, volume: &Value, credentials: &str, problems: &mut Vec<String>) {
    let name = volume["name"].as_str().unwrap_or_default();
    let at = format!("{id}: volume {name:?}");
    for (kind, source) in volume.as_object().into_iter().flatten() {
        if kind == "name" {
            continue;
        }
        if !VOLUME_KINDS.contains(&kind.as_str()) {
            problems.push(format!(
                "{at}: {kind} volumes are not allowed (only configMap, the credentials Secret, emptyDir, persistentVolumeClaim, projected and downwardAPI)"
            ));
            continue;
        }
        if kind == "secret" && source["secretName"].as_str() != Some(credentials) {
            problems.push(format!(
                "{at}: secret volumes may only mount the credentials Secret {credentials:?}"
            ));
        }
        if kind == "projected" {
            for projection in source["sources"].as_array().into_iter().flatten() {
                for (part, inner) in projection.as_object().into_iter().flatten() {
                    match part.as_str() {
                        "configMap" | "downwardAPI" => {}
                        "secret" if inner["name"].as_str() == Some(credentials) => {}
                        other => problems.push(format!(
                            "{at}: projected {other} sources are not allowed (only configMap, downwardAPI and the credentials Secret)"
                        )),
                    }
                }
            }
        }
    }
}

fn check_container(
    id: &str,
    list: &str,
    container: &Value,
    pod_security: &Value,
    problems: &mut Vec<String>,
) {
    let at = format!(
        "{id}: {list} {:?}",
        container["name"].as_str().unwrap_or_default()
    );
    let security = &container["securityContext"];
    let inherited = |key: &str| {
        security
            .get(key)
            .filter(|v| !v.is_null())
            .or_else(|| pod_security.get(key))
    };
    // Root may keep the baseline set (an image like WordPress's starts as root and drops to
    // its user); a container that never runs as root needs at most NET_BIND_SERVICE.
    let non_root = inherited("runAsNonRoot") == Some(&Value::Bool(true))
        || inherited("runAsUser")
            .and_then(Value::as_i64)
            .is_some_and(|uid| uid > 0);
    for cap in security["capabilities"]["add"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !CAPABILITIES.contains(&cap) {
            problems.push(format!(
                "{at}: securityContext.capabilities.add {cap:?} is not allowed (only Pod Security's baseline capabilities)"
            ));
        } else if non_root && cap != "NET_BIND_SERVICE" {
            problems.push(format!(
                "{at}: securityContext.capabilities.add {cap:?} is not allowed for a container that runs as non-root (only NET_BIND_SERVICE)"
            ));
        }
    }
    if security["allowPrivilegeEscalation"] == true {
        problems.push(format!(
            "{at}: securityContext.allowPrivilegeEscalation must not be true"
        ));
    }
    for port in container["ports"].as_array().into_iter().flatten() {
        if port["hostPort"].as_i64().is_some_and(|p| p != 0) || port.get("hostIP").is_some() {
            problems.push(format!(
                "{at}: ports with hostPort or hostIP are not allowed (a store is reached through its Service)"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pod_that_asks_the_node_for_more_than_a_shop_needs_is_refused_field_by_field() {
        let hostile = json!({
            "priorityClassName": "system-node-critical", "nodeName": "node-1",
            "tolerations": [{"operator": "Exists"}], "automountServiceAccountToken": true,
            "readinessGates": [{"conditionType": "example.com/registered"}],
            "volumes": [
                {"name": "share", "nfs": {"server": "10.0.0.5", "path": "/"}},
                {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"audience": "vault"}}]}},
                {"name": "other", "secret": {"secretName": "another-store-credentials"}},
            ],
            "containers": [{"name": "app", "securityContext": {
                "runAsUser": 0, "allowPrivilegeEscalation": true,
                "capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN", "NET_BIND_SERVICE"]}},
                "ports": [{"containerPort": 80, "hostPort": 80}]}],
        });
        let problems = check_pod_fields("Deployment/x", &hostile, "store-credentials");
        for expected in [
            "Deployment/x: spec.template.spec.priorityClassName is not allowed",
            "Deployment/x: spec.template.spec.nodeName is not allowed",
            "Deployment/x: spec.template.spec.tolerations is not allowed",
            "Deployment/x: spec.template.spec.readinessGates is not allowed in a store's pods: a pod is Ready only once a controller of the cluster sets",
            "Deployment/x: spec.template.spec.automountServiceAccountToken must not be true",
            "Deployment/x: volume \"share\": nfs volumes are not allowed",
            "Deployment/x: volume \"token\": projected serviceAccountToken sources are not allowed",
            "Deployment/x: volume \"other\": secret volumes may only mount the credentials Secret",
            "Deployment/x: containers \"app\": securityContext.capabilities.add \"SYS_ADMIN\" is not allowed",
            "Deployment/x: containers \"app\": securityContext.capabilities.add \"NET_ADMIN\" is not allowed",
            "Deployment/x: containers \"app\": securityContext.allowPrivilegeEscalation must not be true",
            "Deployment/x: containers \"app\": ports with hostPort or hostIP are not allowed",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "missing {expected:?} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), 12, "{problems:#?}");
    }

    #[test]
    fn a_non_root_container_may_add_only_net_bind_service() {
        let pod = json!({
            "securityContext": {"runAsNonRoot": true},
            "containers": [
                {"name": "api", "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"]}}},
                {"name": "web", "securityContext": {"runAsUser": 0, "runAsNonRoot": false,
                    "capabilities": {"add": ["CHOWN", "SETUID"]}}},
            ],
        });
        assert_eq!(
            check_pod_fields("Deployment/x", &pod, "store-credentials"),
            [
                "Deployment/x: containers \"api\": securityContext.capabilities.add \"CHOWN\" is not allowed for a container that runs as non-root (only NET_BIND_SERVICE)"
            ]
        );
    }
}
