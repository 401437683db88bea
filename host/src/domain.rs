//! Domain types shared by every layer: ids, roles, store statuses and the lifecycle's
//! transition table, validated names and e-mails. No I/O; parsing here is the one place
//! invalid values are stopped, so they cannot travel further in.

mod names;
mod status;

pub use names::{Email, NameError, RESERVED as RESERVED_STORE_NAMES, StoreName, Username};
pub use status::StoreStatus;

use serde::{Deserialize, Serialize};

/// A user id (UUID v4 text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl UserId {
    /// A new random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// An id as the API accepts it: a UUID in lowercase hyphenated form (what
    /// [`UserId::generate`] writes), so the API can refuse other text before any lookup.
    pub fn parse(text: &str) -> Option<Self> {
        let groups: Vec<&str> = text.split('-').collect();
        let lengths_right = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]);
        let digits_right = text
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        (lengths_right && digits_right).then(|| Self(text.to_owned()))
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A store id: 12 lowercase hex characters. The store's namespace is `store-<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoreId(String);

impl StoreId {
    /// Length of a store id in hex characters (48 random bits).
    pub const LEN: usize = 12;

    /// A new random id.
    pub fn generate() -> Self {
        let bytes: [u8; Self::LEN / 2] = rand::random();
        Self(hex::encode(bytes))
    }

    /// Parses an id from a path or the database.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == Self::LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(text.to_owned()))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The store's Kubernetes namespace.
    pub fn namespace(&self) -> String {
        format!("store-{}", self.0)
    }
}

impl std::fmt::Display for StoreId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Owns stores; sees only their own.
    Tenant,
    /// Reads everything, manages plugins; deletes only their own stores.
    Admin,
}

impl Role {
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Admin => "admin",
        }
    }

    /// Parses the database spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "tenant" => Some(Self::Tenant),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_ids_are_twelve_hex_characters() {
        let id = StoreId::generate();
        assert_eq!(id.as_str().len(), 12);
        assert_eq!(StoreId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id.namespace(), format!("store-{id}"));
        assert!(StoreId::parse("ABCDEF012345").is_none());
        assert!(StoreId::parse("abc").is_none());
        assert!(StoreId::parse("store-abcdef0123").is_none());
        let user = UserId::generate();
        assert_eq!(UserId::parse(&user.0), Some(user.clone()));
        assert!(UserId::parse(&user.0.to_uppercase()).is_none());
        assert!(UserId::parse(&user.0.replace('-', "")).is_none());
        assert!(UserId::parse("0").is_none());
    }
}
