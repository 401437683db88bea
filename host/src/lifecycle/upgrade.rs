//! Upgrading a ready store to another engine version or other options (a resize). The store's
//! record holds the target and each finished step, so a crash resumes where it stopped; a
//! failure at any step (a refused change, a plan error, an image that cannot start, a failing
//! upgrade step, the deadline) is rolled back (`upgrade_rollback`): `ready` on the old version
//! with the failure in its record and the audit log. Only a rollback that cannot finish
//! either leaves the store `failed` (its retry provisions the plan it is pinned to).

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::changes::{self, ObjectChanges, ValueChange};
use super::job::{JobContext, StepError};
use super::provision::{Pipeline, Rendered, Run, permanent};
use super::record::{PinnedPlan, ProvisionRecord, UpgradeRecord, UpgradeStep};
use crate::db::{JobChange, JobTransition, Store, StorePatch, StoreStatus};
use crate::k8s::pod_security::{Level, strictest_level};
use crate::plugins::PluginVersion;
use crate::plugins::model::SetupStep;

/// What an upgrade would do, shown before it is started and recorded when it starts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradePreview {
    pub from_version: String,
    pub to_version: String,
    /// Options that change (a resize), as JSON Pointers with both values.
    pub options: Vec<ValueChange>,
    pub objects: ObjectChanges,
    /// The plan's Helm values that change.
    pub values: Vec<ValueChange>,
    /// Names of the new version's upgrade steps, run once after the new workloads are ready.
    pub upgrade_steps: Vec<String>,
    /// Setup steps the new plan adds (the others already ran).
    pub setup_steps: Vec<String>,
    /// Why the upgrade cannot be made (empty when it can).
    pub refused: Vec<String>,
}

/// An upgrade planned and rendered, not yet applied.
#[derive(Debug)]
pub(super) struct Planned {
    pub(super) plan: PinnedPlan,
    pub(super) upgrade_steps: Vec<SetupStep>,
    pub(super) old: Rendered,
    pub(super) new: Rendered,
    pub(super) preview: UpgradePreview,
}

/// Per-run state of an upgrade job (renders are recomputed after a resume).
#[derive(Debug, Default)]
pub(super) struct UpgradeRun {
    pub(super) bound: Run,
    pub(super) old: Option<Rendered>,
    pub(super) new: Option<Rendered>,
}

/// The weaker of two Pod Security levels: a namespace running both plans' pods admits both.
pub(super) fn weaker(a: Level, b: Level) -> Level {
    if a == Level::Baseline || b == Level::Baseline {
        Level::Baseline
    } else {
        Level::Restricted
    }
}

pub(super) fn target(record: &ProvisionRecord) -> Result<&UpgradeRecord, StepError> {
    record
        .upgrade
        .as_ref()
        .ok_or_else(|| permanent("the store has no upgrade target (its record was lost)"))
}

pub(super) fn target_mut(record: &mut ProvisionRecord) -> &mut UpgradeRecord {
    record.upgrade.get_or_insert_with(UpgradeRecord::default)
}

/// Setup steps of `plan` that the store has not run yet (added by the new version).
fn new_setup_steps(plan: &PinnedPlan, already: &[String]) -> Vec<SetupStep> {
    plan.plan
        .setup
        .iter()
        .filter(|s| !already.contains(&s.name))
        .cloned()
        .collect()
}

