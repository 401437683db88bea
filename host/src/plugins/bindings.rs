//! Host bindings, one module per supported major version of the WIT package
//! `storeplane:engine`. A component is matched to a module by the version in the name of the
//! engine interface it exports; each module converts its generated types into [`super::model`].

pub mod v1;

/// Name prefix of the exported engine interface, before `@<version>`.
pub const ENGINE_INTERFACE: &str = "storeplane:engine/engine";

/// Major versions this host has bindings for, for error messages.
pub const SUPPORTED: &str = "storeplane:engine@1.x (built against 1.0.0)";

/// Which bindings module fits a component that exports `interface_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingsVersion {
    V1,
}

impl BindingsVersion {
    /// The bindings for a given exported interface version, if any.
    pub fn for_version(version: &semver::Version) -> Option<Self> {
        match version.major {
            1 => Some(Self::V1),
            _ => None,
        }
    }
}
