//! How a store may be reached, allow-listed: Services are ClusterIP (or headless) and nothing
//! else — no external IPs (the CVE-2020-8554 interception pattern), no ExternalName (an alias
//! to any name, e.g. the API server), no node ports or load balancers; Ingresses have rules
//! only for the store's own hostname (and TLS for it alone), no default backend (it would catch
//! every unclaimed host), the ingress class the host chose, backends only to the store's own
//! Services, and only annotations the operator allows (controllers read snippets and aliases
//! from them). Each refusal names the object, the field and the rule.

use std::collections::HashSet;

use serde_json::Value;

use crate::k8s::Manifest;
use crate::plugins::StoreSpec;

/// Service fields that reach outside the cluster network or alias other names.
const SERVICE_FIELDS_REFUSED: &[&str] = &[
    "externalIPs",
    "externalName",
    "loadBalancerIP",
    "loadBalancerSourceRanges",
    "loadBalancerClass",
    "externalTrafficPolicy",
    "healthCheckNodePort",
];

fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// Problems of the Services and Ingresses in `manifests`.
pub(super) fn check_exposure(
    manifests: &[Manifest],
    spec: &StoreSpec,
    allowed_annotations: &[String],
) -> Vec<String> {
    let mut problems = Vec::new();
    let services: HashSet<&str> = manifests
        .iter()
        .filter(|m| m.kind == "Service")
        .map(|m| m.name.as_str())
        .collect();
    for m in manifests {
        match m.kind.as_str() {
            "Service" => check_service(m, &mut problems),
            "Ingress" => check_ingress(m, spec, &services, allowed_annotations, &mut problems),
            _ => {}
        }
    }
    problems
}

fn check_service(m: &Manifest, problems: &mut Vec<String>) {
    let id = m.id();
    let spec = m.object.get("spec");
    let kind = spec
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if kind != "ClusterIP" {
        problems.push(format!(
            "{id}: spec.type {kind} is not allowed (a store's Services are ClusterIP; it is reached through its Ingress)"
        ));
    }
    for field in SERVICE_FIELDS_REFUSED {
        if spec
            .and_then(|s| s.get(*field))
            .is_some_and(|v| !v.is_null())
        {
            problems.push(format!(
                "{id}: spec.{field} is not allowed (only cluster-internal addressing)"
            ));
        }
    }
    if let Some(ip) = spec
        .and_then(|s| s.get("clusterIP"))
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty() && *ip != "None")
    {
        problems.push(format!(
            "{id}: spec.clusterIP {ip:?} is not allowed (leave it unset, or None for a headless Service)"
        ));
    }
}

