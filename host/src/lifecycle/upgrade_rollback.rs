//! Rolling a failed upgrade back: the failure recorded (`store.upgrade_failed`), then — when
//! the store's objects may have changed — the quota for both plans, the old plan's objects
//! applied and the new version's additions deleted (never claims), a wait for the old
//! workloads and the old quota; the store ends `ready` on its old version with the failure in
//! its record (`store.upgrade_rolled_back`). Each step is recorded, so a crash resumes the
//! rollback, never the upgrade.

use std::time::Duration;

use serde_json::json;

use super::changes;
use super::job::{JobContext, StepError};
use super::provision::{Pipeline, Rendered, permanent};
use super::record::{ProvisionRecord, RollbackRecord, RollbackStep};
use super::upgrade::{UpgradeRun, target, target_mut, weaker};
use crate::db::{JobChange, JobTransition, Store, StorePatch, StoreStatus};
use crate::k8s::pod_security::strictest_level;

/// How long a rollback waits for the old workloads (the upgrade's own deadline has passed
/// when a timeout caused the rollback).
const ROLLBACK_WAIT: Duration = Duration::from_secs(600);

impl Pipeline {
    /// Records that the upgrade failed and the store goes back to its plan.
    pub(super) async fn begin_rollback(
        &self,
        ctx: &JobContext,
        record: &mut ProvisionRecord,
        reason: String,
        failed_at: &str,
        touched: bool,
    ) -> Result<(), StepError> {
        tracing::warn!(step = failed_at, error = %reason, "upgrade failed; rolling back");
        let upgrade = target_mut(record);
        upgrade.rollback = Some(RollbackRecord {
            reason: reason.clone(),
            failed_at: failed_at.to_owned(),
            touched,
            done: Vec::new(),
        });
        let to_version = upgrade.to_version.clone();
        let mut update = ctx.update_of(JobChange::Keep);
        update.progress = Some(record.to_value());
        let mut event = ctx.event(
            "store.upgrade_failed",
            format!("the upgrade to {to_version} failed at {failed_at}: {reason}; rolling back"),
        );
        event.details = json!({"to": to_version, "step": failed_at, "reason": reason});
        update.events.push(event);
        ctx.update(update).await
    }

    /// Brings the store back to its plan: the quota for both, the old objects (and the new
    /// version's additions deleted), a wait for the old workloads, then `ready` on the old
    /// version with the failure recorded.
    pub(super) async fn roll_back(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &mut ProvisionRecord,
        run: &mut UpgradeRun,
    ) -> Result<(), StepError> {
        let touched = target(record)?.rollback.as_ref().is_some_and(|r| r.touched);
        for (index, step) in RollbackStep::ALL.into_iter().enumerate() {
            let done = target(record)?
                .rollback
                .as_ref()
                .is_some_and(|r| r.done.contains(&step));
            if done || (!touched && step != RollbackStep::RollbackFinish) {
                continue;
            }
            let uses_cluster = touched;
            self.enter_step(
                ctx,
                (step.as_str(), i32::try_from(index + 1).unwrap_or(0)),
                uses_cluster,
                false,
            )
            .await?;
            let outcome = ctx
                .guarded(self.rollback_step(ctx, step, store, record, run, touched))
                .await;
            let outcome = run.bound.settled(outcome);
            if uses_cluster {
                self.record_cluster_outcome(&outcome);
            }
            outcome?;
            if step == RollbackStep::RollbackFinish {
                return Ok(());
            }
            if let Some(rollback) = target_mut(record).rollback.as_mut() {
                rollback.done.push(step);
            }
            let mut update = ctx.update_of(JobChange::Keep);
            update.progress = Some(record.to_value());
            ctx.update(update).await?;
        }
        Ok(())
    }

