//! Day-two operations on a store: preview and start an upgrade or a resize (the target
//! checked: the store ready, a version the caller may choose, only options the engine marks
//! changeable), suspend, resume, and pin to a version. Each is a compare-and-set transition
//! with its audit event and job, as the other store operations.

use std::sync::Arc;

use super::stores::{LifecycleError, StoreService, validate_options};
use crate::db::{AuditContext, JobKind, NewAudit, Store, StorePatch};
use crate::domain::StoreStatus;
use crate::tenancy::{Caller, StoreAction};

/// What an upgrade or a resize asks for.
#[derive(Debug, Clone, Default)]
pub struct UpgradeRequest {
    /// The engine version to move to; the engine's active version when absent.
    pub version: Option<String>,
    /// Options to change (the others keep their values); only those the engine's schema
    /// marks `x-storeplane-changeable` may.
    pub options: Option<serde_json::Value>,
}

/// Schema keyword with which an engine marks an option its stores may change after creation.
pub const CHANGEABLE: &str = "x-storeplane-changeable";

impl StoreService {
    /// The plugin and options an upgrade of `store` goes to, checked: the store is ready; a
    /// tenant may choose only the engine's active version (or stay on the store's own, to
    /// resize); only options the engine marks changeable may change; something changes.
    async fn upgrade_target(
        &self,
        caller: &Caller,
        store: &Store,
        request: &UpgradeRequest,
    ) -> Result<(Arc<crate::plugins::PluginVersion>, serde_json::Value), LifecycleError> {
        if store.status != StoreStatus::Ready {
            return Err(LifecycleError::InvalidTransition {
                from: store.status,
                to: StoreStatus::Upgrading,
            });
        }
        let active = self.registry.active(&store.engine);
        let current = match store.plugin_digest.as_deref() {
            Some(digest) => {
                super::plugin_source::by_digest(&self.registry, self.db.as_ref(), digest).await
            }
            None => None,
        };
        let plugin = match &request.version {
            Some(text) => {
                let version = semver::Version::parse(text).map_err(|err| {
                    LifecycleError::Validation(format!(
                        "version {text:?} is not a semantic version: {err}"
                    ))
                })?;
                super::plugin_source::by_version(
                    &self.registry,
                    self.db.as_ref(),
                    &store.engine,
                    &version,
                )
                .await
                .ok_or_else(|| LifecycleError::VersionNotFound {
                    engine: store.engine.clone(),
                    version: version.to_string(),
                })?
            }
            None => active
                .clone()
                .ok_or_else(|| LifecycleError::UnknownEngine(store.engine.clone()))?,
        };
        let is = |other: &Option<Arc<crate::plugins::PluginVersion>>| {
            other.as_ref().is_some_and(|o| o.digest == plugin.digest)
        };
        if caller.role != crate::domain::Role::Admin && !is(&active) && !is(&current) {
            return Err(LifecycleError::NotAllowed(format!(
                "stores move to the engine's active version ({}); only an administrator can choose {}",
                active.map_or_else(|| "none".to_owned(), |a| a.info.version.to_string()),
                plugin.info.version
            )));
        }
        let mut options = store.options.clone();
        if let Some(changes) = &request.options {
            let (Some(changes), Some(target)) = (changes.as_object(), options.as_object_mut())
            else {
                return Err(LifecycleError::Validation(
                    "options must be an object".into(),
                ));
            };
            for (key, value) in changes {
                target.insert(key.clone(), value.clone());
            }
        }
        let schema = &plugin.info.options_schema;
        let mut problems = validate_options(schema, &options);
        for key in changed_keys(&store.options, &options) {
            let changeable = schema
                .pointer(&format!("/properties/{key}/{CHANGEABLE}"))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            if !changeable {
                problems.push(format!(
                    "/{key}: cannot change after the store is created (engine {} does not mark it {CHANGEABLE})",
                    plugin.label()
                ));
            }
        }
        if !problems.is_empty() {
            return Err(LifecycleError::InvalidOptions(problems));
        }
        if is(&current) && options == store.options {
            return Err(LifecycleError::Validation(format!(
                "{} already runs {} with these options",
                store.name,
                plugin.label()
            )));
        }
        Ok((plugin, options))
    }

    /// What upgrading (or resizing) a store would change, without changing anything.
    pub async fn preview_upgrade(
        &self,
        caller: &Caller,
        id: &str,
        request: &UpgradeRequest,
    ) -> Result<super::UpgradePreview, LifecycleError> {
        let store = self.authorized(caller, id, StoreAction::Operate).await?;
        let (plugin, options) = self.upgrade_target(caller, &store, request).await?;
        let pipeline = self
            .pipeline
            .as_ref()
            .ok_or_else(|| LifecycleError::ClusterUnavailable("no cluster is configured".into()))?;
        pipeline
            .preview_upgrade(&store, plugin, &options)
            .await
            .map_err(LifecycleError::UpgradeRefused)
    }

