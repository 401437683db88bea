//! Kubernetes-facing code: the cluster client (kube-rs) and the operations the provisioning
//! pipeline performs with it (server-side apply, namespaces and Secrets, watch-for-ready,
//! exec), the host-owned guard objects, the Helm renderer, manifests (parsing, the host's
//! allow-list of kinds) and the charts shipped inside the binary.
//!
//! Only this module imports kube and k8s-openapi.

mod access;
mod apply;
pub mod charts;
pub mod cluster;
pub mod error;
mod exec;
pub mod footprint;
pub mod guard;
pub mod helm;
pub mod manifest;
mod namespace;
pub mod pod_security;
pub mod pod_security_baseline;
pub mod quantity;
mod quota;
pub mod readiness;
mod watch_one;

pub use access::STORE_BINDING;
pub use apply::{Applied, applied_resources, pruned_resources};
pub use charts::BundledCharts;
pub use cluster::{Cluster, ClusterError};
pub use error::KubeError;
pub use exec::ExecOutput;
pub use footprint::{Ceiling, Footprint};
pub use helm::{HelmError, HelmRenderer};
pub use manifest::Manifest;
pub use quantity::Quantity;
pub use readiness::{Readiness, Workload};
