// Shared body of the next-release test engines: a built-in engine wrapped as its next release
// would ship it, with `Base` the built-in engine and `change` what the release changes in
// its Helm values (this crate's own version is reported). The built-in's upgrade steps are
// kept, so an upgrade to this release runs them.

use storeplane_sdk::serde_json;
use storeplane_sdk::{DeploymentPlan, Engine, EngineInfo, Lifecycle, PlanError, SetupStep, StoreSpec};

pub struct NextRelease;

impl Engine for NextRelease {
    fn describe() -> EngineInfo {
        EngineInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            ..Base::describe()
        }
    }

    fn plan(spec: StoreSpec) -> Result<DeploymentPlan, PlanError> {
        let mut plan = Base::plan(spec)?;
        let mut values: serde_json::Value = serde_json::from_str(&plan.values)
            .map_err(|err| PlanError::Internal(format!("the base plan's values: {err}")))?;
        change(&mut values);
        plan.values = values.to_string();
        Ok(plan)
    }
}

impl Lifecycle for NextRelease {
    fn upgrade_steps(from_version: String, spec: StoreSpec) -> Result<Vec<SetupStep>, PlanError> {
        Base::upgrade_steps(from_version, spec)
    }
}

storeplane_sdk::export!(NextRelease);
