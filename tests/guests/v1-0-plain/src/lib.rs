//! An engine built against `storeplane:engine@1.0.0`, before `lifecycle` existed: it must keep
//! loading and planning in every 1.x host, with no upgrade steps.
#![allow(unsafe_code)] // generated ABI glue

wit_bindgen::generate!({ world: "engine-plugin", path: "../../../wit/v1.0" });

const ENGINE_VERSION: &str = "1.0.0";

include!("../../raw-engine-common.rs");

export!(Engine);
