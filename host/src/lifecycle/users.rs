//! User administration: admins list the platform's users with their store counts and
//! deactivate or reactivate accounts. A deactivated user can neither log in nor use a token
//! issued earlier (the change drops the user from the cache of authenticated users, on every
//! replica through the change feed); their stores keep running and stay visible to admins.
//! Every change is audited in the same transaction.

use std::sync::Arc;

use super::user_cache::UserCache;
use crate::db::{AuditContext, Db, DbError, NewAudit, Page, User, UserSummary};
use crate::domain::UserId;

/// Why a user operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserAdminError {
    #[error("user not found")]
    NotFound,
    /// Deactivating oneself would lock the caller (possibly the last admin) out.
    #[error("you cannot deactivate your own account")]
    OwnAccount,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Admin operations on users (the API checks the caller is an admin).
#[derive(Debug, Clone)]
pub struct UserAdmin {
    db: Arc<dyn Db>,
    cache: Arc<UserCache>,
}

impl UserAdmin {
    /// Administration of the users in `db`; changed users are dropped from `cache`.
    pub fn new(db: Arc<dyn Db>, cache: Arc<UserCache>) -> Self {
        Self { db, cache }
    }

    /// One page of users, oldest first, with their store counts.
    pub async fn list(&self, limit: u32, offset: u32) -> Result<Page<UserSummary>, DbError> {
        self.db.list_users(limit, offset).await
    }

    /// Activates or deactivates the user `id` on behalf of `admin`.
    pub async fn set_active(
        &self,
        admin: &UserId,
        id: &str,
        active: bool,
        context: AuditContext,
    ) -> Result<User, UserAdminError> {
        let id = UserId(id.to_owned());
        if !active && id == *admin {
            return Err(UserAdminError::OwnAccount);
        }
        let target = self
            .db
            .user_by_id(&id)
            .await?
            .ok_or(UserAdminError::NotFound)?;
        let (action, verb) = if active {
            ("user.activated", "reactivated")
        } else {
            ("user.deactivated", "deactivated")
        };
        let mut audit = NewAudit::new(context, action, format!("user {} {verb}", target.username));
        audit.details = serde_json::json!({ "userId": id.0, "email": target.email });
        let changed = self.db.set_user_active(&id, active, audit).await;
        // Dropped whatever the outcome: an error may follow a commit.
        self.cache.forget(&id);
        changed?.ok_or(UserAdminError::NotFound)
    }
}
