//! The precompiled-artifact cache: a second start loads from it, a damaged entry is
//! recompiled (never a crash), and cached components behave like fresh ones.

use serde_json::json;
use storeplane::plugins::{Limits, LoadSource, PluginDigest, builtin};
use storeplane_tests::{runtime_with, spec};

fn wasm() -> &'static [u8] {
    builtin::wasm("medusa").unwrap_or_default()
}

#[test]
fn second_start_hits_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = runtime_with(Limits::default(), Some(dir.path().to_path_buf()));
    assert_eq!(
        first.load(wasm()).expect("compile").load_source(),
        LoadSource::Compiled
    );
    drop(first);

    // A new runtime is a new process start as far as wasmtime is concerned.
    let second = runtime_with(Limits::default(), Some(dir.path().to_path_buf()));
    let component = second.load(wasm()).expect("from cache");
    assert_eq!(component.load_source(), LoadSource::Cache);
    let plan = component
        .plan(&second, &spec("4d5e6f70", json!({})))
        .expect("cached component plans");
    assert!(!plan.setup.is_empty());
}

#[test]
fn corrupted_or_truncated_entries_are_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_with(Limits::default(), Some(dir.path().to_path_buf()));
    runtime.load(wasm()).expect("compile");
    let path = runtime
        .cache()
        .expect("cache configured")
        .path_of(&PluginDigest::of(wasm()));
    let pristine = std::fs::read(&path).expect("artifact written");

    let mut flipped = pristine.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    let truncated = pristine[..pristine.len() / 3].to_vec();
    for (what, bytes) in [
        ("flipped byte", flipped),
        ("truncated", truncated),
        ("empty", Vec::new()),
        ("garbage", b"garbage".to_vec()),
    ] {
        std::fs::write(&path, &bytes).expect("damage the entry");
        let runtime = runtime_with(Limits::default(), Some(dir.path().to_path_buf()));
        let component = runtime
            .load(wasm())
            .unwrap_or_else(|err| panic!("{what}: {err}"));
        assert_eq!(component.load_source(), LoadSource::Compiled, "{what}");
        assert!(
            component
                .plan(&runtime, &spec("5e6f7081", json!({})))
                .is_ok(),
            "{what}"
        );
        // The entry was rewritten and is good again.
        let again = runtime_with(Limits::default(), Some(dir.path().to_path_buf()));
        assert_eq!(
            again.load(wasm()).expect("reload").load_source(),
            LoadSource::Cache,
            "{what}"
        );
    }
}

#[test]
fn different_engine_settings_do_not_share_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_with(Limits::default(), Some(dir.path().to_path_buf()));
    runtime.load(wasm()).expect("compile");
    let entries = std::fs::read_dir(dir.path()).expect("cache dir").count();
    assert_eq!(entries, 1, "one artifact per (digest, engine settings)");
}
