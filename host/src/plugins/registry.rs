//! The registry of engine plugins: many versions per engine id, at most one active.
//!
//! A version enters only after validation — it loads and type-checks, `describe` returns a
//! valid engine-info, `plan` succeeds on every sample spec with a plan that passes the host's
//! rules, and the external [`PlanValidator`] (chart rendering and manifest checks, wired in by
//! the caller because this module must not know Kubernetes) finds no problem. Activation is an
//! atomic pointer swap: calls already running keep the `Arc` of the version they started with
//! and finish on it. Any registered version can be activated again (rollback).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde::Serialize;

use super::cache::LoadSource;
use super::error::{PluginError, Result};
use super::model::{DeploymentPlan, EngineInfo, PluginDigest, SetupStep, StoreSpec};
use super::runtime::{LoadedComponent, PluginRuntime};
use super::{samples, validate};

/// Where a plugin version came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Origin {
    /// Embedded in the storeplane binary.
    Builtin,
    /// Uploaded by an admin (user id or e-mail).
    Upload(String),
    /// Found in the hot-load directory (file path).
    Directory(String),
}

/// One validated plugin version.
#[derive(Debug)]
pub struct PluginVersion {
    pub info: EngineInfo,
    pub digest: PluginDigest,
    pub origin: Origin,
    pub loaded_from: LoadSource,
    pub registered_at: SystemTime,
    /// The wasm bytes, kept so callers can persist uploads.
    pub wasm: Arc<[u8]>,
    component: LoadedComponent,
}

impl PluginVersion {
    /// `engine@version`, for messages.
    pub fn label(&self) -> String {
        format!("{}@{}", self.info.id, self.info.version)
    }
}

/// Checks the registry cannot make itself: rendering the plans with the engine's chart and
/// checking the manifests. Returns problems (empty = valid).
pub trait PlanValidator: Send + Sync {
    fn validate<'a>(
        &'a self,
        info: &'a EngineInfo,
        plans: &'a [(StoreSpec, DeploymentPlan)],
    ) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>>;
}

/// A validator with no external checks, for tools and tests that exercise the sandbox alone.
#[derive(Debug, Default)]
pub struct NoExternalChecks;

impl PlanValidator for NoExternalChecks {
    fn validate<'a>(
        &'a self,
        _info: &'a EngineInfo,
        _plans: &'a [(StoreSpec, DeploymentPlan)],
    ) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>> {
        Box::pin(async { Vec::new() })
    }
}

/// State of one engine id.
#[derive(Debug, Default)]
struct EngineSlot {
    /// Registered versions by semver.
    versions: BTreeMap<semver::Version, Arc<PluginVersion>>,
    active: Option<Arc<PluginVersion>>,
    /// Versions activated before the current one, oldest first.
    history: Vec<semver::Version>,
    disabled: bool,
}

impl EngineSlot {
    /// Swaps the active pointer; the caller holds the registry's write lock.
    fn activate(&mut self, engine: &str, version: &semver::Version) -> Result<Arc<PluginVersion>> {
        let target = self.versions.get(version).cloned().ok_or_else(|| {
            PluginError::NotFound(format!("{engine}@{version} is not registered"))
        })?;
        if let Some(previous) = self.active.replace(Arc::clone(&target))
            && previous.info.version != target.info.version
        {
            self.history.push(previous.info.version.clone());
        }
        tracing::info!(plugin = %target.label(), digest = %target.digest.short(), "plugin version activated");
        Ok(target)
    }
}

/// One engine as listed by [`Registry::list`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineListing {
    pub id: String,
    pub active_version: Option<semver::Version>,
    pub disabled: bool,
    pub versions: Vec<VersionListing>,
}

/// One version of an engine as listed by [`Registry::list`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionListing {
    pub version: semver::Version,
    pub digest: PluginDigest,
    pub origin: Origin,
    pub active: bool,
}

/// Counts of plan calls by outcome and traps by kind since start (for metrics).
#[derive(Debug, Default)]
pub struct CallStats {
    calls: std::sync::Mutex<BTreeMap<&'static str, u64>>,
}

impl CallStats {
    fn record<T>(&self, outcome: &Result<T>) {
        let key = match outcome {
            Ok(_) => "ok",
            Err(PluginError::Trap { kind, .. }) => kind.as_str(),
            Err(err) => err.code(),
        };
        *self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key)
            .or_default() += 1;
    }

    /// `(outcome, count)`: `ok`, a trap kind (`timeout`, `out_of_fuel`, ...) or an error code.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }
}

/// The registry. Cheap to share behind an `Arc`.
pub struct Registry {
    runtime: Arc<PluginRuntime>,
    validator: Arc<dyn PlanValidator>,
    engines: RwLock<BTreeMap<String, EngineSlot>>,
    stats: Arc<CallStats>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry running plugins in `runtime` and validating with `validator`.
    pub fn new(runtime: Arc<PluginRuntime>, validator: Arc<dyn PlanValidator>) -> Self {
        Self {
            runtime,
            validator,
            engines: RwLock::new(BTreeMap::new()),
            stats: Arc::default(),
        }
    }

