//! The sandbox: one wasmtime `Engine` for the process, an epoch ticker, and per-call isolation.
//!
//! Every call gets a fresh `Store` and instance (from the pooling allocator's slots, see
//! [`super::pool`]), so a trap or a cancelled call never
//! poisons later calls, and limits apply per call: memory (growth past the limit traps with a
//! clear reason), fuel, a wall-clock deadline via epoch interruption, input and output size
//! caps. The guest gets WASI with nothing in it (no files, env, args or network) and a bounded
//! stderr that is attached to errors, which is how panic messages reach operators; for
//! `plugin check`, stdout and stderr are also returned from calls that succeed, so an author
//! sees their debug output.
//!
//! Calls are synchronous and CPU-bound; async callers go through `spawn_blocking` (see
//! [`super::registry`]), never run them on a reactor thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{self, BindingsVersion, v1, v1_1};
use super::cache::{ArtifactCache, LoadSource};
use super::error::{PluginError, Result, TrapKind};
use super::model::{DeploymentPlan, EngineInfo, PluginDigest, SetupStep, StoreSpec};
use super::pool::{self, CallSlots};
use super::stderr::CapturedStderr;

/// Interval of the epoch ticker; deadlines are whole ticks.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Per-call resource limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest linear memory a guest may grow to.
    pub memory_bytes: usize,
    /// Fuel per call (≈ wasm instructions). A JSON-building `plan` uses well under a million.
    pub fuel: u64,
    /// Wall-clock limit of one call.
    pub deadline: Duration,
    /// Largest accepted input (store spec), in bytes of its strings.
    pub max_input_bytes: usize,
    /// Largest accepted output (engine-info or plan), in bytes of its strings.
    pub max_output_bytes: usize,
    /// Guest stderr kept for error messages.
    pub max_stderr_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            fuel: 2_000_000_000,
            deadline: Duration::from_secs(2),
            max_input_bytes: 64 << 10,
            // An embedded chart travels in engine-info, so the cap leaves room for one.
            max_output_bytes: 4 << 20,
            max_stderr_bytes: 16 << 10,
        }
    }
}

/// State of one call's `Store`.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Increments the engine epoch every [`EPOCH_TICK`] on a plain thread, so deadlines work in
/// synchronous and asynchronous callers alike. Stops when dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .map_or_else(
                |err| tracing::error!(error = %err, "could not start the plugin epoch ticker; deadlines will trap at once"),
                drop,
            );
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The process-wide plugin sandbox.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<CallState>,
    limits: Limits,
    cache: Option<ArtifactCache>,
    /// Bounds concurrent calls to the pooling allocator's instance slots.
    slots: CallSlots,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("limits", &self.limits)
            .field("cache", &self.cache)
            .finish()
    }
}

impl PluginRuntime {
    /// A runtime with `limits`, caching precompiled artifacts in `cache_dir` when given.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            // One thread compiles: plugins are small (~130 ms each) and a compile thread pool
            // keeps per-thread allocator arenas resident for the process's lifetime.
            .parallel_compilation(false)
            .allocation_strategy(pool::strategy(limits.memory_bytes));
        let engine = Engine::new(&config).map_err(|err| PluginError::Link {
            reason: chain(&err),
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|err| PluginError::Link {
            reason: chain(&err),
        })?;
        let cache = match cache_dir {
            Some(dir) => Some(ArtifactCache::new(dir.clone(), &engine).map_err(|source| {
                PluginError::Io {
                    path: dir.display().to_string(),
                    source,
                }
            })?),
            None => None,
        };
        let ticker = EpochTicker::start(engine.clone());
        Ok(Self {
            engine,
            linker,
            limits,
            cache,
            slots: CallSlots::default(),
            _ticker: ticker,
        })
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The artifact cache, when configured.
    pub fn cache(&self) -> Option<&ArtifactCache> {
        self.cache.as_ref()
    }

    /// Compiles (or loads from cache), type-checks and links `wasm`. No guest code runs.
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedComponent> {
        check_header(wasm)?;
        let digest = PluginDigest::of(wasm);
        let (component, source) = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, &digest, wasm),
            None => Component::new(&self.engine, wasm).map(|c| (c, LoadSource::Compiled)),
        }
        .map_err(|err| PluginError::NotAComponent {
            reason: chain(&err),
        })?;

