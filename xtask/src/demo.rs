//! `cargo xtask demo`: the whole control plane on one machine with nothing but Rust — the
//! `storeplane` server on SQLite, provisioning against `fake-kube`, the simulated Kubernetes
//! API server of the tests (it accepts and runs nothing: pods turn ready after two seconds,
//! setup commands succeed). The dashboard is on <http://localhost:3001/>; Ctrl-C stops both.

use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use crate::{root, run};

/// Printed at start and shown above every dashboard page of the demo.
const SIMULATION_NOTICE: &str = "Simulated cluster: stores are provisioned against fake-kube, \
    a Kubernetes API simulation. Nothing is deployed and no shop really runs.";

/// Stops the child when dropped (also when the task fails half-way).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn start() -> Result<ExitCode, String> {
    let root = root();
    let path = crate::tools::demo_path()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--package",
            "storeplane",
            "--package",
            "storeplane-tests",
        ])
        .args(["--bin", "storeplane", "--bin", "fake-kube"])
        .env("PATH", &path))?;
    // Where cargo put the binaries (CARGO_TARGET_DIR, if the user set one).
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let dir = root.join("target/demo");
    std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let kubeconfig = dir.join("kubeconfig");
    let _ = std::fs::remove_file(&kubeconfig);
    let _cluster = Running(
        Command::new(target.join("debug/fake-kube"))
            .args(["--listen", "127.0.0.1:0", "--ready-after-ms", "2000"])
            .arg("--kubeconfig-out")
            .arg(&kubeconfig)
            .env("PATH", &path)
            .spawn()
            .map_err(|err| format!("starting fake-kube: {err}"))?,
    );
    let started = Instant::now();
    while !kubeconfig.exists() {
        if started.elapsed() > Duration::from_secs(30) {
            return Err("fake-kube wrote no kubeconfig within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "\n  {SIMULATION_NOTICE}\n\n  \
         Dashboard: http://localhost:3001/ (the first account registered is the admin)\n  \
         Data: {} (delete it to start over)\n",
        dir.display()
    );
    let mut server = Running(
        Command::new(target.join("debug/storeplane"))
            .arg("serve")
            .env("PATH", &path)
            .env("KUBECONFIG", &kubeconfig)
            .env("HELM_BIN", root.join(".tools/bin/helm"))
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.join("storeplane.db").display()),
            )
            .env("DATA_DIR", dir.join("data"))
            .env("PORT", "3001")
            // The dashboard says it too, on every page: a `ready` store here is not a shop.
            .env("DASHBOARD_NOTICE", SIMULATION_NOTICE)
            .spawn()
            .map_err(|err| format!("starting storeplane: {err}"))?,
    );
    let status = server
        .0
        .wait()
        .map_err(|err| format!("waiting for storeplane: {err}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
