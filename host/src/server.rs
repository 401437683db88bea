//! Start-up wiring of `storeplane serve`: database (connect + migrate), plugin runtime and
//! registry (built-ins, stored uploads, PLUGIN_DIR hot-loading), JWT keys, limiters, metrics
//! and the router. Tests build the same [`App`] on a random port.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::api::{self, AppState, AppStateInner, Limiters};
use crate::auth::{HashingPool, TokenKeys};
use crate::config::{Config, ServerConfig};
use crate::db::{self, Db, StoreLimits};
use crate::guardrails::{
    CircuitBreaker, LoginGuard, LoginLimits, SlidingWindow, parse_trusted_proxies,
};
use crate::lifecycle::{
    JobRunner, Pipeline, PipelineSettings, PluginAdmin, RunnerSettings, StoreService,
};
use crate::metrics::Metrics;
use crate::plugins::{NoExternalChecks, Origin, PlanValidator, PluginRuntime, Registry, builtin};

/// Settings key of the generated development JWT secret.
const DEV_JWT_KEY: &str = "dev_jwt_secret";

/// A wired application, ready to serve.
#[derive(Debug)]
pub struct App {
    pub state: AppState,
    /// The database (the API reaches it only through the lifecycle services).
    pub db: Arc<dyn Db>,
    pub router: api::Router,
    /// The job runner, when a cluster is configured.
    pub runner: Option<Arc<JobRunner>>,
    /// The rollout driver, when a cluster is configured.
    pub rollouts: Option<Arc<crate::lifecycle::RolloutDriver>>,
}

impl App {
    /// Follows the database's change feed (PostgreSQL): event streams hear of other replicas'
    /// changes at once, and changed users leave the cache of authenticated users. Where this
    /// process is the database's only writer (SQLite) there is no feed, and the cache is
    /// trusted at once. Without either, users are read on every request.
    pub async fn follow_changes(&self) {
        let users = Arc::clone(self.state.accounts.cache());
        match self.db.change_feed().await {
            Ok(Some(feed)) => {
                tokio::spawn(self.state.stores.events().clone().follow(feed, users));
            }
            Ok(None) => users.changes_heard(),
            // Streams still learn of other replicas' changes by re-reading.
            Err(err) => tracing::warn!(
                error = %err,
                "cannot follow the database's change feed: users are read on every request"
            ),
        }
    }
}

