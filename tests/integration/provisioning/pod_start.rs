//! Pods that take their time to start, as on real clusters (the fake's kubelet simulation):
//! Medusa waits for its database instead of crash-looping on a new store; a registry that
//! throttles pulls (429) and a node that has to be added first delay a store instead of
//! failing it; a pod that stays unschedulable fails the store after the grace period, naming
//! the scheduler's reason; Medusa's setup runs in a sidecar with memory of its own, so it never
//! gets the server killed; a web server's probes get what it would answer, and a time-out says
//! which probe failed and how.

use std::time::Duration;

use serde_json::Value;
use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::{PullError, Settings};

use super::*;

fn pods(rig: &Rig, store: &str) -> Vec<Value> {
    rig.fake
        .objects(&format!("store-{store}"))
        .into_iter()
        .filter(|o| o["kind"] == "Pod")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medusa_waits_for_its_database_instead_of_crash_looping() {
    // PostgreSQL initialises its data directory on first boot: 1.5 s before it answers.
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            database_startup_ms: 1_500,
            crash_backoff_ms: 100,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "patient-medusa", "medusa").await;
    let store = wait_until(&host, &owner, &id, Duration::from_secs(60), |s| {
        s["status"] == "ready" || s["status"] == "failed"
    })
    .await;
    assert_eq!(store["status"], "ready", "{store}");
    let medusa = pods(&rig, &id)
        .into_iter()
        .find(|p| {
            p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.contains("-medusa-"))
        })
        .expect("the medusa pod");
    let server = &medusa["status"]["containerStatuses"][0];
    assert_eq!(server["restartCount"], 0, "it never crashed: {server}");
    assert_eq!(
        medusa["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"], "Completed",
        "it waited for the database first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_registry_and_a_node_being_added_delay_the_store_instead_of_failing_it() {
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            image_pull_errors: vec![PullError {
                matches: "wordpress:6.8".into(),
                message: "failed to pull and unpack image \"docker.io/library/wordpress:6.8-php8.3-apache\": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/wordpress/manifests/sha256:0: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.".into(),
                times: 2,
            }],
            unschedulable_ms: 1_000,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "patient-woo", "woocommerce").await;
    let store = wait_until(&host, &owner, &id, Duration::from_secs(60), |s| {
        s["status"] == "ready" || s["status"] == "failed"
    })
    .await;
    assert_eq!(store["status"], "ready", "{store}");
    let wordpress = pods(&rig, &id)
        .into_iter()
        .find(|p| {
            p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.contains("-wordpress-"))
        })
        .expect("the wordpress pod");
    assert_eq!(wordpress["status"]["phase"], "Running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_stays_unschedulable_fails_the_store_after_the_grace_period() {
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            unschedulable_ms: 600_000,
            ..Settings::default()
        },
    )
    .await;
    let host = HostProcess::start(&rig.options().with("POD_START_GRACE_MS", "2000")).await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "no-room", "woocommerce").await;
    let failed = wait_status(&host, &owner, &id, "failed", Duration::from_secs(30)).await;
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("cannot be scheduled: 0/3 nodes are available: 3 Insufficient cpu")
            && reason.contains(", for 2 s"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medusa_setup_runs_beside_the_server_and_never_takes_it_down() {
    // Each setup step loads the whole Medusa application again (`medusa db:migrate`,
    // `medusa exec`): beside the server in its 1 GiB container, the kernel kills the server.
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "roomy-medusa", "medusa").await;
    let store = wait_until(&host, &owner, &id, Duration::from_secs(60), |s| {
        s["status"] == "ready" || s["status"] == "failed"
    })
    .await;
    assert_eq!(store["status"], "ready", "{store}");
    let namespace = format!("store-{id}");
    let setup: Vec<_> = rig
        .fake
        .execs()
        .into_iter()
        .filter(|e| e.namespace == namespace)
        .collect();
    assert!(
        setup
            .iter()
            .all(|e| e.container == "medusa-cli" && e.exit_code == Some(0)),
        "{setup:?}"
    );
    let medusa = pods(&rig, &id)
        .into_iter()
        .find(|p| {
            p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.contains("-medusa-"))
        })
        .expect("the medusa pod");
    let server = medusa["status"]["containerStatuses"]
        .as_array()
        .and_then(|s| s.iter().find(|c| c["name"] == "medusa"))
        .cloned()
        .expect("the server's status");
    assert_eq!(
        server["restartCount"], 0,
        "the server was never killed: {server}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_pod_security_refuses_fails_the_store_at_once_naming_the_rule() {
    // A locked-down cluster: a policy engine forces `restricted` onto every namespace. The
    // official WordPress image starts Apache as root, which restricted forbids.
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            namespace_labels: Some(
                serde_json::json!({"pod-security.kubernetes.io/enforce": "restricted"}),
            ),
            ..Settings::default()
        },
    )
    .await;
    let host = HostProcess::start(&rig.options().with("PROVISIONING_TIMEOUT_MS", "120000")).await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "locked-down", "woocommerce").await;
    let failed = wait_status(&host, &owner, &id, "failed", Duration::from_secs(30)).await;
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("cannot create its pods")
            && reason.contains("violates PodSecurity \"restricted:latest\"")
            && reason.contains("runAsNonRoot != true (pod or container \"wordpress\""),
        "{reason}"
    );
}