impl Pipeline {
    /// Plans and renders `store` moved to `plugin` with `options`, next to its current plan,
    /// and says what would change. Records nothing.
    pub(super) async fn plan_upgrade(
        &self,
        store: &Store,
        current: &ProvisionRecord,
        plugin: Arc<PluginVersion>,
        options: &Value,
    ) -> Result<Planned, StepError> {
        let from = Self::pinned_plan(current)?;
        let spec = self.spec(store, options).await?;
        let plan = self
            .registry
            .plan_with(Arc::clone(&plugin), spec.clone())
            .await
            .map_err(|err| {
                permanent(format!(
                    "engine {} could not plan the store: {err}",
                    plugin.label()
                ))
            })?;
        let same_plugin = from.plugin_digest == plugin.digest.as_str();
        let upgrade_steps = if same_plugin {
            Vec::new()
        } else {
            let from_version = semver::Version::parse(&from.plugin_version)
                .map_err(|err| permanent(format!("the store's version is unreadable: {err}")))?;
            self.registry
                .upgrade_steps_with(Arc::clone(&plugin), from_version, spec)
                .await
                .map_err(|err| {
                    permanent(format!(
                        "engine {} could not list its upgrade steps: {err}",
                        plugin.label()
                    ))
                })?
        };
        let plan = PinnedPlan {
            plugin_version: plugin.info.version.to_string(),
            plugin_digest: plugin.digest.to_string(),
            plan,
        };
        let render = |pinned, options| async move {
            let (_, report) = self.render_report(store, pinned, options).await?;
            super::render::accept(report).map_err(StepError::Permanent)
        };
        let old = render(from, &store.options).await?;
        let new = render(&plan, options).await?;
        let objects = changes::object_changes(&old.objects, &new.objects);
        let values = |p: &PinnedPlan| Value::Object(p.plan.values.clone());
        let preview = UpgradePreview {
            from_version: from.plugin_version.clone(),
            to_version: plan.plugin_version.clone(),
            options: changes::value_changes(&store.options, options),
            values: changes::value_changes(&values(from), &values(&plan)),
            upgrade_steps: upgrade_steps.iter().map(|s| s.name.clone()).collect(),
            setup_steps: new_setup_steps(&plan, &current.setup_done)
                .into_iter()
                .map(|s| s.name)
                .collect(),
            refused: objects.refused.clone(),
            objects,
        };
        Ok(Planned {
            plan,
            upgrade_steps,
            old,
            new,
            preview,
        })
    }

    /// What upgrading `store` to `plugin` with `options` would do (the API's preview).
    pub async fn preview_upgrade(
        &self,
        store: &Store,
        plugin: Arc<PluginVersion>,
        options: &Value,
    ) -> Result<UpgradePreview, String> {
        let record = ProvisionRecord::from_value(&store.progress);
        match self.plan_upgrade(store, &record, plugin, options).await {
            Ok(planned) => Ok(planned.preview),
            Err(
                StepError::Permanent(reason)
                | StepError::Transient(reason)
                | StepError::Forbidden(reason),
            ) => Err(reason),
            Err(other) => Err(other.to_string()),
        }
    }

    /// Runs an upgrade job: the upgrade from its first unfinished step, or the rollback of
    /// one that failed.
    pub async fn upgrade(&self, ctx: &JobContext) -> Result<(), StepError> {
        let Some(store) = self.db.store(&ctx.job.store_id).await? else {
            return self.finish_without_store(ctx).await;
        };
        if store.status != StoreStatus::Upgrading {
            return self.finish_without_store(ctx).await;
        }
        let mut record = ProvisionRecord::from_value(&store.progress);
        let mut run = UpgradeRun::default();
        if record.upgrade.is_none() {
            // Nothing to do but give the store back: the record lost its target.
            self.begin_rollback(
                ctx,
                &mut record,
                "the upgrade target was lost".into(),
                "-",
                false,
            )
            .await?;
        } else if target(&record)?.rollback.is_none() {
            match self
                .upgrade_forward(ctx, &store, &mut record, &mut run)
                .await
            {
                Err(StepError::Permanent(reason) | StepError::Forbidden(reason)) => {
                    // The step that failed is the first one not recorded as done.
                    let at = record
                        .upgrade
                        .as_ref()
                        .and_then(|u| UpgradeStep::ALL.into_iter().find(|s| !u.done.contains(s)))
                        .unwrap_or(UpgradeStep::Switch);
                    self.begin_rollback(
                        ctx,
                        &mut record,
                        reason,
                        at.as_str(),
                        at.touches_workloads(),
                    )
                    .await?;
                }
                other => return other,
            }
        }
        self.roll_back(ctx, &store, &mut record, &mut run).await
    }

