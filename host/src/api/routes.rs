//! Every API operation, listed once: each entry both routes the requests and puts the handler's
//! `#[utoipa::path]` annotation into the OpenAPI document, so the router and the document
//! cannot disagree about which operations exist or where. The annotations hold the full path
//! (`/api/v1/...`), which is also the route.

use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::{
    AppState, audit, auth, engines, events, health, plugins, rollouts, store_operations, stores,
    users,
};

/// The documented operations. `max_plugin_bytes` bounds the plugin upload's body (every other
/// body has the router-wide JSON limit).
pub(super) fn operations(max_plugin_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::me))
        .routes(routes!(events::ticket))
        .routes(routes!(stores::create, stores::list))
        .routes(routes!(stores::get, stores::delete))
        .routes(routes!(stores::retry))
        .routes(routes!(store_operations::upgrade))
        .routes(routes!(store_operations::preview))
        .routes(routes!(store_operations::suspend))
        .routes(routes!(store_operations::pin))
        .routes(routes!(store_operations::resume))
        .routes(routes!(stores::logs))
        .routes(routes!(stores::credentials))
        .routes(routes!(events::store_events))
        .routes(routes!(events::all_events))
        .routes(routes!(audit::list))
        .routes(routes!(audit::list_logs))
        .routes(routes!(engines::list))
        .routes(
            routes!(plugins::list, plugins::upload).layer(DefaultBodyLimit::max(max_plugin_bytes)),
        )
        .routes(routes!(plugins::activate))
        .routes(routes!(plugins::rollback))
        .routes(routes!(plugins::disable))
        .routes(routes!(plugins::enable))
        .routes(routes!(rollouts::list, rollouts::start))
        .routes(routes!(rollouts::get))
        .routes(routes!(rollouts::events))
        .routes(routes!(rollouts::steer))
        .routes(routes!(users::list))
        .routes(routes!(users::deactivate))
        .routes(routes!(users::activate))
        .routes(routes!(health::health))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::metrics))
        .routes(routes!(health::metrics_json))
}
