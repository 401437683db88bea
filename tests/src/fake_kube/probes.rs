//! The kubelet's startup and readiness probes, answered where the fake can know the answer.
//! nginx serving static files: a `tcpSocket` probe passes on the port nginx listens on and is
//! refused on any other; an `httpGet` probe gets what nginx would answer from the files under
//! its document root: the image's own pages, nothing on a new emptyDir or claim mounted over
//! it (`/` is then 403, "directory index … is forbidden"; a file 404), a ConfigMap's keys.
//! Any image: an `exec` probe whose command an exec script matches gets that script's exit
//! code and output (the container's `${NAME}`s expanded), as a setup command would.
//! Messages as the kubelet writes them (k/k `pkg/probe/http/http.go`, `pkg/probe/tcp/tcp.go`,
//! `pkg/probe/exec/exec.go`, `pkg/kubelet/prober/prober.go`): `Readiness probe failed: HTTP
//! probe failed with statuscode: 403`. Files a setup step writes later are not seen: the host
//! runs setup only once the pod is ready, so a probe that needs them never passes, on a real
//! cluster too. When a startup probe has failed for `initialDelaySeconds + periodSeconds ×
//! failureThreshold`, the kubelet simulation (`kubelet`) kills the container and restarts it
//! after a back-off (`CrashLoopBackOff`). Liveness probes and other answers are not modelled
//! (they pass).

use serde_json::Value;

use super::exec::expand_environment;
use super::objects::Objects;
use super::resources::of_kind;
use super::state::Settings;

/// A static web server in an image: where it listens and which pages the image holds.
#[derive(Debug, Clone, Copy)]
pub struct StaticSite {
    pub port: i64,
    pub document_root: &'static str,
    pub image_pages: &'static [&'static str],
}

/// nginx's official images: `/usr/share/nginx/html` holds `index.html` and `50x.html`.
pub const NGINX: StaticSite = StaticSite {
    port: 80,
    document_root: "/usr/share/nginx/html",
    image_pages: &["index.html", "50x.html"],
};

/// `nginxinc/nginx-unprivileged`: the same pages, on port 8080.
pub const NGINX_UNPRIVILEGED: StaticSite = StaticSite {
    port: 8080,
    ..NGINX
};

/// A probe that failed: which (`Startup`, `Readiness`) and the prober's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure {
    pub probe: &'static str,
    pub output: String,
}

impl ProbeFailure {
    /// The kubelet's `Unhealthy` event message.
    pub fn message(&self) -> String {
        format!("{} probe failed: {}", self.probe, self.output)
    }
}

/// Where a probe is sent: the pod and container, and the static site the container serves
/// (when the fake knows it does).
pub struct Target<'a> {
    pub namespace: &'a str,
    pub pod: &'a Value,
    pub container: &'a Value,
    pub site: Option<StaticSite>,
}

/// The first of the target container's startup and readiness probes that fails.
pub fn failing(
    objects: &Objects,
    settings: &Settings,
    target: &Target<'_>,
) -> Option<ProbeFailure> {
    [("startupProbe", "Startup"), ("readinessProbe", "Readiness")]
        .into_iter()
        .find_map(|(field, probe)| {
            let spec = target.container.get(field)?;
            let output = if let Some(exec) = spec.get("exec") {
                run(objects, settings, target, exec).err()?
            } else {
                answer(objects, target, target.site?, spec).err()?
            };
            Some(ProbeFailure { probe, output })
        })
}

/// An `exec` probe: the exec script matching its command, if any, decides.
fn run(
    objects: &Objects,
    settings: &Settings,
    target: &Target<'_>,
    exec: &Value,
) -> Result<(), String> {
    let command: Vec<&str> = exec
        .get("command")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let joined = command.join(" ");
    let namespace = target.namespace.to_owned();
    let Some(script) = settings.exec_scripts.iter().find(|s| {
        joined.contains(&s.pattern)
            && (s.namespaces.is_empty() || s.namespaces.contains(&namespace))
    }) else {
        return Ok(());
    };
    if script.exit_code == 0 {
        return Ok(());
    }
    // The prober keeps the command's combined output.
    let name = target.container["name"].as_str().unwrap_or_default();
    let output = format!("{}{}", script.stdout, script.stderr);
    Err(expand_environment(
        objects,
        target.namespace,
        target.pod,
        name,
        &output,
    ))
}

/// The pod's address, as the network plugin would hand one out: stable per pod.
pub fn pod_ip(pod: &Value) -> String {
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let hash = uid
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("10.244.{}.{}", (hash >> 8) % 250, hash % 250 + 2)
}

/// What a `tcpSocket` or `httpGet` probe of `site` gets: `Ok` when it passes, else the
/// prober's output.
fn answer(
    objects: &Objects,
    target: &Target<'_>,
    site: StaticSite,
    probe: &Value,
) -> Result<(), String> {
    let (pod, container) = (target.pod, target.container);
    let ip = pod_ip(pod);
    if let Some(tcp) = probe.get("tcpSocket") {
        let port = resolve_port(container, tcp.get("port"));
        return if port == Some(site.port) {
            Ok(())
        } else {
            Err(refused(&ip, port))
        };
    }
    let Some(http) = probe.get("httpGet") else {
        return Ok(()); // exec and gRPC probes: not modelled
    };
    let port = resolve_port(container, http.get("port"));
    let scheme = http
        .get("scheme")
        .and_then(Value::as_str)
        .unwrap_or("HTTP")
        .to_ascii_lowercase();
    let path = http.get("path").and_then(Value::as_str).unwrap_or("/");
    let url = format!(
        "{scheme}://{ip}:{}{path}",
        port.map_or_else(|| "0".to_owned(), |p| p.to_string())
    );
    if port != Some(site.port) {
        return Err(format!("Get \"{url}\": {}", refused(&ip, port)));
    }
    if scheme == "https" {
        return Err(format!(
            "Get \"{url}\": http: server gave HTTP response to HTTPS client"
        ));
    }
    let status = status_of(
        &pages(objects, target.namespace, pod, container, site),
        path.split(['?', '#']).next().unwrap_or("/"),
    );
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {status}"))
    }
}

