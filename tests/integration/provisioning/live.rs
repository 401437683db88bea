//! What the dashboard builds on: server-sent events of a store's progress (with a bearer token
//! or a ticket), and revealing a store's admin credentials (owner only, audited).

use std::time::Duration;

use serde_json::{Value, json};
use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::Settings;

use super::*;

/// Reads `store` events from an event stream until `done` holds for one; returns them all.
async fn read_events(response: reqwest::Response, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream"),
        "an event stream"
    );
    let mut response = response;
    let mut buffer = String::new();
    let mut events = Vec::new();
    let read = async {
        while let Some(chunk) = response.chunk().await.expect("chunk") {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let is_store = block.lines().any(|l| l == "event: store");
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                if is_store {
                    let store: Value = serde_json::from_str(&data).expect("store JSON");
                    let finished = done(&store);
                    events.push(store);
                    if finished {
                        return;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the awaited event arrived");
    events
}

/// Opens the event stream at `path` with `token` as the bearer.
async fn open_stream(api: &Api, path: &str, token: &str) -> reqwest::Response {
    api.client
        .get(format!("{}{path}", api.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_streams_its_progress_until_ready() {
    let rig = Rig::new(
        Backend::Postgres,
        Settings {
            ready_after_ms: 700,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let _admin = host.user("admin").await;
    let owner = host.user("owner").await;
    let stranger = host.user("stranger").await;
    let (id, _) = create_store(&host, &owner, "streamed", "woocommerce").await;

    let forbidden = host
        .get(
            &format!("/api/v1/stores/{id}/events"),
            Some(&stranger.token),
        )
        .await;
    assert_eq!(forbidden.status.as_u16(), 403, "{}", forbidden.body);

    let response = open_stream(&host, &format!("/api/v1/stores/{id}/events"), &owner.token).await;
    let events = read_events(response, |s| s["status"] == "ready").await;
    let steps: Vec<&str> = events
        .iter()
        .filter_map(|e| e["progress"]["step"].as_str())
        .collect();
    assert!(
        steps.contains(&"wait") && steps.contains(&"setup"),
        "steps seen live: {steps:?}"
    );
    let wait = steps.iter().position(|s| *s == "wait");
    let setup = steps.iter().position(|s| *s == "setup");
    assert!(wait < setup, "in pipeline order: {steps:?}");
    assert_eq!(
        events.last().map(|e| e["status"].clone()),
        Some(json!("ready"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_opens_the_all_stores_stream_and_nothing_else() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let admin = host.user("admin").await; // the first user is the admin, who sees everything
    let owner = host.user("owner").await;
    let other = host.user("other").await;
    let (theirs, _) = create_store(&host, &other, "theirs", "medusa").await;
    let ticket = host
        .post("/api/v1/auth/ticket", Some(&owner.token), json!({}))
        .await;
    assert_eq!(ticket.status.as_u16(), 200, "{}", ticket.body);
    let ticket = ticket.body["ticket"].as_str().expect("ticket").to_owned();

    // A ticket is not a bearer token.
    let me = host.get("/api/v1/auth/me", Some(&ticket)).await;
    assert_eq!(me.status.as_u16(), 401, "{}", me.body);
    let without = host
        .client
        .get(format!("{}/api/v1/stores/events", host.base))
        .send()
        .await
        .expect("events");
    assert_eq!(without.status().as_u16(), 401);

    let stream = host
        .client
        .get(format!(
            "{}/api/v1/stores/events?ticket={ticket}",
            host.base
        ))
        .send()
        .await
        .expect("events");
    let (mine, _) = create_store(&host, &owner, "mine", "woocommerce").await;
    let events = read_events(stream, |s| {
        s["id"] == mine.as_str() && s["status"] == "ready"
    })
    .await;
    assert!(
        events.iter().all(|e| e["id"] != theirs.as_str()),
        "another tenant's store leaked into the stream"
    );
    assert!(
        events.iter().all(|e| e.get("ownerEmail").is_none()),
        "a tenant's stream names no owners"
    );

    // The admin's stream carries every store, each with its owner's e-mail address.
    let stream = open_stream(&host, "/api/v1/stores/events", &admin.token).await;
    let seen = std::cell::RefCell::new(std::collections::HashSet::new());
    let events = read_events(stream, |s| {
        seen.borrow_mut()
            .insert(s["id"].as_str().unwrap_or_default().to_owned());
        seen.borrow().len() == 2
    })
    .await;
    for (id, owner) in [(&mine, &owner), (&theirs, &other)] {
        let event = events
            .iter()
            .find(|e| e["id"] == id.as_str())
            .expect("the store is in the admin's stream");
        assert_eq!(event["ownerEmail"], owner.email.as_str(), "{event}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_reveals_the_admin_credentials_and_nobody_else() {
    let rig = Rig::new(Backend::Postgres, Settings::default()).await;
    let host = rig.host().await;
    let admin = host.user("admin").await;
    let owner = host.user("owner").await;
    let stranger = host.user("stranger").await;
    let (id, _) = create_store(&host, &owner, "secretive", "woocommerce").await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;

    let path = format!("/api/v1/stores/{id}/credentials");
    let reply = host.get(&path, Some(&owner.token)).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.body);
    assert_eq!(reply.headers["cache-control"], "no-store");
    let credentials = &reply.body["credentials"];
    let login = rig
        .record(&id)
        .await
        .plan
        .expect("plan")
        .plan
        .admin_login
        .expect("admin login");
    assert_eq!(credentials["username"], login.username.as_str());
    let password = credentials["password"]
        .as_str()
        .expect("password")
        .to_owned();
    assert!(
        rig.secret_values(&id).contains(&password),
        "the password is the Secret's"
    );
    assert!(
        credentials["adminUrl"]
            .as_str()
            .is_some_and(|u| u.contains(&id))
    );

    for (who, user) in [
        ("another tenant", &stranger),
        ("an admin who is not the owner", &admin),
    ] {
        let refused = host.get(&path, Some(&user.token)).await;
        assert_eq!(refused.status.as_u16(), 403, "{who}: {}", refused.body);
    }
    let audit = host
        .get(
            &format!("/api/v1/audit?storeId={id}&eventType=store.credentials_viewed"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(audit.body["total"], 1, "{}", audit.body);
    assert!(
        !audit.body.to_string().contains(&password),
        "the audit log never holds the password"
    );
    assert!(
        !host.logs().join("\n").contains(&password),
        "nor do the logs"
    );

    // Gone with the store.
    host.delete(&format!("/api/v1/stores/{id}"), Some(&owner.token))
        .await;
    let after = host.get(&path, Some(&owner.token)).await;
    assert_eq!(after.status.as_u16(), 409, "{}", after.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_a_user_ends_their_event_stream() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let admin = host.user("admin").await;
    let owner = host.user("owner").await;
    let mut stream = open_stream(&host, "/api/v1/stores/events", &owner.token).await;
    assert_eq!(stream.status().as_u16(), 200);
    let off = host
        .post(
            &format!("/api/v1/admin/users/{}/deactivate", owner.id),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(off.status.as_u16(), 200, "{}", off.body);
    // The stream re-checks its caller every couple of seconds, then ends.
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(_chunk) = stream.chunk().await.expect("chunk") {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream was still open 15 s after deactivation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_streams_the_progress_another_replica_makes() {
    let rig = Rig::new(
        Backend::Postgres,
        Settings {
            ready_after_ms: 2_000,
            default_exec_delay_ms: 300,
            ..Settings::default()
        },
    )
    .await;
    let worker = rig.host().await;
    let owner = worker.user("owner").await;
    let (id, _) = create_store(&worker, &owner, "far-away", "woocommerce").await;
    // The first replica holds the job; only then does the second start, so it cannot take it.
    wait_until(&worker, &owner, &id, Duration::from_secs(30), |s| {
        s["progress"]["step"] == "wait"
    })
    .await;
    let viewer = rig.host().await;
    let stream = open_stream(
        &viewer,
        &format!("/api/v1/stores/{id}/events"),
        &owner.token,
    )
    .await;
    let events = read_events(stream, |s| s["status"] == "ready").await;
    assert!(
        worker.logs().iter().any(|l| l.contains("job claimed"))
            && !viewer.logs().iter().any(|l| l.contains("job claimed")),
        "the first replica did the work"
    );
    // Each of the 8 setup steps is recorded as it finishes; the database's change feed brings
    // every record to the other replica (a periodic re-read would see one or two of them).
    let setup_events = events
        .iter()
        .filter(|e| e["progress"]["step"] == "setup")
        .count();
    assert!(
        setup_events >= 5,
        "the viewing replica saw {setup_events} setup updates: {events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deactivated_on_one_replica_is_refused_by_every_replica_at_once() {
    let rig = Rig::new(Backend::Postgres, Settings::default()).await;
    let first = rig.host().await;
    let second = rig.host().await;
    let admin = first.user("admin").await;
    let tenant = first.user("tenant").await;
    // The second replica has served the tenant's token (and keeps the user in its cache).
    for _ in 0..3 {
        let me = second.get("/api/v1/auth/me", Some(&tenant.token)).await;
        assert_eq!(me.status.as_u16(), 200, "{}", me.body);
    }
    let off = first
        .post(
            &format!("/api/v1/admin/users/{}/deactivate", tenant.id),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(off.status.as_u16(), 200, "{}", off.body);
    // The change feed reaches the other replica within milliseconds; a cache entry would live
    // 30 s without it.
    let refused_at = tokio::time::Instant::now();
    loop {
        let me = second.get("/api/v1/auth/me", Some(&tenant.token)).await;
        if me.status.as_u16() == 401 {
            break;
        }
        assert!(
            refused_at.elapsed() < Duration::from_secs(3),
            "the second replica still served a deactivated user after 3 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let on = second
        .post(
            &format!("/api/v1/admin/users/{}/activate", tenant.id),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(on.status.as_u16(), 200, "{}", on.body);
    let back_at = tokio::time::Instant::now();
    while first
        .get("/api/v1/auth/me", Some(&tenant.token))
        .await
        .status
        .as_u16()
        != 200
    {
        assert!(
            back_at.elapsed() < Duration::from_secs(3),
            "not let in again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_feed_missed_reaches_the_event_stream_at_once() {
    let rig = Rig::new(Backend::Postgres, Settings::default()).await;
    let host = rig.host().await;
    let _admin = host.user("admin").await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "unheard", "woocommerce").await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let stream = open_stream(&host, &format!("/api/v1/stores/{id}/events"), &owner.token).await;
    // Another writer fails the store, and the server's feed never hears of it.
    rig.database
        .change_unheard(
            "UPDATE stores SET status = 'failed', failure_reason = 'changed behind the feed', \
             version = version + 1, updated_at = now() WHERE id = $1",
            &id,
        )
        .await;
    // Streams that follow the feed re-read by themselves only every 10 s; a reported gap
    // makes them look at once.
    let events = tokio::time::timeout(
        Duration::from_secs(5),
        read_events(stream, |s| s["status"] == "failed"),
    )
    .await
    .expect("the change arrived well before the stream's periodic re-read");
    assert_eq!(
        events.last().map(|e| e["failureReason"].clone()),
        Some(json!("changed behind the feed"))
    );
}
