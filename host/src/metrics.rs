//! Prometheus metrics: HTTP requests and latency by route template (never by raw path, so
//! cardinality stays bounded), plus gauges filled at scrape time from their sources of truth
//! (stores by status from the database, plugin calls and traps from the registry, the
//! cluster circuit breaker), and the job runner's outcomes and step durations.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of one HTTP request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// Labels of one route.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

/// Labels with a status/kind value.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

/// Labels of a job count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: String,
    pub state: String,
}

/// The metrics of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_latency: Family<RouteLabels, Histogram>,
    pub stores: Family<KindLabels, Gauge>,
    pub jobs: Family<JobLabels, Gauge>,
    pub plugin_calls: Family<KindLabels, Gauge>,
    pub plugin_traps: Family<KindLabels, Gauge>,
    /// Jobs settled by this process, by kind and outcome (done, failed, retry, delayed, ...).
    pub job_outcomes: Family<JobLabels, Counter>,
    /// Duration of provisioning steps, by step.
    pub step_seconds: Family<KindLabels, Histogram>,
    /// Circuit breaker around cluster calls: 0 closed, 1 half-open, 2 open.
    pub breaker_state: Gauge,
    /// Store deletions this process found stuck (namespace still there after the deadline).
    pub deletions_stuck: Counter,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("storeplane");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        let stores = Family::<KindLabels, Gauge>::default();
        let jobs = Family::<JobLabels, Gauge>::default();
        let plugin_calls = Family::<KindLabels, Gauge>::default();
        let plugin_traps = Family::<KindLabels, Gauge>::default();
        let job_outcomes = Family::<JobLabels, Counter>::default();
        let step_seconds = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ])
        });
        let breaker_state = Gauge::default();
        let deletions_stuck = Counter::default();
        registry.register(
            "store_deletions_stuck",
            "Store deletions whose namespace was still there after DELETION_STUCK_AFTER_MS (reported once per store, with the reason in its failureReason and the audit log)",
            deletions_stuck.clone(),
        );
        registry.register(
            "job_outcomes",
            "Jobs settled by this process, by kind and outcome (state label)",
            job_outcomes.clone(),
        );
        registry.register(
            "provisioning_step_duration_seconds",
            "Duration of provisioning steps (kind label: the step)",
            step_seconds.clone(),
        );
        registry.register(
            "cluster_breaker_state",
            "Circuit breaker around cluster calls: 0 closed, 1 half-open, 2 open",
            breaker_state.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            http_latency.clone(),
        );
        registry.register(
            "stores",
            "Stores by status (read from the database at scrape time)",
            stores.clone(),
        );
        registry.register(
            "jobs",
            "Durable jobs by kind and state (read from the database at scrape time)",
            jobs.clone(),
        );
        registry.register(
            "plugin_calls",
            "Plugin calls by outcome since start",
            plugin_calls.clone(),
        );
        registry.register(
            "plugin_traps",
            "Plugin traps by kind since start",
            plugin_traps.clone(),
        );
        Self {
            registry,
            http_requests,
            http_latency,
            stores,
            jobs,
            plugin_calls,
            plugin_traps,
            deletions_stuck,
            job_outcomes,
            step_seconds,
            breaker_state,
            started: Instant::now(),
        }
    }

    /// Records one finished request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts a settled job.
    pub fn job_outcome(&self, kind: &str, outcome: &str) {
        self.job_outcomes
            .get_or_create(&JobLabels {
                kind: kind.to_owned(),
                state: outcome.to_owned(),
            })
            .inc();
    }

    /// Seconds since start.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %err, "encoding metrics failed");
        }
        text
    }
}
