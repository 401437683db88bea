//! Registration, login, me, rate limits, audit of auth events.

use reqwest::StatusCode;
use serde_json::json;
use storeplane_tests::app::TestApp;
use storeplane_tests::backend_test;

backend_test!(register_login_me, |backend| async move {
    let app = TestApp::spawn(backend).await;
    let first = app.user("first").await;
    let second = app.user("second").await;
    assert_eq!(
        (first.role.as_str(), second.role.as_str()),
        ("admin", "tenant"),
        "the first user becomes admin"
    );

    let duplicate = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "FIRST@example.com ", "username": "other", "password": "password-x" }),
        )
        .await;
    assert_eq!(
        (duplicate.status, duplicate.envelope_code().as_str()),
        (StatusCode::CONFLICT, "USER_EXISTS")
    );
    for (body, what) in [
        (
            json!({ "email": "not-an-email", "username": "valid", "password": "password-x" }),
            "email",
        ),
        (
            json!({ "email": "v@example.com", "username": "a b", "password": "password-x" }),
            "username",
        ),
        (
            json!({ "email": "v@example.com", "username": "valid", "password": "short" }),
            "password",
        ),
    ] {
        let reply = app.post("/api/v1/auth/register", None, body).await;
        assert_eq!(
            (reply.status, reply.envelope_code().as_str()),
            (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            "{what}"
        );
    }

    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "Second@Example.com", "password": "password-second" }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let token = login.body["token"].as_str().unwrap();
    let me = app.get("/api/v1/auth/me", Some(token)).await;
    assert_eq!(me.body["user"]["username"], "second");
    assert!(me.body["user"].get("passwordHash").is_none());

    let wrong = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "second@example.com", "password": "nope-nope" }),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.envelope_code().as_str()),
        (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS")
    );
    let unknown = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "ghost@example.com", "password": "nope-nope" }),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.envelope_code().as_str()),
        (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS")
    );

    let audit = app
        .get(
            "/api/v1/audit?eventType=auth.login_failed",
            Some(&first.token),
        )
        .await;
    assert_eq!(
        audit.body["total"], 2,
        "failed logins are audited: {}",
        audit.body
    );
    let text = audit.body.to_string();
    assert!(
        !text.contains("nope-nope"),
        "passwords never reach the audit log"
    );
});

backend_test!(login_and_register_are_rate_limited, |backend| async move {
    let app = TestApp::spawn_with(backend, |c| {
        c.login_rate_limit_max = 3;
        c.register_rate_limit_max = 2;
    })
    .await;
    app.user("ann").await;
    for _ in 0..3 {
        let reply = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "ann@example.com", "password": "wrong-password" }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let limited = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "ann@example.com", "password": "password-ann" }),
        )
        .await;
    assert_eq!(
        (limited.status, limited.envelope_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "LOGIN_RATE_LIMITED")
    );
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // Another e-mail from the same IP has its own budget.
    let other = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "bob@example.com", "password": "whatever-1" }),
        )
        .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);

    app.user("bob").await; // second registration from this IP
    let third = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "cy@example.com", "username": "cy", "password": "password-cy" }),
        )
        .await;
    assert_eq!(
        (third.status, third.envelope_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "REGISTRATION_RATE_LIMITED")
    );
});

backend_test!(global_rate_limit_spares_health, |backend| async move {
    let app = TestApp::spawn_with(backend, |c| c.rate_limit_max = 5).await;
    for _ in 0..5 {
        assert_eq!(
            app.get("/api/v1/engines", None).await.status,
            StatusCode::OK
        );
    }
    let limited = app.get("/api/v1/engines", None).await;
    assert_eq!(
        (limited.status, limited.envelope_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
    );
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(app.get("/api/v1/health", None).await.status, StatusCode::OK);
});
