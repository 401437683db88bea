//! The provisioning pipeline (README, "Provisioning", steps 1–9): plan with the pinned plugin,
//! namespace, host-owned guard objects, credentials Secret, `helm template`, server-side apply,
//! watch for readiness, setup by exec, ready. Each step is idempotent and recorded when done,
//! so a resumed job continues at the first unfinished step and never re-runs a finished
//! setup step.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng as _;
use serde_json::{Value, json};

use super::job::{JobContext, StepError};
use super::record::{PinnedPlan, ProvisionRecord, Step};
use crate::conformance::Conformance;
use crate::db::{Db, JobChange, JobTransition, Store, StorePatch, StoreStatus};
use crate::guardrails::{CircuitBreaker, redact};
use crate::k8s::guard::{self, GuardSettings, STORE_LABEL};
use crate::k8s::pod_security::{Level, strictest_level};
use crate::k8s::{Applied, Cluster, Footprint, Readiness, Workload};
use crate::plugins::{DeploymentPlan, PluginVersion, Registry, StoreSpec};

/// Name of every store's credentials Secret (in the store's namespace).
pub const CREDENTIALS_SECRET: &str = "store-credentials";

/// Settings of the pipeline, from the configuration.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// `.localhost`: stores are served at `store-<id>.localhost`.
    pub domain_suffix: String,
    pub tls: bool,
    pub ingress_class: String,
    pub ingress_namespace: String,
    pub ingress_source_cidrs: Vec<String>,
    pub storage_class: Option<String>,
    /// Bytes of each setup step's stdout/stderr kept for the audit log.
    pub output_limit: usize,
    /// How long one deletion attempt watches for the namespace to go.
    pub deletion_wait: Duration,
    /// After how long (from the deletion request) a namespace that is still there is reported.
    pub deletion_stuck_after: Duration,
    /// How long the guard step waits for the quota controller to fill the quota's status.
    pub quota_wait: Duration,
    /// How long a pod may wait for a node or for an image pull that may heal.
    pub pod_start_grace: Duration,
    /// The longest any setup step may run, whatever its plugin asks for.
    pub setup_step_timeout_max: Duration,
    /// ClusterRole bound to the host in each store namespace (`STORE_ROLE`).
    pub store_role: String,
}

/// How long a new RoleBinding may take to reach the API server's authorizer.
const BINDING_WAIT: Duration = Duration::from_secs(30);

/// Everything the pipeline uses.
#[derive(Debug)]
pub struct Pipeline {
    pub db: Arc<dyn Db>,
    pub registry: Arc<Registry>,
    pub conformance: Conformance,
    pub cluster: Cluster,
    pub breaker: Arc<CircuitBreaker>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub events: super::StoreEvents,
    pub settings: PipelineSettings,
    /// Renders that failed through the plugin's doing, to disable an engine that keeps failing.
    pub render_failures: super::RenderFailures,
}

/// Per-run state that is not persisted (recomputed after a resume).
#[derive(Debug, Default)]
pub(super) struct Run {
    rendered: Option<Rendered>,
    /// When the store role was bound in the namespace and found in effect (once per run: a
    /// job resumed on another replica, or begun before the binding existed, binds it again).
    bound_at: Option<Instant>,
}

impl Run {
    /// `result`, with an RBAC refusal soon after the store role was bound turned transient
    /// (the binding has not reached every API server yet), and permanent otherwise.
    pub(super) fn settled<T>(&self, result: Result<T, StepError>) -> Result<T, StepError> {
        match result {
            Err(StepError::Forbidden(message))
                if self
                    .bound_at
                    .is_some_and(|at| at.elapsed() < BINDING_SETTLE) =>
            {
                Err(StepError::Transient(format!(
                    "the store role binding is not in effect everywhere yet: {message}"
                )))
            }
            Err(StepError::Forbidden(message)) => Err(StepError::Permanent(message)),
            other => other,
        }
    }
}

/// How long after binding the store role an RBAC refusal counts as the binding not having
/// reached every API server yet (each has its own authorizer cache), so the step is retried.
const BINDING_SETTLE: Duration = Duration::from_secs(30);

