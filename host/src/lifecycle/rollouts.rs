//! Rollouts, as administrators start and steer them: an engine version taken to the existing
//! stores they select, a canary first, then batches, at most so many upgrades at once, a pause
//! between batches and a failure budget; paused, resumed and aborted at will. Each action is
//! audited. The driving itself is [`super::RolloutDriver`]'s.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::stores::LifecycleError;
use crate::db::{
    AuditContext, CreateRolloutError, Db, NewAudit, NewMember, NewRollout, Page, Rollout,
    RolloutMember, RolloutState, StoreFilter, StoreStatus,
};
use crate::domain::{Role, StoreId};
use crate::plugins::Registry;
use crate::tenancy::Caller;

/// How a rollout proceeds, and which stores it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RolloutSettings {
    /// Only these owners' stores (user ids); all owners when empty.
    pub owners: Vec<String>,
    /// Only stores on these engine versions; every other version when empty.
    pub from_versions: Vec<String>,
    /// Only these stores; every store of the engine when empty.
    pub store_ids: Vec<String>,
    /// The first stores, upgraded alone first; any failure among them stops the rollout.
    #[schema(maximum = 1000)]
    pub canary: u32,
    /// Stores per batch after the canary.
    #[schema(minimum = 1, maximum = 1000)]
    pub batch_size: u32,
    /// Upgrades running at once, at most.
    #[schema(minimum = 1, maximum = 100)]
    pub max_in_flight: u32,
    /// Seconds between a batch's end and the next one's start.
    #[schema(maximum = 86400)]
    pub pause_seconds: u64,
    /// Failed upgrades tolerated: one more stops the rollout.
    #[schema(maximum = 100000)]
    pub failure_budget: u32,
    /// Also take stores their owners pinned to their version (a security fix must reach
    /// every store).
    pub include_pinned: bool,
}

impl Default for RolloutSettings {
    fn default() -> Self {
        Self {
            owners: Vec::new(),
            from_versions: Vec::new(),
            store_ids: Vec::new(),
            canary: 1,
            batch_size: 10,
            max_in_flight: 5,
            pause_seconds: 0,
            failure_budget: 0,
            include_pinned: false,
        }
    }
}

impl RolloutSettings {
    /// Problems with the settings, each naming the field and its bounds.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut within = |field: &str, value: u64, min: u64, max: u64| {
            if !(min..=max).contains(&value) {
                problems.push(format!("{field}: {value} is outside {min}..={max}"));
            }
        };
        within("canary", u64::from(self.canary), 0, 1000);
        within("batchSize", u64::from(self.batch_size), 1, 1000);
        within("maxInFlight", u64::from(self.max_in_flight), 1, 100);
        within("pauseSeconds", self.pause_seconds, 0, 86_400);
        within("failureBudget", u64::from(self.failure_budget), 0, 100_000);
        for version in &self.from_versions {
            if semver::Version::parse(version).is_err() {
                problems.push(format!(
                    "fromVersions: {version:?} is not a semantic version"
                ));
            }
        }
        for id in &self.store_ids {
            if StoreId::parse(id).is_none() {
                problems.push(format!("storeIds: {id:?} is not a store id"));
            }
        }
        problems
    }

    /// The batch of the store at `position` (0-based) of the rollout's order: 0 for the
    /// canary, then 1, 2, ... of `batch_size` stores each.
    pub fn batch_of(&self, position: usize) -> i32 {
        let canary = usize::try_from(self.canary).unwrap_or(usize::MAX);
        let size = usize::try_from(self.batch_size.max(1)).unwrap_or(1);
        let batch = if position < canary {
            0
        } else {
            (position - canary) / size + 1
        };
        i32::try_from(batch).unwrap_or(i32::MAX)
    }
}

/// A rollout to start.
#[derive(Debug, Clone)]
pub struct StartRollout {
    pub engine: String,
    pub version: String,
    pub settings: RolloutSettings,
}

/// Rollout operations of the API (administrators only).
#[derive(Debug, Clone)]
pub struct RolloutService {
    db: Arc<dyn Db>,
    registry: Arc<Registry>,
    /// Wakes this replica's rollout driver.
    wake: Arc<tokio::sync::Notify>,
}

