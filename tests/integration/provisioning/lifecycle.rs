//! A store's whole life against the fake cluster, for every built-in engine: requested → ready with
//! endpoints, every object in place and labelled, every setup step run once and in order, no
//! secret anywhere it must not be, the request id on the job's audit events and log lines;
//! then delete → namespace gone → deleted.

use std::time::Duration;

use serde_json::Value;
use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::Settings;

use super::*;

const STORE_LABEL: &str = "storeplane.io/store-id";

async fn full_lifecycle(backend: Backend, engine: &str) {
    let rig = Rig::new(backend, Settings::default()).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, request_id) = create_store(&host, &owner, "my-shop", engine).await;
    assert!(!request_id.is_empty());

    let ready = wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let endpoints = ready["endpoints"].as_array().cloned().unwrap_or_default();
    assert!(
        !endpoints.is_empty(),
        "a ready store lists its endpoints: {ready}"
    );
    for endpoint in &endpoints {
        assert!(
            endpoint["url"]
                .as_str()
                .is_some_and(|u| u.contains(&format!("store-{id}.localhost"))),
            "endpoints are on the store's host: {ready}"
        );
    }
    assert!(
        ready.get("progress").is_none(),
        "no progress once ready: {ready}"
    );

    // Every object lives in the store's namespace and carries the store label.
    let namespace = format!("store-{id}");
    let objects = rig.fake.objects(&namespace);
    let kinds: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    for expected in [
        format!("Namespace/{namespace}"),
        "ResourceQuota/store-quota".into(),
        "LimitRange/store-limits".into(),
        "NetworkPolicy/default-deny".into(),
        "NetworkPolicy/allow-same-namespace".into(),
        "NetworkPolicy/allow-dns".into(),
        "NetworkPolicy/allow-internet-egress".into(),
        "NetworkPolicy/allow-ingress-controller".into(),
        "ServiceAccount/default".into(),
        "Secret/store-credentials".into(),
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
    for kind in ["Deployment", "Service", "Ingress", "StatefulSet"] {
        assert!(
            kinds.iter().any(|k| k.starts_with(&format!("{kind}/"))),
            "no {kind} in {kinds:?}"
        );
    }
    for object in objects.iter().filter(|o| o["kind"] != "Pod") {
        assert_eq!(
            object["metadata"]["labels"][STORE_LABEL],
            id.as_str(),
            "unlabelled: {}",
            object["metadata"]
        );
    }
    let ns = rig
        .fake
        .object("v1", "Namespace", "", &namespace)
        .expect("namespace");
    // The strictest level the engine's pods pass: every Medusa pod runs as non-root; the
    // official WordPress and PrestaShop images start Apache as root.
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        if engine == "medusa" {
            "restricted"
        } else {
            "baseline"
        }
    );
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/warn"],
        "restricted"
    );
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a deployment");
    assert_eq!(
        deployment["metadata"]["managedFields"][0]["manager"],
        "storeplane"
    );
    let ingress_policy = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "allow-ingress-controller")
        .expect("ingress policy");
    assert_eq!(
        ingress_policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "kube-system"
    );

    // Every setup step of the plan ran exactly once, in order, and succeeded.
    let record = rig.record(&id).await;
    let plan = record.plan.expect("the record holds the plan").plan;
    let planned: Vec<Vec<String>> = plan.setup.iter().map(|s| s.command.clone()).collect();
    assert!(!planned.is_empty());
    assert_eq!(rig.completed_execs(&id), planned, "setup commands as run");
    assert!(rig.fake.execs().iter().all(|e| e.exit_code == Some(0)));

    // No generated secret in exec arguments or URLs, API request URLs, logs, audit events or
    // the stored plan.
    let secrets = rig.secret_values(&id);
    assert!(secrets.len() >= 2, "the engine's secrets were generated");
    for exec in rig.fake.execs() {
        assert_no_secret(&secrets, &exec.uri, "an exec URL");
        assert_no_secret(&secrets, &exec.command.join(" "), "an exec command");
    }
    for request in rig.fake.requests() {
        assert_no_secret(&secrets, &request.uri, "a Kubernetes request URL");
    }
    let logs = host.logs().join("\n");
    assert_no_secret(&secrets, &logs, "the host's logs");
    let audit = host
        .get(
            &format!("/api/v1/audit?storeId={id}&limit=100"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(audit.status.as_u16(), 200, "{}", audit.body);
    assert_no_secret(&secrets, &audit.body.to_string(), "the audit log");
    assert_no_secret(
        &secrets,
        &serde_json::to_string(&plan.values).unwrap_or_default(),
        "the plan's values",
    );

    // The create call's request id is on every audit event and log line of the job.
    let events = audit.body["logs"].as_array().cloned().unwrap_or_default();
    let job_events: Vec<&Value> = events
        .iter()
        .filter(|e| {
            let action = e["action"].as_str().unwrap_or_default();
            action == "store.provisioning"
                || action == "store.setup_step"
                || action == "store.ready"
        })
        .collect();
    assert_eq!(
        job_events.len(),
        planned.len() + 2,
        "provisioning, each setup step, ready: {events:?}"
    );
    for event in &job_events {
        assert_eq!(
            event["requestId"],
            request_id.as_str(),
            "request id of {event}"
        );
    }
    let job_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(&format!("\"store\":\"{id}\"")) && l.contains("\"name\":\"job\""))
        .collect();
    assert!(
        job_lines.len() >= 10,
        "the job logged its steps: {} lines",
        job_lines.len()
    );
    for line in job_lines {
        assert!(
            line.contains(&request_id),
            "log line without the request id: {line}"
        );
    }

    // Delete: the namespace goes, then the store is deleted.
    let deleting = host
        .delete(&format!("/api/v1/stores/{id}"), Some(&owner.token))
        .await;
    assert_eq!(deleting.status.as_u16(), 202, "{}", deleting.body);
    wait_status(&host, &owner, &id, "deleted", Duration::from_secs(30)).await;
    assert!(
        rig.fake.objects(&namespace).is_empty(),
        "the namespace and its objects are gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_store_lives_and_dies_on_sqlite() {
    full_lifecycle(Backend::Sqlite, "woocommerce").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medusa_store_lives_and_dies_on_postgres() {
    full_lifecycle(Backend::Postgres, "medusa").await;
}

/// The engine with its own embedded chart, rendered and applied like the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prestashop_store_lives_and_dies_on_sqlite() {
    full_lifecycle(Backend::Sqlite, "prestashop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_shows_the_current_step_while_waiting() {
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            ready_after_ms: 1_500,
            // Setup lasts long enough to be seen.
            default_exec_delay_ms: 300,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "slow-shop", "woocommerce").await;
    let waiting = wait_until(&host, &owner, &id, Duration::from_secs(30), |s| {
        s["progress"]["step"] == "wait"
    })
    .await;
    assert_eq!(waiting["progress"]["index"], 7);
    assert_eq!(waiting["progress"]["of"], 9);
    assert_eq!(waiting["status"], "provisioning");
    assert!(
        rig.fake.execs().is_empty(),
        "no setup before the workloads are ready"
    );
    // The step's start is recorded by the server, and stays put while the step lasts.
    let started_at = |store: &Value| {
        store["progress"]["startedAt"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .unwrap_or_else(|| panic!("progress.startedAt: {store}"))
    };
    let began = started_at(&waiting);
    let created = chrono::DateTime::parse_from_rfc3339(waiting["createdAt"].as_str().unwrap())
        .expect("createdAt");
    assert!(began >= created && began <= chrono::Utc::now(), "{waiting}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = host
        .get(&format!("/api/v1/stores/{id}"), Some(&owner.token))
        .await
        .body["store"]
        .clone();
    if later["progress"]["step"] == "wait" {
        assert_eq!(started_at(&later), began, "the same step, the same start");
    }
    let in_setup = wait_until(&host, &owner, &id, Duration::from_secs(30), |s| {
        s["progress"]["step"] == "setup"
    })
    .await;
    assert!(
        started_at(&in_setup) > began,
        "the next step starts its own clock: {in_setup}"
    );
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_output_reaches_the_audit_log_bounded_and_redacted() {
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            ready_after_ms: 1_000,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "chatty", "woocommerce").await;
    // Once the Secret exists, every command "prints" a secret value and a lot of noise.
    let namespace = format!("store-{id}");
    let started = std::time::Instant::now();
    while rig
        .fake
        .object("v1", "Secret", &namespace, "store-credentials")
        .is_none()
    {
        assert!(started.elapsed() < Duration::from_secs(30), "no Secret");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secrets = rig.secret_values(&id);
    let leak = format!("admin password is {}\n{}", secrets[0], "x".repeat(20_000));
    rig.fake.update(|s| {
        s.exec_scripts = vec![storeplane_tests::fake_kube::ExecScript {
            pattern: String::new(),
            namespaces: Vec::new(),
            exit_code: 0,
            stdout: leak.clone(),
            stderr: format!("warning: {}", secrets[0]),
            delay_ms: 0,
        }]
    });
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let audit = host
        .get(
            &format!("/api/v1/audit?storeId={id}&eventType=store.setup_step&limit=100"),
            Some(&owner.token),
        )
        .await;
    let events = audit.body["logs"].as_array().cloned().unwrap_or_default();
    assert!(!events.is_empty());
    for event in &events {
        let stdout = event["details"]["stdout"].as_str().unwrap_or_default();
        let stderr = event["details"]["stderr"].as_str().unwrap_or_default();
        assert!(
            stdout.len() <= 4_200,
            "stdout is bounded ({} bytes)",
            stdout.len()
        );
        assert!(stderr.contains("[REDACTED]"), "{stderr}");
        assert_eq!(event["details"]["exitCode"], 0);
    }
    assert_no_secret(
        &secrets,
        &audit.body.to_string(),
        "the setup steps' audit events",
    );
    assert_no_secret(&secrets, &host.logs().join("\n"), "the host's logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_runs_without_the_hosts_secrets_or_its_kubeconfig() {
    // A helm that writes down its environment and arguments, then renders.
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = dir.path().join("seen");
    let wrapper = dir.path().join("helm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n{{ env; echo \"ARGS $*\"; }} >> '{}'\nexec '{}' \"$@\"\n",
            seen.display(),
            storeplane_tests::helm_bin().display()
        ),
    )
    .expect("write wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = HostProcess::start(
        &rig.options()
            .with("HELM_BIN", wrapper.display().to_string()),
    )
    .await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "sealed", "medusa").await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let seen = std::fs::read_to_string(&seen).expect("helm ran");
    assert!(seen.contains("ARGS template"), "{seen}");
    for variable in ["JWT_SECRET=", "DATABASE_URL=", "KUBECONFIG=", "DATA_DIR="] {
        assert!(
            !seen.lines().any(|l| l.starts_with(variable)),
            "helm saw {variable}"
        );
    }
    assert_no_secret(
        &rig.secret_values(&id),
        &seen,
        "helm's environment or arguments",
    );
    assert!(!seen.contains("test-jwt-secret-of-at-least-32-characters"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_named_without_a_directory_is_found_on_the_path() {
    // HELM_BIN's default is `helm`, looked up on PATH (as in the image and `.ci/run`).
    let helm = storeplane_tests::helm_bin();
    let dir = helm.parent().expect("helm's directory");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = HostProcess::start(&rig.options().with("HELM_BIN", "helm").with("PATH", path)).await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "on-path", "woocommerce").await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_store_namespace_enforces_the_strictest_pod_security_level_its_pods_pass() {
    // The fake enforces what the label says: a Medusa store reaching `ready` under
    // `restricted` shows its pods really pass it.
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (woo, _) = create_store(&host, &owner, "apache-as-root", "woocommerce").await;
    let (medusa, _) = create_store(&host, &owner, "non-root", "medusa").await;
    for (id, level) in [(&woo, "baseline"), (&medusa, "restricted")] {
        wait_status(&host, &owner, id, "ready", Duration::from_secs(60)).await;
        let namespace = rig
            .fake
            .object("v1", "Namespace", "", &format!("store-{id}"))
            .expect("the namespace");
        let labels = &namespace["metadata"]["labels"];
        assert_eq!(
            labels["pod-security.kubernetes.io/enforce"], level,
            "{labels}"
        );
        assert_eq!(labels["pod-security.kubernetes.io/warn"], "restricted");
        // Whatever the chart left unset was set to its safe value before it was applied.
        for workload in rig
            .fake
            .objects(&format!("store-{id}"))
            .iter()
            .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
        {
            let pod = &workload["spec"]["template"]["spec"];
            assert_eq!(pod["automountServiceAccountToken"], false, "{workload}");
            assert!(pod["securityContext"]["seccompProfile"]["type"].is_string());
            for list in ["initContainers", "containers"] {
                for container in pod[list].as_array().into_iter().flatten() {
                    assert_eq!(
                        container["securityContext"]["allowPrivilegeEscalation"], false,
                        "{container}"
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_step_that_prints_its_secrets_fails_the_store_without_showing_them() {
    // WP-CLI failing the way it does when the database refuses it, printing the password it
    // was given (the fake expands `${NAME}` from the container's environment, Secret
    // references resolved as the kubelet does).
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            exec_scripts: vec![storeplane_tests::fake_kube::ExecScript {
                pattern: "wp core install".into(),
                namespaces: Vec::new(),
                exit_code: 1,
                stdout: "connecting with ${WORDPRESS_DB_PASSWORD}\n".into(),
                stderr: "Error: Access denied for user 'wordpress'@'%' (using password: ${WORDPRESS_DB_PASSWORD})\n".into(),
                delay_ms: 0,
            }],
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "talkative", "woocommerce").await;
    let store = wait_status(&host, &owner, &id, "failed", Duration::from_secs(60)).await;
    let reason = store["failureReason"].as_str().unwrap_or_default();
    let secrets = rig.secret_values(&id);
    assert!(
        reason.contains("setup step install-wordpress failed") && reason.contains("[REDACTED]"),
        "the owner reads why, the password masked: {reason}"
    );
    assert_no_secret(&secrets, reason, "the failure reason");
    let audit = host
        .get(
            &format!("/api/v1/audit?storeId={id}&limit=100"),
            Some(&owner.token),
        )
        .await;
    assert_no_secret(&secrets, &audit.body.to_string(), "the audit log");
    assert_no_secret(&secrets, &host.logs().join("\n"), "the host's logs");
    let events = host
        .get(&format!("/api/v1/stores/{id}"), Some(&owner.token))
        .await;
    assert_no_secret(&secrets, &events.body.to_string(), "the store's view");
}
