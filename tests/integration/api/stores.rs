//! Store endpoints: create, list filters, get, delete, retry, logs; names, options, limits,
//! cooldown, name reuse after deletion.

use reqwest::StatusCode;
use serde_json::json;
use storeplane::db::{AuditContext, NewAudit, StorePatch, Transition};
use storeplane::domain::{StoreId, StoreStatus};
use storeplane_tests::app::TestApp;
use storeplane_tests::backend_test;

/// Moves a store along as the provisioning pipeline would (it is not part of this API).
async fn advance(app: &TestApp, id: &str, to: StoreStatus, failure: Option<&str>) {
    let db = &app.db;
    let store = db
        .store(&StoreId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let patch = StorePatch {
        failure_reason: failure.map(|f| Some(f.to_owned())),
        ..StorePatch::default()
    };
    let audit = NewAudit::new(
        AuditContext::default(),
        "test.advance",
        format!("test moves store to {to}"),
    );
    let transition = Transition {
        store_id: store.id,
        from: store.status,
        expected_version: store.version,
        to,
        patch,
        audit,
        cancel_open_job: false,
        enqueue: None,
    };
    db.transition_store(transition).await.unwrap();
}

backend_test!(store_lifecycle_through_the_api, |backend| async move {
    let app = TestApp::spawn(backend).await;
    let ann = app.user("ann").await;
    let created = app
        .post("/api/v1/stores", Some(&ann.token), json!({ "name": "tea-shop", "engine": "woocommerce", "options": { "currency": "INR" } }))
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.body);
    let store = &created.body["store"];
    assert_eq!(store["status"], "requested");
    assert_eq!(store["options"]["currency"], "INR");
    assert_eq!(store["pluginVersion"], "0.1.0");
    let id = store["id"].as_str().unwrap().to_owned();
    assert_eq!(store["namespace"], format!("store-{id}"));
    let job = app
        .db
        .open_job(&StoreId::parse(&id).unwrap())
        .await
        .unwrap()
        .expect("provision job enqueued");
    assert_eq!(
        (job.kind.as_str(), job.state.as_str()),
        ("provision", "queued")
    );
    assert_eq!(
        job.request_id.as_deref(),
        created.body["requestId"].as_str(),
        "the job carries the request id"
    );

    let listed = app
        .get(
            "/api/v1/stores?engine=woocommerce&status=requested",
            Some(&ann.token),
        )
        .await;
    assert_eq!(listed.body["total"], 1);
    assert_eq!(
        app.get("/api/v1/stores?engine=medusa", Some(&ann.token))
            .await
            .body["total"],
        0
    );
    assert_eq!(
        app.get(&format!("/api/v1/stores/{id}"), Some(&ann.token))
            .await
            .body["store"]["name"],
        "tea-shop"
    );

    let retry_too_early = app
        .post(
            &format!("/api/v1/stores/{id}/retry"),
            Some(&ann.token),
            json!({}),
        )
        .await;
    assert_eq!(
        (
            retry_too_early.status,
            retry_too_early.envelope_code().as_str()
        ),
        (StatusCode::CONFLICT, "INVALID_STATE_TRANSITION")
    );

    advance(&app, &id, StoreStatus::Provisioning, None).await;
    advance(&app, &id, StoreStatus::Failed, Some("image pull failed")).await;
    let failed = app
        .get(&format!("/api/v1/stores/{id}"), Some(&ann.token))
        .await;
    assert_eq!(failed.body["store"]["failureReason"], "image pull failed");
    let retried = app
        .post(
            &format!("/api/v1/stores/{id}/retry"),
            Some(&ann.token),
            json!({}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{}", retried.body);
    assert_eq!(retried.body["store"]["status"], "provisioning");
    assert_eq!(retried.body["store"]["retryCount"], 1);
    assert!(retried.body["store"]["failureReason"].is_null());

    let deleted = app
        .delete(&format!("/api/v1/stores/{id}"), Some(&ann.token))
        .await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    assert_eq!(deleted.body["store"]["status"], "deleting");
    let job = app
        .db
        .open_job(&StoreId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        job.kind, "delete",
        "deleting cancels provisioning and enqueues deletion"
    );
    let again = app
        .delete(&format!("/api/v1/stores/{id}"), Some(&ann.token))
        .await;
    assert_eq!(
        (again.status, again.envelope_code().as_str()),
        (StatusCode::CONFLICT, "INVALID_STATE_TRANSITION")
    );

    let logs = app
        .get(&format!("/api/v1/stores/{id}/logs"), Some(&ann.token))
        .await;
    let actions: Vec<&str> = logs.body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "store.delete",
            "store.retry",
            "test.advance",
            "test.advance",
            "store.create"
        ]
    );
    assert_eq!(logs.body["logs"][0]["fromStatus"], "provisioning");
    assert_eq!(logs.body["logs"][0]["toStatus"], "deleting");

    // Once deleted, the name is free again, and deleted stores only show when asked for.
    advance(&app, &id, StoreStatus::Deleted, None).await;
    assert_eq!(
        app.get("/api/v1/stores", Some(&ann.token)).await.body["total"],
        0
    );
    assert_eq!(
        app.get("/api/v1/stores?status=deleted", Some(&ann.token))
            .await
            .body["total"],
        1
    );
    app.store(&ann, "tea-shop").await;
});

