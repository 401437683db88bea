//! The strictest Pod Security level a store's pods pass, so its namespace can enforce it:
//! `restricted` when every pod template of the rendered chart meets the restricted profile,
//! else `baseline` (which conformance's allow-lists already guarantee: no host access, no
//! privilege, baseline capabilities only). The restricted requirements, after the Pod Security
//! Standards: run as non-root (and never as uid 0), no privilege escalation, every capability
//! dropped (`NET_BIND_SERVICE` may be added back), a `RuntimeDefault` or `Localhost` seccomp
//! profile, and only configMap, downwardAPI, emptyDir, persistentVolumeClaim, projected and
//! secret volumes. (The official WordPress image starts Apache as root, so WooCommerce stores
//! get `baseline`; every Medusa pod, PostgreSQL included, runs as non-root: `restricted`.)
//!
//! Before any of that, `harden` fills in the safe value of every security field a chart left
//! unset: no service-account token, the `RuntimeDefault` seccomp profile, no privilege
//! escalation (conformance has already refused charts asking for the opposite).

use serde_json::Value;

use super::manifest::pod_template_pointer;

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Baseline,
    Restricted,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Restricted => "restricted",
        }
    }
}

const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "downwardAPI",
    "emptyDir",
    "persistentVolumeClaim",
    "projected",
    "secret",
    "csi",
    "ephemeral",
];

