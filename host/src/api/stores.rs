//! `/stores`: create (202), list, get, delete (202), retry (202), logs, credentials. Day-two
//! operations (upgrade, suspend, resume) are in `store_operations`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::error::ErrorEnvelope;
use super::extract::{AppJson, AuthUser, RequestContext};
use super::query::{AppQuery, page, user_id_param};
use super::state::AppState;
use super::views::StoreView;
use crate::db::{AuditEvent, StoreFilter};
use crate::domain::StoreStatus;
use crate::lifecycle::CreateStore;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct CreateStoreBody {
    /// 3–63 characters, lowercase DNS label, no `--`, not reserved.
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
    )]
    pub name: String,
    /// An active engine id (`GET /engines`).
    pub engine: String,
    /// Engine options, validated against the engine's JSON Schema.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct StoreResponse {
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    pub store: StoreView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct StoreListResponse {
    pub request_id: String,
    pub stores: Vec<StoreView>,
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// Without it, deleted stores are left out.
    #[param(nullable = false)]
    pub status: Option<StoreStatus>,
    #[param(
        nullable = false,
        pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
        max_length = 63
    )]
    pub engine: Option<String>,
    /// Admins only: one owner's stores.
    #[serde(rename = "ownerId")]
    #[param(
        nullable = false,
        pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
    pub owner_id: Option<String>,
    #[param(minimum = 1, maximum = 100, nullable = false)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 100000, nullable = false)]
    pub offset: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct LogsQuery {
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 100000, nullable = false)]
    pub offset: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct LogsResponse {
    pub request_id: String,
    pub store_id: String,
    #[schema(value_type = Vec<Object>)]
    pub logs: Vec<AuditEvent>,
    pub total: i64,
}

/// The caller's views of `stores`; an admin's carry each owner's e-mail address.
async fn views_of(
    state: &AppState,
    user: &AuthUser,
    stores: &[crate::db::Store],
) -> Result<Vec<StoreView>, ApiError> {
    let mut emails = HashMap::new();
    let owners = stores.iter().map(|s| s.owner_id.clone());
    state
        .stores
        .learn_emails(&user.caller(), owners, &mut emails)
        .await?;
    Ok(stores
        .iter()
        .map(|s| {
            let active = state
                .registry
                .active(&s.engine)
                .map(|a| a.info.version.to_string());
            StoreView::new(s, user.0.role)
                .with_owner_email(&emails)
                .with_active_version(active)
        })
        .collect())
}

/// The caller's view of one store.
async fn view_of(
    state: &AppState,
    user: &AuthUser,
    store: &crate::db::Store,
) -> Result<StoreView, ApiError> {
    let mut views = views_of(state, user, std::slice::from_ref(store)).await?;
    Ok(views.remove(0))
}

/// The 202 answer of an operation that started work on a store.
pub(super) async fn accepted(
    state: &AppState,
    ctx: RequestContext,
    message: &'static str,
    store: &crate::db::Store,
    user: &AuthUser,
) -> Result<(StatusCode, AppJson<StoreResponse>), ApiError> {
    let store = view_of(state, user, store).await?;
    Ok((
        StatusCode::ACCEPTED,
        AppJson(StoreResponse {
            request_id: ctx.request_id,
            message: Some(message),
            store,
        }),
    ))
}

