//! PrestaShop engine: PHP and Apache on the official `prestashop/prestashop` image with the
//! shop on its own volume, MariaDB as a StatefulSet, all from this crate's own chart
//! (`chart/`, packaged into the component by `build.rs`), and PrestaShop's CLI installer run
//! by idempotent setup steps. Written as an outside author writes an engine: the reference for
//! embedded charts.

// `export!` emits the canonical-ABI entry points, which are unsafe extern functions.
#![allow(unsafe_code)]

pub mod options;
pub mod setup;
pub mod values;

use storeplane_sdk::{
    AdminLogin, ChartSource, DeploymentPlan, EndpointKind, Engine, EngineInfo, Lifecycle,
    PlanError, SetupStep, StoreSpec, WorkloadKind, WorkloadRef, endpoint, exec_grant,
    parse_options, secret,
};

use options::Options;

/// Engine id.
pub const ENGINE_ID: &str = "prestashop";

/// The chart, packaged by `build.rs` from `chart/`.
const CHART: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/chart.tgz"));

/// Keys of the secrets the host generates into the credentials Secret.
pub mod secrets {
    pub const ADMIN_PASSWORD: &str = "admin-password";
    pub const DB_PASSWORD: &str = "db-password";
    pub const DB_ROOT_PASSWORD: &str = "db-root-password";
}

/// The engine (public so another crate can wrap it; see the `component` feature).
pub struct PrestaShop;

impl Engine for PrestaShop {
    fn describe() -> EngineInfo {
        EngineInfo {
            id: ENGINE_ID.into(),
            display_name: "PrestaShop".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "PrestaShop 8 on MariaDB, installed with its CLI installer in the \
                          language, country and currency you choose, with or without the demo \
                          catalog."
                .into(),
            options_schema: Options::schema(),
            secrets: vec![
                secret(
                    secrets::ADMIN_PASSWORD,
                    "PrestaShop back-office password",
                    24,
                ),
                secret(
                    secrets::DB_PASSWORD,
                    "MariaDB password of the prestashop user",
                    32,
                ),
                secret(secrets::DB_ROOT_PASSWORD, "MariaDB root password", 32),
            ],
            chart: ChartSource::Embedded(CHART.to_vec()),
            exec: vec![exec_grant(values::PRESTASHOP, &["sh"])],
        }
    }

    fn plan(spec: StoreSpec) -> Result<DeploymentPlan, PlanError> {
        let options: Options = parse_options(&spec)?;
        options.check()?;
        let back_office = format!("/{}/", values::admin_folder(&spec));
        Ok(DeploymentPlan {
            values: values::render(&spec, &options).to_string(),
            setup: setup::steps(&spec),
            endpoints: vec![
                endpoint(&spec, EndpointKind::Storefront, "Shop", "/"),
                endpoint(&spec, EndpointKind::Admin, "Back office", &back_office),
            ],
            ready_when: vec![
                WorkloadRef {
                    kind: WorkloadKind::StatefulSet,
                    name: values::MARIADB.into(),
                },
                WorkloadRef {
                    kind: WorkloadKind::Deployment,
                    name: values::PRESTASHOP.into(),
                },
            ],
            // PrestaShop's back office logs in with an e-mail address: the store owner's.
            admin_login: Some(AdminLogin {
                username: spec.owner_email.clone(),
                password_key: secrets::ADMIN_PASSWORD.into(),
            }),
        })
    }
}

impl Lifecycle for PrestaShop {
    fn upgrade_steps(_from_version: String, spec: StoreSpec) -> Result<Vec<SetupStep>, PlanError> {
        Ok(setup::upgrade_steps(&spec))
    }
}

// The component's entry points, for the WebAssembly build only (unit tests run natively).
#[cfg(all(feature = "component", target_arch = "wasm32"))]
storeplane_sdk::export!(PrestaShop);

#[cfg(test)]
mod tests {
    use super::*;
    use storeplane_sdk::serde_json::{self, Value, json};
    use storeplane_sdk::testing::store_spec;

    fn values(plan: &DeploymentPlan) -> Value {
        serde_json::from_str(&plan.values).expect("JSON values")
    }

    #[test]
    fn the_tenants_text_is_a_value_never_part_of_a_command() {
        let name = "Chai & Co's <Tea> $(reboot) --password=x";
        let plan = PrestaShop::plan(store_spec(json!({ "shopName": name }))).expect("plan");
        assert_eq!(values(&plan)["shop"]["name"], name);
        for step in &plan.setup {
            let command = step.command.join(" ");
            assert!(!command.contains("Chai"), "{}: {command}", step.name);
            assert!(!command.contains("owner@example.com"), "{}", step.name);
        }
    }

    #[test]
    fn the_back_office_is_renamed_per_store_and_the_owner_logs_in() {
        let plan = PrestaShop::plan(store_spec(json!({}))).expect("plan");
        assert_eq!(values(&plan)["shop"]["adminFolder"], "admin-1a2b3c4d");
        let admin = plan
            .endpoints
            .iter()
            .find(|e| matches!(e.kind, EndpointKind::Admin))
            .expect("admin endpoint");
        assert_eq!(
            admin.url,
            "https://store-1a2b3c4d.example.com/admin-1a2b3c4d/"
        );
        let login = plan.admin_login.expect("login");
        assert_eq!(login.username, "owner@example.com");
    }

    #[test]
    fn the_country_reaches_the_installer_in_lower_case_and_sizes_grow() {
        let small = PrestaShop::plan(store_spec(json!({ "country": "DE" }))).expect("plan");
        assert_eq!(values(&small)["shop"]["country"], "de");
        let large = PrestaShop::plan(store_spec(json!({ "size": "large" }))).expect("plan");
        assert_eq!(values(&large)["prestashop"]["persistence"]["size"], "16Gi");
        assert_eq!(values(&small)["prestashop"]["persistence"]["size"], "4Gi");
    }

    #[test]
    fn bad_options_are_refused_naming_the_option_or_the_value() {
        for (options, word) in [
            (json!({ "shopName": "  " }), "shopName"),
            (json!({ "shopName": "a\u{7}b" }), "shopName"),
            (json!({ "language": "EN" }), "EN"),
            (json!({ "currency": "usd" }), "usd"),
            (json!({ "colour": "red" }), "colour"),
        ] {
            let err = PrestaShop::plan(store_spec(options.clone())).expect_err("refused");
            assert!(format!("{err:?}").contains(word), "{options}: {err:?}");
        }
    }
}
