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
use crate::guardrails::LoginRefusal;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct RegisterBody {
    #[schema(format = "email", max_length = 255)]
    pub email: String,
    #[schema(min_length = 3, max_length = 128, pattern = "^[A-Za-z0-9_-]+$")]
    pub username: String,
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct LoginBody {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuthResponse {
    pub request_id: String,
    pub message: &'static str,
    pub user: UserView,
    pub token: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct MeResponse {
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
    responses((status = 201, body = AuthResponse), (status = 400, body = super::error::ErrorEnvelope),
              (status = 409, body = super::error::ErrorEnvelope), (status = 429, body = super::error::ErrorEnvelope),
              (status = 503, body = super::error::ErrorEnvelope)))]
pub(super) async fn register(
    State(state): State<AppState>,
    ctx: RequestContext,
    AppJson(body): AppJson<RegisterBody>,
) -> Result<(StatusCode, AppJson<AuthResponse>), ApiError> {
    if let Err(wait) = state
        .limiters
        .register
        .check(&crate::guardrails::client_key(ctx.ip), Instant::now())
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
    let hash = state
        .hasher
        .hash(body.password)
        .await
        .map_err(|err| match err {
            auth::HashError::Busy(busy) => hashing_busy(busy),
            auth::HashError::Auth(err) => ApiError::internal(&err),
        })?;
    let new = NewUser {
        id: UserId::generate(),
        email,
        username,
        password_hash: hash,
    };
    let user = state
        .accounts
        .register(new, ctx.audit(None))
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
    responses((status = 200, body = AuthResponse), (status = 401, body = super::error::ErrorEnvelope),
              (status = 429, body = super::error::ErrorEnvelope), (status = 503, body = super::error::ErrorEnvelope)))]
pub(super) async fn login(
    State(state): State<AppState>,
    ctx: RequestContext,
    AppJson(body): AppJson<LoginBody>,
) -> Result<AppJson<AuthResponse>, ApiError> {
    let email = body.email.trim().to_lowercase();
    if let Err(refusal) = state.limiters.login.admit(ctx.ip, &email, Instant::now()) {
        return Err(login_refused(refusal));
    }
    let user = state.accounts.for_login(&email).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let matches = state
        .hasher
        .verify(body.password, hash)
        .await
        .map_err(hashing_busy)?;
    match user {
        Some(user) if matches && user.active => {
            state
                .limiters
                .login
                .succeeded(ctx.ip, &email, Instant::now());
            let mut event = NewAudit::new(ctx.audit(Some(&user)), "auth.login", "login succeeded");
            event.details = serde_json::json!({ "email": email });
            state.accounts.record_login(event).await?;
            let token = issue(&state, &user)?;
            Ok(AppJson(AuthResponse {
                request_id: ctx.request_id,
                message: "Login successful.",
                user: (&user).into(),
                token,
            }))
        }
        user => {
            state.limiters.login.failed(ctx.ip, &email, Instant::now());
            let mut event = NewAudit::new(
                ctx.audit(user.as_ref()),
                "auth.login_failed",
                "login failed",
            );
            event.details = serde_json::json!({ "email": email });
            state.accounts.record_login(event).await?;
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "invalid email or password",
            ))
        }
    }
}

/// Every hashing thread is busy and the queue is full: come back in a second rather than
/// queue without bound (each hash holds 19 MiB while it runs).
fn hashing_busy(_: auth::HashBusy) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "AUTH_BUSY",
        "the server is busy checking passwords; try again in a moment",
    )
    .retry_after(1)
}

/// A login refused before its password was checked, explained with the time to wait.
fn login_refused(refusal: LoginRefusal) -> ApiError {
    let (code, message) = match refusal {
        LoginRefusal::Source(_) => (
            "LOGIN_RATE_LIMITED",
            "too many login attempts; try again later",
        ),
        LoginRefusal::Address(_) => (
            "LOGIN_RATE_LIMITED",
            "too many failed logins from this address; try again later",
        ),
        LoginRefusal::Account(_) => (
            "ACCOUNT_LOGIN_LOCKED",
            "too many failed logins for this account from several addresses; try again later, \
             or from an address this account has logged in from before",
        ),
        LoginRefusal::Global(_) => (
            "LOGIN_RATE_LIMITED",
            "the service is refusing logins for a moment after many failed attempts; try again later",
        ),
    };
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        .retry_after(refusal.wait().as_secs().max(1))
}

/// The authenticated user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = super::error::ErrorEnvelope)))]
pub(super) async fn me(user: AuthUser, ctx: RequestContext) -> AppJson<MeResponse> {
    AppJson(MeResponse {
        request_id: ctx.request_id,
        user: (&user.0).into(),
    })
}
