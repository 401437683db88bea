//! Response shapes (camelCase JSON), built from records. No secrets: password hashes and
//! plugin bytes never leave through these.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::{Store, User};
use crate::domain::{Role, StoreStatus, UserId};
use crate::lifecycle::progress_of;

/// A user as shown to themselves.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserView {
    pub id: String,
    pub email: String,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.0.clone(),
            email: user.email.clone(),
            username: user.username.clone(),
            role: user.role,
            created_at: user.created_at,
        }
    }
}

/// Storefront and admin URLs (`urls`, as the Node.js control plane this one replaces shaped them).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Urls {
    pub storefront: Option<String>,
    pub admin: Option<String>,
}

/// A step of a store's provisioning (of 9) or deletion (of 2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProgressView {
    pub step: String,
    /// 1-based.
    pub index: i32,
    pub of: i32,
    /// When the step began (absent while the store is not in the pipeline, e.g. `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
}

/// A store.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct StoreView {
    pub id: String,
    pub name: String,
    pub engine: String,
    pub status: StoreStatus,
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    pub namespace: String,
    pub urls: Urls,
    #[schema(value_type = Vec<Object>)]
    pub endpoints: serde_json::Value,
    pub failure_reason: Option<String>,
    pub retry_count: i32,
    pub plugin_version: Option<String>,
    /// The engine's active version, when the store runs another (`POST
    /// /stores/{id}/upgrade` moves it there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_available: Option<String>,
    /// Its owner keeps it on its version: rollouts pass it by.
    pub pinned: bool,
    pub current_step: Option<String>,
    /// Where the store's provisioning or deletion is (absent when neither runs), e.g.
    /// `{"step": "wait", "index": 7, "of": 9, "startedAt": "2026-11-28T21:03:04Z"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressView>,
    pub provisioning_duration_ms: Option<i64>,
    /// Shown to admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// The owner's e-mail address; shown to admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StoreView {
    /// The view of `store` for a caller with `role`.
    pub(super) fn new(store: &Store, role: Role) -> Self {
        let url_of = |kind: &str| {
            store
                .endpoints
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|e| {
                    (e.get("kind").and_then(|k| k.as_str()) == Some(kind))
                        .then(|| e.get("url").and_then(|u| u.as_str()).map(str::to_owned))
                        .flatten()
                })
        };
        Self {
            id: store.id.to_string(),
            name: store.name.clone(),
            engine: store.engine.clone(),
            status: store.status,
            options: store.options.clone(),
            namespace: store.id.namespace(),
            urls: Urls {
                storefront: url_of("storefront"),
                admin: url_of("admin"),
            },
            endpoints: store.endpoints.clone(),
            failure_reason: store.failure_reason.clone(),
            retry_count: store.retry_count,
            plugin_version: store.plugin_version.clone(),
            update_available: None,
            pinned: store.pinned,
            current_step: store.current_step.clone(),
            progress: (store.status.is_busy() || store.status == StoreStatus::Failed)
                .then(|| progress_of(store.current_step.as_deref()))
                .flatten()
                .map(|p| ProgressView {
                    step: p.step,
                    index: p.index,
                    of: p.of,
                    started_at: store.step_started_at,
                }),
            provisioning_duration_ms: store
                .ready_at
                .map(|ready| (ready - store.created_at).num_milliseconds()),
            owner_id: (role == Role::Admin).then(|| store.owner_id.0.clone()),
            owner_email: None,
            created_at: store.created_at,
            updated_at: store.updated_at,
        }
    }

    /// Says which version is available when the engine's active one (`active`) differs from
    /// the one the store runs (stores that are gone or being deleted get none).
    pub(super) fn with_active_version(mut self, active: Option<String>) -> Self {
        let live = !matches!(self.status, StoreStatus::Deleting | StoreStatus::Deleted);
        self.update_available =
            active.filter(|a| live && self.plugin_version.as_deref() != Some(a.as_str()));
        self
    }

    /// Adds the owner's e-mail address from `emails` to an admin's view (others have no owner).
    pub(super) fn with_owner_email(mut self, emails: &HashMap<UserId, String>) -> Self {
        if let Some(owner) = &self.owner_id {
            self.owner_email = emails.get(&UserId(owner.clone())).cloned();
        }
        self
    }
}
