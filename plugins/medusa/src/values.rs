//! Helm values for the `ecommerce-store` chart with `engine: medusa`.
//! Names here must match the chart's templates (`store-<storeId>-medusa`, `store-<storeId>-postgresql`).

use storeplane_sdk::serde_json::{Value, json};
use storeplane_sdk::{StoreSpec, base_url};

use crate::options::{Options, Size};

pub fn medusa_name(spec: &StoreSpec) -> String {
    format!("store-{}-medusa", spec.store_id)
}

pub fn postgres_name(spec: &StoreSpec) -> String {
    format!("store-{}-postgresql", spec.store_id)
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
    let (medusa, postgres, db_storage) = match options.size {
        Size::Small => (
            resources("200m", "512Mi", "1", "1Gi"),
            resources("100m", "256Mi", "500m", "512Mi"),
            "2Gi",
        ),
        Size::Medium => (
            resources("500m", "1Gi", "2", "2Gi"),
            resources("250m", "512Mi", "1", "1Gi"),
            "5Gi",
        ),
        Size::Large => (
            resources("1", "2Gi", "2", "3Gi"),
            resources("500m", "1Gi", "2", "2Gi"),
            "10Gi",
        ),
    };
    let url = base_url(spec);
    json!({
        "engine": "medusa",
        "storeId": spec.store_id,
        "credentialsSecret": spec.credentials_secret,
        "storageClass": spec.storage_class.clone().unwrap_or_default(),
        "ingress": {
            "enabled": true,
            "className": spec.ingress_class.clone().unwrap_or_default(),
            "host": spec.hostname,
            "tls": spec.tls,
        },
        "medusa": {
            "backendUrl": url,
            "storeCors": url,
            "adminCors": url,
            "authCors": url,
            "adminEmail": spec.owner_email,
            "resources": medusa,
        },
        "postgresql": {
            "resources": postgres,
            "persistence": { "size": db_storage },
        },
    })
}
