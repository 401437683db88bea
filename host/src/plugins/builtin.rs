//! The engine plugins embedded in the binary (built by `host/build.rs` for wasm32-wasip2).
//! They go through the same load and validation path as any uploaded plugin.

/// `(engine id, wasm bytes)` of every built-in plugin.
pub const BUILTIN: &[(&str, &[u8])] = &[
    (
        "woocommerce",
        include_bytes!(concat!(
            env!("OUT_DIR"),
            "/storeplane_plugin_woocommerce.wasm"
        )),
    ),
    (
        "medusa",
        include_bytes!(concat!(env!("OUT_DIR"), "/storeplane_plugin_medusa.wasm")),
    ),
    (
        "prestashop",
        include_bytes!(concat!(
            env!("OUT_DIR"),
            "/storeplane_plugin_prestashop.wasm"
        )),
    ),
];

/// The wasm bytes of the built-in plugin `engine`.
pub fn wasm(engine: &str) -> Option<&'static [u8]> {
    BUILTIN
        .iter()
        .find(|(id, _)| *id == engine)
        .map(|(_, wasm)| *wasm)
}
