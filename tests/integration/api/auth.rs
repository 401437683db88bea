//! Registration, login, me, rate limits, audit of auth events.

use reqwest::StatusCode;
use serde_json::json;
use storeplane_tests::app::{Api, Reply, TestApp};
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

backend_test!(
    global_rate_limit_spares_probes_and_scrapes_by_exact_route,
    |backend| async move {
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
        for path in [
            "/api/v1/health",
            "/api/v1/health/live",
            "/api/v1/health/ready",
            "/api/v1/metrics",
            "/api/v1/metrics/json",
        ] {
            let reply = app.get(path, None).await;
            assert_ne!(
                reply.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{path} must never be rate-limited"
            );
        }
        // A path that merely contains "/metrics" or ends in "/health" gets no exemption.
        for path in ["/api/v1/stores/metrics", "/api/v1/stores/health"] {
            assert_eq!(
                app.get(path, None).await.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{path} is limited like any other route"
            );
        }
    }
);

/// A login as if from `ip` (the test server trusts 127.0.0.1 as a proxy).
async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> Reply {
    let response = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("send login");
    Api::reply(response).await
}

fn retry_after(reply: &Reply) -> u64 {
    reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

backend_test!(
    many_addresses_guessing_one_account_are_locked_out_but_its_owner_is_not,
    |backend| async move {
        let app = TestApp::spawn_with(backend, |c| {
            c.trusted_proxies = "127.0.0.1/32".into();
            c.login_account_max_failures = 3;
            c.login_rate_limit_window_ms = 900_000;
        })
        .await;
        app.user("ann").await;
        let owner = login_from(&app, "198.51.100.7", "ann@example.com", "password-ann").await;
        assert_eq!(owner.status, StatusCode::OK);
        for attacker in 1..=3 {
            let guess = login_from(
                &app,
                &format!("203.0.113.{attacker}"),
                "ann@example.com",
                "guess-123",
            )
            .await;
            assert_eq!(guess.status, StatusCode::UNAUTHORIZED);
        }
        // A fourth address is held back, with the reason and the wait, even with the right
        // password: the lock is per account, not per guess.
        let locked = login_from(&app, "203.0.113.4", "ann@example.com", "password-ann").await;
        assert_eq!(
            (locked.status, locked.envelope_code().as_str()),
            (StatusCode::TOO_MANY_REQUESTS, "ACCOUNT_LOGIN_LOCKED")
        );
        assert!(
            (60..=900).contains(&retry_after(&locked)),
            "{:?}",
            locked.headers
        );
        assert!(locked.body.to_string().contains("logged in from before"));
        // The owner, from the address they logged in from, is not locked out.
        let again = login_from(&app, "198.51.100.7", "ann@example.com", "password-ann").await;
        assert_eq!(again.status, StatusCode::OK);
    }
);

backend_test!(
    one_address_spraying_many_accounts_is_stopped_and_the_global_failure_budget_holds,
    |backend| async move {
        let app = TestApp::spawn_with(backend, |c| {
            c.trusted_proxies = "127.0.0.1/32".into();
            c.login_ip_max_failures = 3;
            c.login_global_max_failures = 6;
            c.login_rate_limit_window_ms = 900_000;
        })
        .await;
        for n in 0..3 {
            let reply = login_from(
                &app,
                "203.0.113.9",
                &format!("nobody{n}@example.com"),
                "guess-123",
            )
            .await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        }
        let refused =
            login_from(&app, "203.0.113.9", "someone-else@example.com", "guess-123").await;
        assert_eq!(
            (refused.status, refused.envelope_code().as_str()),
            (StatusCode::TOO_MANY_REQUESTS, "LOGIN_RATE_LIMITED")
        );
        assert!(refused.body.to_string().contains("from this address"));
        // Other addresses carry on until the service-wide failure budget (6 per minute) is spent.
        for n in 0..3 {
            let reply = login_from(
                &app,
                &format!("198.51.100.{n}"),
                &format!("x{n}@example.com"),
                "guess-123",
            )
            .await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        }
        let spent = login_from(&app, "198.51.100.50", "y@example.com", "guess-123").await;
        assert_eq!(
            (spent.status, spent.envelope_code().as_str()),
            (StatusCode::TOO_MANY_REQUESTS, "LOGIN_RATE_LIMITED")
        );
        assert!((1..=60).contains(&retry_after(&spent)));
    }
);

backend_test!(
    password_hashing_is_bounded_and_overflow_is_answered_503_with_retry_after,
    |backend| async move {
        let app = TestApp::spawn_with(backend, |c| {
            c.password_hash_workers = 1;
            c.password_hash_queue = 1;
        })
        .await;
        app.user("ann").await;
        let attempts = (0..12).map(|_| {
            app.post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "ann@example.com", "password": "wrong-password" }),
            )
        });
        let replies = futures::future::join_all(attempts).await;
        let busy: Vec<&Reply> = replies
            .iter()
            .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
            .collect();
        assert!(
            replies.iter().all(|r| matches!(
                r.status,
                StatusCode::UNAUTHORIZED | StatusCode::SERVICE_UNAVAILABLE
            )),
            "only wrong-password or busy answers: {:?}",
            replies.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        assert!(
            !busy.is_empty(),
            "one thread and a queue of one cannot take 12 at once"
        );
        for reply in busy {
            assert_eq!(reply.envelope_code(), "AUTH_BUSY");
            assert_eq!(retry_after(reply), 1);
            assert_eq!(reply.body["error"]["retryable"], true);
        }
        // Once the burst is over, logins work again.
        let ok = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "ann@example.com", "password": "password-ann" }),
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK);
    }
);
