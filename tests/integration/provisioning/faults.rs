//! Faults of the cluster and of the store: transient API errors, a full outage (the circuit
//! breaker opens, stores wait and then finish), a crash-looping pod, a failing setup step and
//! a retry after the fix.

use std::time::{Duration, Instant};

use serde_json::json;
use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::{ExecScript, PodFailure, Settings};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_become_ready_although_30_percent_of_cluster_requests_fail() {
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            fail_rate: 0.3,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let mut stores = Vec::new();
    for (i, engine) in ["woocommerce", "medusa", "woocommerce", "medusa"]
        .iter()
        .enumerate()
    {
        stores.push(
            create_store(&host, &owner, &format!("shop-{i}"), engine)
                .await
                .0,
        );
    }
    for id in &stores {
        let store = wait_until(&host, &owner, id, Duration::from_secs(120), |s| {
            s["status"] == "ready" || s["status"] == "failed"
        })
        .await;
        assert_eq!(store["status"], "ready", "{store}");
    }
    let failed = rig
        .fake
        .requests()
        .iter()
        .filter(|r| r.status >= 500)
        .count();
    assert!(failed > 20, "the fake did inject failures ({failed})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_delays_stores_and_opens_the_breaker_until_the_cluster_is_back() {
    let rig = Rig::new(Backend::Postgres, Settings::default()).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    rig.fake.update(|s| s.outage = true);
    let (first, _) = create_store(&host, &owner, "shop-a", "woocommerce").await;
    let (second, _) = create_store(&host, &owner, "shop-b", "medusa").await;

    // The breaker opens; stores wait instead of failing.
    let started = Instant::now();
    loop {
        let health = host.get("/api/v1/health", None).await;
        if health.body["checks"]["circuitBreaker"]["status"] == "open" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "breaker never opened: {}\n{}",
            health.body,
            host.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = host
        .client
        .get(format!("{}/api/v1/metrics", host.base))
        .send()
        .await
        .expect("metrics");
    let text = metrics.text().await.unwrap_or_default();
    assert!(
        text.contains("storeplane_cluster_breaker_state 2")
            || text.contains("storeplane_cluster_breaker_state 1"),
        "breaker state exported: {}",
        text.lines()
            .filter(|l| l.contains("breaker"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in [&first, &second] {
        let store = host
            .get(&format!("/api/v1/stores/{id}"), Some(&owner.token))
            .await
            .body["store"]
            .clone();
        assert!(
            store["status"] == "provisioning" || store["status"] == "requested",
            "a store waits during an outage: {store}"
        );
    }

    rig.fake.update(|s| s.outage = false);
    for id in [&first, &second] {
        wait_status(&host, &owner, id, "ready", Duration::from_secs(60)).await;
    }
    let health = host.get("/api/v1/health", None).await;
    assert_eq!(
        health.body["checks"]["circuitBreaker"]["status"], "closed",
        "{}",
        health.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_pod_fails_the_store_fast_with_the_reason() {
    let settings = Settings {
        pod_failures: vec![PodFailure {
            matches: "mariadb".into(),
            reason: "CrashLoopBackOff".into(),
        }],
        ..Settings::default()
    };
    let rig = Rig::new(Backend::Sqlite, settings).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "crashy", "woocommerce").await;
    // Far below the 120 s provisioning deadline the host runs with: it did not wait it out.
    let failed = wait_status(&host, &owner, &id, "failed", Duration::from_secs(20)).await;
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("CrashLoopBackOff") && reason.contains("mariadb"),
        "{reason}"
    );
    assert_eq!(failed["progress"]["step"], "wait", "where it stopped");
    assert!(
        failed["progress"].get("startedAt").is_none(),
        "a failed store's step is not running, so it has no running time: {failed}"
    );
    assert!(
        rig.fake.execs().is_empty(),
        "no setup on a store that never got ready"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_setup_step_fails_the_store_and_a_retry_after_the_fix_finishes_it() {
    let settings = Settings {
        exec_scripts: vec![ExecScript {
            pattern: "install_pages".into(),
            namespaces: Vec::new(),
            exit_code: 3,
            stdout: String::new(),
            stderr: "Error: the pages could not be created".into(),
            delay_ms: 0,
        }],
        ..Settings::default()
    };
    let rig = Rig::new(Backend::Postgres, settings).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "pages", "woocommerce").await;
    let failed = wait_status(&host, &owner, &id, "failed", Duration::from_secs(60)).await;
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    let plan = rig.record(&id).await.plan.expect("plan").plan;
    let failing = plan
        .setup
        .iter()
        .find(|s| s.command.join(" ").contains("install_pages"))
        .expect("a step installs the pages");
    assert!(
        reason.contains(&failing.name) && reason.contains("exit code 3"),
        "{reason}"
    );
    assert!(
        reason.contains("could not be created"),
        "stderr is in the reason: {reason}"
    );

    // Fix the cause and retry: the store finishes; the steps done before are not run again.
    rig.fake.update(|s| s.exec_scripts.clear());
    let retry = host
        .post(
            &format!("/api/v1/stores/{id}/retry"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    assert_eq!(retry.status.as_u16(), 202, "{}", retry.body);
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let replanned = host
        .get(
            &format!("/api/v1/audit?storeId={id}&eventType=store.replanned"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(
        replanned.body["total"], 0,
        "same engine version: the plan is reused"
    );
    let runs = rig.completed_execs(&id);
    for step in &plan.setup {
        let count = runs.iter().filter(|c| **c == step.command).count();
        if step.name == failing.name {
            assert_eq!(
                count,
                failing.attempts.max(1) as usize + 1,
                "failing attempts, then the retry's success"
            );
        } else {
            assert_eq!(count, 1, "{} ran once", step.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_is_not_ready_by_the_deadline_fails_saying_so() {
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            ready_after_ms: 600_000,
            ..Settings::default()
        },
    )
    .await;
    let host = HostProcess::start(&rig.options().with("PROVISIONING_TIMEOUT_MS", "3000")).await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "never-ready", "medusa").await;
    let failed = wait_status(&host, &owner, &id, "failed", Duration::from_secs(30)).await;
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("in time") && reason.contains("Deployment/"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_replans_only_when_the_engine_version_changed() {
    let settings = Settings {
        pod_failures: vec![PodFailure {
            matches: "wordpress".into(),
            reason: "ImagePullBackOff".into(),
        }],
        ..Settings::default()
    };
    let rig = Rig::new(Backend::Sqlite, settings).await;
    let host = rig.host().await;
    let admin = host.user("admin").await;
    let (id, _) = create_store(&host, &admin, "upgraded", "woocommerce").await;
    let failed = wait_status(&host, &admin, &id, "failed", Duration::from_secs(30)).await;
    assert!(
        failed["failureReason"]
            .as_str()
            .unwrap_or_default()
            .contains("ImagePullBackOff"),
        "{failed}"
    );
    assert_eq!(failed["pluginVersion"], "0.1.0");

    // An admin ships a fixed engine version; the retry plans again with it.
    upload_and_activate_woo_next(&host, &admin).await;
    rig.fake.update(|s| s.pod_failures.clear());
    let retry = host
        .post(
            &format!("/api/v1/stores/{id}/retry"),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(retry.status.as_u16(), 202, "{}", retry.body);
    let ready = wait_status(&host, &admin, &id, "ready", Duration::from_secs(60)).await;
    assert_eq!(ready["pluginVersion"], "0.2.0", "{ready}");
    let record = rig.record(&id).await;
    assert_eq!(record.plan.expect("plan").plugin_version, "0.2.0");
    let audit = host
        .get(
            &format!("/api/v1/audit?storeId={id}&eventType=store.replanned"),
            Some(&admin.token),
        )
        .await;
    assert_eq!(audit.body["total"], 1, "{}", audit.body);
    // The namespace, guard objects and credentials were not made again.
    let duplicated: Vec<String> = rig
        .fake
        .creations()
        .into_iter()
        .filter(|(k, n)| *n > 1 && !k.starts_with("Pod "))
        .map(|(k, _)| k)
        .collect();
    assert!(duplicated.is_empty(), "{duplicated:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_step_that_runs_out_of_time_is_stopped_in_the_container_before_its_retry() {
    // Setting permalinks hangs (4 s) longer than the operator lets a step run (1 s).
    let settings = Settings {
        exec_scripts: vec![ExecScript {
            pattern: "wp rewrite structure".into(),
            namespaces: Vec::new(),
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new(),
            delay_ms: 4_000,
        }],
        ..Settings::default()
    };
    let rig = Rig::new(Backend::Sqlite, settings).await;
    let host = HostProcess::start(&rig.options().with("SETUP_STEP_TIMEOUT_MAX_MS", "1000")).await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "hanging", "woocommerce").await;
    let failed = wait_status(&host, &owner, &id, "failed", Duration::from_secs(60)).await;
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("set-permalinks timed out after 1 s (the command was stopped in the container) after 3 attempt(s)"),
        "{reason}"
    );
    let attempts: Vec<_> = rig
        .fake
        .execs()
        .into_iter()
        .filter(|e| e.command.join(" ").contains("wp rewrite structure"))
        .collect();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    for pair in attempts.windows(2) {
        assert_eq!(
            pair[0].container_timeout_ms,
            Some(1_000),
            "ran under timeout"
        );
        assert!(
            pair[0].ended_ms <= pair[1].started_ms,
            "attempt still running in the container when the next began: ended {} ms after",
            pair[0].ended_ms.saturating_sub(pair[1].started_ms)
        );
    }
}
