//! Live store changes as server-sent events: `GET /stores/:id/events` (one store) and
//! `GET /stores/events` (all the caller's stores; admins: all). Each event is `event: store`
//! with the store's view as data, sent when its status, step or anything else changes: at once
//! for changes made by this replica (in-process notifications) and, on PostgreSQL, by any
//! other (the database's change feed); without a feed, within a few seconds (a periodic
//! re-read). `POST /auth/ticket` hands out the short-lived ticket an `EventSource` passes as
//! `?ticket=`, since it cannot send headers. A stream ends within seconds of its caller's
//! account being deactivated.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use tokio::sync::broadcast;

use super::error::ApiError;
use super::error::ErrorEnvelope;
use super::extract::{AppJson, AuthUser, RequestContext, StreamUser};
use super::state::AppState;
use super::views::StoreView;
use crate::db::{Store, StoreFilter};
use crate::domain::{Role, StoreId, UserId};
use crate::lifecycle::{LifecycleError, StoreChanged};
use crate::tenancy::Caller;

/// How often a stream re-reads its stores and its caller: often while other replicas' changes
/// can only be found that way, rarely while the database's change feed brings them (a safety
/// net for notifications lost across a reconnect, and the check for a deactivated caller).
const REREAD_EVERY: Duration = Duration::from_secs(2);
const REREAD_EVERY_WITH_FEED: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct TicketResponse {
    pub request_id: String,
    /// Pass as `?ticket=` to an events endpoint; valid for `expiresIn` seconds, nowhere else.
    pub ticket: String,
    pub expires_in: i64,
}

/// A ticket for opening event streams with `EventSource`.
#[utoipa::path(post, path = "/api/v1/auth/ticket", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TicketResponse), (status = 401, body = ErrorEnvelope)))]
pub(super) async fn ticket(
    State(state): State<AppState>,
    user: AuthUser,
    ctx: RequestContext,
) -> Result<AppJson<TicketResponse>, ApiError> {
    let ticket = state
        .keys
        .issue_ticket(&user.0.id, user.0.role, chrono::Utc::now().timestamp())
        .map_err(|err| ApiError::internal(&err))?;
    Ok(AppJson(TicketResponse {
        request_id: ctx.request_id,
        ticket,
        expires_in: crate::auth::TICKET_SECONDS,
    }))
}

/// What a client has seen of a store: a new event is sent when this changes.
fn fingerprint(store: &Store) -> (i64, Option<String>, chrono::DateTime<chrono::Utc>) {
    (store.version, store.current_step.clone(), store.updated_at)
}

fn event(
    state: &AppState,
    store: &Store,
    role: Role,
    owner_emails: &HashMap<UserId, String>,
) -> Event {
    let active = state
        .registry
        .active(&store.engine)
        .map(|a| a.info.version.to_string());
    Event::default()
        .event("store")
        .json_data(
            StoreView::new(store, role)
                .with_owner_email(owner_emails)
                .with_active_version(active),
        )
        .unwrap_or_else(|_| Event::default().comment("unserializable store"))
}

/// What one stream watches.
struct Watch {
    state: AppState,
    caller: Caller,
    /// One store, or every store the caller may read.
    only: Option<crate::domain::StoreId>,
    changes: broadcast::Receiver<StoreChanged>,
    seen: HashMap<String, (i64, Option<String>, chrono::DateTime<chrono::Utc>)>,
    /// Events ready to send.
    pending: Vec<Event>,
    /// Owners' e-mail addresses learnt so far (admins' streams only; addresses never change).
    owner_emails: HashMap<UserId, String>,
    /// Set once the caller's account is found deactivated or gone: the stream ends.
    ended: bool,
}

impl Watch {
    fn may_read(&self, store: &Store) -> bool {
        self.caller.role == Role::Admin || store.owner_id == self.caller.id
    }

    /// Queues an event for each of `stores` whose current state the client has not seen.
    async fn offer(&mut self, stores: &[Store]) {
        let readable: Vec<&Store> = stores.iter().filter(|s| self.may_read(s)).collect();
        let unseen: Vec<Store> = readable
            .into_iter()
            .filter(|s| self.seen.get(s.id.as_str()) != Some(&fingerprint(s)))
            .cloned()
            .collect();
        if unseen.is_empty() {
            return;
        }
        let learnt = self
            .state
            .stores
            .learn_emails(
                &self.caller,
                unseen.iter().map(|s| s.owner_id.clone()),
                &mut self.owner_emails,
            )
            .await;
        if let Err(err) = learnt {
            // The events still go out, only without the owners' addresses.
            tracing::warn!(error = %err, "event stream: reading owners' e-mail addresses failed");
        }
        for store in &unseen {
            self.seen
                .insert(store.id.as_str().to_owned(), fingerprint(store));
            self.pending.push(event(
                &self.state,
                store,
                self.caller.role,
                &self.owner_emails,
            ));
        }
    }

