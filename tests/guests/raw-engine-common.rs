// The `engine` half of the WIT version test guests (`v1-0-plain`, `v1-1-plain`,
// `v1-1-lifecycle`: versions 1.0.0, 1.2.0 and 1.1.0 of engine `wit-test`), written with
// wit-bindgen directly: each crate generates its bindings from its contract version, defines
// ENGINE_VERSION, then includes this file. The store it plans is a WooCommerce store of the
// host's bundled chart without setup, so a store of any version provisions and upgrades.

use exports::storeplane::engine::engine::Guest;
use storeplane::engine::types::{
    ChartSource, DeploymentPlan, EndpointKind, Endpoint, EngineInfo, ExecGrant, PlanError,
    SecretRequest, StoreSpec,
};

/// The engine id every version shares.
const ENGINE_ID: &str = "wit-test";

/// Label selector of the store's WordPress pod (where an upgrade step runs).
#[allow(dead_code, reason = "only the guest with the lifecycle interface has upgrade steps")]
fn wordpress_pod(spec: &StoreSpec) -> Vec<(String, String)> {
    vec![
        ("app.kubernetes.io/name".into(), "wordpress".into()),
        ("app.kubernetes.io/instance".into(), spec.store_id.clone()),
    ]
}

struct Engine;

impl Guest for Engine {
    fn describe() -> EngineInfo {
        EngineInfo {
            id: ENGINE_ID.into(),
            display_name: format!("WIT {ENGINE_VERSION} test engine"),
            version: ENGINE_VERSION.into(),
            description: format!("Built against storeplane:engine@{ENGINE_VERSION}."),
            options_schema: r#"{"type":"object"}"#.into(),
            secrets: ["admin-password", "db-password", "db-root-password"]
                .into_iter()
                .map(|key| SecretRequest {
                    key: key.into(),
                    description: format!("{key} of the store"),
                    length: 24,
                })
                .collect(),
            chart: ChartSource::Bundled("ecommerce-store".into()),
            exec: vec![ExecGrant {
                container: "wp-cli".into(),
                programs: vec!["sh".into()],
            }],
        }
    }

    fn plan(spec: StoreSpec) -> Result<DeploymentPlan, PlanError> {
        Ok(DeploymentPlan {
            values: format!(
                r#"{{"engine":"woocommerce","storeId":"{}","credentialsSecret":"{}","ingress":{{"enabled":true,"host":"{}","className":"{}"}}}}"#,
                spec.store_id,
                spec.credentials_secret,
                spec.hostname,
                spec.ingress_class.clone().unwrap_or_default()
            ),
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
