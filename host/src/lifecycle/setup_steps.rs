//! Step 8 of provisioning (and an upgrade's steps): each setup step run by exec in a ready
//! pod of the store, with its attempts and time limit; each finished step recorded at once
//! and audited with its output, bounded and with the store's secrets redacted.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::job::{JobContext, StepError};
use super::provision::{CREDENTIALS_SECRET, Pipeline, permanent};
use super::record::ProvisionRecord;
use crate::db::{JobChange, Store};
use crate::guardrails::{redact, tail};
use crate::plugins::model::SetupStep;

/// Bytes of command output read beyond what is kept (longer than any generated secret).
const REDACTION_MARGIN: usize = 1024;

impl Pipeline {
    /// The values of the store's credentials Secret (none while it does not exist).
    pub(super) async fn secret_values(&self, namespace: &str) -> Result<Vec<String>, StepError> {
        Ok(self
            .cluster
            .read_secret(namespace, CREDENTIALS_SECRET)
            .await?
            .map(|values| values.into_values().collect())
            .unwrap_or_default())
    }

    /// Step 8: runs each setup step not yet done, by exec, honouring exit codes, attempts and
    /// time limits; each finished step is recorded at once and audited with its output
    /// (bounded, secrets redacted).
    pub(super) async fn setup(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &mut ProvisionRecord,
    ) -> Result<(), StepError> {
        let steps = Self::pinned_plan(record)?.plan.setup.clone();
        self.run_steps(ctx, store, &steps, "setup", record, |r| &mut r.setup_done)
            .await
    }

    /// Runs each of `steps` whose name is not yet in the record's list `done` (setup steps,
    /// or an upgrade's steps), recording each at once in that list and in the audit log
    /// (`store.<kind>_step`, with its output).
    pub(super) async fn run_steps(
        &self,
        ctx: &JobContext,
        store: &Store,
        steps: &[SetupStep],
        kind: &str,
        record: &mut ProvisionRecord,
        done: fn(&mut ProvisionRecord) -> &mut Vec<String>,
    ) -> Result<(), StepError> {
        let secrets = self.secret_values(&store.id.namespace()).await?;
        let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        for (index, step) in steps.iter().enumerate() {
            if done(record).contains(&step.name) {
                continue;
            }
            // A safe point: between two commands, never in the middle of one.
            if ctx.shutting_down() {
                return Err(StepError::Shutdown);
            }
            let outcome = self.run_setup_step(store, step, &secret_refs).await?;
            done(record).push(step.name.clone());
            let mut update = ctx.update_of(JobChange::Keep);
            update.progress = Some(record.to_value());
            let mut event = ctx.event(
                &format!("store.{kind}_step"),
                format!(
                    "{kind} step {} of {}: {} done",
                    index + 1,
                    steps.len(),
                    step.name
                ),
            );
            event.details = outcome;
            update.events.push(event);
            ctx.update(update).await?;
        }
        Ok(())
    }

    /// One setup step with its attempts; the audit details of the successful run.
    pub(super) async fn run_setup_step(
        &self,
        store: &Store,
        step: &SetupStep,
        secrets: &[&str],
    ) -> Result<Value, StepError> {
        let namespace = store.id.namespace();
        let attempts = step.attempts.max(1);
        // The plugin's time limit, within the operator's (a plugin is untrusted: it cannot
        // hold a worker for a day).
        let limit = Duration::from_secs(u64::from(step.timeout_seconds.max(1)))
            .min(self.settings.setup_step_timeout_max);
        let mut last = String::new();
        for attempt in 1..=attempts {
            let pod = self
                .cluster
                .ready_pod(&namespace, &step.pod_selector)
                .await?
                .ok_or_else(|| {
                    StepError::Transient(format!("no ready pod for setup step {}", step.name))
                })?;
            let started = Instant::now();
            let output = self
                .cluster
                .exec(
                    &namespace,
                    &pod,
                    &step.container,
                    &step.command,
                    limit,
                    // Read a margin more than is kept: a secret cut in half at the start of
                    // the raw window could not be recognised, but it falls outside the tail.
                    self.settings.output_limit + REDACTION_MARGIN,
                )
                .await?;
            let stdout = tail(&redact(&output.stdout, secrets), self.settings.output_limit);
            let stderr = tail(&redact(&output.stderr, secrets), self.settings.output_limit);
            let details = json!({
                "step": step.name, "pod": pod, "container": step.container, "attempt": attempt,
                "exitCode": output.exit_code, "durationMs": started.elapsed().as_millis(),
                "stdout": stdout, "stderr": stderr,
            });
            if output.exit_code == 0 {
                return Ok(details);
            }
            tracing::warn!(step = %step.name, attempt, exit_code = output.exit_code, "setup step failed");
            let timed_out = output.timed_out(limit, started.elapsed());
            last = format!(
                "setup step {} {} after {attempt} attempt(s){}",
                step.name,
                if timed_out {
                    format!(
                        "timed out after {} s (the command was stopped in the container)",
                        limit.as_secs_f64().ceil()
                    )
                } else {
                    format!("failed with exit code {}", output.exit_code)
                },
                if stderr.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", tail(stderr.trim(), 300))
                }
            );
            if attempt < attempts {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
        }
        Err(permanent(last))
    }
}
