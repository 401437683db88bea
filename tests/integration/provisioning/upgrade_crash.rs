//! Upgrades survive crashes: the host is killed with SIGKILL at three points of upgrading
//! three stores (new objects applied, an upgrade step running, upgrade steps done) and
//! restarted; every store ends `ready` on exactly one version — the new one — with each
//! upgrade step run once, its secrets and data kept.

use std::time::{Duration, Instant};

use serde_json::json;
use storeplane::lifecycle::record::UpgradeStep;
use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::Settings;
use storeplane_tests::guests;
use storeplane_tests::host::HostProcess;

use super::store_upgrade::{claim_uids, events_of, operate};
use super::*;

/// Waits until `condition` holds (checked every 20 ms, for at most a minute).
async fn until<F: std::future::Future<Output = bool>>(what: &str, condition: impl Fn() -> F) {
    let started = Instant::now();
    while !condition().await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never reached: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Upgrade steps each store finished, recorded or not: completed execs beyond `before`.
fn finished(rig: &Rig, stores: &[(String, usize)]) -> Vec<usize> {
    stores
        .iter()
        .map(|(id, before)| rig.completed_execs(id).len().saturating_sub(*before))
        .collect()
}

/// SIGKILLs the host once every upgrade step that finished is recorded (execs are held from
/// finishing meanwhile, see `crash.rs`), then starts a new one.
async fn kill_and_restart(
    rig: &Rig,
    mut host: HostProcess,
    stores: &[(String, usize)],
) -> HostProcess {
    rig.fake.update(|s| s.hold_execs = true);
    until("finished upgrade steps recorded", || async {
        let done = finished(rig, stores);
        for ((id, _), done) in stores.iter().zip(done) {
            let record = rig.record(id).await;
            let recorded = match &record.upgrade {
                Some(upgrade) => upgrade.steps_done.len(),
                None => usize::MAX,
            };
            if recorded < done {
                return false;
            }
        }
        true
    })
    .await;
    host.kill();
    rig.fake.update(|s| s.hold_execs = false);
    rig.host().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_hosts_finish_every_upgrade_on_exactly_one_version() {
    let settings = Settings {
        ready_after_ms: 400,
        default_exec_delay_ms: 150,
        ..Settings::default()
    };
    let rig = Rig::new(Backend::Postgres, settings).await;
    let mut host = rig.host().await;
    let admin = host.user("admin").await;
    let mut ids = Vec::new();
    for (i, engine) in ["woocommerce", "medusa", "woocommerce"].iter().enumerate() {
        ids.push(
            create_store(&host, &admin, &format!("shop-{i}"), engine)
                .await
                .0,
        );
    }
    for id in &ids {
        wait_status(&host, &admin, id, "ready", Duration::from_secs(90)).await;
    }
    upload_and_activate(&host, &admin, guests::WOO_UPGRADE, "woocommerce/0.3.0").await;
    upload_and_activate(&host, &admin, guests::MEDUSA_UPGRADE, "medusa/0.3.0").await;
    let kept: Vec<_> = ids
        .iter()
        .map(|id| (rig.secret_values(id), claim_uids(&rig, id)))
        .collect();
    let stores: Vec<(String, usize)> = ids
        .iter()
        .map(|id| (id.clone(), rig.completed_execs(id).len()))
        .collect();
    for id in &ids {
        let reply = operate(&host, &admin, id, "upgrade", json!({})).await;
        assert_eq!(reply.status.as_u16(), 202, "{}", reply.body);
    }

    // 1. Killed once a store's new objects are applied (its workloads rolling).
    until("new objects applied", || async {
        for id in &ids {
            if rig
                .record(id)
                .await
                .upgrade
                .is_some_and(|u| u.done.contains(&UpgradeStep::ApplyNew))
            {
                return true;
            }
        }
        false
    })
    .await;
    host = kill_and_restart(&rig, host, &stores).await;

    // 2. Killed while an upgrade step is running (the exec never completes).
    rig.fake.update(|s| s.hold_execs = true);
    let in_flight = |rig: &Rig| {
        rig.fake
            .execs()
            .iter()
            .any(|e| !e.completed && ids.iter().any(|id| e.namespace == format!("store-{id}")))
    };
    until("an upgrade step in flight", || async { in_flight(&rig) }).await;
    host = kill_and_restart(&rig, host, &stores).await;

    // 3. Killed again after upgrade steps completed.
    until("three upgrade steps done", || async {
        finished(&rig, &stores).iter().sum::<usize>() >= 3
    })
    .await;
    host = kill_and_restart(&rig, host, &stores).await;

    for ((id, before), (secrets, claims)) in stores.iter().zip(&kept) {
        let store = wait_until(&host, &admin, id, Duration::from_secs(120), |s| {
            s["status"] == "ready" && s["pluginVersion"] == "0.3.0"
        })
        .await;
        assert!(store["failureReason"].is_null(), "{store}");
        let record = rig.record(id).await;
        assert!(record.upgrade.is_none(), "no upgrade left open");
        assert_eq!(
            record.plan.map(|p| p.plugin_version).as_deref(),
            Some("0.3.0"),
            "one version: the store's record and its status agree"
        );
        let steps: Vec<String> = events_of(&host, &admin, id, "store.upgrade_step")
            .await
            .iter()
            .map(|e| e["details"]["step"].as_str().unwrap_or_default().to_owned())
            .collect();
        let mut unique = steps.clone();
        unique.dedup();
        assert_eq!(steps, unique, "each upgrade step recorded once: {steps:?}");
        assert!(!steps.is_empty());
        assert_eq!(
            rig.completed_execs(id).len() - before,
            steps.len(),
            "each upgrade step ran once"
        );
        assert_eq!(&rig.secret_values(id), secrets);
        assert_eq!(&claim_uids(&rig, id), claims);
    }
}
