//! Shared state of the HTTP layer.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::{HashingPool, TokenKeys};
use crate::guardrails::{IpNet, LoginGuard, SlidingWindow};
use crate::lifecycle::{Accounts, AuditLog, PluginAdmin, Probes, RolloutService, StoreService};
use crate::metrics::Metrics;
use crate::plugins::Registry;

/// The rate limiters of the API.
#[derive(Debug)]
pub struct Limiters {
    /// Every request, per client IP.
    pub global: SlidingWindow,
    /// Login attempts: per client IP + e-mail, failures per IP, per account and in total.
    pub login: LoginGuard,
    /// Registrations, per client IP.
    pub register: SlidingWindow,
}

/// Everything handlers need, shared: every extractor of every request takes a clone, so it is
/// one reference count rather than a copy of each service.
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The lifecycle services handlers call (never the database or the cluster themselves) and
/// the HTTP layer's own guards.
#[derive(Debug)]
pub struct AppStateInner {
    pub registry: Arc<Registry>,
    pub stores: StoreService,
    pub rollouts: RolloutService,
    pub accounts: Accounts,
    pub audit: AuditLog,
    pub plugins: PluginAdmin,
    /// Database and cluster checks for health, readiness and metrics.
    pub probes: Probes,
    pub keys: Arc<TokenKeys>,
    pub limiters: Arc<Limiters>,
    /// Password hashing: a few threads and a bounded queue.
    pub hasher: Arc<HashingPool>,
    pub trusted_proxies: Arc<[IpNet]>,
    pub metrics: Arc<Metrics>,
    /// The circuit breaker around cluster calls (shown in health and metrics).
    pub breaker: Arc<crate::guardrails::CircuitBreaker>,
    /// Largest accepted plugin upload.
    pub max_plugin_bytes: usize,
    pub request_timeout: Duration,
}
