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
    /// A well-formed version this host has not loaded.
    #[error("engine {engine} has no version {version} on this host")]
    VersionNotFound { engine: String, version: String },
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

/// Store operations over the database and the plugin registry.
#[derive(Debug, Clone)]
pub struct StoreService {
    pub(super) db: Arc<dyn Db>,
    pub(super) registry: Arc<Registry>,
    limits: StoreLimits,
    /// Wakes this replica's job runner when a job was enqueued.
    pub(super) jobs_enqueued: Arc<tokio::sync::Notify>,
    pub(super) events: super::StoreEvents,
    /// Where stores' Secrets are read (credentials); `None` without a cluster.
    cluster: Option<crate::k8s::Cluster>,
    /// The ClusterRole the host reads a store's Secret through (`STORE_ROLE`).
    store_role: String,
    /// Renders upgrade previews; `None` without a cluster.
    pub(super) pipeline: Option<Arc<super::Pipeline>>,
    /// Pages of store lists, while the change feed is followed.
    lists: Arc<super::list_cache::ListCache>,
    /// Users' e-mail addresses learnt for admins' views (an address never changes).
    emails: Arc<std::sync::Mutex<HashMap<UserId, String>>>,
}

/// Most e-mail addresses kept; when full the map starts over.
const EMAILS_KEPT: usize = 10_000;

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
            lists: Arc::default(),
            emails: Arc::default(),
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

    /// The caller's stores (all stores for admins, optionally one owner's); shared, since a
    /// page may be served to many callers from memory.
    pub async fn list(
        &self,
        caller: &Caller,
        mut filter: StoreFilter,
    ) -> Result<Arc<Page<Store>>, LifecycleError> {
        if caller.role != crate::domain::Role::Admin {
            filter.owner = Some(caller.id.clone());
        }
        let now = std::time::Instant::now();
        // Read before the database is: a change during the read retires what it read.
        let changes = self.events.change_count();
        let cacheable = self.events.hears_other_replicas();
        if cacheable && let Some(page) = self.lists.get(&filter, changes, now) {
            return Ok(page);
        }
        let page = Arc::new(self.db.list_stores(&filter).await?);
        if cacheable {
            self.lists.put(&filter, changes, Arc::clone(&page), now);
        }
        Ok(page)
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
        {
            let emails = self.emails.lock().unwrap_or_else(|e| e.into_inner());
            missing.retain(|id| match emails.get(id) {
                Some(email) => {
                    known.insert(id.clone(), email.clone());
                    false
                }
                None => true,
            });
        }
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort();
        missing.dedup();
        let found = self.db.user_emails(&missing).await?;
        let mut emails = self.emails.lock().unwrap_or_else(|e| e.into_inner());
        if emails.len() + found.len() > EMAILS_KEPT {
            emails.clear();
        }
        emails.extend(found.iter().map(|(id, email)| (id.clone(), email.clone())));
        known.extend(found);
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

    pub(super) async fn transition(
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

    pub(super) async fn authorized(
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

/// Problems of `options` against `schema` (JSON Pointer path + message each).
pub fn validate_options(schema: &serde_json::Value, options: &serde_json::Value) -> Vec<String> {
    match crate::plugins::validate::options_validator(schema) {
        Ok(validator) => validator
            .iter_errors(options)
            .map(|err| crate::plugins::validate::located(&err))
            .collect(),
        Err(err) => vec![format!("the engine's options schema is invalid: {err}")],
    }
}
