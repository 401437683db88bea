//! Configuration, read once in `main` from the environment (and equivalent CLI flags). Library
//! code never reads the environment. Every variable is documented here; invalid values abort
//! start-up with a message naming the variable (clap does this for parsing errors).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::k8s::quantity::Quantity;
use crate::k8s::{BundledCharts, Ceiling, HelmRenderer};
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

    /// Memory one `helm template` run may use (its heap), in MiB. A chart is untrusted input:
    /// a render that needs more is stopped, not the control plane. The bundled chart needs
    /// about 50.
    #[arg(long, env = "HELM_MEMORY_LIMIT_MB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(64..=65_536))]
    pub helm_memory_limit_mb: u64,

    /// CPU time one `helm template` run may use, in seconds (all its threads together).
    #[arg(long, env = "HELM_CPU_LIMIT_S", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub helm_cpu_limit_s: u64,

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
    /// Most CPU one store may use (sum of its pods' limits, rolling-update surge included); a
    /// store whose plan needs more fails at provisioning, and `plugin check` reports it.
    #[arg(long, env = "STORE_MAX_CPU", default_value = "8", value_parser = parse_quantity)]
    pub store_max_cpu: Quantity,
    /// Most memory one store may use (limits, like STORE_MAX_CPU).
    #[arg(long, env = "STORE_MAX_MEMORY", default_value = "16Gi", value_parser = parse_quantity)]
    pub store_max_memory: Quantity,
    /// Most storage one store's PersistentVolumeClaims may request.
    #[arg(long, env = "STORE_MAX_STORAGE", default_value = "100Gi", value_parser = parse_quantity)]
    pub store_max_storage: Quantity,

    /// Most node-local disk one store may use (limits of `ephemeral-storage`: writable
    /// layers, logs and emptyDir volumes of all its pods, counted like STORE_MAX_CPU; a
    /// container that names none gets 1Gi from the store's LimitRange).
    #[arg(long, env = "STORE_MAX_EPHEMERAL_STORAGE", default_value = "20Gi", value_parser = parse_quantity)]
    pub store_max_ephemeral_storage: Quantity,

    /// Longest time a store's pod may take to stop (`terminationGracePeriodSeconds` of pods
    /// and probes), in seconds: it holds up deletions and roll-outs.
    #[arg(long, env = "STORE_MAX_GRACE_PERIOD_S", default_value_t = 120, value_parser = clap::value_parser!(i64).range(0..=86_400))]
    pub store_max_grace_period_s: i64,

    /// Most retries (`backoffLimit`) of a store's Job.
    #[arg(long, env = "STORE_MAX_JOB_RETRIES", default_value_t = 6, value_parser = clap::value_parser!(i64).range(0..=1_000))]
    pub store_max_job_retries: i64,

    /// Most pods a store's Job runs at once, and most completions it asks for.
    #[arg(long, env = "STORE_MAX_JOB_PARALLELISM", default_value_t = 4, value_parser = clap::value_parser!(i64).range(1..=1_000))]
    pub store_max_job_parallelism: i64,

    /// Longest total time of a plan's setup steps (each step's time limit times its
    /// attempts), in seconds.
    #[arg(long, env = "SETUP_TOTAL_MAX_S", default_value_t = 7_200, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub setup_total_max_s: u64,
    /// Annotations store Ingresses may carry (comma-separated exact keys, e.g.
    /// `cert-manager.io/cluster-issuer`); none by default: ingress controllers read
    /// configuration snippets, aliases and middlewares from annotations.
    #[arg(
        long,
        env = "INGRESS_ANNOTATIONS_ALLOWED",
        default_value = "",
        value_delimiter = ','
    )]
    pub ingress_annotations_allowed: Vec<String>,
    /// Most pods one store may run at once.
    #[arg(long, env = "STORE_MAX_PODS", default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub store_max_pods: i64,
}

fn parse_cidr(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Ok(String::new()); // INGRESS_SOURCE_CIDRS="": none
    }
    let valid = text.split_once('/').is_some_and(|(ip, bits)| {
        match (ip.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
            (Ok(std::net::IpAddr::V4(_)), Ok(bits)) => bits <= 32,
            (Ok(std::net::IpAddr::V6(_)), Ok(bits)) => bits <= 128,
            _ => false,
        }
    });
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not an address range like 10.0.0.0/8"))
    }
}

