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

/// A configuration value that cannot work; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl Config {
    /// Checks what parsing cannot: that the files and directories named exist.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(file) = &self.helm_values_file
            && !file.is_file()
        {
            return Err(ConfigError {
                variable: "HELM_VALUES_FILE",
                problem: format!("{} is not a file", file.display()),
            });
        }
        if let Some(dir) = &self.plugin_dir
            && !dir.is_dir()
        {
            return Err(ConfigError {
                variable: "PLUGIN_DIR",
                problem: format!("{} is not a directory", dir.display()),
            });
        }
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn missing_overlay_file_names_the_variable() {
        let cli = Cli::try_parse_from(["x", "--helm-values-file", "/nonexistent/values.yaml"])
            .map(|c| c.config);
        let err = cli
            .map(|c| c.validate())
            .ok()
            .and_then(Result::err)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("HELM_VALUES_FILE"), "{err}");
    }

    #[test]
    fn out_of_range_limits_are_refused_at_parse_time() {
        assert!(Cli::try_parse_from(["x", "--plugin-timeout-ms", "5"]).is_err());
        assert!(Cli::try_parse_from(["x", "--plugin-memory-mb", "1"]).is_err());
    }

    #[test]
    fn limits_follow_the_settings() {
        let config = Cli::try_parse_from([
            "x",
            "--plugin-memory-mb",
            "16",
            "--plugin-timeout-ms",
            "250",
        ])
        .map(|c| c.config);
        let limits = config.map(|c| c.plugin_limits()).ok();
        assert_eq!(limits.as_ref().map(|l| l.memory_bytes), Some(16 << 20));
        assert_eq!(limits.map(|l| l.deadline), Some(Duration::from_millis(250)));
    }
}
