//! Bindings for what `storeplane:engine@1.1` adds: the optional `lifecycle` interface, for
//! components that export it (world `engine-plugin-with-lifecycle`). Its types are those of
//! 1.0 (1.1 only adds), so they are reused from [`super::v1`] and so are the conversions.

wasmtime::component::bindgen!({
    path: "../wit/v1.1",
    world: "engine-plugin-with-lifecycle",
    with: {
        "storeplane:engine/types@1.1.0": super::v1::storeplane::engine::types,
    },
});

pub use EnginePluginWithLifecyclePre as PluginPre;

/// Name prefix of the lifecycle interface, before `@<version>`.
pub const LIFECYCLE_INTERFACE: &str = "storeplane:engine/lifecycle";
