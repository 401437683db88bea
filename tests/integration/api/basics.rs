//! Error envelope, request ids, content types, body limits, tokens, health, metrics, OpenAPI.

use reqwest::{Method, StatusCode};
use serde_json::json;
use storeplane_tests::app::{Api, TestApp};
use storeplane_tests::backend_test;

backend_test!(malformed_input_gets_the_envelope, |backend| async move {
    let app = TestApp::spawn(backend).await;
    let ann = app.user("ann").await;
    let url = format!("{}/api/v1/stores", app.base);

    let bad_json = app
        .client
        .post(&url)
        .bearer_auth(&ann.token)
        .header("content-type", "application/json")
        .body("{bad")
        .send()
        .await
        .unwrap();
    let reply = Api::reply(bad_json).await;
    assert_eq!(
        (reply.status, reply.envelope_code().as_str()),
        (StatusCode::BAD_REQUEST, "INVALID_JSON")
    );

    let wrong_type = app
        .client
        .post(&url)
        .bearer_auth(&ann.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let reply = Api::reply(wrong_type).await;
    assert_eq!(
        (reply.status, reply.envelope_code().as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
    );

    let huge = json!({ "name": "x".repeat(2 << 20), "engine": "woocommerce" }).to_string();
    // Its own client: the server answers 413 and closes the connection without reading the
    // rest, and a pooled connection must not carry that into the requests that follow.
    let too_big = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&ann.token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let reply = Api::reply(too_big).await;
    assert_eq!(
        (reply.status, reply.envelope_code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
    );

    let missing_field = app
        .post(
            "/api/v1/stores",
            Some(&ann.token),
            json!({ "engine": "woocommerce" }),
        )
        .await;
    assert_eq!(
        (missing_field.status, missing_field.envelope_code().as_str()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );

    let unknown = app.get("/api/v1/no-such-thing", None).await;
    assert_eq!(
        (unknown.status, unknown.envelope_code().as_str()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    let wrong_method = app
        .request(Method::PUT, "/api/v1/stores", Some(&ann.token), None)
        .await;
    assert_eq!(
        (wrong_method.status, wrong_method.envelope_code().as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED")
    );
    let bad_query = app.get("/api/v1/stores?limit=0", Some(&ann.token)).await;
    assert_eq!(
        (bad_query.status, bad_query.envelope_code().as_str()),
        (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
    );
    let bad_status = app
        .get("/api/v1/stores?status=exploded", Some(&ann.token))
        .await;
    assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);
});

backend_test!(
    tokens_missing_forged_expired_or_of_deactivated_users_are_401,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let ann = app.user("ann").await;
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&ann.token)).await.status,
            StatusCode::OK
        );

        let missing = app.get("/api/v1/auth/me", None).await;
        assert_eq!(
            (missing.status, missing.envelope_code().as_str()),
            (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
        );
        let forged_keys = storeplane::auth::TokenKeys::new(
            b"some-other-secret-of-32-characters!!",
            std::time::Duration::from_secs(60),
        )
        .unwrap();
        let now = chrono::Utc::now().timestamp();
        let forged = forged_keys
            .issue(
                &storeplane::domain::UserId(ann.id.clone()),
                storeplane::domain::Role::Admin,
                now,
            )
            .unwrap();
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&forged)).await.status,
            StatusCode::UNAUTHORIZED
        );
        let expired = app
            .app_state
            .keys
            .issue(
                &storeplane::domain::UserId(ann.id.clone()),
                storeplane::domain::Role::Tenant,
                now - 7200,
            )
            .unwrap();
        let reply = app.get("/api/v1/auth/me", Some(&expired)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("expired"),
            "{}",
            reply.body
        );
        assert_eq!(
            app.get("/api/v1/auth/me", Some("garbage")).await.status,
            StatusCode::UNAUTHORIZED
        );

        // Ann's user is cached by now (her requests above); deactivating her drops it.
        app.app_state
            .accounts
            .admin()
            .set_active(
                &storeplane::domain::UserId("an-admin".into()),
                &ann.id,
                false,
                storeplane::db::AuditContext::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&ann.token)).await.status,
            StatusCode::UNAUTHORIZED,
            "deactivated"
        );
    }
);

