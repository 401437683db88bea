//! Step 5 of provisioning: the store's chart rendered by `helm template` with its pinned plan,
//! checked by the host's rules, and accepted (hardened) or refused. A plugin whose renders
//! keep failing has its engine disabled for new stores.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::job::{JobContext, StepError};
use super::provision::{Pipeline, Rendered, permanent};
use super::record::PinnedPlan;
use crate::db::{JobChange, NewAudit, Store};
use crate::plugins::PluginVersion;

impl Pipeline {
    /// Step 5: `helm template` with `pinned`'s values (the store planned with `options`),
    /// checked by the host's rules (which include what the objects use against the per-store
    /// ceiling).
    pub(super) async fn render(
        &self,
        ctx: &JobContext,
        store: &Store,
        pinned: &PinnedPlan,
        options: &Value,
    ) -> Result<Rendered, StepError> {
        let (plugin, report) = self.render_report(store, pinned, options).await?;
        let plugin_failed = report.render_detail.is_some() || !report.problems.is_empty();
        if plugin_failed {
            let mut update = ctx.update_of(JobChange::Keep);
            if let Some(detail) = &report.render_detail {
                // The owner reads the short reason; what helm said (it can hold the
                // operator's overlay values) goes to administrators only, in the audit log.
                let mut event = ctx.event(
                    "store.render_failed",
                    format!("helm could not render {}", pinned.plugin_version),
                );
                event.details = json!({"plugin": pinned.plugin_version, "detail": detail});
                update.events.push(event);
            }
            update.events.extend(
                self.render_failed(ctx, store, &plugin, &report.problems)
                    .await?,
            );
            if !update.events.is_empty() {
                ctx.update(update).await?;
            }
        } else {
            self.render_failures.succeeded(plugin.digest.as_str());
        }
        accept(report).map_err(StepError::Permanent)
    }

    /// `pinned`'s chart rendered for `store` planned with `options`, and the host's report on
    /// it, without recording anything (an upgrade's preview).
    pub(super) async fn render_report(
        &self,
        store: &Store,
        pinned: &PinnedPlan,
        options: &Value,
    ) -> Result<(Arc<PluginVersion>, crate::conformance::RenderReport), StepError> {
        let plugin = self
            .plugin_by_digest(&pinned.plugin_digest)
            .await
            .ok_or_else(|| {
                permanent(format!(
                    "plugin {} is no longer loaded",
                    pinned.plugin_version
                ))
            })?;
        let spec = self.spec(store, options).await?;
        let started = Instant::now();
        let report = self
            .conformance
            .render_and_check(&plugin.info, &spec, &pinned.plan)
            .await;
        tracing::debug!(ms = started.elapsed().as_millis(), "helm template");
        Ok((plugin, report))
    }

    /// Counts a render of `store` that failed through the plugin's doing; when the failures in
    /// a row reach the threshold, disables its engine for new stores if this version is the
    /// one new stores get, and returns the audit event saying why.
    async fn render_failed(
        &self,
        ctx: &JobContext,
        store: &Store,
        plugin: &PluginVersion,
        problems: &[String],
    ) -> Result<Option<NewAudit>, StepError> {
        if !self
            .render_failures
            .failed(plugin.digest.as_str(), store.owner_id.0.as_str())
        {
            return Ok(None);
        }
        let engine = plugin.info.id.as_str();
        let active = self
            .registry
            .active(engine)
            .is_some_and(|a| a.digest.as_str() == plugin.digest.as_str());
        if !active {
            return Ok(None);
        }
        if let Err(err) = self.registry.set_disabled(engine, true) {
            tracing::warn!(engine, error = %err, "could not disable the engine");
            return Ok(None);
        }
        self.db
            .put_setting(&super::plugins::disabled_key(engine), "true")
            .await?;
        tracing::warn!(
            engine,
            plugin = plugin.label(),
            "engine disabled: its renders keep failing"
        );
        let mut event = ctx.event(
            "plugin.disabled_automatically",
            format!(
                "engine {engine} disabled for new stores: renders of {} keep failing",
                plugin.label()
            ),
        );
        event.details = json!({
            "engine": engine, "plugin": plugin.label(), "digest": plugin.digest.to_string(),
            "lastProblems": problems,
        });
        Ok(Some(event))
    }
}

/// The objects of a render the host's rules accept, hardened (unset security fields get
/// their safe value); else why they are refused.
pub(super) fn accept(report: crate::conformance::RenderReport) -> Result<Rendered, String> {
    if !report.problems.is_empty() {
        return Err(format!(
            "the rendered chart was refused: {}",
            report.problems.join("; ")
        ));
    }
    if let Some(over) = report.over_ceiling {
        return Err(over);
    }
    Ok(Rendered {
        objects: report
            .manifests
            .into_iter()
            .map(|m| {
                let mut object = m.object;
                crate::k8s::pod_security::harden(&mut object);
                object
            })
            .collect(),
        footprint: report.footprint,
    })
}
