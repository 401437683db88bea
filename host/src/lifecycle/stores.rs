//! Store operations. Each checks who may do it (tenancy), then changes the store in one
//! database transaction together with its audit event and job.

use std::collections::HashMap;
use std::sync::Arc;

use crate::db::{
    AuditContext, CreateStoreError, Db, DbError, JobKind, NewAudit, NewStore, Page, Store,
    StoreFilter, StoreLimits, StorePatch, Transition, TransitionError,
};
use crate::domain::{StoreId, StoreName, StoreStatus, UserId};
use crate::plugins::Registry;
use crate::tenancy::{Caller, StoreAction, allowed};

/// Why a store operation failed; the API maps each to a status and code.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("store not found")]
    NotFound,
    #[error("rollout {0} not found")]
    RolloutNotFound(i64),
    #[error("you do not have access to this store")]
    Forbidden,
    /// The caller may act on the store, but not in this way (says why).
    #[error("{0}")]
    NotAllowed(String),
    /// The upgrade cannot be made (a plan error, a change Kubernetes cannot make); says why.
    #[error("{0}")]
    UpgradeRefused(String),
    /// Something else is under way that this would conflict with; says what.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Validation(String),
    #[error("options do not match the engine's schema")]
    InvalidOptions(Vec<String>),
    #[error("engine {0} is not available")]
    UnknownEngine(String),
    #[error("you already have a store named {0}")]
    NameTaken(String),
    #[error("store limit of {limit} reached")]
    LimitExceeded { limit: u32 },
    #[error("stores can be created again in {} s", retry_after.as_secs().max(1))]
    Cooldown { retry_after: std::time::Duration },
    #[error("cannot go from {from} to {to}")]
    InvalidTransition { from: StoreStatus, to: StoreStatus },
    #[error("the store changed while you were acting on it (now {current})")]
    Conflict { current: StoreStatus },
    /// The store has nothing to show yet (or any more).
    #[error("{0}")]
    NotReady(String),
    /// The cluster is not configured or does not answer.
    #[error("{0}")]
    ClusterUnavailable(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<TransitionError> for LifecycleError {
    fn from(err: TransitionError) -> Self {
        match err {
            TransitionError::NotFound => Self::NotFound,
            TransitionError::Invalid { from, to } => Self::InvalidTransition { from, to },
            TransitionError::Conflict { current } => Self::Conflict { current },
            TransitionError::Db(err) => Self::Db(err),
        }
    }
}

/// A store's engine admin login, read from its Secret. Never stored by the control plane.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// The engine's admin URL, when it has one.
    pub admin_url: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("admin_url", &self.admin_url)
            .finish()
    }
}

/// A create request, parsed from the API body.
#[derive(Debug, Clone)]
pub struct CreateStore {
    pub name: String,
    pub engine: String,
    pub options: serde_json::Value,
}

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

/// Store operations over the database and the plugin registry.
#[derive(Debug, Clone)]
pub struct StoreService {
    db: Arc<dyn Db>,
    registry: Arc<Registry>,
    limits: StoreLimits,
    /// Wakes this replica's job runner when a job was enqueued.
    jobs_enqueued: Arc<tokio::sync::Notify>,
    events: super::StoreEvents,
    /// Where stores' Secrets are read (credentials); `None` without a cluster.
    cluster: Option<crate::k8s::Cluster>,
    /// The ClusterRole the host reads a store's Secret through (`STORE_ROLE`).
    store_role: String,
    /// Renders upgrade previews; `None` without a cluster.
    pipeline: Option<Arc<super::Pipeline>>,
}

impl StoreService {
    pub fn new(db: Arc<dyn Db>, registry: Arc<Registry>, limits: StoreLimits) -> Self {
        Self {
            db,
            registry,
            limits,
            jobs_enqueued: Arc::new(tokio::sync::Notify::new()),
            events: super::StoreEvents::new(),
            cluster: None,
            store_role: String::new(),
            pipeline: None,
        }
    }

    /// The same service previewing upgrades with `pipeline`.
    pub fn with_pipeline(mut self, pipeline: Option<Arc<super::Pipeline>>) -> Self {
        self.pipeline = pipeline;
        self
    }

    /// The same service reading credentials from `cluster`, through the store role
    /// `store_role` bound in each store namespace.
    pub fn with_cluster(
        mut self,
        cluster: Option<crate::k8s::Cluster>,
        store_role: impl Into<String>,
    ) -> Self {
        self.cluster = cluster;
        self.store_role = store_role.into();
        self
    }

    /// Where store changes are announced.
    pub fn events(&self) -> &super::StoreEvents {
        &self.events
    }