fn admin_only(caller: &Caller) -> Result<(), LifecycleError> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(LifecycleError::NotAllowed(
            "only administrators run rollouts".into(),
        ))
    }
}

impl RolloutService {
    pub fn new(db: Arc<dyn Db>, registry: Arc<Registry>) -> Self {
        Self {
            db,
            registry,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Notified when a rollout starts or changes (the driver listens).
    pub fn wake(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.wake)
    }

    /// Starts a rollout of `engine@version` to the stores the settings select, oldest first.
    pub async fn start(
        &self,
        caller: &Caller,
        request: StartRollout,
        ctx: AuditContext,
    ) -> Result<Rollout, LifecycleError> {
        admin_only(caller)?;
        let problems = request.settings.problems();
        if !problems.is_empty() {
            return Err(LifecycleError::InvalidOptions(problems));
        }
        let version = semver::Version::parse(&request.version).map_err(|err| {
            LifecycleError::Validation(format!(
                "version {:?} is not a semantic version: {err}",
                request.version
            ))
        })?;
        let plugin = super::plugin_source::by_version(
            &self.registry,
            self.db.as_ref(),
            &request.engine,
            &version,
        )
        .await
        .ok_or_else(|| LifecycleError::VersionNotFound {
            engine: request.engine.clone(),
            version: version.to_string(),
        })?;
        let members = self.select(&request, plugin.digest.as_str()).await?;
        if members.is_empty() {
            return Err(LifecycleError::Busy(format!(
                "no store of engine {} is selected that runs another version",
                request.engine
            )));
        }
        let settings = &request.settings;
        let mut audit = NewAudit::new(
            ctx,
            "rollout.started",
            format!(
                "rollout of {}@{version} to {} store(s) started",
                request.engine,
                members.len()
            ),
        );
        audit.details = serde_json::json!({
            "engine": request.engine, "version": version.to_string(), "stores": members.len(),
            "settings": settings,
        });
        let rollout = NewRollout {
            engine: request.engine.clone(),
            version: version.to_string(),
            digest: plugin.digest.to_string(),
            settings: serde_json::to_value(settings).unwrap_or_default(),
            created_by: Some(caller.id.clone()),
            members,
            audit,
        };
        let created = self
            .db
            .create_rollout(rollout)
            .await
            .map_err(|err| match err {
                CreateRolloutError::AlreadyActive => LifecycleError::Busy(format!(
                    "a rollout of {} is already under way: pause it, abort it or wait for it",
                    request.engine
                )),
                CreateRolloutError::Db(err) => LifecycleError::Db(err),
            })?;
        self.wake.notify_waiters();
        Ok(created)
    }

    /// The stores a rollout takes, in order (oldest first), each in its batch.
    async fn select(
        &self,
        request: &StartRollout,
        digest: &str,
    ) -> Result<Vec<NewMember>, LifecycleError> {
        let settings = &request.settings;
        let mut stores = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .db
                .list_stores(&StoreFilter {
                    owner: None,
                    status: None,
                    engine: Some(request.engine.clone()),
                    limit: 500,
                    offset,
                })
                .await?;
            let count = page.items.len();
            stores.extend(page.items);
            if count < 500 {
                break;
            }
            offset += 500;
        }
        stores.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        let selected = stores.into_iter().filter(|s| {
            s.status != StoreStatus::Deleted
                && !matches!(s.status, StoreStatus::Deleting)
                && s.plugin_digest.as_deref() != Some(digest)
                && (settings.owners.is_empty() || settings.owners.contains(&s.owner_id.0))
                && (settings.store_ids.is_empty()
                    || settings.store_ids.iter().any(|id| id == s.id.as_str()))
                && (settings.from_versions.is_empty()
                    || s.plugin_version
                        .as_ref()
                        .is_some_and(|v| settings.from_versions.contains(v)))
                && (settings.include_pinned || !s.pinned)
        });
        Ok(selected
            .enumerate()
            .map(|(position, store)| NewMember {
                batch: settings.batch_of(position),
                from_version: store.plugin_version.clone().unwrap_or_default(),
                from_digest: store.plugin_digest.clone().unwrap_or_default(),
                store_id: store.id,
            })
            .collect())
    }

