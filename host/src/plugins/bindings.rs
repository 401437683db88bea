//! Host bindings, one module per supported major version of the WIT package
//! `storeplane:engine`. A component is matched to a module by the version in the name of the
//! engine interface it exports; each module converts its generated types into [`super::model`].

pub mod v1;
pub mod v1_1;

/// Name prefix of the exported engine interface, before `@<version>`.
pub const ENGINE_INTERFACE: &str = "storeplane:engine/engine";

/// Versions this host has bindings for, for error messages.
pub const SUPPORTED: &str = "storeplane:engine@1.x (bindings for 1.0.0 and 1.1.0)";

/// Which bindings fit a component that exports `interface_version`. Within a major version
/// each minor version only adds optional interfaces, so a component is called through the
/// bindings of every version up to its own: `engine` through 1.0's (Wasmtime matches a
/// semver-compatible export), and from 1.1 on `lifecycle` when the component exports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BindingsVersion {
    V1_0,
    V1_1,
}

impl BindingsVersion {
    /// The bindings for a given exported interface version, if any (a later 1.x minor than
    /// this host knows gets the newest it has: what it adds is optional).
    pub fn for_version(version: &semver::Version) -> Option<Self> {
        match (version.major, version.minor) {
            (1, 0) => Some(Self::V1_0),
            (1, _) => Some(Self::V1_1),
            _ => None,
        }
    }
}