/// One nginx Deployment (`nginxinc/nginx-unprivileged`: port 8080, pages in
/// `/usr/share/nginx/html`), with `volume` over the document root when given.
fn nginx(namespace: &str, name: &str, volume: Option<Value>, probe: Value) -> Value {
    let mut pod = serde_json::json!({
        "containers": [{"name": "web", "image": "nginxinc/nginx-unprivileged:1.27-alpine",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": probe,
                        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]});
    if let Some(volume) = volume {
        pod["volumes"] = serde_json::json!([{"name": "pages"}]);
        for (key, value) in volume.as_object().expect("a volume source") {
            pod["volumes"][0][key] = value.clone();
        }
        pod["containers"][0]["volumeMounts"] =
            serde_json::json!([{"name": "pages", "mountPath": "/usr/share/nginx/html"}]);
    }
    serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": pod}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_gets_what_the_web_server_would_answer_and_a_time_out_names_it() {
    use serde_json::json;
    use storeplane::k8s::Readiness;

    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let namespace = "store-probes";
    let cluster = rig.cluster_with_namespace(namespace).await;
    let page = json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "page", "namespace": namespace},
                      "data": {"index.html": "<h1>Hello</h1>"}});
    cluster.apply(namespace, &page).await.expect("config map");
    let http = |path: &str, port: Value| json!({"httpGet": {"path": path, "port": port}});
    let cases = [
        // The scaffold's first chart: the page comes from a setup step, which runs only once
        // the pod is ready; until then nginx answers / with 403.
        (
            "empty-root",
            Some(json!({"emptyDir": {}})),
            http("/", json!(8080)),
            Some("Readiness probe failed: HTTP probe failed with statuscode: 403"),
        ),
        (
            "wrong-port",
            None,
            json!({"tcpSocket": {"port": 80}}),
            Some(":80: connect: connection refused"),
        ),
        (
            "no-such-page",
            None,
            http("/healthz", json!("http")),
            Some("HTTP probe failed with statuscode: 404"),
        ),
        (
            "port-only",
            Some(json!({"emptyDir": {}})),
            json!({"tcpSocket": {"port": "http"}}),
            None,
        ),
        (
            "config-page",
            Some(json!({"configMap": {"name": "page"}})),
            http("/", json!("http")),
            None,
        ),
        ("image-page", None, http("/index.html", json!(8080)), None),
    ];
    for (name, volume, probe, _) in &cases {
        let deployment = nginx(namespace, name, volume.clone(), probe.clone());
        cluster.apply(namespace, &deployment).await.expect("apply");
    }
    for (name, _, _, failure) in cases {
        let waited = wait_for_deployment(
            &cluster,
            namespace,
            name,
            Duration::from_millis(1_500),
            Duration::from_secs(30),
        )
        .await;
        match (failure, waited) {
            (None, Readiness::Ready) => {}
            (Some(expected), Readiness::TimedOut(why)) => assert!(
                why.contains(&format!("Deployment/{name}"))
                    && why.contains(", container web: ")
                    && why.contains(expected),
                "{name}: {why}"
            ),
            (expected, waited) => panic!("{name}: expected {expected:?}, got {waited:?}"),
        }
    }
    let events: Vec<Value> = rig
        .fake
        .objects(namespace)
        .into_iter()
        .filter(|o| o["kind"] == "Event" && o["reason"] == "Unhealthy")
        .collect();
    let empty_root = events
        .iter()
        .find(|e| {
            e["involvedObject"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("empty-root-"))
        })
        .expect("the kubelet's event for the empty document root");
    assert_eq!(empty_root["type"], "Warning");
    assert_eq!(
        empty_root["involvedObject"]["fieldPath"],
        "spec.containers{web}"
    );
    assert_eq!(empty_root["source"]["component"], "kubelet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_exec_probe_fails_the_store_in_time_naming_its_output_without_secrets() {
    // MariaDB's health check cannot log in, and says so with the password it tried (a
    // chart's probe command may print anything its container can read).
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            exec_scripts: vec![storeplane_tests::fake_kube::ExecScript {
                pattern: "healthcheck.sh --connect --innodb_initialized".into(),
                namespaces: Vec::new(),
                exit_code: 1,
                stdout: String::new(),
                stderr: "healthcheck connect failed: Access denied for user 'prestashop' (password ${MARIADB_PASSWORD})\n".into(),
                delay_ms: 0,
            }],
            ..Settings::default()
        },
    )
    .await;
    let host = HostProcess::start(&rig.options().with("PROVISIONING_TIMEOUT_MS", "5000")).await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "locked-out", "prestashop").await;
    let failed = wait_status(&host, &owner, &id, "failed", Duration::from_secs(60)).await;
    let reason = failed["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("workloads did not become ready in time")
            && reason.contains("StatefulSet/mariadb")
            && reason.contains("(pod mariadb-0, container mariadb: Startup probe failed: healthcheck connect failed: Access denied")
            && reason.contains("(password [REDACTED])"),
        "{reason}"
    );
    let audit = host
        .get(
            &format!("/api/v1/audit?storeId={id}&limit=100"),
            Some(&owner.token),
        )
        .await;
    let secrets = rig.secret_values(&id);
    assert_no_secret(&secrets, &failed.to_string(), "the store's failure reason");
    assert_no_secret(&secrets, &audit.body.to_string(), "the store's audit log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_pod_names_must_exist_as_admission_the_scheduler_and_the_kubelet_require() {
    use serde_json::json;
    use storeplane::k8s::Readiness;

    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    // A failing workload fails the wait for every workload of its namespace (a store's):
    // each case has a namespace of its own.
    let namespace_of = |name: &str| format!("store-references-{name}");
    let cases = [
        (
            "no-account",
            json!({"serviceAccountName": "builder", "containers": [{}]}),
            "Deployment no-account cannot create its pods (FailedCreate): pods \"no-account-",
            "is forbidden: error looking up service account store-references-no-account/builder: serviceaccount \"builder\" not found",
        ),
        (
            "no-claim",
            json!({"volumes": [{"name": "pages", "persistentVolumeClaim": {"claimName": "page"}}],
                   "containers": [{"volumeMounts": [{"name": "pages", "mountPath": "/p"}]}]}),
            "cannot be scheduled: 0/3 nodes are available: persistentvolumeclaim \"page\" not found. preemption:",
            "",
        ),
        (
            "no-map",
            json!({"volumes": [{"name": "conf", "configMap": {"name": "setting"}}],
                   "containers": [{"volumeMounts": [{"name": "conf", "mountPath": "/c"}]}]}),
            "not ready: Deployment/no-map (pod no-map-",
            ": MountVolume.SetUp failed for volume \"conf\" : configmap \"setting\" not found)",
        ),
        (
            "no-key",
            json!({"containers": [{"env": [{"name": "PORT", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "port"}}}]}]}),
            "container web is in CreateContainerConfigError (couldn't find key port in ConfigMap store-references-no-key/settings)",
            "",
        ),
    ];
    let mut clusters = Vec::new();
    for (name, pod, _, _) in &cases {
        let namespace = namespace_of(name);
        let cluster = rig.cluster_with_namespace(&namespace).await;
        let settings = json!({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "settings", "namespace": namespace},
                              "data": {"site.conf": "x"}});
        cluster
            .apply(&namespace, &settings)
            .await
            .expect("config map");
        let mut pod = pod.clone();
        pod["containers"][0]["name"] = json!("web");
        pod["containers"][0]["image"] = json!("busybox:1.37");
        pod["containers"][0]["resources"] = json!({"limits": {"cpu": "100m", "memory": "64Mi"}});
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod}}});
        cluster.apply(&namespace, &deployment).await.expect("apply");
        clusters.push(cluster);
    }
    let wait = |cluster: &storeplane::k8s::Cluster, name: &'static str, limit: Duration| {
        let namespace = namespace_of(name);
        let cluster = cluster.clone();
        async move {
            let grace = Duration::from_millis(300);
            wait_for_deployment(&cluster, &namespace, name, limit, grace).await
        }
    };
    for ((name, _, first, second), cluster) in cases.into_iter().zip(&clusters) {
        // Longer than the 2 s a Deployment's refusal must stand before it fails the wait.
        let waited = wait(cluster, name, Duration::from_secs(3)).await;
        let text = match &waited {
            Readiness::Failed(why) | Readiness::TimedOut(why) => why.clone(),
            Readiness::Ready => panic!("{name} became ready"),
        };
        assert!(
            text.contains(first) && text.contains(second),
            "{name}: {waited:?}"
        );
    }
    // The missing ConfigMap appears: the kubelet mounts it and the pod starts.
    let namespace = namespace_of("no-map");
    let setting = json!({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "setting", "namespace": namespace}, "data": {}});
    clusters[2]
        .apply(&namespace, &setting)
        .await
        .expect("config map");
    let healed = wait(&clusters[2], "no-map", Duration::from_secs(10)).await;
    assert_eq!(healed, Readiness::Ready);
}
