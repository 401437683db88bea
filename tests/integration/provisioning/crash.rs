//! Crashes and replicas: the host is killed with SIGKILL at several points of provisioning and
//! restarted; two hosts share one PostgreSQL database. Every store still reaches `ready`, no
//! setup step runs twice, no object is created twice, each store is provisioned exactly once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::Settings;

use super::*;

/// Waits until `condition` holds on the fake cluster.
async fn until(rig: &Rig, what: &str, condition: impl Fn(&Rig) -> bool) {
    let started = Instant::now();
    while !condition(rig) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never reached: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// No object but pods was created more than once, and each store's setup commands each
/// completed exactly once, in the plan's order.
async fn assert_exactly_once(rig: &Rig, stores: &[String]) {
    let duplicated: BTreeMap<String, u32> = rig
        .fake
        .creations()
        .into_iter()
        .filter(|(key, count)| *count > 1 && !key.starts_with("Pod "))
        .collect();
    assert!(
        duplicated.is_empty(),
        "objects created more than once: {duplicated:?}"
    );
    for id in stores {
        let plan = rig.record(id).await.plan.expect("plan").plan;
        let planned: Vec<Vec<String>> = plan.setup.iter().map(|s| s.command.clone()).collect();
        assert_eq!(
            rig.completed_execs(id),
            planned,
            "setup of {id} ran exactly once, in order"
        );
    }
}

/// SIGKILLs the host at a point where every setup command that finished is already recorded,
/// then starts a new one.
///
/// A command that finishes in the instant between its exit and the host's write is run again
/// after a crash: setup steps are idempotent for that reason (see the WIT contract), and no
/// kill point can rule that instant out on its own. So commands are held from finishing while
/// the host catches up, and "ran exactly once" then checks that nothing recorded is repeated.
async fn kill_and_restart(rig: &Rig, mut host: HostProcess, stores: &[String]) -> HostProcess {
    rig.fake.update(|s| s.hold_execs = true);
    let started = Instant::now();
    loop {
        let mut behind = Vec::new();
        for id in stores {
            let mut finished = rig.completed_execs(id);
            finished.dedup();
            if rig.record(id).await.setup_done.len() < finished.len() {
                behind.push(id.clone());
            }
        }
        if behind.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "finished setup steps never recorded for {behind:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    host.kill();
    rig.fake.update(|s| s.hold_execs = false);
    rig.host().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_hosts_resume_every_store_without_repeating_work() {
    let settings = Settings {
        ready_after_ms: 400,
        default_exec_delay_ms: 150,
        ..Settings::default()
    };
    let rig = Rig::new(Backend::Postgres, settings).await;
    let mut host = rig.host().await;
    let owner = host.user("owner").await;
    let mut stores = Vec::new();
    for (i, engine) in ["woocommerce", "medusa", "woocommerce"].iter().enumerate() {
        stores.push(
            create_store(&host, &owner, &format!("shop-{i}"), engine)
                .await
                .0,
        );
    }

    // 1. Killed once objects are being applied.
    until(&rig, "a deployment applied", |r| {
        r.fake
            .creations()
            .keys()
            .any(|k| k.starts_with("Deployment "))
    })
    .await;
    host = kill_and_restart(&rig, host, &stores).await;

    // 2. Killed while a setup command is running (the exec never completes).
    rig.fake.update(|s| s.hold_execs = true);
    until(&rig, "an exec in flight", |r| {
        r.fake.execs().iter().any(|e| !e.completed)
    })
    .await;
    host = kill_and_restart(&rig, host, &stores).await;
    let interrupted = rig.fake.execs().iter().filter(|e| !e.completed).count();
    assert!(interrupted >= 1, "an exec was cut off by the kill");

    // 3. Killed again after some setup steps completed.
    until(&rig, "three setup steps done", |r| {
        r.fake.execs().iter().filter(|e| e.completed).count() >= 3
    })
    .await;
    host = kill_and_restart(&rig, host, &stores).await;

    for id in &stores {
        wait_status(&host, &owner, id, "ready", Duration::from_secs(90)).await;
    }
    assert_exactly_once(&rig, &stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_on_one_database_provision_each_store_once() {
    let rig = Rig::new(
        Backend::Postgres,
        Settings {
            ready_after_ms: 50,
            ..Settings::default()
        },
    )
    .await;
    let first = rig.host().await;
    let second = rig.host().await;
    let owner = first.user("owner").await;
    let mut stores = Vec::new();
    for i in 0..20 {
        let host = if i % 2 == 0 { &first } else { &second };
        let engine = if i % 3 == 0 { "medusa" } else { "woocommerce" };
        stores.push(
            create_store(host, &owner, &format!("shop-{i}"), engine)
                .await
                .0,
        );
    }
    for id in &stores {
        wait_status(&first, &owner, id, "ready", Duration::from_secs(120)).await;
    }
    assert_exactly_once(&rig, &stores).await;
    // Each store became ready exactly once, and both replicas did work.
    let audit = first
        .get(
            "/api/v1/audit?eventType=store.ready&limit=100",
            Some(&owner.token),
        )
        .await;
    let mut ready: Vec<String> = audit.body["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["storeId"].as_str().map(str::to_owned))
        .collect();
    ready.sort();
    let mut expected = stores.clone();
    expected.sort();
    assert_eq!(ready, expected, "one store.ready event per store");
    for host in [&first, &second] {
        let claimed = host
            .logs()
            .iter()
            .filter(|l| l.contains("job claimed"))
            .count();
        assert!(claimed > 0, "each replica claimed jobs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_gives_running_jobs_back_at_once() {
    let rig = Rig::new(
        Backend::Postgres,
        Settings {
            ready_after_ms: 4_000,
            ..Settings::default()
        },
    )
    .await;
    // A long lease: if the job were not given back, a restarted host would wait it out.
    let options = rig.options().with("JOB_LEASE_MS", "60000");
    let mut host = HostProcess::start(&options).await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "patient", "woocommerce").await;
    wait_until(&host, &owner, &id, Duration::from_secs(30), |s| {
        s["progress"]["step"] == "wait"
    })
    .await;

    assert!(host.terminate(), "SIGTERM ends the host cleanly");
    assert!(
        host.logs().iter().any(|l| l.contains("job given back")),
        "the running job was given back"
    );
    let db = storeplane::db::connect(&rig.database.url)
        .await
        .expect("db");
    let store_id = storeplane::domain::StoreId::parse(&id).expect("id");
    let job = db
        .open_job(&store_id)
        .await
        .expect("job")
        .expect("an open job");
    assert_eq!(
        job.state, "queued",
        "released, not left running under a lease: {job:?}"
    );
    db.close().await;

    let host = HostProcess::start(&options).await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(30)).await;
}
