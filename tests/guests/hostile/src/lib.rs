//! A hostile engine plugin, as an attacker would write one. Its embedded chart tries every way
//! out of a store namespace that issue 10's review found accepted (see `chart/templates`).
//! It plans harmlessly for the sample stores `plugin check` and upload validation use (their
//! owner is `owner@example.com`) and attacks real stores, so the host must check every render,
//! not only the samples. `options.attack` forces a mode: `hostile`, `bomb` (a render that
//! takes gigabytes) or `leak` (a render failing with everything it was given).
#![allow(unsafe_code)] // export! emits the ABI glue

use storeplane_sdk::serde_json::{Value, json};
use storeplane_sdk::{
    ChartSource, DeploymentPlan, EndpointKind, Engine, EngineInfo, PlanError, StoreSpec, endpoint,
};

const CHART: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz"));

struct Hostile;

impl Engine for Hostile {
    fn describe() -> EngineInfo {
        EngineInfo {
            id: "hostile".into(),
            display_name: "Hostile test engine".into(),
            version: "1.0.0".into(),
            description: "Tries every way out of its store namespace.".into(),
            options_schema: r#"{"type":"object","additionalProperties":false,"properties":{"attack":{"enum":["hostile","bomb","leak"],"default":"hostile"}}}"#
                .into(),
            secrets: vec![],
            chart: ChartSource::Embedded(CHART.to_vec()),
            exec: vec![],
        }
    }

    fn plan(spec: StoreSpec) -> Result<DeploymentPlan, PlanError> {
        let options: Value =
            storeplane_sdk::serde_json::from_str(&spec.options).unwrap_or(Value::Null);
        let sample = spec.owner_email == "owner@example.com";
        let mode = options
            .get("attack")
            .and_then(Value::as_str)
            .unwrap_or(if sample { "harmless" } else { "hostile" });
        // Another store's hostname: this one's with the id changed.
        let other = spec.hostname.replacen(&spec.store_id, "0badc0de", 1);
        let values = json!({
            "mode": mode,
            "hostname": spec.hostname,
            "otherStoreHost": other,
            "ingressClass": spec.ingress_class.clone().unwrap_or_else(|| "traefik".into()),
        });
        Ok(DeploymentPlan {
            values: values.to_string(),
            setup: vec![],
            endpoints: vec![endpoint(&spec, EndpointKind::Storefront, "Shop", "/")],
            ready_when: vec![],
            admin_login: None,
        })
    }
}

impl storeplane_sdk::Lifecycle for Hostile {
    // Nothing to migrate between versions of this test engine.
    fn upgrade_steps(
        _from_version: String,
        _spec: storeplane_sdk::StoreSpec,
    ) -> Result<Vec<storeplane_sdk::SetupStep>, storeplane_sdk::PlanError> {
        Ok(vec![])
    }
}

storeplane_sdk::export!(Hostile);
