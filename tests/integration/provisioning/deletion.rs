//! Deletion: while the cluster is down a store stays `deleting` (never falsely `deleted`) and
//! finishes after recovery; deleting a store mid-provisioning cancels its provisioning; a
//! namespace held in `Terminating` by a finalizer is reported to the admin (failure reason,
//! audit event, metric) and the deletion finishes once it is freed.

use std::time::Duration;

use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::Settings;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_while_the_cluster_is_down_waits_and_completes_after_recovery() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "doomed", "woocommerce").await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;

    rig.fake.update(|s| s.outage = true);
    let reply = host
        .delete(&format!("/api/v1/stores/{id}"), Some(&owner.token))
        .await;
    assert_eq!(reply.status.as_u16(), 202, "{}", reply.body);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let store = host
        .get(&format!("/api/v1/stores/{id}"), Some(&owner.token))
        .await
        .body["store"]
        .clone();
    assert_eq!(store["status"], "deleting", "{store}");
    assert!(
        !rig.fake.objects(&format!("store-{id}")).is_empty(),
        "nothing was deleted yet"
    );

    rig.fake.update(|s| s.outage = false);
    wait_status(&host, &owner, &id, "deleted", Duration::from_secs(60)).await;
    assert!(rig.fake.objects(&format!("store-{id}")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_mid_provisioning_cancels_it_and_leaves_nothing_behind() {
    let rig = Rig::new(
        Backend::Postgres,
        Settings {
            ready_after_ms: 2_000,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "short-lived", "medusa").await;
    wait_until(&host, &owner, &id, Duration::from_secs(30), |s| {
        s["progress"]["step"] == "wait"
    })
    .await;

    let reply = host
        .delete(&format!("/api/v1/stores/{id}"), Some(&owner.token))
        .await;
    assert_eq!(reply.status.as_u16(), 202, "{}", reply.body);
    wait_status(&host, &owner, &id, "deleted", Duration::from_secs(60)).await;
    // Give a stale provisioning worker time to misbehave, were it still running.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        rig.fake.objects(&format!("store-{id}")).is_empty(),
        "nothing recreated after deletion"
    );
    assert!(
        rig.fake.execs().is_empty(),
        "no setup ran for a cancelled store"
    );
    let audit = host
        .get(
            &format!("/api/v1/audit?storeId={id}&limit=100"),
            Some(&owner.token),
        )
        .await;
    let actions: Vec<&str> = audit.body["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(!actions.contains(&"store.ready"), "{actions:?}");
    assert!(actions.contains(&"store.deleted"), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_stuck_terminating_is_reported_to_the_admin_and_the_deletion_finishes_once_freed()
 {
    // The store's volume claims carry a finalizer whose CSI driver is gone: the namespace
    // controller cannot finish and the namespace stays Terminating.
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            stuck_finalizer: Some("csi.example.com/detach-protection".into()),
            ..Settings::default()
        },
    )
    .await;
    let host = HostProcess::start(&rig.options().with("DELETION_STUCK_AFTER_MS", "2000")).await;
    let admin = host.user("admin").await;
    let (id, _) = create_store(&host, &admin, "sticky", "woocommerce").await;
    wait_status(&host, &admin, &id, "ready", Duration::from_secs(60)).await;
    let reply = host
        .delete(&format!("/api/v1/stores/{id}"), Some(&admin.token))
        .await;
    assert_eq!(reply.status.as_u16(), 202, "{}", reply.body);

    let stuck = wait_until(&host, &admin, &id, Duration::from_secs(30), |s| {
        s["failureReason"].as_str().is_some()
    })
    .await;
    assert_eq!(stuck["status"], "deleting", "{stuck}");
    let reason = stuck["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("still terminating")
            && reason.contains(
                "finalizers remaining: csi.example.com/detach-protection in 2 resource instances"
            ),
        "{reason}"
    );
    let audit = host
        .get(
            &format!("/api/v1/audit?storeId={id}&eventType=store.deletion_stuck"),
            Some(&admin.token),
        )
        .await;
    assert_eq!(
        audit.body["logs"].as_array().map(Vec::len),
        Some(1),
        "reported once: {}",
        audit.body
    );
    let metrics = host
        .client
        .get(format!("{}/api/v1/metrics", host.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    assert!(
        metrics.contains("storeplane_store_deletions_stuck_total 1"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("stuck"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The operator removes the finalizer: the namespace goes, and so does the store.
    rig.fake.update(|s| s.stuck_finalizer = None);
    let deleted = wait_status(&host, &admin, &id, "deleted", Duration::from_secs(60)).await;
    assert!(deleted["failureReason"].is_null(), "{deleted}");
}
