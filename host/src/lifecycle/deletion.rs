//! The delete job: delete the store's namespace, watch until it is gone, mark the store
//! `deleted`. While the cluster cannot be reached the job keeps retrying and the store stays
//! `deleting`: it is never marked deleted before its namespace is really gone. A namespace
//! still there `DELETION_STUCK_AFTER_MS` after the deletion was requested (typically a
//! finalizer whose controller is gone) is reported once: the store's `failureReason` says what
//! holds it (the namespace controller's conditions), an audit event `store.deletion_stuck` is
//! written and `storeplane_store_deletions_stuck_total` counts it; the job keeps waiting.

use std::time::{Duration, Instant};

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
            let reported = store
                .failure_reason
                .as_deref()
                .is_some_and(|r| r.starts_with(&stuck_note_prefix(&namespace)));
            let deadline = ctx.job.created_at
                + chrono::Duration::from_std(self.settings.deletion_stuck_after)
                    .unwrap_or(chrono::Duration::MAX);
            let outcome = ctx
                .guarded(async {
                    if index == 0 {
                        self.cluster.delete_namespace(&namespace).await?;
                        return Ok(());
                    }
                    // Wake up at the deadline, to report a stuck namespace when it is due.
                    let until_deadline = (deadline - chrono::Utc::now())
                        .to_std()
                        .unwrap_or(Duration::ZERO);
                    let wait = if reported || until_deadline.is_zero() {
                        self.settings.deletion_wait
                    } else {
                        self.settings.deletion_wait.min(until_deadline)
                    };
                    let gone = self.cluster.wait_namespace_gone(&namespace, wait).await;
                    if let Err(err) = &gone
                        && err.is_transient()
                        && !reported
                        && chrono::Utc::now() >= deadline
                    {
                        self.report_stuck(ctx, &store.name, &namespace).await?;
                    }
                    Ok(gone?)
                })
                .await;
            self.record_cluster_outcome(&outcome);
            outcome?;
        }
        let mut update = ctx.update_of(JobChange::Finish {
            failed: false,
            error: None,
        });
        let was_stuck = store
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.starts_with(&stuck_note_prefix(&namespace)));
        update.transition = Some(JobTransition {
            from: StoreStatus::Deleting,
            to: StoreStatus::Deleted,
            patch: StorePatch {
                failure_reason: was_stuck.then_some(None),
                ..StorePatch::default()
            },
            audit: ctx.event(
                "store.deleted",
                format!("{} deleted; namespace {namespace} is gone", store.name),
            ),
        });
        ctx.update(update).await
    }
}

/// How the note on a store whose namespace will not go begins.
fn stuck_note_prefix(namespace: &str) -> String {
    format!("namespace {namespace} is still terminating")
}

impl Pipeline {
    /// Tells the admin, once, that the store's namespace will not go, and why.
    async fn report_stuck(
        &self,
        ctx: &JobContext,
        store_name: &str,
        namespace: &str,
    ) -> Result<(), StepError> {
        let Some(blockers) = self.cluster.namespace_blockers(namespace).await? else {
            return Ok(()); // gone meanwhile
        };
        let minutes = (chrono::Utc::now() - ctx.job.created_at).num_minutes();
        let note = format!(
            "{} {minutes} min after the deletion was requested: {blockers}. The store stays deleting until the namespace is gone; remove the finalizers that hold it (or restore the controller that owns them).",
            stuck_note_prefix(namespace)
        );
        tracing::warn!(store = store_name, namespace, reason = %blockers, "store deletion is stuck");
        let mut update = ctx.update_of(JobChange::Keep);
        update.failure_reason = Some(Some(note.clone()));
        update
            .events
            .push(ctx.event("store.deletion_stuck", format!("{store_name}: {note}")));
        ctx.update(update).await?;
        self.metrics.deletions_stuck.inc();
        Ok(())
    }
}
