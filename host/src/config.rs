//! Configuration, read once in `main` from the environment (and equivalent CLI flags). Library
//! code never reads the environment. Every variable is documented here; invalid values abort
//! start-up with a message naming the variable (clap does this for parsing errors).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::k8s::{BundledCharts, HelmRenderer};
use crate::plugins::Limits;

/// Settings of the plugin host, Helm and local state.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Directory for local state: plugin artifact cache, extracted charts (and the SQLite
    /// database by default).
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Helm binary used to render charts.
    #[arg(long, env = "HELM_BIN", default_value = "helm")]
    pub helm_bin: PathBuf,

    /// Operator overlay values file applied after each plan's values (e.g. the chart's
    /// values-local.yaml or values-vps.yaml).
    #[arg(long, env = "HELM_VALUES_FILE")]
    pub helm_values_file: Option<PathBuf>,

    /// Time limit of one `helm template` run, in milliseconds.
    #[arg(long, env = "HELM_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub helm_timeout_ms: u64,

    /// Directory watched for engine plugins (`*.wasm`); new or changed files are validated and
    /// activated. Unset disables hot-loading.
    #[arg(long, env = "PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,

    /// How often PLUGIN_DIR is scanned, in milliseconds.
    #[arg(long, env = "PLUGIN_SCAN_INTERVAL_MS", default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub plugin_scan_interval_ms: u64,

    /// Memory limit of one plugin call, in MiB.
    #[arg(long, env = "PLUGIN_MEMORY_MB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(8..=4096))]
    pub plugin_memory_mb: u64,

    /// Wall-clock limit of one plugin call, in milliseconds.
    #[arg(long, env = "PLUGIN_TIMEOUT_MS", default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub plugin_timeout_ms: u64,

    /// Fuel (≈ instructions) of one plugin call.
    #[arg(long, env = "PLUGIN_FUEL", default_value_t = 2_000_000_000, value_parser = clap::value_parser!(u64).range(1_000_000..))]
    pub plugin_fuel: u64,
}

impl Config {
    /// Limits of each plugin call.
    pub fn plugin_limits(&self) -> Limits {
        Limits {
            memory_bytes: usize::try_from(self.plugin_memory_mb << 20).unwrap_or(usize::MAX),
            fuel: self.plugin_fuel,
            deadline: Duration::from_millis(self.plugin_timeout_ms),
            ..Limits::default()
        }
    }

    /// Where precompiled plugin artifacts are cached.
    pub fn plugin_cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache").join("plugins")
    }

    /// The Helm renderer.
    pub fn helm(&self) -> HelmRenderer {
        HelmRenderer::new(
            &self.helm_bin,
            Duration::from_millis(self.helm_timeout_ms),
            self.helm_values_file.clone(),
        )
    }

    /// The bundled charts, written out under the data directory.
    pub fn charts(&self) -> BundledCharts {
        BundledCharts::new(self.data_dir.join("charts"))
    }
}
