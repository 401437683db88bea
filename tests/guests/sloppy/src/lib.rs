//! The WooCommerce engine as a hurried author might publish a variant: its exec grant names
//! `wpcli` (the chart's container is `wp-cli`) and it adds an option `region` without a
//! default. Everything else is the built-in engine, so its plans render and pass; `plugin
//! check` and upload validation must still report both slips.

// `export!` emits the canonical-ABI entry points, which are unsafe extern functions.
#![allow(unsafe_code)]

use storeplane_plugin_woocommerce::WooCommerce;
use storeplane_sdk::serde_json::{self, json};
use storeplane_sdk::{
    DeploymentPlan, Engine, EngineInfo, Lifecycle, PlanError, SetupStep, StoreSpec, exec_grant,
};

struct Sloppy;

impl Engine for Sloppy {
    fn describe() -> EngineInfo {
        let base = WooCommerce::describe();
        let mut schema: serde_json::Value =
            serde_json::from_str(&base.options_schema).unwrap_or_else(|_| json!({}));
        schema["properties"]["region"] = json!({"type": "string", "title": "Region"});
        EngineInfo {
            id: "sloppy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            options_schema: schema.to_string(),
            exec: vec![exec_grant("wp-cli", &["sh"]), exec_grant("wpcli", &["sh"])],
            ..base
        }
    }

    fn plan(spec: StoreSpec) -> Result<DeploymentPlan, PlanError> {
        // The built-in engine does not know `region`; it is this variant's own.
        let mut options: serde_json::Value =
            serde_json::from_str(&spec.options).unwrap_or_else(|_| json!({}));
        if let Some(options) = options.as_object_mut() {
            options.remove("region");
        }
        WooCommerce::plan(StoreSpec {
            options: options.to_string(),
            ..spec
        })
    }
}

impl Lifecycle for Sloppy {
    fn upgrade_steps(from_version: String, spec: StoreSpec) -> Result<Vec<SetupStep>, PlanError> {
        WooCommerce::upgrade_steps(from_version, spec)
    }
}

storeplane_sdk::export!(Sloppy);
