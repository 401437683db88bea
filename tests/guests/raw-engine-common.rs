// The `engine` half of the WIT version test guests (`v1-0-plain`, `v1-1-plain`,
// `v1-1-lifecycle`), written with wit-bindgen directly: each crate generates its bindings
// from its contract version, defines ENGINE_ID and ENGINE_VERSION, then includes this file.

use exports::storeplane::engine::engine::Guest;
use storeplane::engine::types::{
    ChartSource, DeploymentPlan, EndpointKind, Endpoint, EngineInfo, PlanError, StoreSpec,
};

struct Engine;

impl Guest for Engine {
    fn describe() -> EngineInfo {
        EngineInfo {
            id: ENGINE_ID.into(),
            display_name: format!("WIT {ENGINE_VERSION} test engine"),
            version: ENGINE_VERSION.into(),
            description: format!("Built against storeplane:engine@{ENGINE_VERSION}."),
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
