//! Build-script helper shared by `host/build.rs` (built-in engine plugins) and `tests/build.rs`
//! (purpose-built guest components for the sandbox tests); and, in [`chart`], the chart
//! packaging an engine's own `build.rs` uses to embed its chart.
//!
//! It runs a nested `cargo build --target wasm32-wasip2` in a target directory of its own, so the
//! outer build's lock is never contended, and copies the resulting components into `OUT_DIR`.
//! The crates it builds are never compiled for the host target by a plain `cargo build`.

#![allow(clippy::print_stdout)] // cargo reads build-script instructions from stdout

pub mod chart;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The WebAssembly target every storeplane component is built for.
pub const TARGET: &str = "wasm32-wasip2";
/// Cargo profile used for components (see the workspace `Cargo.toml`).
pub const PROFILE: &str = "plugin";

/// One crate to build as a component.
#[derive(Debug, Clone, Copy)]
pub struct ComponentCrate {
    /// Cargo package name, e.g. `storeplane-plugin-woocommerce`.
    pub package: &'static str,
    /// Directory of the crate relative to the workspace root (watched for changes).
    pub dir: &'static str,
}

impl ComponentCrate {
    /// File name cargo gives the cdylib (`-` becomes `_`).
    pub fn artifact_name(&self) -> String {
        format!("{}.wasm", self.package.replace('-', "_"))
    }
}

/// Builds `crates` for wasm32-wasip2 and copies each component into `OUT_DIR`.
/// Returns the copied paths in the same order. `watch` lists extra workspace-relative paths
/// (shared SDK, WIT) whose changes must trigger a rebuild.
///
/// Panics with an actionable message on failure: this runs inside a build script, where a panic
/// is how an error reaches the user.
pub fn build_components(crates: &[ComponentCrate], watch: &[&str]) -> Vec<PathBuf> {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR"));
    let root = workspace_root(&manifest_dir);
    let out_dir = PathBuf::from(env_var("OUT_DIR"));
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("wasm-components");

    for path in crates.iter().map(|c| c.dir).chain(watch.iter().copied()) {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
            "--target-dir",
        ])
        .arg(&target_dir);
    for krate in crates {
        cmd.args(["-p", krate.package]);
    }
    // The outer build's flags and wrappers are for the host target (and clippy's wrapper would
    // change fingerprints): the nested build starts clean.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = match cmd.status() {
        Ok(status) => status,
        Err(err) => panic!("could not run cargo to build the WebAssembly components: {err}"),
    };
    if !status.success() {
        panic!(
            "building the WebAssembly components failed ({status}). If the target is missing, run \
             `rustup target add {TARGET}` (rust-toolchain.toml lists it, so rustup normally installs it)."
        );
    }

    let built = target_dir.join(TARGET).join(PROFILE);
    crates
        .iter()
        .map(|krate| {
            let from = built.join(krate.artifact_name());
            let to = out_dir.join(krate.artifact_name());
            if let Err(err) = fs::copy(&from, &to) {
                panic!(
                    "component {} not found at {}: {err}",
                    krate.package,
                    from.display()
                );
            }
            to
        })
        .collect()
}

fn env_var(name: &str) -> String {
    match env::var(name) {
        Ok(value) => value,
        Err(_) => panic!("{name} is not set: build_components must run inside a build script"),
    }
}

/// The directory holding the workspace `Cargo.toml` (the first ancestor with a `[workspace]`).
fn workspace_root(start: &Path) -> PathBuf {
    for dir in start.ancestors() {
        let manifest = dir.join("Cargo.toml");
        if fs::read_to_string(&manifest).is_ok_and(|text| text.contains("[workspace]")) {
            return dir.to_path_buf();
        }
    }
    panic!("no workspace Cargo.toml above {}", start.display());
}
