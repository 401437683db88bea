//! `storeplane plugin new`, as a first-time plugin author uses it: the scaffolded crate's own
//! unit tests pass, it builds for wasm32-wasip2 (its chart packaged at build time), passes
//! `plugin check` untouched, uploads, activates and provisions a store to `ready` against the
//! fake cluster, its setup step run with the tenant's title kept out of the command line.

use std::path::Path;
use std::process::Command;

use serde_json::json;
use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::Settings;
use storeplane_tests::{conformance, runtime, workspace_root};

use crate::provisioning::{Rig, ready_store_with, upload_and_activate};

/// `cargo` in the scaffolded crate, with a target directory of its own (kept between runs)
/// and none of the outer build's settings.
fn cargo(dir: &Path, args: &[&str]) {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", workspace_root().join("target/scaffold"));
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(var);
    }
    let output = command.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo {args:?} in the scaffolded crate failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaffolded_plugin_builds_passes_plugin_check_and_provisions_a_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crate_dir = dir.path().join("demo");
    let scaffold = Command::new(env!("CARGO_BIN_EXE_storeplane-host"))
        .args(["plugin", "new", "demo", "--path"])
        .arg(&crate_dir)
        .arg("--storeplane")
        .arg(workspace_root())
        .output()
        .expect("storeplane plugin new");
    assert!(
        scaffold.status.success(),
        "{}",
        String::from_utf8_lossy(&scaffold.stderr)
    );
    assert!(String::from_utf8_lossy(&scaffold.stdout).contains("wrote"));

    let build_dir = crate_dir.clone();
    tokio::task::spawn_blocking(move || {
        cargo(&build_dir, &["test", "--offline", "--quiet"]);
        cargo(
            &build_dir,
            &[
                "build",
                "--offline",
                "--quiet",
                "--release",
                "--target",
                "wasm32-wasip2",
            ],
        );
    })
    .await
    .expect("join");
    let wasm = std::fs::read(
        workspace_root().join("target/scaffold/wasm32-wasip2/release/demo_engine.wasm"),
    )
    .expect("the component was built");

    let report = storeplane::conformance::check_plugin(
        runtime(),
        &conformance(dir.path()),
        wasm.clone(),
        vec![],
    )
    .await;
    assert!(report.passed(), "plugin check passes untouched:\n{report}");

    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let admin = host.user("author").await;
    upload_and_activate(&host, &admin, &wasm, "demo/0.1.0").await;
    let id = ready_store_with(
        &host,
        &admin,
        "corner",
        "demo",
        json!({"title": "Corner \"Shop\"; $(id)"}),
    )
    .await;
    let ran = rig.completed_execs(&id);
    assert_eq!(ran.len(), 1, "{ran:?}");
    let command = ran[0].join(" ");
    assert!(
        command.contains("STORE_TITLE") && !command.contains("Corner"),
        "{command}"
    );
}