        let version = self.exported_engine_version(&component)?;
        let Some(bindings_version) = BindingsVersion::for_version(&version) else {
            return Err(PluginError::IncompatibleVersion {
                found: format!("it exports {}@{version}", bindings::ENGINE_INTERFACE),
                supported: bindings::SUPPORTED.into(),
            });
        };
        let has_lifecycle = bindings_version >= BindingsVersion::V1_1
            && component
                .component_type()
                .exports(&self.engine)
                .any(|(name, _)| name.starts_with(v1_1::LIFECYCLE_INTERFACE));
        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|err| PluginError::Link {
                    reason: format!("{} (plugins may only import WASI 0.2)", chain(&err)),
                })?;
        let mismatch = |what: &str, err: &wasmtime::Error| PluginError::IncompatibleVersion {
            found: format!("its {what}@{version} export does not match: {}", chain(err)),
            supported: bindings::SUPPORTED.into(),
        };
        let lifecycle = if has_lifecycle {
            Some(
                v1_1::PluginPre::new(instance_pre.clone())
                    .map_err(|err| mismatch(v1_1::LIFECYCLE_INTERFACE, &err))?,
            )
        } else {
            None
        };
        let pre = v1::PluginPre::new(instance_pre)
            .map_err(|err| mismatch(bindings::ENGINE_INTERFACE, &err))?;
        Ok(LoadedComponent {
            digest,
            source,
            version,
            pre,
            lifecycle,
        })
    }

    /// The version of `storeplane:engine/engine` the component exports.
    fn exported_engine_version(&self, component: &Component) -> Result<semver::Version> {
        let ty = component.component_type();
        let mut names = Vec::new();
        for (name, _) in ty.exports(&self.engine) {
            if let Some(version) = name
                .strip_prefix(bindings::ENGINE_INTERFACE)
                .and_then(|r| r.strip_prefix('@'))
            {
                return semver::Version::parse(version).map_err(|err| {
                    PluginError::IncompatibleVersion {
                        found: format!("it exports {name}, whose version is not semver ({err})"),
                        supported: bindings::SUPPORTED.into(),
                    }
                });
            }
            names.push(name.to_owned());
        }
        Err(PluginError::IncompatibleVersion {
            found: if names.is_empty() {
                "it exports nothing".into()
            } else {
                format!(
                    "it does not export {} (exports: {})",
                    bindings::ENGINE_INTERFACE,
                    names.join(", ")
                )
            },
            supported: bindings::SUPPORTED.into(),
        })
    }

    /// Runs `f` on a fresh instance of `pre` under this runtime's limits; returns what the
    /// guest printed when `output` keeps it.
    fn with_instance<R>(
        &self,
        pre: &v1::PluginPre<CallState>,
        call: &'static str,
        output: GuestOutput,
        f: impl FnOnce(&mut Store<CallState>, &v1::EnginePlugin) -> wasmtime::Result<R>,
    ) -> Result<(R, String)> {
        self.in_store_printing(call, output, |store| {
            pre.instantiate(&mut *store)
                .and_then(|instance| f(store, &instance))
        })
    }

    /// Runs `f` in a fresh store with this runtime's limits (memory, fuel, deadline, stderr).
    fn in_store<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R> {
        self.in_store_printing(call, GuestOutput::ForErrors, f)
            .map(|(value, _)| value)
    }

    /// [`Self::in_store`], also returning what the guest printed when `output` keeps it.
    fn in_store_printing<R>(
        &self,
        call: &'static str,
        output: GuestOutput,
        f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<(R, String)> {
        // Held until the store (declared after it) is dropped: its instance's slot is free.
        let _slot = self.slots.acquire();
        let stderr = CapturedStderr::new(self.limits.max_stderr_bytes);
        let mut wasi = WasiCtx::builder();
        wasi.stderr(stderr.clone());
        if output == GuestOutput::Kept {
            // In call order with stderr, as a terminal would show them.
            wasi.stdout(stderr.clone());
        }
        let wasi = wasi.build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(
            &self.engine,
            CallState {
                wasi,
                table: ResourceTable::new(),
                limits,
            },
        );
        store.limiter(|state| &mut state.limits);
        let ticks = self
            .limits
            .deadline
            .as_millis()
            .div_ceil(EPOCH_TICK.as_millis())
            .max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store
            .set_fuel(self.limits.fuel)
            .map_err(|err| PluginError::Link {
                reason: chain(&err),
            })?;

        let value = f(&mut store).map_err(|err| classify_trap(call, &err, &stderr))?;
        let printed = match output {
            GuestOutput::Kept => stderr.contents(),
            GuestOutput::ForErrors => String::new(),
        };
        Ok((value, printed))
    }
}

