//! Store statuses and the lifecycle's transition table (DESIGN.md "Lifecycle").

use serde::{Deserialize, Serialize};

/// Where a store is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreStatus {
    Requested,
    Provisioning,
    Ready,
    Failed,
    Deleting,
    Deleted,
}

impl StoreStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 6] = [
        Self::Requested,
        Self::Provisioning,
        Self::Ready,
        Self::Failed,
        Self::Deleting,
        Self::Deleted,
    ];

    /// Database and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Provisioning => "provisioning",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
        }
    }

    /// Parses the database and API spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the lifecycle allows `self → to`.
    ///
    /// `requested → provisioning → ready`, `provisioning → failed`, `failed → provisioning`
    /// (retry), `requested | provisioning | ready | failed → deleting → deleted`. Deleting a
    /// store mid-provisioning is allowed (the provisioning issue asks for it): the transition
    /// cancels the provision job in the same transaction.
    pub fn can_become(self, to: Self) -> bool {
        use StoreStatus::*;
        matches!(
            (self, to),
            (Requested, Provisioning)
                | (Provisioning, Ready)
                | (Provisioning, Failed)
                | (Failed, Provisioning)
                | (Requested | Provisioning | Ready | Failed, Deleting)
                | (Deleting, Deleted)
        )
    }

    /// Counts against the per-user store limit (everything not deleted).
    pub fn is_active(self) -> bool {
        self != Self::Deleted
    }
}

impl std::fmt::Display for StoreStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::StoreStatus::{self, *};

    #[test]
    fn transition_table_is_exactly_the_design() {
        let allowed = [
            (Requested, Provisioning),
            (Provisioning, Ready),
            (Provisioning, Failed),
            (Failed, Provisioning),
            (Requested, Deleting),
            (Provisioning, Deleting),
            (Ready, Deleting),
            (Failed, Deleting),
            (Deleting, Deleted),
        ];
        for from in StoreStatus::ALL {
            for to in StoreStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn spelling_round_trips() {
        for status in StoreStatus::ALL {
            assert_eq!(StoreStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(StoreStatus::parse("READY"), None);
    }
}
