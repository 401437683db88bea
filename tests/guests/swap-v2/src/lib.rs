//! Hot-swap test engine; the version comes from this crate's Cargo.toml.
#![allow(unsafe_code)] // export! emits the ABI glue

#[path = "../../swap-common.rs"]
mod common;

use common::Swap;

storeplane_sdk::export!(Swap);