/// The store's chart rendered with its plan and checked.
#[derive(Debug, Clone)]
pub(super) struct Rendered {
    pub(super) objects: Vec<Value>,
    pub(super) footprint: Footprint,
}

pub(super) fn permanent(message: impl Into<String>) -> StepError {
    StepError::Permanent(message.into())
}

impl Pipeline {
    /// Runs a provision job from its first unfinished step to `ready`.
    pub async fn provision(&self, ctx: &JobContext) -> Result<(), StepError> {
        let Some(mut store) = self.db.store(&ctx.job.store_id).await? else {
            return self.finish_without_store(ctx).await;
        };
        match store.status {
            StoreStatus::Provisioning => {}
            StoreStatus::Requested => {
                let mut update = ctx.update_of(JobChange::Keep);
                update.transition = Some(JobTransition {
                    from: StoreStatus::Requested,
                    to: StoreStatus::Provisioning,
                    patch: StorePatch::default(),
                    audit: ctx.event(
                        "store.provisioning",
                        format!("provisioning of {} started", store.name),
                    ),
                });
                ctx.update(update).await?;
                store.status = StoreStatus::Provisioning;
            }
            // Nothing to provision any more (deleted meanwhile, or already done).
            _ => return self.finish_without_store(ctx).await,
        }
        let mut record = ProvisionRecord::from_value(&store.progress);
        // A retry after an upgrade whose rollback failed provisions the plan the store is
        // pinned to; the upgrade is over.
        record.upgrade = None;
        let mut run = Run::default();
        for step in Step::ALL {
            // Planning and credentials are looked at again on every run: a retry re-plans
            // when the engine version changed (and only then), and the Secret gets any key a
            // new plan needs or that went missing; `ready` always runs to close the job.
            if record.is_done(step) && !matches!(step, Step::Plan | Step::Credentials | Step::Ready)
            {
                continue;
            }
            self.before_step(ctx, step).await?;
            let started = Instant::now();
            let outcome = ctx
                .guarded(self.run_step(ctx, step, &store, &mut record, &mut run))
                .await;
            if step.uses_cluster() {
                self.record_cluster_outcome(&outcome);
            }
            outcome?;
            tracing::info!(
                step = step.as_str(),
                ms = started.elapsed().as_millis(),
                "step done"
            );
            self.metrics
                .step_seconds
                .get_or_create(&crate::metrics::KindLabels {
                    kind: step.as_str().to_owned(),
                })
                .observe(started.elapsed().as_secs_f64());
            if step == Step::Ready {
                return Ok(());
            }
            record.mark_done(step);
            let mut update = ctx.update_of(JobChange::Keep);
            update.progress = Some(record.to_value());
            ctx.update(update).await?;
        }
        Ok(())
    }

    /// Tells the circuit breaker how a step that talked to the cluster went: an answer, even a
    /// refusal, shows the cluster is there; a transient failure counts towards opening it.
    pub(super) fn record_cluster_outcome(&self, outcome: &Result<(), StepError>) {
        match outcome {
            Ok(()) | Err(StepError::Permanent(_) | StepError::Forbidden(_)) => {
                self.breaker.record_success();
            }
            Err(StepError::Transient(_)) => self.breaker.record_failure(Instant::now()),
            Err(_) => self.breaker.record_neutral(),
        }
    }

    /// The job's store is gone or no longer provisioning: close the job.
    pub(super) async fn finish_without_store(&self, ctx: &JobContext) -> Result<(), StepError> {
        ctx.update(ctx.update_of(JobChange::Finish {
            failed: false,
            error: None,
        }))
        .await
    }

    /// Checks the deadline, shutdown and the breaker, then records the step as current.
    async fn before_step(&self, ctx: &JobContext, step: Step) -> Result<(), StepError> {
        self.enter_step(
            ctx,
            (step.as_str(), step.index()),
            step.uses_cluster(),
            true,
        )
        .await
    }

