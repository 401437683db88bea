//! Helm values of the engine's own chart (`chart/`, embedded at build time). The host adds
//! `storeplane.*` (store id, hostname, TLS, ingress and storage class, credentials Secret).

use storeplane_sdk::StoreSpec;
use storeplane_sdk::serde_json::{Value, json};

use crate::options::{Options, Size, code};

/// The Deployment serving the shop, its container and its pods' `app.kubernetes.io/name`.
pub const PRESTASHOP: &str = "prestashop";
/// The database StatefulSet (and its headless Service).
pub const MARIADB: &str = "mariadb";

/// The back office's folder: PrestaShop refuses a back-office login while the folder is
/// still called `admin`, and the image renames it to this on first start.
pub fn admin_folder(spec: &StoreSpec) -> String {
    let id: String = spec
        .store_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(32)
        .collect();
    format!("admin-{id}")
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
    // PHP with the whole shop loaded runs beside Apache while setup steps run (the installer
    // with the demo catalog peaks near 400 MiB): 1 GiB is the least that holds both.
    let (prestashop, mariadb, docroot, data) = match options.size {
        Size::Small => (
            resources("250m", "512Mi", "1", "1Gi"),
            resources("100m", "256Mi", "500m", "512Mi"),
            "4Gi",
            "2Gi",
        ),
        Size::Medium => (
            resources("500m", "1Gi", "2", "2Gi"),
            resources("250m", "512Mi", "1", "1Gi"),
            "8Gi",
            "5Gi",
        ),
        Size::Large => (
            resources("1", "2Gi", "2", "4Gi"),
            resources("500m", "1Gi", "2", "2Gi"),
            "16Gi",
            "10Gi",
        ),
    };
    json!({
        "shop": {
            "name": options.shop_name,
            "language": code(options.language),
            // The installer and its localization packs use lower-case country codes.
            "country": code(options.country).to_ascii_lowercase(),
            "currency": code(options.currency),
            "demoProducts": options.demo_products,
            "adminFolder": admin_folder(spec),
            "adminEmail": spec.owner_email,
        },
        "prestashop": {
            "resources": prestashop,
            "persistence": { "size": docroot },
        },
        "mariadb": {
            "resources": mariadb,
            "persistence": { "size": data },
        },
    })
}
