//! `/admin/rollouts`: start a rollout of an engine version to existing stores, list and read
//! rollouts with each store's result, pause, resume and abort them, and follow one live
//! (server-sent events). Administrators only.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::error::ErrorEnvelope;
use super::extract::{AppJson, AuthUser, RequestContext, StreamUser};
use super::query::{AppQuery, page};
use super::state::AppState;
use crate::db::{MemberState, Rollout, RolloutMember, RolloutState};
use crate::lifecycle::{RolloutSettings, StartRollout};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct StartRolloutBody {
    /// The engine whose stores are upgraded.
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", max_length = 63)]
    pub engine: String,
    /// A loaded version of the engine (it need not be the active one).
    #[schema(example = "0.3.0")]
    pub version: String,
    #[serde(default)]
    pub settings: RolloutSettings,
}

/// A rollout as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RolloutView {
    pub id: i64,
    pub engine: String,
    pub version: String,
    pub state: RolloutState,
    pub reason: Option<String>,
    pub settings: RolloutSettings,
    pub created_by: Option<String>,
    /// Stores per state (`pending`, `upgrading`, `upgraded`, `failed`, `skipped`, ...).
    pub counts: BTreeMap<String, usize>,
    pub next_batch_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RolloutView {
    fn new(rollout: &Rollout, members: Option<&[RolloutMember]>) -> Self {
        let mut counts = BTreeMap::new();
        for member in members.into_iter().flatten() {
            *counts.entry(member.state.as_str().to_owned()).or_insert(0) += 1;
        }
        Self {
            id: rollout.id,
            engine: rollout.engine.clone(),
            version: rollout.version.clone(),
            state: rollout.state,
            reason: rollout.reason.clone(),
            settings: serde_json::from_value(rollout.settings.clone()).unwrap_or_default(),
            created_by: rollout.created_by.as_ref().map(|u| u.0.clone()),
            counts,
            next_batch_at: rollout.next_batch_at,
            created_at: rollout.created_at,
            updated_at: rollout.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RolloutResponse {
    pub request_id: String,
    pub rollout: RolloutView,
    /// Each store of the rollout, in order, with its result.
    pub stores: Vec<RolloutMember>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RolloutListResponse {
    pub request_id: String,
    pub rollouts: Vec<RolloutView>,
    pub total: i64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct RolloutListQuery {
    #[param(minimum = 1, maximum = 100, nullable = false)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 100000, nullable = false)]
    pub offset: Option<u32>,
}

/// Starts a rollout: the canary, then batches, at most `maxInFlight` upgrades at once; it
/// stops itself when the canary fails or failures exceed the budget.
#[utoipa::path(post, path = "/api/v1/admin/rollouts", tag = "rollouts", security(("bearer" = [])),
    request_body = StartRolloutBody,
    responses((status = 201, body = RolloutResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 403, body = ErrorEnvelope),
              (status = 404, description = "The engine has no such version on this host (VERSION_NOT_FOUND)", body = ErrorEnvelope),
              (status = 409, description = "No selected store runs another version", body = ErrorEnvelope)))]
pub(super) async fn start(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    AppJson(body): AppJson<StartRolloutBody>,
) -> Result<(StatusCode, AppJson<RolloutResponse>), ApiError> {
    let caller = user.caller();
    let rollout = state
        .rollouts
        .start(
            &caller,
            StartRollout {
                engine: body.engine,
                version: body.version,
                settings: body.settings,
            },
            ctx.audit(Some(&user.0)),
        )
        .await?;
    let (rollout, members) = state.rollouts.get(&caller, rollout.id).await?;
    Ok((
        StatusCode::CREATED,
        AppJson(RolloutResponse {
            request_id: ctx.request_id,
            rollout: RolloutView::new(&rollout, Some(&members)),
            stores: members,
        }),
    ))
}

/// Rollouts, newest first.
#[utoipa::path(get, path = "/api/v1/admin/rollouts", tag = "rollouts", security(("bearer" = [])),
    params(RolloutListQuery),
    responses((status = 200, body = RolloutListResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)))]
pub(super) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    AppQuery(query): AppQuery<RolloutListQuery>,
) -> Result<AppJson<RolloutListResponse>, ApiError> {
    let (limit, offset) = page(query.limit, query.offset, 20, 100)?;
    let found = state.rollouts.list(&user.caller(), limit, offset).await?;
    Ok(AppJson(RolloutListResponse {
        request_id: ctx.request_id,
        rollouts: found
            .items
            .iter()
            .map(|r| RolloutView::new(r, None))
            .collect(),
        total: found.total,
    }))
}

