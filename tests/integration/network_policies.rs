//! The NetworkPolicies every store gets, checked against the traffic real clusters carry
//! (`storeplane_tests::network_policy` decides by the API's NetworkPolicy semantics): DNS
//! through kube-dns pods and through NodeLocal DNSCache (a link-local address on the host
//! network), the ingress controller whether it runs as a pod or on the host network, a cloud
//! load balancer sending to pod IPs; and what must stay closed: other stores, the cluster's
//! private ranges, cloud metadata.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Value, json};
use storeplane::k8s::Footprint;
use storeplane::k8s::guard::{GuardSettings, guard_objects, ingress_allowance};
use storeplane_tests::network_policy::{Endpoint, allowed, labels};

fn settings(store: &str) -> GuardSettings {
    GuardSettings {
        store_id: store.into(),
        namespace: format!("store-{store}"),
        ingress_namespace: "ingress-nginx".into(),
        ingress_source_cidrs: vec!["0.0.0.0/0".into(), "::/0".into()],
        footprint: Footprint::default(),
        pod_security: storeplane::k8s::pod_security::Level::Baseline,
    }
}

/// The policies of two stores, as the pipeline applies them (guard step, then the ingress
/// allowance for the port the WordPress Service targets).
fn policies() -> Vec<Value> {
    let mut all = Vec::new();
    for store in ["aaaaaaaaaaaa", "bbbbbbbbbbbb"] {
        let s = settings(store);
        all.extend(
            guard_objects(&s)
                .into_iter()
                .filter(|o| o["kind"] == "NetworkPolicy"),
        );
        all.push(ingress_allowance(&s, &[json!("http")]));
    }
    all
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

fn store_pod(store: &str, address: &str, app: &str) -> Endpoint {
    let namespace = format!("store-{store}");
    Endpoint {
        ip: ip(address),
        pod: Some((
            labels(&[("kubernetes.io/metadata.name", &namespace)]),
            labels(&[("app.kubernetes.io/component", app)]),
        )),
        namespace: Some(namespace),
        named_ports: BTreeMap::from([("http".to_owned(), 80)]),
    }
}

fn pod(namespace: &str, address: &str, pod_labels: &[(&str, &str)]) -> Endpoint {
    Endpoint {
        ip: ip(address),
        pod: Some((
            labels(&[("kubernetes.io/metadata.name", namespace)]),
            labels(pod_labels),
        )),
        namespace: Some(namespace.to_owned()),
        named_ports: BTreeMap::new(),
    }
}

/// A node, a host-network pod, or anything outside the cluster.
fn outside(address: &str) -> Endpoint {
    Endpoint {
        ip: ip(address),
        pod: None,
        namespace: None,
        named_ports: BTreeMap::new(),
    }
}

#[test]
fn stores_resolve_names_through_kube_dns_and_node_local_dns_cache() {
    let policies = policies();
    let web = store_pod("aaaaaaaaaaaa", "10.42.1.20", "wordpress");
    let kube_dns = pod("kube-system", "10.42.0.5", &[("k8s-app", "kube-dns")]);
    // NodeLocal DNSCache: a DaemonSet on the host network answering on 169.254.20.10.
    let node_local = outside("169.254.20.10");
    for (dns, what) in [(&kube_dns, "kube-dns"), (&node_local, "NodeLocal DNSCache")] {
        for protocol in ["UDP", "TCP"] {
            assert!(
                allowed(&policies, &web, dns, 53, protocol),
                "{what} over {protocol} must be reachable"
            );
        }
    }
}

#[test]
fn the_ingress_controller_reaches_the_store_as_a_pod_on_the_host_network_or_through_a_load_balancer()
 {
    let policies = policies();
    let web = store_pod("aaaaaaaaaaaa", "10.42.1.20", "wordpress");
    let controller_pod = pod(
        "ingress-nginx",
        "10.42.2.7",
        &[("app.kubernetes.io/name", "ingress-nginx")],
    );
    // ingress-nginx with hostNetwork: true connects from the node's address.
    let host_network_controller = outside("192.168.1.10");
    // A cloud load balancer in IP mode (AWS ALB target-type ip) sends from the VPC.
    let load_balancer = outside("10.0.3.7");
    for (from, what) in [
        (&controller_pod, "controller pod"),
        (&host_network_controller, "host-network controller"),
        (&load_balancer, "load balancer"),
    ] {
        assert!(
            allowed(&policies, from, &web, 80, "TCP"),
            "{what} must reach the store's exposed port"
        );
    }
    // Only the exposed port: the database port stays closed to them.
    assert!(!allowed(&policies, &load_balancer, &web, 3306, "TCP"));
}

#[test]
fn other_stores_private_ranges_and_cloud_metadata_stay_closed() {
    let policies = policies();
    let a_web = store_pod("aaaaaaaaaaaa", "10.42.1.20", "wordpress");
    let a_db = store_pod("aaaaaaaaaaaa", "10.42.1.21", "mariadb");
    let b_web = store_pod("bbbbbbbbbbbb", "10.42.3.30", "wordpress");
    assert!(
        allowed(&policies, &a_web, &a_db, 3306, "TCP"),
        "within a store"
    );
    for port in [80, 3306] {
        assert!(
            !allowed(&policies, &b_web, &a_web, port, "TCP"),
            "store b must not reach store a on {port}"
        );
        assert!(!allowed(&policies, &b_web, &a_db, port, "TCP"));
    }
    let metadata = outside("169.254.169.254");
    assert!(!allowed(&policies, &a_web, &metadata, 80, "TCP"));
    let api_server = outside("10.43.0.1");
    assert!(!allowed(&policies, &a_web, &api_server, 443, "TCP"));
    let internet = outside("151.101.1.69");
    assert!(allowed(&policies, &a_web, &internet, 443, "TCP"));
}

#[test]
fn without_source_ranges_only_the_ingress_controllers_namespace_gets_in() {
    let s = GuardSettings {
        ingress_source_cidrs: vec![],
        ..settings("aaaaaaaaaaaa")
    };
    let mut policies: Vec<Value> = guard_objects(&s)
        .into_iter()
        .filter(|o| o["kind"] == "NetworkPolicy")
        .collect();
    policies.push(ingress_allowance(&s, &[json!("http")]));
    let web = store_pod("aaaaaaaaaaaa", "10.42.1.20", "wordpress");
    let controller_pod = pod("ingress-nginx", "10.42.2.7", &[]);
    assert!(allowed(&policies, &controller_pod, &web, 80, "TCP"));
    assert!(!allowed(
        &policies,
        &outside("192.168.1.10"),
        &web,
        80,
        "TCP"
    ));
}
