//! The delete job: delete the store's namespace, watch until it is gone, mark the store
//! `deleted`. While the cluster cannot be reached the job keeps retrying and the store stays
//! `deleting`: it is never marked deleted before its namespace is really gone.

use std::time::Instant;

use super::job::{JobContext, StepError};
use super::provision::Pipeline;
use super::record::DELETE_STEPS;
use crate::db::{JobChange, JobTransition, StorePatch, StoreStatus};

impl Pipeline {
    /// Runs a delete job.
    pub async fn delete(&self, ctx: &JobContext) -> Result<(), StepError> {
        let store = self.db.store(&ctx.job.store_id).await?;
        let Some(store) = store.filter(|s| s.status == StoreStatus::Deleting) else {
            return ctx
                .update(ctx.update_of(JobChange::Finish {
                    failed: false,
                    error: None,
                }))
                .await;
        };
        let namespace = store.id.namespace();
        for (index, step) in DELETE_STEPS.iter().enumerate() {
            if ctx.shutting_down() {
                return Err(StepError::Shutdown);
            }
            self.breaker
                .permit(Instant::now())
                .map_err(StepError::Delayed)?;
            let mut update = ctx.update_of(JobChange::Step {
                step: (*step).to_owned(),
                index: i32::try_from(index + 1).unwrap_or(0),
            });
            update.current_step = Some(Some((*step).to_owned()));
            ctx.update(update).await?;
            let outcome = ctx
                .guarded(async {
                    if index == 0 {
                        self.cluster.delete_namespace(&namespace).await?;
                    } else {
                        self.cluster
                            .wait_namespace_gone(&namespace, self.settings.deletion_wait)
                            .await?;
                    }
                    Ok(())
                })
                .await;
            self.record_cluster_outcome(&outcome);
            outcome?;
        }
        let mut update = ctx.update_of(JobChange::Finish {
            failed: false,
            error: None,
        });
        update.transition = Some(JobTransition {
            from: StoreStatus::Deleting,
            to: StoreStatus::Deleted,
            patch: StorePatch::default(),
            audit: ctx.event(
                "store.deleted",
                format!("{} deleted; namespace {namespace} is gone", store.name),
            ),
        });
        ctx.update(update).await
    }
}
