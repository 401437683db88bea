//! End to end on a real cluster (k3d or kind, with Traefik), run by hand — see the README's
//! "Real-cluster end-to-end test":
//!
//! ```text
//! STOREPLANE_E2E_KUBECONFIG=$HOME/.kube/config STOREPLANE_E2E_INGRESS=http://127.0.0.1:80 \
//!   cargo test -p storeplane-tests --test integration -- --ignored real_cluster
//! ```
//!
//! Creates a WooCommerce, a Medusa and a PrestaShop store, waits until all three are ready
//! (real images pulled, real setup by exec: WP-CLI, Medusa's CLI, PrestaShop's CLI installer),
//! opens the WooCommerce storefront, Medusa's `/health` and the PrestaShop shop (with the
//! name and currency the setup gave it) through the ingress; suspends the WooCommerce store (its storefront stops answering) and resumes it (the
//! same shop answers again); then deletes them all and waits until their namespaces are gone.

use std::time::Duration;

use storeplane_tests::app::{Backend, TestDatabase};
use storeplane_tests::host::{HostOptions, HostProcess};

use super::*;

/// GETs `path` on the ingress with the store's Host header, until it answers 200 (routes take
/// a moment to appear); returns the body.
async fn through_ingress(ingress: &str, host: &str, path: &str) -> String {
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    loop {
        let response = client
            .get(format!("{ingress}{path}"))
            .header("host", host)
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        if let Ok(response) = response
            && response.status().is_success()
        {
            return response.text().await.unwrap_or_default();
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{host}{path} never answered through {ingress}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real cluster: set STOREPLANE_E2E_KUBECONFIG (see the README)"]
async fn real_cluster_runs_every_engine_end_to_end() {
    let kubeconfig = std::env::var("STOREPLANE_E2E_KUBECONFIG").expect(
        "STOREPLANE_E2E_KUBECONFIG must name the kubeconfig of a k3d/kind cluster with Traefik \
         (k3d cluster create storeplane -p 80:80@loadbalancer)",
    );
    let ingress =
        std::env::var("STOREPLANE_E2E_INGRESS").unwrap_or_else(|_| "http://127.0.0.1:80".into());
    let database = TestDatabase::create(Backend::Sqlite).await;
    let data = tempfile::tempdir().expect("tempdir");
    let overlay = storeplane_tests::workspace_root().join("helm/ecommerce-store/values-local.yaml");
    let options = HostOptions::new(
        std::path::Path::new(env!("CARGO_BIN_EXE_storeplane-host")),
        &database.url,
        data.path(),
        std::path::Path::new(&kubeconfig),
    )
    .with("HELM_VALUES_FILE", overlay.display().to_string())
    .with("PROVISIONING_TIMEOUT_MS", "1200000")
    .with("JOB_LEASE_MS", "30000")
    .with("CLUSTER_REQUEST_TIMEOUT_MS", "30000")
    .with("STORE_DOMAIN_SUFFIX", ".localhost");
    let host = HostProcess::start(&options).await;
    let owner = host.user("e2e").await;
    let (woo, _) = create_store(&host, &owner, "e2e-woo", "woocommerce").await;
    let (medusa, _) = create_store(&host, &owner, "e2e-medusa", "medusa").await;
    let created = host
        .post(
            "/api/v1/stores",
            Some(&owner.token),
            serde_json::json!({"name": "e2e-presta", "engine": "prestashop",
                "options": {"shopName": "Chai & Co's Shop", "country": "DE", "currency": "GBP",
                            "demoProducts": false}}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 202, "{}", created.body);
    let presta = created.body["store"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let all = [&woo, &medusa, &presta];
    for id in all {
        let store = wait_until(&host, &owner, id, Duration::from_secs(1200), |s| {
            s["status"] == "ready" || s["status"] == "failed"
        })
        .await;
        assert_eq!(store["status"], "ready", "{store}");
    }

    let storefront = through_ingress(&ingress, &format!("store-{woo}.localhost"), "/").await;
    assert!(
        storefront.contains("woocommerce"),
        "the storefront is a WooCommerce shop"
    );
    let health = through_ingress(&ingress, &format!("store-{medusa}.localhost"), "/health").await;
    assert_eq!(health.trim(), "OK");
    // The home page is served by PrestaShop under the tenant's shop name (set after the
    // installer, which refuses such names), and prices are in the chosen currency, which the
    // German localization pack does not bring.
    let shop = through_ingress(&ingress, &format!("store-{presta}.localhost"), "/").await;
    assert!(
        shop.contains("Chai &amp; Co&#039;s Shop") || shop.contains("Chai &amp; Co's Shop"),
        "{shop}"
    );
    assert!(
        shop.contains("GBP") || shop.contains('£'),
        "prices in GBP: {shop}"
    );

    // Suspended: no pod, so the ingress has no backend (503); resumed: the same shop again.
    for (operation, status) in [("suspend", "suspended"), ("resume", "ready")] {
        let reply = host
            .post(
                &format!("/api/v1/stores/{woo}/{operation}"),
                Some(&owner.token),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 202, "{}", reply.body);
        wait_status(&host, &owner, &woo, status, Duration::from_secs(900)).await;
        if status == "suspended" {
            let answer = reqwest::Client::new()
                .get(format!("{ingress}/"))
                .header("host", format!("store-{woo}.localhost"))
                .timeout(Duration::from_secs(20))
                .send()
                .await
                .map(|r| r.status().as_u16());
            assert!(
                !matches!(answer, Ok(200)),
                "a suspended store does not serve its shop: {answer:?}"
            );
        }
    }
    let storefront = through_ingress(&ingress, &format!("store-{woo}.localhost"), "/").await;
    assert!(
        storefront.contains("woocommerce"),
        "the resumed storefront is the same WooCommerce shop"
    );

    for id in all {
        let reply = host
            .delete(&format!("/api/v1/stores/{id}"), Some(&owner.token))
            .await;
        assert_eq!(reply.status.as_u16(), 202, "{}", reply.body);
    }
    for id in all {
        wait_status(&host, &owner, id, "deleted", Duration::from_secs(600)).await;
    }
}