/// What becomes of a guest's output on a call that succeeds. On failure its stderr is always
/// part of the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GuestOutput {
    /// Stdout is discarded and stderr only kept for an error: a server has no reader for a
    /// plugin's debug output.
    ForErrors,
    /// Stdout and stderr are kept and returned: `plugin check` shows an author what their
    /// plugin printed (`println!` debugging).
    Kept,
}

/// A compiled, type-checked plugin component, ready to instantiate per call.
pub struct LoadedComponent {
    digest: PluginDigest,
    source: LoadSource,
    version: semver::Version,
    pre: v1::PluginPre<CallState>,
    /// The optional `lifecycle` interface (1.1), when the component exports it.
    lifecycle: Option<v1_1::PluginPre<CallState>>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("digest", &self.digest)
            .field("source", &self.source)
            .field("wit_version", &self.version)
            .field("lifecycle", &self.lifecycle.is_some())
            .finish()
    }
}

impl LoadedComponent {
    /// sha256 of the wasm bytes.
    pub fn digest(&self) -> &PluginDigest {
        &self.digest
    }

    /// Whether the artifact came from the cache.
    pub fn load_source(&self) -> LoadSource {
        self.source
    }

    /// Version of the engine interface the component exports.
    pub fn wit_version(&self) -> &semver::Version {
        &self.version
    }

    /// Calls `describe` in a fresh instance.
    pub fn describe(&self, runtime: &PluginRuntime) -> Result<EngineInfo> {
        self.describe_printing(runtime, GuestOutput::ForErrors)
            .map(|(info, _)| info)
    }

    /// [`Self::describe`], with what the plugin printed (stdout and stderr, bounded).
    pub fn describe_with_output(&self, runtime: &PluginRuntime) -> Result<(EngineInfo, String)> {
        self.describe_printing(runtime, GuestOutput::Kept)
    }

    fn describe_printing(
        &self,
        runtime: &PluginRuntime,
        output: GuestOutput,
    ) -> Result<(EngineInfo, String)> {
        let (info, printed) =
            runtime.with_instance(&self.pre, "describe", output, |store, plugin| {
                plugin.storeplane_engine_engine().call_describe(store)
            })?;
        let size = v1::info_size(&info);
        if size > runtime.limits.max_output_bytes {
            return Err(PluginError::InvalidOutput {
                call: "describe",
                reason: format!(
                    "{size} bytes exceeds the limit of {} bytes",
                    runtime.limits.max_output_bytes
                ),
            });
        }
        Ok((v1::info_from_wit(info)?, printed))
    }

    /// Whether the component exports the `lifecycle` interface (data migrations on upgrade).
    pub fn has_lifecycle(&self) -> bool {
        self.lifecycle.is_some()
    }

    /// Calls `upgrade-steps` in a fresh instance: what brings a store planned by plugin version
    /// `from` to this one. None for a component without the `lifecycle` interface (1.0, or a
    /// 1.1 plugin with nothing to migrate).
    pub fn upgrade_steps(
        &self,
        runtime: &PluginRuntime,
        from: &semver::Version,
        spec: &StoreSpec,
    ) -> Result<Vec<SetupStep>> {
        let Some(pre) = &self.lifecycle else {
            return Ok(Vec::new());
        };
        let input = checked_input(runtime, spec)?;
        let from = from.to_string();
        let result = runtime.in_store("upgrade-steps", |store| {
            let plugin = pre.instantiate(&mut *store)?;
            plugin
                .storeplane_engine_lifecycle()
                .call_upgrade_steps(store, &from, &input)
        })?;
        let size = match &result {
            Ok(steps) => v1::steps_size(steps),
            Err(_) => 0,
        };
        if size > runtime.limits.max_output_bytes {
            return Err(PluginError::InvalidOutput {
                call: "upgrade-steps",
                reason: format!(
                    "{size} bytes exceeds the limit of {} bytes",
                    runtime.limits.max_output_bytes
                ),
            });
        }
        let steps = result.map_err(v1::plan_error_from_wit)?;
        Ok(steps.into_iter().map(v1::setup_step_from_wit).collect())
    }

