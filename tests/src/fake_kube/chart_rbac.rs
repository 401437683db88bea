//! The access-control objects of the control-plane chart `helm/storeplane` (RBAC and the
//! ValidatingAdmissionPolicies confining its account), rendered with the real helm (release
//! `storeplane` in namespace `storeplane`, as `docs/real-cluster.md` installs it), once per
//! process. A fake server holds them from the start, so the host is authorized and admitted
//! exactly as the chart would have it in a cluster.

use std::sync::OnceLock;

use serde_json::Value;

use super::authz::{HOST_NAMESPACE, HOST_SERVICE_ACCOUNT};

const ACCESS_KINDS: [&str; 6] = [
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
];

/// Every RBAC and admission-policy object the chart renders; an error says why helm could not render it.
pub fn control_plane_rbac() -> Result<Vec<Value>, String> {
    static RENDERED: OnceLock<Result<Vec<Value>, String>> = OnceLock::new();
    RENDERED.get_or_init(render).clone()
}

fn render() -> Result<Vec<Value>, String> {
    let chart = crate::workspace_root().join("helm/storeplane");
    let output = std::process::Command::new(crate::helm_bin())
        .args(["template", HOST_SERVICE_ACCOUNT])
        .arg(&chart)
        .args(["--namespace", HOST_NAMESPACE])
        .args([
            "--set",
            "jwt.secret=fake-kube-jwt-secret-fake-kube-jwt-secret",
        ])
        .output()
        .map_err(|err| format!("running helm: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "helm template helm/storeplane failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let objects: Vec<Value> = text
        .split("\n---")
        .filter_map(|doc| serde_yaml_ng::from_str::<Value>(doc).ok())
        .filter(|doc| {
            doc.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|kind| ACCESS_KINDS.contains(&kind))
        })
        .collect();
    if objects.is_empty() {
        return Err("helm/storeplane rendered no RBAC objects".into());
    }
    Ok(objects)
}