backend_test!(
    names_engines_and_options_are_validated,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let ann = app.user("ann").await;
        for name in [
            "ab",
            "Bad-Name",
            "admin",
            "double--dash",
            "-edge",
            &"a".repeat(64),
        ] {
            let reply = app
                .post(
                    "/api/v1/stores",
                    Some(&ann.token),
                    json!({ "name": name, "engine": "woocommerce" }),
                )
                .await;
            assert_eq!(
                (reply.status, reply.envelope_code().as_str()),
                (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
                "{name}"
            );
        }
        let engine = app
            .post(
                "/api/v1/stores",
                Some(&ann.token),
                json!({ "name": "shop", "engine": "magento" }),
            )
            .await;
        assert_eq!(engine.status, StatusCode::BAD_REQUEST);
        let options = app
        .post("/api/v1/stores", Some(&ann.token), json!({ "name": "shop", "engine": "medusa", "options": { "currency": "usd", "colour": "red" } }))
        .await;
        assert_eq!(
            (options.status, options.envelope_code().as_str()),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
        );
        assert!(
            options.body["error"]["details"]
                .to_string()
                .contains("colour"),
            "{}",
            options.body
        );

        app.store(&ann, "shop").await;
        let taken = app
            .post(
                "/api/v1/stores",
                Some(&ann.token),
                json!({ "name": "shop", "engine": "woocommerce" }),
            )
            .await;
        assert_eq!(
            (taken.status, taken.envelope_code().as_str()),
            (StatusCode::CONFLICT, "CONFLICT")
        );
        let bob = app.user("bob").await;
        app.store(&bob, "shop").await; // names are unique per owner only
    }
);

backend_test!(store_limit_and_cooldown, |backend| async move {
    let app = TestApp::spawn_with(backend, |c| {
        c.max_stores_per_user = 2;
        c.store_creation_cooldown_ms = 60_000;
    })
    .await;
    let ann = app.user("ann").await;
    // A rejected create (bad options) does not start the cooldown.
    let rejected = app
        .post(
            "/api/v1/stores",
            Some(&ann.token),
            json!({ "name": "one", "engine": "woocommerce", "options": { "size": "huge" } }),
        )
        .await;
    assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
    app.store(&ann, "one").await;
    let cooling = app
        .post(
            "/api/v1/stores",
            Some(&ann.token),
            json!({ "name": "two", "engine": "woocommerce" }),
        )
        .await;
    assert_eq!(
        (cooling.status, cooling.envelope_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "CREATION_COOLDOWN")
    );
    let wait: u64 = cooling.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((55..=60).contains(&wait), "Retry-After {wait}");
    assert!(
        cooling.body["error"]["details"]["retryAfterMs"]
            .as_u64()
            .unwrap()
            > 50_000
    );

    // The cooldown is in the database: a new server on the same database still enforces it.
    let backend = app.backend;
    let database = app.stop().await;
    let app = TestApp::spawn_on(backend, database, |c| {
        c.max_stores_per_user = 2;
        c.store_creation_cooldown_ms = 60_000;
    })
    .await;
    let still = app
        .post(
            "/api/v1/stores",
            Some(&ann.token),
            json!({ "name": "two", "engine": "woocommerce" }),
        )
        .await;
    assert_eq!(still.envelope_code(), "CREATION_COOLDOWN");
    let database = app.stop().await;

    let app = TestApp::spawn_on(backend, database, |c| c.max_stores_per_user = 2).await;
    app.store(&ann, "two").await;
    let limited = app
        .post(
            "/api/v1/stores",
            Some(&ann.token),
            json!({ "name": "three", "engine": "woocommerce" }),
        )
        .await;
    assert_eq!(
        (limited.status, limited.envelope_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "STORE_LIMIT_EXCEEDED")
    );
});
