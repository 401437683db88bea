//! The Medusa engine's next release as the upgrade tests use it: the server gets more memory
//! (the release needs it), and the store's Ingress is no longer rendered (the release's
//! stores are reached another way), so an upgrade changes one object and removes another.

// `export!` emits the canonical-ABI entry points, which are unsafe extern functions.
#![allow(unsafe_code)]

use storeplane_plugin_medusa::Medusa as Base;
use storeplane_sdk::serde_json::{Value, json};

fn change(values: &mut Value) {
    values["medusa"]["resources"]["limits"]["memory"] = json!("1536Mi");
    values["ingress"]["enabled"] = json!(false);
}

include!("../../next-release-common.rs");
