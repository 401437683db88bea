//! How traffic finds a store's containers, port by port, checked where a name must match:
//! an Ingress backend's port must be one its Service has (else the ingress controller has
//! nowhere to send the request and answers 503); a Service's named `targetPort` must be a
//! port some pod it selects declares under that name (else the EndpointSlice controller lists
//! no endpoint for it, and the Service sends nothing there); a probe's named port must be
//! one its container declares (else the kubelet cannot run the probe, and the container is
//! never ready). Numbered target and probe ports are not checked: a program may listen on a
//! port its container does not declare. Each refusal names the object, the field and what
//! exists.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::listed;
use crate::k8s::Manifest;

/// A workload's pod labels and the names of its containers' ports.
struct Pods<'a> {
    labels: BTreeMap<String, String>,
    port_names: BTreeSet<&'a str>,
}

fn named_ports(container: &Value) -> BTreeMap<&str, i64> {
    container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["name"].as_str()?, p["containerPort"].as_i64()?)))
        .collect()
}

/// Every port reference in `manifests` that cannot be followed.
pub(super) fn check_ports(manifests: &[Manifest]) -> Vec<String> {
    let mut problems = Vec::new();
    let pods: Vec<Pods<'_>> = manifests
        .iter()
        .filter_map(|m| {
            let spec = m.pod_spec()?;
            let labels = m
                .pod_template()
                .and_then(|t| t.metadata)
                .and_then(|md| md.labels)
                .unwrap_or_default();
            let port_names = ["initContainers", "containers"]
                .iter()
                .flat_map(|list| spec[*list].as_array().into_iter().flatten())
                .flat_map(|c| named_ports(c).into_keys())
                .collect();
            check_probes(&m.id(), spec, &mut problems);
            Some(Pods { labels, port_names })
        })
        .collect();
    for service in manifests.iter().filter(|m| m.kind == "Service") {
        check_target_ports(service, &pods, &mut problems);
    }
    for ingress in manifests.iter().filter(|m| m.kind == "Ingress") {
        check_backends(ingress, manifests, &mut problems);
    }
    problems
}

fn check_probes(id: &str, pod: &Value, problems: &mut Vec<String>) {
    for list in ["initContainers", "containers"] {
        for container in pod[list].as_array().into_iter().flatten() {
            let ports = named_ports(container);
            let name = container["name"].as_str().unwrap_or_default();
            for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                for handler in ["httpGet", "tcpSocket", "grpc"] {
                    let Some(port) = container
                        .pointer(&format!("/{probe}/{handler}/port"))
                        .and_then(Value::as_str)
                    else {
                        continue;
                    };
                    if port.parse::<u16>().is_err() && !ports.contains_key(port) {
                        problems.push(format!(
                            "{id}: {list} {name:?}: {probe}.{handler}.port {port:?} is no port the container declares (named: {}): the kubelet could not probe it and the container would never be ready",
                            listed(ports.keys().copied())
                        ));
                    }
                }
            }
        }
    }
}

