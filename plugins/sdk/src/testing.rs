//! Fixtures for an engine's own unit tests: a store as the host would describe it, so `plan`
//! can be called and its result asserted without a host.

use crate::StoreSpec;

/// A store with id `1a2b3c4d`, named `test-shop`, owned by `owner@example.com`, served over
/// HTTPS at `store-1a2b3c4d.example.com` with the ingress class `traefik`, and `options` (a
/// JSON object, as the host passes it after validating it against the engine's schema).
pub fn store_spec(options: serde_json::Value) -> StoreSpec {
    StoreSpec {
        store_id: "1a2b3c4d".into(),
        name: "test-shop".into(),
        namespace: "store-1a2b3c4d".into(),
        hostname: "store-1a2b3c4d.example.com".into(),
        tls: true,
        owner_email: "owner@example.com".into(),
        options: options.to_string(),
        credentials_secret: "store-credentials".into(),
        ingress_class: Some("traefik".into()),
        storage_class: None,
    }
}