    /// Notified whenever an operation enqueued a job (the runner listens).
    pub fn jobs_enqueued(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.jobs_enqueued)
    }

    /// Creates a store `requested` and enqueues its provisioning.
    pub async fn create(
        &self,
        caller: &Caller,
        request: CreateStore,
        ctx: AuditContext,
    ) -> Result<Store, LifecycleError> {
        let name =
            StoreName::parse(&request.name).map_err(|err| LifecycleError::Validation(err.0))?;
        let plugin = self
            .registry
            .active(&request.engine)
            .ok_or_else(|| LifecycleError::UnknownEngine(request.engine.clone()))?;
        let options = if request.options.is_null() {
            serde_json::json!({})
        } else {
            request.options
        };
        let problems = validate_options(&plugin.info.options_schema, &options);
        if !problems.is_empty() {
            return Err(LifecycleError::InvalidOptions(problems));
        }
        let new = NewStore {
            id: StoreId::generate(),
            owner_id: caller.id.clone(),
            name: name.clone(),
            engine: request.engine,
            options,
            plugin_version: Some(plugin.info.version.to_string()),
            plugin_digest: Some(plugin.digest.to_string()),
        };
        let created =
            self.db
                .create_store(new, self.limits, ctx)
                .await
                .map_err(|err| match err {
                    CreateStoreError::LimitExceeded { limit } => {
                        LifecycleError::LimitExceeded { limit }
                    }
                    CreateStoreError::Cooldown { retry_after } => {
                        LifecycleError::Cooldown { retry_after }
                    }
                    CreateStoreError::NameTaken => {
                        LifecycleError::NameTaken(name.as_str().to_owned())
                    }
                    CreateStoreError::Db(err) => LifecycleError::Db(err),
                })?;
        self.jobs_enqueued.notify_waiters();
        self.events.publish(&created.id);
        Ok(created)
    }

    /// A store the caller may read.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Store, LifecycleError> {
        self.authorized(caller, id, StoreAction::Read).await
    }

    /// The caller's stores (all stores for admins, optionally one owner's).
    pub async fn list(
        &self,
        caller: &Caller,
        mut filter: StoreFilter,
    ) -> Result<Page<Store>, LifecycleError> {
        if caller.role != crate::domain::Role::Admin {
            filter.owner = Some(caller.id.clone());
        }
        Ok(self.db.list_stores(&filter).await?)
    }

    /// Adds to `known` the e-mail addresses of the users among `ids` it lacks, for an admin's
    /// views (stores' owners, audit events' actors). Only admins are shown other users'
    /// addresses; for anyone else this does nothing.
    pub async fn learn_emails(
        &self,
        caller: &Caller,
        ids: impl IntoIterator<Item = UserId>,
        known: &mut HashMap<UserId, String>,
    ) -> Result<(), LifecycleError> {
        if caller.role != crate::domain::Role::Admin {
            return Ok(());
        }
        let mut missing: Vec<UserId> = ids
            .into_iter()
            .filter(|id| !known.contains_key(id))
            .collect();
        missing.sort();
        missing.dedup();
        known.extend(self.db.user_emails(&missing).await?);
        Ok(())
    }

    /// Starts deleting a store (owner only); cancels its provisioning job.
    pub async fn delete(
        &self,
        caller: &Caller,
        id: &str,
        ctx: AuditContext,
    ) -> Result<Store, LifecycleError> {
        let store = self.authorized(caller, id, StoreAction::Manage).await?;
        let audit = NewAudit::new(
            ctx,
            "store.delete",
            format!("deletion of {} requested", store.name),
        );
        self.transition(
            &store,
            StoreStatus::Deleting,
            StorePatch::default(),
            audit,
            true,
            Some(JobKind::Delete),
        )
        .await
    }

    /// Retries a failed store (owner only). A job left open by a crashed run is cancelled, so
    /// the retry's job is the only one.
    pub async fn retry(
        &self,
        caller: &Caller,
        id: &str,
        ctx: AuditContext,
    ) -> Result<Store, LifecycleError> {
        let store = self.authorized(caller, id, StoreAction::Manage).await?;
        let audit = NewAudit::new(
            ctx,
            "store.retry",
            format!("retry of {} requested", store.name),
        );
        let patch = StorePatch {
            failure_reason: Some(None),
            increment_retry: true,
            ..StorePatch::default()
        };
        self.transition(
            &store,
            StoreStatus::Provisioning,
            patch,
            audit,
            true,
            Some(JobKind::Provision),
        )
        .await
    }

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
                .ok_or_else(|| {
                    LifecycleError::Validation(format!(
                        "engine {} has no version {version} on this host",
                        store.engine
                    ))
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

    /// The engine admin login of a store (owner only), read from the store's Secret in the
    /// cluster; the reveal is audited (without the password).
    pub async fn credentials(
        &self,
        caller: &Caller,
        id: &str,
        ctx: AuditContext,
    ) -> Result<Credentials, LifecycleError> {
        let store = self.authorized(caller, id, StoreAction::Manage).await?;
        if matches!(store.status, StoreStatus::Deleting | StoreStatus::Deleted) {
            return Err(LifecycleError::NotReady(format!(
                "{} is {}",
                store.name, store.status
            )));
        }
        let record = super::record::ProvisionRecord::from_value(&store.progress);
        let login = record
            .plan
            .as_ref()
            .ok_or_else(|| LifecycleError::NotReady("the store has not been planned yet".into()))?
            .plan
            .admin_login
            .clone()
            .ok_or_else(|| {
                LifecycleError::NotReady(format!("engine {} has no admin login", store.engine))
            })?;
        let cluster = self
            .cluster
            .as_ref()
            .ok_or_else(|| LifecycleError::ClusterUnavailable("no cluster is configured".into()))?;
        let namespace = store.id.namespace();
        let unavailable = |err: crate::k8s::KubeError| {
            LifecycleError::ClusterUnavailable(format!("cannot read the credentials: {err}"))
        };
        let values = match cluster
            .read_secret(&namespace, super::CREDENTIALS_SECRET)
            .await
        {
            // A store provisioned before the host bound its store role into each namespace
            // (an older build): bind it now, as provisioning does, and read again.
            Err(err) if err.is_rbac_denial() => {
                tracing::info!(store = %store.id.as_str(), "binding the store role to read an older store's credentials");
                cluster
                    .bind_store_role(
                        &namespace,
                        store.id.as_str(),
                        &self.store_role,
                        std::time::Duration::from_secs(10),
                    )
                    .await
                    .map_err(unavailable)?;
                // Another API server may not have seen the binding yet (each has its own
                // authorizer cache): a refusal right after it is tried again, briefly.
                let mut attempt = 0;
                loop {
                    match cluster
                        .read_secret(&namespace, super::CREDENTIALS_SECRET)
                        .await
                    {
                        Err(err) if err.is_rbac_denial() && attempt < 10 => {
                            attempt += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                        other => break other.map_err(unavailable)?,
                    }
                }
            }
            other => other.map_err(unavailable)?,
        }
            .ok_or_else(|| {
                LifecycleError::NotReady("the credentials have not been created yet".into())
            })?;
        let password = values.get(&login.password_key).cloned().ok_or_else(|| {
            LifecycleError::NotReady("the credentials have not been created yet".into())
        })?;
        let admin_url = store
            .endpoints
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|e| {
                (e.get("kind").and_then(serde_json::Value::as_str) == Some("admin"))
                    .then(|| {
                        e.get("url")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_owned)
                    })
                    .flatten()
            });
        let mut audit = NewAudit::new(
            ctx,
            "store.credentials_viewed",
            format!("admin credentials of {} revealed to the owner", store.name),
        );
        audit.store_id = Some(store.id.clone());
        audit.store_owner = Some(store.owner_id.clone());
        self.db.record_audit(audit).await?;
        Ok(Credentials {
            username: login.username,
            password,
            admin_url,
        })
    }

    async fn transition(
        &self,
        store: &Store,
        to: StoreStatus,
        patch: StorePatch,
        audit: NewAudit,
        cancel_open_job: bool,
        enqueue: Option<JobKind>,
    ) -> Result<Store, LifecycleError> {
        // Retry only makes sense from `failed`, even though provisioning → provisioning is not
        // a transition either: say so precisely.
        if !store.status.can_become(to)
            || (to == StoreStatus::Provisioning && store.status != StoreStatus::Failed)
        {
            return Err(LifecycleError::InvalidTransition {
                from: store.status,
                to,
            });
        }
        let transition = Transition {
            store_id: store.id.clone(),
            from: store.status,
            expected_version: store.version,
            to,
            patch,
            audit,
            cancel_open_job,
            enqueue,
        };
        let enqueue = transition.enqueue;
        let store = self.db.transition_store(transition).await?;
        self.events.publish(&store.id);
        if enqueue.is_some() {
            self.jobs_enqueued.notify_waiters();
        }
        Ok(store)
    }

    async fn authorized(
        &self,
        caller: &Caller,
        id: &str,
        action: StoreAction,
    ) -> Result<Store, LifecycleError> {
        let id = StoreId::parse(id).ok_or(LifecycleError::NotFound)?;
        let store = self.db.store(&id).await?.ok_or(LifecycleError::NotFound)?;
        if allowed(caller, &store.owner_id, action) {
            Ok(store)
        } else {
            Err(LifecycleError::Forbidden)
        }
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

/// Problems of `options` against `schema` (JSON Pointer path + message each).
pub fn validate_options(schema: &serde_json::Value, options: &serde_json::Value) -> Vec<String> {
    match jsonschema::options().build(schema) {
        Ok(validator) => validator
            .iter_errors(options)
            .map(|err| {
                let path = err.instance_path.to_string();
                if path.is_empty() {
                    err.to_string()
                } else {
                    format!("{path}: {err}")
                }
            })
            .collect(),
        Err(err) => vec![format!("the engine's options schema is invalid: {err}")],
    }
}
