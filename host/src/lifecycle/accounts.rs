//! Accounts: registration, the account a login names, the audit events of logins, and the
//! active user behind a token, read through the [`UserCache`] since every authenticated
//! request needs it. Administration of users is [`UserAdmin`], which shares the cache so a
//! deactivated account is refused from its next request on.

use std::sync::Arc;
use std::time::Instant;

use super::UserAdmin;
use super::user_cache::UserCache;
use crate::db::{AuditContext, CreateUserError, Db, DbError, NewAudit, NewUser, User};
use crate::domain::UserId;

/// The account operations of the API (any caller; policies such as rate limits stay with the
/// API, which sees the client).
#[derive(Debug, Clone)]
pub struct Accounts {
    db: Arc<dyn Db>,
    cache: Arc<UserCache>,
}

impl Accounts {
    /// Accounts in `db`, with users cached in `cache`.
    pub fn new(db: Arc<dyn Db>, cache: Arc<UserCache>) -> Self {
        Self { db, cache }
    }

    /// The cache of authenticated users (the change feed's follower drops changed users).
    pub fn cache(&self) -> &Arc<UserCache> {
        &self.cache
    }

    /// User administration, sharing this cache.
    pub fn admin(&self) -> UserAdmin {
        UserAdmin::new(Arc::clone(&self.db), Arc::clone(&self.cache))
    }

    /// Registers a tenant (the first user ever becomes admin), audited with `audit`.
    pub async fn register(
        &self,
        user: NewUser,
        audit: AuditContext,
    ) -> Result<User, CreateUserError> {
        self.db.create_user(user, false, audit).await
    }

    /// The account with e-mail address `email` (lower-cased), active or not: a login checks
    /// the password first, so an inactive account answers like a wrong password.
    pub async fn for_login(&self, email: &str) -> Result<Option<User>, DbError> {
        self.db.user_by_email(email).await
    }

    /// Records how a login went.
    pub async fn record_login(&self, event: NewAudit) -> Result<(), DbError> {
        self.db.record_audit(event).await
    }

    /// The active user `id`; `None` when it is gone or deactivated.
    pub async fn active_user(&self, id: &UserId) -> Result<Option<User>, DbError> {
        let now = Instant::now();
        if let Some(user) = self.cache.get(id, now) {
            return Ok(Some(user).filter(|u| u.active));
        }
        let read = self.cache.begin_read();
        let user = self.db.user_by_id(id).await?;
        if let Some(user) = &user {
            self.cache.store(read, user, now);
        }
        Ok(user.filter(|u| u.active))
    }
}