    /// The new plan's render during a rollback, when there is one (an upgrade that failed
    /// while planning or rendering has none: nothing of it was applied).
    async fn new_render_for_rollback<'r>(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &ProvisionRecord,
        run: &'r mut UpgradeRun,
    ) -> Option<&'r Rendered> {
        if run.new.is_none() {
            let upgrade = target(record).ok()?;
            let plan = upgrade.plan.as_ref()?;
            run.new = self
                .render(ctx, store, plan, &upgrade.to_options)
                .await
                .ok();
        }
        run.new.as_ref()
    }

    async fn old_render<'r>(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &ProvisionRecord,
        run: &'r mut UpgradeRun,
    ) -> Result<&'r Rendered, StepError> {
        if run.old.is_none() {
            let old = Self::pinned_plan(record)?;
            run.old = Some(self.render(ctx, store, old, &store.options).await?);
        }
        run.old
            .as_ref()
            .ok_or_else(|| permanent("the store's plan could not be rendered"))
    }

    async fn rollback_step(
        &self,
        ctx: &JobContext,
        step: RollbackStep,
        store: &Store,
        record: &mut ProvisionRecord,
        run: &mut UpgradeRun,
        touched: bool,
    ) -> Result<(), StepError> {
        if touched {
            self.bind(store, &mut run.bound).await?;
        }
        let namespace = store.id.namespace();
        match step {
            RollbackStep::RollbackQuota => {
                let old = self.old_render(ctx, store, record, run).await?.clone();
                let (footprint, level) =
                    match self.new_render_for_rollback(ctx, store, record, run).await {
                        Some(new) => (
                            old.footprint.max(new.footprint),
                            weaker(
                                strictest_level(&old.objects).0,
                                strictest_level(&new.objects).0,
                            ),
                        ),
                        None => (old.footprint, strictest_level(&old.objects).0),
                    };
                self.guard(store, footprint, level).await
            }
            RollbackStep::RollbackApply => {
                let old = self.old_render(ctx, store, record, run).await?.clone();
                self.apply(ctx, store, &old.objects).await?;
                if let Some(new) = self.new_render_for_rollback(ctx, store, record, run).await {
                    for object in changes::removable(&new.objects, &old.objects) {
                        self.cluster
                            .delete_object(
                                &namespace,
                                &object.api_version,
                                &object.kind,
                                &object.name,
                            )
                            .await?;
                    }
                }
                Ok(())
            }
            RollbackStep::RollbackWait => {
                // Pods of the new version that could not start stay failed until their
                // controller replaces them; the old version's are what is waited for.
                let gone = self.cluster.delete_failed_pods(&namespace).await?;
                if !gone.is_empty() {
                    tracing::info!(pods = ?gone, "removed the new version's failed pods");
                }
                let plan = Self::pinned_plan(record)?.plan.clone();
                self.wait(ctx, store, &plan, ROLLBACK_WAIT).await
            }
            RollbackStep::RollbackFinish => {
                if touched {
                    let old = self.old_render(ctx, store, record, run).await?;
                    let (footprint, level) = (old.footprint, strictest_level(&old.objects).0);
                    self.guard(store, footprint, level).await?;
                }
                self.finish_rollback(ctx, store, record).await
            }
        }
    }

    /// `ready` on the old version, the failure in the store's record and the audit log.
    async fn finish_rollback(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &mut ProvisionRecord,
    ) -> Result<(), StepError> {
        let upgrade = record.upgrade.take().unwrap_or_default();
        let rollback = upgrade.rollback.unwrap_or_default();
        let current = record
            .plan
            .as_ref()
            .map(|p| p.plugin_version.clone())
            .unwrap_or_default();
        let reason = format!(
            "the upgrade to {} failed at {}: {}; the store was rolled back to {current}",
            upgrade.to_version, rollback.failed_at, rollback.reason
        );
        let mut update = ctx.update_of(JobChange::Finish {
            failed: true,
            error: Some(reason.clone()),
        });
        update.progress = Some(record.to_value());
        let mut event = ctx.event(
            "store.upgrade_rolled_back",
            format!("{} is back on {current}: {reason}", store.name),
        );
        event.details = json!({
            "from": current, "to": upgrade.to_version, "step": rollback.failed_at,
            "reason": rollback.reason, "rollout": upgrade.rollout,
            "objectsTouched": rollback.touched,
        });
        update.transition = Some(JobTransition {
            from: StoreStatus::Upgrading,
            to: StoreStatus::Ready,
            patch: StorePatch {
                failure_reason: Some(Some(reason)),
                ..StorePatch::default()
            },
            audit: event,
        });
        ctx.update(update).await
    }
}
