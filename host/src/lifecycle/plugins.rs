//! Plugin administration with persistence: uploads are validated by the registry, stored in
//! the database (bytes and activation state) and audited; on start, stored versions are
//! registered again and the active ones re-activated, so uploads survive restarts.

use std::sync::Arc;

use crate::db::{AuditContext, Db, DbError, NewAudit, NewPlugin};
use crate::domain::UserId;
use crate::plugins::{Origin, PluginError, PluginVersion, Registry};

/// Settings key marking an engine disabled.
pub(super) fn disabled_key(engine: &str) -> String {
    format!("engine_disabled:{engine}")
}

/// Why a plugin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginAdminError {
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Admin operations on plugins.
#[derive(Debug, Clone)]
pub struct PluginAdmin {
    registry: Arc<Registry>,
    db: Arc<dyn Db>,
}

impl PluginAdmin {
    pub fn new(registry: Arc<Registry>, db: Arc<dyn Db>) -> Self {
        Self { registry, db }
    }

    /// Validates and stores an uploaded version (not activated).
    pub async fn upload(
        &self,
        wasm: Vec<u8>,
        admin: &UserId,
        ctx: AuditContext,
    ) -> Result<Arc<PluginVersion>, PluginAdminError> {
        let size = wasm.len();
        let result = self
            .registry
            .add(wasm, Origin::Upload(admin.0.clone()))
            .await;
        // Compiling, planning the samples and rendering the chart freed megabytes.
        crate::allocator::release_freed();
        let version = match result {
            Ok(version) => version,
            Err(err) => {
                let mut event = NewAudit::new(
                    ctx,
                    "plugin.upload_rejected",
                    format!("plugin upload rejected: {}", err.code()),
                );
                event.details = serde_json::json!({ "bytes": size, "error": err.to_string() });
                self.db.record_audit(event).await?;
                return Err(err.into());
            }
        };
        self.db
            .save_plugin(NewPlugin {
                engine: version.info.id.clone(),
                version: version.info.version.to_string(),
                digest: version.digest.to_string(),
                wasm: version.wasm.to_vec(),
                uploaded_by: Some(admin.clone()),
            })
            .await?;
        let mut event = NewAudit::new(
            ctx,
            "plugin.upload",
            format!("plugin {} uploaded", version.label()),
        );
        event.details = serde_json::json!({ "engine": version.info.id, "version": version.info.version.to_string(), "digest": version.digest });
        self.db.record_audit(event).await?;
        Ok(version)
    }

    /// Activates a registered version.
    pub async fn activate(
        &self,
        engine: &str,
        version: &semver::Version,
        ctx: AuditContext,
    ) -> Result<Arc<PluginVersion>, PluginAdminError> {
        let activated = self.registry.activate(engine, version)?;
        self.persist_active(&activated, "plugin.activate", ctx)
            .await?;
        Ok(activated)
    }

    /// Rolls back to `to` or the previously active version.
    pub async fn rollback(
        &self,
        engine: &str,
        to: Option<&semver::Version>,
        ctx: AuditContext,
    ) -> Result<Arc<PluginVersion>, PluginAdminError> {
        let activated = self.registry.rollback(engine, to)?;
        self.persist_active(&activated, "plugin.rollback", ctx)
            .await?;
        Ok(activated)
    }

    /// Disables or enables an engine for new stores.
    pub async fn set_disabled(
        &self,
        engine: &str,
        disabled: bool,
        ctx: AuditContext,
    ) -> Result<(), PluginAdminError> {
        self.registry.set_disabled(engine, disabled)?;
        self.db
            .put_setting(
                &disabled_key(engine),
                if disabled { "true" } else { "false" },
            )
            .await?;
        let action = if disabled {
            "plugin.disable"
        } else {
            "plugin.enable"
        };
        let mut event = NewAudit::new(
            ctx,
            action,
            format!(
                "engine {engine} {}",
                if disabled { "disabled" } else { "enabled" }
            ),
        );
        event.details = serde_json::json!({ "engine": engine });
        self.db.record_audit(event).await?;
        Ok(())
    }

    async fn persist_active(
        &self,
        version: &PluginVersion,
        action: &str,
        ctx: AuditContext,
    ) -> Result<(), PluginAdminError> {
        // Uploads carry their state in `plugins`; the setting also covers built-ins, so a restart
        // re-activates exactly the version the admin chose.
        self.db
            .mark_plugin_active(&version.info.id, &version.info.version.to_string())
            .await?;
        self.db
            .put_setting(
                &format!("engine_active:{}", version.info.id),
                &version.info.version.to_string(),
            )
            .await?;
        let mut event = NewAudit::new(ctx, action, format!("plugin {} activated", version.label()));
        event.details = serde_json::json!({ "engine": version.info.id, "version": version.info.version.to_string(), "digest": version.digest });
        self.db.record_audit(event).await?;
        Ok(())
    }

    /// Registers every stored upload again, re-activates the recorded active versions and
    /// re-applies disabled engines. A stored plugin that no longer validates (e.g. after a host
    /// upgrade) is logged and skipped; it never stops the host from starting.
    pub async fn restore(&self) -> Result<(), DbError> {
        for record in self.db.list_plugins().await? {
            let origin = Origin::Upload(record.uploaded_by.clone().unwrap_or_default());
            if let Err(err) = self.registry.add(record.wasm, origin).await {
                tracing::error!(engine = %record.engine, version = %record.version, error = %err, "stored plugin no longer loads; skipped");
            }
        }
        let engines: Vec<String> = self.registry.list().into_iter().map(|e| e.id).collect();
        for engine in engines {
            if let Some(version) = self.db.setting(&format!("engine_active:{engine}")).await?
                && let Ok(version) = semver::Version::parse(&version)
                && let Err(err) = self.registry.activate(&engine, &version)
            {
                tracing::error!(engine, %version, error = %err, "recorded active plugin version unavailable");
            }
            if self.db.setting(&disabled_key(&engine)).await?.as_deref() == Some("true") {
                let _ = self.registry.set_disabled(&engine, true);
            }
        }
        Ok(())
    }
}
