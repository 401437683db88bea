//! The plugin host: engines as sandboxed WebAssembly components.
//!
//! | file | what |
//! |---|---|
//! | `runtime` | wasmtime engine, epoch ticker, per-call store with limits, trap classification |
//! | `cache` | precompiled artifacts on disk (atomic, checksummed, miss on any failure) |
//! | `bindings` | one module per supported WIT major version, converting to `model` |
//! | `model` | host-side contract types the rest of the host uses |
//! | `validate` | host rules every engine-info and plan must pass |
//! | `samples` | sample store specs for smoke tests |
//! | `registry` | versions per engine, validation, atomic activation, rollback |
//! | `hotload` | activating plugins dropped into `PLUGIN_DIR` |
//! | `builtin` | the engines embedded in the binary |
//! | `stderr` | bounded capture of guest stderr |
//!
//! Only this module imports wasmtime. It knows nothing of Kubernetes: chart rendering reaches
//! it as a [`registry::PlanValidator`] supplied by the caller.

pub mod bindings;
pub mod builtin;
pub mod cache;
pub mod error;
pub mod hotload;
pub mod model;
pub mod pool;
pub mod registry;
pub mod runtime;
pub mod samples;
pub mod stderr;
pub mod validate;

pub use cache::LoadSource;
pub use error::{PlanFailure, PluginError, TrapKind};
pub use model::{DeploymentPlan, EngineInfo, PluginDigest, StoreSpec};
pub use registry::{NoExternalChecks, Origin, PlanValidator, PluginVersion, Registry};
pub use runtime::{Limits, LoadedComponent, PluginRuntime};
