//! Kubernetes-facing code. In this slice: the Helm renderer, manifests (parsing, the host's
//! allow-list of kinds) and the charts shipped inside the binary. The kube-rs client,
//! server-side apply, watches and exec arrive with the provisioning pipeline.
//!
//! Only this module imports k8s-openapi (and later kube).

pub mod charts;
pub mod helm;
pub mod manifest;

pub use charts::BundledCharts;
pub use helm::{HelmError, HelmRenderer};
pub use manifest::Manifest;