    /// A rollout and its stores.
    pub async fn get(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<(Rollout, Vec<RolloutMember>), LifecycleError> {
        admin_only(caller)?;
        let rollout = self
            .db
            .rollout(id)
            .await?
            .ok_or(LifecycleError::RolloutNotFound(id))?;
        let members = self.db.rollout_members(id).await?;
        Ok((rollout, members))
    }

    /// Rollouts, newest first.
    pub async fn list(
        &self,
        caller: &Caller,
        limit: u32,
        offset: u32,
    ) -> Result<Page<Rollout>, LifecycleError> {
        admin_only(caller)?;
        Ok(self.db.list_rollouts(limit, offset).await?)
    }

    /// Pauses, resumes or aborts a rollout (`action`: pause | resume | abort).
    pub async fn steer(
        &self,
        caller: &Caller,
        id: i64,
        action: &str,
        ctx: AuditContext,
    ) -> Result<Rollout, LifecycleError> {
        admin_only(caller)?;
        let (from, to, verb): (&[RolloutState], RolloutState, &str) = match action {
            "pause" => (&[RolloutState::Running], RolloutState::Paused, "paused"),
            "resume" => (&[RolloutState::Paused], RolloutState::Running, "resumed"),
            "abort" => (
                &[RolloutState::Running, RolloutState::Paused],
                RolloutState::Aborting,
                "aborted",
            ),
            other => {
                return Err(LifecycleError::Validation(format!(
                    "unknown rollout action {other:?} (pause, resume, abort)"
                )));
            }
        };
        let current = self
            .db
            .rollout(id)
            .await?
            .ok_or(LifecycleError::RolloutNotFound(id))?;
        let audit = NewAudit::new(
            ctx,
            &format!("rollout.{verb}"),
            format!(
                "rollout {id} of {}@{} {verb}",
                current.engine, current.version
            ),
        );
        let reason = Some(format!("{verb} by an administrator"));
        let changed = self
            .db
            .set_rollout_state(id, from, to, reason, audit)
            .await?
            .ok_or_else(|| {
                LifecycleError::Busy(format!(
                    "rollout {id} is {}: it cannot be {verb}",
                    current.state.as_str()
                ))
            })?;
        self.wake.notify_waiters();
        Ok(changed)
    }

    /// The e-mail addresses of the rollout's creator, for views.
    pub async fn creator_email(&self, rollout: &Rollout) -> Result<Option<String>, LifecycleError> {
        let Some(id) = &rollout.created_by else {
            return Ok(None);
        };
        let emails = self.db.user_emails(std::slice::from_ref(id)).await?;
        Ok(emails.get(id).cloned())
    }
}

/// Who a rollout acts as in the audit log: the administrator who started it.
pub(super) fn rollout_context(rollout: &Rollout) -> AuditContext {
    AuditContext {
        actor_id: rollout.created_by.clone(),
        request_id: Some(format!("rollout-{}", rollout.id)),
        ip: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_follow_the_canary() {
        let settings = RolloutSettings {
            canary: 2,
            batch_size: 3,
            ..RolloutSettings::default()
        };
        let batches: Vec<i32> = (0..9).map(|p| settings.batch_of(p)).collect();
        assert_eq!(batches, [0, 0, 1, 1, 1, 2, 2, 2, 3]);
        let no_canary = RolloutSettings {
            canary: 0,
            batch_size: 2,
            ..RolloutSettings::default()
        };
        assert_eq!(no_canary.batch_of(0), 1);
    }

    #[test]
    fn settings_out_of_bounds_are_named() {
        let settings = RolloutSettings {
            batch_size: 0,
            max_in_flight: 1000,
            from_versions: vec!["one".into()],
            ..RolloutSettings::default()
        };
        let problems = settings.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("batchSize: 0"));
    }
}
