//! Pod Security admission (kubernetes/pod-security-admission, policy/check_*.go): a new pod
//! is checked against the level its namespace enforces (`pod-security.kubernetes.io/enforce`;
//! unlabelled: privileged) and refused with the real message, `pods "<n>" is forbidden:
//! violates PodSecurity "<level>:<version>": <check> (<detail>), …`, baseline checks first,
//! then restricted ones (the wording of the rarely hit checks — AppArmor, SELinux, procMount,
//! sysctls, host probes — is close to, not copied from, the real one). Workload objects are
//! never refused (only warned about, not modelled).

use serde_json::Value;

/// Capabilities a baseline pod may add (policy/check_capabilities_baseline.go).
const BASELINE_CAPABILITIES: &[&str] = &[
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

/// Sysctls a baseline pod may set (policy/check_sysctls.go).
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
];

/// SELinux types a baseline pod may ask for (policy/check_seLinuxOptions.go).
const SELINUX_TYPES: &[&str] = &[
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// Volume types a restricted pod may use (policy/check_restrictedVolumes.go).
const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// `container "a"` or `containers "a", "b"`.
fn containers_phrase(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    if quoted.len() == 1 {
        format!("container {}", quoted[0])
    } else {
        format!("containers {}", quoted.join(", "))
    }
}

fn all_containers(pod: &Value) -> Vec<Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|list| {
            pod.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn name(c: &Value) -> String {
    c["name"].as_str().unwrap_or_default().to_owned()
}

/// The violations of `level` ("baseline" or "restricted"), in the order the real checks run.
pub fn violations(pod: &Value, level: &str) -> Vec<String> {
    let mut out = Vec::new();
    if level == "privileged" {
        return out;
    }
    let spec = &pod["spec"];
    let containers = all_containers(pod);
    let pod_ctx = &spec["securityContext"];
    // Baseline (check ids sorted, as policy/registry.go orders them).
    let host_fields: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|f| spec[**f] == true)
        .map(|f| format!("{f}=true"))
        .collect();
    if !host_fields.is_empty() {
        out.push(format!("host namespaces ({})", host_fields.join(", ")));
    }
    let privileged: Vec<String> = containers
        .iter()
        .filter(|c| c["securityContext"]["privileged"] == true)
        .map(name)
        .collect();
    if !privileged.is_empty() {
        out.push(format!(
            "privileged ({} must not set securityContext.privileged=true)",
            containers_phrase(&privileged)
        ));
    }
    for c in &containers {
        let added: Vec<String> = c["securityContext"]["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|cap| !BASELINE_CAPABILITIES.contains(cap))
            .map(|cap| format!("{cap:?}"))
            .collect();
        if !added.is_empty() {
            out.push(format!(
                "non-default capabilities (container {:?} must not include {} in securityContext.capabilities.add)",
                name(c),
                added.join(", ")
            ));
        }
    }
    let host_paths: Vec<String> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v.get("hostPath").is_some())
        .map(|v| format!("{:?}", v["name"].as_str().unwrap_or_default()))
        .collect();
    if !host_paths.is_empty() {
        out.push(format!(
            "hostPath volumes (volume {})",
            host_paths.join(", ")
        ));
    }
    for c in &containers {
        let ports: Vec<String> = c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["hostPort"].as_i64().filter(|p| *p != 0))
            .map(|p| p.to_string())
            .collect();
        if !ports.is_empty() {
            out.push(format!(
                "hostPort (container {:?} uses hostPort {})",
                name(c),
                ports.join(", ")
            ));
        }
    }
    let apparmor: Vec<String> = std::iter::once(&pod_ctx["appArmorProfile"])
        .chain(
            containers
                .iter()
                .map(|c| &c["securityContext"]["appArmorProfile"]),
        )
        .filter(|p| p["type"] == "Unconfined")
        .map(|_| "securityContext.appArmorProfile.type=\"Unconfined\"".to_owned())
        .chain(
            pod.pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter(|(k, v)| {
                    k.starts_with("container.apparmor.security.beta.kubernetes.io/")
                        && v.as_str()
                            .is_some_and(|v| v != "runtime/default" && !v.starts_with("localhost/"))
                })
                .map(|(k, v)| format!("annotation {k:?}={v}")),
        )
        .collect();
    if !apparmor.is_empty() {
        out.push(format!(
            "forbidden AppArmor profile ({})",
            apparmor.join(", ")
        ));
    }
    let proc_mounts: Vec<String> = containers
        .iter()
        .filter(|c| {
            c["securityContext"]["procMount"]
                .as_str()
                .is_some_and(|m| m != "Default")
        })
        .map(name)
        .collect();
    if !proc_mounts.is_empty() {
        out.push(format!(
            "procMount ({} must not set securityContext.procMount to \"Unmasked\")",
            containers_phrase(&proc_mounts)
        ));
    }
    let selinux: Vec<String> = std::iter::once(&pod_ctx["seLinuxOptions"])
        .chain(
            containers
                .iter()
                .map(|c| &c["securityContext"]["seLinuxOptions"]),
        )
        .flat_map(|o| {
            let mut bad = Vec::new();
            if let Some(t) = o["type"]
                .as_str()
                .filter(|t| !t.is_empty() && !SELINUX_TYPES.contains(t))
            {
                bad.push(format!("type {t:?}"));
            }
            for field in ["user", "role"] {
                if let Some(v) = o[field].as_str().filter(|v| !v.is_empty()) {
                    bad.push(format!("{field} {v:?}"));
                }
            }
            bad
        })
        .collect();
    if !selinux.is_empty() {
        out.push(format!(
            "seLinuxOptions (pod or containers set forbidden securityContext.seLinuxOptions: {})",
            selinux.join("; ")
        ));
    }
    let sysctls: Vec<&str> = pod_ctx["sysctls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .collect();
    if !sysctls.is_empty() {
        out.push(format!("forbidden sysctls ({})", sysctls.join(", ")));
    }
    if std::iter::once(&pod_ctx["windowsOptions"])
        .chain(
            containers
                .iter()
                .map(|c| &c["securityContext"]["windowsOptions"]),
        )
        .any(|w| w["hostProcess"] == true)
    {
        out.push("hostProcess (pod or containers must not set securityContext.windowsOptions.hostProcess=true)".into());
    }
    let host_probes: Vec<String> = containers
        .iter()
        .filter(|c| {
            ["livenessProbe", "readinessProbe", "startupProbe"]
                .iter()
                .any(|p| {
                    c[*p]["httpGet"].get("host").is_some()
                        || c[*p]["tcpSocket"].get("host").is_some()
                })
                || ["postStart", "preStop"].iter().any(|h| {
                    c["lifecycle"][*h]["httpGet"].get("host").is_some()
                        || c["lifecycle"][*h]["tcpSocket"].get("host").is_some()
                })
        })
        .map(name)
        .collect();
    if !host_probes.is_empty() {
        out.push(format!(
            "probe or lifecycle host ({} uses probe or lifecycle host)",
            containers_phrase(&host_probes)
        ));
    }
    if pod_ctx["seccompProfile"]["type"] == "Unconfined" {
        out.push(
            "seccompProfile (pod must not set securityContext.seccompProfile.type to \"Unconfined\")"
                .into(),
        );
    }
    if level != "restricted" {
        return out;
    }
    // Restricted.
    let missing = |test: &dyn Fn(&Value) -> bool| -> Vec<String> {
        containers.iter().filter(|c| !test(c)).map(name).collect()
    };
    let no_escalation = missing(&|c| c["securityContext"]["allowPrivilegeEscalation"] == false);
    if !no_escalation.is_empty() {
        out.push(format!(
            "allowPrivilegeEscalation != false ({} must set securityContext.allowPrivilegeEscalation=false)",
            containers_phrase(&no_escalation)
        ));
    }
    let drop_all = missing(&|c| {
        c["securityContext"]["capabilities"]["drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x == "ALL"))
    });
    if !drop_all.is_empty() {
        out.push(format!(
            "unrestricted capabilities ({} must set securityContext.capabilities.drop=[\"ALL\"])",
            containers_phrase(&drop_all)
        ));
    }
    let volumes: Vec<String> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| {
            v.as_object().is_some_and(|m| {
                m.keys()
                    .filter(|k| *k != "name")
                    .any(|k| !RESTRICTED_VOLUMES.contains(&k.as_str()))
            })
        })
        .map(|v| format!("{:?}", v["name"].as_str().unwrap_or_default()))
        .collect();
    if !volumes.is_empty() {
        out.push(format!(
            "restricted volume types (volume {} uses a restricted volume type)",
            volumes.join(", ")
        ));
    }
    let non_root = missing(&|c| {
        c["securityContext"]["runAsNonRoot"] == true
            || (c["securityContext"].get("runAsNonRoot").is_none()
                && pod_ctx["runAsNonRoot"] == true)
    });
    if !non_root.is_empty() {
        out.push(format!(
            "runAsNonRoot != true (pod or {} must set securityContext.runAsNonRoot=true)",
            containers_phrase(&non_root)
        ));
    }
    let root_users: Vec<String> = containers
        .iter()
        .filter(|c| c["securityContext"]["runAsUser"] == 0)
        .map(name)
        .collect();
    if pod_ctx["runAsUser"] == 0 || !root_users.is_empty() {
        let who = if root_users.is_empty() {
            "pod".to_owned()
        } else {
            format!("pod or {}", containers_phrase(&root_users))
        };
        out.push(format!("runAsUser=0 ({who} must not set runAsUser=0)"));
    }
    let seccomp = missing(&|c| {
        let t = c["securityContext"]["seccompProfile"]["type"]
            .as_str()
            .or_else(|| pod_ctx["seccompProfile"]["type"].as_str());
        matches!(t, Some("RuntimeDefault" | "Localhost"))
    });
    if !seccomp.is_empty() {
        out.push(format!(
            "seccompProfile (pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")",
            containers_phrase(&seccomp)
        ));
    }
    out
}