fn parse_quantity(text: &str) -> Result<Quantity, String> {
    match Quantity::parse(text) {
        Ok(q) if q > Quantity::ZERO => Ok(q),
        Ok(_) => Err("must be more than zero".into()),
        Err(err) => Err(err.to_string()),
    }
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
        .with_limits(crate::k8s::helm::HelmLimits {
            memory_bytes: self.helm_memory_limit_mb << 20,
            cpu_seconds: self.helm_cpu_limit_s,
        })
    }

    /// The most one store may use.
    pub fn ceiling(&self) -> Ceiling {
        Ceiling {
            cpu: self.store_max_cpu,
            memory: self.store_max_memory,
            storage: self.store_max_storage,
            ephemeral_storage: self.store_max_ephemeral_storage,
            pods: self.store_max_pods,
        }
    }

    /// The conformance checks with this configuration's limits and allow-lists.
    pub fn conformance(&self) -> crate::conformance::Conformance {
        crate::conformance::Conformance::new(self.helm(), self.charts())
            .with_ceiling(self.ceiling())
            .with_bounds(crate::conformance::Bounds {
                grace_period_s: self.store_max_grace_period_s,
                job_retries: self.store_max_job_retries,
                job_parallelism: self.store_max_job_parallelism,
                setup_total_s: self.setup_total_max_s,
            })
            .with_ingress_annotations(
                self.ingress_annotations_allowed
                    .iter()
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect(),
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
    fn a_dashboard_notice_is_trimmed_and_bounded() {
        assert_eq!(
            parse_notice("  Maintenance at 22:00 UTC \n").unwrap(),
            "Maintenance at 22:00 UTC"
        );
        assert!(parse_notice("   ").unwrap_err().contains("empty"));
        assert!(parse_notice(&"é".repeat(NOTICE_MAX_CHARS)).is_ok());
        let err = parse_notice(&"é".repeat(NOTICE_MAX_CHARS + 1)).unwrap_err();
        assert!(
            err.contains("501 characters") && err.contains("at most 500"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_limits_are_refused_at_parse_time() {
        assert!(Cli::try_parse_from(["x", "--plugin-timeout-ms", "5"]).is_err());
        assert!(Cli::try_parse_from(["x", "--plugin-memory-mb", "1"]).is_err());
    }

    #[derive(Debug, Parser)]
    struct ServeCli {
        #[command(flatten)]
        server: ServerConfig,
    }

    fn serve_error(args: &[&str]) -> String {
        let mut argv = vec!["x"];
        argv.extend_from_slice(args);
        match ServeCli::try_parse_from(argv) {
            Err(err) => err.to_string(),
            Ok(cli) => cli
                .server
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn production_needs_a_strong_jwt_secret_and_errors_name_the_variable() {
        assert!(serve_error(&["--env", "production"]).contains("JWT_SECRET"));
        assert!(serve_error(&["--node-env", "production"]).contains("JWT_SECRET"));
        assert!(serve_error(&["--jwt-secret", "short"]).contains("JWT_SECRET"));
        assert_eq!(
            serve_error(&["--env", "production", "--jwt-secret", &"s".repeat(32)]),
            ""
        );
        assert!(serve_error(&["--database-url", "mysql://x"]).contains("DATABASE_URL"));
        assert!(serve_error(&["--trusted-proxies", "nonsense"]).contains("TRUSTED_PROXIES"));
        assert!(serve_error(&["--port", "abc"]).contains("PORT"));
        assert!(serve_error(&["--jwt-expires-in", "soon"]).contains("JWT_EXPIRES_IN"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1w").is_err());
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

/// A secret configuration value; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Parses `30s`, `15m`, `24h`, `7d` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 15m, 24h or 7d"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use s, m, h or d)"
            ));
        }
    };
    if seconds == 0 {
        return Err("duration must be positive".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// Deployment environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    Development,
    Test,
    Production,
}

/// Settings of `storeplane serve` (the API server).
#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    /// Database: `sqlite://PATH` (default, created if missing) or `postgres://…` (required for
    /// more than one replica).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/storeplane.db"
    )]
    pub database_url: String,

    /// Kubeconfig of the cluster stores run in. Unset: the in-cluster service account when
    /// running in a pod, else no cluster (the API serves; health reports it).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// HTTP port.
    #[arg(long, env = "PORT", default_value_t = 3001)]
    pub port: u16,

    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: std::net::IpAddr,

    /// `development`, `test` or `production` (also read from NODE_ENV).
    #[arg(
        long = "env",
        env = "STOREPLANE_ENV",
        value_enum,
        default_value = "development"
    )]
    pub environment: Environment,

    /// `NODE_ENV`, as the Node.js control plane storeplane replaces read it, so its operators'
    /// settings keep working: `production` here also means production.
    #[arg(long, env = "NODE_ENV", hide = true)]
    pub node_env: Option<String>,

    /// HS256 signing secret (≥ 32 characters). Required in production; in development one is
    /// generated and kept in the database, with a warning.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Token lifetime (`24h`, `30m`, `7d`, or seconds).
    #[arg(long, env = "JWT_EXPIRES_IN", default_value = "24h", value_parser = parse_duration)]
    pub jwt_expires_in: Duration,

    /// Most non-deleted stores per user.
    #[arg(long, env = "MAX_STORES_PER_USER", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_stores_per_user: u32,

    /// Least time between two store creations of one user, in ms (0 disables).
    #[arg(long, env = "STORE_CREATION_COOLDOWN_MS", default_value_t = 30_000)]
    pub store_creation_cooldown_ms: u64,

    /// Requests per client IP per window (0 disables).
    #[arg(long, env = "RATE_LIMIT_MAX", default_value_t = 600)]
    pub rate_limit_max: u32,
    #[arg(long, env = "RATE_LIMIT_WINDOW_MS", default_value_t = 60_000)]
    pub rate_limit_window_ms: u64,

    /// Login attempts per client IP + e-mail per window (0 disables). The window also counts
    /// the per-address and per-account failures below.
    #[arg(long, env = "LOGIN_RATE_LIMIT_MAX", default_value_t = 10)]
    pub login_rate_limit_max: u32,
    #[arg(long, env = "LOGIN_RATE_LIMIT_WINDOW_MS", default_value_t = 900_000)]
    pub login_rate_limit_window_ms: u64,

    /// Failed logins per client IP (any e-mail) per login window (0 disables).
    #[arg(long, env = "LOGIN_IP_MAX_FAILURES", default_value_t = 50)]
    pub login_ip_max_failures: u32,

    /// Failed logins per e-mail (from any address) per login window, except from addresses
    /// the account logged in from recently (0 disables).
    #[arg(long, env = "LOGIN_ACCOUNT_MAX_FAILURES", default_value_t = 20)]
    pub login_account_max_failures: u32,

    /// Failed logins across the service per minute, except from addresses their account
    /// logged in from recently (0 disables).
    #[arg(long, env = "LOGIN_GLOBAL_MAX_FAILURES", default_value_t = 600)]
    pub login_global_max_failures: u32,

    /// Password-hashing threads (0: the number of CPUs, at most 4). Each uses 19 MiB while busy.
    #[arg(long, env = "PASSWORD_HASH_WORKERS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub password_hash_workers: u32,

    /// Logins and registrations that may wait for a hashing thread; more are answered 503.
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub password_hash_queue: u32,

    /// Registrations per client IP per window (0 disables).
    #[arg(long, env = "REGISTER_RATE_LIMIT_MAX", default_value_t = 5)]
    pub register_rate_limit_max: u32,
    #[arg(
        long,
        env = "REGISTER_RATE_LIMIT_WINDOW_MS",
        default_value_t = 3_600_000
    )]
    pub register_rate_limit_window_ms: u64,

    /// Allowed browser origins, comma-separated (empty: same-origin only).
    #[arg(long, env = "CORS_ORIGIN", default_value = "", value_delimiter = ',')]
    pub cors_origin: Vec<String>,

    /// Proxies whose X-Forwarded-For is believed (IPs or CIDRs, comma-separated).
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// Time limit of one HTTP request, in ms.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub request_timeout_ms: u64,

    /// Largest plugin upload, in MiB.
    #[arg(long, env = "MAX_PLUGIN_UPLOAD_MB", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub max_plugin_upload_mb: u64,

    /// A notice shown above every page of the dashboard (plain text, at most 500 characters):
    /// that the cluster is a simulation, planned maintenance, where to ask for help.
    #[arg(long, env = "DASHBOARD_NOTICE", value_parser = parse_notice)]
    pub dashboard_notice: Option<String>,

    #[command(flatten)]
    pub provisioning: ProvisioningConfig,
}

