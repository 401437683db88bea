//! Admin plugin endpoints: list, upload (body = the .wasm bytes), activate, roll back,
//! disable, enable. They call the same registry the hot-loader uses.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::error::ErrorEnvelope;
use super::extract::{AdminUser, AppJson, RequestContext};
use super::state::AppState;
use crate::lifecycle::PluginAdminError;
use crate::plugins::registry::EngineListing;
use crate::plugins::{PluginError, PluginVersion};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct PluginListResponse {
    pub request_id: String,
    #[schema(value_type = Vec<Object>)]
    pub engines: Vec<EngineListing>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct PluginVersionView {
    pub engine: String,
    pub name: String,
    pub version: String,
    pub digest: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub options_schema: serde_json::Value,
    pub secrets: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct PluginResponse {
    pub request_id: String,
    pub plugin: PluginVersionView,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(super) struct RollbackBody {
    /// Version to roll back to; default: the previously active one.
    pub version: Option<String>,
}

fn view(version: &PluginVersion) -> PluginVersionView {
    PluginVersionView {
        engine: version.info.id.clone(),
        name: version.info.display_name.clone(),
        version: version.info.version.to_string(),
        digest: version.digest.to_string(),
        description: version.info.description.clone(),
        options_schema: version.info.options_schema.clone(),
        secrets: version.info.secrets.iter().map(|s| s.key.clone()).collect(),
    }
}

impl From<PluginAdminError> for ApiError {
    fn from(err: PluginAdminError) -> Self {
        match err {
            PluginAdminError::Db(err) => ApiError::from(err),
            PluginAdminError::Plugin(err) => {
                let (status, code) = match &err {
                    PluginError::NotAComponent { .. }
                    | PluginError::IncompatibleVersion { .. }
                    | PluginError::Link { .. } => (StatusCode::BAD_REQUEST, "INVALID_PLUGIN"),
                    PluginError::NotFound(_) => (StatusCode::NOT_FOUND, "PLUGIN_NOT_FOUND"),
                    PluginError::Conflict(_) => (StatusCode::CONFLICT, "PLUGIN_CONFLICT"),
                    PluginError::Io { .. } | PluginError::TaskFailed(_) => {
                        return ApiError::internal(&err);
                    }
                    _ => (StatusCode::UNPROCESSABLE_ENTITY, "PLUGIN_VALIDATION_FAILED"),
                };
                let problems = match &err {
                    PluginError::Validation { problems } => problems.clone(),
                    other => vec![other.to_string()],
                };
                ApiError::new(status, code, err.to_string())
                    .details(serde_json::json!({ "kind": err.code(), "problems": problems }))
            }
        }
    }
}

fn parse_version(text: &str) -> Result<semver::Version, ApiError> {
    semver::Version::parse(text)
        .map_err(|err| ApiError::validation(format!("version {text:?} is not semver: {err}")))
}

/// Every engine with its versions, digests and states.
#[utoipa::path(get, path = "/api/v1/admin/plugins", tag = "plugins", security(("bearer" = [])),
    responses((status = 200, body = PluginListResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    ctx: RequestContext,
) -> AppJson<PluginListResponse> {
    AppJson(PluginListResponse {
        request_id: ctx.request_id,
        engines: state.registry.list(),
    })
}

/// Uploads a plugin version (body: the component bytes). Validated, stored, not yet active.
#[utoipa::path(post, path = "/api/v1/admin/plugins", tag = "plugins", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The component (.wasm) bytes"),
    responses((status = 201, body = PluginResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 413, body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope)))]
pub(super) async fn upload(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ctx: RequestContext,
    body: Bytes,
) -> Result<(StatusCode, AppJson<PluginResponse>), ApiError> {
    let version = state
        .plugins
        .upload(body.to_vec(), &user.id, ctx.audit(Some(&user)))
        .await?;
    Ok((
        StatusCode::CREATED,
        AppJson(PluginResponse {
            request_id: ctx.request_id,
            plugin: view(&version),
        }),
    ))
}

/// Activates a registered version.
#[utoipa::path(post, path = "/api/v1/admin/plugins/{engine}/{version}/activate", tag = "plugins", security(("bearer" = [])),
    params(("engine" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = PluginResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub(super) async fn activate(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ctx: RequestContext,
    Path((engine, version)): Path<(String, String)>,
) -> Result<AppJson<PluginResponse>, ApiError> {
    let version = parse_version(&version)?;
    let activated = state
        .plugins
        .activate(&engine, &version, ctx.audit(Some(&user)))
        .await?;
    Ok(AppJson(PluginResponse {
        request_id: ctx.request_id,
        plugin: view(&activated),
    }))
}

/// Rolls back to the previous (or a named) version.
#[utoipa::path(post, path = "/api/v1/admin/plugins/{engine}/rollback", tag = "plugins", security(("bearer" = [])),
    params(("engine" = String, Path)), request_body(content = RollbackBody, content_type = "application/json"),
    responses((status = 200, body = PluginResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub(super) async fn rollback(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ctx: RequestContext,
    Path(engine): Path<String>,
    body: Bytes,
) -> Result<AppJson<PluginResponse>, ApiError> {
    // The body is optional: empty means "the previous version".
    let body: RollbackBody = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            ApiError::new(StatusCode::BAD_REQUEST, "INVALID_JSON", err.to_string())
        })?
    };
    let to = body.version.map(|v| parse_version(&v)).transpose()?;
    let activated = state
        .plugins
        .rollback(&engine, to.as_ref(), ctx.audit(Some(&user)))
        .await?;
    Ok(AppJson(PluginResponse {
        request_id: ctx.request_id,
        plugin: view(&activated),
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct EngineStateResponse {
    pub request_id: String,
    pub engine: String,
    pub disabled: bool,
}

async fn set_disabled(
    state: AppState,
    user: crate::db::User,
    ctx: RequestContext,
    engine: String,
    disabled: bool,
) -> Result<AppJson<EngineStateResponse>, ApiError> {
    state
        .plugins
        .set_disabled(&engine, disabled, ctx.audit(Some(&user)))
        .await?;
    Ok(AppJson(EngineStateResponse {
        request_id: ctx.request_id,
        engine,
        disabled,
    }))
}

/// Stops offering an engine for new stores.
#[utoipa::path(post, path = "/api/v1/admin/plugins/{engine}/disable", tag = "plugins", security(("bearer" = [])),
    params(("engine" = String, Path)),
    responses((status = 200, body = EngineStateResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope)))]
pub(super) async fn disable(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ctx: RequestContext,
    Path(engine): Path<String>,
) -> Result<AppJson<EngineStateResponse>, ApiError> {
    set_disabled(state, user, ctx, engine, true).await
}

/// Offers a disabled engine again.
#[utoipa::path(post, path = "/api/v1/admin/plugins/{engine}/enable", tag = "plugins", security(("bearer" = [])),
    params(("engine" = String, Path)),
    responses((status = 200, body = EngineStateResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope)))]
pub(super) async fn enable(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ctx: RequestContext,
    Path(engine): Path<String>,
) -> Result<AppJson<EngineStateResponse>, ApiError> {
    set_disabled(state, user, ctx, engine, false).await
}
