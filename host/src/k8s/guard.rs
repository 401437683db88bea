//! The objects the host owns in every store namespace, built here (pure) and applied by the
//! pipeline: the namespace itself with Pod Security labels, a ResourceQuota sized from what the
//! store's chart renders, a LimitRange,
//! NetworkPolicies (default deny; DNS on port 53; same namespace; egress to the internet but
//! not to cluster or private ranges; ingress from the ingress controller's namespace and the
//! configured address ranges to the ports the store exposes), and the default ServiceAccount
//! without token automount.

use serde_json::{Value, json};

use super::footprint::{CONTAINER_LIMITS, Footprint};
use super::pod_security::Level;

/// Label on every object the host creates or applies for a store.
pub const STORE_LABEL: &str = "storeplane.io/store-id";
/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "storeplane";

/// Address ranges a store may not reach: private, carrier-grade NAT, link-local (cloud
/// metadata) and loopback, IPv4 and IPv6.
const PRIVATE_V4: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
];
const PRIVATE_V6: &[&str] = &["fc00::/7", "fe80::/10", "::1/128"];

/// What the guard objects of one store depend on.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    pub store_id: String,
    pub namespace: String,
    /// Namespace of the ingress controller (Traefik on k3s: `kube-system`).
    pub ingress_namespace: String,
    /// Address ranges also let through to the exposed ports (host-network controllers, load
    /// balancers sending to pod IPs).
    pub ingress_source_cidrs: Vec<String>,
    /// What the store's rendered objects use at most: its quota, exactly.
    pub footprint: Footprint,
    /// The Pod Security level the namespace enforces (the strictest its pods pass).
    pub pod_security: Level,
}

/// Name of every store's ResourceQuota.
pub const QUOTA_NAME: &str = "store-quota";

fn labels(store_id: &str) -> Value {
    json!({
        STORE_LABEL: store_id,
        "app.kubernetes.io/managed-by": "storeplane",
    })
}

fn meta(name: &str, settings: &GuardSettings) -> Value {
    json!({"name": name, "namespace": settings.namespace, "labels": labels(&settings.store_id)})
}

/// The store's namespace: store label, Pod Security enforced at the strictest level its pods
/// pass (`pod_security::strictest_level`: restricted for Medusa, baseline for WordPress, whose
/// official image starts Apache as root), `restricted` warned and audited.
pub fn namespace(settings: &GuardSettings) -> Value {
    let mut labels = labels(&settings.store_id);
    if let Some(map) = labels.as_object_mut() {
        for (key, value) in [
            (
                "pod-security.kubernetes.io/enforce",
                settings.pod_security.as_str(),
            ),
            ("pod-security.kubernetes.io/enforce-version", "latest"),
            ("pod-security.kubernetes.io/warn", "restricted"),
            ("pod-security.kubernetes.io/warn-version", "latest"),
            ("pod-security.kubernetes.io/audit", "restricted"),
        ] {
            map.insert(key.into(), json!(value));
        }
    }
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": settings.namespace, "labels": labels},
    })
}

/// The store's ResourceQuota: what its rendered objects use at most (see `footprint`), so a
/// store can run everything its plan renders, rolling updates included, and nothing more; no
/// LoadBalancer or NodePort Services.
pub fn quota(settings: &GuardSettings) -> Value {
    let f = &settings.footprint;
    json!({
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta(QUOTA_NAME, settings),
        "spec": {"hard": {
            "requests.cpu": f.requests_cpu.cpu(), "requests.memory": f.requests_memory.bytes(),
            "limits.cpu": f.limits_cpu.cpu(), "limits.memory": f.limits_memory.bytes(),
            "requests.ephemeral-storage": f.requests_ephemeral.bytes(),
            "limits.ephemeral-storage": f.limits_ephemeral.bytes(),
            "requests.storage": f.storage.bytes(), "pods": f.pods.to_string(),
            "persistentvolumeclaims": f.claims.to_string(),
            "services.loadbalancers": "0", "services.nodeports": "0",
        }},
    })
}

/// Host-owned objects applied before anything of the engine: quota, limits, network policies
/// (without the ingress allowance, which depends on the rendered chart) and the default
/// service account.
pub fn guard_objects(settings: &GuardSettings) -> Vec<Value> {
    let l = &CONTAINER_LIMITS;
    let mut egress_v4 = json!({"cidr": "0.0.0.0/0", "except": PRIVATE_V4});
    let mut egress_v6 = json!({"cidr": "::/0", "except": PRIVATE_V6});
    // Keep the two ipBlocks apart: one rule each, so a cluster without IPv6 ignores one.
    let egress_v4 = json!({"ipBlock": egress_v4.take()});
    let egress_v6 = json!({"ipBlock": egress_v6.take()});
    vec![
        quota(settings),
        json!({
            "apiVersion": "v1", "kind": "LimitRange", "metadata": meta("store-limits", settings),
            "spec": {"limits": [{
                "type": "Container",
                "default": {"cpu": l.default_cpu, "memory": l.default_memory, "ephemeral-storage": l.default_ephemeral},
                "defaultRequest": {"cpu": l.default_request_cpu, "memory": l.default_request_memory, "ephemeral-storage": l.default_request_ephemeral},
                "max": {"cpu": l.max_cpu, "memory": l.max_memory, "ephemeral-storage": l.max_ephemeral},
            }]},
        }),
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta("default-deny", settings),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        }),
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta("allow-same-namespace", settings),
            "spec": {
                "podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        }),
        // DNS to any address: kube-dns pods, but also NodeLocal DNSCache (a link-local
        // address on the host network, which no pod selector matches) and resolvers some
        // CNIs see before service translation. Only port 53.
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta("allow-dns", settings),
            "spec": {
                "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }],
            },
        }),
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta("allow-internet-egress", settings),
            "spec": {
                "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{"to": [egress_v4]}, {"to": [egress_v6]}],
            },
        }),
        json!({
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("default", settings),
            "automountServiceAccountToken": false,
        }),
    ]
}

