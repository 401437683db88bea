//! `POST /auth/register`, `POST /auth/login`, `GET /auth/me`.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{AppJson, AuthUser, RequestContext};
use super::state::AppState;
use super::views::UserView;
use crate::auth;
use crate::db::{CreateUserError, NewAudit, NewUser};
use crate::domain::{Email, UserId, Username};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RegisterBody {
    #[schema(format = "email", max_length = 255)]
    pub email: String,
    #[schema(min_length = 3, max_length = 128, pattern = "^[A-Za-z0-9_-]+$")]
    pub username: String,
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    pub request_id: String,
    pub message: &'static str,
    pub user: UserView,
    pub token: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    pub request_id: String,
    pub user: UserView,
}

fn issue(state: &AppState, user: &crate::db::User) -> Result<String, ApiError> {
    state
        .keys
        .issue(&user.id, user.role, chrono::Utc::now().timestamp())
        .map_err(|err| ApiError::internal(&err))
}

/// Registers a user; the first user ever becomes admin.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterBody,
    responses((status = 201, body = AuthResponse), (status = 400, body = super::openapi::ErrorEnvelope),
              (status = 409, body = super::openapi::ErrorEnvelope), (status = 429, body = super::openapi::ErrorEnvelope)))]
pub async fn register(
    State(state): State<AppState>,
    ctx: RequestContext,
    AppJson(body): AppJson<RegisterBody>,
) -> Result<(StatusCode, AppJson<AuthResponse>), ApiError> {
    if let Err(wait) = state
        .limiters
        .register
        .check(&ctx.ip.to_string(), Instant::now())
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "REGISTRATION_RATE_LIMITED",
            "too many registrations; try again later",
        )
        .retry_after(wait.as_secs()));
    }
    let email = Email::parse(&body.email).map_err(|e| ApiError::validation(e.0))?;
    let username = Username::parse(&body.username).map_err(|e| ApiError::validation(e.0))?;
    if !(8..=128).contains(&body.password.chars().count()) {
        return Err(ApiError::validation("password must be 8 to 128 characters"));
    }
    let password = body.password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|err| ApiError::internal(&err))?
        .map_err(|err| ApiError::internal(&err))?;
    let new = NewUser {
        id: UserId::generate(),
        email,
        username,
        password_hash: hash,
    };
    let user = state
        .db
        .create_user(new, false, ctx.audit(None))
        .await
        .map_err(|err| match err {
            CreateUserError::Exists => ApiError::new(
                StatusCode::CONFLICT,
                "USER_EXISTS",
                "a user with this email or username already exists",
            ),
            CreateUserError::Db(err) => ApiError::from(err),
        })?;
    let token = issue(&state, &user)?;
    Ok((
        StatusCode::CREATED,
        AppJson(AuthResponse {
            request_id: ctx.request_id,
            message: "Registration successful.",
            user: (&user).into(),
            token,
        }),
    ))
}

/// Logs in with e-mail and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = AuthResponse), (status = 401, body = super::openapi::ErrorEnvelope),
              (status = 429, body = super::openapi::ErrorEnvelope)))]
pub async fn login(
    State(state): State<AppState>,
    ctx: RequestContext,
    AppJson(body): AppJson<LoginBody>,
) -> Result<AppJson<AuthResponse>, ApiError> {
    let email = body.email.trim().to_lowercase();
    let key = format!("{}|{email}", ctx.ip);
    if let Err(wait) = state.limiters.login.check(&key, Instant::now()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "LOGIN_RATE_LIMITED",
            "too many login attempts; try again later",
        )
        .retry_after(wait.as_secs()));
    }
    let user = state.db.user_by_email(&email).await?;
    let hash = user.as_ref().map_or_else(
        || auth::decoy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let password = body.password;
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|err| ApiError::internal(&err))?;
    match user {
        Some(user) if matches && user.active => {
            let mut event = NewAudit::new(ctx.audit(Some(&user)), "auth.login", "login succeeded");
            event.details = serde_json::json!({ "email": email });
            state.db.record_audit(event).await?;
            let token = issue(&state, &user)?;
            Ok(AppJson(AuthResponse {
                request_id: ctx.request_id,
                message: "Login successful.",
                user: (&user).into(),
                token,
            }))
        }
        user => {
            let mut event = NewAudit::new(
                ctx.audit(user.as_ref()),
                "auth.login_failed",
                "login failed",
            );
            event.details = serde_json::json!({ "email": email });
            state.db.record_audit(event).await?;
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "invalid email or password",
            ))
        }
    }
}

/// The authenticated user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = super::openapi::ErrorEnvelope)))]
pub async fn me(user: AuthUser, ctx: RequestContext) -> AppJson<MeResponse> {
    AppJson(MeResponse {
        request_id: ctx.request_id,
        user: (&user.0).into(),
    })
}