/// Creates a store and starts provisioning it.
#[utoipa::path(post, path = "/api/v1/stores", tag = "stores", security(("bearer" = [])), request_body = CreateStoreBody,
    responses((status = 202, body = StoreResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
pub(super) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    AppJson(body): AppJson<CreateStoreBody>,
) -> Result<(StatusCode, AppJson<StoreResponse>), ApiError> {
    let request = CreateStore {
        name: body.name,
        engine: body.engine,
        options: body.options,
    };
    let store = state
        .stores
        .create(&user.caller(), request, ctx.audit(Some(&user.0)))
        .await?;
    accepted(
        &state,
        ctx,
        "Store creation initiated. Provisioning is in progress.",
        &store,
        &user,
    )
    .await
}

/// Lists the caller's stores (admins: every store). Deleted stores only with `status=deleted`.
#[utoipa::path(get, path = "/api/v1/stores", tag = "stores", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = StoreListResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub(super) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<AppJson<StoreListResponse>, ApiError> {
    let (limit, offset) = page(query.limit, query.offset, 50, 100)?;
    let owner = user_id_param("ownerId", query.owner_id.as_deref())?;
    if let Some(engine) = query.engine.as_deref()
        && !crate::plugins::validate::is_dns_label(engine)
    {
        return Err(ApiError::validation(
            "engine is not an engine id (a DNS label of at most 63 characters)",
        ));
    }
    let filter = StoreFilter {
        owner,
        status: query.status,
        engine: query.engine,
        limit,
        offset,
    };
    let found = state.stores.list(&user.caller(), filter).await?;
    Ok(AppJson(StoreListResponse {
        request_id: ctx.request_id,
        stores: views_of(&state, &user, &found.items).await?,
        total: found.total,
        limit,
        offset,
    }))
}

/// One store.
#[utoipa::path(get, path = "/api/v1/stores/{id}", tag = "stores", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = StoreResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope)))]
pub(super) async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<AppJson<StoreResponse>, ApiError> {
    let store = state.stores.get(&user.caller(), &id).await?;
    Ok(AppJson(StoreResponse {
        request_id: ctx.request_id,
        message: None,
        store: view_of(&state, &user, &store).await?,
    }))
}

/// Starts deleting a store (owner only).
#[utoipa::path(delete, path = "/api/v1/stores/{id}", tag = "stores", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 202, body = StoreResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<(StatusCode, AppJson<StoreResponse>), ApiError> {
    let store = state
        .stores
        .delete(&user.caller(), &id, ctx.audit(Some(&user.0)))
        .await?;
    accepted(&state, ctx, "Store deletion initiated.", &store, &user).await
}

/// Retries a failed store (owner only).
#[utoipa::path(post, path = "/api/v1/stores/{id}/retry", tag = "stores", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 202, body = StoreResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub(super) async fn retry(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<(StatusCode, AppJson<StoreResponse>), ApiError> {
    let store = state
        .stores
        .retry(&user.caller(), &id, ctx.audit(Some(&user.0)))
        .await?;
    accepted(
        &state,
        ctx,
        "Store retry initiated. Provisioning will restart.",
        &store,
        &user,
    )
    .await
}

/// The store's audit history, newest first.
#[utoipa::path(get, path = "/api/v1/stores/{id}/logs", tag = "stores", security(("bearer" = [])),
    params(("id" = String, Path), LogsQuery),
    responses((status = 200, body = LogsResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope)))]
pub(super) async fn logs(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path(id): Path<String>,
    AppQuery(query): AppQuery<LogsQuery>,
) -> Result<AppJson<LogsResponse>, ApiError> {
    let (limit, offset) = page(query.limit, query.offset, 100, 500)?;
    let store = state.stores.get(&user.caller(), &id).await?;
    let found = state
        .audit
        .history_of(&user.caller(), &store, limit, offset)
        .await?;
    Ok(AppJson(LogsResponse {
        request_id: ctx.request_id,
        store_id: store.id.to_string(),
        logs: found.items,
        total: found.total,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CredentialsView {
    pub username: String,
    pub password: String,
    pub admin_url: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CredentialsResponse {
    pub request_id: String,
    pub credentials: CredentialsView,
}

/// The engine admin login of the caller's store, read from its Kubernetes Secret (never
/// stored by the control plane). Owner only; every reveal is audited.
#[utoipa::path(get, path = "/api/v1/stores/{id}/credentials", tag = "stores", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = CredentialsResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 503, body = ErrorEnvelope)))]
pub(super) async fn credentials(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let credentials = state
        .stores
        .credentials(&user.caller(), &id, ctx.audit(Some(&user.0)))
        .await?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        AppJson(CredentialsResponse {
            request_id: ctx.request_id,
            credentials: CredentialsView {
                username: credentials.username,
                password: credentials.password,
                admin_url: credentials.admin_url,
            },
        }),
    ))
}