fn check_target_ports(service: &Manifest, pods: &[Pods<'_>], problems: &mut Vec<String>) {
    let Some(selector) = service.selector().filter(|s| !s.is_empty()) else {
        return;
    };
    let selected: Vec<&Pods<'_>> = pods
        .iter()
        .filter(|p| selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
        .collect();
    if selected.is_empty() {
        return; // reported as "selects no rendered workload"
    }
    let service_ports = service
        .object
        .pointer("/spec/ports")
        .and_then(Value::as_array);
    for (index, port) in service_ports.into_iter().flatten().enumerate() {
        let Some(target) = port["targetPort"].as_str() else {
            continue;
        };
        if target.parse::<u16>().is_ok() {
            continue;
        }
        if !selected.iter().any(|p| p.port_names.contains(target)) {
            let names: Vec<&str> = selected
                .iter()
                .flat_map(|p| p.port_names.iter().copied())
                .collect();
            problems.push(format!(
                "{}: spec.ports[{index}].targetPort {target:?} is no port the pods it selects declare (named: {}): the Service would have no endpoint for it",
                service.id(),
                listed(names)
            ));
        }
    }
}

fn check_backends(ingress: &Manifest, manifests: &[Manifest], problems: &mut Vec<String>) {
    let rules = ingress
        .object
        .pointer("/spec/rules")
        .and_then(Value::as_array);
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        let paths = rule.pointer("/http/paths").and_then(Value::as_array);
        for (j, path) in paths.into_iter().flatten().enumerate() {
            let Some(name) = path
                .pointer("/backend/service/name")
                .and_then(Value::as_str)
            else {
                continue;
            };
            // A backend to a Service the chart does not render is refused by `exposure`.
            let Some(service) = manifests
                .iter()
                .find(|m| m.kind == "Service" && m.name == name)
            else {
                continue;
            };
            let ports: Vec<&Value> = service
                .object
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            let port = path.pointer("/backend/service/port");
            let (wanted, found) = match (
                port.and_then(|p| p.get("number")).and_then(Value::as_i64),
                port.and_then(|p| p.get("name")).and_then(Value::as_str),
            ) {
                (Some(number), _) => (
                    number.to_string(),
                    ports.iter().any(|p| p["port"].as_i64() == Some(number)),
                ),
                (None, Some(port_name)) => (
                    format!("{port_name:?}"),
                    ports.iter().any(|p| p["name"].as_str() == Some(port_name)),
                ),
                (None, None) => continue,
            };
            if !found {
                let has: Vec<String> = ports
                    .iter()
                    .map(|p| match (p["name"].as_str(), p["port"].as_i64()) {
                        (Some(n), Some(number)) => format!("{number} ({n})"),
                        (None, Some(number)) => number.to_string(),
                        _ => "?".to_owned(),
                    })
                    .collect();
                problems.push(format!(
                    "{}: spec.rules[{i}].http.paths[{j}].backend.service.port {wanted} is no port of Service {name:?} (ports: {}): the ingress controller would answer 503",
                    ingress.id(),
                    listed(has.iter().map(String::as_str))
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Vec<String> {
        check_ports(&crate::k8s::manifest::parse_documents(yaml).unwrap_or_else(|e| panic!("{e}")))
    }

    fn chart(probe_port: &str, target_port: &str, backend_port: &str) -> String {
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: i
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /, port: {probe_port}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{name: web, port: 80, targetPort: {target_port}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web}}
spec:
  rules:
  - host: shop.example.com
    http:
      paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {backend_port}}}}}}}]
"
        )
    }

    #[test]
    fn ports_that_match_by_name_or_number_pass() {
        assert_eq!(
            check(&chart("http", "http", "{number: 80}")),
            Vec::<String>::new()
        );
        assert_eq!(
            check(&chart("8080", "8080", "{name: web}")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn names_that_match_nothing_are_reported_with_what_exists() {
        assert_eq!(
            check(&chart("healthz", "https", "{number: 8080}")),
            [
                r#"Deployment/web: containers "web": readinessProbe.httpGet.port "healthz" is no port the container declares (named: http): the kubelet could not probe it and the container would never be ready"#,
                r#"Service/web: spec.ports[0].targetPort "https" is no port the pods it selects declare (named: http): the Service would have no endpoint for it"#,
                r#"Ingress/web: spec.rules[0].http.paths[0].backend.service.port 8080 is no port of Service "web" (ports: 80 (web)): the ingress controller would answer 503"#,
            ]
        );
        assert_eq!(
            check(&chart("http", "http", "{name: http}")),
            [
                r#"Ingress/web: spec.rules[0].http.paths[0].backend.service.port "http" is no port of Service "web" (ports: 80 (web)): the ingress controller would answer 503"#,
            ]
        );
    }
}