fn check_ingress(
    m: &Manifest,
    store: &StoreSpec,
    services: &HashSet<&str>,
    allowed_annotations: &[String],
    problems: &mut Vec<String>,
) {
    let id = m.id();
    let spec = m.object.get("spec");
    let rules = spec
        .and_then(|s| s.get("rules"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if rules.is_empty() {
        problems.push(format!(
            "{id}: spec.rules is empty (an Ingress must route the store's hostname)"
        ));
    }
    if spec.and_then(|s| s.get("defaultBackend")).is_some() {
        problems.push(format!(
            "{id}: spec.defaultBackend is not allowed (it would catch every host no other Ingress claims)"
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        let host = rule.get("host").and_then(Value::as_str).unwrap_or("");
        if host != store.hostname {
            problems.push(format!(
                "{id}: spec.rules[{i}].host {host:?} is not the store's hostname {:?}",
                store.hostname
            ));
        }
        let paths = rule
            .pointer("/http/paths")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (j, path) in paths.iter().enumerate() {
            let at = format!("spec.rules[{i}].http.paths[{j}].backend");
            match path.pointer("/backend/service/name").and_then(Value::as_str) {
                Some(name) if services.contains(name) => {}
                Some(name) => problems.push(format!(
                    "{id}: {at}.service.name {name:?} is not one of the store's Services"
                )),
                None => problems.push(format!(
                    "{id}: {at} must name one of the store's Services (resource backends are not allowed)"
                )),
            }
        }
    }
    for (i, tls) in spec
        .and_then(|s| s.get("tls"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for host in strings(tls.get("hosts")) {
            if host != store.hostname {
                problems.push(format!(
                    "{id}: spec.tls[{i}].hosts has {host:?}, not only the store's hostname {:?}",
                    store.hostname
                ));
            }
        }
    }
    if let Some(class) = &store.ingress_class {
        let given = spec
            .and_then(|s| s.get("ingressClassName"))
            .and_then(Value::as_str);
        if given != Some(class.as_str()) {
            problems.push(format!(
                "{id}: spec.ingressClassName {given:?} is not the ingress class the host chose ({class:?})"
            ));
        }
    }
    for key in m
        .object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        if !allowed_annotations.iter().any(|a| a == key) {
            problems.push(format!(
                "{id}: metadata.annotations {key:?} is not allowed (the operator allows: {})",
                if allowed_annotations.is_empty() {
                    "none".to_owned()
                } else {
                    allowed_annotations.join(", ")
                }
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn manifest(value: Value) -> Manifest {
        Manifest::from_value(value).unwrap_or_else(|err| panic!("{err}"))
    }

    fn store() -> StoreSpec {
        crate::plugins::samples::sample_spec("0123456789ab", json!({}), true)
    }

    #[test]
    fn services_reach_nothing_outside_the_cluster_network() {
        let hostile = [
            manifest(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "intercept"},
                "spec": {"externalIPs": ["10.43.0.10", "8.8.8.8"], "ports": [{"port": 53}]}}),
            ),
            manifest(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "alias"},
                "spec": {"type": "ExternalName", "externalName": "kubernetes.default.svc"}}),
            ),
            manifest(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "open"},
                "spec": {"type": "NodePort", "clusterIP": "10.43.0.99", "ports": [{"port": 80}]}}),
            ),
        ];
        assert_eq!(
            check_exposure(&hostile, &store(), &[]),
            [
                "Service/intercept: spec.externalIPs is not allowed (only cluster-internal addressing)",
                "Service/alias: spec.type ExternalName is not allowed (a store's Services are ClusterIP; it is reached through its Ingress)",
                "Service/alias: spec.externalName is not allowed (only cluster-internal addressing)",
                "Service/open: spec.type NodePort is not allowed (a store's Services are ClusterIP; it is reached through its Ingress)",
                "Service/open: spec.clusterIP \"10.43.0.99\" is not allowed (leave it unset, or None for a headless Service)",
            ]
        );
        let headless = [manifest(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "db"}, "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}}))];
        assert!(check_exposure(&headless, &store(), &[]).is_empty());
    }

    #[test]
    fn ingresses_route_only_the_stores_hostname_to_its_own_services() {
        let s = store();
        let web = manifest(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {}}),
        );
        let hostile = manifest(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "grab", "annotations": {
                "nginx.ingress.kubernetes.io/configuration-snippet": "proxy_pass http://10.0.0.1;"}},
            "spec": {"ingressClassName": "nginx",
                "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
                "tls": [{"hosts": [s.hostname.clone(), "*.stores.example.com"]}],
                "rules": [{"host": "other-shop.stores.example.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "kubernetes", "port": {"number": 443}}}}]}}]}}),
        );
        let problems = check_exposure(&[web, hostile], &s, &[]);
        for expected in [
            "Ingress/grab: spec.defaultBackend is not allowed",
            "Ingress/grab: spec.rules[0].host \"other-shop.stores.example.com\" is not the store's hostname",
            "Ingress/grab: spec.rules[0].http.paths[0].backend.service.name \"kubernetes\" is not one of the store's Services",
            "Ingress/grab: spec.tls[0].hosts has \"*.stores.example.com\"",
            "Ingress/grab: spec.ingressClassName Some(\"nginx\") is not the ingress class the host chose (\"traefik\")",
            "Ingress/grab: metadata.annotations \"nginx.ingress.kubernetes.io/configuration-snippet\" is not allowed (the operator allows: none)",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "missing {expected:?} in {problems:#?}"
            );
        }
        let allowed = ["cert-manager.io/cluster-issuer".to_owned()];
        let fine = manifest(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "ok", "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}},
            "spec": {"ingressClassName": "traefik", "tls": [{"hosts": [s.hostname.clone()]}],
                "rules": [{"host": s.hostname.clone(), "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
        );
        let web = manifest(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {}}),
        );
        assert_eq!(
            check_exposure(&[web, fine], &s, &allowed),
            Vec::<String>::new()
        );
    }
}
