// Shared body of the hot-swap test engines: each crate's version is marked in every plan
// (`values.marker`), so a test can tell exactly which version answered a call.

use storeplane_sdk::serde_json::json;
use storeplane_sdk::{
    ChartSource, DeploymentPlan, EndpointKind, Engine, EngineInfo, PlanError, StoreSpec, endpoint,
    exec_grant,
};

pub struct Swap;

impl Engine for Swap {
    fn describe() -> EngineInfo {
        EngineInfo {
            id: "swap".into(),
            display_name: "Hot-swap test engine".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Marks every plan with its version.".into(),
            options_schema: r#"{"type":"object","properties":{}}"#.into(),
            secrets: vec![],
            chart: ChartSource::Bundled("ecommerce-store".into()),
            exec: vec![exec_grant("app", &["sh"])],
        }
    }

    fn plan(spec: StoreSpec) -> Result<DeploymentPlan, PlanError> {
        Ok(DeploymentPlan {
            values: json!({ "marker": env!("CARGO_PKG_VERSION"), "storeId": spec.store_id })
                .to_string(),
            setup: vec![],
            endpoints: vec![endpoint(&spec, EndpointKind::Storefront, "Shop", "/")],
            ready_when: vec![],
            admin_login: None,
        })
    }
}

impl storeplane_sdk::Lifecycle for Swap {
    // Nothing to migrate between versions of this test engine.
    fn upgrade_steps(
        _from_version: String,
        _spec: storeplane_sdk::StoreSpec,
    ) -> Result<Vec<storeplane_sdk::SetupStep>, storeplane_sdk::PlanError> {
        Ok(vec![])
    }
}
