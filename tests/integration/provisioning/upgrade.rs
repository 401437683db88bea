//! Applying a store again after its chart changed: the API server refuses changes to fields
//! that can never change (a StatefulSet's claim templates, a Deployment's selector) with 422;
//! the host recreates those objects and keeps the data (the claims, with their uid).

use std::time::Duration;

use serde_json::json;
use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::{ExecScript, PodFailure, Settings};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_chart_change_recreates_what_cannot_change_and_keeps_the_data() {
    let settings = Settings {
        pod_failures: vec![PodFailure {
            matches: "wordpress".into(),
            reason: "ImagePullBackOff".into(),
        }],
        ..Settings::default()
    };
    let rig = Rig::new(Backend::Sqlite, settings).await;
    let host = rig.host().await;
    let admin = host.user("admin").await;
    let (id, _) = create_store(&host, &admin, "upgraded", "woocommerce").await;
    wait_status(&host, &admin, &id, "failed", Duration::from_secs(30)).await;

    // What an older chart release left in the cluster: claim templates labelled with its
    // version, and a Deployment selecting on one more label.
    let namespace = format!("store-{id}");
    let objects = rig.fake.objects(&namespace);
    let of_kind = |kind: &str| {
        objects
            .iter()
            .find(|o| o["kind"] == kind)
            .and_then(|o| o["metadata"]["name"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let (statefulset, deployment) = (of_kind("StatefulSet"), of_kind("Deployment"));
    let older_chart = |kind, name: &str, change: &dyn Fn(&mut serde_json::Value)| {
        assert!(rig.fake.edit_as_applied_by(
            "storeplane",
            ("apps/v1", kind),
            (&namespace, name),
            |object| change(object)
        ));
    };
    older_chart("StatefulSet", &statefulset, &|sts| {
        sts["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]["helm.sh/chart"] =
            json!("ecommerce-store-0.0.1");
    });
    older_chart("Deployment", &deployment, &|d| {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/version"] = json!("0.0.1");
    });
    let claim_uid = |rig: &Rig| {
        rig.fake
            .object(
                "v1",
                "PersistentVolumeClaim",
                &namespace,
                &format!("data-{statefulset}-0"),
            )
            .map(|c| c["metadata"]["uid"].clone())
    };
    let before = claim_uid(&rig);
    assert!(before.is_some(), "the database claim exists");

    // The admin ships a new engine version and retries: the store is planned and applied
    // again, and the two objects cannot be changed in place.
    upload_and_activate_woo_next(&host, &admin).await;
    rig.fake.update(|s| s.pod_failures.clear());
    let retry = host
        .post(
            &format!("/api/v1/stores/{id}/retry"),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(retry.status.as_u16(), 202, "{}", retry.body);
    let store = wait_until(&host, &admin, &id, Duration::from_secs(60), |s| {
        s["status"] == "ready" || s["status"] == "failed"
    })
    .await;
    assert_eq!(store["status"], "ready", "{store}");
    assert_eq!(
        claim_uid(&rig),
        before,
        "the database kept its volume claim"
    );
    let sts = rig
        .fake
        .object("apps/v1", "StatefulSet", &namespace, &statefulset)
        .expect("statefulset");
    assert!(
        sts["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]
            .get("helm.sh/chart")
            .is_none(),
        "claim templates carry no chart version any more: {}",
        sts["spec"]["volumeClaimTemplates"]
    );
    let audit = host
        .get(
            &format!("/api/v1/audit?storeId={id}&eventType=store.object_recreated"),
            Some(&admin.token),
        )
        .await;
    let messages: Vec<&str> = audit.body["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains(&format!("StatefulSet/{statefulset}"))
                && m.contains("updates to statefulset spec for fields other than")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains(&format!("Deployment/{deployment}"))
                && m.contains("field is immutable")),
        "{messages:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_statefulset_counts_as_ready_only_once_its_pods_are_replaced() {
    // Setup fails first, with every workload ready: the retry below only changes the
    // StatefulSet's pod template.
    let settings = Settings {
        exec_scripts: vec![ExecScript {
            pattern: "install_pages".into(),
            namespaces: Vec::new(),
            exit_code: 3,
            stdout: String::new(),
            stderr: "Error: the pages could not be created".into(),
            delay_ms: 0,
        }],
        ..Settings::default()
    };
    let rig = Rig::new(Backend::Sqlite, settings).await;
    let host = rig.host().await;
    let admin = host.user("admin").await;
    let (id, _) = create_store(&host, &admin, "rolled", "woocommerce").await;
    wait_status(&host, &admin, &id, "failed", Duration::from_secs(60)).await;

    // An older chart annotated the database's pods; the new one does not, so the retry's
    // apply changes the template and the StatefulSet controller replaces the pod, slowly.
    let namespace = format!("store-{id}");
    let statefulset = rig
        .fake
        .objects(&namespace)
        .into_iter()
        .find(|o| o["kind"] == "StatefulSet")
        .and_then(|o| o["metadata"]["name"].as_str().map(str::to_owned))
        .expect("a StatefulSet");
    assert!(rig.fake.edit_as_applied_by(
        "storeplane",
        ("apps/v1", "StatefulSet"),
        (&namespace, &statefulset),
        |sts| {
            sts["spec"]["template"]["metadata"]["annotations"] =
                json!({"storeplane.io/chart": "ecommerce-store-0.0.1"});
        }
    ));
    upload_and_activate_woo_next(&host, &admin).await;
    rig.fake.update(|s| {
        s.exec_scripts.clear();
        s.ready_after_ms = 2_000;
    });
    let retried_at = storeplane_tests::fake_kube::now_ms();
    let retry = host
        .post(
            &format!("/api/v1/stores/{id}/retry"),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(retry.status.as_u16(), 202, "{}", retry.body);
    wait_status(&host, &admin, &id, "ready", Duration::from_secs(60)).await;
    let ready_seen = storeplane_tests::fake_kube::now_ms();
    let rolled = rig
        .fake
        .ready_marks()
        .into_iter()
        .filter(|m| m.kind == "StatefulSet" && m.namespace == namespace && m.at_ms > retried_at)
        .map(|m| m.at_ms)
        .max()
        .expect("the StatefulSet rolled its pod out again");
    // The setup ran against the new database pod, not the old one about to be replaced.
    let setup_started = rig
        .fake
        .execs()
        .into_iter()
        .filter(|e| e.namespace == namespace && e.started_ms > retried_at)
        .map(|e| e.started_ms)
        .min()
        .expect("the retry ran setup");
    assert!(
        setup_started >= rolled && ready_seen >= rolled,
        "setup started {} ms before the StatefulSet's new pod was ready",
        rolled.saturating_sub(setup_started)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_with_a_field_the_schema_does_not_declare_is_refused_for_good() {
    // What a chart with a typo would send: the API server cannot build the typed patch.
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let cluster = rig.cluster_with_namespace("store-typo").await;
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "store-typo"},
        "spec": {"replica": 2, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    });
    let err = cluster
        .apply("store-typo", &deployment)
        .await
        .expect_err("refused");
    assert!(!err.is_transient(), "retrying cannot help: {err:?}");
    assert!(
        err.to_string().contains(
            "failed to create typed patch object (store-typo/web; apps/v1, Kind=Deployment): .spec.replica: field not declared in schema"
        ),
        "{err}"
    );
}
