//! Drives rollouts. Every replica runs a driver; each active rollout is driven by one replica
//! at a time, under a lease (taken over when it expires), and every change is a
//! compare-and-set — on the store's status when an upgrade starts, on the member's state when
//! it is recorded — so no store is upgraded twice however many replicas run. A tick settles
//! the members whose upgrades ended (from their stores: `ready` on the new version is
//! upgraded, `ready` on another is failed and rolled back), stops the rollout when the canary
//! or the failure budget fails, and starts the next members of the current batch while fewer
//! than `maxInFlight` run, after the pause between batches. An aborted rollout starts nothing
//! more and takes the current batch's upgraded stores back to their old version.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, watch};

use super::record::ProvisionRecord;
use super::rollouts::{RolloutSettings, rollout_context};
use super::stores::{LifecycleError, StoreService};
use crate::db::{
    Db, DbError, MemberState, NewAudit, Rollout, RolloutMember, RolloutState, Store, StoreStatus,
};
use crate::plugins::Registry;

/// Drives this replica's share of the rollouts.
#[derive(Debug)]
pub struct RolloutDriver {
    db: Arc<dyn Db>,
    registry: Arc<Registry>,
    stores: StoreService,
    /// Identifies this replica in leases.
    owner: String,
    lease: Duration,
    tick: Duration,
    wake: Arc<Notify>,
}

