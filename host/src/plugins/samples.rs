//! Sample store specs used to smoke-test a plugin before it can be activated (and by
//! `storeplane plugin check`): one with default options and TLS, and one per example in the
//! plugin's options schema, with other ingress/storage settings. Together they exercise the
//! option combinations the plugin's author thought worth showing.

use super::model::{EngineInfo, StoreSpec};
use super::validate::schema_examples;

/// Store ids of the sample specs. Fixed, so a check is reproducible.
const SAMPLE_IDS: [&str; 4] = ["5a3e0c1b", "7d41f9e2", "9c0ab3d4", "e1f2a3b4"];

/// A spec with the given id and options.
pub fn sample_spec(store_id: &str, options: serde_json::Value, tls: bool) -> StoreSpec {
    let name = "sample-shop";
    StoreSpec {
        store_id: store_id.to_owned(),
        name: name.to_owned(),
        namespace: format!("store-{store_id}"),
        hostname: format!("{name}-{store_id}.stores.example.com"),
        tls,
        owner_email: "owner@example.com".to_owned(),
        options,
        credentials_secret: "store-credentials".to_owned(),
        ingress_class: tls.then(|| "traefik".to_owned()),
        storage_class: (!tls).then(|| "local-path".to_owned()),
    }
}

/// Specs to smoke-test `info`'s engine with.
pub fn sample_specs(info: &EngineInfo) -> Vec<StoreSpec> {
    let mut specs = vec![sample_spec(SAMPLE_IDS[0], serde_json::json!({}), true)];
    for (example, id) in schema_examples(&info.options_schema)
        .into_iter()
        .zip(SAMPLE_IDS.iter().skip(1))
    {
        specs.push(sample_spec(id, example, false));
    }
    specs
}
