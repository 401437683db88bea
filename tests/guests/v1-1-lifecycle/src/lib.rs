//! An engine built against `storeplane:engine@1.1.0` exporting the optional `lifecycle`
//! interface: its upgrade steps name the version they migrate from, and it refuses to upgrade
//! from a version before 1.0.0.
#![allow(unsafe_code)] // generated ABI glue

wit_bindgen::generate!({ world: "engine-plugin-with-lifecycle", path: "../../../wit/v1.1" });

const ENGINE_VERSION: &str = "1.1.0";

include!("../../raw-engine-common.rs");

impl exports::storeplane::engine::lifecycle::Guest for Engine {
    fn upgrade_steps(
        from_version: String,
        spec: StoreSpec,
    ) -> Result<Vec<storeplane::engine::types::SetupStep>, PlanError> {
        if from_version.starts_with("0.") {
            return Err(PlanError::Unsupported(format!(
                "cannot upgrade from {from_version}: upgrade to 1.0.0 first"
            )));
        }
        Ok(vec![storeplane::engine::types::SetupStep {
            name: "migrate-database".into(),
            description: format!("Migrate the data of {from_version} to 1.1.0"),
            pod_selector: wordpress_pod(&spec),
            container: "wp-cli".into(),
            command: vec![
                "sh".into(),
                "-c".into(),
                format!("echo migrating from {from_version}"),
            ],
            timeout_seconds: 300,
            attempts: 2,
        }])
    }
}

export!(Engine);
