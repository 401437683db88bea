//! Host-side types of the engine contract, independent of any WIT bindings version: the rest of
//! the host (API, lifecycle, conformance) only ever sees these. Each bindings module converts
//! its generated types into them.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// sha256 of a plugin's wasm bytes, lowercase hex. Identifies one plugin build exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PluginDigest(String);

impl PluginDigest {
    /// Digest of `wasm`.
    pub fn of(wasm: &[u8]) -> Self {
        Self(hex::encode(Sha256::digest(wasm)))
    }

    /// A digest from its hex form (as stored), if it is one.
    pub fn parse(hex: &str) -> Option<Self> {
        (hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then(|| Self(hex.to_owned()))
    }

    /// The hex string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First 12 hex characters, for logs and tables.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl std::fmt::Display for PluginDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret the host generates for every store of an engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRequest {
    pub key: String,
    pub description: String,
    pub length: u32,
}

/// Where an engine's chart comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartSource {
    /// A chart shipped with the host, by name.
    Bundled(String),
    /// A packaged chart carried by the plugin (bytes of a .tgz).
    #[serde(skip_serializing, skip_deserializing)]
    Embedded(Vec<u8>),
}

/// Permission to run `programs` in `container`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecGrant {
    pub container: String,
    pub programs: Vec<String>,
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineInfo {
    pub id: String,
    pub display_name: String,
    pub version: semver::Version,
    pub description: String,
    pub options_schema: serde_json::Value,
    pub secrets: Vec<SecretRequest>,
    pub chart: ChartSource,
    pub exec: Vec<ExecGrant>,
}

/// What the host tells a plugin about one store (no secret values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreSpec {
    pub store_id: String,
    pub name: String,
    pub namespace: String,
    pub hostname: String,
    pub tls: bool,
    pub owner_email: String,
    /// Tenant options as a JSON object.
    #[serde(default = "empty_object")]
    pub options: serde_json::Value,
    pub credentials_secret: String,
    #[serde(default)]
    pub ingress_class: Option<String>,
    #[serde(default)]
    pub storage_class: Option<String>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// One post-install command run by exec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupStep {
    pub name: String,
    pub description: String,
    pub pod_selector: Vec<(String, String)>,
    pub container: String,
    pub command: Vec<String>,
    pub timeout_seconds: u32,
    pub attempts: u32,
}

/// What an endpoint is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    Storefront,
    Admin,
    Api,
}

/// A URL shown to the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub kind: EndpointKind,
    pub label: String,
    pub url: String,
}

/// Kinds of workloads the host waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

impl WorkloadKind {
    /// The Kubernetes `kind`.
    pub fn as_kind(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
        }
    }
}

/// A workload that must be ready before setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadRef {
    pub kind: WorkloadKind,
    pub name: String,
}

/// The engine's admin account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminLogin {
    pub username: String,
    pub password_key: String,
}

/// A plugin's plan for one store, checked by the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentPlan {
    /// Helm values (a JSON object).
    pub values: serde_json::Map<String, serde_json::Value>,
    pub setup: Vec<SetupStep>,
    pub endpoints: Vec<Endpoint>,
    pub ready_when: Vec<WorkloadRef>,
    pub admin_login: Option<AdminLogin>,
}
