//! `GET /audit` and `GET /audit/logs` (the same handler): admins see every event, tenants the
//! events they caused or that concern their stores.

use std::collections::HashMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::error::ErrorEnvelope;
use super::extract::{AppJson, AuthUser, RequestContext};
use super::query::{AppQuery, page, user_id_param};
use super::state::AppState;
use crate::db::{AuditEvent, AuditFilter};
use crate::domain::{StoreId, UserId};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 100000, nullable = false)]
    pub offset: Option<u32>,
    #[serde(rename = "storeId")]
    #[param(nullable = false, pattern = "^[0-9a-f]{12}$")]
    pub store_id: Option<String>,
    /// Action, e.g. `store.create`, `auth.login_failed`, `plugin.activate`.
    #[serde(rename = "eventType")]
    #[param(nullable = false)]
    pub event_type: Option<String>,
    /// Only events this user caused (a user id).
    #[serde(rename = "actorId")]
    #[param(
        nullable = false,
        pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
    pub actor_id: Option<String>,
}

/// An audit event; admins also get the actor's e-mail address.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuditEventView {
    #[serde(flatten)]
    pub event: AuditEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_email: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuditResponse {
    pub request_id: String,
    #[schema(value_type = Vec<Object>)]
    pub logs: Vec<AuditEventView>,
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub(super) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<AppJson<AuditResponse>, ApiError> {
    let (limit, offset) = page(query.limit, query.offset, 100, 500)?;
    let store_id = match query.store_id.as_deref() {
        Some(id) => Some(
            StoreId::parse(id).ok_or_else(|| ApiError::validation("storeId is not a store id"))?,
        ),
        None => None,
    };
    let found = state
        .audit
        .list(
            &user.caller(),
            AuditFilter {
                store_id,
                action: query.event_type,
                actor: user_id_param("actorId", query.actor_id.as_deref())?,
                limit,
                offset,
                // Set by the audit log from the caller.
                visible_to: None,
            },
        )
        .await?;
    let mut actor_emails = HashMap::new();
    let actors = found
        .items
        .iter()
        .filter_map(|e| e.actor_id.clone().map(UserId));
    state
        .stores
        .learn_emails(&user.caller(), actors, &mut actor_emails)
        .await?;
    let logs = found
        .items
        .into_iter()
        .map(|event| AuditEventView {
            actor_email: event
                .actor_id
                .as_ref()
                .and_then(|id| actor_emails.get(&UserId(id.clone())).cloned()),
            event,
        })
        .collect();
    Ok(AppJson(AuditResponse {
        request_id: ctx.request_id,
        logs,
        total: found.total,
        limit,
        offset,
    }))
}

/// Same as `/audit` (the path the Node.js control plane this one replaces documented).
#[utoipa::path(get, path = "/api/v1/audit/logs", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)))]
pub(super) async fn list_logs(
    state: State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    query: AppQuery<AuditQuery>,
) -> Result<AppJson<AuditResponse>, ApiError> {
    list(state, user, ctx, query).await
}
