//! The HTTP API (`/api/v1`): router, middleware and server. Handlers are thin: they parse,
//! call `lifecycle`/`db` read models, and shape responses. Only this module imports axum.
//!
//! Middleware, outermost first: request id → metrics → trace → security headers → CORS →
//! global per-IP rate limit → timeout → body limit (1 MiB; plugin upload has its own).

mod audit;
mod auth;
mod contract;
mod dashboard;
mod engines;
mod error;
mod events;
mod extract;
mod health;
mod openapi;
mod plugins;
mod query;
mod request_id;
mod rollouts;
mod routes;
mod state;
mod store_operations;
mod stores;
mod users;
mod views;

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use axum::Router;
pub use error::ApiError;
pub use state::{AppState, AppStateInner, Limiters};

/// Largest JSON body.
const MAX_JSON_BYTES: usize = 1 << 20;

/// The application router (without the connect-info wrapper). `dashboard_notice` is shown
/// above every dashboard page.
pub fn router(state: AppState, cors_origins: &[String], dashboard_notice: Option<&str>) -> Router {
    let (api, document) = utoipa_axum::router::OpenApiRouter::with_openapi(
        <openapi::ApiDoc as utoipa::OpenApi>::openapi(),
    )
    .merge(routes::operations(state.max_plugin_bytes))
    .split_for_parts();
    let document = std::sync::Arc::new(openapi::finish(document));
    let api = api
        .route(
            "/api/v1/openapi.json",
            get(move |State(state): State<AppState>| async move {
                openapi::serve_document(document.clone(), &state)
            }),
        )
        .route("/api/v1/docs", get(openapi::docs_page));

    let cors = if cors_origins.is_empty() {
        CorsLayer::new()
    } else {
        let origins: Vec<HeaderValue> = cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(request_id::HEADER),
            ])
            .expose_headers([
                HeaderName::from_static(request_id::HEADER),
                header::RETRY_AFTER,
            ])
    };
    let timeout = state.request_timeout;
    let shell = dashboard::shell(dashboard_notice);
    Router::new()
        .route(
            "/",
            get(move || async move { dashboard::index(shell.clone()) }),
        )
        .route("/assets/{*path}", get(dashboard::asset))
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            global_rate_limit,
        ))
        .layer(cors)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str);
                tracing::info_span!("http", method = %request.method(), route)
            }),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "Route {} {} not found.",
        request.method(),
        request.uri().path()
    ))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.observe_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Routes the global per-IP limit never applies to (health probes, metrics scrapes).
pub const UNLIMITED_PATHS: [&str; 5] = [
    "/api/v1/health",
    "/api/v1/health/live",
    "/api/v1/health/ready",
    "/api/v1/metrics",
    "/api/v1/metrics/json",
];

async fn global_rate_limit(
    State(state): State<AppState>,
    ip: extract::ClientIp,
    request: Request,
    next: Next,
) -> Response {
    // Probes and scrapers are never limited: a liveness probe answered 429 during a flood
    // gets a healthy pod restarted. Exact paths only, so no API route can borrow the exemption.
    if !UNLIMITED_PATHS.contains(&request.uri().path())
        && let Err(wait) = state
            .limiters
            .global
            .check(&crate::guardrails::client_key(ip.0), Instant::now())
    {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "too many requests; slow down",
        )
        .retry_after(wait.as_secs())
        .into_response();
    }
    next.run(request).await
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
