//! Validated store names, usernames and e-mail addresses (the rules of the Node.js control
//! plane this one replaces, kept so existing clients' input is judged the same).

use serde::Serialize;

/// Why a name was refused; the message is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// Names a tenant cannot give a store: they would be confusing in host names and URLs.
pub const RESERVED: &[&str] = &[
    "admin",
    "administrator",
    "api",
    "app",
    "apps",
    "assets",
    "auth",
    "billing",
    "blog",
    "cdn",
    "console",
    "dashboard",
    "default",
    "demo",
    "dev",
    "docs",
    "ftp",
    "git",
    "help",
    "internal",
    "kube-system",
    "kubernetes",
    "localhost",
    "login",
    "mail",
    "metrics",
    "monitoring",
    "ns",
    "null",
    "platform",
    "portal",
    "prod",
    "production",
    "root",
    "smtp",
    "staging",
    "static",
    "status",
    "store",
    "stores",
    "storeplane",
    "support",
    "system",
    "test",
    "undefined",
    "www",
];

/// A store name: 3–63 characters, a DNS label without `--`, not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct StoreName(String);

impl StoreName {
    /// Validates `text`.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let len = text.chars().count();
        if !(3..=63).contains(&len) {
            return Err(NameError("name must be 3 to 63 characters".into()));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(NameError(
                "name may contain only lowercase letters, digits and '-'".into(),
            ));
        }
        if text.starts_with('-') || text.ends_with('-') {
            return Err(NameError(
                "name must start and end with a letter or digit".into(),
            ));
        }
        if text.contains("--") {
            return Err(NameError("name must not contain '--'".into()));
        }
        if RESERVED.contains(&text) {
            return Err(NameError(format!("'{text}' is a reserved name")));
        }
        Ok(Self(text.to_owned()))
    }

    /// Trusted text from the database.
    pub fn from_db(text: String) -> Self {
        Self(text)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A username: 3–128 of `[A-Za-z0-9_-]`, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Validates `text` (after trimming).
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let text = text.trim();
        if !(3..=128).contains(&text.len()) {
            return Err(NameError("username must be 3 to 128 characters".into()));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(NameError(
                "username may contain only letters, digits, '_' and '-'".into(),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, trimmed and lower-cased; a pragmatic check (one `@`, a dotted domain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Validates `text`.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let text = text.trim().to_lowercase();
        let valid = text.len() <= 255
            && text.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !text.chars().any(|c| c.is_whitespace() || c.is_control())
            });
        if valid {
            Ok(Self(text))
        } else {
            Err(NameError("email must be a valid address".into()))
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names() {
        assert!(StoreName::parse("my-shop").is_ok());
        assert!(StoreName::parse("abc").is_ok());
        for bad in [
            "ab",
            "My-Shop",
            "-shop",
            "shop-",
            "my--shop",
            "admin",
            "shop_1",
            &"a".repeat(64),
            "sh op",
        ] {
            assert!(StoreName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_and_emails() {
        assert_eq!(
            Username::parse("  ann_1 ").map(|u| u.as_str().to_owned()),
            Ok("ann_1".into())
        );
        assert!(Username::parse("a").is_err());
        assert!(Username::parse("ann smith").is_err());
        assert_eq!(
            Email::parse(" Ann@Example.COM ").map(|e| e.as_str().to_owned()),
            Ok("ann@example.com".into())
        );
        for bad in ["ann", "ann@", "@x.com", "ann@x", "a@b@c.com", "ann @x.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
