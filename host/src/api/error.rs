//! `ApiError`: the one place domain errors become HTTP status codes and the error envelope
//! `{ "requestId", "error": { "code", "message", "retryable", "details"? } }`. 5xx bodies never
//! carry internal messages; those are logged with the request id.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::request_id::current_request_id;
use crate::lifecycle::LifecycleError;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retryable: bool,
    pub details: Option<serde_json::Value>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

/// The error envelope every error response uses (and the OpenAPI document describes).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorEnvelope {
    pub request_id: String,
    pub error: ErrorBody,
}

/// The `error` member of the envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ErrorBody {
    /// Stable machine code, e.g. `VALIDATION_ERROR`, `STORE_LIMIT_EXCEEDED`.
    pub code: String,
    pub message: String,
    pub retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// What the code needs: an object (e.g. `{"limit": 5}`) or a list of problems.
    #[schema(value_type = Option<Value>)]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retryable: false,
            details: None,
            retry_after: None,
        }
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self.retryable = true;
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// An internal failure: logged in full, answered without details.
    pub fn internal(err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, request_id = %current_request_id(), "internal error");
        Self {
            retryable: true,
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "internal error",
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let envelope = ErrorEnvelope {
            request_id: current_request_id(),
            error: ErrorBody {
                code: self.code.to_owned(),
                message: self.message,
                retryable: self.retryable,
                details: self.details,
            },
        };
        let mut response = (self.status, Json(envelope)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<LifecycleError> for ApiError {
    fn from(err: LifecycleError) -> Self {
        use LifecycleError as E;
        let message = err.to_string();
        match err {
            E::NotFound => Self::new(StatusCode::NOT_FOUND, "STORE_NOT_FOUND", message),
            E::RolloutNotFound(_) => Self::new(StatusCode::NOT_FOUND, "ROLLOUT_NOT_FOUND", message),
            E::Forbidden | E::NotAllowed(_) => Self::forbidden(message),
            E::UpgradeRefused(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "UPGRADE_REFUSED", message)
            }
            E::Validation(_) => Self::validation(message),
            E::InvalidOptions(problems) => {
                Self::validation(message).details(serde_json::json!(problems))
            }
            E::UnknownEngine(_) => Self::validation(message),
            E::VersionNotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "VERSION_NOT_FOUND", message)
            }
            E::NameTaken(_) => Self::new(StatusCode::CONFLICT, "CONFLICT", message),
            E::LimitExceeded { limit } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "STORE_LIMIT_EXCEEDED",
                message,
            )
            .details(serde_json::json!({ "limit": limit })),
            E::Cooldown { retry_after } => {
                let seconds = retry_after.as_secs_f64().ceil() as u64;
                Self::new(StatusCode::TOO_MANY_REQUESTS, "CREATION_COOLDOWN", message)
                    .details(serde_json::json!({ "retryAfterMs": retry_after.as_millis() }))
                    .retry_after(seconds)
            }
            E::InvalidTransition { from, to } => {
                Self::new(StatusCode::CONFLICT, "INVALID_STATE_TRANSITION", message)
                    .details(serde_json::json!({ "from": from, "to": to }))
            }
            E::Conflict { current } => {
                Self::new(StatusCode::CONFLICT, "INVALID_STATE_TRANSITION", message)
                    .details(serde_json::json!({ "current": current }))
            }
            E::NotReady(_) => Self::new(StatusCode::CONFLICT, "NOT_READY", message),
            E::Busy(_) => Self::new(StatusCode::CONFLICT, "CONFLICT", message),
            E::ClusterUnavailable(_) => Self {
                retryable: true,
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "CLUSTER_UNAVAILABLE",
                    message,
                )
            },
            E::Db(err) => Self::internal(&err),
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(err: crate::db::DbError) -> Self {
        Self::internal(&err)
    }
}