/// The refusal text for a pod in a namespace with `labels`, or `None` when it passes.
pub fn check(pod: &Value, namespace_labels: &Value) -> Option<String> {
    let level = namespace_labels["pod-security.kubernetes.io/enforce"]
        .as_str()
        .unwrap_or("privileged");
    let version = namespace_labels["pod-security.kubernetes.io/enforce-version"]
        .as_str()
        .unwrap_or("latest");
    let found = violations(pod, level);
    (!found.is_empty()).then(|| {
        format!(
            "violates PodSecurity \"{level}:{version}\": {}",
            found.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn baseline_allows_a_root_web_server_and_refuses_host_access() {
        let apache = json!({"spec": {"containers": [{"name": "wordpress", "ports": [{"containerPort": 80}]}]}});
        assert_eq!(violations(&apache, "baseline"), Vec::<String>::new());
        let hostile = json!({"spec": {"hostNetwork": true,
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            "containers": [{"name": "x", "securityContext": {"privileged": true, "capabilities": {"add": ["NET_ADMIN"]}},
                            "ports": [{"containerPort": 80, "hostPort": 80}]}]}});
        let labels = json!({"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "latest"});
        assert_eq!(
            check(&hostile, &labels).unwrap_or_default(),
            "violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true), privileged (container \"x\" must not set securityContext.privileged=true), non-default capabilities (container \"x\" must not include \"NET_ADMIN\" in securityContext.capabilities.add), hostPath volumes (volume \"root\"), hostPort (container \"x\" uses hostPort 80)"
        );
    }

    #[test]
    fn restricted_names_every_container_that_misses_a_setting() {
        let pod = json!({"spec": {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "a"}, {"name": "b", "securityContext": {"allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true}}]}});
        assert_eq!(
            violations(&pod, "restricted"),
            [
                "allowPrivilegeEscalation != false (container \"a\" must set securityContext.allowPrivilegeEscalation=false)",
                "unrestricted capabilities (container \"a\" must set securityContext.capabilities.drop=[\"ALL\"])",
                "runAsNonRoot != true (pod or container \"a\" must set securityContext.runAsNonRoot=true)",
            ]
        );
    }
}

#[cfg(test)]
mod more_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_rarer_baseline_checks_and_restricted_root_are_refused() {
        let pod = json!({"metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}},
            "spec": {"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}],
                                         "seLinuxOptions": {"type": "spc_t"}},
                "containers": [{"name": "app", "securityContext": {"procMount": "Unmasked", "runAsUser": 0},
                                "readinessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}}}]}});
        let baseline = violations(&pod, "baseline");
        for expected in [
            "forbidden AppArmor profile",
            "procMount",
            "seLinuxOptions",
            "forbidden sysctls (kernel.msgmax)",
            "probe or lifecycle host",
        ] {
            assert!(
                baseline.iter().any(|v| v.starts_with(expected)),
                "{expected}: {baseline:?}"
            );
        }
        let restricted = violations(&pod, "restricted");
        assert!(
            restricted
                .iter()
                .any(|v| v == "runAsUser=0 (pod or container \"app\" must not set runAsUser=0)"),
            "{restricted:?}"
        );
    }
}
