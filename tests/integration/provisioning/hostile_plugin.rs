//! A hostile engine plugin (`tests/guests/hostile`) tries every way out of its store namespace
//! that the tenancy review found accepted. It plans harmlessly for the sample stores, so it
//! passes `plugin check` and upload validation; the host refuses it where it matters, on the
//! render of every real store, naming object, field and rule for each attempt, all at once.
//! Its chart can also take gigabytes to render or print everything it was given: helm is
//! stopped at its memory limit, and the store's owner reads a short reason while the detail
//! goes to the audit log.

use std::time::Duration;

use serde_json::{Value, json};
use storeplane::plugins::StoreSpec;
use storeplane_tests::app::{Api, Backend, TestUser};
use storeplane_tests::fake_kube::Settings;

use super::{Rig, wait_status};

/// Each escape, and what the refusal of it says.
const REFUSALS: &[(&str, &str)] = &[
    (
        "Service externalIPs (CVE-2020-8554)",
        "Service/intercept: spec.externalIPs is not allowed",
    ),
    (
        "ExternalName Service to the API server",
        "Service/apiserver: spec.type ExternalName is not allowed",
    ),
    (
        "Ingress with only a default backend",
        "Ingress/catch-all: spec.defaultBackend is not allowed",
    ),
    (
        "Ingress with no rules",
        "Ingress/catch-all: spec.rules is empty",
    ),
    (
        "nginx server-alias annotation",
        "\"nginx.ingress.kubernetes.io/server-alias\" is not allowed",
    ),
    (
        "nginx configuration-snippet annotation",
        "\"nginx.ingress.kubernetes.io/configuration-snippet\" is not allowed",
    ),
    (
        "Traefik middleware from kube-system",
        "\"traefik.ingress.kubernetes.io/router.middlewares\" is not allowed",
    ),
    (
        "another store's hostname",
        "spec.rules[0].host \"sample-shop-0badc0de",
    ),
    (
        "a wildcard TLS host",
        "spec.tls[0].hosts has \"*.stores.example.com\"",
    ),
    (
        // The ingress controller would proxy to whatever the name resolves to: the Service
        // it leads to cannot be an ExternalName.
        "a backend to the ExternalName Service",
        "Service/apiserver: spec.externalName is not allowed",
    ),
    (
        "priorityClassName system-node-critical",
        "spec.template.spec.priorityClassName is not allowed",
    ),
    ("nodeName", "spec.template.spec.nodeName is not allowed"),
    (
        "a toleration of every taint",
        "spec.template.spec.tolerations is not allowed",
    ),
    (
        "an nfs volume",
        "volume \"share\": nfs volumes are not allowed",
    ),
    (
        "a token for another audience",
        "volume \"vault-token\": projected serviceAccountToken sources are not allowed",
    ),
    (
        "a service-account token mounted",
        "spec.template.spec.automountServiceAccountToken must not be true",
    ),
    (
        "privilege escalation",
        "securityContext.allowPrivilegeEscalation must not be true",
    ),
    (
        "capability SYS_ADMIN",
        "securityContext.capabilities.add \"SYS_ADMIN\" is not allowed",
    ),
    (
        "capability NET_ADMIN",
        "securityContext.capabilities.add \"NET_ADMIN\" is not allowed",
    ),
    (
        "replacing the host's default ServiceAccount",
        "ServiceAccount/\"default\": metadata.name is the host's own",
    ),
    (
        "an extended resource no quota counts",
        "Job/miner: container \"miner\": resources.limits.nvidia.com/gpu is not allowed",
    ),
    (
        "a day to stop",
        "Job/miner: terminationGracePeriodSeconds 86400 is above the 120 s",
    ),
    (
        "a thousand retries",
        "Job/miner: backoffLimit 1000 is above the 6 retries",
    ),
    (
        "fifty pods at once",
        "Job/miner: parallelism 50 is above the 4 pods at once",
    ),
    (
        "a name that walks the request path",
        "ConfigMap/\"../../../kube-system/configmaps/coredns\": metadata.name is not a valid",
    ),
];

