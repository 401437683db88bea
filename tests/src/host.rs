//! `HostProcess`: `storeplane serve` as a real child process (the `storeplane-host` binary of
//! this crate) against a fake cluster, so tests can kill it with SIGKILL, restart it, run two
//! replicas on one database, and read every log line it wrote.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::Api;

/// Settings of one host process.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The `storeplane-host` binary: `env!("CARGO_BIN_EXE_storeplane-host")`, which only
    /// integration tests can name.
    pub binary: PathBuf,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub kubeconfig: PathBuf,
    /// Extra environment (overrides the defaults below).
    pub env: Vec<(String, String)>,
}

impl HostOptions {
    pub fn new(binary: &Path, database_url: &str, data_dir: &Path, kubeconfig: &Path) -> Self {
        Self {
            binary: binary.to_owned(),
            database_url: database_url.to_owned(),
            data_dir: data_dir.to_owned(),
            kubeconfig: kubeconfig.to_owned(),
            env: Vec::new(),
        }
    }

    /// Adds or replaces an environment variable.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }
}

/// A running `storeplane serve`.
#[derive(Debug)]
pub struct HostProcess {
    child: Child,
    pub api: Api,
    logs: Arc<Mutex<Vec<String>>>,
}

impl std::ops::Deref for HostProcess {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl HostProcess {
    /// Starts the host and waits until it answers `/api/v1/health`.
    pub async fn start(options: &HostOptions) -> Self {
        let port = free_port();
        let mut command = Command::new(&options.binary);
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &options.database_url)
            .env("DATA_DIR", &options.data_dir)
            .env("KUBECONFIG", &options.kubeconfig)
            .env("HELM_BIN", crate::helm_bin())
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("JWT_SECRET", "test-jwt-secret-of-at-least-32-characters")
            .env("LOG_FORMAT", "json")
            .env("LOG_LEVEL", "info,storeplane=debug")
            .env("MAX_STORES_PER_USER", "100")
            .env("STORE_CREATION_COOLDOWN_MS", "0")
            .env("RATE_LIMIT_MAX", "0")
            .env("LOGIN_RATE_LIMIT_MAX", "0")
            .env("REGISTER_RATE_LIMIT_MAX", "0")
            .env("JOB_LEASE_MS", "1500")
            .env("JOB_POLL_INTERVAL_MS", "100")
            .env("JOB_RETRY_BASE_MS", "50")
            .env("JOB_RETRY_MAX_MS", "1000")
            .env("CLUSTER_BREAKER_RESET_MS", "500")
            .env("CLUSTER_REQUEST_TIMEOUT_MS", "3000")
            .env("PROVISIONING_TIMEOUT_MS", "120000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &options.env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start storeplane-host");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().expect("logs").push(line);
                }
            });
        }
        let mut host = Self {
            child,
            api: Api::new(format!("http://127.0.0.1:{port}")),
            logs,
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = host.child.try_wait() {
                panic!(
                    "storeplane-host exited with {status}:\n{}",
                    host.logs().join("\n")
                );
            }
            let health = host
                .client
                .get(format!("{}/api/v1/health", host.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok() {
                return host;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "storeplane-host did not start:\n{}",
                host.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every line written so far (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }

    /// Kills the process with SIGKILL (no graceful shutdown) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a graceful exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().is_ok_and(|s| s.success())
    }
}
