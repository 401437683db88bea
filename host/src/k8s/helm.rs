//! Renders a chart with `helm template`: values go in on stdin (`-f -`), never with `--set`,
//! so they are not in any process's arguments; helm gets an environment of its own (none of
//! the host's secrets or its kubeconfig); an operator's overlay file (`HELM_VALUES_FILE`)
//! comes after them and wins, for the charts the host ships only (an engine's own chart
//! never sees the operator's values). A chart is untrusted input, so helm runs as a sandboxed
//! child: limits on its memory (`RLIMIT_DATA`, which counts Go's heap but not its address
//! space reservations) and CPU time (`RLIMIT_CPU`), a wall-clock timeout and bounded output.
//! The multi-document YAML is parsed into [`Manifest`]s.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;

use super::manifest::{Manifest, parse_documents};

/// Most output read from helm (a store renders to ~20 KB).
const MAX_OUTPUT_BYTES: u64 = 8 << 20;

/// Failure to render.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    #[error(
        "could not run helm ({bin}): {source}. Install helm 4 or set HELM_BIN (CI installs it with .ci/install-helm)"
    )]
    Spawn { bin: String, source: std::io::Error },
    #[error("helm template timed out after {0:?}")]
    Timeout(Duration),
    #[error("helm template failed: {stderr}")]
    Failed { stderr: String },
    #[error("helm ran out of the {limit_mb} MiB of memory it may use")]
    OutOfMemory { limit_mb: u64, stderr: String },
    #[error("helm used up the {limit_s} s of CPU time it may use")]
    OutOfCpu { limit_s: u64 },
    #[error("helm output is not valid YAML: {0}")]
    Output(String),
    #[error("helm I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl HelmError {
    /// What a store's owner may read: why, without helm's output (which can hold the
    /// operator's overlay values or whatever a chart chose to print). The full text is
    /// [`HelmError::detail`], for the audit log.
    pub fn short(&self) -> String {
        match self {
            Self::Failed { .. } => "helm could not render the engine's chart".into(),
            Self::Output(_) => "helm's output is not valid YAML".into(),
            other => other.to_string(),
        }
    }

    /// Everything known about the failure, helm's own error output included.
    pub fn detail(&self) -> String {
        match self {
            Self::OutOfMemory { stderr, .. } => format!("{self}: {stderr}"),
            other => other.to_string(),
        }
    }
}

/// What one helm run may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelmLimits {
    /// Bytes of data memory (heap); a render of the bundled chart needs about 50 MiB.
    pub memory_bytes: u64,
    /// Seconds of CPU time (all threads together).
    pub cpu_seconds: u64,
}

impl Default for HelmLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            cpu_seconds: 30,
        }
    }
}

/// Runs the helm binary.
#[derive(Debug, Clone)]
pub struct HelmRenderer {
    bin: PathBuf,
    timeout: Duration,
    overlay: Option<PathBuf>,
    limits: HelmLimits,
}