    /// Re-reads every watched store, after checking that the caller may still read anything.
    async fn reread(&mut self) {
        match self.state.accounts.active_user(&self.caller.id).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                self.ended = true;
                return;
            }
            Err(err) => tracing::warn!(error = %err, "event stream: re-reading the caller failed"),
        }
        let stores = match &self.only {
            Some(id) => self
                .read(id)
                .await
                .map(|s| s.into_iter().collect::<Vec<_>>()),
            None => {
                let filter = StoreFilter {
                    limit: 100,
                    ..StoreFilter::default()
                };
                self.state
                    .stores
                    .list(&self.caller, filter)
                    .await
                    .map(|page| page.items.clone())
            }
        };
        match stores {
            Ok(stores) => self.offer(&stores).await,
            Err(err) => tracing::warn!(error = %err, "event stream: re-reading stores failed"),
        }
    }

    /// Store `id` if the caller may (still) read it.
    async fn read(&self, id: &StoreId) -> Result<Option<Store>, LifecycleError> {
        match self.state.stores.get(&self.caller, id.as_str()).await {
            Ok(store) => Ok(Some(store)),
            Err(LifecycleError::NotFound | LifecycleError::Forbidden) => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn reread_every(&self) -> Duration {
        if self.state.stores.events().hears_other_replicas() {
            REREAD_EVERY_WITH_FEED
        } else {
            REREAD_EVERY
        }
    }

    /// Waits for the next events to send; `None` once the stream is over.
    async fn next_events(&mut self) -> Option<Vec<Event>> {
        loop {
            if self.ended {
                return None;
            }
            if !self.pending.is_empty() {
                return Some(std::mem::take(&mut self.pending));
            }
            let reread_every = self.reread_every();
            tokio::select! {
                change = self.changes.recv() => match change {
                    Ok(StoreChanged::Unknown) => self.reread().await,
                    Ok(StoreChanged::One(id)) => {
                        if self.only.as_ref().is_some_and(|only| *only != id) {
                            continue;
                        }
                        match self.read(&id).await {
                            Ok(Some(store)) => self.offer(&[store]).await,
                            Ok(None) => {}
                            Err(err) => tracing::warn!(error = %err, "event stream: reading a store failed"),
                        }
                    }
                    // Missed some: look at everything again.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.reread().await,
                    Err(broadcast::error::RecvError::Closed) => {
                        tokio::time::sleep(self.reread_every()).await;
                        self.reread().await;
                    }
                },
                () = tokio::time::sleep(reread_every) => self.reread().await,
            }
        }
    }
}

fn stream_of(watch: Watch) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(watch, |mut watch| async move {
        let events = watch.next_events().await?;
        Some((futures::stream::iter(events.into_iter().map(Ok)), watch))
    })
    .flatten()
}

use futures::StreamExt as _;

/// Changes of one store (status, step, endpoints, ...), starting with its current state.
#[utoipa::path(get, path = "/api/v1/stores/{id}/events", tag = "stores", security(("bearer" = [])),
    params(("id" = String, Path), ("ticket" = Option<String>, Query, description = "ticket from POST /auth/ticket, instead of the Authorization header")),
    responses((status = 200, description = "text/event-stream of `store` events", content_type = "text/event-stream"),
              (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub(super) async fn store_events(
    State(state): State<AppState>,
    user: StreamUser,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let caller = user.caller();
    let store = state.stores.get(&caller, &id).await?;
    let changes = state.stores.events().subscribe();
    let mut watch = Watch {
        state,
        caller,
        only: Some(store.id.clone()),
        changes,
        seen: HashMap::new(),
        pending: Vec::new(),
        owner_emails: HashMap::new(),
        ended: false,
    };
    watch.offer(&[store]).await;
    Ok(Sse::new(stream_of(watch)).keep_alive(KeepAlive::default()))
}

/// Changes of every store the caller may read, starting with a snapshot of them.
#[utoipa::path(get, path = "/api/v1/stores/events", tag = "stores", security(("bearer" = [])),
    params(("ticket" = Option<String>, Query, description = "ticket from POST /auth/ticket, instead of the Authorization header")),
    responses((status = 200, description = "text/event-stream of `store` events", content_type = "text/event-stream"),
              (status = 401, body = ErrorEnvelope)))]
pub(super) async fn all_events(
    State(state): State<AppState>,
    user: StreamUser,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let changes = state.stores.events().subscribe();
    let mut watch = Watch {
        state,
        caller: user.caller(),
        only: None,
        changes,
        seen: HashMap::new(),
        pending: Vec::new(),
        owner_emails: HashMap::new(),
        ended: false,
    };
    watch.reread().await;
    Ok(Sse::new(stream_of(watch)).keep_alive(KeepAlive::default()))
}