/// Allows the ingress controller's namespace, and the configured address ranges, to reach
/// `ports` (numbers or named container ports) of every pod in the store namespace. Other
/// stores cannot use it: their egress excludes the cluster's private ranges.
pub fn ingress_allowance(settings: &GuardSettings, ports: &[Value]) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|port| json!({"protocol": "TCP", "port": port}))
        .collect();
    let mut from = vec![
        json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": settings.ingress_namespace}}}),
    ];
    from.extend(
        settings
            .ingress_source_cidrs
            .iter()
            .map(|cidr| json!({"ipBlock": {"cidr": cidr}})),
    );
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta("allow-ingress-controller", settings),
        "spec": {
            "podSelector": {}, "policyTypes": ["Ingress"],
            "ingress": [{"from": from, "ports": ports}],
        },
    })
}

/// The container ports the rendered Ingresses lead to: each backend service port resolved to
/// its Service's `targetPort` (a number or a named port), without duplicates.
pub fn exposed_ports(objects: &[Value]) -> Vec<Value> {
    fn of_kind<'a>(objects: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
        objects
            .iter()
            .filter(move |o| o.get("kind").and_then(Value::as_str) == Some(kind))
    }
    let mut ports: Vec<Value> = Vec::new();
    for ingress in of_kind(objects, "Ingress") {
        let backends = ingress
            .pointer("/spec/rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|rule| rule.pointer("/http/paths").and_then(Value::as_array))
            .flatten()
            .filter_map(|path| path.pointer("/backend/service"));
        for backend in backends {
            let service_name = backend.get("name").and_then(Value::as_str);
            let wanted = backend.get("port");
            let service = of_kind(objects, "Service")
                .find(|s| s.pointer("/metadata/name").and_then(Value::as_str) == service_name);
            let target = service
                .and_then(|s| s.pointer("/spec/ports").and_then(Value::as_array))
                .into_iter()
                .flatten()
                .find(|p| match wanted {
                    Some(w) => {
                        w.get("number").is_some_and(|n| p.get("port") == Some(n))
                            || w.get("name").is_some_and(|n| p.get("name") == Some(n))
                    }
                    None => false,
                })
                .map(|p| p.get("targetPort").or_else(|| p.get("port")).cloned());
            if let Some(Some(port)) = target
                && !ports.contains(&port)
            {
                ports.push(port);
            }
        }
    }
    ports
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
    use k8s_openapi::api::networking::v1::NetworkPolicy;

    use super::*;

    fn settings() -> GuardSettings {
        GuardSettings {
            store_id: "0123456789ab".into(),
            namespace: "store-0123456789ab".into(),
            ingress_namespace: "kube-system".into(),
            ingress_source_cidrs: vec!["0.0.0.0/0".into()],
            footprint: Footprint::default(),
            pod_security: Level::Baseline,
        }
    }

    #[test]
    fn guard_objects_are_valid_typed_objects_with_the_store_label() {
        let s = settings();
        let mut all = guard_objects(&s);
        all.push(namespace(&s));
        all.push(ingress_allowance(&s, &[json!(80), json!("http")]));
        for object in &all {
            let kind = object["kind"].as_str().unwrap_or_default();
            let parsed = match kind {
                "Namespace" => serde_json::from_value::<Namespace>(object.clone()).map(drop),
                "ResourceQuota" => {
                    serde_json::from_value::<ResourceQuota>(object.clone()).map(drop)
                }
                "LimitRange" => serde_json::from_value::<LimitRange>(object.clone()).map(drop),
                "NetworkPolicy" => {
                    serde_json::from_value::<NetworkPolicy>(object.clone()).map(drop)
                }
                "ServiceAccount" => {
                    serde_json::from_value::<ServiceAccount>(object.clone()).map(drop)
                }
                other => panic!("unexpected kind {other}"),
            };
            assert!(parsed.is_ok(), "{kind}: {parsed:?}");
            assert_eq!(object["metadata"]["labels"][STORE_LABEL], "0123456789ab");
        }
        let ns = namespace(&s);
        assert_eq!(
            ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "baseline"
        );
        assert_eq!(
            ns["metadata"]["labels"]["pod-security.kubernetes.io/warn"],
            "restricted"
        );
    }

    #[test]
    fn internet_egress_excludes_private_and_metadata_ranges() {
        let objects = guard_objects(&settings());
        let egress = objects
            .iter()
            .find(|o| o["metadata"]["name"] == "allow-internet-egress")
            .map(|o| o["spec"]["egress"].to_string())
            .unwrap_or_default();
        for range in ["10.0.0.0/8", "169.254.0.0/16", "192.168.0.0/16", "fc00::/7"] {
            assert!(egress.contains(range), "{range} must be excluded: {egress}");
        }
    }

    #[test]
    fn exposed_ports_follow_ingress_to_service_target_ports() {
        let objects = vec![
            json!({"kind": "Ingress", "spec": {"rules": [{"http": {"paths": [
                {"backend": {"service": {"name": "web", "port": {"name": "http"}}}},
                {"backend": {"service": {"name": "api", "port": {"number": 9000}}}},
            ]}}]}}),
            json!({"kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
            json!({"kind": "Service", "metadata": {"name": "api"}, "spec": {"ports": [{"port": 9000}]}}),
        ];
        assert_eq!(exposed_ports(&objects), vec![json!("http"), json!(9000)]);
    }
}
