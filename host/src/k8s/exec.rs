//! Running a setup command in a store pod over the websocket exec API, under `timeout` so it
//! stops in the container at its limit: the exit code comes from the status channel,
//! stdout/stderr are read concurrently and kept bounded (their last bytes, where errors are).
//! Commands carry no secrets: those reach them through the container's environment.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, ListParams};
use tokio::io::{AsyncRead, AsyncReadExt as _};

use super::cluster::Cluster;
use super::error::{KubeError, Result, retrying, within};
use super::readiness::pod_ready;

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    /// The last bytes of stdout (lossy UTF-8), at most the limit given.
    pub stdout: String,
    pub stderr: String,
    /// Whether output was cut.
    pub truncated: bool,
}

/// Reads `reader` to its end, keeping the last `limit` bytes.
async fn read_tail(reader: Option<impl AsyncRead + Unpin>, limit: usize) -> (Vec<u8>, bool) {
    let Some(mut reader) = reader else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut chunk = [0_u8; 8192];
    while let Ok(n) = reader.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&chunk[..n]);
        if kept.len() > limit {
            let cut = kept.len() - limit;
            kept.drain(..cut);
            truncated = true;
        }
    }
    (kept, truncated)
}

/// How long `timeout` waits after its signal before it kills the command.
const KILL_AFTER: Duration = Duration::from_secs(10);
/// How long the host waits beyond that for the exit status to arrive.
const STATUS_MARGIN: Duration = Duration::from_secs(5);

/// `timeout -k 10 <limit> <command…>`: TERM at the limit, KILL 10 s later (coreutils and
/// busybox `timeout` both take this form and exit 124 when the limit passed).
fn under_timeout(command: &[String], limit: Duration) -> Vec<String> {
    let seconds = limit.as_secs_f64().ceil().max(1.0);
    let mut wrapped = vec![
        "timeout".to_owned(),
        "-k".to_owned(),
        KILL_AFTER.as_secs().to_string(),
        format!("{seconds}"),
    ];
    wrapped.extend_from_slice(command);
    wrapped
}

impl ExecOutput {
    /// Whether the command was stopped by its time limit: `timeout`'s 124, or a signal's exit
    /// code (TERM 143, KILL 137) once the limit had passed.
    pub fn timed_out(&self, limit: Duration, elapsed: Duration) -> bool {
        self.exit_code == 124 || (matches!(self.exit_code, 137 | 143) && elapsed >= limit)
    }
}

impl Cluster {
    /// A running, ready pod in `namespace` whose labels include all of `selector`.
    pub async fn ready_pod(
        &self,
        namespace: &str,
        selector: &[(String, String)],
    ) -> Result<Option<String>> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let labels = selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let pods = retrying(|| {
            within(self.call_timeout, async {
                Ok(api.list(&ListParams::default().labels(&labels)).await?)
            })
        })
        .await?;
        Ok(pods
            .items
            .iter()
            .find(|p| pod_ready(p))
            .and_then(|p| p.metadata.name.clone()))
    }

    /// Runs `command` in `container` of `pod` under `timeout` (so it stops in the container
    /// when `limit` passes: an exec whose client goes away keeps running otherwise) and waits
    /// for its exit, for a little longer than `limit`. A time-out is exit code 124 (`timeout`'s),
    /// also when the container does not answer in time; cluster errors are errors.
    pub async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: &[String],
        limit: Duration,
        output_limit: usize,
    ) -> Result<ExecOutput> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = AttachParams::default()
            .container(container)
            .stdin(false)
            .stdout(true)
            .stderr(true);
        let wrapped = under_timeout(command, limit);
        let run = async {
            let mut process = api.exec(pod, wrapped.clone(), &params).await?;
            let status = process.take_status();
            let (stdout, stderr) = tokio::join!(
                read_tail(process.stdout(), output_limit),
                read_tail(process.stderr(), output_limit)
            );
            let status = match status {
                Some(status) => status.await,
                None => None,
            };
            Ok::<_, kube::Error>((stdout, stderr, status))
        };
        let Ok(outcome) = tokio::time::timeout(limit + KILL_AFTER + STATUS_MARGIN, run).await
        else {
            return Ok(ExecOutput {
                exit_code: 124,
                stdout: String::new(),
                stderr: format!("timed out after {} s", limit.as_secs()),
                truncated: false,
            });
        };
        let ((stdout, cut_out), (stderr, cut_err), status) = outcome.map_err(KubeError::from)?;
        let status = status.ok_or_else(|| {
            KubeError::Transient("the exec connection ended without an exit status".into())
        })?;
        let exit_code = if status.status.as_deref() == Some("Success") {
            0
        } else {
            status
                .details
                .as_ref()
                .and_then(|d| d.causes.as_ref())
                .and_then(|causes| {
                    causes
                        .iter()
                        .find(|c| c.reason.as_deref() == Some("ExitCode"))
                        .and_then(|c| c.message.as_deref()?.parse().ok())
                })
                .ok_or_else(|| {
                    KubeError::Transient(format!(
                        "exec failed: {} {}",
                        status.reason.as_deref().unwrap_or_default(),
                        status.message.as_deref().unwrap_or_default()
                    ))
                })?
        };
        Ok(ExecOutput {
            exit_code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            truncated: cut_out || cut_err,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_run_under_timeout_with_a_kill_grace() {
        let command = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            "wp plugin list".to_owned(),
        ];
        assert_eq!(
            under_timeout(&command, Duration::from_millis(1500)),
            ["timeout", "-k", "10", "2", "sh", "-c", "wp plugin list"]
        );
        let stopped = ExecOutput {
            exit_code: 143,
            stdout: String::new(),
            stderr: String::new(),
            truncated: false,
        };
        assert!(stopped.timed_out(Duration::from_secs(1), Duration::from_secs(2)));
        assert!(!stopped.timed_out(Duration::from_secs(60), Duration::from_secs(2)));
    }
}