/// Longest `DASHBOARD_NOTICE`: a line or two on the page, not a document.
const NOTICE_MAX_CHARS: usize = 500;

fn parse_notice(value: &str) -> Result<String, String> {
    let notice = value.trim();
    match notice.chars().count() {
        0 => Err("is empty (unset it to show no notice)".into()),
        n if n > NOTICE_MAX_CHARS => Err(format!(
            "is {n} characters long; a notice has at most {NOTICE_MAX_CHARS}"
        )),
        _ => Ok(notice.to_owned()),
    }
}

/// Settings of the provisioning pipeline and its job runner.
#[derive(Debug, Clone, Args)]
pub struct ProvisioningConfig {
    /// Suffix of store hostnames: a store is served at `store-<id><suffix>`.
    #[arg(long, env = "STORE_DOMAIN_SUFFIX", default_value = ".localhost")]
    pub store_domain_suffix: String,

    /// Whether store ingresses serve TLS.
    #[arg(long, env = "STORE_TLS", default_value_t = false)]
    pub store_tls: bool,

    /// Ingress class of store ingresses (Traefik on k3s).
    #[arg(long, env = "INGRESS_CLASS", default_value = "traefik")]
    pub ingress_class: String,

    /// Namespace of the ingress controller, allowed through store network policies
    /// (`kube-system` for k3s' Traefik, `ingress-nginx`, `traefik`, ...).
    #[arg(long, env = "INGRESS_NAMESPACE", default_value = "kube-system")]
    pub ingress_namespace: String,

