//! The control-plane chart `helm/storeplane`: it lints, renders for one replica (SQLite) and
//! three (PostgreSQL) into manifests valid for Kubernetes 1.33, refuses several replicas on
//! SQLite, and its ClusterRole grants exactly the API calls the host makes: the host provisions,
//! reveals credentials, retries (recreating what a chart change made immutable) and deletes
//! stores against a fake that authorizes every request with the chart's RBAC (real verb
//! mapping), and every granted verb is one the fake saw the host use, or the server-side apply
//! (create + patch) of a kind the host applies.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::{PodFailure, Settings};
use storeplane_tests::{helm_bin, kubernetes_validate, workspace_root};

use crate::provisioning::{Rig, create_store, upload_and_activate_woo_next, wait_status};

const JWT: &str = "jwt.secret=0123456789abcdef0123456789abcdef";

fn render(sets: &[&str]) -> Result<String, String> {
    let chart = workspace_root().join("helm/storeplane");
    let mut command = Command::new(helm_bin());
    command
        .arg("template")
        .arg("sp")
        .arg(&chart)
        .args(["--namespace", "storeplane"]);
    for set in sets {
        command.args(["--set", set]);
    }
    let output = command.output().expect("run helm");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn documents(text: &str) -> Vec<Value> {
    text.split("\n---")
        .filter_map(|doc| serde_yaml_ng::from_str::<Value>(doc).ok())
        .filter(|v| v.is_object())
        .collect()
}

#[test]
fn the_chart_lints_renders_for_one_and_three_replicas_and_validates() {
    let chart = workspace_root().join("helm/storeplane");
    let lint = Command::new(helm_bin())
        .args(["lint", "--strict"])
        .arg(&chart)
        .args(["--set", JWT])
        .output()
        .expect("helm lint");
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stdout)
    );

    let one = render(&[JWT]).expect("one replica on SQLite renders");
    let three = render(&[
        "replicaCount=3",
        "database.type=postgres",
        "database.existingSecret=storeplane-db",
        "jwt.existingSecret=storeplane-jwt",
        "ingress.enabled=true",
        "stores.valuesOverlay=storageClass: local-path",
    ])
    .expect("three replicas on PostgreSQL render");
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in [("one.yaml", &one), ("three.yaml", &three)] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let out = Command::new(kubernetes_validate())
            .args(["-k", "1.33.0", "--strict"])
            .arg(&path)
            .output()
            .expect("kubernetes-validate");
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let deployment = |text: &str| {
        documents(text)
            .into_iter()
            .find(|d| d["kind"] == "Deployment")
            .expect("a Deployment")
    };
    let single = deployment(&one);
    assert_eq!(single["spec"]["replicas"], 1);
    assert_eq!(
        single["spec"]["strategy"]["type"], "Recreate",
        "one SQLite file: never two pods"
    );
    let container = &single["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"],
        "/api/v1/health/ready"
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"],
        "/api/v1/health/live"
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    assert_eq!(
        single["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
    let ha = deployment(&three);
    assert_eq!(ha["spec"]["replicas"], 3);
    assert_eq!(ha["spec"]["strategy"]["type"], "RollingUpdate");
    let kinds: BTreeSet<String> = documents(&three)
        .iter()
        .filter_map(|d| d["kind"].as_str().map(str::to_owned))
        .collect();
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
        "ConfigMap",
    ] {
        assert!(kinds.contains(kind), "{kind} missing: {kinds:?}");
    }
    for document in documents(&one).iter().filter(|d| d["kind"] != "Secret") {
        assert!(
            !document
                .to_string()
                .contains("0123456789abcdef0123456789abcdef"),
            "the JWT secret appears outside the Secret, in {}",
            document["kind"]
        );
    }

    // The image the chart runs: the same user and helm path as the Dockerfile.
    let dockerfile =
        std::fs::read_to_string(workspace_root().join("Dockerfile")).expect("Dockerfile");
    assert!(dockerfile.contains("USER 65532:65532"));
    assert_eq!(
        single["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
        65532
    );
    assert!(
        dockerfile.contains("COPY --from=helm /helm /usr/local/bin/helm")
            && one.contains("HELM_BIN: /usr/local/bin/helm")
    );

    let refused = render(&["replicaCount=2", JWT]).expect_err("two replicas on SQLite are refused");
    assert!(
        refused.contains("needs database.type: postgres"),
        "{refused}"
    );
    let no_secret = render(&[]).expect_err("no JWT secret is refused");
    assert!(no_secret.contains("jwt"), "{no_secret}");
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_works_with_exactly_the_rights_the_chart_grants() {
    // Make the host do everything it can do against a cluster. The quota controller is slow
    // enough that the host always has to watch for it.
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            quota_sync_ms: 300,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (woo, _) = create_store(&host, &owner, "rbac-woo", "woocommerce").await;
    let (medusa, _) = create_store(&host, &owner, "rbac-medusa", "medusa").await;
    // An engine with its own chart: its objects go through the same rights.
    let (presta, _) = create_store(&host, &owner, "rbac-presta", "prestashop").await;
    for id in [&woo, &medusa, &presta] {
        wait_status(&host, &owner, id, "ready", Duration::from_secs(60)).await;
    }
    let credentials = host
        .get(
            &format!("/api/v1/stores/{woo}/credentials"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(credentials.status.as_u16(), 200, "{}", credentials.body);
    rig.fake.update(|s| {
        s.pod_failures = vec![PodFailure {
            matches: "wordpress".into(),
            reason: "ErrImagePull".into(),
        }]
    });
    let (failing, _) = create_store(&host, &owner, "rbac-retry", "woocommerce").await;
    let (upgraded, _) = create_store(&host, &owner, "rbac-upgrade", "woocommerce").await;
    for id in [&failing, &upgraded] {
        wait_status(&host, &owner, id, "failed", Duration::from_secs(60)).await;
    }
    rig.fake.update(|s| s.pod_failures.clear());
    // Someone removed a key from the credentials Secret: the retry puts it back (and deletes
    // the pods that could not start).
    let namespace = format!("store-{failing}");
    let mut removed = String::new();
    assert!(
        rig.fake
            .edit("v1", "Secret", &namespace, "store-credentials", |secret| {
                let data = secret["data"].as_object_mut().expect("data");
                removed = data.keys().next().cloned().unwrap_or_default();
                data.remove(&removed);
            })
    );
    host.post(
        &format!("/api/v1/stores/{failing}/retry"),
        Some(&owner.token),
        json!({}),
    )
    .await;
    wait_status(&host, &owner, &failing, "ready", Duration::from_secs(60)).await;
    let secret = rig
        .fake
        .object("v1", "Secret", &namespace, "store-credentials")
        .expect("secret");
    assert!(
        secret["data"].get(&removed).is_some(),
        "the retry restored {removed}"
    );

    // An older chart release applied the other store's objects: the new one changes fields
    // that cannot change, so its retry (with a new engine version: planned and applied
    // again) recreates the StatefulSet and the Deployment.
    let upgraded_namespace = format!("store-{upgraded}");
    let objects = rig.fake.objects(&upgraded_namespace);
    for kind in ["StatefulSet", "Deployment"] {
        let name = objects
            .iter()
            .find(|o| o["kind"] == kind)
            .and_then(|o| o["metadata"]["name"].as_str())
            .unwrap_or_default()
            .to_owned();
        assert!(rig.fake.edit_as_applied_by(
            "storeplane",
            ("apps/v1", kind),
            (&upgraded_namespace, &name),
            |object| {
                object["spec"]["selector"]["matchLabels"]["app.kubernetes.io/version"] =
                    json!("0.0.1");
            }
        ));
    }
    upload_and_activate_woo_next(&host, &owner).await;
    host.post(
        &format!("/api/v1/stores/{upgraded}/retry"),
        Some(&owner.token),
        json!({}),
    )
    .await;
    wait_status(&host, &owner, &upgraded, "ready", Duration::from_secs(60)).await;
    // An upgrade that removes an object (the next release renders no Ingress), then a
    // suspension and a resumption: the store role's rights suffice for day two as well.
    crate::provisioning::upload_and_activate(
        &host,
        &owner,
        storeplane_tests::guests::WOO_UPGRADE,
        "woocommerce/0.3.0",
    )
    .await;
    let upgrade = host
        .post(
            &format!("/api/v1/stores/{woo}/upgrade"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    assert_eq!(upgrade.status.as_u16(), 202, "{}", upgrade.body);
    let upgraded_woo =
        crate::provisioning::wait_until(&host, &owner, &woo, Duration::from_secs(60), |s| {
            s["status"] == "ready" && s["pluginVersion"] == "0.3.0"
        })
        .await;
    assert!(upgraded_woo["failureReason"].is_null(), "{upgraded_woo}");
    for (operation, status) in [("suspend", "suspended"), ("resume", "ready")] {
        host.post(
            &format!("/api/v1/stores/{woo}/{operation}"),
            Some(&owner.token),
            json!({}),
        )
        .await;
        wait_status(&host, &owner, &woo, status, Duration::from_secs(60)).await;
    }
    let all = [&woo, &medusa, &presta, &failing, &upgraded];
    for id in all {
        host.delete(&format!("/api/v1/stores/{id}"), Some(&owner.token))
            .await;
    }
    for id in all {
        wait_status(&host, &owner, id, "deleted", Duration::from_secs(60)).await;
    }
    // The fake authorized every request as kube-apiserver does, with the chart's RBAC: the
    // stores above reaching `ready` and `deleted` is the proof that the rights suffice. The
    // verbs are the fake's own mapping (websocket exec = get + create, an apply that creates
    // = patch + create), not a table kept here.
    let decisions = rig.fake.authorizations();
    let host_user = "system:serviceaccount:storeplane:storeplane";
    let refused: Vec<String> = decisions
        .iter()
        .filter(|d| d.user == host_user && !d.allowed)
        .map(|d| format!("{:?}", d.attributes))
        .collect();
    assert!(refused.is_empty(), "the host was refused: {refused:?}");
    let used: BTreeSet<(String, String, String)> = decisions
        .iter()
        .filter(|d| d.user == host_user)
        .map(|d| {
            let a = &d.attributes;
            let resource = if a.subresource.is_empty() {
                a.resource.clone()
            } else {
                format!("{}/{}", a.resource, a.subresource)
            };
            (a.group.clone(), resource, a.verb.clone())
        })
        .collect();
    for verb in ["get", "create"] {
        assert!(
            used.contains(&(String::new(), "pods/exec".into(), verb.into())),
            "setup ran over a websocket exec, authorized as {verb}"
        );
    }

    let rendered = render(&[JWT]).expect("render");
    let documents = documents(&rendered);
    let roles: Vec<&Value> = documents
        .iter()
        .filter(|d| d["kind"] == "ClusterRole")
        .collect();
    assert_eq!(roles.len(), 2, "the cluster-wide role and the store role");
    // What the host may do cluster-wide: the roles its ClusterRoleBindings name. Never
    // exec, Secret writes or workload writes; the store role is bound only per namespace.
    let cluster_wide: Vec<&str> = documents
        .iter()
        .filter(|d| d["kind"] == "ClusterRoleBinding")
        .filter_map(|d| d["roleRef"]["name"].as_str())
        .collect();
    let store_role = roles
        .iter()
        .filter_map(|r| r["metadata"]["name"].as_str())
        .find(|name| name.ends_with("-store"))
        .expect("the store role");
    assert_eq!(cluster_wide.len(), 1, "{cluster_wide:?}");
    assert!(
        !cluster_wide.contains(&store_role),
        "the store role is bound only per namespace"
    );
    for role in roles
        .iter()
        .filter(|r| cluster_wide.contains(&r["metadata"]["name"].as_str().unwrap_or_default()))
    {
        for rule in role["rules"].as_array().into_iter().flatten() {
            let resources = strings(&rule["resources"]);
            let verbs = strings(&rule["verbs"]);
            for forbidden in [
                "pods/exec",
                "pods",
                "secrets",
                "deployments",
                "statefulsets",
                "jobs",
                "cronjobs",
            ] {
                assert!(
                    !resources.contains(&forbidden.to_owned()),
                    "cluster-wide rights on {forbidden}: {rule}"
                );
            }
            assert!(
                !verbs
                    .iter()
                    .any(|v| matches!(v.as_str(), "update" | "escalate" | "impersonate")),
                "{rule}"
            );
            if verbs.contains(&"bind".to_owned()) {
                assert_eq!(
                    rule["resourceNames"],
                    json!([store_role]),
                    "bind only the store role"
                );
            }
        }
    }
    let rules: Vec<Value> = roles
        .iter()
        .flat_map(|r| r["rules"].as_array().cloned().unwrap_or_default())
        .collect();
    // Everything granted was used, or is the apply (create + patch) of a kind the host
    // applies, or the deletion of a kind an upgrade removes when no longer rendered.
    let applied: BTreeSet<(String, String)> = storeplane::k8s::applied_resources()
        .map(|(g, r)| (g.to_owned(), r.to_owned()))
        .collect();
    let pruned: BTreeSet<(String, String)> = storeplane::k8s::pruned_resources()
        .map(|(g, r)| (g.to_owned(), r.to_owned()))
        .collect();
    let mut unused = Vec::new();
    for rule in &rules {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    let done = used.contains(&(group.clone(), resource.clone(), verb.clone()));
                    let applies = matches!(verb.as_str(), "create" | "patch")
                        && applied.contains(&(group.clone(), resource.clone()));
                    let prunes =
                        verb == "delete" && pruned.contains(&(group.clone(), resource.clone()));
                    if !done && !applies && !prunes {
                        unused.push(format!("{verb} {group}/{resource}"));
                    }
                }
            }
        }
    }
    assert!(unused.is_empty(), "granted but never used: {unused:?}");
    for rule in &rules {
        for key in ["verbs", "resources", "apiGroups", "resourceNames"] {
            assert!(
                !strings(&rule[key]).contains(&"*".to_owned()),
                "no wildcard {key}: {rule}"
            );
        }
    }
}

#[test]
fn the_images_are_built_for_each_architecture_with_tools_of_that_architecture() {
    // An arm64 image with an x86-64 helm cannot render a single store. The helm stage builds
    // helm for the image's architecture (cross-compiled on the build machine's), and CI builds
    // and runs the image on an amd64 and an arm64 runner.
    let dockerfile =
        std::fs::read_to_string(workspace_root().join("Dockerfile")).expect("Dockerfile");
    let helm_stage = dockerfile
        .split("\nFROM ")
        .find(|stage| stage.contains(" AS helm"))
        .expect("a helm stage");
    assert!(
        helm_stage.starts_with("--platform=$BUILDPLATFORM ")
            && helm_stage.contains("GOARCH=$TARGETARCH")
            && helm_stage.contains("helm.sh/helm/v4/cmd/helm@v4.1.4"),
        "helm is built for the target architecture: {helm_stage}"
    );
    let workflow =
        std::fs::read_to_string(workspace_root().join(".github/workflows/ci.yml")).expect("ci.yml");
    let image_job = workflow.split("\n  image:").nth(1).expect("an image job");
    for needle in [
        "ubuntu-24.04-arm",
        "--entrypoint /usr/local/bin/helm storeplane:ci version",
        "docker build -t storeplane/medusa:ci docker/medusa",
    ] {
        assert!(image_job.contains(needle), "the image job has {needle}");
    }
    let medusa = std::fs::read_to_string(workspace_root().join("docker/medusa/Dockerfile"))
        .expect("medusa Dockerfile");
    assert!(
        medusa
            .lines()
            .filter(|l| l.starts_with("FROM "))
            .all(|l| l.starts_with("FROM node:22-")),
        "Medusa 2.21's dependencies need Node >= 22.15: {medusa}"
    );
}
