//! The story test: one body that exercises every `Db` method, run against both backends.

use std::time::Duration;

use serde_json::json;
use storeplane::db::{
    AuditContext, AuditFilter, Backend as DbBackend, CreateRolloutError, CreateStoreError,
    CreateUserError, JobKind, MemberState, NewAudit, NewMember, NewPlugin, NewRollout, NewStore,
    NewUser, RolloutState, StoreFilter, StoreLimits, StorePatch, Transition, TransitionError,
};
use storeplane::domain::{Email, Role, StoreId, StoreName, StoreStatus, UserId, Username};
use storeplane_tests::app::{Backend, TestDatabase};
use storeplane_tests::backend_test;

fn new_user(name: &str) -> NewUser {
    NewUser {
        id: UserId::generate(),
        email: Email::parse(&format!("{name}@example.com")).unwrap(),
        username: Username::parse(name).unwrap(),
        password_hash: "$argon2id$not-a-real-hash".into(),
    }
}

fn new_store(owner: &UserId, name: &str) -> NewStore {
    NewStore {
        id: StoreId::generate(),
        owner_id: owner.clone(),
        name: StoreName::parse(name).unwrap(),
        engine: "woocommerce".into(),
        options: json!({ "currency": "EUR" }),
        plugin_version: Some("0.1.0".into()),
        plugin_digest: Some("ab".repeat(32)),
    }
}

fn ctx(actor: &UserId) -> AuditContext {
    AuditContext {
        actor_id: Some(actor.clone()),
        request_id: Some("req-1".into()),
        ip: Some("192.0.2.1".into()),
    }
}

