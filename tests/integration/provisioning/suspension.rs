//! Suspending and resuming stores of every built-in engine against the fake cluster: workloads at zero
//! replicas and the compute quota released while suspended, the data kept (the same claims),
//! the store still counted against its owner's limit; resumed to `ready` through the same
//! readiness checks, with its workloads and quota back.

use std::time::Duration;

use serde_json::json;
use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::Settings;
use storeplane_tests::host::HostProcess;

use super::store_upgrade::{claim_uids, events_of, object_names, operate};
use super::*;

/// `spec.replicas` of every Deployment and StatefulSet of the store.
fn replicas(rig: &Rig, id: &str) -> Vec<i64> {
    rig.fake
        .objects(&format!("store-{id}"))
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
        .map(|o| o["spec"]["replicas"].as_i64().unwrap_or(1))
        .collect()
}

fn quota_hard(rig: &Rig, id: &str) -> serde_json::Value {
    rig.fake
        .object("v1", "ResourceQuota", &format!("store-{id}"), "store-quota")
        .map(|q| q["spec"]["hard"].clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_stores_keep_their_data_and_release_compute_until_resumed() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = HostProcess::start(&rig.options().with("MAX_STORES_PER_USER", "3")).await;
    let owner = host.user("owner").await;
    let mut stores = Vec::new();
    for engine in ["woocommerce", "medusa", "prestashop"] {
        let (id, _) = create_store(&host, &owner, &format!("{engine}-shop"), engine).await;
        wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
        stores.push(id);
    }
    let before: Vec<_> = stores
        .iter()
        .map(|id| {
            (
                claim_uids(&rig, id),
                object_names(&rig, id),
                quota_hard(&rig, id),
                rig.secret_values(id),
            )
        })
        .collect();

    for id in &stores {
        let reply = operate(&host, &owner, id, "suspend", json!({})).await;
        assert_eq!(reply.status.as_u16(), 202, "{}", reply.body);
        assert_eq!(reply.body["store"]["status"], "suspending");
        wait_status(&host, &owner, id, "suspended", Duration::from_secs(30)).await;
        // A second request finds nothing to do.
        let again = operate(&host, &owner, id, "suspend", json!({})).await;
        assert_eq!(again.status.as_u16(), 409, "{}", again.body);
    }
    for (id, (claims, objects, quota, _)) in stores.iter().zip(&before) {
        assert!(
            replicas(&rig, id).iter().all(|r| *r == 0),
            "no workload runs: {:?}",
            replicas(&rig, id)
        );
        assert_eq!(&claim_uids(&rig, id), claims, "the same claims: data kept");
        assert_eq!(&object_names(&rig, id), objects, "nothing deleted");
        let hard = quota_hard(&rig, id);
        for key in [
            "requests.cpu",
            "limits.cpu",
            "requests.memory",
            "limits.memory",
            "pods",
        ] {
            assert_eq!(hard[key], "0", "{key} released: {hard}");
        }
        assert_eq!(
            hard["requests.storage"], quota["requests.storage"],
            "storage kept: {hard}"
        );
        // `suspended` is recorded once the workloads are scaled to zero; a real kubelet then
        // takes up to the pods' grace period to stop them, so their going is awaited, not
        // assumed at that moment.
        let pods = |rig: &Rig| {
            rig.fake
                .objects(&format!("store-{id}"))
                .into_iter()
                .filter(|o| o["kind"] == "Pod")
                .count()
        };
        let started = std::time::Instant::now();
        while pods(&rig) > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(150),
                "its pods never went"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Suspended stores still count against the owner's limit of 3.
    let third = host
        .post(
            "/api/v1/stores",
            Some(&owner.token),
            json!({"name": "third", "engine": "woocommerce"}),
        )
        .await;
    assert_eq!(third.status.as_u16(), 429, "{}", third.body);
    assert_eq!(third.body["error"]["code"], "STORE_LIMIT_EXCEEDED");

    for id in &stores {
        let reply = operate(&host, &owner, id, "resume", json!({})).await;
        assert_eq!(reply.status.as_u16(), 202, "{}", reply.body);
        wait_status(&host, &owner, id, "ready", Duration::from_secs(60)).await;
    }
    for (id, (claims, objects, quota, secrets)) in stores.iter().zip(&before) {
        assert!(replicas(&rig, id).iter().all(|r| *r >= 1));
        assert_eq!(
            &claim_uids(&rig, id),
            claims,
            "the same claims after resuming"
        );
        assert_eq!(&object_names(&rig, id), objects);
        assert_eq!(&quota_hard(&rig, id), quota, "the quota is back");
        assert_eq!(&rig.secret_values(id), secrets);
        for action in ["store.suspended", "store.resumed"] {
            assert_eq!(
                events_of(&host, &owner, id, action).await.len(),
                1,
                "{action}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_ready_stores_suspend_and_only_suspended_ones_resume() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let stranger = host.user("stranger").await;
    let (id, _) = create_store(&host, &owner, "shop", "woocommerce").await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let resume = operate(&host, &owner, &id, "resume", json!({})).await;
    assert_eq!(resume.status.as_u16(), 409, "{}", resume.body);
    assert_eq!(resume.body["error"]["code"], "INVALID_STATE_TRANSITION");
    let theirs = operate(&host, &stranger, &id, "suspend", json!({})).await;
    assert_eq!(theirs.status.as_u16(), 403, "{}", theirs.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspending_and_resuming_finish_after_the_host_is_killed_midway() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let mut host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "shop", "medusa").await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let claims = claim_uids(&rig, &id);
    // Every request is slow, so each job is caught in the middle of its steps.
    rig.fake.update(|s| s.latency_ms = 150);
    for (operation, step, status) in [
        ("suspend", "scale-down", "suspended"),
        ("resume", "scale-up", "ready"),
    ] {
        let reply = operate(&host, &owner, &id, operation, json!({})).await;
        assert_eq!(reply.status.as_u16(), 202, "{}", reply.body);
        wait_until(&host, &owner, &id, Duration::from_secs(60), |s| {
            s["currentStep"] == step
        })
        .await;
        host.kill();
        host = rig.host().await;
        wait_status(&host, &owner, &id, status, Duration::from_secs(90)).await;
        let expected = if status == "suspended" { 0 } else { 1 };
        assert!(
            replicas(&rig, &id).iter().all(|r| *r == expected),
            "{operation}: {:?}",
            replicas(&rig, &id)
        );
        assert_eq!(
            claim_uids(&rig, &id),
            claims,
            "{operation}: the same claims"
        );
    }
    assert_ne!(quota_hard(&rig, &id)["pods"], "0", "the quota is back");
}
