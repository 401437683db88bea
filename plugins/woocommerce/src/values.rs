//! Helm values for the `ecommerce-store` chart with `engine: woocommerce`.
//! Names here must match the chart's templates (`store-<storeId>-wordpress`, `store-<storeId>-mariadb`).

use storeplane_sdk::serde_json::{Value, json};
use storeplane_sdk::{StoreSpec, base_url};

use crate::options::{Options, Size};

pub fn wordpress_name(spec: &StoreSpec) -> String {
    format!("store-{}-wordpress", spec.store_id)
}

pub fn mariadb_name(spec: &StoreSpec) -> String {
    format!("store-{}-mariadb", spec.store_id)
}

fn resources(
    cpu_request: &str,
    memory_request: &str,
    cpu_limit: &str,
    memory_limit: &str,
) -> Value {
    json!({
        "requests": { "cpu": cpu_request, "memory": memory_request },
        "limits": { "cpu": cpu_limit, "memory": memory_limit }
    })
}

pub fn render(spec: &StoreSpec, options: &Options) -> Value {
    let (wordpress, mariadb, wp_storage, db_storage) = match options.size {
        Size::Small => (
            resources("100m", "256Mi", "500m", "512Mi"),
            resources("100m", "256Mi", "500m", "512Mi"),
            "2Gi",
            "2Gi",
        ),
        Size::Medium => (
            resources("250m", "512Mi", "1", "1Gi"),
            resources("250m", "512Mi", "1", "1Gi"),
            "5Gi",
            "5Gi",
        ),
        Size::Large => (
            resources("500m", "1Gi", "2", "2Gi"),
            resources("500m", "1Gi", "2", "2Gi"),
            "10Gi",
            "10Gi",
        ),
    };
    json!({
        "engine": "woocommerce",
        "storeId": spec.store_id,
        "credentialsSecret": spec.credentials_secret,
        "storageClass": spec.storage_class.clone().unwrap_or_default(),
        "ingress": {
            "enabled": true,
            "className": spec.ingress_class.clone().unwrap_or_default(),
            "host": spec.hostname,
            "tls": spec.tls,
        },
        "wordpress": {
            "siteUrl": base_url(spec),
            "resources": wordpress,
            "persistence": { "size": wp_storage },
        },
        "mariadb": {
            "resources": mariadb,
            "persistence": { "size": db_storage },
        },
    })
}
