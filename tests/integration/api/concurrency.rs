//! Invariants under concurrency: one bootstrap admin, the store limit, one winner per transition.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use storeplane_tests::app::TestApp;
use storeplane_tests::backend_test;

backend_test!(
    parallel_registrations_make_exactly_one_admin,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let replies = join_all((0..12).map(|i| {
        let app = &app;
        async move {
            app.post("/api/v1/auth/register", None, json!({ "email": format!("u{i}@example.com"), "username": format!("user{i}"), "password": "password-123" }))
                .await
        }
    }))
    .await;
        assert!(
            replies.iter().all(|r| r.status == StatusCode::CREATED),
            "all registrations succeed"
        );
        let admins = replies
            .iter()
            .filter(|r| r.body["user"]["role"] == "admin")
            .count();
        assert_eq!(admins, 1, "exactly one bootstrap admin");
    }
);

backend_test!(
    parallel_creates_stop_exactly_at_the_limit,
    |backend| async move {
        let app = TestApp::spawn_with(backend, |c| c.max_stores_per_user = 5).await;
        let ann = app.user("ann").await;
        let replies = join_all((0..16).map(|i| {
            let (app, token) = (&app, &ann.token);
            async move {
                app.post(
                    "/api/v1/stores",
                    Some(token),
                    json!({ "name": format!("shop-{i}"), "engine": "woocommerce" }),
                )
                .await
            }
        }))
        .await;
        let accepted = replies
            .iter()
            .filter(|r| r.status == StatusCode::ACCEPTED)
            .count();
        let limited = replies
            .iter()
            .filter(|r| {
                r.status == StatusCode::TOO_MANY_REQUESTS && r.code() == "STORE_LIMIT_EXCEEDED"
            })
            .count();
        assert_eq!(
            (accepted, limited),
            (5, 11),
            "{:?}",
            replies.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        assert_eq!(
            app.get("/api/v1/stores", Some(&ann.token)).await.body["total"],
            5
        );
    }
);

backend_test!(
    conflicting_transitions_have_one_winner,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let ann = app.user("ann").await;
        for round in 0..5 {
            let id = app.store(&ann, &format!("contested-{round}")).await;
            let path = format!("/api/v1/stores/{id}");
            let replies = join_all((0..4).map(|_| app.delete(&path, Some(&ann.token)))).await;
            let won = replies
                .iter()
                .filter(|r| r.status == StatusCode::ACCEPTED)
                .count();
            let lost = replies
                .iter()
                .filter(|r| {
                    r.status == StatusCode::CONFLICT && r.code() == "INVALID_STATE_TRANSITION"
                })
                .count();
            assert_eq!((won, lost), (1, 3), "round {round}");
            let logs = app.get(&format!("{path}/logs"), Some(&ann.token)).await;
            let deletes = logs.body["logs"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["action"] == "store.delete")
                .count();
            assert_eq!(deletes, 1, "one transition, one audit event");
        }
    }
);
