//! The WooCommerce engine's next release as the upgrade tests use it: WordPress moves to a
//! newer image (the security fix a rollout carries), and the store's Ingress is no longer
//! rendered (the release's stores are reached another way), so an upgrade changes one object
//! and removes another.

// `export!` emits the canonical-ABI entry points, which are unsafe extern functions.
#![allow(unsafe_code)]

use storeplane_plugin_woocommerce::WooCommerce as Base;
use storeplane_sdk::serde_json::{Value, json};

/// The WordPress image of this release.
pub const WORDPRESS_TAG: &str = "6.8.3-php8.3-apache";

fn change(values: &mut Value) {
    values["wordpress"]["image"] = json!({ "tag": WORDPRESS_TAG });
    values["ingress"]["enabled"] = json!(false);
}

include!("../../next-release-common.rs");