    /// Checks shutdown, the job's deadline (when `deadline` holds) and the breaker (for a
    /// step that talks to the cluster), then records `step` (name, 1-based index) as current.
    pub(super) async fn enter_step(
        &self,
        ctx: &JobContext,
        (step, index): (&str, i32),
        uses_cluster: bool,
        deadline: bool,
    ) -> Result<(), StepError> {
        if ctx.shutting_down() {
            return Err(StepError::Shutdown);
        }
        if let Some(at) = ctx.job.deadline_at.filter(|_| deadline)
            && chrono::Utc::now() > at
        {
            return Err(permanent(format!(
                "{} did not finish in time (deadline {}); it stopped at step {step}",
                ctx.job.kind.noun(),
                at.format("%H:%M:%S UTC"),
            )));
        }
        if uses_cluster {
            self.breaker
                .permit(Instant::now())
                .map_err(StepError::Delayed)?;
        }
        let mut update = ctx.update_of(JobChange::Step {
            step: step.to_owned(),
            index,
        });
        update.current_step = Some(Some(step.to_owned()));
        ctx.update(update).await
    }

    async fn run_step(
        &self,
        ctx: &JobContext,
        step: Step,
        store: &Store,
        record: &mut ProvisionRecord,
        run: &mut Run,
    ) -> Result<(), StepError> {
        let result = self.step_work(ctx, step, store, record, run).await;
        run.settled(result)
    }

    /// Binds the store role in the store's namespace, once per run (the namespace must exist).
    pub(super) async fn bind(&self, store: &Store, run: &mut Run) -> Result<(), StepError> {
        if run.bound_at.is_none() {
            self.cluster
                .bind_store_role(
                    &store.id.namespace(),
                    store.id.as_str(),
                    &self.settings.store_role,
                    BINDING_WAIT,
                )
                .await?;
            run.bound_at = Some(Instant::now());
        }
        Ok(())
    }

