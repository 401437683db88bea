//! Kubernetes-facing code: the cluster client (kube-rs), the Helm renderer, manifests
//! (parsing, the host's allow-list of kinds) and the charts shipped inside the binary.
//! Server-side apply, watches and exec arrive with the provisioning pipeline.
//!
//! Only this module imports kube and k8s-openapi.

pub mod charts;
pub mod cluster;
pub mod helm;
pub mod manifest;

pub use charts::BundledCharts;
pub use cluster::{Cluster, ClusterError};
pub use helm::{HelmError, HelmRenderer};
pub use manifest::Manifest;
