//! Admin user endpoints: `GET /admin/users` (with store counts) and
//! `POST /admin/users/{id}/deactivate|activate`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::error::ErrorEnvelope;
use super::extract::{AdminUser, AppJson, RequestContext};
use super::query::{AppQuery, page};
use super::state::AppState;
use crate::db::{User, UserSummary};
use crate::domain::Role;
use crate::lifecycle::UserAdminError;

/// A user as admins see them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct AdminUserView {
    pub id: String,
    pub email: String,
    pub username: String,
    pub role: Role,
    /// `false`: the user can neither log in nor use an earlier token.
    pub active: bool,
    /// Stores that are not deleted (present in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_stores: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl AdminUserView {
    fn new(user: &User, active_stores: Option<i64>) -> Self {
        Self {
            id: user.id.0.clone(),
            email: user.email.clone(),
            username: user.username.clone(),
            role: user.role,
            active: user.active,
            active_stores,
            created_at: user.created_at,
        }
    }
}

impl From<&UserSummary> for AdminUserView {
    fn from(summary: &UserSummary) -> Self {
        Self::new(&summary.user, Some(summary.active_stores))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct UsersQuery {
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 100000, nullable = false)]
    pub offset: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserListResponse {
    pub request_id: String,
    pub users: Vec<AdminUserView>,
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct AdminUserResponse {
    pub request_id: String,
    pub user: AdminUserView,
}

impl From<UserAdminError> for ApiError {
    fn from(err: UserAdminError) -> Self {
        let message = err.to_string();
        match err {
            UserAdminError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", message)
            }
            UserAdminError::OwnAccount => ApiError::new(StatusCode::CONFLICT, "CONFLICT", message),
            UserAdminError::Db(err) => ApiError::from(err),
        }
    }
}

/// Every user, oldest first, with their number of stores (admin only).
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(UsersQuery),
    responses((status = 200, body = UserListResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 403, body = ErrorEnvelope)))]
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    ctx: RequestContext,
    AppQuery(query): AppQuery<UsersQuery>,
) -> Result<AppJson<UserListResponse>, ApiError> {
    let (limit, offset) = page(query.limit, query.offset, 100, 500)?;
    let found = state.accounts.admin().list(limit, offset).await?;
    Ok(AppJson(UserListResponse {
        request_id: ctx.request_id,
        users: found.items.iter().map(AdminUserView::from).collect(),
        total: found.total,
        limit,
        offset,
    }))
}

async fn set_active(
    state: AppState,
    admin: AdminUser,
    ctx: RequestContext,
    id: &str,
    active: bool,
) -> Result<AppJson<AdminUserResponse>, ApiError> {
    let user = state
        .accounts
        .admin()
        .set_active(&admin.0.id, id, active, ctx.audit(Some(&admin.0)))
        .await?;
    Ok(AppJson(AdminUserResponse {
        request_id: ctx.request_id,
        user: AdminUserView::new(&user, None),
    }))
}

/// Deactivates a user: they can no longer log in, and tokens issued earlier stop working.
/// Their stores keep running. Admins cannot deactivate themselves.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/deactivate", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = AdminUserResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub(super) async fn deactivate(
    State(state): State<AppState>,
    admin: AdminUser,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<AppJson<AdminUserResponse>, ApiError> {
    set_active(state, admin, ctx, &id, false).await
}

/// Reactivates a user.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/activate", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = AdminUserResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope)))]
pub(super) async fn activate(
    State(state): State<AppState>,
    admin: AdminUser,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<AppJson<AdminUserResponse>, ApiError> {
    set_active(state, admin, ctx, &id, true).await
}
