//! Suspending and resuming a store. Suspending scales its Deployments and StatefulSets to zero
//! and suspends its CronJobs (volumes, Secrets and data stay; its Ingress answers 503, having
//! no ready backend), then lowers its quota to its claims alone, so the cluster's compute goes
//! to other stores. Resuming restores the quota, applies the plan as provisioned and waits
//! through the same readiness checks as provisioning. Every step is idempotent, so a job cut
//! off by a crash simply runs again from the start.

use serde_json::{Value, json};

use super::job::{JobContext, StepError};
use super::provision::{Pipeline, Rendered, Run, confine, permanent};
use super::record::{ProvisionRecord, RESUME_STEPS, SUSPEND_STEPS};
use crate::db::{JobChange, JobTransition, Store, StorePatch, StoreStatus};
use crate::k8s::pod_security::strictest_level;
use crate::plugins::DeploymentPlan;

/// `object` as it runs while its store is suspended: no replicas, no scheduled runs.
fn suspended(object: &Value) -> Value {
    let mut object = object.clone();
    match object.get("kind").and_then(Value::as_str) {
        Some("Deployment" | "StatefulSet") => object["spec"]["replicas"] = json!(0),
        Some("CronJob") => object["spec"]["suspend"] = json!(true),
        _ => {}
    }
    object
}

/// Whether a suspended store still needs `object` applied (its workloads; the rest is left
/// as it is).
fn is_scaled(object: &Value) -> bool {
    matches!(
        object.get("kind").and_then(Value::as_str),
        Some("Deployment" | "StatefulSet" | "CronJob")
    )
}

impl Pipeline {
    /// Runs a suspend job.
    pub async fn suspend(&self, ctx: &JobContext) -> Result<(), StepError> {
        self.suspension_job(ctx, StoreStatus::Suspending, &SUSPEND_STEPS)
            .await
    }

    /// Runs a resume job.
    pub async fn resume(&self, ctx: &JobContext) -> Result<(), StepError> {
        self.suspension_job(ctx, StoreStatus::Resuming, &RESUME_STEPS)
            .await
    }

    /// A suspend (`working` is `suspending`) or resume (`resuming`) job: every step from the
    /// first (each is idempotent), the store's plan rendered once, then the end state.
    async fn suspension_job(
        &self,
        ctx: &JobContext,
        working: StoreStatus,
        steps: &[&str],
    ) -> Result<(), StepError> {
        let Some(store) = self.db.store(&ctx.job.store_id).await? else {
            return self.finish_without_store(ctx).await;
        };
        if store.status != working {
            return self.finish_without_store(ctx).await;
        }
        let resuming = working == StoreStatus::Resuming;
        let record = ProvisionRecord::from_value(&store.progress);
        let pinned = Self::pinned_plan(&record)?.clone();
        let mut run = Run::default();
        let mut rendered: Option<Rendered> = None;
        for (index, step) in steps.iter().enumerate() {
            // Only resuming has a deadline: suspending must finish whatever it takes.
            self.enter_step(
                ctx,
                (step, i32::try_from(index + 1).unwrap_or(0)),
                true,
                resuming,
            )
            .await?;
            let outcome = ctx
                .guarded(async {
                    self.bind(&store, &mut run).await?;
                    if rendered.is_none() {
                        rendered = Some(self.render(ctx, &store, &pinned, &store.options).await?);
                    }
                    let rendered = rendered
                        .as_ref()
                        .ok_or_else(|| permanent("the store's plan could not be rendered"))?;
                    self.suspension_step(ctx, &store, &pinned.plan, step, rendered)
                        .await
                })
                .await;
            let outcome = run.settled(outcome);
            self.record_cluster_outcome(&outcome);
            outcome?;
        }
        let (to, action, message, failure_reason) = if resuming {
            (
                StoreStatus::Ready,
                "store.resumed",
                format!("{} is running again", store.name),
                Some(None),
            )
        } else {
            (
                StoreStatus::Suspended,
                "store.suspended",
                format!(
                    "{} is suspended: its workloads are scaled to zero, its data kept",
                    store.name
                ),
                None,
            )
        };
        let mut update = ctx.update_of(JobChange::Finish {
            failed: false,
            error: None,
        });
        update.transition = Some(JobTransition {
            from: working,
            to,
            patch: StorePatch {
                failure_reason,
                ..StorePatch::default()
            },
            audit: ctx.event(action, message),
        });
        ctx.update(update).await
    }

    /// One step of suspending (`scale-down`, `release-quota`) or resuming (`restore-quota`,
    /// `scale-up`, `wait-ready`).
    async fn suspension_step(
        &self,
        ctx: &JobContext,
        store: &Store,
        plan: &DeploymentPlan,
        step: &str,
        rendered: &Rendered,
    ) -> Result<(), StepError> {
        let namespace = store.id.namespace();
        let level = strictest_level(&rendered.objects).0;
        match step {
            "scale-down" => {
                for object in rendered.objects.iter().filter(|o| is_scaled(o)) {
                    let object = confine(&suspended(object), &namespace, store.id.as_str())?;
                    self.cluster.apply(&namespace, &object).await?;
                }
                Ok(())
            }
            "release-quota" => {
                self.guard(store, rendered.footprint.storage_only(), level)
                    .await
            }
            "restore-quota" => self.guard(store, rendered.footprint, level).await,
            "scale-up" => self.apply(ctx, store, &rendered.objects).await,
            _ => self.wait(ctx, store, plan, ctx.time_left()).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspending_zeroes_replicas_and_suspends_schedules_only() {
        let deployment = json!({"kind": "Deployment", "spec": {"replicas": 2}});
        let cron = json!({"kind": "CronJob", "spec": {"schedule": "* * * * *"}});
        let service = json!({"kind": "Service", "spec": {}});
        assert_eq!(suspended(&deployment)["spec"]["replicas"], 0);
        assert_eq!(suspended(&cron)["spec"]["suspend"], true);
        assert_eq!(suspended(&service), service);
        assert!(is_scaled(&deployment) && is_scaled(&cron) && !is_scaled(&service));
    }
}