    /// Calls `plan` in a fresh instance.
    pub fn plan(&self, runtime: &PluginRuntime, spec: &StoreSpec) -> Result<DeploymentPlan> {
        self.plan_printing(runtime, spec, GuestOutput::ForErrors)
            .map(|(plan, _)| plan)
    }

    /// [`Self::plan`], with what the plugin printed (stdout and stderr, bounded).
    pub fn plan_with_output(
        &self,
        runtime: &PluginRuntime,
        spec: &StoreSpec,
    ) -> Result<(DeploymentPlan, String)> {
        self.plan_printing(runtime, spec, GuestOutput::Kept)
    }

    fn plan_printing(
        &self,
        runtime: &PluginRuntime,
        spec: &StoreSpec,
        output: GuestOutput,
    ) -> Result<(DeploymentPlan, String)> {
        let input = checked_input(runtime, spec)?;
        let (result, printed) =
            runtime.with_instance(&self.pre, "plan", output, |store, plugin| {
                plugin.storeplane_engine_engine().call_plan(store, &input)
            })?;
        let size = v1::plan_size(&result);
        if size > runtime.limits.max_output_bytes {
            return Err(PluginError::InvalidOutput {
                call: "plan",
                reason: format!(
                    "{size} bytes exceeds the limit of {} bytes",
                    runtime.limits.max_output_bytes
                ),
            });
        }
        Ok((v1::plan_from_wit(result)?, printed))
    }
}

/// `spec` as the guest receives it, refused when it is larger than the runtime allows.
fn checked_input(runtime: &PluginRuntime, spec: &StoreSpec) -> Result<v1::WitStoreSpec> {
    let input = v1::spec_to_wit(spec);
    let input_size = [
        &input.store_id,
        &input.name,
        &input.namespace,
        &input.hostname,
        &input.owner_email,
        &input.options,
        &input.credentials_secret,
    ]
    .iter()
    .map(|s| s.len())
    .sum::<usize>();
    if input_size > runtime.limits.max_input_bytes {
        return Err(PluginError::InvalidInput {
            reason: format!(
                "store spec of {input_size} bytes exceeds {} bytes",
                runtime.limits.max_input_bytes
            ),
        });
    }
    Ok(input)
}

/// Rejects what cannot be a component before handing it to the compiler, with a reason a
/// plugin author can act on.
fn check_header(wasm: &[u8]) -> Result<()> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE: [u8; 4] = [1, 0, 0, 0];
    const COMPONENT: [u8; 4] = [0x0d, 0, 1, 0];
    let reason = if wasm.is_empty() {
        "the file is empty".to_owned()
    } else if wasm.len() < 8 || &wasm[..4] != MAGIC {
        "the file does not start with the WebAssembly magic bytes".to_owned()
    } else if wasm[4..8] == CORE_MODULE {
        "this is a core WebAssembly module, not a component; build the plugin with \
         `cargo build --target wasm32-wasip2` (which emits a component)"
            .to_owned()
    } else if wasm[4..8] != COMPONENT {
        format!("unknown WebAssembly layer/version {:02x?}", &wasm[4..8])
    } else {
        return Ok(());
    };
    Err(PluginError::NotAComponent { reason })
}

/// Maps a failed guest call to a classified trap.
fn classify_trap(
    call: &'static str,
    err: &wasmtime::Error,
    stderr: &CapturedStderr,
) -> PluginError {
    let stderr = stderr.contents();
    let message = chain(err);
    let kind = match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => TrapKind::OutOfFuel,
        Some(Trap::Interrupt) => TrapKind::Timeout,
        _ if message.contains("forcing trap when growing memory") => TrapKind::MemoryLimit,
        _ if stderr.contains("panicked at") => TrapKind::Panic,
        _ => TrapKind::Other,
    };
    PluginError::Trap {
        call,
        kind,
        message,
        stderr,
    }
}

/// An error with its causes, `outer: inner: root`.
fn chain(err: &wasmtime::Error) -> String {
    err.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
