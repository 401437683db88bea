//! Who may do what with a store. Pure decisions, used by the API before any change.

use crate::domain::{Role, UserId};

/// The caller of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: UserId,
    pub role: Role,
}

/// What a caller wants to do with a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    /// Read the store, its logs, its progress.
    Read,
    /// Delete or retry it, read its credentials.
    Manage,
    /// Upgrade, resize, suspend or resume it (its owner, or an administrator operating the
    /// platform: a rollout, a suspension for abuse).
    Operate,
}

/// Whether `caller` may perform `action` on a store owned by `owner`: owners may do
/// everything; admins may read and operate every store but manage (delete, retry, see the
/// credentials of) only their own.
pub fn allowed(caller: &Caller, owner: &UserId, action: StoreAction) -> bool {
    match action {
        StoreAction::Read | StoreAction::Operate => {
            caller.id == *owner || caller.role == Role::Admin
        }
        StoreAction::Manage => caller.id == *owner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_manage_admins_only_read() {
        let owner = UserId("owner".into());
        let me = Caller {
            id: owner.clone(),
            role: Role::Tenant,
        };
        let other = Caller {
            id: UserId("other".into()),
            role: Role::Tenant,
        };
        let admin = Caller {
            id: UserId("admin".into()),
            role: Role::Admin,
        };
        for action in [StoreAction::Read, StoreAction::Manage, StoreAction::Operate] {
            assert!(allowed(&me, &owner, action));
            assert!(!allowed(&other, &owner, action));
        }
        assert!(allowed(&admin, &owner, StoreAction::Read));
        assert!(!allowed(&admin, &owner, StoreAction::Manage));
        assert!(allowed(&admin, &owner, StoreAction::Operate));
    }
}