backend_test!(
    request_ids_are_kept_when_sane_and_replaced_otherwise,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let url = format!("{}/api/v1/no-such-thing", app.base);
        let kept = Api::reply(
            app.client
                .get(&url)
                .header("x-request-id", "trace-abc.123_x")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(kept.headers["x-request-id"], "trace-abc.123_x");
        assert_eq!(kept.body["requestId"], "trace-abc.123_x");
        let replaced = Api::reply(
            app.client
                .get(&url)
                .header("x-request-id", "evil id with spaces")
                .send()
                .await
                .unwrap(),
        )
        .await;
        let id = replaced.body["requestId"].as_str().unwrap_or("").to_owned();
        assert_ne!(id, "evil id with spaces");
        assert_eq!(
            uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()).ok(),
            Some(4)
        );
        assert_eq!(replaced.headers["x-request-id"].to_str().unwrap(), id);
        assert_eq!(replaced.headers["x-content-type-options"], "nosniff");
    }
);

backend_test!(health_metrics_and_openapi, |backend| async move {
    let app = TestApp::spawn(backend).await;
    let health = app.get("/api/v1/health", None).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.body);
    assert_eq!(health.body["status"], "healthy");
    assert_eq!(health.body["checks"]["database"]["status"], "ok");

    let ann = app.user("ann").await;
    app.store(&ann, "metered").await;
    let metrics = app
        .client
        .get(format!("{}/api/v1/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"storeplane_stores{kind="requested"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/api/v1/stores",status="202""#),
        "routes are templates: {metrics}"
    );
    let json = app.get("/api/v1/metrics/json", None).await;
    assert_eq!(json.body["stores"]["requested"], 1);

    let doc = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/me",
        "/api/v1/stores",
        "/api/v1/stores/{id}",
        "/api/v1/stores/{id}/retry",
        "/api/v1/stores/{id}/logs",
        "/api/v1/audit",
        "/api/v1/audit/logs",
        "/api/v1/engines",
        "/api/v1/admin/plugins",
        "/api/v1/admin/plugins/{engine}/{version}/activate",
        "/api/v1/admin/plugins/{engine}/rollback",
        "/api/v1/admin/plugins/{engine}/disable",
        "/api/v1/admin/plugins/{engine}/enable",
        "/api/v1/health",
        "/api/v1/metrics",
        "/api/v1/metrics/json",
    ] {
        assert!(
            doc.body["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let docs = app
        .client
        .get(format!("{}/api/v1/docs", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(docs.contains("storeplane API"));

    let engines = app.get("/api/v1/engines", None).await;
    let ids: Vec<&str> = engines.body["engines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, ["medusa", "prestashop", "woocommerce"]);
    assert_eq!(
        engines.body["engines"][1]["optionsSchema"]["type"],
        "object"
    );
});

/// A kubeconfig for an API server at `addr` that only answers `GET /version`.
async fn fake_version_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/version",
        axum::routing::get(|| async {
            // No keep-alive: once the server is stopped, the client cannot reuse a connection
            // whose task outlived the listener.
            (
                [("connection", "close")],
                axum::Json(json!({
                    "major": "1", "minor": "33", "gitVersion": "v1.33.4-fake", "gitCommit": "0", "gitTreeState": "clean",
                    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"
                })),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (
        addr,
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }),
    )
}

fn kubeconfig(dir: &std::path::Path, addr: std::net::SocketAddr) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{addr}\n\
         contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\n\
         users:\n- name: fake\n  user:\n    token: test-token\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

backend_test!(health_reports_cluster_reachability, |backend| async move {
    let dir = tempfile::tempdir().unwrap();
    let (addr, server) = fake_version_server().await;
    let config = kubeconfig(dir.path(), addr);
    let app = TestApp::spawn_with(backend, |c| c.kubeconfig = Some(config)).await;
    let up = app.get("/api/v1/health", None).await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.body);
    assert_eq!(up.body["checks"]["kubernetes"]["status"], "ok");
    assert!(
        up.body["checks"]["kubernetes"]["detail"]
            .as_str()
            .unwrap()
            .contains("v1.33.4-fake")
    );

    server.abort();
    let _ = server.await;
    let down = app.get("/api/v1/health", None).await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.body
    );
    assert_eq!(down.body["status"], "degraded");
    assert_eq!(down.body["checks"]["kubernetes"]["status"], "error");
});
