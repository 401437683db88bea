//! Medusa v2 engine: a Medusa server (image built from `docker/medusa/Dockerfile`, chosen by the
//! operator with `medusa.image`) on PostgreSQL as a StatefulSet. The plan renders the
//! host-shipped `ecommerce-store` chart with `engine: medusa`, then migrates the database,
//! creates the admin user and optionally seeds a sample catalogue.

// `export!` emits the canonical-ABI entry points, which are unsafe extern functions.
#![allow(unsafe_code)]

mod options;
mod setup;
mod values;

use storeplane_sdk::{
    AdminLogin, ChartSource, DeploymentPlan, EndpointKind, Engine, EngineInfo, PlanError,
    StoreSpec, WorkloadKind, WorkloadRef, endpoint, exec_grant, parse_options, secret,
};

use options::Options;

/// Engine id, also the `engine` value of the chart.
pub const ENGINE_ID: &str = "medusa";
/// The setup sidecar of the Medusa pod, where every setup step runs (same image and
/// environment as the server, its own memory limit: each step loads the whole application).
pub const SETUP_CONTAINER: &str = "medusa-cli";

/// Keys of the secrets the host generates into the credentials Secret.
pub mod secrets {
    pub const ADMIN_PASSWORD: &str = "admin-password";
    pub const DB_PASSWORD: &str = "db-password";
    pub const JWT_SECRET: &str = "jwt-secret";
    pub const COOKIE_SECRET: &str = "cookie-secret";
}

/// The engine (public so another crate can wrap it; see the `component` feature).
pub struct Medusa;

impl Engine for Medusa {
    fn describe() -> EngineInfo {
        EngineInfo {
            id: ENGINE_ID.into(),
            display_name: "Medusa".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Medusa v2 headless commerce server with its admin dashboard, on \
                          PostgreSQL. Migrated and given an admin user automatically."
                .into(),
            options_schema: options::SCHEMA.into(),
            secrets: vec![
                secret(secrets::ADMIN_PASSWORD, "Medusa admin user password", 24),
                secret(
                    secrets::DB_PASSWORD,
                    "PostgreSQL password of the medusa user",
                    32,
                ),
                secret(secrets::JWT_SECRET, "Medusa JWT signing secret", 64),
                secret(secrets::COOKIE_SECRET, "Medusa cookie signing secret", 64),
            ],
            chart: ChartSource::Bundled("ecommerce-store".into()),
            exec: vec![exec_grant(SETUP_CONTAINER, &["sh"])],
        }
    }

    fn plan(spec: StoreSpec) -> Result<DeploymentPlan, PlanError> {
        let options: Options = parse_options(&spec)?;
        options.check()?;
        Ok(DeploymentPlan {
            values: values::render(&spec, &options).to_string(),
            setup: setup::steps(&spec, &options),
            endpoints: vec![
                endpoint(&spec, EndpointKind::Admin, "Medusa admin", "/app"),
                endpoint(&spec, EndpointKind::Api, "Store API", "/store"),
            ],
            ready_when: vec![
                WorkloadRef {
                    kind: WorkloadKind::StatefulSet,
                    name: values::postgres_name(&spec),
                },
                WorkloadRef {
                    kind: WorkloadKind::Deployment,
                    name: values::medusa_name(&spec),
                },
            ],
            admin_login: Some(AdminLogin {
                username: spec.owner_email.clone(),
                password_key: secrets::ADMIN_PASSWORD.into(),
            }),
        })
    }
}

impl storeplane_sdk::Lifecycle for Medusa {
    fn upgrade_steps(
        _from_version: String,
        spec: StoreSpec,
    ) -> Result<Vec<storeplane_sdk::SetupStep>, PlanError> {
        Ok(setup::upgrade_steps(&spec))
    }
}

#[cfg(feature = "component")]
storeplane_sdk::export!(Medusa);
