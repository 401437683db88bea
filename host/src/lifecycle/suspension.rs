//! Suspending and resuming a store. Suspending scales its Deployments and StatefulSets to zero
//! and suspends its CronJobs (volumes, Secrets and data stay; its Ingress answers 503, having
//! no ready backend), then lowers its quota to its claims alone, so the cluster's compute goes
//! to other stores. Resuming restores the quota, applies the plan as provisioned and waits
//! through the same readiness checks as provisioning. Every step is idempotent, so a job cut
//! off by a crash simply runs again from the start.

use std::time::Duration;

use serde_json::{Value, json};

use super::job::{JobContext, StepError};
use super::provision::{Pipeline, Run};
use super::record::{ProvisionRecord, RESUME_STEPS, SUSPEND_STEPS};
use crate::db::{JobChange, JobTransition, StorePatch, StoreStatus};
use crate::k8s::pod_security::strictest_level;

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
        let Some(store) = self.db.store(&ctx.job.store_id).await? else {
            return self.finish_without_store(ctx).await;
        };
        if store.status != StoreStatus::Suspending {
            return self.finish_without_store(ctx).await;
        }
        let record = ProvisionRecord::from_value(&store.progress);
        let pinned = Self::pinned_plan(&record)?.clone();
        let mut run = Run::default();
        let namespace = store.id.namespace();
        for (index, step) in SUSPEND_STEPS.into_iter().enumerate() {
            self.enter_step(
                ctx,
                (step, i32::try_from(index + 1).unwrap_or(0)),
                true,
                false,
            )
            .await?;
            let work = async {
                self.bind(&store, &mut run).await?;
                let rendered = self.render(ctx, &store, &pinned, &store.options).await?;
                if step == "scale-down" {
                    for object in rendered.objects.iter().filter(|o| is_scaled(o)) {
                        let object = super::provision::confine(
                            &suspended(object),
                            &namespace,
                            store.id.as_str(),
                        )?;
                        self.cluster.apply(&namespace, &object).await?;
                    }
                    Ok(())
                } else {
                    let level = strictest_level(&rendered.objects).0;
                    self.guard(&store, rendered.footprint.storage_only(), level)
                        .await
                }
            };
            let outcome = ctx.guarded(work).await;
            let outcome = run.settled(outcome);
            self.record_cluster_outcome(&outcome);
            outcome?;
        }
        let mut update = ctx.update_of(JobChange::Finish {
            failed: false,
            error: None,
        });
        update.transition = Some(JobTransition {
            from: StoreStatus::Suspending,
            to: StoreStatus::Suspended,
            patch: StorePatch::default(),
            audit: ctx.event(
                "store.suspended",
                format!(
                    "{} is suspended: its workloads are scaled to zero, its data kept",
                    store.name
                ),
            ),
        });
        ctx.update(update).await
    }

    /// Runs a resume job.
    pub async fn resume(&self, ctx: &JobContext) -> Result<(), StepError> {
        let Some(store) = self.db.store(&ctx.job.store_id).await? else {
            return self.finish_without_store(ctx).await;
        };
        if store.status != StoreStatus::Resuming {
            return self.finish_without_store(ctx).await;
        }
        let record = ProvisionRecord::from_value(&store.progress);
        let pinned = Self::pinned_plan(&record)?.clone();
        let mut run = Run::default();
        for (index, step) in RESUME_STEPS.into_iter().enumerate() {
            self.enter_step(
                ctx,
                (step, i32::try_from(index + 1).unwrap_or(0)),
                true,
                true,
            )
            .await?;
            let work = async {
                self.bind(&store, &mut run).await?;
                match step {
                    "restore-quota" => {
                        let rendered = self.render(ctx, &store, &pinned, &store.options).await?;
                        let level = strictest_level(&rendered.objects).0;
                        self.guard(&store, rendered.footprint, level).await
                    }
                    "scale-up" => {
                        let rendered = self.render(ctx, &store, &pinned, &store.options).await?;
                        self.apply(ctx, &store, &rendered.objects).await
                    }
                    _ => {
                        let remaining = ctx
                            .job
                            .deadline_at
                            .and_then(|d| (d - chrono::Utc::now()).to_std().ok())
                            .unwrap_or(Duration::from_secs(600));
                        self.wait(ctx, &store, &pinned.plan, remaining).await
                    }
                }
            };
            let outcome = ctx.guarded(work).await;
            let outcome = run.settled(outcome);
            self.record_cluster_outcome(&outcome);
            outcome?;
        }
        let mut update = ctx.update_of(JobChange::Finish {
            failed: false,
            error: None,
        });
        update.transition = Some(JobTransition {
            from: StoreStatus::Resuming,
            to: StoreStatus::Ready,
            patch: StorePatch {
                failure_reason: Some(None),
                ..StorePatch::default()
            },
            audit: ctx.event("store.resumed", format!("{} is running again", store.name)),
        });
        ctx.update(update).await
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
