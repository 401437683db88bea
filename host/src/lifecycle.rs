//! The store lifecycle: operations tenants and admins start through the API (create, delete,
//! retry, read, upgrade and resize, suspend and resume) with authorization, option validation and the state machine's compare-and-set
//! transitions, each recording its job in the same transaction; and the durable job runner
//! that carries stores through the provisioning pipeline, upgrades, suspension and deletion.
//!
//! | file | purpose |
//! |---|---|
//! | `stores` | store operations of the API |
//! | `store_operations` | day-two store operations: upgrade, resize, suspend, resume, pin |
//! | `plugins` | plugin administration (upload, activate, roll back, disable) |
//! | `users` | user administration (list with store counts, deactivate, reactivate) |
//! | `runner` | workers, leases, heartbeats, retry/backoff, settling outcomes |
//! | `job` | a running job's context and its step errors |
//! | `provision` | the pipeline steps 1–9 |
//! | `deletion` | the delete job |
//! | `upgrade` | the upgrade job (and resize): preview, apply, migrate, prune, switch |
//! | `upgrade_rollback` | rolling a failed upgrade back to the store's plan |
//! | `changes` | what moving between two rendered plans changes (objects, values, refusals) |
//! | `suspension` | the suspend and resume jobs |
//! | `rollouts` | rollouts as administrators start and steer them |
//! | `rollout_driver` | driving rollouts: batches, concurrency, failure budget, abort |
//! | `record` | the per-store provisioning record and progress view |
//! | `render_failures` | disabling an engine whose renders keep failing |
//! | `events` | in-process store change notifications (event streams) |

mod accounts;
mod audit_log;
mod changes;
mod deletion;
mod events;
mod job;
mod list_cache;
mod plugin_source;
mod plugins;
mod probes;
mod provision;
pub mod record;
mod render;
mod render_failures;
mod rollout_driver;
mod rollouts;
mod runner;
mod setup_steps;
mod store_operations;
mod stores;
mod suspension;
mod upgrade;
mod upgrade_rollback;
mod user_cache;
mod users;

pub use accounts::Accounts;
pub use audit_log::AuditLog;
pub use changes::{ChangedObject, ObjectChanges, ObjectRef, ValueChange};
pub use events::{StoreChanged, StoreEvents};
pub use job::{JobContext, StepError};
pub use plugins::{PluginAdmin, PluginAdminError};
pub use probes::Probes;
pub use provision::{CREDENTIALS_SECRET, Pipeline, PipelineSettings, generate_secret};
pub use record::{Progress, progress_of};
pub use render_failures::RenderFailures;
pub use rollout_driver::RolloutDriver;
pub use rollouts::{RolloutService, RolloutSettings, StartRollout};
pub use runner::{JobRunner, RunnerSettings};
pub use store_operations::{CHANGEABLE, UpgradeRequest};
pub use stores::{CreateStore, Credentials, LifecycleError, StoreService, validate_options};
pub use upgrade::UpgradePreview;
pub use user_cache::UserCache;
pub use users::{UserAdmin, UserAdminError};
