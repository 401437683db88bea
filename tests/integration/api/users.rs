//! Admin user management: the list with store counts, deactivation (login refused, earlier
//! tokens rejected, stores kept), reactivation, the audit trail, and who may do it.

use reqwest::StatusCode;
use serde_json::json;
use storeplane_tests::app::TestApp;
use storeplane_tests::backend_test;

backend_test!(
    admins_list_deactivate_and_reactivate_users,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let admin = app.user("boss").await;
        let carol = app.user("carol").await;
        let dave = app.user("dave").await;
        let shop = app.store(&carol, "carols-shop").await;

        // The list: oldest first, roles, activity and store counts; admins only.
        let list = app.get("/api/v1/admin/users", Some(&admin.token)).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        assert_eq!(list.body["total"], 3);
        let users = list.body["users"].as_array().unwrap();
        let emails: Vec<&str> = users.iter().map(|u| u["email"].as_str().unwrap()).collect();
        assert_eq!(emails, [&admin.email, &carol.email, &dave.email]);
        assert_eq!(users[0]["role"], "admin");
        assert_eq!(users[1]["activeStores"], 1);
        assert_eq!(users[2]["activeStores"], 0);
        assert!(users.iter().all(|u| u["active"] == true));
        assert!(
            users.iter().all(|u| u.get("passwordHash").is_none()),
            "no password hashes: {}",
            list.body
        );
        let paged = app
            .get("/api/v1/admin/users?limit=1&offset=1", Some(&admin.token))
            .await;
        assert_eq!(paged.body["users"][0]["email"], carol.email.as_str());
        for (token, want) in [
            (Some(carol.token.as_str()), StatusCode::FORBIDDEN),
            (None, StatusCode::UNAUTHORIZED),
        ] {
            assert_eq!(app.get("/api/v1/admin/users", token).await.status, want);
            let refused = app
                .post(
                    &format!("/api/v1/admin/users/{}/deactivate", dave.id),
                    token,
                    json!({}),
                )
                .await;
            assert_eq!(refused.status, want, "{}", refused.body);
        }

        // Deactivation: the earlier token and a new login are refused; the store stays.
        let off = app
            .post(
                &format!("/api/v1/admin/users/{}/deactivate", carol.id),
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(off.status, StatusCode::OK, "{}", off.body);
        assert_eq!(off.body["user"]["active"], false);
        let me = app.get("/api/v1/auth/me", Some(&carol.token)).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.body);
        let login = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": carol.email, "password": "password-carol" }),
            )
            .await;
        assert_eq!(
            (login.status, login.envelope_code().as_str()),
            (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS")
        );
        let kept = app
            .get(&format!("/api/v1/stores/{shop}"), Some(&admin.token))
            .await;
        assert_eq!(kept.status, StatusCode::OK);
        assert_ne!(kept.body["store"]["status"], "deleted");

        // Doing it again changes and records nothing.
        let again = app
            .post(
                &format!("/api/v1/admin/users/{}/deactivate", carol.id),
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.body["user"]["active"], false);

        // Reactivation lets carol in again.
        let on = app
            .post(
                &format!("/api/v1/admin/users/{}/activate", carol.id),
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(on.body["user"]["active"], true, "{}", on.body);
        let me = app.get("/api/v1/auth/me", Some(&carol.token)).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);

        // The audit trail: one event per change, by the admin, naming the user.
        let audit = app
            .get(
                "/api/v1/audit?eventType=user.deactivated",
                Some(&admin.token),
            )
            .await;
        assert_eq!(audit.body["total"], 1, "{}", audit.body);
        let event = &audit.body["logs"][0];
        assert_eq!(event["actorId"], admin.id.as_str());
        assert_eq!(
            event["actorEmail"],
            admin.email.as_str(),
            "admins see who did it"
        );
        assert_eq!(event["details"]["userId"], carol.id.as_str());
        let audit = app
            .get("/api/v1/audit?eventType=user.activated", Some(&admin.token))
            .await;
        assert_eq!(audit.body["total"], 1, "{}", audit.body);

        // One user's activity: carol registered and created her shop.
        let by_carol = app
            .get(
                &format!("/api/v1/audit?actorId={}", carol.id),
                Some(&admin.token),
            )
            .await;
        let actions: Vec<&str> = by_carol.body["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["actorId"], carol.id.as_str(), "{e}");
                e["action"].as_str().unwrap()
            })
            .collect();
        assert!(
            actions.contains(&"auth.register") && actions.contains(&"store.create"),
            "{actions:?}"
        );

        // An admin cannot lock themselves out; unknown users are 404.
        let own = app
            .post(
                &format!("/api/v1/admin/users/{}/deactivate", admin.id),
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(
            (own.status, own.envelope_code().as_str()),
            (StatusCode::CONFLICT, "CONFLICT")
        );
        let unknown = app
            .post(
                "/api/v1/admin/users/00000000-0000-4000-8000-000000000000/activate",
                Some(&admin.token),
                json!({}),
            )
            .await;
        assert_eq!(
            (unknown.status, unknown.envelope_code().as_str()),
            (StatusCode::NOT_FOUND, "USER_NOT_FOUND")
        );
    }
);

/// A change committed while the change feed's connection is down is never announced: the feed
/// reports the gap, and the cached users are dropped, so the change still takes effect at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_changed_while_the_change_feed_was_down_is_not_served_from_the_cache() {
    let app = TestApp::spawn(storeplane_tests::app::Backend::Postgres).await;
    let admin = app.user("boss").await;
    let erin = app.user("erin").await;
    let me = app.get("/api/v1/auth/me", Some(&erin.token)).await;
    assert_eq!(me.status, StatusCode::OK, "erin is cached now: {}", me.body);
    // Another writer deactivates erin, and the server's feed never hears of it.
    app.database
        .change_unheard("UPDATE users SET active = false WHERE id = $1", &erin.id)
        .await;
    let since = tokio::time::Instant::now();
    loop {
        let me = app.get("/api/v1/auth/me", Some(&erin.token)).await;
        if me.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            since.elapsed() < std::time::Duration::from_secs(5),
            "a deactivated user was still served 5 s after a missed notification"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The feed listens again: a later change is heard as before.
    let on = app
        .post(
            &format!("/api/v1/admin/users/{}/activate", erin.id),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&erin.token)).await.status,
        StatusCode::OK
    );
}
