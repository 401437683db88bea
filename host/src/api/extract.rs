//! Extractors: JSON bodies whose rejections use the error envelope, the authenticated user
//! (token verified and the user re-read from the database on every request), the client IP,
//! and the audit context of a request.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::request_id::RequestId;
use super::state::AppState;
use crate::auth::AuthError;
use crate::db::{AuditContext, User};
use crate::guardrails::client_ip;
use crate::tenancy::Caller;

/// `Json` with our error shape for malformed bodies, wrong content types and oversize bodies.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AppJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "expected Content-Type: application/json",
        ),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "request body is too large",
        ),
        JsonRejection::JsonDataError(err) => ApiError::validation(err.body_text()),
        other => ApiError::new(StatusCode::BAD_REQUEST, "INVALID_JSON", other.body_text()),
    }
}

/// The client's IP (see `guardrails::client_ip`).
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip());
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(Self(client_ip(peer, forwarded, &state.trusted_proxies)))
    }
}

/// The audit context of a request (request id + client IP; actor filled by handlers).
#[derive(Debug, Clone)]
pub(super) struct RequestContext {
    pub request_id: String,
    pub ip: IpAddr,
}

impl RequestContext {
    /// The audit context with `actor`.
    pub(super) fn audit(&self, actor: Option<&User>) -> AuditContext {
        AuditContext {
            actor_id: actor.map(|u| u.id.clone()),
            request_id: Some(self.request_id.clone()),
            ip: Some(self.ip.to_string()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        Ok(Self { request_id, ip })
    }
}

/// An authenticated, active user.
#[derive(Debug, Clone)]
pub(super) struct AuthUser(pub User);

impl AuthUser {
    /// The caller for authorization decisions.
    pub(super) fn caller(&self) -> Caller {
        caller_of(&self.0)
    }
}

fn caller_of(user: &User) -> Caller {
    Caller {
        id: user.id.clone(),
        role: user.role,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let token = bearer_token(parts)
            .ok_or(AuthError::Missing)
            .map_err(auth_error)?;
        user_of(&state, token, None).await.map(Self)
    }
}

/// The bearer token of the request, if any.
fn bearer_token(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The active user of a verified `token` whose scope is `scope` (`None`: a full API token).
async fn user_of(state: &AppState, token: &str, scope: Option<&str>) -> Result<User, ApiError> {
    let claims = state.keys.verify(token).map_err(auth_error)?;
    if claims.scope.as_deref() != scope {
        return Err(ApiError::unauthorized(
            "this token cannot be used here (tickets only open event streams)",
        ));
    }
    state
        .accounts
        .active_user(&crate::domain::UserId(claims.sub))
        .await?
        .ok_or_else(|| ApiError::unauthorized("the account no longer exists or is deactivated"))
}

/// The caller of an event stream: a bearer token, or (for `EventSource`, which cannot send
/// headers) a short-lived ticket from `POST /auth/ticket` in `?ticket=`.
#[derive(Debug, Clone)]
pub(super) struct StreamUser(pub User);

impl<S: Send + Sync> FromRequestParts<S> for StreamUser
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        if let Some(token) = bearer_token(parts) {
            return user_of(&state, token, None).await.map(Self);
        }
        let ticket = parts.uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "ticket")
                .map(|(_, v)| v.into_owned())
        });
        match ticket {
            Some(ticket) => user_of(&state, &ticket, Some(crate::auth::EVENTS_SCOPE))
                .await
                .map(Self),
            None => Err(ApiError::unauthorized(
                "authentication required: send Authorization: Bearer <token> or ?ticket=<ticket from POST /api/v1/auth/ticket>",
            )),
        }
    }
}

impl StreamUser {
    /// The caller for authorization decisions.
    pub(super) fn caller(&self) -> Caller {
        caller_of(&self.0)
    }
}

fn auth_error(err: AuthError) -> ApiError {
    match err {
        AuthError::Missing => {
            ApiError::unauthorized("authentication required: send Authorization: Bearer <token>")
        }
        AuthError::Expired => ApiError::unauthorized("token expired; log in again"),
        AuthError::Invalid | AuthError::Hash(_) => ApiError::unauthorized("token invalid"),
    }
}

/// An authenticated admin.
#[derive(Debug, Clone)]
pub(super) struct AdminUser(pub User);

impl<S: Send + Sync> FromRequestParts<S> for AdminUser
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        if user.role == crate::domain::Role::Admin {
            Ok(Self(user))
        } else {
            Err(ApiError::forbidden("admin role required"))
        }
    }
}
