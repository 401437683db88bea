//! Guest SDK for storeplane engine plugins.
//!
//! A plugin is a Rust `cdylib` built for `wasm32-wasip2` that implements [`Engine`] and
//! [`Lifecycle`] and calls [`export!`]. This crate holds the generated bindings of the WIT
//! package `storeplane:engine@1.1.0` (`wit/v1.1/engine.wit`, world
//! `engine-plugin-with-lifecycle`) and small helpers, so an engine is mostly domain code: read
//! the tenant's options, build Helm values, list setup steps, upgrade steps and endpoints.
//!
//! ```ignore
//! use storeplane_sdk::{Engine, EngineInfo, Lifecycle, StoreSpec, DeploymentPlan, PlanError, SetupStep};
//! struct MyEngine;
//! impl Engine for MyEngine {
//!     fn describe() -> EngineInfo { /* ... */ }
//!     fn plan(spec: StoreSpec) -> Result<DeploymentPlan, PlanError> { /* ... */ }
//! }
//! impl Lifecycle for MyEngine {
//!     // Nothing to migrate between versions of this engine.
//!     fn upgrade_steps(_from: String, _spec: StoreSpec) -> Result<Vec<SetupStep>, PlanError> {
//!         Ok(vec![])
//!     }
//! }
//! storeplane_sdk::export!(MyEngine);
//! ```
//!
//! Plugins are pure: same input, same output; no network, files, clock or environment.

mod helpers;
pub mod testing;

// The generated bindings contain the canonical-ABI glue, which is unsafe by nature.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "engine-plugin-with-lifecycle",
        path: "../../wit/v1.1",
        export_macro_name: "export",
        pub_export_macro: true,
        default_bindings_module: "storeplane_sdk::bindings",
    });
}

pub use bindings::export;
pub use bindings::exports::storeplane::engine::engine::Guest as Engine;
pub use bindings::exports::storeplane::engine::lifecycle::Guest as Lifecycle;
pub use bindings::storeplane::engine::types::{
    AdminLogin, ChartSource, DeploymentPlan, Endpoint, EndpointKind, EngineInfo, ExecGrant,
    PlanError, SecretRequest, SetupStep, StoreSpec, WorkloadKind, WorkloadRef,
};
pub use helpers::{
    ShellScript, Step, base_url, endpoint, exec_grant, options_schema, parse_options, secret,
    shell_quote,
};
// Re-exported so an engine derives its options schema with the SDK's own version:
// `#[derive(JsonSchema)] #[schemars(crate = "storeplane_sdk::schemars")]`.
pub use schemars;
pub use serde_json;