fn refused(ip: &str, port: Option<i64>) -> String {
    let port = port.map_or_else(|| "0".to_owned(), |p| p.to_string());
    format!("dial tcp {ip}:{port}: connect: connection refused")
}

/// A probe's port: a number, or the name of one of the container's ports.
fn resolve_port(container: &Value, port: Option<&Value>) -> Option<i64> {
    match port? {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => name.parse().ok().or_else(|| {
            container
                .get("ports")
                .and_then(Value::as_array)?
                .iter()
                .find(|p| p["name"] == name.as_str())?
                .get("containerPort")?
                .as_i64()
        }),
        _ => None,
    }
}

/// nginx's answer for `path` from `pages` (paths relative to the document root): a directory
/// with an `index.html` or a file is 200, a directory without one 403, anything else 404.
fn status_of(pages: &[String], path: &str) -> u16 {
    let relative = path.trim_start_matches('/');
    if relative.is_empty() || relative.ends_with('/') {
        let index = format!("{relative}index.html");
        let exists = relative.is_empty() || pages.iter().any(|p| p.starts_with(relative));
        return match (pages.contains(&index), exists) {
            (true, _) => 200,
            (false, true) => 403,
            (false, false) => 404,
        };
    }
    if pages.iter().any(|p| p == relative) {
        200
    } else if pages.iter().any(|p| p.starts_with(&format!("{relative}/"))) {
        // A directory without its slash: nginx redirects (301), and the prober follows.
        status_of(pages, &format!("/{relative}/"))
    } else {
        404
    }
}

/// The files under the document root when the container starts: those of the volume mounted
/// deepest at or above it (a ConfigMap's keys; nothing on a new emptyDir or claim), else the
/// image's own.
fn pages(
    objects: &Objects,
    namespace: &str,
    pod: &Value,
    container: &Value,
    site: StaticSite,
) -> Vec<String> {
    let root = site.document_root;
    let mount = container
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| Some((m, m.get("mountPath")?.as_str()?.trim_end_matches('/'))))
        .filter(|(_, at)| root == *at || root.starts_with(&format!("{at}/")))
        .max_by_key(|(_, at)| at.len());
    let Some((mount, at)) = mount else {
        return site.image_pages.iter().map(|p| (*p).to_owned()).collect();
    };
    if mount.get("subPath").is_some() || mount.get("subPathExpr").is_some() {
        return Vec::new(); // a directory of a volume: nothing the fake can know is in it
    }
    let name = mount
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let volume = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| v["name"] == name);
    let files = volume
        .and_then(|v| v.get("configMap"))
        .map(|source| config_map_files(objects, namespace, source))
        .unwrap_or_default();
    // The mount is at `at`; the document root is `rest` below it.
    let rest = root[at.len()..].trim_start_matches('/');
    let prefix = if rest.is_empty() {
        String::new()
    } else {
        format!("{rest}/")
    };
    files
        .into_iter()
        .filter_map(|f| f.strip_prefix(&prefix).map(str::to_owned))
        .collect()
}

/// The files a ConfigMap volume shows: its `items`' paths, else every key.
fn config_map_files(objects: &Objects, namespace: &str, source: &Value) -> Vec<String> {
    if let Some(items) = source.get("items").and_then(Value::as_array) {
        return items
            .iter()
            .filter_map(|i| i.get("path").and_then(Value::as_str).map(str::to_owned))
            .collect();
    }
    let name = source
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(config_maps) = of_kind("v1", "ConfigMap") else {
        return Vec::new();
    };
    let Some(config_map) = objects.get(config_maps, namespace, name) else {
        return Vec::new();
    };
    ["data", "binaryData"]
        .into_iter()
        .filter_map(|field| config_map.get(field).and_then(Value::as_object))
        .flat_map(|map| map.keys().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::status_of;

    fn pages(list: &[&str]) -> Vec<String> {
        list.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn nginx_answers_from_the_files_it_has() {
        let image = pages(&["index.html", "50x.html"]);
        assert_eq!(status_of(&image, "/"), 200);
        assert_eq!(status_of(&image, "/50x.html"), 200);
        assert_eq!(status_of(&image, "/healthz"), 404);
        assert_eq!(status_of(&[], "/"), 403, "directory index is forbidden");
        assert_eq!(status_of(&[], "/index.html"), 404);
        let nested = pages(&["shop/index.html", "shop/a.css"]);
        assert_eq!(status_of(&nested, "/shop/"), 200);
        assert_eq!(status_of(&pages(&["shop/a.css"]), "/shop/"), 403);
        assert_eq!(status_of(&nested, "/other/"), 404);
        assert_eq!(status_of(&nested, "/shop"), 200, "redirected to /shop/");
    }
}
