//! A well-formed engine built against a future major version of the contract
//! (`storeplane:engine@2.0.0`); the host must refuse it as incompatible.
#![allow(unsafe_code)] // generated ABI glue

wit_bindgen::generate!({ world: "engine-plugin", path: "wit" });

use exports::storeplane::engine::engine::Guest;
use storeplane::engine::types::{ChartSource, DeploymentPlan, EngineInfo, PlanError, StoreSpec};

struct Future;

impl Guest for Future {
    fn describe() -> EngineInfo {
        EngineInfo {
            id: "future".into(),
            display_name: "Future".into(),
            version: "1.0.0".into(),
            description: String::new(),
            options_schema: "{\"type\":\"object\"}".into(),
            secrets: vec![],
            chart: ChartSource::Bundled("ecommerce-store".into()),
            exec: vec![],
        }
    }

    fn plan(_spec: StoreSpec) -> Result<DeploymentPlan, PlanError> {
        Err(PlanError::Unsupported("never called".into()))
    }
}

export!(Future);
