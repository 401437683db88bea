//! Admin plugin endpoints: upload (validated with the real chart), activate, roll back,
//! disable/enable, classified errors, and persistence across a restart.

use reqwest::StatusCode;
use serde_json::json;
use storeplane_tests::app::{Api, Reply, TestApp};
use storeplane_tests::{backend_test, guests};

async fn upload(app: &TestApp, token: &str, wasm: &[u8]) -> Reply {
    let response = app
        .client
        .post(format!("{}/api/v1/admin/plugins", app.base))
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(wasm.to_vec())
        .send()
        .await
        .unwrap();
    Api::reply(response).await
}

async fn engine_version(app: &TestApp, engine: &str) -> Option<String> {
    let engines = app.get("/api/v1/engines", None).await;
    engines.body["engines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == engine)
        .map(|e| e["version"].as_str().unwrap().to_owned())
}

backend_test!(
    upload_activate_rollback_disable_and_restart,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("admin").await;
        let tenant = app.user("tenant").await;

        // (A small body: the server answers 403 before reading it, and closing on a large body
        // makes the client see a broken pipe instead of the answer.)
        assert_eq!(
            upload(&app, &tenant.token, b"\0asm").await.status,
            StatusCode::FORBIDDEN
        );
        let uploaded = upload(&app, &admin.token, guests::WOO_NEXT).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        assert_eq!(uploaded.body["plugin"]["engine"], "woocommerce");
        assert_eq!(uploaded.body["plugin"]["version"], "0.2.0");
        assert_eq!(
            uploaded.body["plugin"]["digest"].as_str().unwrap().len(),
            64
        );
        assert_eq!(
            engine_version(&app, "woocommerce").await.as_deref(),
            Some("0.1.0"),
            "uploads are not active yet"
        );

        let listed = app.get("/api/v1/admin/plugins", Some(&admin.token)).await;
        let woo = listed.body["engines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == "woocommerce")
            .unwrap()
            .clone();
        assert_eq!(woo["versions"].as_array().unwrap().len(), 2);

        let activated = app
            .post(
                "/api/v1/admin/plugins/woocommerce/0.2.0/activate",
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(activated.status, StatusCode::OK, "{}", activated.body);
        assert_eq!(
            engine_version(&app, "woocommerce").await.as_deref(),
            Some("0.2.0")
        );
        let store = app
            .post(
                "/api/v1/stores",
                Some(&tenant.token),
                json!({ "name": "new-shop", "engine": "woocommerce" }),
            )
            .await;
        assert_eq!(
            store.body["store"]["pluginVersion"], "0.2.0",
            "new stores use the active version"
        );

        let missing = app
            .post(
                "/api/v1/admin/plugins/woocommerce/9.9.9/activate",
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(
            (missing.status, missing.envelope_code().as_str()),
            (StatusCode::NOT_FOUND, "PLUGIN_NOT_FOUND")
        );

        let rolled = app
            .post(
                "/api/v1/admin/plugins/woocommerce/rollback",
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(rolled.status, StatusCode::OK, "{}", rolled.body);
        assert_eq!(
            engine_version(&app, "woocommerce").await.as_deref(),
            Some("0.1.0")
        );
        let forward = app
            .post(
                "/api/v1/admin/plugins/woocommerce/rollback",
                Some(&admin.token),
                json!({ "version": "0.2.0" }),
            )
            .await;
        assert_eq!(forward.body["plugin"]["version"], "0.2.0");

        let disabled = app
            .post(
                "/api/v1/admin/plugins/medusa/disable",
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(disabled.status, StatusCode::OK);
        assert_eq!(engine_version(&app, "medusa").await, None);
        let refused = app
            .post(
                "/api/v1/stores",
                Some(&tenant.token),
                json!({ "name": "headless", "engine": "medusa" }),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);

        let audit = app
            .get(
                "/api/v1/audit?eventType=plugin.activate",
                Some(&admin.token),
            )
            .await;
        assert_eq!(audit.body["total"], 1);

        // After a restart on the same database: the upload is back, 0.2.0 active, medusa disabled.
        let database = app.stop().await;
        let app = TestApp::spawn_on(backend, database, |_| {}).await;
        assert_eq!(
            engine_version(&app, "woocommerce").await.as_deref(),
            Some("0.2.0")
        );
        assert_eq!(engine_version(&app, "medusa").await, None);
        let enabled = app
            .post(
                "/api/v1/admin/plugins/medusa/enable",
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(enabled.status, StatusCode::OK);
        assert_eq!(
            engine_version(&app, "medusa").await.as_deref(),
            Some("0.1.0")
        );
    }
);

backend_test!(
    bad_uploads_are_classified_and_change_nothing,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("admin").await;
        for (what, wasm, status, kind) in [
            (
                "random bytes",
                b"definitely not wasm".to_vec(),
                400,
                "not_a_component",
            ),
            ("empty", Vec::new(), 400, "not_a_component"),
            (
                "core module",
                b"\0asm\x01\0\0\0".to_vec(),
                400,
                "not_a_component",
            ),
            (
                "other WIT major",
                guests::WIT_V2.to_vec(),
                400,
                "incompatible_version",
            ),
            (
                "plan that does not render",
                guests::SWAP_V1.to_vec(),
                422,
                "validation_failed",
            ),
        ] {
            let reply = upload(&app, &admin.token, &wasm).await;
            assert_eq!(reply.status.as_u16(), status, "{what}: {}", reply.body);
            assert_eq!(
                reply.body["error"]["details"]["kind"], kind,
                "{what}: {}",
                reply.body
            );
            assert!(
                reply.body["error"]["details"]["problems"]
                    .as_array()
                    .is_some_and(|p| !p.is_empty()),
                "{what}"
            );
        }
        let same_version = storeplane_tests::with_custom_section(
            storeplane::plugins::builtin::wasm("woocommerce").unwrap(),
            "x",
            b"y",
        );
        let conflict = upload(&app, &admin.token, &same_version).await;
        assert_eq!(
            (conflict.status, conflict.envelope_code().as_str()),
            (StatusCode::CONFLICT, "PLUGIN_CONFLICT")
        );
        let listed = app.get("/api/v1/admin/plugins", Some(&admin.token)).await;
        assert_eq!(
            listed.body["engines"].as_array().unwrap().len(),
            3,
            "nothing was registered (the three built-in engines only): {}",
            listed.body
        );
        let rejected = app
            .get(
                "/api/v1/audit?eventType=plugin.upload_rejected",
                Some(&admin.token),
            )
            .await;
        assert_eq!(rejected.body["total"], 6);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_helm_the_server_starts_and_refuses_uploads() {
    let database =
        storeplane_tests::app::TestDatabase::create(storeplane_tests::app::Backend::Sqlite).await;
    let app =
        TestApp::spawn_on_with_config(storeplane_tests::app::Backend::Sqlite, database, |c| {
            c.helm_bin = "/nonexistent/helm".into();
        })
        .await;
    assert_eq!(
        engine_version(&app, "woocommerce").await.as_deref(),
        Some("0.1.0"),
        "built-ins still serve"
    );
    let admin = app.user("admin").await;
    let refused = upload(&app, &admin.token, guests::WOO_NEXT).await;
    assert_eq!(
        (refused.status, refused.envelope_code().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "PLUGIN_VALIDATION_FAILED")
    );
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HELM_BIN"),
        "{}",
        refused.body
    );
    let store = app
        .post(
            "/api/v1/stores",
            Some(&admin.token),
            json!({ "name": "still-works", "engine": "medusa" }),
        )
        .await;
    assert_eq!(store.status, StatusCode::ACCEPTED);
}