    /// Starts upgrading (or resizing) a ready store: `upgrading`, with its target in its
    /// record and an upgrade job, in one transaction.
    pub async fn upgrade(
        &self,
        caller: &Caller,
        id: &str,
        request: &UpgradeRequest,
        ctx: AuditContext,
    ) -> Result<Store, LifecycleError> {
        let store = self.authorized(caller, id, StoreAction::Operate).await?;
        let (plugin, options) = self.upgrade_target(caller, &store, request).await?;
        self.start_upgrade(&store, &plugin, options, None, ctx)
            .await
    }

    /// Moves `store` to `upgrading` towards `plugin` with `options` (part of `rollout`).
    pub(super) async fn start_upgrade(
        &self,
        store: &Store,
        plugin: &crate::plugins::PluginVersion,
        options: serde_json::Value,
        rollout: Option<i64>,
        ctx: AuditContext,
    ) -> Result<Store, LifecycleError> {
        let mut record = super::record::ProvisionRecord::from_value(&store.progress);
        record.upgrade = Some(super::record::UpgradeRecord {
            to_version: plugin.info.version.to_string(),
            to_digest: plugin.digest.to_string(),
            to_options: options.clone(),
            rollout,
            ..super::record::UpgradeRecord::default()
        });
        let from = store.plugin_version.clone().unwrap_or_default();
        let to = plugin.info.version.to_string();
        let mut audit = NewAudit::new(
            ctx,
            "store.upgrade_requested",
            if from == to {
                format!("{} is being resized (options changed on {to})", store.name)
            } else {
                format!("{} is being upgraded from {from} to {to}", store.name)
            },
        );
        audit.details = serde_json::json!({
            "from": from, "to": to, "rollout": rollout,
            "options": changed_keys(&store.options, &options),
        });
        let patch = StorePatch {
            progress: Some(record.to_value()),
            ..StorePatch::default()
        };
        self.transition(
            store,
            StoreStatus::Upgrading,
            patch,
            audit,
            false,
            Some(JobKind::Upgrade),
        )
        .await
    }

    /// Pins the caller's store to its engine version (rollouts pass it by, unless an
    /// administrator includes pinned stores) or unpins it. Owner only; audited.
    pub async fn pin(
        &self,
        caller: &Caller,
        id: &str,
        pinned: bool,
        ctx: AuditContext,
    ) -> Result<Store, LifecycleError> {
        let store = self.authorized(caller, id, StoreAction::Manage).await?;
        if matches!(store.status, StoreStatus::Deleting | StoreStatus::Deleted) {
            return Err(LifecycleError::InvalidTransition {
                from: store.status,
                to: store.status,
            });
        }
        let audit = NewAudit::new(
            ctx,
            if pinned {
                "store.pinned"
            } else {
                "store.unpinned"
            },
            if pinned {
                format!(
                    "{} stays on version {} (rollouts pass it by)",
                    store.name,
                    store.plugin_version.as_deref().unwrap_or("?")
                )
            } else {
                format!("{} follows rollouts again", store.name)
            },
        );
        let store = self
            .db
            .set_store_pinned(&store.id, pinned, audit)
            .await?
            .ok_or(LifecycleError::NotFound)?;
        self.events.publish(&store.id);
        Ok(store)
    }

    /// Suspends a ready store (owner or admin): its workloads stop, its data stays.
    pub async fn suspend(
        &self,
        caller: &Caller,
        id: &str,
        ctx: AuditContext,
    ) -> Result<Store, LifecycleError> {
        let store = self.authorized(caller, id, StoreAction::Operate).await?;
        let audit = NewAudit::new(
            ctx,
            "store.suspend",
            format!("suspension of {} requested", store.name),
        );
        self.transition(
            &store,
            StoreStatus::Suspending,
            StorePatch::default(),
            audit,
            false,
            Some(JobKind::Suspend),
        )
        .await
    }

    /// Resumes a suspended store (owner or admin).
    pub async fn resume(
        &self,
        caller: &Caller,
        id: &str,
        ctx: AuditContext,
    ) -> Result<Store, LifecycleError> {
        let store = self.authorized(caller, id, StoreAction::Operate).await?;
        let audit = NewAudit::new(
            ctx,
            "store.resume",
            format!("resumption of {} requested", store.name),
        );
        self.transition(
            &store,
            StoreStatus::Resuming,
            StorePatch::default(),
            audit,
            false,
            Some(JobKind::Resume),
        )
        .await
    }
}

/// Top-level option keys whose values differ between `from` and `to`.
fn changed_keys(from: &serde_json::Value, to: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        from.as_object().unwrap_or(&empty),
        to.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}
