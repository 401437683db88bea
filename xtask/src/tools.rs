//! What the tests need besides Rust, each installed only when missing, project-local where the
//! tool allows it: the wasm32-wasip2 target, helm (`.ci/install-helm`: v4.1.4, checksummed, in
//! `.tools/bin`), kubernetes-validate (a virtualenv in `.tools/venv`), Chromium (apt-get; or
//! `CHROMIUM` naming another Chromium-based browser), playwright-core (`npm ci` in
//! `tests/browser`) and the Medusa server (`.ci/build-medusa`, cached).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{root, run};

/// `PATH` with the project's tools first.
fn project_path(root: &Path) -> Result<OsString, String> {
    let tools = root.join(".tools");
    let mut dirs = vec![tools.join("bin"), tools.join("venv/bin")];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(&dirs).map_err(|err| err.to_string())
}

/// What the demo needs (the wasm target for the engines, helm to render their charts); the
/// `PATH` to run it with.
pub(crate) fn demo_path() -> Result<OsString, String> {
    let root = root();
    let path = project_path(&root)?;
    wasm_target()?;
    step("helm", || {
        run(Command::new(root.join(".ci/install-helm")).env("PATH", &path))
    })?;
    Ok(path)
}

/// Installs whatever is missing; the `PATH` the tests run with (project tools first).
pub(crate) fn ensure_all() -> Result<OsString, String> {
    let root = root();
    let path = demo_path()?;
    kubernetes_validate(&root, &path)?;
    chromium(&path)?;
    if !root
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        step("playwright-core", || {
            run(Command::new("npm")
                .args(["ci", "--prefix", "tests/browser", "--no-audit", "--no-fund"])
                .current_dir(&root))
        })?;
    }
    step("the Medusa server", || {
        run(Command::new(root.join(".ci/build-medusa")).env("PATH", &path))
    })?;
    Ok(path)
}

/// Runs `install`, naming `what` in its error.
fn step(what: &str, install: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    install().map_err(|err| format!("installing {what}: {err}"))
}

/// Whether `program` runs with `args` on `path`.
fn works(program: impl AsRef<std::ffi::OsStr>, args: &[&str], path: &OsString) -> bool {
    Command::new(program)
        .args(args)
        .env("PATH", path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn wasm_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|err| format!("rustup is needed to add the wasm32-wasip2 target: {err}"))?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-wasip2")
    {
        return Ok(());
    }
    step("the wasm32-wasip2 target", || {
        run(Command::new("rustup").args(["target", "add", "wasm32-wasip2"]))
    })
}

/// kubernetes-validate from PyPI into `.tools/venv` (unless one is on `PATH` already).
fn kubernetes_validate(root: &Path, path: &OsString) -> Result<(), String> {
    if works("kubernetes-validate", &["--version"], path) {
        return Ok(());
    }
    let venv = root.join(".tools/venv");
    step("kubernetes-validate", || {
        if !venv.join("bin/pip").exists() {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        }
        run(Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "kubernetes-validate",
        ]))
    })
}

/// Chromium from apt (as root, or through sudo), unless it or `CHROMIUM` is there.
fn chromium(path: &OsString) -> Result<(), String> {
    if let Some(browser) = std::env::var_os("CHROMIUM") {
        return if works(&browser, &["--version"], path) {
            Ok(())
        } else {
            Err(format!("CHROMIUM={browser:?} does not run"))
        };
    }
    if works("chromium", &["--version"], path) {
        return Ok(());
    }
    step("Chromium (apt-get install chromium)", || {
        let root_user = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let apt = |args: &[&str]| {
            let mut command = if root_user {
                Command::new("apt-get")
            } else {
                let mut sudo = Command::new("sudo");
                sudo.arg("apt-get");
                sudo
            };
            command.args(args);
            run(&mut command)
        };
        apt(&["update", "-qq"])?;
        apt(&["install", "-y", "-qq", "chromium"])
    })
}

/// The directories of a PostgreSQL server installation (`initdb` and `pg_ctl`), if any: on
/// `PATH`, or Debian's `/usr/lib/postgresql/<version>/bin`.
pub(crate) fn postgres_bin() -> Option<PathBuf> {
    let on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file())
            .collect();
        versions.sort();
        versions.pop()
    })
}
