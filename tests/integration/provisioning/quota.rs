//! Quotas as the real API server enforces them (the fake's admission and quota controller):
//! a store's quota is sized from what its chart renders, so a large WooCommerce store fits;
//! no pod or claim is created before the quota controller has filled the quota's status (only
//! then is it enforced); a quota whose usage lags delays provisioning instead of failing it;
//! a pod that admission refuses fails the store at once with the API server's reason.

use std::time::Duration;

use serde_json::{Value, json};
use storeplane_tests::app::{Api, Backend, TestUser};
use storeplane_tests::fake_kube::Settings;

use super::*;

async fn create_sized(api: &Api, user: &TestUser, name: &str, engine: &str, size: &str) -> String {
    let reply = api
        .post(
            "/api/v1/stores",
            Some(&user.token),
            json!({"name": name, "engine": engine, "options": {"size": size}}),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 202, "create {name}: {}", reply.body);
    reply.body["store"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn quota_of(rig: &Rig, store: &str) -> Value {
    rig.fake
        .object(
            "v1",
            "ResourceQuota",
            &format!("store-{store}"),
            "store-quota",
        )
        .expect("the store has its quota")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_stores_of_every_engine_fit_the_quota_sized_from_their_chart() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let woo = create_sized(&host, &owner, "big-woo", "woocommerce", "large").await;
    let medusa = create_sized(&host, &owner, "big-medusa", "medusa", "large").await;
    let presta = create_sized(&host, &owner, "big-presta", "prestashop", "large").await;
    for id in [&woo, &medusa, &presta] {
        let store = wait_until(&host, &owner, id, Duration::from_secs(60), |s| {
            s["status"] == "ready" || s["status"] == "failed"
        })
        .await;
        assert_eq!(store["status"], "ready", "{store}");
    }
    // WordPress 2 CPU + the WP-CLI sidecar 500m + MariaDB 2 CPU: more than the fixed 4 CPU
    // the quota had before it was sized from the chart.
    let hard = &quota_of(&rig, &woo)["spec"]["hard"];
    assert_eq!(hard["limits.cpu"], "4500m", "{hard}");
    assert_eq!(hard["limits.memory"], "4352Mi", "{hard}");
    assert_eq!(hard["requests.storage"], "20Gi", "{hard}");
    // The pods exist, created by the controllers through admission, within the quota.
    let pods: Vec<Value> = rig
        .fake
        .objects(&format!("store-{woo}"))
        .into_iter()
        .filter(|o| o["kind"] == "Pod")
        .collect();
    assert_eq!(pods.len(), 2, "{pods:?}");
    let status = &quota_of(&rig, &woo)["status"];
    assert_eq!(status["hard"]["limits.cpu"], "4500m", "{status}");
    // PrestaShop's own chart, counted the same way: 2 CPU + 2 CPU of MariaDB; its document
    // root (16Gi) and database (10Gi). A Recreate Deployment adds no extra pod.
    let hard = &quota_of(&rig, &presta)["spec"]["hard"];
    assert_eq!(hard["limits.cpu"], "4", "{hard}");
    assert_eq!(hard["limits.memory"], "6Gi", "{hard}");
    assert_eq!(hard["requests.storage"], "26Gi", "{hard}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_workload_is_created_before_the_quota_is_enforced() {
    // A busy kube-controller-manager: quotas get their status 1.5 s after creation; until
    // then the API server admits everything in the namespace unchecked.
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            quota_sync_ms: 1500,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (woo, _) = create_store(&host, &owner, "patient", "woocommerce").await;
    let (medusa, _) = create_store(&host, &owner, "patient-too", "medusa").await;
    for id in [&woo, &medusa] {
        let store = wait_status(&host, &owner, id, "ready", Duration::from_secs(60)).await;
        assert_eq!(store["status"], "ready");
    }
    let unenforced = rig
        .fake
        .state
        .unenforced_pods
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    assert!(
        unenforced.is_empty(),
        "created while the quota was not enforced: {unenforced:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_whose_usage_lags_delays_the_store_instead_of_failing_it() {
    // status.hard is filled at once, status.used 1 s later: meanwhile the API server refuses
    // every claim and pod with 403 "status unknown for quota".
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            quota_sync_ms: 0,
            quota_used_lag_ms: 1000,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "lagging", "woocommerce").await;
    let store = wait_until(&host, &owner, &id, Duration::from_secs(60), |s| {
        s["status"] == "ready" || s["status"] == "failed"
    })
    .await;
    assert_eq!(store["status"], "ready", "{store}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_admission_refuses_fails_the_store_at_once_with_the_api_servers_reason() {
    // The cluster's own policy puts a 1-CPU quota in every namespace: the large WordPress
    // pod (2.5 CPU) is refused by quota admission; the ReplicaSet reports FailedCreate.
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            namespace_quota: Some(json!({"limits.cpu": "1"})),
            ..Settings::default()
        },
    )
    .await;
    // Without the ReplicaFailure condition the host would wait for the whole timeout.
    let host = HostProcess::start(&rig.options().with("PROVISIONING_TIMEOUT_MS", "120000")).await;
    let owner = host.user("owner").await;
    let id = create_sized(&host, &owner, "too-big", "woocommerce", "large").await;
    let failed = wait_status(&host, &owner, &id, "failed", Duration::from_secs(30)).await;
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("cannot create its pods")
            && reason.contains("exceeded quota: cluster-policy")
            && reason.contains("limited: limits.cpu=1"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_above_the_hosts_per_store_ceiling_is_refused_naming_cpu_and_memory() {
    // The operator allows 4 CPU per store: a small store fits, a large WooCommerce store
    // (4.5 CPU) is refused before anything of it is applied.
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = HostProcess::start(&rig.options().with("STORE_MAX_CPU", "4")).await;
    let owner = host.user("owner").await;
    let small = create_sized(&host, &owner, "fits", "woocommerce", "small").await;
    let large = create_sized(&host, &owner, "too-large", "woocommerce", "large").await;
    wait_status(&host, &owner, &small, "ready", Duration::from_secs(60)).await;
    let failed = wait_status(&host, &owner, &large, "failed", Duration::from_secs(60)).await;
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("the store needs CPU 4500m and memory 4352Mi")
            && reason.contains("CPU 4500m > 4"),
        "{reason}"
    );
    let workloads = rig
        .fake
        .objects(&format!("store-{large}"))
        .into_iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
        .count();
    assert_eq!(workloads, 0, "nothing of the refused store was applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulset_that_cannot_create_its_claim_fails_the_store_at_once() {
    // The cluster's own policy allows 1 GiB of storage per namespace: PostgreSQL's claim
    // (2 GiB) is refused, which its StatefulSet can report only as a FailedCreate event.
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            namespace_quota: Some(json!({"requests.storage": "1Gi"})),
            ..Settings::default()
        },
    )
    .await;
    let host = HostProcess::start(&rig.options().with("PROVISIONING_TIMEOUT_MS", "120000")).await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "no-room-for-data", "medusa").await;
    let failed = wait_status(&host, &owner, &id, "failed", Duration::from_secs(30)).await;
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(
            "-postgresql cannot create its pods (FailedCreate): create Claim data-store-"
        ) && reason.contains("exceeded quota: cluster-policy, requested: requests.storage=2Gi"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_count_quota_refuses_the_apply_and_fails_the_store_naming_it() {
    // The cluster allows no Deployments in tenant namespaces (an object-count quota).
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            namespace_quota: Some(json!({"count/deployments.apps": "0"})),
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "counted", "woocommerce").await;
    let failed = wait_status(&host, &owner, &id, "failed", Duration::from_secs(30)).await;
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("is forbidden: exceeded quota: cluster-policy, requested: count/deployments.apps=1, used: count/deployments.apps=0, limited: count/deployments.apps=0"),
        "{reason}"
    );
}
