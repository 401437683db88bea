//! `pods/exec` over a websocket, as the kubelet answers it through the API server: the
//! `v5.channel.k8s.io` / `v4.channel.k8s.io` channel protocol (1 stdout, 2 stderr, 3 status
//! JSON with the exit code). Results are scripted per command pattern; every exec is recorded,
//! with when its command ended in the container: a client that goes away does not stop it
//! (kubernetes/kubernetes#89031), a `timeout` wrapper does.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use serde_json::{Value, json};

use super::objects::{ApiError, Objects};
use super::resources::of_kind;
use super::routes::{json_response, query_pairs};
use super::state::{ExecRecord, ExecScript, FakeState, lock, now_ms};

/// `GET|POST /api/v1/namespaces/{ns}/pods/{pod}/exec`.
pub async fn exec(
    State(state): State<Arc<FakeState>>,
    Path((namespace, pod)): Path<(String, String)>,
    authorized: Option<axum::Extension<super::routes::Authorized>>,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let pairs = query_pairs(&uri);
    let command: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let container = pairs
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone());
    let fail = |err: ApiError| json_response(err.code, &err.status());
    let Ok(upgrade) = upgrade else {
        return fail(ApiError::new(
            400,
            "BadRequest",
            "exec needs a websocket upgrade",
        ));
    };
    if command.is_empty() {
        return fail(ApiError::new(
            400,
            "BadRequest",
            "you must specify at least one command for the container",
        ));
    }
    let Some(pods) = of_kind("v1", "Pod") else {
        return fail(ApiError::new(500, "InternalError", "no pods"));
    };
    let Some(object) = lock(&state.objects).get(pods, &namespace, &pod).cloned() else {
        return fail(ApiError::not_found(pods, &pod));
    };
    // Admission sees an exec as CONNECT of pods/exec with the PodExecOptions.
    let Some(axum::Extension(authorized)) = authorized else {
        return fail(ApiError::new(401, "Unauthorized", "Unauthorized"));
    };
    let options = json!({"kind": "PodExecOptions", "apiVersion": "v1", "command": command, "container": container});
    let admitted = super::admission_policy::validate(
        &lock(&state.objects),
        &super::admission_policy::AdmissionRequest {
            operation: "CONNECT",
            resource: pods,
            subresource: "exec",
            namespace: &namespace,
            name: &pod,
            who: &authorized.identity,
            object: Some(&options),
            old_object: None,
        },
    );
    if let Err(err) = admitted {
        return fail(err);
    }
    let containers: Vec<String> = object
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let container = match container {
        Some(c) if containers.contains(&c) => c,
        Some(c) => {
            return fail(ApiError::new(
                400,
                "BadRequest",
                format!("container {c} is not valid for pod {pod}"),
            ));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return fail(ApiError::new(
                400,
                "BadRequest",
                "a container name must be specified",
            ));
        }
    };
    if object.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        return fail(ApiError::new(
            400,
            "BadRequest",
            format!("pod {pod} is not running"),
        ));
    }
    // The kubelet can only exec into a container that runs (not one waiting to restart).
    let running = object
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|s| s["name"] == container.as_str())
        .is_some_and(|s| s.pointer("/state/running").is_some());
    if !running {
        return fail(ApiError::new(
            500,
            "InternalError",
            format!("unable to upgrade connection: container not found ({container:?})"),
        ));
    }
    let (container_timeout_ms, command) = unwrap_timeout(&command);
    let script = {
        let settings = state.settings();
        let joined = command.join(" ");
        settings
            .exec_scripts
            .iter()
            .find(|s| {
                joined.contains(&s.pattern)
                    && (s.namespaces.is_empty() || s.namespaces.contains(&namespace))
            })
            .cloned()
            .unwrap_or(ExecScript {
                pattern: String::new(),
                namespaces: Vec::new(),
                exit_code: 0,
                stdout: "ok\n".into(),
                stderr: String::new(),
                delay_ms: settings.default_exec_delay_ms,
            })
    };
    // A scripted program that prints its environment (`${NAME}`) sees the container's: a
    // literal `value`, or a key of a Secret it references, as the kubelet resolves them.
    let mut script = script;
    {
        let objects = lock(&state.objects);
        for text in [&mut script.stdout, &mut script.stderr] {
            *text = expand_environment(&objects, &namespace, &object, &container, text);
        }
    }
    // The program runs its scripted time, or until `timeout` stops it (exit 124, as
    // coreutils' and busybox's `timeout` report it), or until the container runs out of
    // memory (137: the kernel's SIGKILL; the container restarts).
    if super::kubelet::exec_out_of_memory(&object, &container, &command) {
        script.exit_code = 137;
        script.stdout.clear();
        script.stderr = "Killed\n".into();
        script.delay_ms = script.delay_ms.min(50);
        restart_after_oom(&state, &namespace, &pod, &container);
    }
    let started_ms = now_ms();
    let runs_ms = match container_timeout_ms {
        Some(limit) if script.delay_ms > limit => {
            script.delay_ms = limit;
            script.exit_code = 124;
            script.stdout.clear();
            script.stderr.clear();
            limit
        }
        _ => script.delay_ms,
    };
    let index = {
        let mut execs = lock(&state.execs);
        execs.push(ExecRecord {
            namespace,
            pod,
            container,
            command,
            uri: uri.to_string(),
            completed: false,
            exit_code: None,
            started_ms,
            ended_ms: started_ms + runs_ms,
            container_timeout_ms,
        });
        execs.len() - 1
    };
    upgrade
        .protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(move |socket| run(state, index, script, socket))
}

