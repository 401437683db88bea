//! Shared harness of storeplane's integration tests: the purpose-built guest components, the
//! external tools the tests need (helm, kubernetes-validate), and ready-made runtimes and
//! registries. A missing tool fails the test with a message saying how to install it.

#![allow(clippy::expect_used)] // test harness: failing loudly is the point

pub mod app;
pub mod fake_kube;
pub mod host;
pub mod house_rules;
pub mod network_policy;
pub mod prestashop_installer;
pub mod wp_cli;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use storeplane::conformance::Conformance;
use storeplane::k8s::{BundledCharts, HelmRenderer};
use storeplane::plugins::{Limits, NoExternalChecks, PluginRuntime, Registry};

/// Guest components built by `build.rs`.
pub mod guests {
    /// Plans normally with `{}`; `options.behaviour` = loop | memory | panic | oversized | chatty | refuse.
    /// Tries every way out of its store namespace (plans harmlessly for sample stores).
    pub const HOSTILE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest_hostile.wasm"));
    pub const MISBEHAVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest_misbehave.wasm"));
    /// Engine `sloppy`: WooCommerce with an exec grant for a container its chart lacks
    /// (`wpcli`) and an option without a default (`region`).
    pub const SLOPPY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest_sloppy.wasm"));
    /// Engine `swap` version 1.0.0; marks plans with `values.marker = "1.0.0"`.
    pub const SWAP_V1: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest_swap_v1.wasm"));
    /// Engine `swap` version 2.0.0.
    pub const SWAP_V2: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest_swap_v2.wasm"));
    /// The WooCommerce engine as version 0.2.0 (a real, valid upload).
    pub const WOO_NEXT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest_woo_next.wasm"));
    /// The WooCommerce engine's next release, 0.3.0: a newer WordPress image, no Ingress.
    pub const WOO_UPGRADE: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/guest_woo_upgrade.wasm"));
    /// The Medusa engine's next release, 0.3.0: more memory for the server, no Ingress.
    pub const MEDUSA_UPGRADE: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/guest_medusa_upgrade.wasm"));
    /// The PrestaShop engine's next release, 0.3.0: a newer PrestaShop image.
    pub const PRESTASHOP_UPGRADE: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/guest_prestashop_upgrade.wasm"));
    /// Engine `wit-test` 1.0.0, built against `storeplane:engine@1.0.0` with wit-bindgen
    /// directly (its stores: WooCommerce of the bundled chart, without setup).
    pub const V1_0_PLAIN: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/guest_v1_0_plain.wasm"));
    /// Engine `wit-test` 1.1.0, built against `storeplane:engine@1.1.0`, exporting the
    /// optional `lifecycle` interface (one upgrade step, `migrate-database`).
    pub const V1_1_LIFECYCLE: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/guest_v1_1_lifecycle.wasm"));
    /// Engine `wit-test` 1.2.0, built against `storeplane:engine@1.1.0` without the optional
    /// `lifecycle` interface.
    pub const V1_1_PLAIN: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/guest_v1_1_plain.wasm"));
    /// Exports `storeplane:engine/engine@2.0.0`.
    pub const WIT_V2: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest_wit_v2.wasm"));
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The helm binary: `HELM_BIN`, else `.tools/bin/helm` (installed by `.ci/install-helm`), else
/// `helm` on PATH. Panics with instructions when none runs.
pub fn helm_bin() -> PathBuf {
    let candidates = std::env::var_os("HELM_BIN")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            workspace_root().join(".tools/bin/helm"),
            PathBuf::from("helm"),
        ]);
    for candidate in candidates {
        let ok = std::process::Command::new(&candidate)
            .args(["version", "--short"])
            .output()
            .is_ok_and(|out| {
                out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("v4")
            });
        if ok {
            return candidate;
        }
    }
    panic!(
        "helm 4 not found: run `.ci/install-helm` (installs helm v4.1.4 into .tools/bin) or set HELM_BIN"
    );
}

/// The `kubernetes-validate` command; panics with instructions when missing.
pub fn kubernetes_validate() -> PathBuf {
    let bin = PathBuf::from("kubernetes-validate");
    let ok = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "kubernetes-validate not found: run `pip install kubernetes-validate`"
    );
    bin
}

/// The bundled ecommerce-store chart directory in the source tree.
pub fn store_chart() -> PathBuf {
    workspace_root().join("helm/ecommerce-store")
}

/// A runtime with default limits and no cache.
pub fn runtime() -> Arc<PluginRuntime> {
    runtime_with(Limits::default(), None)
}

/// A runtime with `limits`, caching in `cache` when given.
pub fn runtime_with(limits: Limits, cache: Option<PathBuf>) -> Arc<PluginRuntime> {
    match PluginRuntime::new(limits, cache) {
        Ok(runtime) => Arc::new(runtime),
        Err(err) => panic!("plugin runtime: {err}"),
    }
}

/// The real conformance checks (helm + manifest rules), charts written under `dir`.
pub fn conformance(dir: &Path) -> Conformance {
    let helm = HelmRenderer::new(helm_bin(), std::time::Duration::from_secs(60), None);
    Conformance::new(helm, BundledCharts::new(dir.join("charts")))
}

/// `storeplane plugin check` on `wasm` as the CLI runs it (the shared runtime, the real helm),
/// charts written under `dir`; `extra` specs run after the samples.
pub async fn plugin_check(
    dir: &Path,
    wasm: &[u8],
    extra: Vec<storeplane::plugins::StoreSpec>,
) -> storeplane::conformance::CheckReport {
    storeplane::conformance::check_plugin(runtime(), &conformance(dir), wasm.to_vec(), extra).await
}

/// A registry without chart checks, for tests of the sandbox and of registry mechanics with
/// engines that have no real chart.
pub fn sandbox_registry() -> Arc<Registry> {
    Arc::new(Registry::new(runtime(), Arc::new(NoExternalChecks)))
}

/// A store spec for `store_id` with `options`.
pub fn spec(store_id: &str, options: serde_json::Value) -> storeplane::plugins::StoreSpec {
    storeplane::plugins::samples::sample_spec(store_id, options, true)
}

/// `wasm` with a custom section appended: different bytes (and digest), same behaviour.
pub fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb128(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    leb128(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}
