//! Rollouts against the fake cluster: 200 stores, two replicas on one PostgreSQL database, a
//! tenth of the stores made to fail their upgrade — the canary passes, the rollout stops
//! itself once failures exceed its budget, every failed store is back on its old version and
//! none is left mid-upgrade or upgraded twice; and a small rollout paused, resumed, followed
//! live and aborted (the current batch goes back).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storeplane_tests::app::{Api, Backend, TestUser};
use storeplane_tests::fake_kube::{ExecScript, Settings};
use storeplane_tests::guests;
use storeplane_tests::host::HostProcess;

use super::store_upgrade::events_of;
use super::*;

/// Every live store, oldest first (the order a rollout takes them in).
async fn all_stores(api: &Api, admin: &TestUser) -> Vec<Value> {
    let mut stores = Vec::new();
    let mut offset = 0;
    loop {
        let page = api
            .get(
                &format!("/api/v1/stores?limit=100&offset={offset}"),
                Some(&admin.token),
            )
            .await;
        let items = page.body["stores"].as_array().cloned().unwrap_or_default();
        let count = items.len();
        stores.extend(items);
        if count < 100 {
            break;
        }
        offset += 100;
    }
    stores.sort_by_key(|s| {
        (
            s["createdAt"].as_str().unwrap_or_default().to_owned(),
            s["id"].as_str().unwrap_or_default().to_owned(),
        )
    });
    stores
}

