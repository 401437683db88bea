//! Builds the built-in engine plugins for wasm32-wasip2 (so one `cargo build` builds
//! everything) and embeds the bundled Helm charts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use storeplane_wasm_build::{ComponentCrate, build_components};

const PLUGINS: &[ComponentCrate] = &[
    ComponentCrate {
        package: "storeplane-plugin-woocommerce",
        dir: "plugins/woocommerce",
    },
    ComponentCrate {
        package: "storeplane-plugin-medusa",
        dir: "plugins/medusa",
    },
    ComponentCrate {
        package: "storeplane-plugin-prestashop",
        dir: "plugins/prestashop",
    },
];

const CHARTS: &[&str] = &["ecommerce-store"];

fn main() {
    build_components(PLUGINS, &["plugins/sdk", "wit"]);
    embed_charts();
    // `sqlx::migrate!` embeds the migrations when the crate compiles: a new one must
    // recompile it.
    println!("cargo:rerun-if-changed=../migrations");
}

fn embed_charts() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let helm_dir = manifest_dir.join("../helm");
    let mut code =
        String::from("/// `(chart name, [(relative path, bytes)])` of every bundled chart.\n");
    code.push_str("pub const BUNDLED_CHARTS: &[(&str, ChartFiles)] = &[\n");
    for chart in CHARTS {
        let root = helm_dir.join(chart);
        println!("cargo:rerun-if-changed={}", root.display());
        let mut files = Vec::new();
        collect(&root, &root, &mut files);
        files.sort();
        assert!(!files.is_empty(), "chart {} has no files", root.display());
        let _ = writeln!(code, "    ({chart:?}, &[");
        for (relative, absolute) in files {
            let _ = writeln!(
                code,
                "        ({relative:?}, include_bytes!({:?})),",
                absolute.display().to_string()
            );
        }
        code.push_str("    ]),\n");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("bundled_charts.rs");
    if let Err(err) = std::fs::write(&out, code) {
        panic!("cannot write {}: {err}", out.display());
    }
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => panic!("cannot read chart directory {}: {err}", dir.display()),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let absolute = path.canonicalize().unwrap_or_else(|_| path.clone());
            files.push((relative.to_string_lossy().replace('\\', "/"), absolute));
        }
    }
}
