//! The sandbox holds against purpose-built bad guests, and the host keeps serving good plugins
//! after each one.

use std::time::{Duration, Instant};

use serde_json::json;
use storeplane::plugins::{Limits, PlanFailure, PluginError, PluginRuntime, TrapKind, builtin};
use storeplane_tests::{guests, runtime, runtime_with, spec};

/// The host still plans a WooCommerce store on the same runtime.
fn assert_good_plugin_still_works(runtime: &PluginRuntime) {
    let good = runtime.load(builtin::wasm("woocommerce").unwrap_or_default());
    let plan = good.and_then(|c| c.plan(runtime, &spec("0a0b0c0d", json!({}))));
    assert!(
        plan.is_ok_and(|p| !p.setup.is_empty()),
        "the woocommerce plugin must keep working"
    );
}

fn misbehave(runtime: &PluginRuntime, behaviour: &str) -> Result<(), PluginError> {
    let component = runtime.load(guests::MISBEHAVE)?;
    component
        .plan(
            runtime,
            &spec("1a2b3c4d", json!({ "behaviour": behaviour })),
        )
        .map(drop)
}

#[test]
fn infinite_loop_is_stopped_at_the_deadline() {
    let deadline = Duration::from_millis(300);
    // Fuel high enough that the wall-clock deadline, not fuel, stops it.
    let runtime = runtime_with(
        Limits {
            deadline,
            fuel: u64::MAX / 2,
            ..Limits::default()
        },
        None,
    );
    let started = Instant::now();
    let err = misbehave(&runtime, "loop").expect_err("a loop must not return");
    let elapsed = started.elapsed();
    assert!(
        matches!(
            err,
            PluginError::Trap {
                kind: TrapKind::Timeout,
                ..
            }
        ),
        "{err}"
    );
    // Liveness bound, not a benchmark: the call ends near its deadline, not never.
    assert!(
        elapsed < deadline + Duration::from_secs(3),
        "took {elapsed:?}"
    );
    assert_good_plugin_still_works(&runtime);
}

#[test]
fn busy_loop_runs_out_of_fuel() {
    let runtime = runtime_with(
        Limits {
            fuel: 5_000_000,
            deadline: Duration::from_secs(30),
            ..Limits::default()
        },
        None,
    );
    let err = misbehave(&runtime, "loop").expect_err("a loop must not return");
    assert!(
        matches!(
            err,
            PluginError::Trap {
                kind: TrapKind::OutOfFuel,
                ..
            }
        ),
        "{err}"
    );
    assert_good_plugin_still_works(&runtime);
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let runtime = runtime_with(
        Limits {
            memory_bytes: 32 << 20,
            ..Limits::default()
        },
        None,
    );
    let err = misbehave(&runtime, "memory").expect_err("unbounded allocation must fail");
    assert!(
        matches!(
            err,
            PluginError::Trap {
                kind: TrapKind::MemoryLimit,
                ..
            }
        ),
        "{err}"
    );
    assert_good_plugin_still_works(&runtime);
}

#[test]
fn panic_message_reaches_the_error() {
    let runtime = runtime();
    let err = misbehave(&runtime, "panic").expect_err("a panic must fail the call");
    assert!(
        matches!(
            err,
            PluginError::Trap {
                kind: TrapKind::Panic,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("the shop is on fire"),
        "panic message missing: {err}"
    );
    assert_good_plugin_still_works(&runtime);
}

#[test]
fn oversized_output_is_rejected() {
    let runtime = runtime();
    let err = misbehave(&runtime, "oversized").expect_err("8 MiB of values must be refused");
    assert!(
        matches!(err, PluginError::InvalidOutput { call: "plan", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
    assert_good_plugin_still_works(&runtime);
}

#[test]
fn chatty_stderr_is_bounded_and_does_not_fail_the_call() {
    let runtime = runtime();
    assert!(
        misbehave(&runtime, "chatty").is_ok(),
        "150 KB of stderr must not fail a plan"
    );
}

#[test]
fn guest_refusal_is_a_plan_error_not_a_trap() {
    let runtime = runtime();
    let err = misbehave(&runtime, "refuse").expect_err("the guest refuses");
    assert!(
        matches!(err, PluginError::Plan(PlanFailure::InvalidOptions(ref m)) if m == "behaviour=refuse"),
        "{err}"
    );
}

#[test]
fn other_wit_major_version_is_incompatible_and_names_supported_versions() {
    let runtime = runtime();
    let err = runtime
        .load(guests::WIT_V2)
        .expect_err("a 2.x component must be refused");
    assert!(
        matches!(err, PluginError::IncompatibleVersion { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("storeplane:engine/engine@2.0.0"),
        "{message}"
    );
    assert!(message.contains("storeplane:engine@1.x"), "{message}");
    assert_good_plugin_still_works(&runtime);
}

#[test]
fn random_bytes_core_modules_and_empty_files_are_not_components() {
    let runtime = runtime();
    let random: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    // A component header followed by garbage.
    let mut broken_component = b"\0asm\x0d\0\x01\0".to_vec();
    broken_component.extend_from_slice(&random[..64]);
    for (what, bytes) in [
        ("random", random),
        ("core module", core_module),
        ("empty", Vec::new()),
        ("broken", broken_component),
    ] {
        let err = runtime.load(&bytes).expect_err(what);
        assert!(
            matches!(err, PluginError::NotAComponent { .. }),
            "{what}: {err}"
        );
        assert!(
            err.to_string().starts_with("not a WebAssembly component"),
            "{what}: {err}"
        );
    }
    let err = runtime.load(b"\0asm\x01\0\0\0").expect_err("core module");
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");
    assert_good_plugin_still_works(&runtime);
}

#[tokio::test]
async fn bad_plugins_are_refused_by_the_registry_and_good_ones_keep_serving() {
    let registry = storeplane_tests::sandbox_registry();
    let good = registry
        .add_and_activate(
            guests::SWAP_V1.to_vec(),
            storeplane::plugins::Origin::Builtin,
        )
        .await
        .expect("swap v1 registers");
    for bad in [guests::WIT_V2.to_vec(), b"not wasm".to_vec(), Vec::new()] {
        assert!(
            registry
                .add(bad, storeplane::plugins::Origin::Upload("admin".into()))
                .await
                .is_err()
        );
    }
    let (version, plan) = registry
        .plan("swap", spec("2b3c4d5e", json!({})))
        .await
        .expect("still serves");
    assert_eq!(version.digest, good.digest);
    assert_eq!(plan.values["marker"], "1.0.0");
}