/// Polls the rollout until `done(rollout body)`.
async fn rollout_until(
    api: &Api,
    admin: &TestUser,
    id: i64,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let reply = api
            .get(&format!("/api/v1/admin/rollouts/{id}"), Some(&admin.token))
            .await;
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.body);
        if done(&reply.body) {
            return reply.body;
        }
        assert!(
            started.elapsed() < limit,
            "rollout {id} did not get there within {limit:?}: {}",
            reply.body["rollout"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn members_in(body: &Value, state: &str) -> Vec<Value> {
    body["stores"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["state"] == state)
        .cloned()
        .collect()
}

fn nothing_in_flight(body: &Value) -> bool {
    members_in(body, "upgrading").is_empty() && members_in(body, "reverting").is_empty()
}

/// A replica of the control plane for 200 stores.
async fn replica(rig: &Rig) -> HostProcess {
    let options = rig
        .options()
        .with("MAX_STORES_PER_USER", "200")
        .with("PROVISIONING_CONCURRENCY", "8");
    HostProcess::start(&options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_roll_out_to_200_stores_and_stop_at_the_failure_budget() {
    let rig = Rig::new(Backend::Postgres, Settings::default()).await;
    let first = replica(&rig).await;
    let second = replica(&rig).await;
    let admin = first.user("admin").await;
    let owner = first.user("owner").await;
    for i in 0..200 {
        let host = if i % 2 == 0 { &first } else { &second };
        create_store(host, &owner, &format!("shop-{i}"), "woocommerce").await;
    }
    let started = Instant::now();
    loop {
        let ready = first
            .get("/api/v1/stores?status=ready&limit=1", Some(&admin.token))
            .await;
        if ready.body["total"] == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "200 stores never became ready: {}",
            ready.body
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let stores = all_stores(&first, &admin).await;
    assert_eq!(stores.len(), 200);
    // A tenth of the stores, none in the canary, fail their WordPress database update.
    let failing: Vec<String> = stores
        .iter()
        .enumerate()
        .filter(|(position, _)| *position >= 10 && position % 10 == 5)
        .map(|(_, s)| s["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(failing.len(), 19);
    rig.fake.update(|s| {
        s.exec_scripts = vec![ExecScript {
            pattern: "wp core update-db".into(),
            namespaces: failing.iter().map(|id| format!("store-{id}")).collect(),
            exit_code: 1,
            stdout: String::new(),
            stderr: "Error: the database update failed".into(),
            delay_ms: 0,
        }];
    });
    upload_and_activate(&first, &admin, guests::WOO_UPGRADE, "woocommerce/0.3.0").await;

    let created = first
        .post(
            "/api/v1/admin/rollouts",
            Some(&admin.token),
            json!({"engine": "woocommerce", "version": "0.3.0", "settings": {
                "canary": 10, "batchSize": 40, "maxInFlight": 8, "failureBudget": 5,
            }}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    let id = created.body["rollout"]["id"].as_i64().unwrap_or_default();
    assert_eq!(
        members(&created.body).len(),
        200,
        "every store is in the rollout"
    );
    // A second rollout of the same engine waits for this one.
    let second_rollout = second
        .post(
            "/api/v1/admin/rollouts",
            Some(&admin.token),
            json!({"engine": "woocommerce", "version": "0.3.0"}),
        )
        .await;
    assert_eq!(
        second_rollout.status.as_u16(),
        409,
        "{}",
        second_rollout.body
    );

    let body = rollout_until(&second, &admin, id, Duration::from_secs(400), |b| {
        b["rollout"]["state"] != "running" && nothing_in_flight(b)
    })
    .await;
    let rollout = &body["rollout"];
    assert_eq!(rollout["state"], "stopped", "{rollout}");
    assert!(
        rollout["reason"]
            .as_str()
            .is_some_and(|r| r.contains("more than the failure budget of 5")),
        "{rollout}"
    );
    let canary: Vec<&Value> = body["stores"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["batch"] == 0)
        .collect();
    assert_eq!(canary.len(), 10);
    assert!(
        canary.iter().all(|m| m["state"] == "upgraded"),
        "the canary passed: {canary:?}"
    );
    let failed = members_in(&body, "failed");
    assert!(failed.len() > 5, "{}", rollout);
    assert!(
        !members_in(&body, "pending").is_empty(),
        "it stopped before taking every store"
    );

    // Every store is ready on exactly one version: failed ones back on 0.1.0 with the reason,
    // upgraded ones on 0.3.0; none is mid-upgrade, none was upgraded twice.
    let now: BTreeMap<String, Value> = all_stores(&first, &admin)
        .await
        .into_iter()
        .map(|s| (s["id"].as_str().unwrap_or_default().to_owned(), s))
        .collect();
    assert!(now.values().all(|s| s["status"] == "ready"), "all ready");
    for member in &failed {
        let store = &now[member["storeId"].as_str().unwrap_or_default()];
        assert!(failing.contains(&store["id"].as_str().unwrap_or_default().to_owned()));
        assert_eq!(store["pluginVersion"], "0.1.0", "{store}");
        assert!(
            store["failureReason"]
                .as_str()
                .is_some_and(|r| r.contains("rolled back to 0.1.0")),
            "{store}"
        );
    }
    for member in members_in(&body, "upgraded") {
        let store = &now[member["storeId"].as_str().unwrap_or_default()];
        assert_eq!(store["pluginVersion"], "0.3.0", "{store}");
    }
    let taken = 200 - members_in(&body, "pending").len();
    let requested = first
        .get(
            "/api/v1/audit?eventType=store.upgrade_requested&limit=1",
            Some(&admin.token),
        )
        .await;
    assert_eq!(
        requested.body["total"].as_u64(),
        Some(taken as u64),
        "each store taken was upgraded once"
    );
    for member in failed.iter().take(3) {
        let id = member["storeId"].as_str().unwrap_or_default();
        assert_eq!(
            events_of(&first, &admin, id, "store.upgrade_requested")
                .await
                .len(),
            1
        );
    }
    // Both replicas ran upgrade jobs of the rollout.
    for host in [&first, &second] {
        assert!(
            host.logs().iter().any(|l| l.contains("upgrade step done")),
            "a replica ran no upgrade"
        );
    }
    let stopped = first
        .get(
            "/api/v1/audit?eventType=rollout.stopped&limit=5",
            Some(&admin.token),
        )
        .await;
    assert_eq!(stopped.body["total"], 1, "{}", stopped.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_is_paused_resumed_followed_live_and_aborted() {
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            default_exec_delay_ms: 150,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let admin = host.user("admin").await;
    for i in 0..12 {
        create_store(&host, &admin, &format!("shop-{i}"), "woocommerce").await;
    }
    for store in all_stores(&host, &admin).await {
        let id = store["id"].as_str().unwrap_or_default().to_owned();
        wait_status(&host, &admin, &id, "ready", Duration::from_secs(60)).await;
    }
    upload_and_activate(&host, &admin, guests::WOO_UPGRADE, "woocommerce/0.3.0").await;
    let tenant = host.user("tenant").await;
    let refused = host
        .post(
            "/api/v1/admin/rollouts",
            Some(&tenant.token),
            json!({"engine": "woocommerce", "version": "0.3.0"}),
        )
        .await;
    assert_eq!(refused.status.as_u16(), 403, "{}", refused.body);
    let bad = host
        .post(
            "/api/v1/admin/rollouts",
            Some(&admin.token),
            json!({"engine": "woocommerce", "version": "0.3.0", "settings": {"batchSize": 0}}),
        )
        .await;
    assert_eq!(bad.status.as_u16(), 400, "{}", bad.body);
    assert!(
        bad.body
            .to_string()
            .contains("batchSize: 0 is outside 1..=1000")
    );

    let created = host
        .post(
            "/api/v1/admin/rollouts",
            Some(&admin.token),
            json!({"engine": "woocommerce", "version": "0.3.0", "settings": {
                "canary": 2, "batchSize": 5, "maxInFlight": 2,
            }}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    let id = created.body["rollout"]["id"].as_i64().unwrap_or_default();

    // Followed live: the stream's first event is the rollout as it stands.
    let stream = host
        .client
        .get(format!("{}/api/v1/admin/rollouts/{id}/events", host.base))
        .bearer_auth(&admin.token)
        .send()
        .await
        .expect("open the stream");
    assert_eq!(stream.status().as_u16(), 200);
    let mut stream = stream;
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("an event in time")
            .expect("the stream is readable")
            .expect("the stream is open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.starts_with("event: rollout\n"), "{text}");
    let data: Value = serde_json::from_str(
        text.lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap_or_default(),
    )
    .expect("JSON data");
    assert_eq!(data["rollout"]["id"], id);

    // Paused once the canary is through: nothing new starts.
    rollout_until(&host, &admin, id, Duration::from_secs(60), |b| {
        members_in(b, "upgraded").len() >= 2
    })
    .await;
    let paused = host
        .post(
            &format!("/api/v1/admin/rollouts/{id}/pause"),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(paused.status.as_u16(), 200, "{}", paused.body);
    let settled = rollout_until(
        &host,
        &admin,
        id,
        Duration::from_secs(60),
        nothing_in_flight,
    )
    .await;
    let taken = 12 - members_in(&settled, "pending").len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let still = rollout_until(&host, &admin, id, Duration::from_secs(5), |_| true).await;
    assert_eq!(
        12 - members_in(&still, "pending").len(),
        taken,
        "paused: nothing new"
    );
    let again = host
        .post(
            &format!("/api/v1/admin/rollouts/{id}/pause"),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(again.status.as_u16(), 409, "{}", again.body);

    // Resumed until the first batch is under way, then aborted: the batch goes back.
    let resumed = host
        .post(
            &format!("/api/v1/admin/rollouts/{id}/resume"),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(resumed.status.as_u16(), 200, "{}", resumed.body);
    rollout_until(&host, &admin, id, Duration::from_secs(60), |b| {
        b["stores"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["batch"] == 1 && m["state"] == "upgraded")
    })
    .await;
    let aborted = host
        .post(
            &format!("/api/v1/admin/rollouts/{id}/abort"),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(aborted.status.as_u16(), 200, "{}", aborted.body);
    let end = rollout_until(&host, &admin, id, Duration::from_secs(90), |b| {
        b["rollout"]["state"] == "aborted"
    })
    .await;
    let members = end["stores"].as_array().cloned().unwrap_or_default();
    let now: BTreeMap<String, Value> = all_stores(&host, &admin)
        .await
        .into_iter()
        .map(|s| (s["id"].as_str().unwrap_or_default().to_owned(), s))
        .collect();
    for member in &members {
        let store = &now[member["storeId"].as_str().unwrap_or_default()];
        assert_eq!(store["status"], "ready", "{store}");
        let expected = match (member["batch"].as_i64(), member["state"].as_str()) {
            (Some(0), _) => ("upgraded", "0.3.0"),
            (Some(1), Some("reverted")) => ("reverted", "0.1.0"),
            (_, Some("skipped")) => ("skipped", "0.1.0"),
            other => panic!("unexpected member after the abort: {other:?} {member}"),
        };
        assert_eq!(member["state"], expected.0, "{member}");
        assert_eq!(store["pluginVersion"], expected.1, "{store}");
    }
    assert!(
        !members_in(&end, "reverted").is_empty(),
        "the current batch went back"
    );
    for action in [
        "rollout.started",
        "rollout.paused",
        "rollout.resumed",
        "rollout.aborted",
        "rollout.abort_finished",
    ] {
        let found = host
            .get(
                &format!("/api/v1/audit?eventType={action}&limit=5"),
                Some(&admin.token),
            )
            .await;
        assert_eq!(found.body["total"], 1, "{action}: {}", found.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_store_stays_on_its_version_until_a_rollout_includes_pinned_stores() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let admin = host.user("admin").await;
    let owner = host.user("owner").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            create_store(&host, &owner, &format!("shop-{i}"), "woocommerce")
                .await
                .0,
        );
    }
    for id in &ids {
        wait_status(&host, &owner, id, "ready", Duration::from_secs(60)).await;
    }
    let pinned = &ids[1];
    let by_admin = host
        .post(
            &format!("/api/v1/stores/{pinned}/pin"),
            Some(&admin.token),
            json!({"pinned": true}),
        )
        .await;
    assert_eq!(
        by_admin.status.as_u16(),
        403,
        "only the owner pins: {}",
        by_admin.body
    );
    let pin = host
        .post(
            &format!("/api/v1/stores/{pinned}/pin"),
            Some(&owner.token),
            json!({"pinned": true}),
        )
        .await;
    assert_eq!(pin.status.as_u16(), 200, "{}", pin.body);
    assert_eq!(pin.body["store"]["pinned"], true);
    upload_and_activate(&host, &admin, guests::WOO_UPGRADE, "woocommerce/0.3.0").await;

    let start = |include_pinned: bool| {
        host.post(
            "/api/v1/admin/rollouts",
            Some(&admin.token),
            json!({"engine": "woocommerce", "version": "0.3.0",
                   "settings": {"canary": 0, "batchSize": 5, "includePinned": include_pinned}}),
        )
    };
    let first = start(false).await;
    assert_eq!(first.status.as_u16(), 201, "{}", first.body);
    // Which stores it took, not how many are still pending: the rollout starts at once.
    assert_eq!(
        members(&first.body),
        [ids[0].as_str(), ids[2].as_str()],
        "the pinned store is passed by"
    );
    let id = first.body["rollout"]["id"].as_i64().unwrap_or_default();
    rollout_until(&host, &admin, id, Duration::from_secs(60), |b| {
        b["rollout"]["state"] == "completed"
    })
    .await;
    let store = host
        .get(&format!("/api/v1/stores/{pinned}"), Some(&owner.token))
        .await;
    assert_eq!(store.body["store"]["pluginVersion"], "0.1.0");
    assert_eq!(store.body["store"]["updateAvailable"], "0.3.0");

    // A security fix: the administrator includes pinned stores.
    let second = start(true).await;
    assert_eq!(second.status.as_u16(), 201, "{}", second.body);
    assert_eq!(members(&second.body), [pinned.as_str()]);
    let id = second.body["rollout"]["id"].as_i64().unwrap_or_default();
    rollout_until(&host, &admin, id, Duration::from_secs(60), |b| {
        b["rollout"]["state"] == "completed"
    })
    .await;
    let store = host
        .get(&format!("/api/v1/stores/{pinned}"), Some(&owner.token))
        .await;
    assert_eq!(store.body["store"]["pluginVersion"], "0.3.0");
    assert_eq!(
        events_of(&host, &owner, pinned, "store.pinned").await.len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_survives_its_replicas_being_killed_one_after_the_other() {
    let rig = Rig::new(
        Backend::Postgres,
        Settings {
            default_exec_delay_ms: 200,
            ..Settings::default()
        },
    )
    .await;
    let mut first = rig.host().await;
    let mut second = rig.host().await;
    let admin = first.user("admin").await;
    for i in 0..10 {
        create_store(&first, &admin, &format!("shop-{i}"), "woocommerce").await;
    }
    for store in all_stores(&first, &admin).await {
        let id = store["id"].as_str().unwrap_or_default().to_owned();
        wait_status(&first, &admin, &id, "ready", Duration::from_secs(60)).await;
    }
    upload_and_activate(&first, &admin, guests::WOO_UPGRADE, "woocommerce/0.3.0").await;
    let created = first
        .post(
            "/api/v1/admin/rollouts",
            Some(&admin.token),
            json!({"engine": "woocommerce", "version": "0.3.0", "settings": {
                "canary": 1, "batchSize": 3, "maxInFlight": 2,
            }}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    let id = created.body["rollout"]["id"].as_i64().unwrap_or_default();

    // Killed mid-rollout, one replica after the other; the last one, started after both
    // kills began, can only finish by taking the rollout over.
    rollout_until(&second, &admin, id, Duration::from_secs(60), |b| {
        members_in(b, "upgraded").len() >= 2
    })
    .await;
    first.kill();
    rollout_until(&second, &admin, id, Duration::from_secs(90), |b| {
        members_in(b, "upgraded").len() >= 5
    })
    .await;
    let third = rig.host().await;
    second.kill();
    let end = rollout_until(&third, &admin, id, Duration::from_secs(120), |b| {
        b["rollout"]["state"] == "completed"
    })
    .await;
    assert_eq!(members_in(&end, "upgraded").len(), 10, "{}", end["rollout"]);
    for store in all_stores(&third, &admin).await {
        assert_eq!(store["status"], "ready", "{store}");
        assert_eq!(store["pluginVersion"], "0.3.0", "{store}");
    }
    let requested = third
        .get(
            "/api/v1/audit?eventType=store.upgrade_requested&limit=1",
            Some(&admin.token),
        )
        .await;
    assert_eq!(requested.body["total"], 10, "each store upgraded once");
}

/// The ids of the stores a rollout response lists, in the rollout's order.
fn members(rollout: &Value) -> Vec<&str> {
    rollout["stores"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["storeId"].as_str())
        .collect()
}
