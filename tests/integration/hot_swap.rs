//! Activating a new version and rolling back while calls run loses no call, and every call
//! is answered by exactly one version.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use storeplane::plugins::Origin;
use storeplane_tests::{guests, sandbox_registry, spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_and_rollback_under_load() {
    let registry = sandbox_registry();
    let v1 = registry
        .add_and_activate(guests::SWAP_V1.to_vec(), Origin::Builtin)
        .await
        .expect("v1");
    let v2 = registry
        .add(guests::SWAP_V2.to_vec(), Origin::Upload("admin".into()))
        .await
        .expect("v2");
    assert_eq!(
        registry.active("swap").map(|a| a.digest.clone()),
        Some(v1.digest.clone())
    );

    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for worker in 0..4 {
        let (registry, stop) = (Arc::clone(&registry), Arc::clone(&stop));
        callers.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let id = format!("{worker:02x}{n:06x}");
                let (version, plan) = registry
                    .plan("swap", spec(&id, json!({})))
                    .await
                    .expect("no call may fail");
                // The version that answered is the one whose marker is in the plan.
                assert_eq!(plan.values["marker"], version.info.version.to_string());
                assert_eq!(plan.values["storeId"], id);
                answered.push(version.info.version.to_string());
            }
            answered
        }));
    }

    let settle = || tokio::time::sleep(std::time::Duration::from_millis(150));
    settle().await;
    registry
        .activate("swap", &v2.info.version)
        .expect("activate v2");
    settle().await;
    let back = registry.rollback("swap", None).expect("roll back");
    assert_eq!(back.info.version, v1.info.version);
    settle().await;
    registry
        .activate("swap", &v2.info.version)
        .expect("activate v2 again");
    settle().await;
    stop.store(true, Ordering::Relaxed);

    let mut answers = Vec::new();
    for caller in callers {
        answers.extend(caller.await.expect("caller task"));
    }
    assert!(answers.len() > 20, "only {} calls ran", answers.len());
    assert!(
        answers.iter().any(|v| v == "1.0.0") && answers.iter().any(|v| v == "2.0.0"),
        "both versions answered"
    );
    assert_eq!(
        registry
            .active("swap")
            .map(|a| a.info.version.to_string())
            .as_deref(),
        Some("2.0.0")
    );
}

#[tokio::test]
async fn rollback_walks_back_through_activations_and_to_any_version() {
    let registry = sandbox_registry();
    registry
        .add_and_activate(guests::SWAP_V1.to_vec(), Origin::Builtin)
        .await
        .expect("v1");
    let v2 = registry
        .add_and_activate(guests::SWAP_V2.to_vec(), Origin::Builtin)
        .await
        .expect("v2");
    let back = registry.rollback("swap", None).expect("rollback to v1");
    assert_eq!(back.info.version.to_string(), "1.0.0");
    assert!(
        registry.rollback("swap", None).is_err(),
        "nothing older than v1"
    );
    let forward = registry
        .rollback("swap", Some(&v2.info.version))
        .expect("to a named version");
    assert_eq!(forward.info.version.to_string(), "2.0.0");

    registry.set_disabled("swap", true).expect("disable");
    assert!(registry.active("swap").is_none());
    assert!(
        registry
            .plan("swap", spec("3c4d5e6f", json!({})))
            .await
            .is_err(),
        "disabled engines do not plan"
    );
    registry.set_disabled("swap", false).expect("enable");
    assert!(registry.active("swap").is_some());
}

#[tokio::test]
async fn same_version_with_different_bytes_is_a_conflict() {
    let registry = sandbox_registry();
    registry
        .add(guests::SWAP_V1.to_vec(), Origin::Builtin)
        .await
        .expect("v1");
    // The same bytes again are idempotent.
    registry
        .add(guests::SWAP_V1.to_vec(), Origin::Builtin)
        .await
        .expect("same bytes");
    // Same engine and version, different bytes (an extra custom section): refused.
    let rebuilt = storeplane_tests::with_custom_section(guests::SWAP_V1, "rebuilt", b"yes");
    let err = registry
        .add(rebuilt, Origin::Upload("admin".into()))
        .await
        .expect_err("conflict");
    assert!(err.to_string().contains("bump the plugin version"), "{err}");
    let listing = registry.list();
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].versions.len(), 1);
}