    /// Address ranges (comma-separated CIDRs) also let through to the ports store Ingresses
    /// lead to: ingress controllers on the host network connect from node addresses and cloud
    /// load balancers sending to pod IPs from theirs, which no namespace selector matches.
    /// Empty: only pods in INGRESS_NAMESPACE.
    #[arg(long, env = "INGRESS_SOURCE_CIDRS", default_value = "0.0.0.0/0,::/0", value_delimiter = ',', value_parser = parse_cidr)]
    pub ingress_source_cidrs: Vec<String>,

    /// ClusterRole the host binds to its own account in each store namespace it creates
    /// (a RoleBinding there); cluster-wide it needs only namespaces and `bind` on this role.
    /// The control-plane chart installs it as `<release>-store`.
    #[arg(long, env = "STORE_ROLE", default_value = "storeplane-store")]
    pub store_role: String,

    /// Storage class of store volumes (unset: the cluster's default).
    #[arg(long, env = "STORAGE_CLASS")]
    pub storage_class: Option<String>,

    /// End-to-end limit of one store's provisioning, in ms (time spent waiting for an open
    /// circuit breaker does not count).
    #[arg(long, env = "PROVISIONING_TIMEOUT_MS", default_value_t = 600_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    pub provisioning_timeout_ms: u64,

    /// How long a store's pod may wait for a node (a cluster autoscaler adding one) or for an
    /// image pull that may heal (a registry's rate limit) before the store fails, in ms.
    /// Missing images, wrong pod specs and containers still crashing after 5 restarts fail it
    /// at once.
    #[arg(long, env = "POD_START_GRACE_MS", default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    pub pod_start_grace_ms: u64,

    /// The longest one setup step may run, whatever its engine plugin asks for, in ms. Every
    /// step runs under `timeout` in its container, so a step that runs out of time is stopped
    /// there before it is tried again.
    #[arg(long, env = "SETUP_STEP_TIMEOUT_MAX_MS", default_value_t = 900_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    pub setup_step_timeout_max_ms: u64,

    /// A store's namespace still there this long after its deletion was requested is reported
    /// (store failureReason, audit event `store.deletion_stuck`, metric); the deletion keeps
    /// waiting. In ms.
    #[arg(long, env = "DELETION_STUCK_AFTER_MS", default_value_t = 600_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    pub deletion_stuck_after_ms: u64,

