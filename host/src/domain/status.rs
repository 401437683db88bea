//! Store statuses and the lifecycle's transition table (README, "Day two: upgrades, resizes,
//! suspension", draws it).

use serde::{Deserialize, Serialize};

/// Where a store is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreStatus {
    Requested,
    Provisioning,
    Ready,
    Failed,
    /// Moving to another engine version or other options; ends `ready` (on the new plan, or
    /// rolled back to the old one) or `failed` when even the rollback could not finish.
    Upgrading,
    /// Workloads being scaled to zero.
    Suspending,
    /// No workload runs; volumes, Secrets and data are kept.
    Suspended,
    /// Workloads being started again.
    Resuming,
    Deleting,
    Deleted,
}

impl StoreStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 10] = [
        Self::Requested,
        Self::Provisioning,
        Self::Ready,
        Self::Failed,
        Self::Upgrading,
        Self::Suspending,
        Self::Suspended,
        Self::Resuming,
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
            Self::Upgrading => "upgrading",
            Self::Suspending => "suspending",
            Self::Suspended => "suspended",
            Self::Resuming => "resuming",
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
    /// (retry); day two: `ready → upgrading → ready | failed` (an upgrade that fails is
    /// rolled back and ends `ready`; `failed` only when the rollback could not finish either),
    /// `ready → suspending → suspended → resuming → ready`, `resuming → failed`; and every
    /// status but `deleted` → `deleting → deleted`. Deleting a store in the middle of a job is
    /// allowed: the transition cancels the job in the same transaction.
    pub fn can_become(self, to: Self) -> bool {
        use StoreStatus::*;
        matches!(
            (self, to),
            (Requested, Provisioning)
                | (Provisioning, Ready)
                | (Provisioning, Failed)
                | (Failed, Provisioning)
                | (Ready, Upgrading)
                | (Upgrading, Ready)
                | (Upgrading, Failed)
                | (Ready, Suspending)
                | (Suspending, Suspended)
                | (Suspending, Failed)
                | (Suspended, Resuming)
                | (Resuming, Ready)
                | (Resuming, Failed)
                | (
                    Requested
                        | Provisioning
                        | Ready
                        | Failed
                        | Upgrading
                        | Suspending
                        | Suspended
                        | Resuming,
                    Deleting
                )
                | (Deleting, Deleted)
        )
    }

    /// Whether a job of the store is running in this status (the dashboard shows progress).
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            Self::Requested
                | Self::Provisioning
                | Self::Upgrading
                | Self::Suspending
                | Self::Resuming
                | Self::Deleting
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
            (Ready, Upgrading),
            (Upgrading, Ready),
            (Upgrading, Failed),
            (Ready, Suspending),
            (Suspending, Suspended),
            (Suspending, Failed),
            (Suspended, Resuming),
            (Resuming, Ready),
            (Resuming, Failed),
            (Requested, Deleting),
            (Provisioning, Deleting),
            (Ready, Deleting),
            (Failed, Deleting),
            (Upgrading, Deleting),
            (Suspending, Deleting),
            (Suspended, Deleting),
            (Resuming, Deleting),
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