/// Why `pod` (a pod spec) does not meet the restricted profile; empty when it does.
pub fn restricted_gaps(pod: &Value) -> Vec<String> {
    let mut gaps = Vec::new();
    let pod_ctx = &pod["securityContext"];
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|list| pod[*list].as_array().into_iter().flatten())
        .collect();
    for c in &containers {
        let name = c["name"].as_str().unwrap_or_default();
        let ctx = &c["securityContext"];
        let inherited = |key: &str| {
            ctx.get(key)
                .filter(|v| !v.is_null())
                .or_else(|| pod_ctx.get(key))
        };
        if inherited("runAsNonRoot") != Some(&Value::Bool(true)) {
            gaps.push(format!("{name}: runAsNonRoot is not true"));
        }
        if inherited("runAsUser").and_then(Value::as_i64) == Some(0) {
            gaps.push(format!("{name}: runs as uid 0"));
        }
        if ctx["allowPrivilegeEscalation"] != false {
            gaps.push(format!("{name}: allowPrivilegeEscalation is not false"));
        }
        let drops_all = ctx["capabilities"]["drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x == "ALL"));
        if !drops_all {
            gaps.push(format!("{name}: does not drop ALL capabilities"));
        }
        let adds_other = ctx["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|cap| cap != "NET_BIND_SERVICE");
        if adds_other {
            gaps.push(format!(
                "{name}: adds capabilities other than NET_BIND_SERVICE"
            ));
        }
        let seccomp = inherited("seccompProfile")
            .and_then(|p| p["type"].as_str())
            .unwrap_or_default();
        if !matches!(seccomp, "RuntimeDefault" | "Localhost") {
            gaps.push(format!(
                "{name}: no RuntimeDefault or Localhost seccomp profile"
            ));
        }
    }
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        let kinds = volume
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .filter(|k| *k != "name");
        for kind in kinds {
            if !RESTRICTED_VOLUMES.contains(&kind) {
                gaps.push(format!(
                    "volume {}: {kind}",
                    volume["name"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    gaps
}

/// Sets the safe value of each security field `object`'s pod template leaves unset:
/// `automountServiceAccountToken: false`, a `RuntimeDefault` seccomp profile for the pod,
/// and `allowPrivilegeEscalation: false` for every container. A field the chart set is kept
/// (conformance refuses the unsafe values).
pub fn harden(object: &mut Value) {
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    let Some(pod) = pod_template_pointer(&kind)
        .and_then(|p| object.pointer_mut(p))
        .and_then(|t| t.get_mut("spec"))
    else {
        return;
    };
    set_if_unset(pod, "automountServiceAccountToken", Value::Bool(false));
    let context = set_if_unset(pod, "securityContext", serde_json::json!({}));
    set_if_unset(
        context,
        "seccompProfile",
        serde_json::json!({"type": "RuntimeDefault"}),
    );
    for list in ["initContainers", "containers"] {
        for container in pod
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let context = set_if_unset(container, "securityContext", serde_json::json!({}));
            set_if_unset(context, "allowPrivilegeEscalation", Value::Bool(false));
        }
    }
}

/// `object[key]`, set to `value` first when it is missing or null (an explicit `null` is
/// unset to the API server, so it must not keep the safe value out). A non-object `object`
/// is left alone (it fails schema validation anyway).
fn set_if_unset<'a>(object: &'a mut Value, key: &str, value: Value) -> &'a mut Value {
    if !object.is_object() {
        return object;
    }
    let slot = &mut object[key];
    if slot.is_null() {
        *slot = value;
    }
    slot
}

/// The strictest level every pod template in `objects` (rendered manifests) passes, with why
/// not `restricted` when it is `baseline`.
pub fn strictest_level(objects: &[Value]) -> (Level, Vec<String>) {
    let mut gaps = Vec::new();
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let pod = pod_template_pointer(kind)
            .and_then(|p| object.pointer(p))
            .and_then(|t| t.get("spec"));
        if let Some(pod) = pod {
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            gaps.extend(
                restricted_gaps(pod)
                    .into_iter()
                    .map(|gap| format!("{kind}/{name} {gap}")),
            );
        }
    }
    if gaps.is_empty() {
        (Level::Restricted, gaps)
    } else {
        (Level::Baseline, gaps)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn restricted_container(name: &str) -> Value {
        json!({"name": name, "securityContext": {"allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]}}})
    }

    #[test]
    fn unset_security_fields_get_their_safe_values_and_set_ones_stay() {
        let mut job = json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}},
            "initContainers": [{"name": "init"}],
            "containers": [{"name": "c", "securityContext": {"runAsUser": 1000}}]}}}}}});
        harden(&mut job);
        let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "Localhost"
        );
        for c in [&pod["initContainers"][0], &pod["containers"][0]] {
            assert_eq!(
                c["securityContext"]["allowPrivilegeEscalation"], false,
                "{c}"
            );
        }
        assert_eq!(pod["containers"][0]["securityContext"]["runAsUser"], 1000);
        let mut bare = json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}});
        harden(&mut bare);
        assert_eq!(
            bare["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        // An explicit null is unset to the API server: it gets the safe value too.
        let mut nulls = json!({"kind": "Deployment", "spec": {"template": {"spec": {
            "automountServiceAccountToken": null, "securityContext": null,
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": null}},
                           {"name": "d", "securityContext": null}]}}}});
        harden(&mut nulls);
        let pod = &nulls["spec"]["template"]["spec"];
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        for c in pod["containers"].as_array().into_iter().flatten() {
            assert_eq!(
                c["securityContext"]["allowPrivilegeEscalation"], false,
                "{c}"
            );
        }
        let mut service = json!({"kind": "Service", "spec": {}});
        harden(&mut service);
        assert_eq!(service, json!({"kind": "Service", "spec": {}}));
    }

    #[test]
    fn a_non_root_workload_gets_restricted_and_a_root_one_baseline() {
        let good = json!({"kind": "Deployment", "metadata": {"name": "api"}, "spec": {"template": {"spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            "containers": [restricted_container("api")]}}}});
        assert_eq!(
            strictest_level(std::slice::from_ref(&good)).0,
            Level::Restricted
        );
        let root = json!({"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "apache", "securityContext": {"allowPrivilegeEscalation": false}}]}}}});
        let (level, gaps) = strictest_level(&[good, root]);
        assert_eq!(level, Level::Baseline);
        assert_eq!(
            gaps,
            [
                "Deployment/web apache: runAsNonRoot is not true",
                "Deployment/web apache: does not drop ALL capabilities",
            ]
        );
    }
}
