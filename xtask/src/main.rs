//! Project tasks, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`):
//!
//! - `test [cargo test arguments]`: installs what the tests need when it is missing (the
//!   wasm32-wasip2 target; helm 4.1.4, pinned and checksummed, in `.tools/bin`;
//!   kubernetes-validate in the project's own virtualenv `.tools/venv`; Chromium from apt;
//!   playwright-core from npm; the Medusa server built with Node 22), starts a private
//!   PostgreSQL when `TEST_DATABASE_URL` is unset and none answers on 127.0.0.1:5432, then runs
//!   `cargo test`. `.ci/run` runs this same command.
//! - `demo`: the control plane on SQLite against `fake-kube`, the simulated Kubernetes API
//!   server the tests use, with the dashboard on <http://localhost:3001/>.

mod demo;
mod postgres;
mod tools;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let result = match task.as_str() {
        "test" => test(&rest),
        "demo" => demo::start(),
        _ => Err(format!(
            "usage: cargo xtask test [cargo test arguments] | cargo xtask demo (got {task:?})"
        )),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (this crate's parent directory), from the `CARGO_MANIFEST_DIR` that
/// `cargo run` sets when it starts the program, not the one baked in when it was compiled:
/// two checkouts sharing a target directory share this binary too (cargo finds it fresh for
/// both), and each must work on its own files.
pub(crate) fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Runs `command`, failing with what it was when it does not succeed.
pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|err| format!("cannot start {command:?}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}

/// `cargo xtask test`: the tools, the database, then `cargo test` with `args`.
fn test(args: &[String]) -> Result<ExitCode, String> {
    let path = tools::ensure_all()?;
    let database = postgres::for_tests()?;
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(root())
        .arg("test")
        .args(args)
        .env("PATH", &path);
    if let Some(url) = database.url() {
        cargo.env("TEST_DATABASE_URL", url);
    }
    eprintln!("xtask: cargo test {}", args.join(" "));
    let status = cargo
        .status()
        .map_err(|err| format!("cannot start cargo test: {err}"))?;
    drop(database);
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
