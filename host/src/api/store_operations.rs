//! Day-two operations on a store: preview and start an upgrade (another engine version, or
//! other options such as its size), suspend and resume. Owner or admin; each is a state
//! machine transition with its job, answered 202.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::error::ErrorEnvelope;
use super::extract::{AppJson, AuthUser, RequestContext};
use super::state::AppState;
use super::stores::{StoreResponse, accepted};
use crate::lifecycle::{UpgradePreview, UpgradeRequest};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradeBody {
    /// Engine version to move to (semantic version); the engine's active version when
    /// absent. Tenants may choose only the active version (or their store's own, to resize).
    #[schema(example = "0.2.0")]
    pub version: Option<String>,
    /// Options to change; the others keep their values. Only options the engine's schema
    /// marks `x-storeplane-changeable` may change after creation.
    #[schema(value_type = Option<Object>)]
    pub options: Option<serde_json::Value>,
}

impl From<UpgradeBody> for UpgradeRequest {
    fn from(body: UpgradeBody) -> Self {
        Self {
            version: body.version,
            options: body.options,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct PreviewResponse {
    pub request_id: String,
    pub preview: UpgradePreview,
}

/// What upgrading (or resizing) the store would change: objects added, changed (with the
/// fields), removed and kept, the plan's values, the upgrade and setup steps that would run,
/// and any change Kubernetes cannot make (then the upgrade would be refused). Changes nothing.
#[utoipa::path(post, path = "/api/v1/stores/{id}/upgrade/preview", tag = "stores", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpgradeBody,
    responses((status = 200, body = PreviewResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
pub(super) async fn preview(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path(id): Path<String>,
    AppJson(body): AppJson<UpgradeBody>,
) -> Result<AppJson<PreviewResponse>, ApiError> {
    let request = body.into();
    let preview = state
        .stores
        .preview_upgrade(&user.caller(), &id, &request)
        .await?;
    Ok(AppJson(PreviewResponse {
        request_id: ctx.request_id,
        preview,
    }))
}

/// Starts upgrading (or resizing) a ready store; it is `upgrading` until it is `ready` on the
/// new version, or `ready` on its old one with the failure recorded (rolled back).
#[utoipa::path(post, path = "/api/v1/stores/{id}/upgrade", tag = "stores", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpgradeBody,
    responses((status = 202, body = StoreResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub(super) async fn upgrade(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path(id): Path<String>,
    AppJson(body): AppJson<UpgradeBody>,
) -> Result<(StatusCode, AppJson<StoreResponse>), ApiError> {
    let request = body.into();
    let store = state
        .stores
        .upgrade(&user.caller(), &id, &request, ctx.audit(Some(&user.0)))
        .await?;
    accepted(&state, ctx, "Store upgrade initiated.", &store, &user).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PinBody {
    /// `true`: stay on the current version (rollouts pass the store by); `false`: follow
    /// rollouts again.
    pub pinned: bool,
}

/// Pins the store to its engine version, or unpins it (owner only). Rollouts pass pinned
/// stores by unless the administrator includes them (a security fix).
#[utoipa::path(post, path = "/api/v1/stores/{id}/pin", tag = "stores", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PinBody,
    responses((status = 200, body = StoreResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub(super) async fn pin(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path(id): Path<String>,
    AppJson(body): AppJson<PinBody>,
) -> Result<AppJson<StoreResponse>, ApiError> {
    let store = state
        .stores
        .pin(&user.caller(), &id, body.pinned, ctx.audit(Some(&user.0)))
        .await?;
    let (_, AppJson(response)) = accepted(&state, ctx, "Store updated.", &store, &user).await?;
    Ok(AppJson(response))
}

/// Suspends a ready store: its workloads are scaled to zero and its compute quota released;
/// its volumes, Secrets and data are kept. It still counts against the store limit.
#[utoipa::path(post, path = "/api/v1/stores/{id}/suspend", tag = "stores", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 202, body = StoreResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub(super) async fn suspend(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<(StatusCode, AppJson<StoreResponse>), ApiError> {
    let store = state
        .stores
        .suspend(&user.caller(), &id, ctx.audit(Some(&user.0)))
        .await?;
    accepted(&state, ctx, "Store suspension initiated.", &store, &user).await
}

/// Resumes a suspended store; it is `ready` again once its workloads pass the readiness
/// checks of provisioning.
#[utoipa::path(post, path = "/api/v1/stores/{id}/resume", tag = "stores", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 202, body = StoreResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub(super) async fn resume(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<(StatusCode, AppJson<StoreResponse>), ApiError> {
    let store = state
        .stores
        .resume(&user.caller(), &id, ctx.audit(Some(&user.0)))
        .await?;
    accepted(&state, ctx, "Store resumption initiated.", &store, &user).await
}
