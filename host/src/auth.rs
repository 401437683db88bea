//! Authentication: argon2id password hashes and HS256 JWTs with `exp`, `iat`, `iss` and `sub`.
//! No I/O; the API re-checks the user in the database on every request, so a deactivated
//! user's token stops working at once. The server hashes on [`HashingPool`] (bounded threads,
//! memory and queue); [`hash_password`] is for one-off use (the CLI).

mod hashing;

pub use hashing::{HashBusy, HashError, HashingPool};

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::{Role, UserId};

/// Issuer written into and required from every token.
pub const ISSUER: &str = "storeplane";

/// Why authentication failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("token missing")]
    Missing,
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Claims of a storeplane token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// User id.
    pub sub: String,
    pub role: Role,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    /// Set on narrow, short-lived tokens (tickets): such a token is accepted only where its
    /// scope is, never as a bearer token of the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Scope of an event-stream ticket (for `EventSource`, which cannot send headers).
pub const EVENTS_SCOPE: &str = "events";
/// Lifetime of an event-stream ticket, in seconds.
pub const TICKET_SECONDS: i64 = 60;

/// Issues and verifies tokens with one HS256 secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    lifetime: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("secret", &"[redacted]")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

impl TokenKeys {
    /// Keys from `secret`, issuing tokens valid for `lifetime`.
    pub fn new(secret: &[u8], lifetime: Duration) -> Result<Self, AuthError> {
        let encoding = EncodingKey::from_secret(secret).map_err(|_| AuthError::Invalid)?;
        let decoding = DecodingKey::from_secret(secret).map_err(|_| AuthError::Invalid)?;
        Ok(Self {
            encoding,
            decoding,
            lifetime,
        })
    }

    /// Lifetime of issued tokens.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A token for `user` issued at `now` (unix seconds).
    pub fn issue(&self, user: &UserId, role: Role, now: i64) -> Result<String, AuthError> {
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        self.sign(user, role, now, lifetime, None)
    }

    /// A ticket for `user` to open event streams, valid for [`TICKET_SECONDS`].
    pub fn issue_ticket(&self, user: &UserId, role: Role, now: i64) -> Result<String, AuthError> {
        self.sign(user, role, now, TICKET_SECONDS, Some(EVENTS_SCOPE))
    }

    fn sign(
        &self,
        user: &UserId,
        role: Role,
        now: i64,
        lifetime: i64,
        scope: Option<&str>,
    ) -> Result<String, AuthError> {
        let claims = Claims {
            sub: user.0.clone(),
            role,
            iss: ISSUER.into(),
            iat: now,
            exp: now.saturating_add(lifetime),
            scope: scope.map(str::to_owned),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| AuthError::Invalid)
    }

    /// Verifies signature, algorithm, issuer and expiry (no leeway).
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })
    }
}

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes) on the calling
/// thread, for one-off use; the server hashes on [`HashingPool`].
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    hashing::hash_once(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(
            b"test-secret-test-secret-test-secret",
            Duration::from_secs(3600),
        )
        .unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn tokens_round_trip_and_carry_the_standard_claims() {
        let now = chrono::Utc::now().timestamp();
        let token = keys()
            .issue(&UserId("u1".into()), Role::Admin, now)
            .unwrap_or_default();
        let claims = keys().verify(&token);
        assert_eq!(
            claims,
            Ok(Claims {
                sub: "u1".into(),
                role: Role::Admin,
                iss: ISSUER.into(),
                iat: now,
                exp: now + 3600,
                scope: None,
            })
        );
    }

    #[test]
    fn tickets_are_scoped_and_short_lived() {
        let now = chrono::Utc::now().timestamp();
        let ticket = keys()
            .issue_ticket(&UserId("u1".into()), Role::Tenant, now)
            .unwrap_or_default();
        let claims = keys().verify(&ticket).unwrap_or_else(|_| unreachable!());
        assert_eq!(claims.scope.as_deref(), Some(EVENTS_SCOPE));
        assert_eq!(claims.exp - claims.iat, TICKET_SECONDS);
    }

    #[test]
    fn expired_forged_and_garbage_tokens_are_refused() {
        let long_ago = chrono::Utc::now().timestamp() - 7200;
        let expired = keys()
            .issue(&UserId("u1".into()), Role::Tenant, long_ago)
            .unwrap_or_default();
        assert_eq!(keys().verify(&expired), Err(AuthError::Expired));
        let other = TokenKeys::new(
            b"another-secret-another-secret-xx",
            Duration::from_secs(3600),
        )
        .unwrap_or_else(|_| unreachable!());
        let forged = other
            .issue(
                &UserId("u1".into()),
                Role::Admin,
                chrono::Utc::now().timestamp(),
            )
            .unwrap_or_default();
        assert_eq!(keys().verify(&forged), Err(AuthError::Invalid));
        assert_eq!(keys().verify("not.a.token"), Err(AuthError::Invalid));
    }
}
