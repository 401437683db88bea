//! Hot-loading from PLUGIN_DIR: new and replaced files are validated and activated; invalid
//! files are reported and never activated.

use std::sync::Arc;

use storeplane::plugins::hotload::{DirectoryLoader, HotLoadEvent};
use storeplane_tests::{guests, sandbox_registry};

#[tokio::test]
async fn files_added_replaced_and_broken() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = sandbox_registry();
    let mut loader = DirectoryLoader::new(dir.path().to_path_buf(), Arc::clone(&registry));
    assert!(loader.scan().await.is_empty(), "empty directory");

    let plugin = dir.path().join("swap.wasm");
    std::fs::write(&plugin, guests::SWAP_V1).expect("write v1");
    std::fs::write(dir.path().join("notes.txt"), "not a plugin").expect("write txt");
    let events = loader.scan().await;
    assert!(
        matches!(events.as_slice(), [HotLoadEvent::Activated { engine, version, .. }] if engine == "swap" && version.to_string() == "1.0.0"),
        "{events:?}"
    );
    assert!(
        loader.scan().await.is_empty(),
        "unchanged files are not reloaded"
    );

    std::fs::write(dir.path().join("broken.wasm"), b"\0asm\x01\0\0\0").expect("write broken");
    let events = loader.scan().await;
    assert!(
        matches!(events.as_slice(), [HotLoadEvent::Rejected { error, .. }] if error.code() == "not_a_component"),
        "{events:?}"
    );
    assert_eq!(
        registry
            .active("swap")
            .map(|v| v.info.version.to_string())
            .as_deref(),
        Some("1.0.0")
    );

    std::fs::write(&plugin, guests::SWAP_V2).expect("replace with v2");
    let events = loader.scan().await;
    assert!(
        matches!(events.as_slice(), [HotLoadEvent::Activated { version, .. }] if version.to_string() == "2.0.0"),
        "{events:?}"
    );
    assert_eq!(
        registry
            .active("swap")
            .map(|v| v.info.version.to_string())
            .as_deref(),
        Some("2.0.0")
    );

    std::fs::write(&plugin, guests::WIT_V2).expect("replace with an incompatible plugin");
    let events = loader.scan().await;
    assert!(
        matches!(events.as_slice(), [HotLoadEvent::Rejected { error, .. }] if error.code() == "incompatible_version"),
        "{events:?}"
    );
    assert_eq!(
        registry
            .active("swap")
            .map(|v| v.info.version.to_string())
            .as_deref(),
        Some("2.0.0"),
        "rejected file changes nothing"
    );
}
