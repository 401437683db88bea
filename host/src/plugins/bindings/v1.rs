//! Bindings for `storeplane:engine@1.x` and conversions between its generated types and the
//! host model. Output conversion also parses JSON strings and semver, so malformed output
//! surfaces as [`PluginError::InvalidOutput`] here, at the boundary.

use crate::plugins::error::{PlanFailure, PluginError};
use crate::plugins::model;

wasmtime::component::bindgen!({
    path: "../wit/v1.0",
    world: "engine-plugin",
});

use self::storeplane::engine::types as wit;

/// The guest's view of a store spec.
pub use self::storeplane::engine::types::StoreSpec as WitStoreSpec;
pub use EnginePluginPre as PluginPre;

fn invalid(call: &'static str, reason: impl Into<String>) -> PluginError {
    PluginError::InvalidOutput {
        call,
        reason: reason.into(),
    }
}

/// Host → guest.
pub fn spec_to_wit(spec: &model::StoreSpec) -> wit::StoreSpec {
    wit::StoreSpec {
        store_id: spec.store_id.clone(),
        name: spec.name.clone(),
        namespace: spec.namespace.clone(),
        hostname: spec.hostname.clone(),
        tls: spec.tls,
        owner_email: spec.owner_email.clone(),
        options: spec.options.to_string(),
        credentials_secret: spec.credentials_secret.clone(),
        ingress_class: spec.ingress_class.clone(),
        storage_class: spec.storage_class.clone(),
    }
}

/// Guest → host: `describe`.
pub fn info_from_wit(info: wit::EngineInfo) -> Result<model::EngineInfo, PluginError> {
    const CALL: &str = "describe";
    let version = semver::Version::parse(&info.version).map_err(|err| {
        invalid(
            CALL,
            format!("version {:?} is not semver: {err}", info.version),
        )
    })?;
    let options_schema = serde_json::from_str(&info.options_schema)
        .map_err(|err| invalid(CALL, format!("options-schema is not JSON: {err}")))?;
    Ok(model::EngineInfo {
        id: info.id,
        display_name: info.display_name,
        version,
        description: info.description,
        options_schema,
        secrets: info
            .secrets
            .into_iter()
            .map(|s| model::SecretRequest {
                key: s.key,
                description: s.description,
                length: s.length,
            })
            .collect(),
        chart: match info.chart {
            wit::ChartSource::Bundled(name) => model::ChartSource::Bundled(name),
            wit::ChartSource::Embedded(bytes) => model::ChartSource::Embedded(bytes),
        },
        exec: info
            .exec
            .into_iter()
            .map(|g| model::ExecGrant {
                container: g.container,
                programs: g.programs,
            })
            .collect(),
    })
}

/// Guest → host: `plan`.
pub fn plan_from_wit(
    result: Result<wit::DeploymentPlan, wit::PlanError>,
) -> Result<model::DeploymentPlan, PluginError> {
    const CALL: &str = "plan";
    let plan = result.map_err(plan_error_from_wit)?;
    let values = match serde_json::from_str(&plan.values) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => return Err(invalid(CALL, "values must be a JSON object")),
        Err(err) => return Err(invalid(CALL, format!("values are not JSON: {err}"))),
    };
    Ok(model::DeploymentPlan {
        values,
        setup: plan.setup.into_iter().map(setup_step_from_wit).collect(),
        endpoints: plan
            .endpoints
            .into_iter()
            .map(|e| model::Endpoint {
                kind: match e.kind {
                    wit::EndpointKind::Storefront => model::EndpointKind::Storefront,
                    wit::EndpointKind::Admin => model::EndpointKind::Admin,
                    wit::EndpointKind::Api => model::EndpointKind::Api,
                },
                label: e.label,
                url: e.url,
            })
            .collect(),
        ready_when: plan
            .ready_when
            .into_iter()
            .map(|w| model::WorkloadRef {
                kind: match w.kind {
                    wit::WorkloadKind::Deployment => model::WorkloadKind::Deployment,
                    wit::WorkloadKind::StatefulSet => model::WorkloadKind::StatefulSet,
                },
                name: w.name,
            })
            .collect(),
        admin_login: plan.admin_login.map(|a| model::AdminLogin {
            username: a.username,
            password_key: a.password_key,
        }),
    })
}

/// Guest → host: why a plan (or upgrade steps) could not be made.
pub fn plan_error_from_wit(err: wit::PlanError) -> PluginError {
    PluginError::Plan(match err {
        wit::PlanError::InvalidOptions(m) => PlanFailure::InvalidOptions(m),
        wit::PlanError::Unsupported(m) => PlanFailure::Unsupported(m),
        wit::PlanError::Internal(m) => PlanFailure::Internal(m),
    })
}

/// Guest → host: one setup (or upgrade) step.
pub fn setup_step_from_wit(s: wit::SetupStep) -> model::SetupStep {
    model::SetupStep {
        name: s.name,
        description: s.description,
        pod_selector: s.pod_selector,
        container: s.container,
        command: s.command,
        timeout_seconds: s.timeout_seconds,
        attempts: s.attempts,
    }
}

/// Size in bytes of setup steps as returned by the guest, for the output cap.
pub fn steps_size(steps: &[wit::SetupStep]) -> usize {
    steps
        .iter()
        .map(|s| {
            s.name.len()
                + s.description.len()
                + s.container.len()
                + s.command.iter().map(String::len).sum::<usize>()
                + s.pod_selector
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>()
        })
        .sum()
}

/// Size in bytes of a plan as returned by the guest, for the output cap.
pub fn plan_size(result: &Result<wit::DeploymentPlan, wit::PlanError>) -> usize {
    match result {
        Err(
            wit::PlanError::InvalidOptions(m)
            | wit::PlanError::Unsupported(m)
            | wit::PlanError::Internal(m),
        ) => m.len(),
        Ok(plan) => {
            plan.values.len()
                + steps_size(&plan.setup)
                + plan
                    .endpoints
                    .iter()
                    .map(|e| e.label.len() + e.url.len())
                    .sum::<usize>()
                + plan.ready_when.iter().map(|w| w.name.len()).sum::<usize>()
        }
    }
}

/// Size in bytes of an engine-info as returned by the guest, for the output cap.
pub fn info_size(info: &wit::EngineInfo) -> usize {
    info.id.len()
        + info.display_name.len()
        + info.version.len()
        + info.description.len()
        + info.options_schema.len()
        + info
            .secrets
            .iter()
            .map(|s| s.key.len() + s.description.len())
            .sum::<usize>()
        + match &info.chart {
            wit::ChartSource::Bundled(name) => name.len(),
            wit::ChartSource::Embedded(bytes) => bytes.len(),
        }
        + info
            .exec
            .iter()
            .map(|g| g.container.len() + g.programs.iter().map(String::len).sum::<usize>())
            .sum::<usize>()
}