    /// Plan-call outcomes since start.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// The sandbox the registry runs plugins in.
    pub fn runtime(&self) -> &Arc<PluginRuntime> {
        &self.runtime
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, EngineSlot>> {
        // A panic while holding the lock cannot leave the map half-updated (every update is a
        // single insert or swap), so a poisoned lock is still consistent.
        self.engines
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, EngineSlot>> {
        self.engines
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Loads and validates `wasm` and registers it as a version of its engine (not active).
    /// Registering the same bytes again returns the existing version.
    pub async fn add(&self, wasm: Vec<u8>, origin: Origin) -> Result<Arc<PluginVersion>> {
        self.add_checked_by(wasm, origin, self.validator.as_ref())
            .await
    }

    /// [`add`](Self::add) with `validator` in place of the registry's own external checks.
    /// For built-in engines when the chart renderer is unavailable: their bytes and chart are
    /// the ones CI checked with helm and kubernetes-validate, and every host-side rule still
    /// runs here.
    pub async fn add_checked_by(
        &self,
        wasm: Vec<u8>,
        origin: Origin,
        validator: &dyn PlanValidator,
    ) -> Result<Arc<PluginVersion>> {
        let digest = PluginDigest::of(&wasm);
        if let Some(existing) = self.by_digest(&digest) {
            return Ok(existing);
        }
        let runtime = Arc::clone(&self.runtime);
        let wasm: Arc<[u8]> = wasm.into();
        let bytes = Arc::clone(&wasm);
        // Compiling and smoke-planning are CPU work: keep them off the reactor.
        let (component, info, plans, problems) = blocking(move || {
            let component = runtime.load(&bytes)?;
            let info = component.describe(&runtime)?;
            // Every problem at once: the samples are planned even when `describe` has some,
            // so the author reads the whole list from one upload.
            let mut problems = validate::check_info(&info);
            let mut plans = Vec::new();
            for spec in samples::sample_specs(&info) {
                match component.plan(&runtime, &spec) {
                    Ok(plan) => {
                        problems.extend(
                            validate::check_plan(&info, &spec, &plan)
                                .into_iter()
                                .map(|p| format!("sample store {}: {p}", spec.store_id)),
                        );
                        plans.push((spec, plan));
                    }
                    Err(err) => problems.push(format!("sample store {}: {err}", spec.store_id)),
                }
            }
            Ok((component, info, plans, problems))
        })
        .await?;

        let mut problems = problems;
        problems.extend(validator.validate(&info, &plans).await);
        if !problems.is_empty() {
            return Err(PluginError::Validation { problems });
        }

        let version = Arc::new(PluginVersion {
            digest: component.digest().clone(),
            loaded_from: component.load_source(),
            info,
            origin,
            registered_at: SystemTime::now(),
            wasm,
            component,
        });
        let mut engines = self.write();
        let slot = engines.entry(version.info.id.clone()).or_default();
        if let Some(existing) = slot.versions.get(&version.info.version) {
            if existing.digest == version.digest {
                return Ok(Arc::clone(existing));
            }
            return Err(PluginError::Conflict(format!(
                "{} is already registered with different contents (digest {}); bump the plugin version",
                existing.label(),
                existing.digest.short()
            )));
        }
        slot.versions
            .insert(version.info.version.clone(), Arc::clone(&version));
        tracing::info!(plugin = %version.label(), digest = %version.digest.short(), origin = ?version.origin, "plugin version registered");
        Ok(version)
    }

    /// [`add`](Self::add) then [`activate`](Self::activate).
    pub async fn add_and_activate(
        &self,
        wasm: Vec<u8>,
        origin: Origin,
    ) -> Result<Arc<PluginVersion>> {
        let version = self.add(wasm, origin).await?;
        self.activate(&version.info.id, &version.info.version)
    }

    /// Makes `version` the active version of `engine`. Calls in flight finish on the version
    /// they started with; calls that start afterwards use the new one.
    pub fn activate(&self, engine: &str, version: &semver::Version) -> Result<Arc<PluginVersion>> {
        let mut engines = self.write();
        let slot = engines
            .get_mut(engine)
            .ok_or_else(|| unknown_engine(engine))?;
        slot.activate(engine, version)
    }

    /// Re-activates an earlier version: `to`, or else the version active before the current one.
    pub fn rollback(
        &self,
        engine: &str,
        to: Option<&semver::Version>,
    ) -> Result<Arc<PluginVersion>> {
        let mut engines = self.write();
        let slot = engines
            .get_mut(engine)
            .ok_or_else(|| unknown_engine(engine))?;
        if let Some(version) = to {
            return slot.activate(engine, version);
        }
        let current = slot.active.as_ref().map(|a| a.info.version.clone());
        let previous = loop {
            let Some(previous) = slot.history.pop() else {
                return Err(PluginError::Conflict(format!(
                    "{engine} has no earlier version to roll back to"
                )));
            };
            if Some(&previous) != current.as_ref() && slot.versions.contains_key(&previous) {
                break previous;
            }
        };
        let activated = slot.activate(engine, &previous)?;
        // Rolling back is not a step forward: the abandoned version is not the next rollback target.
        slot.history.pop();
        Ok(activated)
    }

    /// Stops offering `engine` for new stores (existing stores keep their pinned version).
    pub fn set_disabled(&self, engine: &str, disabled: bool) -> Result<()> {
        let mut engines = self.write();
        let slot = engines
            .get_mut(engine)
            .ok_or_else(|| unknown_engine(engine))?;
        slot.disabled = disabled;
        tracing::info!(engine, disabled, "plugin engine availability changed");
        Ok(())
    }

    /// The active version of `engine`, unless disabled.
    pub fn active(&self, engine: &str) -> Option<Arc<PluginVersion>> {
        self.read()
            .get(engine)
            .filter(|slot| !slot.disabled)
            .and_then(|slot| slot.active.clone())
    }

    /// Every enabled engine's active version, by engine id.
    pub fn active_engines(&self) -> Vec<Arc<PluginVersion>> {
        self.read()
            .values()
            .filter(|slot| !slot.disabled)
            .filter_map(|slot| slot.active.clone())
            .collect()
    }

    /// A registered version by its wasm digest (stores pin the digest they were planned with).
    pub fn by_digest(&self, digest: &PluginDigest) -> Option<Arc<PluginVersion>> {
        self.read()
            .values()
            .flat_map(|slot| slot.versions.values())
            .find(|v| &v.digest == digest)
            .cloned()
    }

    /// A registered version by engine and version.
    pub fn get(&self, engine: &str, version: &semver::Version) -> Option<Arc<PluginVersion>> {
        self.read()
            .get(engine)
            .and_then(|slot| slot.versions.get(version).cloned())
    }

    /// Every engine with its versions.
    pub fn list(&self) -> Vec<EngineListing> {
        self.read()
            .iter()
            .map(|(id, slot)| {
                let active = slot.active.as_ref().map(|a| a.info.version.clone());
                EngineListing {
                    id: id.clone(),
                    disabled: slot.disabled,
                    versions: slot
                        .versions
                        .values()
                        .map(|v| VersionListing {
                            version: v.info.version.clone(),
                            digest: v.digest.clone(),
                            origin: v.origin.clone(),
                            active: active.as_ref() == Some(&v.info.version),
                        })
                        .collect(),
                    active_version: active,
                }
            })
            .collect()
    }

    /// Plans `spec` with the active version of `engine`; returns the version that planned it.
    pub async fn plan(
        &self,
        engine: &str,
        spec: StoreSpec,
    ) -> Result<(Arc<PluginVersion>, DeploymentPlan)> {
        let version = self
            .active(engine)
            .ok_or_else(|| PluginError::NotFound(format!("engine {engine} is not available")))?;
        let plan = self.plan_with(Arc::clone(&version), spec).await?;
        Ok((version, plan))
    }

    /// Plans `spec` with a specific version (a store's pinned one), applying the host's rules.
    pub async fn plan_with(
        &self,
        version: Arc<PluginVersion>,
        spec: StoreSpec,
    ) -> Result<DeploymentPlan> {
        let runtime = Arc::clone(&self.runtime);
        let outcome = blocking(move || {
            let plan = version.component.plan(&runtime, &spec)?;
            let problems = validate::check_plan(&version.info, &spec, &plan);
            if problems.is_empty() {
                Ok(plan)
            } else {
                Err(PluginError::InvalidOutput {
                    call: "plan",
                    reason: problems.join("; "),
                })
            }
        })
        .await;
        self.stats.record(&outcome);
        outcome
    }
    /// What brings a store planned by plugin version `from` to `version` (its `lifecycle`
    /// interface; none without one), checked as setup steps are.
    pub async fn upgrade_steps_with(
        &self,
        version: Arc<PluginVersion>,
        from: semver::Version,
        spec: StoreSpec,
    ) -> Result<Vec<SetupStep>> {
        let runtime = Arc::clone(&self.runtime);
        let outcome = blocking(move || {
            let steps = version.component.upgrade_steps(&runtime, &from, &spec)?;
            let problems = validate::check_steps(&version.info, "upgrade", &steps);
            if problems.is_empty() {
                Ok(steps)
            } else {
                Err(PluginError::InvalidOutput {
                    call: "upgrade-steps",
                    reason: problems.join("; "),
                })
            }
        })
        .await;
        self.stats.record(&outcome);
        outcome
    }
}

fn unknown_engine(engine: &str) -> PluginError {
    PluginError::NotFound(format!("unknown engine {engine}"))
}

/// Runs CPU-bound plugin work on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|err| Err(PluginError::TaskFailed(err)))
}
