//! `GET /engines`: the engines tenants can create stores with.

use axum::extract::State;
use serde::Serialize;

use super::extract::{AppJson, RequestContext};
use super::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct EngineView {
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
    /// JSON Schema of the engine's options.
    #[schema(value_type = Object)]
    pub options_schema: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct EnginesResponse {
    pub request_id: String,
    pub engines: Vec<EngineView>,
}

/// Active, enabled engines.
#[utoipa::path(get, path = "/api/v1/engines", tag = "engines", responses((status = 200, body = EnginesResponse)))]
pub(super) async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> AppJson<EnginesResponse> {
    let engines = state
        .registry
        .active_engines()
        .iter()
        .map(|v| EngineView {
            id: v.info.id.clone(),
            name: v.info.display_name.clone(),
            version: v.info.version.to_string(),
            description: v.info.description.clone(),
            options_schema: v.info.options_schema.clone(),
        })
        .collect();
    AppJson(EnginesResponse {
        request_id: ctx.request_id,
        engines,
    })
}