/// Sets `limits` on the current process: called in the child between fork and exec.
fn set_limits(limits: HelmLimits) -> std::io::Result<()> {
    let set = |resource, value: u64| {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit only reads the struct it is given and is async-signal-safe, so it
        // may run in the forked child before exec.
        #[allow(unsafe_code)]
        let result = unsafe { libc::setrlimit(resource, &raw const limit) };
        if result == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    set(libc::RLIMIT_DATA, limits.memory_bytes)?;
    set(libc::RLIMIT_CPU, limits.cpu_seconds)
}

impl HelmRenderer {
    /// A renderer using `bin` (e.g. `helm`, looked up on `PATH`), a per-run `timeout`, and an
    /// optional operator overlay values file applied after the plan's values.
    pub fn new(bin: impl Into<PathBuf>, timeout: Duration, overlay: Option<PathBuf>) -> Self {
        Self {
            bin: bin.into(),
            timeout,
            overlay,
            limits: HelmLimits::default(),
        }
    }

    /// The same renderer with other limits.
    pub fn with_limits(mut self, limits: HelmLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits each run gets.
    pub fn limits(&self) -> HelmLimits {
        self.limits
    }

    /// A helm command with an environment of its own: nothing of the host's (no database URL,
    /// JWT secret or kubeconfig: `helm template` needs no cluster, and a chart is untrusted
    /// input), only where helm keeps its cache and configuration.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear();
        for (key, value) in crate::config::helm_environment() {
            cmd.env(key, value);
        }
        let limits = self.limits;
        // SAFETY: the closure only calls setrlimit (async-signal-safe) and allocates nothing.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || set_limits(limits));
        }
        cmd
    }

    /// `helm version --short`: checks the binary runs (and is helm 4).
    pub async fn version(&self) -> Result<String, HelmError> {
        let mut cmd = self.command();
        cmd.args(["version", "--short"])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(self.timeout, cmd.output())
            .await
            .map_err(|_| HelmError::Timeout(self.timeout))?
            .map_err(|source| HelmError::Spawn {
                bin: self.bin.display().to_string(),
                source,
            })?;
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if output.status.success() && version.starts_with("v4") {
            Ok(version)
        } else {
            Err(HelmError::Failed {
                stderr: format!("{} is not helm 4 ({version})", self.bin.display()),
            })
        }
    }

    /// Renders `chart` (a directory or .tgz) as `release` in `namespace` with `values`, and
    /// the operator's overlay when `with_overlay` (the host's own charts only).
    pub async fn template(
        &self,
        chart: &Path,
        release: &str,
        namespace: &str,
        values: &serde_json::Map<String, serde_json::Value>,
        with_overlay: bool,
    ) -> Result<Vec<Manifest>, HelmError> {
        let mut cmd = self.command();
        cmd.arg("template")
            .arg(release)
            .arg(chart)
            .args(["--namespace", namespace, "-f", "-"]);
        if let Some(overlay) = self.overlay.as_ref().filter(|_| with_overlay) {
            cmd.arg("-f").arg(overlay);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| HelmError::Spawn {
            bin: self.bin.display().to_string(),
            source,
        })?;

        // JSON is YAML, so the values go in as they are.
        let input = serde_json::to_vec(values).map_err(|err| HelmError::Output(err.to_string()))?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| HelmError::Output("helm stdin unavailable".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| HelmError::Output("helm stdout unavailable".into()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| HelmError::Output("helm stderr unavailable".into()))?;

        let run = async {
            let write = async {
                stdin.write_all(&input).await?;
                drop(stdin); // EOF
                Ok::<_, std::io::Error>(())
            };
            let mut out = Vec::new();
            let mut err = Vec::new();
            let mut stdout = stdout.take(MAX_OUTPUT_BYTES);
            let mut stderr = stderr.take(64 << 10);
            let read_out = stdout.read_to_end(&mut out);
            let read_err = stderr.read_to_end(&mut err);
            let (w, o, e) = tokio::join!(write, read_out, read_err);
            // A broken pipe on stdin means helm exited early; its stderr says why.
            if let Err(err) = w
                && err.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(HelmError::Io(err));
            }
            o?;
            e?;
            let status = child.wait().await?;
            Ok::<_, HelmError>((status, out, err))
        };
        let (status, out, err) = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| HelmError::Timeout(self.timeout))??;
        if !status.success() {
            let stderr = String::from_utf8_lossy(&err).trim().to_owned();
            // The kernel stops a process over its CPU limit with SIGXCPU (then SIGKILL); Go
            // dies with "out of memory" / "cannot allocate memory" at the data limit.
            if matches!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(libc::SIGXCPU | libc::SIGKILL)
            ) {
                return Err(HelmError::OutOfCpu {
                    limit_s: self.limits.cpu_seconds,
                });
            }
            if stderr.contains("out of memory") || stderr.contains("cannot allocate memory") {
                return Err(HelmError::OutOfMemory {
                    limit_mb: self.limits.memory_bytes >> 20,
                    stderr: stderr.chars().take(2048).collect(),
                });
            }
            return Err(HelmError::Failed { stderr });
        }
        let text = String::from_utf8(out).map_err(|err| HelmError::Output(err.to_string()))?;
        parse_documents(&text).map_err(HelmError::Output)
    }
}
