//! The store lifecycle: operations tenants and admins start through the API (create, delete,
//! retry, read), with authorization, option validation against the engine's schema, and the
//! state machine's compare-and-set transitions. The durable job runner that carries stores
//! through provisioning arrives with the provisioning pipeline; here every operation records
//! its job in the same transaction as the transition.

mod plugins;
mod stores;

pub use plugins::{PluginAdmin, PluginAdminError};
pub use stores::{CreateStore, LifecycleError, StoreService, validate_options};