    async fn upgrade_forward(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &mut ProvisionRecord,
        run: &mut UpgradeRun,
    ) -> Result<(), StepError> {
        for (index, step) in UpgradeStep::ALL.into_iter().enumerate() {
            if target(record)?.done.contains(&step) {
                continue;
            }
            let uses_cluster = step != UpgradeStep::Preview;
            self.enter_step(
                ctx,
                (step.as_str(), i32::try_from(index + 1).unwrap_or(0)),
                uses_cluster,
                true,
            )
            .await?;
            let started = Instant::now();
            let outcome = ctx
                .guarded(self.upgrade_step(ctx, step, store, record, run))
                .await;
            let outcome = run.bound.settled(outcome);
            if uses_cluster {
                self.record_cluster_outcome(&outcome);
            }
            outcome?;
            tracing::info!(
                step = step.as_str(),
                ms = started.elapsed().as_millis(),
                "upgrade step done"
            );
            if step == UpgradeStep::Switch {
                return Ok(());
            }
            target_mut(record).done.push(step);
            let mut update = ctx.update_of(JobChange::Keep);
            update.progress = Some(record.to_value());
            ctx.update(update).await?;
        }
        Ok(())
    }

    /// Both renders of this run (computed once: the old plan with the store's options, the
    /// new one with the target's).
    async fn renders<'r>(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &ProvisionRecord,
        run: &'r mut UpgradeRun,
    ) -> Result<(&'r Rendered, &'r Rendered), StepError> {
        if run.old.is_none() {
            let old = Self::pinned_plan(record)?;
            run.old = Some(self.render(ctx, store, old, &store.options).await?);
        }
        if run.new.is_none() {
            let upgrade = target(record)?;
            let new = upgrade
                .plan
                .as_ref()
                .ok_or_else(|| permanent("the upgrade has no plan"))?;
            run.new = Some(self.render(ctx, store, new, &upgrade.to_options).await?);
        }
        match (&run.old, &run.new) {
            (Some(old), Some(new)) => Ok((old, new)),
            _ => Err(permanent("the store's plans could not be rendered")),
        }
    }

    async fn upgrade_step(
        &self,
        ctx: &JobContext,
        step: UpgradeStep,
        store: &Store,
        record: &mut ProvisionRecord,
        run: &mut UpgradeRun,
    ) -> Result<(), StepError> {
        if step != UpgradeStep::Preview {
            self.bind(store, &mut run.bound).await?;
        }
        let namespace = store.id.namespace();
        match step {
            UpgradeStep::Preview => self.preview_step(ctx, store, record, run).await,
            UpgradeStep::ResizeQuota => {
                let (old, new) = self.renders(ctx, store, record, run).await?;
                let level = weaker(
                    strictest_level(&old.objects).0,
                    strictest_level(&new.objects).0,
                );
                let footprint = old.footprint.max(new.footprint);
                self.guard(store, footprint, level).await
            }
            UpgradeStep::AddCredentials => {
                let plugin = self.target_plugin(target(record)?).await?;
                self.credentials(store, &plugin).await
            }
            UpgradeStep::ApplyNew => {
                let (old, new) = self.renders(ctx, store, record, run).await?;
                let grown = changes::grown_claims(&old.objects, &new.objects);
                let objects = new.objects.clone();
                self.apply(ctx, store, &objects).await?;
                for (claim, size) in grown {
                    self.cluster.expand_claim(&namespace, &claim, &size).await?;
                }
                Ok(())
            }
            UpgradeStep::WaitNew => {
                let remaining = ctx.time_left();
                let plan = target(record)?
                    .plan
                    .as_ref()
                    .ok_or_else(|| permanent("the upgrade has no plan"))?
                    .plan
                    .clone();
                self.wait(ctx, store, &plan, remaining).await
            }
            UpgradeStep::Migrate => {
                let upgrade = target(record)?;
                let plan = upgrade
                    .plan
                    .as_ref()
                    .ok_or_else(|| permanent("the upgrade has no plan"))?;
                let mut steps = upgrade.upgrade_steps.clone();
                steps.extend(new_setup_steps(plan, &record.setup_done));
                self.run_steps(ctx, store, &steps, "upgrade", record, |r| {
                    &mut target_mut(r).steps_done
                })
                .await
            }
            UpgradeStep::Prune => {
                let (old, new) = self.renders(ctx, store, record, run).await?;
                let removable = changes::removable(&old.objects, &new.objects);
                let mut removed = Vec::new();
                for object in removable {
                    if self
                        .cluster
                        .delete_object(&namespace, &object.api_version, &object.kind, &object.name)
                        .await?
                    {
                        removed.push(object.to_string());
                    }
                }
                if !removed.is_empty() {
                    let mut update = ctx.update_of(JobChange::Keep);
                    let mut event = ctx.event(
                        "store.objects_removed",
                        format!(
                            "removed what the new version no longer renders: {}",
                            removed.join(", ")
                        ),
                    );
                    event.details = json!({ "removed": removed });
                    update.events.push(event);
                    ctx.update(update).await?;
                }
                Ok(())
            }
            UpgradeStep::Switch => {
                let (_, new) = self.renders(ctx, store, record, run).await?;
                let (footprint, level) = (new.footprint, strictest_level(&new.objects).0);
                self.guard(store, footprint, level).await?;
                self.switch(ctx, store, record).await
            }
        }
    }

    /// The plugin an upgrade goes to (the exact digest asked for).
    async fn target_plugin(
        &self,
        upgrade: &UpgradeRecord,
    ) -> Result<Arc<PluginVersion>, StepError> {
        self.plugin_by_digest(&upgrade.to_digest)
            .await
            .ok_or_else(|| {
                permanent(format!(
                    "version {} of the engine is no longer loaded",
                    upgrade.to_version
                ))
            })
    }

    /// Plans the new version, refuses what Kubernetes cannot do, records the plan and the
    /// preview (in the audit log, so what was shown is what ran).
    async fn preview_step(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &mut ProvisionRecord,
        run: &mut UpgradeRun,
    ) -> Result<(), StepError> {
        let upgrade = target(record)?.clone();
        let plugin = self.target_plugin(&upgrade).await?;
        let planned = self
            .plan_upgrade(store, record, plugin, &upgrade.to_options)
            .await?;
        if !planned.preview.refused.is_empty() {
            return Err(permanent(format!(
                "the change was refused before anything was touched: {}",
                planned.preview.refused.join("; ")
            )));
        }
        let upgrade = target_mut(record);
        upgrade.plan = Some(planned.plan);
        upgrade.upgrade_steps = planned.upgrade_steps;
        run.old = Some(planned.old);
        run.new = Some(planned.new);
        let mut update = ctx.update_of(JobChange::Keep);
        update.progress = Some(record.to_value());
        let mut event = ctx.event(
            "store.upgrade_planned",
            format!(
                "{} planned with {} (from {}): {} object(s) added, {} changed, {} removed",
                store.name,
                planned.preview.to_version,
                planned.preview.from_version,
                planned.preview.objects.added.len(),
                planned.preview.objects.changed.len(),
                planned.preview.objects.removed.len()
            ),
        );
        event.details = serde_json::to_value(&planned.preview).unwrap_or_default();
        update.events.push(event);
        ctx.update(update).await
    }

    /// The last step: the store runs the new plan.
    async fn switch(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &mut ProvisionRecord,
    ) -> Result<(), StepError> {
        let upgrade = record
            .upgrade
            .take()
            .ok_or_else(|| permanent("the upgrade target was lost"))?;
        let plan = upgrade
            .plan
            .ok_or_else(|| permanent("the upgrade has no plan"))?;
        let from = record
            .plan
            .as_ref()
            .map(|p| p.plugin_version.clone())
            .unwrap_or_default();
        record.setup_done = plan.plan.setup.iter().map(|s| s.name.clone()).collect();
        let endpoints = serde_json::to_value(&plan.plan.endpoints).unwrap_or_else(|_| json!([]));
        let pin = (plan.plugin_version.clone(), plan.plugin_digest.clone());
        record.plan = Some(plan);
        let mut update = ctx.update_of(JobChange::Finish {
            failed: false,
            error: None,
        });
        update.progress = Some(record.to_value());
        update.plugin_pin = Some(pin.clone());
        let mut event = ctx.event(
            "store.upgraded",
            format!("{} runs version {} (was {from})", store.name, pin.0),
        );
        event.details = json!({
            "from": from, "to": pin.0, "digest": pin.1, "rollout": upgrade.rollout,
            "stepsRun": upgrade.steps_done,
        });
        update.transition = Some(JobTransition {
            from: StoreStatus::Upgrading,
            to: StoreStatus::Ready,
            patch: StorePatch {
                endpoints: Some(endpoints),
                failure_reason: Some(None),
                options: Some(upgrade.to_options),
                ..StorePatch::default()
            },
            audit: event,
        });
        ctx.update(update).await
    }
}