fn real_spec() -> StoreSpec {
    StoreSpec {
        owner_email: "mallory@tenant.example".into(),
        ..storeplane_tests::spec("6a1b2c3d", json!({}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_check_passes_the_samples_and_reports_every_escape_of_a_real_store_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = storeplane_tests::plugin_check(
        dir.path(),
        storeplane_tests::guests::HOSTILE,
        vec![real_spec()],
    )
    .await;
    assert!(report.problems.is_empty(), "{report}");
    let (real, samples): (Vec<_>, Vec<_>) = report
        .specs
        .iter()
        .partition(|s| s.spec.owner_email == "mallory@tenant.example");
    for sample in &samples {
        assert!(
            sample.problems.is_empty(),
            "the hostile plugin looks harmless to its samples: {report}"
        );
    }
    let problems = real
        .first()
        .map(|s| s.problems.join("\n"))
        .unwrap_or_default();
    let missing: Vec<&str> = REFUSALS
        .iter()
        .filter(|(_, refusal)| !problems.contains(refusal))
        .map(|(escape, _)| *escape)
        .collect();
    assert!(
        missing.is_empty(),
        "not refused: {missing:?}\nthe refusals were:\n{problems}"
    );
}

async fn create_with(host: &Api, user: &TestUser, name: &str, options: Value) -> String {
    let reply = host
        .post(
            "/api/v1/stores",
            Some(&user.token),
            json!({"name": name, "engine": "hostile", "options": options}),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 202, "{}", reply.body);
    reply.body["store"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_plugin_that_passes_its_samples_cannot_touch_the_cluster_through_a_real_store() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    // An operator overlay with a credential in it: it must not reach an engine's own chart.
    let overlay = rig.data.path().join("overlay.yaml");
    std::fs::write(&overlay, "imagePullSecrets: [overlay-credential-7f3a9]\n").expect("overlay");
    let host = storeplane_tests::host::HostProcess::start(
        &rig.options()
            .with("HELM_VALUES_FILE", overlay.display().to_string())
            .with("STORE_CREATION_COOLDOWN_MS", "0"),
    )
    .await;
    let operator = host.user("operator").await;
    let tenant = host.user("mallory").await;
    // The samples pass, so the upload does.
    super::upload_and_activate(
        &host,
        &operator,
        storeplane_tests::guests::HOSTILE,
        "hostile/1.0.0",
    )
    .await;

    let attacked = create_with(&host, &tenant, "attacked", json!({})).await;
    let bomb = create_with(&host, &tenant, "bomb", json!({"attack": "bomb"})).await;
    let leak = create_with(&host, &tenant, "leak", json!({"attack": "leak"})).await;
    let mut reasons = Vec::new();
    for id in [&attacked, &bomb, &leak] {
        let store = wait_status(&host, &tenant, id, "failed", Duration::from_secs(90)).await;
        reasons.push(
            store["failureReason"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    // Refused at render, before anything was applied: no object of the plugin's exists.
    assert!(
        reasons[0].contains("the rendered chart was refused"),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[0].contains("spec.externalIPs is not allowed"),
        "{}",
        reasons[0]
    );
    for id in [&attacked, &bomb, &leak] {
        let planted: Vec<String> = rig
            .fake
            .objects(&format!("store-{id}"))
            .iter()
            .filter(|o| o["metadata"]["labels"]["app.kubernetes.io/managed-by"] != "storeplane")
            .map(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]))
            .collect();
        assert!(planted.is_empty(), "applied for the plugin: {planted:?}");
    }
    // The bomb: helm stopped at its limit (256 MiB by default) instead of the control plane.
    assert_eq!(
        reasons[1],
        "the rendered chart was refused: rendering the chart failed: helm ran out of the 256 MiB of memory it may use"
    );
    // The leak: the owner reads why in short; helm's output is for administrators.
    assert_eq!(
        reasons[2],
        "the rendered chart was refused: rendering the chart failed: helm could not render the engine's chart"
    );
    let render_failed = |user: &TestUser| {
        let (host, token, leak) = (&host, user.token.clone(), leak.clone());
        async move {
            let audit = host
                .get(
                    &format!("/api/v1/audit?storeId={leak}&limit=100"),
                    Some(&token),
                )
                .await;
            audit.body["logs"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["action"] == "store.render_failed")
                .cloned()
                .unwrap_or_default()
        }
    };
    let for_operator = render_failed(&operator).await;
    let detail = for_operator["details"]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("everything this render was given"),
        "the operator's audit log has helm's own words: {for_operator}"
    );
    let for_owner = render_failed(&tenant).await;
    assert_eq!(for_owner["action"], "store.render_failed", "{for_owner}");
    assert!(
        for_owner["details"].get("detail").is_none(),
        "the owner does not read helm's output: {for_owner}"
    );
    // Nor through the store's own history (it once showed every detail to the owner).
    let history = host
        .get(
            &format!("/api/v1/stores/{leak}/logs?limit=100"),
            Some(&tenant.token),
        )
        .await;
    let in_history = history.body["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["action"] == "store.render_failed")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        in_history["action"], "store.render_failed",
        "{}",
        history.body
    );
    assert!(
        in_history["details"].get("detail").is_none(),
        "the owner does not read helm's output in the store's history: {in_history}"
    );
    // Three renders in a row failed through the plugin's doing, but all for one tenant (who
    // may just have picked options the plugin cannot render): the engine stays available.
    let disabled_events = || async {
        host.get(
            "/api/v1/audit?eventType=plugin.disabled_automatically",
            Some(&operator.token),
        )
        .await
        .body
    };
    assert_eq!(disabled_events().await["total"], 0);
    // Two more tenants' stores fail the same way: three owners in a row, so its engine is
    // disabled for new stores, and the operator is told why.
    for name in ["bob", "carol"] {
        let other = host.user(name).await;
        let id = create_with(&host, &other, "attacked", json!({})).await;
        wait_status(&host, &other, &id, "failed", Duration::from_secs(90)).await;
    }
    let audit = disabled_events().await;
    let disabled = &audit["logs"][0];
    assert_eq!(disabled["details"]["engine"], "hostile", "{audit}");
    let refused = host
        .post(
            "/api/v1/stores",
            Some(&tenant.token),
            json!({"name": "again", "engine": "hostile"}),
        )
        .await;
    assert_eq!(refused.status.as_u16(), 400, "{}", refused.body);
    let everything = format!("{reasons:?} {for_operator} {for_owner}");
    assert!(
        !everything.contains("overlay-credential-7f3a9"),
        "the operator's overlay reached an engine's own chart: {everything}"
    );
}