/// Builds the application from configuration.
pub async fn build(config: &Config, server: &ServerConfig) -> anyhow::Result<App> {
    let db = db::connect(&server.database_url).await.with_context(|| {
        format!(
            "DATABASE_URL: cannot connect to {}",
            db::redact_url(&server.database_url)
        )
    })?;
    db.migrate().await.context("running database migrations")?;

    let registry = build_registry(config, &db).await?;
    let keys = TokenKeys::new(
        jwt_secret(server, &db).await?.as_bytes(),
        server.jwt_expires_in,
    )
    .map_err(|err| anyhow::anyhow!("JWT_SECRET: {err}"))?;
    let keys = Arc::new(keys);
    let ms = Duration::from_millis;
    let limiters = Arc::new(Limiters {
        global: SlidingWindow::new(server.rate_limit_max, ms(server.rate_limit_window_ms)),
        login: LoginGuard::new(LoginLimits {
            per_source: server.login_rate_limit_max,
            failures_per_address: server.login_ip_max_failures,
            failures_per_account: server.login_account_max_failures,
            window: ms(server.login_rate_limit_window_ms),
            global_failures: server.login_global_max_failures,
            global_window: Duration::from_secs(60),
        }),
        register: SlidingWindow::new(
            server.register_rate_limit_max,
            ms(server.register_rate_limit_window_ms),
        ),
    });
    let hasher = Arc::new(
        HashingPool::new(
            hash_workers(server.password_hash_workers),
            server.password_hash_queue as usize,
        )
        .context("starting password-hashing threads")?,
    );
    let limits = StoreLimits {
        max_active: server.max_stores_per_user,
        cooldown: ms(server.store_creation_cooldown_ms),
    };
    let trusted = parse_trusted_proxies(&server.trusted_proxies)
        .map_err(|p| anyhow::anyhow!("TRUSTED_PROXIES: {p}"))?;
    let p = &server.provisioning;
    let cluster = crate::k8s::Cluster::connect(server.kubeconfig.as_deref())
        .await
        .context("KUBECONFIG")?
        .map(|c| c.with_call_timeout(ms(p.cluster_request_timeout_ms)));
    if cluster.is_none() {
        tracing::warn!(
            "no cluster configured (KUBECONFIG unset and not running in a pod): stores cannot be provisioned"
        );
    }
    let stores = StoreService::new(Arc::clone(&db), Arc::clone(&registry), limits)
        .with_cluster(cluster.clone(), p.store_role.clone());
    let metrics = Arc::new(Metrics::new());
    let breaker = Arc::new(CircuitBreaker::new(
        p.cluster_breaker_threshold,
        ms(p.cluster_breaker_reset_ms),
    ));
    let runner = cluster.clone().map(|cluster| {
        let pipeline = Pipeline {
            db: Arc::clone(&db),
            registry: Arc::clone(&registry),
            conformance: config.conformance(),
            cluster,
            breaker: Arc::clone(&breaker),
            metrics: Arc::clone(&metrics),
            events: stores.events().clone(),
            render_failures: crate::lifecycle::RenderFailures::new(
                p.plugin_disable_after_render_failures,
            ),
            settings: PipelineSettings {
                domain_suffix: p.store_domain_suffix.clone(),
                tls: p.store_tls,
                ingress_class: p.ingress_class.clone(),
                ingress_namespace: p.ingress_namespace.clone(),
                ingress_source_cidrs: p
                    .ingress_source_cidrs
                    .iter()
                    .filter(|cidr| !cidr.is_empty())
                    .cloned()
                    .collect(),
                storage_class: p.storage_class.clone(),
                output_limit: 4096,
                deletion_wait: Duration::from_secs(120).min(ms(p.deletion_stuck_after_ms)),
                deletion_stuck_after: ms(p.deletion_stuck_after_ms),
                quota_wait: Duration::from_secs(60),
                pod_start_grace: ms(p.pod_start_grace_ms),
                setup_step_timeout_max: ms(p.setup_step_timeout_max_ms),
                store_role: p.store_role.clone(),
            },
        };
        let settings = RunnerSettings {
            concurrency: p.provisioning_concurrency,
            lease: ms(p.job_lease_ms),
            poll_interval: ms(p.job_poll_interval_ms),
            retry_base: ms(p.job_retry_base_ms),
            retry_max: ms(p.job_retry_max_ms),
            provisioning_timeout: ms(p.provisioning_timeout_ms),
        };
        let pipeline = Arc::new(pipeline);
        let runner = Arc::new(JobRunner::new(
            Arc::clone(&pipeline),
            settings,
            Arc::clone(&metrics),
            stores.jobs_enqueued(),
        ));
        (runner, pipeline)
    });
    let (runner, pipeline) = runner.unzip();
    let stores = stores.with_pipeline(pipeline);
    let rollouts = crate::lifecycle::RolloutService::new(Arc::clone(&db), Arc::clone(&registry));
    let driver = runner.as_ref().map(|_| {
        Arc::new(crate::lifecycle::RolloutDriver::new(
            Arc::clone(&db),
            Arc::clone(&registry),
            stores.clone(),
            ms(p.job_poll_interval_ms),
            rollouts.wake(),
        ))
    });
    let accounts = crate::lifecycle::Accounts::new(
        Arc::clone(&db),
        Arc::new(crate::lifecycle::UserCache::new(false)),
    );
    let state = AppState::new(AppStateInner {
        probes: crate::lifecycle::Probes::new(Arc::clone(&db), cluster),
        accounts,
        audit: crate::lifecycle::AuditLog::new(Arc::clone(&db)),
        plugins: crate::lifecycle::PluginAdmin::new(Arc::clone(&registry), Arc::clone(&db)),
        breaker,
        stores,
        rollouts,
        registry,
        keys,
        limiters,
        hasher,
        trusted_proxies: trusted.into(),
        metrics,
        max_plugin_bytes: usize::try_from(server.max_plugin_upload_mb << 20).unwrap_or(usize::MAX),
        request_timeout: ms(server.request_timeout_ms),
    });
    let router = api::router(
        state.clone(),
        &server.cors_origin,
        server.dashboard_notice.as_deref(),
    );
    Ok(App {
        state,
        db,
        router,
        runner,
        rollouts: driver,
    })
}

