//! The OpenAPI document states what the handlers enforce, and the handlers enforce what it
//! states: query parameters are query parameters with their bounds, path parameters have their
//! forms, and the create-store body is one alternative per active engine with that engine's
//! own options schema (`bench/api-fuzz.sh` holds the two to each other over generated input).

use reqwest::StatusCode;
use serde_json::{Value, json};
use storeplane_tests::app::TestApp;
use storeplane_tests::backend_test;

/// The parameter `name` of operation `method path` in `doc`.
fn parameter<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("{method} {path} documents no parameter {name}"))
}

backend_test!(
    the_document_states_the_bounds_and_forms_the_handlers_enforce,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("admin").await;
        let doc = app.get("/api/v1/openapi.json", None).await.body;

        // Query parameters, optional, with the bounds the handlers check.
        let offset = parameter(&doc, "/api/v1/stores", "get", "offset");
        assert_eq!(offset["in"], "query", "{offset}");
        assert_eq!(offset["required"], false, "{offset}");
        assert_eq!(offset["schema"]["maximum"], 100_000, "{offset}");
        assert_eq!(
            parameter(&doc, "/api/v1/audit", "get", "limit")["schema"]["maximum"],
            500
        );
        for (path, beyond) in [
            ("/api/v1/stores?offset=100001", "offset must be 0 to 100000"),
            ("/api/v1/audit?offset=100001", "offset must be 0 to 100000"),
            (
                "/api/v1/admin/users?offset=100001",
                "offset must be 0 to 100000",
            ),
            ("/api/v1/stores?limit=101", "limit must be 1 to 100"),
            ("/api/v1/audit?actorId=someone", "actorId is not a user id"),
            ("/api/v1/stores?ownerId=someone", "ownerId is not a user id"),
            (
                "/api/v1/stores?engine=Not_An_Id",
                "engine is not an engine id",
            ),
        ] {
            let refused = app.get(path, Some(&admin.token)).await;
            assert_eq!(
                refused.status,
                StatusCode::BAD_REQUEST,
                "{path}: {}",
                refused.body
            );
            assert!(
                refused.body["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(beyond),
                "{path}: {}",
                refused.body
            );
        }
        let at_the_bound = app
            .get("/api/v1/stores?offset=100000&limit=100", Some(&admin.token))
            .await;
        assert_eq!(at_the_bound.status, StatusCode::OK, "{}", at_the_bound.body);

        // Path parameters have their forms.
        let store_id = parameter(&doc, "/api/v1/stores/{id}", "get", "id");
        assert_eq!(store_id["schema"]["pattern"], "^[0-9a-f]{12}$");
        let action = parameter(
            &doc,
            "/api/v1/admin/rollouts/{id}/{action}",
            "post",
            "action",
        );
        assert_eq!(
            action["schema"]["enum"],
            json!(["pause", "resume", "abort"])
        );
        let version = parameter(
            &doc,
            "/api/v1/admin/plugins/{engine}/{version}/activate",
            "post",
            "version",
        );
        assert!(version["schema"]["pattern"].is_string(), "{version}");
        let settings = &doc["components"]["schemas"]["RolloutSettings"]["properties"];
        assert_eq!(settings["storeIds"]["items"]["pattern"], "^[0-9a-f]{12}$");
        assert_eq!(
            settings["fromVersions"]["items"]["pattern"],
            doc["components"]["schemas"]["RollbackBody"]["properties"]["version"]["pattern"]
        );

        // A version this host never loaded is not found, not a bad request.
        let unknown = app
            .post(
                "/api/v1/admin/rollouts",
                Some(&admin.token),
                json!({"engine": "woocommerce", "version": "9.9.9"}),
            )
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
        assert_eq!(unknown.body["error"]["code"], "VERSION_NOT_FOUND");

        // One create-store alternative per active engine, with its options schema.
        let body = &doc["components"]["schemas"]["CreateStoreBody"];
        let engines: Vec<&str> = body["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("CreateStoreBody is one of the engines: {body}"))
            .iter()
            .filter_map(|alternative| alternative["properties"]["engine"]["const"].as_str())
            .collect();
        assert_eq!(engines, ["medusa", "prestashop", "woocommerce"]);
        let woo = app.get("/api/v1/engines", None).await.body["engines"]
            .as_array()
            .and_then(|all| all.iter().find(|e| e["id"] == "woocommerce").cloned())
            .unwrap_or_default();
        assert_eq!(
            body["oneOf"][2]["properties"]["options"]["properties"],
            woo["optionsSchema"]["properties"],
            "the engine's own options schema"
        );
        assert!(
            body["oneOf"][0]["properties"]["name"]["not"]["enum"]
                .as_array()
                .is_some_and(|reserved| reserved.contains(&json!("admin"))),
            "reserved names are stated"
        );

        // Disabling an engine takes it out of the document.
        let disabled = app
            .post(
                "/api/v1/admin/plugins/medusa/disable",
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
        let doc = app.get("/api/v1/openapi.json", None).await.body;
        let engines: Vec<&str> = doc["components"]["schemas"]["CreateStoreBody"]["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|alternative| alternative["properties"]["engine"]["const"].as_str())
            .collect();
        assert_eq!(engines, ["prestashop", "woocommerce"]);
    }
);
