//! `GET /health` (detailed), `/health/live` and `/health/ready` (probes), `GET /metrics`
//! (Prometheus text) and `GET /metrics/json`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;

use super::extract::{AppJson, RequestContext};
use super::state::AppState;
use crate::metrics::KindLabels;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Check {
    /// `ok`, `error` or `not_configured`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Checks {
    pub database: Check,
    pub kubernetes: Check,
    pub plugins: Check,
    /// The circuit breaker around cluster calls: `closed`, `half_open` or `open` (while open,
    /// provisioning and deletion jobs wait instead of failing).
    pub circuit_breaker: Check,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct HealthResponse {
    pub request_id: String,
    /// `healthy` or `degraded`.
    pub status: &'static str,
    pub timestamp: chrono::DateTime<chrono::Utc>,
    pub checks: Checks,
}

/// Health of the database, the cluster connection and the plugin registry.
#[utoipa::path(get, path = "/api/v1/health", tag = "operations",
    responses((status = 200, body = HealthResponse), (status = 503, body = HealthResponse)))]
pub(super) async fn health(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> impl IntoResponse {
    let database = match state.probes.database().await {
        Ok(()) => Check {
            status: "ok",
            detail: None,
        },
        Err(err) => {
            tracing::warn!(error = %err, "health: database unreachable");
            Check {
                status: "error",
                detail: Some("database unreachable".into()),
            }
        }
    };
    let engines = state.registry.active_engines().len();
    let plugins = if engines > 0 {
        Check {
            status: "ok",
            detail: Some(format!("{engines} active engines")),
        }
    } else {
        Check {
            status: "error",
            detail: Some("no active engine".into()),
        }
    };
    let kubernetes = match state
        .probes
        .cluster_version(std::time::Duration::from_secs(3))
        .await
    {
        None => Check {
            status: "not_configured",
            detail: Some("KUBECONFIG unset and not running in a pod".into()),
        },
        Some(Ok(version)) => Check {
            status: "ok",
            detail: Some(format!("API server {version}")),
        },
        Some(Err(err)) => {
            tracing::warn!(error = %err, "health: cluster unreachable");
            Check {
                status: "error",
                detail: Some("cluster unreachable".into()),
            }
        }
    };
    // Without a configured cluster the API still serves (development, tests); a configured
    // cluster that does not answer means stores cannot be provisioned: degraded.
    let breaker = state.breaker.state();
    let circuit_breaker = Check {
        status: breaker.as_str(),
        detail: (breaker != crate::guardrails::BreakerState::Closed).then(|| {
            "cluster calls are failing: jobs are delayed until the cluster answers".into()
        }),
    };
    let healthy = database.status == "ok" && plugins.status == "ok" && kubernetes.status != "error";
    let body = HealthResponse {
        request_id: ctx.request_id,
        status: if healthy { "healthy" } else { "degraded" },
        timestamp: chrono::Utc::now(),
        checks: Checks {
            database,
            kubernetes,
            plugins,
            circuit_breaker,
        },
    };
    (
        if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        AppJson(body),
    )
}

/// Liveness: the process serves requests. Depends on nothing else, so an outage of the
/// database or the cluster never gets replicas restarted.
#[utoipa::path(get, path = "/api/v1/health/live", tag = "operations", responses((status = 200, description = "alive")))]
pub(super) async fn live() -> StatusCode {
    StatusCode::OK
}

/// Readiness: the database answers and an engine is active (the API can do its work). The
/// cluster is not part of it: while the cluster is down the API still serves, and jobs wait.
#[utoipa::path(get, path = "/api/v1/health/ready", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, body = super::error::ErrorEnvelope)))]
pub(super) async fn ready(
    State(state): State<AppState>,
) -> Result<StatusCode, super::error::ApiError> {
    if let Err(err) = state.probes.database().await {
        tracing::warn!(error = %err, "readiness: database unreachable");
        return Err(unavailable("the database does not answer"));
    }
    if state.registry.active_engines().is_empty() {
        return Err(unavailable("no engine is active"));
    }
    Ok(StatusCode::OK)
}

fn unavailable(message: &str) -> super::error::ApiError {
    super::error::ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "NOT_READY", message)
}

/// Refreshes the scrape-time gauges from their sources.
async fn refresh(state: &AppState) {
    state
        .metrics
        .breaker_state
        .set(state.breaker.state().as_gauge());
    match state.probes.store_counts().await {
        Ok(counts) => {
            for status in crate::domain::StoreStatus::ALL {
                let n = counts
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, n)| *n);
                state
                    .metrics
                    .stores
                    .get_or_create(&KindLabels {
                        kind: status.as_str().to_owned(),
                    })
                    .set(n);
            }
        }
        Err(err) => tracing::warn!(error = %err, "metrics: cannot count stores"),
    }
    match state.probes.job_counts().await {
        Ok(counts) => {
            for (kind, job_state, n) in counts {
                state
                    .metrics
                    .jobs
                    .get_or_create(&crate::metrics::JobLabels {
                        kind,
                        state: job_state,
                    })
                    .set(n);
            }
        }
        Err(err) => tracing::warn!(error = %err, "metrics: cannot count jobs"),
    }
    for (outcome, n) in state.registry.stats().snapshot() {
        let labels = KindLabels {
            kind: outcome.to_owned(),
        };
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        state.metrics.plugin_calls.get_or_create(&labels).set(n);
        if !matches!(
            outcome,
            "ok" | "plan_error"
                | "invalid_output"
                | "invalid_input"
                | "conflict"
                | "not_found"
                | "task_failed"
        ) {
            state.metrics.plugin_traps.get_or_create(&labels).set(n);
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus/OpenMetrics text format", content_type = "application/openmetrics-text")))]
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    refresh(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct MetricsJson {
    pub request_id: String,
    pub uptime_seconds: f64,
    #[schema(value_type = Object)]
    pub stores: serde_json::Value,
    #[schema(value_type = Object)]
    pub plugin_calls: serde_json::Value,
}

/// The main figures as JSON.
#[utoipa::path(get, path = "/api/v1/metrics/json", tag = "operations", responses((status = 200, body = MetricsJson)))]
pub(super) async fn metrics_json(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> Result<AppJson<MetricsJson>, super::error::ApiError> {
    let stores: serde_json::Map<String, serde_json::Value> = state
        .probes
        .store_counts()
        .await?
        .into_iter()
        .map(|(status, n)| (status.as_str().to_owned(), n.into()))
        .collect();
    let calls: serde_json::Map<String, serde_json::Value> = state
        .registry
        .stats()
        .snapshot()
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n.into()))
        .collect();
    Ok(AppJson(MetricsJson {
        request_id: ctx.request_id,
        uptime_seconds: state.metrics.uptime_seconds(),
        stores: stores.into(),
        plugin_calls: calls.into(),
    }))
}