/// One rollout with each store's result.
#[utoipa::path(get, path = "/api/v1/admin/rollouts/{id}", tag = "rollouts", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = RolloutResponse), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope)))]
pub(super) async fn get(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<AppJson<RolloutResponse>, ApiError> {
    let id = rollout_id(&id)?;
    let (rollout, members) = state.rollouts.get(&user.caller(), id).await?;
    Ok(AppJson(RolloutResponse {
        request_id: ctx.request_id,
        rollout: RolloutView::new(&rollout, Some(&members)),
        stores: members,
    }))
}

/// Pauses (nothing new starts), resumes or aborts a rollout (nothing new starts and the
/// current batch's upgraded stores go back to their old version).
#[utoipa::path(post, path = "/api/v1/admin/rollouts/{id}/{action}", tag = "rollouts", security(("bearer" = [])),
    params(("id" = i64, Path), ("action" = String, Path, description = "pause, resume or abort")),
    responses((status = 200, body = RolloutResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
              (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub(super) async fn steer(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
    Path((id, action)): Path<(String, String)>,
) -> Result<AppJson<RolloutResponse>, ApiError> {
    let id = rollout_id(&id)?;
    let caller = user.caller();
    state
        .rollouts
        .steer(&caller, id, &action, ctx.audit(Some(&user.0)))
        .await?;
    let (rollout, members) = state.rollouts.get(&caller, id).await?;
    Ok(AppJson(RolloutResponse {
        request_id: ctx.request_id,
        rollout: RolloutView::new(&rollout, Some(&members)),
        stores: members,
    }))
}

/// The rollout id of a path (anything else names no rollout).
fn rollout_id(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ROLLOUT_NOT_FOUND",
            format!("rollout {text} not found"),
        )
    })
}

/// How often a rollout's stream looks for changes.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// A rollout's progress and each store's result as they change (`event: rollout`, the same
/// body as `GET /admin/rollouts/{id}`), until it has ended and nothing of it runs.
#[utoipa::path(get, path = "/api/v1/admin/rollouts/{id}/events", tag = "rollouts", security(("bearer" = [])),
    params(("id" = i64, Path), ("ticket" = Option<String>, Query, description = "ticket from POST /auth/ticket, instead of the Authorization header")),
    responses((status = 200, description = "text/event-stream of `rollout` events", content_type = "text/event-stream"),
              (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub(super) async fn events(
    State(state): State<AppState>,
    user: StreamUser,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = rollout_id(&id)?;
    let caller = user.caller();
    // Refused at once when the caller may not read it or it does not exist.
    state.rollouts.get(&caller, id).await?;
    let stream = futures::stream::unfold(
        (state, caller, None::<(DateTime<Utc>, usize)>, false),
        move |(state, caller, seen, done)| async move {
            if done {
                return None;
            }
            loop {
                match state.rollouts.get(&caller, id).await {
                    Ok((rollout, members)) => {
                        let fingerprint = (
                            rollout.updated_at,
                            members
                                .iter()
                                .filter(|m| m.state != MemberState::Pending)
                                .count(),
                        );
                        let finished = !rollout.state.is_active()
                            && members.iter().all(|m| !m.state.in_flight());
                        if seen != Some(fingerprint) {
                            let body = RolloutResponse {
                                request_id: String::new(),
                                rollout: RolloutView::new(&rollout, Some(&members)),
                                stores: members,
                            };
                            let event = Event::default()
                                .event("rollout")
                                .json_data(&body)
                                .unwrap_or_else(|_| Event::default().comment("unserializable"));
                            return Some((Ok(event), (state, caller, Some(fingerprint), finished)));
                        }
                        if finished {
                            return None;
                        }
                    }
                    // The caller was deactivated, or the database is away: end the stream.
                    Err(_) => return None,
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