/// Hashing threads for `configured` (0: the CPUs this process may use, at most 4: each busy
/// thread holds 19 MiB, and more threads than CPUs only queue inside the kernel instead).
fn hash_workers(configured: u32) -> usize {
    if configured > 0 {
        return configured as usize;
    }
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

/// The plugin registry with the built-in engines active (validated with chart rendering when
/// helm works; without it, registered on the host's own checks and uploads refused), for the
/// server and the CLI alike.
pub async fn registry_with_builtins(config: &Config) -> anyhow::Result<Arc<Registry>> {
    let runtime = Arc::new(PluginRuntime::new(
        config.plugin_limits(),
        Some(config.plugin_cache_dir()),
    )?);
    let helm = config.helm();
    let helm_problem = helm.version().await.err().map(|err| err.to_string());
    let validator: Arc<dyn PlanValidator> = match &helm_problem {
        None => Arc::new(config.conformance()),
        Some(problem) => {
            tracing::warn!(
                error = %problem,
                "HELM_BIN: helm is not available; built-in engines are registered without rendering their chart, \
                 and plugin uploads are refused until helm works"
            );
            Arc::new(ChartRenderingUnavailable(problem.clone()))
        }
    };
    let registry = Arc::new(Registry::new(runtime, validator));
    for (id, wasm) in builtin::BUILTIN {
        let added = if helm_problem.is_some() {
            registry
                .add_checked_by(wasm.to_vec(), Origin::Builtin, &NoExternalChecks)
                .await
        } else {
            registry.add(wasm.to_vec(), Origin::Builtin).await
        };
        let version = added.with_context(|| format!("built-in engine {id} failed validation"))?;
        registry.activate(&version.info.id, &version.info.version)?;
    }
    Ok(registry)
}

/// The registry with built-ins, stored uploads and the recorded activation state.
///
/// Without a working helm the server still starts: built-ins are registered with every
/// host-side check (their chart rendering was checked in CI), and uploads are refused with a
/// message saying helm is needed, until HELM_BIN works.
async fn build_registry(config: &Config, db: &Arc<dyn Db>) -> anyhow::Result<Arc<Registry>> {
    let registry = registry_with_builtins(config).await?;
    PluginAdmin::new(Arc::clone(&registry), Arc::clone(db))
        .restore()
        .await?;
    Ok(registry)
}

/// Refuses every plugin because the chart cannot be rendered here.
#[derive(Debug)]
struct ChartRenderingUnavailable(String);

impl PlanValidator for ChartRenderingUnavailable {
    fn validate<'a>(
        &'a self,
        _info: &'a crate::plugins::EngineInfo,
        _plans: &'a [(crate::plugins::StoreSpec, crate::plugins::DeploymentPlan)],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<String>> + Send + 'a>> {
        let problem = format!(
            "the chart cannot be rendered on this host ({}); install helm 4 or set HELM_BIN",
            self.0
        );
        Box::pin(async move { vec![problem] })
    }
}

async fn jwt_secret(server: &ServerConfig, db: &Arc<dyn Db>) -> anyhow::Result<String> {
    if let Some(secret) = &server.jwt_secret {
        return Ok(secret.0.clone());
    }
    let candidate: [u8; 32] = rand::random();
    let secret = db
        .setting_or_insert(DEV_JWT_KEY, &hex::encode(candidate))
        .await?;
    tracing::warn!(
        "JWT_SECRET is not set: using a generated development secret stored in the database; set JWT_SECRET in production"
    );
    Ok(secret)
}

/// Serves until SIGTERM/SIGINT, hot-loading PLUGIN_DIR meanwhile, then closes the pool.
pub async fn run(config: Config, server: ServerConfig) -> anyhow::Result<()> {
    let app = build(&config, &server).await?;
    // Start-up's plugin work is done: what it freed goes back (see `allocator`).
    crate::allocator::release_freed();
    let addr = std::net::SocketAddr::new(server.host, server.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("PORT: cannot listen on {addr}"))?;
    tracing::info!(%addr, database = %db::redact_url(&server.database_url), "storeplane listening");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(dir) = config.plugin_dir.clone() {
        let mut rx = stop_rx.clone();
        let loader =
            crate::plugins::hotload::DirectoryLoader::new(dir, Arc::clone(&app.state.registry));
        tokio::spawn(loader.run(
            Duration::from_millis(config.plugin_scan_interval_ms),
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            },
        ));
    }
    app.follow_changes().await;
    let runner = app
        .runner
        .clone()
        .map(|runner| runner.start(stop_rx.clone()));
    let driver = app
        .rollouts
        .clone()
        .map(|driver| driver.start(stop_rx.clone()));
    api::serve(listener, app.router, async move {
        crate::shutdown::signal().await;
        let _ = stop_tx.send(true);
    })
    .await?;
    if let Some(runner) = runner {
        // Running steps reach a safe point and give their jobs back; a step that takes
        // longer is abandoned (its lease expires and another replica resumes it).
        if tokio::time::timeout(Duration::from_secs(30), runner)
            .await
            .is_err()
        {
            tracing::warn!("job runner did not stop within 30 s; its leases will expire");
        }
    }
    if let Some(driver) = driver {
        // Between two ticks it holds nothing: a rollout's lease simply expires.
        let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
    }
    app.db.close().await;
    tracing::info!("storeplane stopped");
    Ok(())
}
