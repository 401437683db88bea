//! Query strings with our error shape, and pagination bounds.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `Query` whose rejection is a 400 `VALIDATION_ERROR` envelope.
#[derive(Debug, Clone)]
pub(super) struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| ApiError::validation(rejection.body_text()))
    }
}

/// The user id in query parameter `name`, if given; 400 when it is not one.
pub(super) fn user_id_param(
    name: &str,
    value: Option<&str>,
) -> Result<Option<crate::domain::UserId>, ApiError> {
    value
        .map(|id| {
            crate::domain::UserId::parse(id)
                .ok_or_else(|| ApiError::validation(format!("{name} is not a user id")))
        })
        .transpose()
}

/// The largest `offset` of any list (the OpenAPI document states it): deeper pages are
/// narrowed with filters instead, since the database still walks every skipped row.
pub(super) const MAX_OFFSET: u32 = 100_000;

/// Checks `limit` (1..=max, default `default`) and `offset` (0..=[`MAX_OFFSET`]) and returns
/// (limit, offset).
pub(super) fn page(
    limit: Option<u32>,
    offset: Option<u32>,
    default: u32,
    max: u32,
) -> Result<(u32, u32), ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::validation(format!("limit must be 1 to {max}")));
    }
    let offset = offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::validation(format!(
            "offset must be 0 to {MAX_OFFSET}"
        )));
    }
    Ok((limit, offset))
}
