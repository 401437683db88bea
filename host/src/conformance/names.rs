//! Who an object claims to be: every name a DNS-1123 subdomain (Services: a DNS-1035 label, as
//! the API server requires), so no name can reach into a request path (`../../kube-system/…`);
//! no name of an object the host owns (the namespace's `default` ServiceAccount); no
//! finalizers (an object nobody can delete holds the namespace in `Terminating`) and no owner
//! references (the garbage collector would tie it to objects the plugin does not own).

use crate::k8s::Manifest;

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`, at most 253 characters.
fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253
        && !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
fn is_dns1035_label(name: &str) -> bool {
    is_dns1123_subdomain(name)
        && !name.contains('.')
        && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// Objects of these kinds and names belong to the host.
const HOST_OWNED: &[(&str, &str)] = &[("ServiceAccount", "default")];

/// Problems of the objects' names and metadata.
pub(super) fn check_names(manifests: &[Manifest]) -> Vec<String> {
    let mut problems = Vec::new();
    for m in manifests {
        let shown = format!("{}/{:?}", m.kind, m.name);
        let valid = if m.kind == "Service" {
            is_dns1035_label(&m.name)
        } else {
            is_dns1123_subdomain(&m.name)
        };
        if !valid {
            problems.push(format!(
                "{shown}: metadata.name is not a valid {} (lower-case letters, digits and '-'{})",
                if m.kind == "Service" {
                    "DNS-1035 label"
                } else {
                    "DNS-1123 subdomain"
                },
                if m.kind == "Service" {
                    ", starting with a letter, at most 63 characters"
                } else {
                    " and '.', at most 253 characters"
                }
            ));
        }
        if HOST_OWNED.contains(&(m.kind.as_str(), m.name.as_str())) {
            problems.push(format!(
                "{shown}: metadata.name is the host's own {} (it would replace it)",
                m.kind
            ));
        }
        for field in ["finalizers", "ownerReferences"] {
            if m.object
                .pointer(&format!("/metadata/{field}"))
                .is_some_and(|v| !v.is_null())
            {
                problems.push(format!(
                    "{shown}: metadata.{field} is not allowed (the host owns the lifecycle of a store's objects)"
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn manifest(kind: &str, name: &str, extra: serde_json::Value) -> Manifest {
        let mut object = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}});
        if let Some(map) = extra.as_object() {
            for (k, v) in map {
                object["metadata"][k] = v.clone();
            }
        }
        Manifest::from_value(object).unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn names_cannot_reach_into_paths_or_replace_the_hosts_objects() {
        let hostile = [
            manifest(
                "ConfigMap",
                "../../../kube-system/configmaps/coredns",
                json!({}),
            ),
            manifest("Service", "1st-web", json!({})),
            manifest("ServiceAccount", "default", json!({})),
            manifest(
                "ConfigMap",
                "sticky",
                json!({"finalizers": ["example.com/never"]}),
            ),
            manifest(
                "ConfigMap",
                "adopted",
                json!({"ownerReferences": [{"kind": "Namespace", "name": "kube-system"}]}),
            ),
        ];
        assert_eq!(
            check_names(&hostile),
            [
                "ConfigMap/\"../../../kube-system/configmaps/coredns\": metadata.name is not a valid DNS-1123 subdomain (lower-case letters, digits and '-' and '.', at most 253 characters)",
                "Service/\"1st-web\": metadata.name is not a valid DNS-1035 label (lower-case letters, digits and '-', starting with a letter, at most 63 characters)",
                "ServiceAccount/\"default\": metadata.name is the host's own ServiceAccount (it would replace it)",
                "ConfigMap/\"sticky\": metadata.finalizers is not allowed (the host owns the lifecycle of a store's objects)",
                "ConfigMap/\"adopted\": metadata.ownerReferences is not allowed (the host owns the lifecycle of a store's objects)",
            ]
        );
        let fine = [
            manifest("ConfigMap", "store-0123-config.v2", json!({})),
            manifest("Service", "store-0123-web", json!({})),
            manifest("ServiceAccount", "store-0123-app", json!({})),
        ];
        assert!(check_names(&fine).is_empty());
    }
}
