//! The PrestaShop engine's next release as the upgrade tests use it: PrestaShop moves to a
//! newer patch image (the security fix a rollout carries). Its chart is embedded, so unlike
//! the bundled chart's engines the release cannot switch objects off with a value: the upgrade
//! changes one object and keeps the rest.

// `export!` emits the canonical-ABI entry points, which are unsafe extern functions.
#![allow(unsafe_code)]

use storeplane_plugin_prestashop::PrestaShop as Base;
use storeplane_sdk::serde_json::{Value, json};

/// The PrestaShop image of this release.
pub const PRESTASHOP_TAG: &str = "8.2.3-apache";

fn change(values: &mut Value) {
    values["prestashop"]["image"] =
        json!({ "repository": "prestashop/prestashop", "tag": PRESTASHOP_TAG });
}

include!("../../next-release-common.rs");
