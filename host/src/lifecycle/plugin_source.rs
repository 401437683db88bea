//! Plugin versions by digest or by version, for any replica: a version another replica
//! uploaded is in the database before this replica has registered it, so a lookup that
//! misses the registry loads it from there (validated like any upload) and registers it.
//! Without this, a replica would fail an upgrade, a rollout or a resumed provisioning of a
//! version uploaded elsewhere.

use std::sync::Arc;

use crate::db::Db;
use crate::plugins::{Origin, PluginDigest, PluginVersion, Registry};

/// The version with `digest`, registered from the database if needed.
pub(crate) async fn by_digest(
    registry: &Registry,
    db: &dyn Db,
    digest: &str,
) -> Option<Arc<PluginVersion>> {
    if let Some(found) = PluginDigest::parse(digest).and_then(|d| registry.by_digest(&d)) {
        return Some(found);
    }
    load(registry, db, digest, "", "").await
}

/// `engine@version`, registered from the database if needed.
pub(crate) async fn by_version(
    registry: &Registry,
    db: &dyn Db,
    engine: &str,
    version: &semver::Version,
) -> Option<Arc<PluginVersion>> {
    if let Some(found) = registry.get(engine, version) {
        return Some(found);
    }
    load(registry, db, "", engine, &version.to_string()).await
}

async fn load(
    registry: &Registry,
    db: &dyn Db,
    digest: &str,
    engine: &str,
    version: &str,
) -> Option<Arc<PluginVersion>> {
    let record = match db.find_plugin(digest, engine, version).await {
        Ok(record) => record?,
        Err(err) => {
            tracing::warn!(error = %err, "reading a stored plugin failed");
            return None;
        }
    };
    let origin = Origin::Upload(record.uploaded_by.clone().unwrap_or_default());
    match registry.add(record.wasm, origin).await {
        Ok(version) => {
            tracing::info!(
                plugin = version.label(),
                "registered a version another replica uploaded"
            );
            Some(version)
        }
        Err(err) => {
            tracing::warn!(engine = %record.engine, version = %record.version, error = %err, "a stored plugin does not load");
            None
        }
    }
}
