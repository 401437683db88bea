//! The Pod Security Standards' `baseline` profile, for the fields no other allow-list of
//! conformance holds (host namespaces, hostPath, hostPort, privileged containers and
//! capabilities are refused there): seccomp and AppArmor profiles, SELinux options, `/proc`
//! mount types, sysctls and Windows host processes. Every store namespace enforces at least
//! `baseline`, so a pod breaking one of these is refused by the API server with
//! `violates PodSecurity "baseline:latest"`; checked here, the plan fails `plugin check` and
//! its upload instead of leaving a store without pods. The rules and the safe sysctls follow
//! k8s.io/pod-security-admission/policy (`check_seccompProfile_baseline.go`,
//! `check_appArmorProfile.go`, `check_seLinuxOptions.go`, `check_procMount.go`,
//! `check_sysctls.go`, `check_windowsHostProcess.go`) as of Kubernetes 1.33.

use serde_json::Value;

use super::manifest::pod_template_pointer;

/// Sysctls `baseline` allows (the "safe" set, Kubernetes 1.33).
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

/// SELinux types `baseline` allows (besides none).
const SELINUX_TYPES: &[&str] = &[
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

const RULE: &str = "Pod Security \"baseline\", which every store namespace enforces";

/// Why the pod templates of `objects` (rendered manifests) break `baseline`, one line per
/// field, naming the object, the field and the values allowed.
pub fn violations(objects: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for object in objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let Some(pointer) = pod_template_pointer(kind) else {
            continue;
        };
        let Some(template) = object.pointer(pointer) else {
            continue;
        };
        let id = format!(
            "{kind}/{}",
            object["metadata"]["name"].as_str().unwrap_or_default()
        );
        let at = format!("{}.spec", pointer.trim_start_matches('/').replace('/', "."));
        for problem in pod_violations(template, &at) {
            found.push(format!("{id}: {problem} ({RULE})"));
        }
    }
    found
}

fn pod_violations(template: &Value, at: &str) -> Vec<String> {
    let mut found = Vec::new();
    let pod = &template["spec"];
    let context = &pod["securityContext"];
    check_context(context, &format!("{at}.securityContext"), &mut found);
    for sysctl in context["sysctls"].as_array().into_iter().flatten() {
        let name = sysctl["name"].as_str().unwrap_or_default();
        if !SAFE_SYSCTLS.contains(&name) {
            found.push(format!(
                "{at}.securityContext.sysctls {name:?} is not allowed: only the safe sysctls ({})",
                SAFE_SYSCTLS.join(", ")
            ));
        }
    }
    if context["windowsOptions"]["hostProcess"] == true {
        found.push(format!(
            "{at}.securityContext.windowsOptions.hostProcess must not be true"
        ));
    }
    for (key, value) in template["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let value = value.as_str().unwrap_or_default();
        if key.starts_with("container.apparmor.security.beta.kubernetes.io/")
            && !(value == "runtime/default" || value.starts_with("localhost/"))
        {
            found.push(format!(
                "annotation {key}: {value:?} is not allowed: runtime/default or localhost/<profile>"
            ));
        }
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for container in pod[list].as_array().into_iter().flatten() {
            let name = container["name"].as_str().unwrap_or_default();
            let field = format!("{at}.{list}[{name}].securityContext");
            let context = &container["securityContext"];
            check_context(context, &field, &mut found);
            if let Some(mount) = context["procMount"].as_str()
                && mount != "Default"
            {
                found.push(format!(
                    "{field}.procMount {mount:?} is not allowed: Default only"
                ));
            }
            if context["windowsOptions"]["hostProcess"] == true {
                found.push(format!(
                    "{field}.windowsOptions.hostProcess must not be true"
                ));
            }
        }
    }
    found
}

/// The fields a pod's and a container's security context share.
fn check_context(context: &Value, field: &str, found: &mut Vec<String>) {
    if let Some(kind) = context["seccompProfile"]["type"].as_str()
        && !matches!(kind, "RuntimeDefault" | "Localhost")
    {
        found.push(format!(
            "{field}.seccompProfile.type {kind:?} is not allowed: RuntimeDefault or Localhost"
        ));
    }
    if let Some(kind) = context["appArmorProfile"]["type"].as_str()
        && !matches!(kind, "RuntimeDefault" | "Localhost")
    {
        found.push(format!(
            "{field}.appArmorProfile.type {kind:?} is not allowed: RuntimeDefault or Localhost"
        ));
    }
    let selinux = &context["seLinuxOptions"];
    if let Some(kind) = selinux["type"].as_str()
        && !kind.is_empty()
        && !SELINUX_TYPES.contains(&kind)
    {
        found.push(format!(
            "{field}.seLinuxOptions.type {kind:?} is not allowed: {}",
            SELINUX_TYPES.join(", ")
        ));
    }
    for key in ["user", "role"] {
        if selinux[key].as_str().is_some_and(|v| !v.is_empty()) {
            found.push(format!("{field}.seLinuxOptions.{key} must not be set"));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(pod: Value) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"metadata": {}, "spec": pod}}})
    }

    #[test]
    fn what_the_stores_own_charts_render_passes() {
        let pod = json!({"securityContext": {"seccompProfile": {"type": "RuntimeDefault"},
                "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]},
            "containers": [{"name": "app", "securityContext": {"procMount": "Default",
                "seLinuxOptions": {"type": "container_t", "level": "s0:c1,c2"}}}]});
        assert_eq!(violations(&[deployment(pod)]), Vec::<String>::new());
    }

    #[test]
    fn each_baseline_breach_is_named_with_its_field() {
        let pod = json!({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}],
                "seLinuxOptions": {"user": "system_u"}},
            "containers": [{"name": "app", "securityContext": {
                "seccompProfile": {"type": "Unconfined"}, "procMount": "Unmasked",
                "appArmorProfile": {"type": "Unconfined"}, "seLinuxOptions": {"type": "spc_t"},
                "windowsOptions": {"hostProcess": true}}}]});
        let found = violations(&[deployment(pod)]).join("\n");
        for expected in [
            "Deployment/web: spec.template.spec.securityContext.sysctls \"kernel.msgmax\"",
            "spec.template.spec.securityContext.seLinuxOptions.user must not be set",
            "spec.template.spec.containers[app].securityContext.seccompProfile.type \"Unconfined\"",
            "containers[app].securityContext.procMount \"Unmasked\"",
            "containers[app].securityContext.appArmorProfile.type \"Unconfined\"",
            "containers[app].securityContext.seLinuxOptions.type \"spc_t\"",
            "containers[app].securityContext.windowsOptions.hostProcess must not be true",
        ] {
            assert!(found.contains(expected), "{expected}\n{found}");
        }
        assert_eq!(found.lines().count(), 7, "{found}");
    }

    #[test]
    fn an_unconfined_apparmor_annotation_is_refused() {
        let mut object = deployment(json!({"containers": [{"name": "app"}]}));
        object["spec"]["template"]["metadata"]["annotations"] =
            json!({"container.apparmor.security.beta.kubernetes.io/app": "unconfined"});
        assert_eq!(violations(&[object]).len(), 1);
    }
}
