//! The dashboard in headless Chromium: runs `tests/browser/dashboard.test.mjs` (Playwright's
//! `playwright-core` driving Debian's `chromium`) against a real `storeplane serve` that
//! provisions on the fake Kubernetes API server. Screenshots go to `tests/artifacts/screenshots`.
//! Needs `apt-get install chromium` and `npm ci --prefix tests/browser` (`.ci/run` does both).

use std::process::Command;

use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::Settings;
use storeplane_tests::host::HostProcess;
use storeplane_tests::{guests, workspace_root};

use crate::provisioning::Rig;

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "Chromium not found at {path}: apt-get install -y chromium (or set CHROMIUM)"
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_chromium() {
    let chromium = chromium();
    let browser_dir = workspace_root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: npm ci --prefix tests/browser"
    );
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            ready_after_ms: 1_500,
            ..Settings::default()
        },
    )
    .await;
    // Markup in the notice must show as text.
    let notice = "Simulated cluster <b>demo</b>: nothing is deployed & no shop really runs.";
    let host = HostProcess::start(&rig.options().with("DASHBOARD_NOTICE", notice)).await;
    let plugin = rig.data.path().join("woocommerce-0.2.0.wasm");
    std::fs::write(&plugin, guests::WOO_NEXT).expect("write the plugin upload");
    // A second server with its own database and cluster, its guardrails on and tight.
    // Its stores take a few seconds to become ready, so a deletion can be asked for while one
    // is still provisioning.
    let guarded_rig = Rig::new(
        Backend::Sqlite,
        Settings {
            ready_after_ms: 8_000,
            ..Settings::default()
        },
    )
    .await;
    let guarded = HostProcess::start(
        &guarded_rig
            .options()
            .with("MAX_STORES_PER_USER", "1")
            .with("STORE_CREATION_COOLDOWN_MS", "600000")
            .with("LOGIN_RATE_LIMIT_MAX", "2")
            .with("LOGIN_RATE_LIMIT_WINDOW_MS", "900000"),
    )
    .await;
    let screenshots = workspace_root().join("tests/artifacts/screenshots");

    let base = host.base.clone();
    let guarded_base = guarded.base.clone();
    let fake = format!("http://{}", rig.fake.addr);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-concurrency=1", "dashboard.test.mjs"])
            .current_dir(&browser_dir)
            .env("STOREPLANE_URL", base)
            .env("CHROMIUM", chromium)
            .env("SCREENSHOT_DIR", &screenshots)
            .env("PLUGIN_WASM", &plugin)
            .env("FAKE_URL", fake)
            .env("GUARDED_URL", guarded_base)
            .env("NOTICE", notice)
            .output()
    })
    .await
    .expect("join")
    .expect("node runs (install Node.js 20 or newer)");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "browser tests failed:\n{report}\n--- host logs (last 80 lines) ---\n{}",
        {
            let logs = host.logs();
            logs[logs.len().saturating_sub(80)..].join("\n")
        }
    );
    assert!(
        report.contains("# pass 9"),
        "all nine browser tests ran:\n{report}"
    );
}
