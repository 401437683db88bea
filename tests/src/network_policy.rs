//! Decides whether a connection is allowed by NetworkPolicies, after the semantics the
//! Kubernetes API defines (networking/v1 `NetworkPolicy` reference and the "Network
//! Policies" concept page): a pod is isolated in a direction once any policy selecting it
//! names that direction in `policyTypes`; then a connection is allowed if any rule of any such
//! policy allows it; a connection needs both the source's egress and the destination's ingress.
//! Rules: no `from`/`to` = every peer; no `ports` = every port; peers are `podSelector`
//! (the policy's namespace), `namespaceSelector` (+ `podSelector`: both must match), or
//! `ipBlock` (`cidr` minus `except`). Pods on the host network, node-local caches and load
//! balancers are peers without pod or namespace labels: only an `ipBlock` can match them.
//! Named ports resolve against the destination pod's container ports.
//!
//! Used to check the guard policies a store gets against the traffic real clusters carry.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

/// One end of a connection.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub ip: IpAddr,
    /// `(namespace labels, pod labels)` for a pod on the pod network; `None` for host-network
    /// pods, nodes and anything outside the cluster.
    pub pod: Option<(Labels, Labels)>,
    /// The namespace whose policies apply to it (for pods).
    pub namespace: Option<String>,
    /// Container ports by name (for resolving named ports of a destination).
    pub named_ports: BTreeMap<String, u16>,
}

pub type Labels = BTreeMap<String, String>;

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn selector_matches(selector: &Value, labels: &Labels) -> bool {
    let match_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e.get("operator").and_then(Value::as_str) {
                Some("In") => labels
                    .get(key)
                    .is_some_and(|v| values.contains(&v.as_str())),
                Some("NotIn") => labels
                    .get(key)
                    .is_none_or(|v| !values.contains(&v.as_str())),
                Some("Exists") => labels.contains_key(key),
                Some("DoesNotExist") => !labels.contains_key(key),
                _ => false,
            }
        });
    match_labels && expressions
}

fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let Some((base, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(base), Ok(bits)) = (base.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, base) {
        (IpAddr::V4(ip), IpAddr::V4(base)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(base) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(base)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(base) & mask
        }
        _ => false,
    }
}

fn peer_matches(peer: &Value, policy_namespace: &str, other: &Endpoint) -> bool {
    if let Some(block) = peer.get("ipBlock") {
        let cidr = block
            .get("cidr")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let excepted = block
            .get("except")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|e| in_cidr(other.ip, e));
        return in_cidr(other.ip, cidr) && !excepted;
    }
    let Some((ns_labels, pod_labels)) = &other.pod else {
        return false; // selectors only ever match pods on the pod network
    };
    let pods_ok = peer
        .get("podSelector")
        .is_none_or(|s| selector_matches(s, pod_labels));
    match peer.get("namespaceSelector") {
        Some(ns) => selector_matches(ns, ns_labels) && pods_ok,
        None => {
            other.namespace.as_deref() == Some(policy_namespace)
                && peer.get("podSelector").is_some()
                && pods_ok
        }
    }
}

fn port_matches(rule_ports: Option<&Value>, port: u16, protocol: &str, dest: &Endpoint) -> bool {
    let Some(ports) = rule_ports.and_then(Value::as_array) else {
        return true;
    };
    if ports.is_empty() {
        return true;
    }
    ports.iter().any(|p| {
        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        let wanted = match p.get("port") {
            None => return proto == protocol,
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Some(Value::String(name)) => dest.named_ports.get(name).copied(),
            Some(_) => None,
        };
        let end = p
            .get("endPort")
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok());
        proto == protocol
            && wanted.is_some_and(|w| match end {
                Some(end) => (w..=end).contains(&port),
                None => w == port,
            })
    })
}

/// `true` when `policies` (every policy of `of`'s namespace) let `of` send (`egress`) to or
/// receive (`!egress`) from `other` on `port`/`protocol`.
fn side_allows(
    policies: &[Value],
    of: &Endpoint,
    other: &Endpoint,
    egress: bool,
    port: u16,
    protocol: &str,
    dest: &Endpoint,
) -> bool {
    let Some((_, pod_labels)) = &of.pod else {
        return true; // not a pod on the pod network: no policy applies to it
    };
    let namespace = of.namespace.as_deref().unwrap_or_default();
    let direction = if egress { "Egress" } else { "Ingress" };
    let applying: Vec<&Value> = policies
        .iter()
        .filter(|p| p.pointer("/metadata/namespace").and_then(Value::as_str) == Some(namespace))
        .filter(|p| {
            p.pointer("/spec/podSelector")
                .is_some_and(|s| selector_matches(s, pod_labels))
        })
        .filter(|p| {
            p.pointer("/spec/policyTypes")
                .and_then(Value::as_array)
                .is_some_and(|t| t.iter().any(|t| t == direction))
        })
        .collect();
    if applying.is_empty() {
        return true;
    }
    let (rules_key, peers_key) = if egress {
        ("egress", "to")
    } else {
        ("ingress", "from")
    };
    applying.iter().any(|policy| {
        policy
            .pointer(&format!("/spec/{rules_key}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|rule| {
                let peers_ok = match rule.get(peers_key).and_then(Value::as_array) {
                    None => true,
                    Some(peers) if peers.is_empty() => true,
                    Some(peers) => peers.iter().any(|p| peer_matches(p, namespace, other)),
                };
                peers_ok && port_matches(rule.get("ports"), port, protocol, dest)
            })
    })
}

/// Whether a connection from `source` to `dest` on `port`/`protocol` is allowed by the
/// policies of both ends (`policies` holds every namespace's policies, each with
/// `metadata.namespace`).
pub fn allowed(
    policies: &[Value],
    source: &Endpoint,
    dest: &Endpoint,
    port: u16,
    protocol: &str,
) -> bool {
    side_allows(policies, source, dest, true, port, protocol, dest)
        && side_allows(policies, dest, source, false, port, protocol, dest)
}
