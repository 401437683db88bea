//! storeplane: a control plane that provisions isolated e-commerce stores on Kubernetes, with
//! each e-commerce engine as a sandboxed WebAssembly plugin.
//!
//! Table of contents (dependency direction: a module may use the ones below it, never above):
//!
//! | module | purpose |
//! |---|---|
//! | [`cli`] | the `storeplane` command line |
//! | [`server`] | start-up wiring of `storeplane serve` |
//! | [`api`] | axum router, extractors, `ApiError`, one file per resource |
//! | [`lifecycle`] | store operations and the state machine; plugin administration |
//! | [`conformance`] | checks a plugin's plans against its real chart (`plugin check`, activation) |
//! | [`plugins`] | wasmtime sandbox, plugin registry, hot-loading, built-in engines |
//! | [`k8s`] | Helm renderer, manifests, bundled charts |
//! | [`db`] | `Db` trait, PostgreSQL and SQLite implementations, migrations |
//! | [`auth`] | argon2id password hashes, JWT |
//! | [`tenancy`], [`guardrails`] | pure logic: who may do what; rate limits, client IPs |
//! | [`domain`] | ids, roles, statuses and the transition table, validated names |
//! | [`config`], [`telemetry`], [`metrics`], [`shutdown`] | cross-cutting |
//!
//! `plugins` and `k8s` never import each other; `conformance` and `lifecycle` wire them. Only
//! `api` imports axum, only `db` sqlx, only `plugins` wasmtime, only `k8s` kube and
//! k8s-openapi, only `config` reads the environment (held by `tests/src/house_rules.rs`).

#![deny(unsafe_code)]
// An item nobody outside its module can reach says so (`pub(crate)`), so `pub` means API.
#![warn(unreachable_pub)]

pub mod allocator;
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod conformance;
pub mod db;
pub mod domain;
pub mod guardrails;
pub mod k8s;
pub mod lifecycle;
pub mod metrics;
pub mod plugins;
pub mod scaffold;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod tenancy;

pub use config::Config;