    /// The store's chart rendered and checked, once per run.
    async fn rendered<'r>(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &ProvisionRecord,
        run: &'r mut Run,
    ) -> Result<&'r Rendered, StepError> {
        let rendered = match run.rendered.take() {
            Some(rendered) => rendered,
            None => {
                self.render(ctx, store, Self::pinned_plan(record)?, &store.options)
                    .await?
            }
        };
        Ok(run.rendered.insert(rendered))
    }

    /// The work of `step`. Every step that uses the cluster after the namespace exists does it
    /// through the store role, bound first.
    async fn step_work(
        &self,
        ctx: &JobContext,
        step: Step,
        store: &Store,
        record: &mut ProvisionRecord,
        run: &mut Run,
    ) -> Result<(), StepError> {
        if step.uses_cluster() && step != Step::Namespace {
            self.bind(store, run).await?;
        }
        match step {
            Step::Plan => self.plan(ctx, store, record).await,
            Step::Namespace => {
                let settings = self.guard_settings(store, Footprint::default());
                self.cluster
                    .apply(&store.id.namespace(), &guard::namespace(&settings))
                    .await?;
                self.bind(store, run).await
            }
            Step::Guard => {
                // The quota is sized from what the chart renders, so render first.
                let rendered = self.rendered(ctx, store, record, run).await?;
                let (footprint, level) = (rendered.footprint, strictest_level(&rendered.objects).0);
                self.guard(store, footprint, level).await
            }
            Step::Credentials => {
                let plugin = self.plugin_for(store).await?;
                Self::pinned_plan(record)?;
                self.credentials(store, &plugin).await
            }
            Step::Render => self.rendered(ctx, store, record, run).await.map(|_| ()),
            Step::Apply => {
                let rendered = match run.rendered.take() {
                    Some(rendered) => rendered,
                    None => {
                        self.render(ctx, store, Self::pinned_plan(record)?, &store.options)
                            .await?
                    }
                };
                self.apply(ctx, store, &rendered.objects).await
            }
            Step::Wait => {
                let remaining = ctx.time_left();
                if store.retry_count > 0 {
                    // A retry restarts the pods that could not start, so the retry sees fresh
                    // ones instead of failing at once on the old failure.
                    let restarted = self
                        .cluster
                        .delete_failed_pods(&store.id.namespace())
                        .await?;
                    if !restarted.is_empty() {
                        tracing::info!(pods = ?restarted, "restarted failed pods for the retry");
                    }
                }
                self.wait(ctx, store, &Self::pinned_plan(record)?.plan, remaining)
                    .await
            }
            Step::Setup => self.setup(ctx, store, record).await,
            Step::Ready => self.ready(ctx, store, record).await,
        }
    }

    pub(super) fn guard_settings(&self, store: &Store, footprint: Footprint) -> GuardSettings {
        GuardSettings {
            pod_security: Level::Baseline,
            store_id: store.id.as_str().to_owned(),
            namespace: store.id.namespace(),
            ingress_namespace: self.settings.ingress_namespace.clone(),
            ingress_source_cidrs: self.settings.ingress_source_cidrs.clone(),
            footprint,
        }
    }

    /// Step 3: the host's guard objects, then a wait until the quota is enforced. The API
    /// server enforces only what the quota controller has put in the quota's status (an empty
    /// status is not enforced at all, and a key missing from `status.used` refuses every
    /// request with "status unknown for quota"), so no workload is applied before that.
    pub(super) async fn guard(
        &self,
        store: &Store,
        footprint: Footprint,
        pod_security: Level,
    ) -> Result<(), StepError> {
        let namespace = store.id.namespace();
        let settings = GuardSettings {
            pod_security,
            ..self.guard_settings(store, footprint)
        };
        // The namespace's Pod Security level follows what this plan's pods pass.
        self.cluster
            .apply(&namespace, &guard::namespace(&settings))
            .await?;
        for object in guard::guard_objects(&settings) {
            self.cluster.apply(&namespace, &object).await?;
        }
        let quota = guard::quota(&settings);
        let hard = quota.pointer("/spec/hard").cloned().unwrap_or_default();
        if !self
            .cluster
            .wait_quota_enforced(
                &namespace,
                guard::QUOTA_NAME,
                &hard,
                self.settings.quota_wait,
            )
            .await?
        {
            return Err(StepError::Transient(format!(
                "the quota of namespace {namespace} is not enforced yet (its status lags the spec after {}s: is kube-controller-manager running?)",
                self.settings.quota_wait.as_secs()
            )));
        }
        Ok(())
    }

    pub(super) fn pinned_plan(record: &ProvisionRecord) -> Result<&PinnedPlan, StepError> {
        record
            .plan
            .as_ref()
            .ok_or_else(|| permanent("the store has no plan (its provisioning record was lost)"))
    }

    /// The plugin version with `digest`, registered from the database when another replica
    /// uploaded it.
    pub(super) async fn plugin_by_digest(&self, digest: &str) -> Option<Arc<PluginVersion>> {
        super::plugin_source::by_digest(&self.registry, self.db.as_ref(), digest).await
    }

    /// The store's pinned plugin version; on a retry, the engine's active version when it
    /// differs (an admin activated a fix).
    async fn plugin_for(&self, store: &Store) -> Result<Arc<PluginVersion>, StepError> {
        let pinned = match store.plugin_digest.as_deref() {
            Some(digest) => self.plugin_by_digest(digest).await,
            None => None,
        };
        let active = self.registry.active(&store.engine);
        let chosen = if store.retry_count > 0 {
            active.or(pinned)
        } else {
            pinned.or(active)
        };
        chosen.ok_or_else(|| {
            permanent(format!(
                "engine {} version {} is not available on this host",
                store.engine,
                store.plugin_version.as_deref().unwrap_or("?")
            ))
        })
    }

    /// What a plugin is given to plan `store` with `options`.
    pub(super) async fn spec(
        &self,
        store: &Store,
        options: &Value,
    ) -> Result<StoreSpec, StepError> {
        let owner = self.db.user_by_id(&store.owner_id).await?;
        Ok(StoreSpec {
            store_id: store.id.as_str().to_owned(),
            name: store.name.clone(),
            namespace: store.id.namespace(),
            hostname: format!("{}{}", store.id.namespace(), self.settings.domain_suffix),
            tls: self.settings.tls,
            owner_email: owner.map(|u| u.email).unwrap_or_default(),
            options: options.clone(),
            credentials_secret: CREDENTIALS_SECRET.to_owned(),
            ingress_class: Some(self.settings.ingress_class.clone()),
            storage_class: self.settings.storage_class.clone(),
        })
    }

    /// Step 1: plans with the pinned plugin, unless the record already holds a plan of the
    /// version that would be chosen now (a retry re-plans only when the version changed).
    async fn plan(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &mut ProvisionRecord,
    ) -> Result<(), StepError> {
        let plugin = self.plugin_for(store).await?;
        if record
            .plan
            .as_ref()
            .is_some_and(|p| p.plugin_digest == plugin.digest.as_str())
        {
            return Ok(());
        }
        let spec = self.spec(store, &store.options).await?;
        let plan = self
            .registry
            .plan_with(Arc::clone(&plugin), spec)
            .await
            .map_err(|err| {
                permanent(format!(
                    "engine {} could not plan the store: {err}",
                    plugin.label()
                ))
            })?;
        let replanned = record.plan.is_some();
        record.replan(PinnedPlan {
            plugin_version: plugin.info.version.to_string(),
            plugin_digest: plugin.digest.to_string(),
            plan,
        });
        let mut update = ctx.update_of(JobChange::Keep);
        update.progress = Some(record.to_value());
        update.plugin_pin = Some((plugin.info.version.to_string(), plugin.digest.to_string()));
        if replanned {
            update.events.push(ctx.event(
                "store.replanned",
                format!(
                    "planned again with {} (the plugin version changed)",
                    plugin.label()
                ),
            ));
        }
        ctx.update(update).await
    }

    /// Step 4: the credentials Secret holds a generated value for every secret `plugin`
    /// requests; existing values are never changed.
    pub(super) async fn credentials(
        &self,
        store: &Store,
        plugin: &PluginVersion,
    ) -> Result<(), StepError> {
        let namespace = store.id.namespace();
        let existing = self
            .cluster
            .read_secret(&namespace, CREDENTIALS_SECRET)
            .await?;
        let missing: BTreeMap<String, String> = plugin
            .info
            .secrets
            .iter()
            .filter(|s| existing.as_ref().is_none_or(|e| !e.contains_key(&s.key)))
            .map(|s| (s.key.clone(), generate_secret(s.length)))
            .collect();
        match existing {
            None => {
                let created = self
                    .cluster
                    .create_secret(&namespace, CREDENTIALS_SECRET, store.id.as_str(), &missing)
                    .await?;
                if !created {
                    return Err(StepError::Transient(
                        "the credentials Secret appeared meanwhile".into(),
                    ));
                }
            }
            Some(_) if !missing.is_empty() => {
                self.cluster
                    .add_secret_keys(&namespace, CREDENTIALS_SECRET, &missing)
                    .await?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Step 6: server-side apply of every rendered object into the store namespace, then the
    /// network policy letting the ingress controller reach the exposed ports. An object
    /// recreated because an immutable field changed is recorded in the audit log.
    pub(super) async fn apply(
        &self,
        ctx: &JobContext,
        store: &Store,
        objects: &[Value],
    ) -> Result<(), StepError> {
        let namespace = store.id.namespace();
        for object in objects {
            let object = confine(object, &namespace, store.id.as_str())?;
            if let Applied::Recreated(why) = self.cluster.apply(&namespace, &object).await? {
                let mut update = ctx.update_of(JobChange::Keep);
                update.events.push(ctx.event(
                    "store.object_recreated",
                    format!(
                        "recreated (its data kept) because a field that cannot change did: {why}"
                    ),
                ));
                ctx.update(update).await?;
            }
        }
        let ports = guard::exposed_ports(objects);
        if !ports.is_empty() {
            let settings = self.guard_settings(store, Footprint::default());
            let policy = guard::ingress_allowance(&settings, &ports);
            self.cluster.apply(&namespace, &policy).await?;
        }
        Ok(())
    }

    /// Step 7: watches until `plan`'s workloads are ready, for at most `limit`.
    pub(super) async fn wait(
        &self,
        ctx: &JobContext,
        store: &Store,
        plan: &DeploymentPlan,
        limit: Duration,
    ) -> Result<(), StepError> {
        let workloads: Vec<Workload> = plan
            .ready_when
            .iter()
            .map(|w| Workload {
                kind: w.kind.as_kind().to_owned(),
                name: w.name.clone(),
            })
            .collect();
        // Waiting only reads: a shutdown may interrupt it at any moment.
        let mut shutdown = ctx.shutdown.clone();
        let namespace = store.id.namespace();
        let waited = tokio::select! {
            waited = self.cluster.wait_ready(&namespace, &workloads, limit, self.settings.pod_start_grace) => waited?,
            Ok(_) = shutdown.wait_for(|stop| *stop) => return Err(StepError::Shutdown),
        };
        match waited {
            Readiness::Ready => Ok(()),
            Readiness::Failed(reason) => {
                Err(permanent(self.without_secrets(&namespace, &reason).await?))
            }
            Readiness::TimedOut(what) => Err(permanent(format!(
                "workloads did not become ready in time: {}",
                self.without_secrets(&namespace, &what).await?
            ))),
        }
    }

    /// `text` with the store's secret values redacted: a failing `exec` probe's event carries
    /// what the chart's command printed, and the reason goes to the owner and the audit log.
    async fn without_secrets(&self, namespace: &str, text: &str) -> Result<String, StepError> {
        let secrets = self.secret_values(namespace).await?;
        let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        Ok(redact(text, &secret_refs))
    }

    /// Step 9: endpoints recorded, `ready`, job done.
    async fn ready(
        &self,
        ctx: &JobContext,
        store: &Store,
        record: &ProvisionRecord,
    ) -> Result<(), StepError> {
        let plan: &DeploymentPlan = &Self::pinned_plan(record)?.plan;
        let endpoints = serde_json::to_value(&plan.endpoints).unwrap_or_else(|_| json!([]));
        let mut update = ctx.update_of(JobChange::Finish {
            failed: false,
            error: None,
        });
        update.progress = Some(record.to_value());
        update.transition = Some(JobTransition {
            from: StoreStatus::Provisioning,
            to: StoreStatus::Ready,
            patch: StorePatch {
                endpoints: Some(endpoints),
                failure_reason: Some(None),
                ..StorePatch::default()
            },
            audit: ctx.event("store.ready", format!("{} is ready", store.name)),
        });
        ctx.update(update).await
    }
}

/// A rendered object as the host applies it: of an allowed kind, namespaced into the store's
/// namespace (no other), labelled with the store id.
pub(super) fn confine(object: &Value, namespace: &str, store_id: &str) -> Result<Value, StepError> {
    let manifest = crate::k8s::manifest::Manifest::from_value(object.clone()).map_err(permanent)?;
    if !manifest.is_allowed_kind() {
        return Err(permanent(format!(
            "the chart rendered {} ({}), which stores may not create",
            manifest.id(),
            manifest.api_version
        )));
    }
    if let Some(other) = manifest.namespace.as_deref().filter(|ns| *ns != namespace) {
        return Err(permanent(format!(
            "the chart put {} into namespace {other}",
            manifest.id()
        )));
    }
    let mut object = manifest.object;
    let meta = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| permanent("a rendered object has no metadata"))?;
    meta.insert("namespace".into(), json!(namespace));
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if let Some(labels) = labels.as_object_mut() {
        labels.insert(STORE_LABEL.into(), json!(store_id));
    }
    Ok(object)
}

/// A random alphanumeric secret of `length` characters (at least 16).
pub fn generate_secret(length: u32) -> String {
    let length = usize::try_from(length.max(16)).unwrap_or(16);
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confine_forces_the_namespace_and_label_and_refuses_the_rest() {
        let ok = confine(
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}),
            "store-abc",
            "abc",
        );
        let ok = ok.unwrap_or_default();
        assert_eq!(ok["metadata"]["namespace"], "store-abc");
        assert_eq!(ok["metadata"]["labels"][STORE_LABEL], "abc");
        let other_ns = confine(
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "kube-system"}}),
            "store-abc",
            "abc",
        );
        assert!(matches!(other_ns, Err(StepError::Permanent(m)) if m.contains("kube-system")));
        let cluster_scoped = confine(
            &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}}),
            "store-abc",
            "abc",
        );
        assert!(
            matches!(cluster_scoped, Err(StepError::Permanent(m)) if m.contains("ClusterRole"))
        );
    }

    #[test]
    fn generated_secrets_are_long_and_different() {
        let a = generate_secret(8);
        let b = generate_secret(32);
        assert_eq!(a.len(), 16);
        assert_eq!(b.len(), 32);
        assert_ne!(generate_secret(32), b);
        assert!(b.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