backend_test!(
    every_db_method_tells_one_story,
    |backend: Backend| async move {
        let database = TestDatabase::create(backend).await;
        let db = storeplane::db::connect(&database.url).await.unwrap();
        assert_eq!(
            db.backend(),
            if backend == Backend::Sqlite {
                DbBackend::Sqlite
            } else {
                DbBackend::Postgres
            }
        );
        db.migrate().await.unwrap();
        db.migrate().await.unwrap(); // idempotent
        db.ping().await.unwrap();

        // Users: the first is the bootstrap admin, the next a tenant, duplicates refused.
        let ann = db
            .create_user(new_user("ann"), false, AuditContext::default())
            .await
            .unwrap();
        let bob = db
            .create_user(new_user("bob"), false, AuditContext::default())
            .await
            .unwrap();
        let ops = db
            .create_user(new_user("ops"), true, AuditContext::default())
            .await
            .unwrap();
        assert_eq!(
            (ann.role, bob.role, ops.role),
            (Role::Admin, Role::Tenant, Role::Admin)
        );
        assert!(matches!(
            db.create_user(new_user("ann"), false, AuditContext::default())
                .await,
            Err(CreateUserError::Exists)
        ));
        assert_eq!(
            db.user_by_id(&bob.id).await.unwrap().map(|u| u.email),
            Some("bob@example.com".into())
        );
        assert_eq!(
            db.user_by_email("bob@example.com")
                .await
                .unwrap()
                .map(|u| u.id),
            Some(bob.id.clone())
        );
        assert!(
            db.user_by_email("nobody@example.com")
                .await
                .unwrap()
                .is_none()
        );
        let toggled = |what: &str| NewAudit::new(ctx(&bob.id), what, what.to_owned());
        let off = db
            .set_user_active(&bob.id, false, toggled("user.deactivated"))
            .await
            .unwrap()
            .expect("bob exists");
        assert!(!off.active);
        assert!(!db.user_by_id(&bob.id).await.unwrap().unwrap().active);
        let unchanged = db
            .set_user_active(&bob.id, false, toggled("user.deactivated"))
            .await
            .unwrap()
            .expect("bob exists");
        assert!(!unchanged.active);
        let recorded = db
            .list_audit(&AuditFilter {
                action: Some("user.deactivated".into()),
                limit: 10,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(
            recorded.total, 1,
            "a change that changes nothing is not recorded"
        );
        assert!(
            db.set_user_active(&bob.id, true, toggled("user.activated"))
                .await
                .unwrap()
                .expect("bob exists")
                .active
        );
        assert!(
            db.set_user_active(&UserId("missing".into()), true, toggled("user.activated"))
                .await
                .unwrap()
                .is_none()
        );
        let users = db.list_users(10, 0).await.unwrap();
        assert_eq!(users.total, 3);
        let listed_bob = users
            .items
            .iter()
            .find(|u| u.user.id == bob.id)
            .expect("bob is listed");
        assert_eq!(listed_bob.active_stores, 0);
        assert_eq!(db.list_users(1, 2).await.unwrap().items.len(), 1);

        // Stores: limit, cooldown, unique live names.
        let limits = StoreLimits {
            max_active: 2,
            cooldown: Duration::ZERO,
        };
        let shop = db
            .create_store(new_store(&bob.id, "shop"), limits, ctx(&bob.id))
            .await
            .unwrap();
        assert_eq!((shop.status, shop.version), (StoreStatus::Requested, 1));
        assert_eq!(shop.options["currency"], "EUR");
        assert!(matches!(
            db.create_store(new_store(&bob.id, "shop"), limits, ctx(&bob.id))
                .await,
            Err(CreateStoreError::NameTaken)
        ));
        db.create_store(new_store(&bob.id, "second"), limits, ctx(&bob.id))
            .await
            .unwrap();
        assert!(matches!(
            db.create_store(new_store(&bob.id, "third"), limits, ctx(&bob.id))
                .await,
            Err(CreateStoreError::LimitExceeded { limit: 2 })
        ));
        let cooling = StoreLimits {
            max_active: 10,
            cooldown: Duration::from_secs(60),
        };
        match db
            .create_store(new_store(&bob.id, "third"), cooling, ctx(&bob.id))
            .await
        {
            Err(CreateStoreError::Cooldown { retry_after }) => {
                assert!(retry_after > Duration::from_secs(55))
            }
            other => panic!("expected a cooldown, got {other:?}"),
        }
        assert_eq!(
            db.store(&shop.id).await.unwrap().map(|s| s.name),
            Some("shop".into())
        );
        assert!(db.store(&StoreId::generate()).await.unwrap().is_none());
        let job = db.open_job(&shop.id).await.unwrap().unwrap();
        assert_eq!(
            (job.kind.as_str(), job.request_id.as_deref()),
            ("provision", Some("req-1"))
        );

        // Lists and counts.
        let page = db
            .list_stores(&StoreFilter {
                owner: Some(bob.id.clone()),
                limit: 1,
                offset: 0,
                ..StoreFilter::default()
            })
            .await
            .unwrap();
        assert_eq!((page.items.len(), page.total), (1, 2));
        assert_eq!(page.items[0].name, "second", "newest first");
        let none = db
            .list_stores(&StoreFilter {
                owner: Some(ann.id.clone()),
                limit: 10,
                ..StoreFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(none.total, 0);
        let filtered = db
            .list_stores(&StoreFilter {
                status: Some(StoreStatus::Requested),
                engine: Some("woocommerce".into()),
                limit: 10,
                ..StoreFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(filtered.total, 2);

        // Transitions: compare-and-set, invalid, conflicting, patches, jobs.
        let transition = |store: &storeplane::db::Store, to, patch, enqueue, cancel| Transition {
            store_id: store.id.clone(),
            from: store.status,
            expected_version: store.version,
            to,
            patch,
            audit: NewAudit::new(ctx(&bob.id), "story.step", "a step"),
            cancel_open_job: cancel,
            enqueue,
        };
        assert!(matches!(
            db.transition_store(transition(
                &shop,
                StoreStatus::Ready,
                StorePatch::default(),
                None,
                false
            ))
            .await,
            Err(TransitionError::Invalid { .. })
        ));
        let provisioning = db
            .transition_store(transition(
                &shop,
                StoreStatus::Provisioning,
                StorePatch::default(),
                None,
                false,
            ))
            .await
            .unwrap();
        assert_eq!(provisioning.version, 2);
        assert!(matches!(
            db.transition_store(transition(
                &shop,
                StoreStatus::Provisioning,
                StorePatch::default(),
                None,
                false
            ))
            .await,
            Err(TransitionError::Conflict {
                current: StoreStatus::Provisioning
            })
        ));
        let endpoints =
            json!([{ "kind": "storefront", "label": "Shop", "url": "https://shop.example.com/" }]);
        let ready = db
            .transition_store(transition(
                &provisioning,
                StoreStatus::Ready,
                StorePatch {
                    endpoints: Some(endpoints.clone()),
                    ..StorePatch::default()
                },
                None,
                false,
            ))
            .await
            .unwrap();
        assert_eq!(ready.endpoints, endpoints);
        assert!(ready.ready_at.is_some());
        let deleting = db
            .transition_store(transition(
                &ready,
                StoreStatus::Deleting,
                StorePatch::default(),
                Some(JobKind::Delete),
                true,
            ))
            .await
            .unwrap();
        assert_eq!(
            db.open_job(&shop.id).await.unwrap().map(|j| j.kind),
            Some("delete".into())
        );
        let deleted = db
            .transition_store(transition(
                &deleting,
                StoreStatus::Deleted,
                StorePatch::default(),
                None,
                true,
            ))
            .await
            .unwrap();
        assert!(deleted.deleted_at.is_some());
        assert!(db.open_job(&shop.id).await.unwrap().is_none());
        let failing = db
            .create_store(new_store(&bob.id, "shop"), limits, ctx(&bob.id))
            .await
            .unwrap(); // name free again
        let failing = db
            .transition_store(transition(
                &failing,
                StoreStatus::Provisioning,
                StorePatch::default(),
                None,
                false,
            ))
            .await
            .unwrap();
        let failed = db
            .transition_store(transition(
                &failing,
                StoreStatus::Failed,
                StorePatch {
                    failure_reason: Some(Some("boom".into())),
                    ..StorePatch::default()
                },
                None,
                true,
            ))
            .await
            .unwrap();
        assert_eq!(failed.failure_reason.as_deref(), Some("boom"));
        let retried = db
            .transition_store(transition(
                &failed,
                StoreStatus::Provisioning,
                StorePatch {
                    failure_reason: Some(None),
                    increment_retry: true,
                    ..StorePatch::default()
                },
                Some(JobKind::Provision),
                false,
            ))
            .await
            .unwrap();
        assert_eq!(
            (retried.retry_count, retried.failure_reason.clone()),
            (1, None)
        );
        let counts = db.count_stores_by_status().await.unwrap();
        assert!(
            counts.contains(&(StoreStatus::Deleted, 1))
                && counts.contains(&(StoreStatus::Provisioning, 1))
                && counts.contains(&(StoreStatus::Requested, 1))
        );

        let jobs = db.count_jobs().await.unwrap();
        assert!(
            jobs.contains(&("provision".into(), "queued".into(), 2)),
            "{jobs:?}"
        );
        assert!(
            jobs.contains(&("delete".into(), "cancelled".into(), 1)),
            "{jobs:?}"
        );

        // Audit: standalone events, filters, visibility.
        let mut login = NewAudit::new(ctx(&ann.id), "auth.login", "login");
        login.details = json!({ "email": "ann@example.com" });
        db.record_audit(login).await.unwrap();
        let all = db
            .list_audit(&AuditFilter {
                limit: 500,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert!(all.total >= 10);
        let of_shop = db
            .list_audit(&AuditFilter {
                store_id: Some(shop.id.clone()),
                limit: 100,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        let actions: Vec<&str> = of_shop.items.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "story.step",
                "story.step",
                "story.step",
                "story.step",
                "store.create"
            ]
        );
        assert_eq!(of_shop.items[0].from_status.as_deref(), Some("deleting"));
        assert_eq!(of_shop.items[0].request_id.as_deref(), Some("req-1"));
        let anns = db
            .list_audit(&AuditFilter {
                visible_to: Some(ann.id.clone()),
                limit: 100,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert!(
            anns.items.iter().all(|e| e.store_id.is_none()),
            "ann owns no store; she sees her own events only"
        );
        let logins = db
            .list_audit(&AuditFilter {
                action: Some("auth.login".into()),
                limit: 10,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(logins.total, 1);
        assert_eq!(logins.items[0].details["email"], "ann@example.com");

        // Plugins and settings.
        let plugin = |version: &str| NewPlugin {
            engine: "woocommerce".into(),
            version: version.into(),
            digest: version.repeat(8),
            wasm: vec![0, 97, 115, 109],
            uploaded_by: Some(ann.id.clone()),
        };
        db.save_plugin(plugin("1.0.0")).await.unwrap();
        db.save_plugin(plugin("1.0.0")).await.unwrap(); // idempotent
        db.save_plugin(plugin("2.0.0")).await.unwrap();
        assert!(db.mark_plugin_active("woocommerce", "2.0.0").await.unwrap());
        assert!(db.mark_plugin_active("woocommerce", "1.0.0").await.unwrap());
        assert!(!db.mark_plugin_active("woocommerce", "9.0.0").await.unwrap());
        let plugins = db.list_plugins().await.unwrap();
        assert_eq!(
            plugins
                .iter()
                .map(|p| (p.version.as_str(), p.active))
                .collect::<Vec<_>>(),
            [("1.0.0", true), ("2.0.0", false)]
        );
        assert_eq!(plugins[0].wasm, vec![0, 97, 115, 109]);
        // Another replica's upload, found by digest or by version.
        let by_digest = db.find_plugin(&"2.0.0".repeat(8), "", "").await.unwrap();
        assert_eq!(by_digest.map(|p| p.version).as_deref(), Some("2.0.0"));
        let by_version = db.find_plugin("", "woocommerce", "1.0.0").await.unwrap();
        assert_eq!(by_version.map(|p| p.digest), Some("1.0.0".repeat(8)));
        assert!(
            db.find_plugin("none", "woocommerce", "9.9.9")
                .await
                .unwrap()
                .is_none()
        );

        // Pinning: the store's flag and its audit event.
        let pinned = db
            .set_store_pinned(
                &shop.id,
                true,
                NewAudit::new(ctx(&bob.id), "store.pinned", "pinned"),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(pinned.pinned);
        assert!(db.store(&shop.id).await.unwrap().unwrap().pinned);
        assert!(
            db.set_store_pinned(
                &StoreId::generate(),
                true,
                NewAudit::new(ctx(&bob.id), "store.pinned", "x")
            )
            .await
            .unwrap()
            .is_none()
        );

        // Rollouts: one active per engine, members by compare-and-set, leases, states.
        let new_rollout = || NewRollout {
            engine: "woocommerce".into(),
            version: "2.0.0".into(),
            digest: "2.0.0".repeat(8),
            settings: serde_json::json!({"canary": 1}),
            created_by: Some(ann.id.clone()),
            members: vec![NewMember {
                store_id: shop.id.clone(),
                batch: 0,
                from_version: "1.0.0".into(),
                from_digest: "1.0.0".repeat(8),
            }],
            audit: NewAudit::new(ctx(&ann.id), "rollout.started", "started"),
        };
        let rollout = db.create_rollout(new_rollout()).await.unwrap();
        assert_eq!(rollout.state, RolloutState::Running);
        assert!(matches!(
            db.create_rollout(new_rollout()).await,
            Err(CreateRolloutError::AlreadyActive)
        ));
        assert_eq!(
            db.rollout(rollout.id)
                .await
                .unwrap()
                .map(|r| r.engine)
                .as_deref(),
            Some("woocommerce")
        );
        assert_eq!(db.list_rollouts(10, 0).await.unwrap().total, 1);
        let lease = std::time::Duration::from_secs(30);
        assert_eq!(db.claim_rollouts("one", lease).await.unwrap().len(), 1);
        assert!(
            db.claim_rollouts("two", lease).await.unwrap().is_empty(),
            "leased to one"
        );
        assert!(
            db.set_member_state(
                rollout.id,
                &shop.id,
                MemberState::Pending,
                MemberState::Upgrading,
                None
            )
            .await
            .unwrap()
        );
        assert!(
            !db.set_member_state(
                rollout.id,
                &shop.id,
                MemberState::Pending,
                MemberState::Upgrading,
                None
            )
            .await
            .unwrap(),
            "a member moves once"
        );
        let members = db.rollout_members(rollout.id).await.unwrap();
        assert_eq!(members[0].state, MemberState::Upgrading);
        let at = chrono::Utc::now();
        db.set_rollout_next_batch(rollout.id, Some(at))
            .await
            .unwrap();
        assert!(
            db.rollout(rollout.id)
                .await
                .unwrap()
                .unwrap()
                .next_batch_at
                .is_some()
        );
        let stopped = db
            .set_rollout_state(
                rollout.id,
                &[RolloutState::Running],
                RolloutState::Stopped,
                Some("budget".into()),
                NewAudit::new(ctx(&ann.id), "rollout.stopped", "stopped"),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stopped.reason.as_deref(), Some("budget"));
        assert!(
            db.set_rollout_state(
                rollout.id,
                &[RolloutState::Running],
                RolloutState::Paused,
                None,
                NewAudit::new(ctx(&ann.id), "x", "x")
            )
            .await
            .unwrap()
            .is_none(),
            "only from the states named"
        );
        // Stopped with an upgrade still under way: still claimed, to record how it ends.
        assert_eq!(db.claim_rollouts("two", lease).await.unwrap().len(), 1);
        db.create_rollout(new_rollout()).await.unwrap();
        assert_eq!(db.setting("k").await.unwrap(), None);
        assert_eq!(db.setting_or_insert("k", "first").await.unwrap(), "first");
        assert_eq!(db.setting_or_insert("k", "second").await.unwrap(), "first");
        db.put_setting("k", "third").await.unwrap();
        assert_eq!(db.setting("k").await.unwrap().as_deref(), Some("third"));
        db.close().await;
    }
);
