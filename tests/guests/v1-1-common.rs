// The `engine` half of the 1.1 test guests, shared by `v1-1-lifecycle` and `v1-1-plain`
// (each crate generates its bindings, then includes this file).

use exports::storeplane::engine::engine::Guest;
use storeplane::engine::types::{
    ChartSource, DeploymentPlan, EndpointKind, Endpoint, EngineInfo, PlanError, StoreSpec,
};

struct Engine;

impl Guest for Engine {
    fn describe() -> EngineInfo {
        EngineInfo {
            id: ENGINE_ID.into(),
            display_name: "WIT 1.1 test engine".into(),
            version: "1.1.0".into(),
            description: "Built against storeplane:engine@1.1.0.".into(),
            options_schema: r#"{"type":"object"}"#.into(),
            secrets: vec![],
            chart: ChartSource::Bundled("ecommerce-store".into()),
            exec: vec![],
        }
    }

    fn plan(spec: StoreSpec) -> Result<DeploymentPlan, PlanError> {
        Ok(DeploymentPlan {
            values: format!(r#"{{"storeId":"{}"}}"#, spec.store_id),
            setup: vec![],
            endpoints: vec![Endpoint {
                kind: EndpointKind::Storefront,
                label: "Shop".into(),
                url: format!("http://{}/", spec.hostname),
            }],
            ready_when: vec![],
            admin_login: None,
        })
    }
}
