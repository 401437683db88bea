//! WooCommerce engine: WordPress + WooCommerce on the official `wordpress` image, MariaDB as a
//! StatefulSet, and WP-CLI in a sidecar that shares the document root. The plan renders the
//! host-shipped `ecommerce-store` chart with `engine: woocommerce` and installs the shop with
//! idempotent WP-CLI steps.

// `export!` emits the canonical-ABI entry points, which are unsafe extern functions.
#![allow(unsafe_code)]

mod options;
mod setup;
mod values;

use storeplane_sdk::{
    AdminLogin, ChartSource, DeploymentPlan, EndpointKind, Engine, EngineInfo, Lifecycle,
    PlanError, SetupStep, StoreSpec, WorkloadKind, WorkloadRef, endpoint, exec_grant,
    parse_options, secret,
};

use options::Options;

/// Engine id, also the `engine` value of the chart.
pub const ENGINE_ID: &str = "woocommerce";
/// Container of the WP-CLI sidecar, where every setup step runs.
pub const WPCLI_CONTAINER: &str = "wp-cli";
/// Admin login created by `wp core install`.
pub const ADMIN_USER: &str = "admin";
/// The WooCommerce plugin version every store installs (compatible with the chart's WordPress
/// 6.8 and PHP 8.3): a store's software must not depend on the day it was created.
pub const WOOCOMMERCE_VERSION: &str = "9.8.5";
/// The Storefront theme version every store installs.
pub const STOREFRONT_VERSION: &str = "4.6.1";

/// Keys of the secrets the host generates into the credentials Secret.
pub mod secrets {
    pub const ADMIN_PASSWORD: &str = "admin-password";
    pub const DB_PASSWORD: &str = "db-password";
    pub const DB_ROOT_PASSWORD: &str = "db-root-password";
}

/// The engine (public so another crate can wrap it; see the `component` feature).
pub struct WooCommerce;

impl Engine for WooCommerce {
    fn describe() -> EngineInfo {
        EngineInfo {
            id: ENGINE_ID.into(),
            display_name: "WooCommerce".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "WordPress with WooCommerce and the Storefront theme, on MariaDB. \
                          Installed and configured automatically, with an optional sample product."
                .into(),
            options_schema: options::SCHEMA.into(),
            secrets: vec![
                secret(
                    secrets::ADMIN_PASSWORD,
                    "WordPress administrator password",
                    24,
                ),
                secret(
                    secrets::DB_PASSWORD,
                    "MariaDB password of the wordpress user",
                    32,
                ),
                secret(secrets::DB_ROOT_PASSWORD, "MariaDB root password", 32),
            ],
            chart: ChartSource::Bundled("ecommerce-store".into()),
            exec: vec![exec_grant(WPCLI_CONTAINER, &["sh"])],
        }
    }

    fn plan(spec: StoreSpec) -> Result<DeploymentPlan, PlanError> {
        let options: Options = parse_options(&spec)?;
        options.check()?;
        Ok(DeploymentPlan {
            values: values::render(&spec, &options).to_string(),
            setup: setup::steps(&spec, &options),
            endpoints: vec![
                endpoint(&spec, EndpointKind::Storefront, "Storefront", "/"),
                endpoint(&spec, EndpointKind::Admin, "WordPress admin", "/wp-admin/"),
            ],
            ready_when: vec![
                WorkloadRef {
                    kind: WorkloadKind::StatefulSet,
                    name: values::mariadb_name(&spec),
                },
                WorkloadRef {
                    kind: WorkloadKind::Deployment,
                    name: values::wordpress_name(&spec),
                },
            ],
            admin_login: Some(AdminLogin {
                username: ADMIN_USER.into(),
                password_key: secrets::ADMIN_PASSWORD.into(),
            }),
        })
    }
}

impl Lifecycle for WooCommerce {
    fn upgrade_steps(_from_version: String, spec: StoreSpec) -> Result<Vec<SetupStep>, PlanError> {
        Ok(setup::upgrade_steps(&spec))
    }
}

#[cfg(feature = "component")]
storeplane_sdk::export!(WooCommerce);
