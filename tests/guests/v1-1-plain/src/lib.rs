//! An engine built against `storeplane:engine@1.1.0` that omits the optional `lifecycle`
//! interface (world `engine-plugin`): it must load and plan, and have no upgrade steps.
#![allow(unsafe_code)] // generated ABI glue

wit_bindgen::generate!({ world: "engine-plugin", path: "../../../wit/v1.1" });

const ENGINE_VERSION: &str = "1.2.0";

include!("../../raw-engine-common.rs");

export!(Engine);