    /// Store owners whose renders of one plugin version fail in a row through the plugin's
    /// doing (helm cannot finish, or the host refuses its objects) after which its engine is
    /// disabled for new stores, with an audit event (`plugin.disabled_automatically`). Owners,
    /// not failures, are counted: one tenant cannot disable an engine for everyone. 0 never
    /// disables.
    #[arg(
        long,
        env = "PLUGIN_DISABLE_AFTER_RENDER_FAILURES",
        default_value_t = 3
    )]
    pub plugin_disable_after_render_failures: u32,

    /// Jobs (provisioning and deletion) this replica runs at once.
    #[arg(long, env = "PROVISIONING_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub provisioning_concurrency: u32,

    /// Lease of a claimed job, in ms: another replica takes over a job whose worker has not
    /// renewed it for this long (a crash).
    #[arg(long, env = "JOB_LEASE_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(300..))]
    pub job_lease_ms: u64,

    /// How often idle workers look for jobs created by other replicas, in ms.
    #[arg(long, env = "JOB_POLL_INTERVAL_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub job_poll_interval_ms: u64,

    /// First retry delay after a transient failure, in ms (doubles each time, with jitter).
    #[arg(long, env = "JOB_RETRY_BASE_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub job_retry_base_ms: u64,

    /// Longest retry delay, in ms.
    #[arg(long, env = "JOB_RETRY_MAX_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub job_retry_max_ms: u64,

    /// Consecutive transient cluster failures that open the circuit breaker.
    #[arg(long, env = "CLUSTER_BREAKER_THRESHOLD", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub cluster_breaker_threshold: u32,

    /// How long the open breaker holds jobs back before one trial, in ms.
    #[arg(long, env = "CLUSTER_BREAKER_RESET_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub cluster_breaker_reset_ms: u64,

    /// Time limit of one Kubernetes API request, in ms.
    #[arg(long, env = "CLUSTER_REQUEST_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub cluster_request_timeout_ms: u64,
}

impl ServerConfig {
    /// STOREPLANE_ENV=production or NODE_ENV=production.
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
            || self.node_env.as_deref() == Some("production")
    }

    /// Checks what parsing cannot; errors name the variable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let production = self.is_production();
        match &self.jwt_secret {
            None if production => {
                return Err(ConfigError {
                    variable: "JWT_SECRET",
                    problem: "required in production".into(),
                });
            }
            Some(secret) if secret.0.len() < 32 => {
                return Err(ConfigError {
                    variable: "JWT_SECRET",
                    problem: "must be at least 32 characters".into(),
                });
            }
            _ => {}
        }
        if !(self.database_url.starts_with("sqlite:") || self.database_url.starts_with("postgres"))
        {
            return Err(ConfigError {
                variable: "DATABASE_URL",
                problem: "must start with sqlite: or postgres://".into(),
            });
        }
        let suffix = &self.provisioning.store_domain_suffix;
        if !suffix.starts_with('.') || suffix.len() < 2 || suffix.contains(['/', ':', ' ']) {
            return Err(ConfigError {
                variable: "STORE_DOMAIN_SUFFIX",
                problem: format!(
                    "{suffix:?} must be a domain suffix starting with a dot, e.g. .localhost"
                ),
            });
        }
        crate::guardrails::parse_trusted_proxies(&self.trusted_proxies).map_err(|problem| {
            ConfigError {
                variable: "TRUSTED_PROXIES",
                problem,
            }
        })?;
        Ok(())
    }
}

/// The only variables of the host's environment a helm process gets (its own is cleared, so no
/// secret of the host's reaches a chart): where it may write, with safe defaults, and `PATH`
/// (no secret, and it finds `helm` when HELM_BIN names no directory).
pub fn helm_environment() -> Vec<(&'static str, std::ffi::OsString)> {
    [
        ("HOME", "/tmp"),
        ("TMPDIR", "/tmp"),
        ("HELM_CACHE_HOME", "/tmp/helm/cache"),
        ("HELM_CONFIG_HOME", "/tmp/helm/config"),
        ("HELM_DATA_HOME", "/tmp/helm/data"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ]
    .into_iter()
    .map(|(key, default)| (key, std::env::var_os(key).unwrap_or_else(|| default.into())))
    .collect()
}

/// This replica's host name (a pod's name on Kubernetes), for its job-lease owner id.
pub fn host_name() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "storeplane".to_owned())
}
