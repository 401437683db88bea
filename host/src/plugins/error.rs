//! Classified plugin errors. Every way a plugin can fail maps to one variant, so the API can
//! answer with a precise code and metrics can count traps by kind.

use std::fmt;

/// Why a trap ended a guest call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// The fuel budget ran out (a busy loop, or far too much work).
    OutOfFuel,
    /// The wall-clock deadline passed (epoch interruption).
    Timeout,
    /// The guest tried to grow its memory past the limit.
    MemoryLimit,
    /// The guest panicked; the message is in `stderr`.
    Panic,
    /// Any other trap (unreachable, stack overflow, bad memory access...).
    Other,
}

impl TrapKind {
    /// Stable label for metrics and error details.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutOfFuel => "out_of_fuel",
            Self::Timeout => "timeout",
            Self::MemoryLimit => "memory_limit",
            Self::Panic => "panic",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong loading, validating or calling a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a WebAssembly component (random bytes, a core module, empty).
    #[error("not a WebAssembly component: {reason}")]
    NotAComponent { reason: String },
    /// A component, but it does not export a supported version of the engine interface.
    #[error("incompatible plugin: {found}; this host supports {supported}")]
    IncompatibleVersion { found: String, supported: String },
    /// The component could not be compiled or linked (imports the sandbox does not provide).
    #[error("plugin could not be loaded: {reason}")]
    Link { reason: String },
    /// The guest trapped.
    #[error("plugin {call} trapped ({kind}): {message}{}", stderr_suffix(.stderr))]
    Trap {
        call: &'static str,
        kind: TrapKind,
        message: String,
        stderr: String,
    },
    /// The guest returned something the host refuses (too large, malformed, breaks a rule).
    #[error("plugin returned invalid output from {call}: {reason}")]
    InvalidOutput { call: &'static str, reason: String },
    /// The host refused the input before calling (too large).
    #[error("plugin input rejected: {reason}")]
    InvalidInput { reason: String },
    /// The guest declined to plan the store.
    #[error("plugin could not plan the store: {0}")]
    Plan(#[from] PlanFailure),
    /// Validation of a new version failed (smoke plans, chart rendering, conformance checks).
    #[error("plugin failed validation: {}", .problems.join("; "))]
    Validation { problems: Vec<String> },
    /// No such engine, or no such version of it, on this host.
    #[error("{0}")]
    NotFound(String),
    /// The registry's state forbids it: the version is registered with other contents, or
    /// there is nothing to roll back to.
    #[error("{0}")]
    Conflict(String),
    /// The blocking task running plugin work panicked or was cancelled (a host fault).
    #[error("plugin task failed: {0}")]
    TaskFailed(#[source] tokio::task::JoinError),
    /// Reading a plugin file or the cache directory failed.
    #[error("plugin I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl PluginError {
    /// Short stable code for API errors, logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAComponent { .. } => "not_a_component",
            Self::IncompatibleVersion { .. } => "incompatible_version",
            Self::Link { .. } => "link_error",
            Self::Trap { .. } => "trap",
            Self::InvalidOutput { .. } => "invalid_output",
            Self::InvalidInput { .. } => "invalid_input",
            Self::Plan(_) => "plan_error",
            Self::Validation { .. } => "validation_failed",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TaskFailed(_) => "task_failed",
            Self::Io { .. } => "io",
        }
    }
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; guest stderr: {}", stderr.trim())
    }
}

/// The guest's own refusal (`plan-error` in WIT).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum PlanFailure {
    /// Options the tenant can fix.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// Something this engine does not do.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A bug in the plugin.
    #[error("internal plugin error: {0}")]
    Internal(String),
}

/// Result alias of the plugin host.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;
