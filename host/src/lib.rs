//! storeplane: a control plane that provisions isolated e-commerce stores on Kubernetes, with
//! each e-commerce engine as a sandboxed WebAssembly plugin.
//!
//! Table of contents (dependency direction: a module may use the ones below it, never above):
//!
//! | module | purpose |
//! |---|---|
//! | [`conformance`] | checks a plugin's plans against its real chart (`plugin check`, activation) |
//! | [`plugins`] | wasmtime sandbox, plugin registry, hot-loading, built-in engines |
//! | [`k8s`] | Helm renderer, manifests, bundled charts |
//! | [`config`], [`telemetry`] | configuration from the environment, logging |
//!
//! `plugins` and `k8s` never import each other; `conformance` wires them.

#![deny(unsafe_code)]

pub mod config;
pub mod conformance;
pub mod k8s;
pub mod plugins;
pub mod telemetry;

pub use config::Config;