/// The kubelet restarting a container the kernel killed for memory.
fn restart_after_oom(state: &FakeState, namespace: &str, pod: &str, container: &str) {
    let Some(pods) = of_kind("v1", "Pod") else {
        return;
    };
    let mut objects = lock(&state.objects);
    let Some(mut object) = objects.get(pods, namespace, pod).cloned() else {
        return;
    };
    if let Some(statuses) = object
        .pointer_mut("/status/containerStatuses")
        .and_then(Value::as_array_mut)
    {
        for status in statuses.iter_mut().filter(|s| s["name"] == container) {
            let restarts = status["restartCount"].as_i64().unwrap_or(0);
            status["restartCount"] = json!(restarts + 1);
            status["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}});
        }
    }
    let _ = objects.replace(pods, namespace, pod, object);
}

/// `timeout [-s SIG] [-k DURATION] DURATION PROGRAM…` (coreutils and busybox): the limit in
/// ms and the program; any other command as it is.
fn unwrap_timeout(command: &[String]) -> (Option<u64>, Vec<String>) {
    let seconds = |text: &str| text.trim_end_matches('s').parse::<f64>().ok();
    if command.first().map(String::as_str) != Some("timeout") {
        return (None, command.to_vec());
    }
    let mut i = 1;
    while let Some(arg) = command.get(i) {
        match arg.as_str() {
            "-s" | "-k" | "--signal" | "--kill-after" => i += 2,
            a if a.starts_with('-') => i += 1,
            _ => break,
        }
    }
    match command.get(i).and_then(|d| seconds(d)) {
        // Whole milliseconds of a positive duration.
        Some(limit) if limit > 0.0 => {
            let ms = (limit * 1000.0).round();
            let ms = if ms.is_finite() && ms < 1e15 {
                ms as u64
            } else {
                u64::MAX
            };
            (Some(ms), command[i + 1..].to_vec())
        }
        _ => (None, command.to_vec()),
    }
}

/// Whether the client has closed the socket, without waiting for anything not yet arrived.
async fn client_gone(socket: &mut WebSocket) -> bool {
    loop {
        tokio::select! {
            biased;
            message = socket.recv() => match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            },
            () = std::future::ready(()) => return false,
        }
    }
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(bytes.into())
}

async fn run(state: Arc<FakeState>, index: usize, script: ExecScript, mut socket: WebSocket) {
    // Wait out the scripted run time; a client that goes away meanwhile aborts the exec.
    // While execs are held, finishing is put off in short slices until the hold is lifted.
    let mut wait = Duration::from_millis(script.delay_ms);
    loop {
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                message = socket.recv() => match message {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(_)) => {}
                },
                () = &mut sleep => break,
            }
        }
        if !state.settings().hold_execs {
            break;
        }
        wait = Duration::from_millis(10);
    }
    // A client killed while held is gone before the hold is lifted: look once more, so that
    // its exec is not reported finished to nobody.
    if client_gone(&mut socket).await {
        return;
    }
    let status = if script.exit_code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {}", script.exit_code),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": script.exit_code.to_string()}]},
        })
    };
    let mut frames = Vec::new();
    if !script.stdout.is_empty() {
        frames.push(frame(1, script.stdout.as_bytes()));
    }
    if !script.stderr.is_empty() {
        frames.push(frame(2, script.stderr.as_bytes()));
    }
    frames.push(frame(3, status.to_string().as_bytes()));
    for message in frames {
        if socket.send(message).await.is_err() {
            return;
        }
    }
    if let Some(record) = lock(&state.execs).get_mut(index) {
        record.completed = true;
        record.exit_code = Some(script.exit_code);
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// `text` with each `${NAME}` replaced by the value of the container's environment variable
/// `NAME` (left as it is when the container has none).
pub(super) fn expand_environment(
    objects: &Objects,
    namespace: &str,
    pod: &Value,
    container: &str,
    text: &str,
) -> String {
    if !text.contains("${") {
        return text.to_owned();
    }
    let env = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container)
        .and_then(|c| c.get("env"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let secret_value = |name: &str, key: &str| -> Option<String> {
        let secrets = of_kind("v1", "Secret")?;
        let secret = objects.get(secrets, namespace, name).cloned()?;
        let encoded = secret
            .pointer(&format!("/data/{key}"))?
            .as_str()?
            .to_owned();
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded).ok()?;
        String::from_utf8(bytes).ok()
    };
    let mut out = text.to_owned();
    for variable in &env {
        let Some(name) = variable["name"].as_str() else {
            continue;
        };
        let value = match (
            variable.get("value"),
            variable.pointer("/valueFrom/secretKeyRef"),
        ) {
            (Some(Value::String(value)), _) => Some(value.clone()),
            (_, Some(reference)) => secret_value(
                reference["name"].as_str().unwrap_or_default(),
                reference["key"].as_str().unwrap_or_default(),
            ),
            _ => None,
        };
        if let Some(value) = value {
            out = out.replace(&format!("${{{name}}}"), &value);
        }
    }
    out
}
