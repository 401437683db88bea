//! The isolation matrix: every store endpoint × (owner, other tenant, admin, anonymous).

use reqwest::{Method, StatusCode};
use serde_json::json;
use storeplane_tests::app::TestApp;
use storeplane_tests::backend_test;

backend_test!(
    every_store_endpoint_for_every_kind_of_caller,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("admin-user").await;
        let owner = app.user("owner").await;
        let other = app.user("other").await;
        assert_eq!(admin.role, "admin");

        // (method, path template, expected for owner / other / admin / anonymous). Mutations run
        // last, against fresh stores, so each caller sees the same starting state.
        let read_matrix = [
            (Method::GET, "/api/v1/stores/{id}", [200, 403, 200, 401]),
            (
                Method::GET,
                "/api/v1/stores/{id}/logs",
                [200, 403, 200, 401],
            ),
            (
                Method::POST,
                "/api/v1/stores/{id}/retry",
                [409, 403, 403, 401],
            ),
            // Day-two operations: owner or admin, and only from the right status (the store
            // here is still `requested`: no cluster provisions it).
            (
                Method::POST,
                "/api/v1/stores/{id}/upgrade/preview",
                [409, 403, 409, 401],
            ),
            (
                Method::POST,
                "/api/v1/stores/{id}/upgrade",
                [409, 403, 409, 401],
            ),
            (
                Method::POST,
                "/api/v1/stores/{id}/suspend",
                [409, 403, 409, 401],
            ),
            (
                Method::POST,
                "/api/v1/stores/{id}/resume",
                [409, 403, 409, 401],
            ),
        ];
        let id = app.store(&owner, "isolated").await;
        let callers = [
            Some(owner.token.as_str()),
            Some(other.token.as_str()),
            Some(admin.token.as_str()),
            None,
        ];
        for (method, template, expected) in &read_matrix {
            let path = template.replace("{id}", &id);
            for (caller, want) in callers.iter().zip(expected) {
                let reply = app
                    .request(
                        method.clone(),
                        &path,
                        *caller,
                        (method == Method::POST).then(|| json!({})),
                    )
                    .await;
                assert_eq!(
                    reply.status.as_u16(),
                    *want,
                    "{method} {template} as caller #{:?}: {}",
                    callers.iter().position(|c| c == caller),
                    reply.body
                );
                if *want >= 400 {
                    reply.envelope_code();
                }
            }
        }

        // Delete: the other tenant and the admin are refused; the owner may.
        for (caller, want) in [
            (Some(other.token.as_str()), 403),
            (Some(admin.token.as_str()), 403),
            (None, 401),
            (Some(owner.token.as_str()), 202),
        ] {
            let reply = app.delete(&format!("/api/v1/stores/{id}"), caller).await;
            assert_eq!(reply.status.as_u16(), want, "delete: {}", reply.body);
        }

        // Unknown ids are 404 for everyone authenticated, before any ownership check.
        for token in [&owner.token, &other.token, &admin.token] {
            assert_eq!(
                app.get("/api/v1/stores/0123456789ab", Some(token))
                    .await
                    .status,
                StatusCode::NOT_FOUND
            );
            assert_eq!(
                app.get("/api/v1/stores/not-an-id", Some(token))
                    .await
                    .status,
                StatusCode::NOT_FOUND
            );
        }

        // Lists: tenants see only their own stores; admins see everything with owners.
        let mine = app.store(&other, "others-shop").await;
        let owner_list = app.get("/api/v1/stores", Some(&owner.token)).await;
        assert!(
            owner_list.body["stores"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["id"] != mine),
            "{}",
            owner_list.body
        );
        assert!(
            owner_list.body["stores"][0].get("ownerId").is_none()
                && owner_list.body["stores"][0].get("ownerEmail").is_none(),
            "owners are not shown to tenants"
        );
        let other_ids: Vec<String> =
            app.get("/api/v1/stores", Some(&other.token)).await.body["stores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned())
                .collect();
        assert_eq!(other_ids, std::slice::from_ref(&mine));
        let everything = app.get("/api/v1/stores", Some(&admin.token)).await;
        assert_eq!(everything.body["total"], 2, "{}", everything.body);
        assert!(
            everything.body["stores"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["ownerId"].is_string())
        );
        let email_of_owner = |id: &serde_json::Value| {
            [&owner, &other]
                .into_iter()
                .find(|u| *id == u.id.as_str())
                .map(|u| u.email.clone())
        };
        for store in everything.body["stores"].as_array().unwrap() {
            assert_eq!(
                store["ownerEmail"].as_str().map(str::to_owned),
                email_of_owner(&store["ownerId"]),
                "the admin sees each owner's e-mail address: {store}"
            );
        }
        let one = app
            .get(&format!("/api/v1/stores/{mine}"), Some(&admin.token))
            .await;
        assert_eq!(one.body["store"]["ownerEmail"], other.email.as_str());
        let filtered = app
            .get(
                &format!("/api/v1/stores?ownerId={}", other.id),
                Some(&admin.token),
            )
            .await;
        assert_eq!(filtered.body["total"], 1);
        // A tenant's ownerId filter cannot widen their view.
        let sneaky = app
            .get(
                &format!("/api/v1/stores?ownerId={}", other.id),
                Some(&owner.token),
            )
            .await;
        assert!(
            sneaky.body["stores"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["id"] != mine)
        );

        // Audit: tenants see their own trail only; admins everything.
        let owner_audit = app.get("/api/v1/audit/logs", Some(&owner.token)).await;
        assert!(
            owner_audit.body["logs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["storeId"] != mine && e.get("actorEmail").is_none()),
            "tenants see neither others' events nor e-mail addresses: {}",
            owner_audit.body
        );
        let admin_audit = app.get("/api/v1/audit", Some(&admin.token)).await;
        assert!(
            admin_audit.body["logs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["storeId"] == mine)
        );
        assert_eq!(
            app.get("/api/v1/audit", None).await.status,
            StatusCode::UNAUTHORIZED
        );

        // Admin endpoints: tenants are refused.
        assert_eq!(
            app.get("/api/v1/admin/plugins", Some(&owner.token))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.get("/api/v1/admin/plugins", None).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.get("/api/v1/admin/plugins", Some(&admin.token))
                .await
                .status,
            StatusCode::OK
        );
    }
);