impl RolloutDriver {
    pub fn new(
        db: Arc<dyn Db>,
        registry: Arc<Registry>,
        stores: StoreService,
        tick: Duration,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            db,
            registry,
            stores,
            owner: format!("rollouts-{}", uuid::Uuid::new_v4().simple()),
            lease: (tick * 10).max(Duration::from_secs(5)),
            tick,
            wake,
        }
    }

    /// Ticks until `shutdown` turns true; a store's change or a new rollout wakes it early.
    pub fn start(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut changes = self.stores.events().subscribe();
            while !*shutdown.borrow() {
                if let Err(err) = self.tick().await {
                    tracing::warn!(error = %err, "driving rollouts failed; trying again");
                }
                let store_changed = tokio::select! {
                    () = tokio::time::sleep(self.tick) => false,
                    () = self.wake.notified() => false,
                    _ = changes.recv() => true,
                    _ = shutdown.changed() => false,
                };
                if store_changed {
                    // Stores change in bursts during a rollout: one pass for a burst.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    while changes.try_recv().is_ok() {}
                }
            }
        })
    }

    /// One pass over the rollouts this replica may drive now.
    pub async fn tick(&self) -> Result<(), DbError> {
        for rollout in self.db.claim_rollouts(&self.owner, self.lease).await? {
            if let Err(err) = self.advance(&rollout).await {
                tracing::warn!(rollout = rollout.id, error = %err, "advancing the rollout failed");
            }
        }
        Ok(())
    }

    async fn advance(&self, rollout: &Rollout) -> Result<(), LifecycleError> {
        let settings: RolloutSettings =
            serde_json::from_value(rollout.settings.clone()).unwrap_or_default();
        let mut members = self.db.rollout_members(rollout.id).await?;
        for member in members.iter_mut().filter(|m| m.state.in_flight()) {
            self.settle(rollout, member).await?;
        }
        let failed: Vec<&RolloutMember> = members
            .iter()
            .filter(|m| m.state == MemberState::Failed)
            .collect();
        if matches!(rollout.state, RolloutState::Running | RolloutState::Paused) {
            let canary_failed = failed.iter().any(|m| m.batch == 0);
            let over_budget = failed.len() > usize::try_from(settings.failure_budget).unwrap_or(0);
            if canary_failed || over_budget {
                let reason = if canary_failed {
                    format!(
                        "a canary store failed ({})",
                        failed
                            .first()
                            .and_then(|m| m.detail.clone())
                            .unwrap_or_default()
                    )
                } else {
                    format!(
                        "{} upgrade(s) failed, more than the failure budget of {}",
                        failed.len(),
                        settings.failure_budget
                    )
                };
                return self
                    .end(rollout, RolloutState::Stopped, "rollout.stopped", reason)
                    .await;
            }
        }
        match rollout.state {
            RolloutState::Running => self.run(rollout, &settings, &members).await,
            RolloutState::Aborting => self.abort(rollout, &members).await,
            _ => Ok(()),
        }
    }

    /// Records how a member's job ended, read from its store.
    async fn settle(
        &self,
        rollout: &Rollout,
        member: &mut RolloutMember,
    ) -> Result<(), LifecycleError> {
        let store = self.db.store(&member.store_id).await?;
        let reverting = member.state == MemberState::Reverting;
        let (to, detail) = match &store {
            None => (MemberState::Skipped, Some("the store is gone".to_owned())),
            Some(s) if matches!(s.status, StoreStatus::Deleting | StoreStatus::Deleted) => (
                MemberState::Skipped,
                Some("the store was deleted".to_owned()),
            ),
            Some(s) if s.status == StoreStatus::Upgrading => return Ok(()),
            // Claimed, but the store has not changed since: the replica that claimed it
            // stopped before starting the job. It goes back to wait for its turn.
            Some(s) if s.status == StoreStatus::Ready && s.updated_at < member.updated_at => {
                let back = if reverting {
                    MemberState::Upgraded
                } else {
                    MemberState::Pending
                };
                (back, None)
            }
            Some(s) if s.status == StoreStatus::Ready => {
                let on = s.plugin_digest.as_deref().unwrap_or_default();
                match (reverting, on == rollout.digest, on == member.from_digest) {
                    (false, true, _) => (MemberState::Upgraded, None),
                    (true, _, true) => (MemberState::Reverted, None),
                    _ => (MemberState::Failed, s.failure_reason.clone()),
                }
            }
            Some(s) => (
                MemberState::Failed,
                Some(
                    s.failure_reason
                        .clone()
                        .unwrap_or_else(|| format!("the store is {}", s.status)),
                ),
            ),
        };
        if self
            .db
            .set_member_state(
                rollout.id,
                &member.store_id,
                member.state,
                to,
                detail.clone(),
            )
            .await?
        {
            tracing::info!(rollout = rollout.id, store = %member.store_id, state = to.as_str(), "rollout member settled");
            member.state = to;
            member.detail = detail;
        }
        Ok(())
    }

    /// Starts what the current batch may start.
    async fn run(
        &self,
        rollout: &Rollout,
        settings: &RolloutSettings,
        members: &[RolloutMember],
    ) -> Result<(), LifecycleError> {
        let open = |m: &&RolloutMember| m.state == MemberState::Pending || m.state.in_flight();
        let Some(batch) = members.iter().filter(open).map(|m| m.batch).min() else {
            return self
                .end(
                    rollout,
                    RolloutState::Completed,
                    "rollout.completed",
                    "every selected store was taken".into(),
                )
                .await;
        };
        let current: Vec<&RolloutMember> = members.iter().filter(|m| m.batch == batch).collect();
        let started = current.iter().any(|m| m.state != MemberState::Pending);
        let earlier = members.iter().any(|m| m.batch < batch);
        if !started && earlier && settings.pause_seconds > 0 {
            // A new batch: after the pause.
            match rollout.next_batch_at {
                None => {
                    let at = Utc::now()
                        + chrono::Duration::seconds(
                            i64::try_from(settings.pause_seconds).unwrap_or(0),
                        );
                    self.db.set_rollout_next_batch(rollout.id, Some(at)).await?;
                    return Ok(());
                }
                Some(at) if at > Utc::now() => return Ok(()),
                Some(_) => self.db.set_rollout_next_batch(rollout.id, None).await?,
            }
        }
        let limit = usize::try_from(settings.max_in_flight.max(1)).unwrap_or(1);
        let mut in_flight = members.iter().filter(|m| m.state.in_flight()).count();
        let plugin =
            super::plugin_source::by_digest(&self.registry, self.db.as_ref(), &rollout.digest)
                .await
                .ok_or_else(|| {
                    LifecycleError::Validation(format!(
                        "version {} of {} is no longer loaded",
                        rollout.version, rollout.engine
                    ))
                });
        let plugin = match plugin {
            Ok(plugin) => plugin,
            Err(err) => {
                return self
                    .end(
                        rollout,
                        RolloutState::Stopped,
                        "rollout.stopped",
                        err.to_string(),
                    )
                    .await;
            }
        };
        for member in current.iter().filter(|m| m.state == MemberState::Pending) {
            if in_flight >= limit {
                break;
            }
            match self
                .begin(rollout, member, &plugin, MemberState::Upgrading)
                .await?
            {
                Begun::Started => in_flight += 1,
                Begun::NotStarted => {}
                // Paused or aborted since this tick read it: start nothing more.
                Begun::NotClaimed => break,
            }
        }
        Ok(())
    }

    /// Starts the upgrade of `member` (or its revert, to `Reverting`).
    async fn begin(
        &self,
        rollout: &Rollout,
        member: &RolloutMember,
        plugin: &crate::plugins::PluginVersion,
        to: MemberState,
    ) -> Result<Begun, LifecycleError> {
        let from = if to == MemberState::Reverting {
            MemberState::Upgraded
        } else {
            MemberState::Pending
        };
        let Some(store) = self.db.store(&member.store_id).await? else {
            self.db
                .set_member_state(
                    rollout.id,
                    &member.store_id,
                    from,
                    MemberState::Skipped,
                    Some("the store is gone".into()),
                )
                .await?;
            return Ok(Begun::NotStarted);
        };
        if self.already_ours(rollout, &store) {
            // Started by an earlier tick that stopped before recording it.
            let recorded = self
                .db
                .set_member_state(rollout.id, &member.store_id, from, to, None)
                .await?;
            return Ok(if recorded {
                Begun::Started
            } else {
                Begun::NotStarted
            });
        }
        if to == MemberState::Upgrading
            && store.plugin_digest.as_deref() == Some(rollout.digest.as_str())
        {
            self.db
                .set_member_state(
                    rollout.id,
                    &member.store_id,
                    from,
                    MemberState::Upgraded,
                    Some("already on this version".into()),
                )
                .await?;
            return Ok(Begun::NotStarted);
        }
        if store.status != StoreStatus::Ready {
            let detail = if to == MemberState::Reverting {
                format!(
                    "not taken back: the store was {} when the rollout was aborted",
                    store.status
                )
            } else {
                format!(
                    "not upgraded: the store was {} when its turn came",
                    store.status
                )
            };
            self.db
                .set_member_state(
                    rollout.id,
                    &member.store_id,
                    from,
                    MemberState::Skipped,
                    Some(detail),
                )
                .await?;
            return Ok(Begun::NotStarted);
        }
        // The member is claimed before its job starts, in one step with a check of the
        // rollout's state: once a pause or abort has committed, nothing more starts.
        let expected = if to == MemberState::Reverting {
            RolloutState::Aborting
        } else {
            RolloutState::Running
        };
        if !self
            .db
            .claim_member(rollout.id, &member.store_id, from, to, expected)
            .await?
        {
            return Ok(Begun::NotClaimed);
        }
        match self
            .stores
            .start_upgrade(
                &store,
                plugin,
                store.options.clone(),
                Some(rollout.id),
                rollout_context(rollout),
            )
            .await
        {
            Ok(_) => Ok(Begun::Started),
            // Changed meanwhile (its owner, or another replica): released, and looked at
            // again next tick.
            Err(LifecycleError::Conflict { .. } | LifecycleError::InvalidTransition { .. }) => {
                self.db
                    .set_member_state(rollout.id, &member.store_id, to, from, None)
                    .await?;
                Ok(Begun::NotStarted)
            }
            Err(other) => {
                self.db
                    .set_member_state(rollout.id, &member.store_id, to, from, None)
                    .await?;
                Err(other)
            }
        }
    }

    /// Whether `store` is being upgraded for `rollout` already.
    fn already_ours(&self, rollout: &Rollout, store: &Store) -> bool {
        store.status == StoreStatus::Upgrading
            && ProvisionRecord::from_value(&store.progress)
                .upgrade
                .is_some_and(|u| u.rollout == Some(rollout.id))
    }

    /// An aborted rollout: nothing new starts; the current batch's upgraded stores go back to
    /// their old version; once nothing runs, `aborted`.
    async fn abort(
        &self,
        rollout: &Rollout,
        members: &[RolloutMember],
    ) -> Result<(), LifecycleError> {
        for member in members.iter().filter(|m| m.state == MemberState::Pending) {
            self.db
                .set_member_state(
                    rollout.id,
                    &member.store_id,
                    MemberState::Pending,
                    MemberState::Skipped,
                    Some("the rollout was aborted".into()),
                )
                .await?;
        }
        let current = members
            .iter()
            .filter(|m| m.state != MemberState::Pending && m.state != MemberState::Skipped)
            .map(|m| m.batch)
            .max();
        let mut running = members.iter().filter(|m| m.state.in_flight()).count();
        for member in members
            .iter()
            .filter(|m| Some(m.batch) == current && m.state == MemberState::Upgraded)
        {
            let Some(old) = super::plugin_source::by_digest(
                &self.registry,
                self.db.as_ref(),
                &member.from_digest,
            )
            .await
            else {
                self.db
                    .set_member_state(
                        rollout.id,
                        &member.store_id,
                        MemberState::Upgraded,
                        MemberState::Failed,
                        Some(format!(
                            "cannot go back: version {} is no longer loaded",
                            member.from_version
                        )),
                    )
                    .await?;
                continue;
            };
            if self
                .begin(rollout, member, &old, MemberState::Reverting)
                .await?
                == Begun::Started
            {
                running += 1;
            }
        }
        if running == 0 && members.iter().all(|m| !m.state.in_flight()) {
            return self
                .end(
                    rollout,
                    RolloutState::Aborted,
                    "rollout.abort_finished",
                    "the current batch was taken back".into(),
                )
                .await;
        }
        Ok(())
    }

    /// Ends (or stops) the rollout with `reason`, audited as `action`.
    async fn end(
        &self,
        rollout: &Rollout,
        to: RolloutState,
        action: &str,
        reason: String,
    ) -> Result<(), LifecycleError> {
        let audit = NewAudit::new(
            rollout_context(rollout),
            action,
            format!(
                "rollout {} of {}@{} {}: {reason}",
                rollout.id,
                rollout.engine,
                rollout.version,
                to.as_str()
            ),
        );
        let from: &[RolloutState] = match to {
            RolloutState::Aborted => &[RolloutState::Aborting],
            _ => &[RolloutState::Running, RolloutState::Paused],
        };
        if self
            .db
            .set_rollout_state(rollout.id, from, to, Some(reason.clone()), audit)
            .await?
            .is_some()
        {
            tracing::info!(rollout = rollout.id, state = to.as_str(), reason = %reason, "rollout ended");
        }
        Ok(())
    }
}

/// What [`RolloutDriver::begin`] did with a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Begun {
    /// A job of the member now runs for the rollout.
    Started,
    /// Nothing runs for it now (settled otherwise, or looked at again next tick).
    NotStarted,
    /// Not claimed: the rollout is no longer in the state that starts jobs (paused or
    /// aborted meanwhile), or the member moved. Nothing more starts this tick.
    NotClaimed,
}
