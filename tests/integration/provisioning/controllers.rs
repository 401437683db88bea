//! The fake's controllers as a store chart's objects meet them: a Job's pod goes through
//! admission and runs to completion; a StatefulSet's pods start one after the other, each once
//! the one before runs and is ready (`OrderedReady`); a Deployment's rolling update runs its
//! surge pod beside the old one (and the quota must hold both), `Recreate` does not; what never
//! finishes on a cluster never finishes here: a paused Deployment, an `OnDelete` StatefulSet's
//! update, a pod behind a readiness gate no controller sets.

use std::time::{Duration, Instant};

use serde_json::json;
use storeplane::k8s::Readiness;
use storeplane_tests::app::Backend;
use storeplane_tests::fake_kube::Settings;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_one_pod_through_admission_to_completion() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let namespace = "store-jobs";
    let cluster = rig.cluster_with_namespace(namespace).await;
    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "import", "namespace": namespace},
        "spec": {"template": {"metadata": {"labels": {"job": "import"}}, "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "import", "image": "busybox:1.37", "command": ["true"],
                            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}},
    });
    cluster.apply(namespace, &job).await.expect("job");
    let started = Instant::now();
    loop {
        let done = rig
            .fake
            .object("batch/v1", "Job", namespace, "import")
            .is_some_and(|j| j["status"]["conditions"][0]["type"] == "Complete");
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the Job never completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pods: Vec<_> = rig
        .fake
        .objects(namespace)
        .into_iter()
        .filter(|o| o["kind"] == "Pod")
        .collect();
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_eq!(pods[0]["status"]["phase"], "Succeeded");
    assert_eq!(pods[0]["metadata"]["ownerReferences"][0]["kind"], "Job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulset_starts_its_pods_one_after_the_other() {
    // Each database pod answers 400 ms after it starts.
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            database_startup_ms: 400,
            ready_after_ms: 0,
            ..Settings::default()
        },
    )
    .await;
    let namespace = "store-ordered";
    let cluster = rig.cluster_with_namespace(namespace).await;
    let statefulset = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": namespace},
        "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [
                     {"name": "mariadb", "image": "mariadb:11.8",
                      "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}},
    });
    cluster
        .apply(namespace, &statefulset)
        .await
        .expect("statefulset");
    let pods = |rig: &Rig| -> Vec<String> {
        let mut names: Vec<String> = rig
            .fake
            .objects(namespace)
            .into_iter()
            .filter(|o| o["kind"] == "Pod")
            .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pods(&rig), ["db-0"], "db-1 waits until db-0 is ready");
    let started = Instant::now();
    loop {
        let sts = rig.fake.object("apps/v1", "StatefulSet", namespace, "db");
        if sts.is_some_and(|s| s["status"]["readyReplicas"] == 3) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never all ready: {:?}",
            pods(&rig)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pods(&rig), ["db-0", "db-1", "db-2"]);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "three pods one after the other take three start-ups"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_a_pod_mounts_stays_until_no_pod_does() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let namespace = "store-claims";
    let cluster = rig.cluster_with_namespace(namespace).await;
    for object in [
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": namespace},
               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
               "spec": {"selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "Recreate"},
                        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
                            "containers": [{"name": "web", "image": "nginx:1.27",
                                            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}}}),
    ] {
        cluster.apply(namespace, &object).await.expect("apply");
    }
    let pod_exists = |rig: &Rig| {
        rig.fake
            .objects(namespace)
            .iter()
            .any(|o| o["kind"] == "Pod")
    };
    let started = Instant::now();
    while !pod_exists(&rig) {
        assert!(started.elapsed() < Duration::from_secs(10), "no pod");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // As an administrator would: kubectl delete pvc data.
    let http = reqwest::Client::new();
    let base = format!("http://{}", rig.fake.addr);
    let delete = |path: String| {
        http.delete(format!("{base}{path}"))
            .bearer_auth(storeplane_tests::fake_kube::ADMIN_TOKEN)
            .send()
    };
    let answer = delete(format!(
        "/api/v1/namespaces/{namespace}/persistentvolumeclaims/data"
    ))
    .await
    .expect("delete claim");
    assert_eq!(answer.status().as_u16(), 200);
    let claim = rig
        .fake
        .object("v1", "PersistentVolumeClaim", namespace, "data")
        .expect("the claim stays while mounted");
    assert_eq!(
        claim["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
    assert!(claim["metadata"]["deletionTimestamp"].is_string());
    // The Deployment (and with it its pod) goes: the claim is released.
    delete(format!(
        "/apis/apps/v1/namespaces/{namespace}/deployments/web"
    ))
    .await
    .expect("delete deployment");
    assert!(!pod_exists(&rig));
    assert!(
        rig.fake
            .object("v1", "PersistentVolumeClaim", namespace, "data")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_needs_quota_for_its_surge_pod_and_recreate_does_not() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let namespace = "store-surge";
    let cluster = rig.cluster_with_namespace(namespace).await;
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota",
                       "metadata": {"name": "one-pod", "namespace": namespace},
                       "spec": {"hard": {"pods": "1"}}});
    cluster.apply(namespace, &quota).await.expect("quota");
    let web = |strategy: &str, image: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": namespace},
               "spec": {"selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": strategy},
                        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                            "containers": [{"name": "web", "image": image,
                                            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}}})
    };
    let pods = |rig: &Rig| pod_images(rig, namespace);
    let wait = |cluster: &storeplane::k8s::Cluster| {
        let cluster = cluster.clone();
        async move {
            let limit = Duration::from_secs(10);
            wait_for_deployment(&cluster, namespace, "web", limit, limit).await
        }
    };
    // The quota controller has to fill the quota's status before it is enforced.
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster
        .apply(namespace, &web("RollingUpdate", "nginx:1.27"))
        .await
        .expect("apply");
    assert_eq!(wait(&cluster).await, Readiness::Ready);
    // A new template: the new pod would be the second while the old one runs.
    cluster
        .apply(namespace, &web("RollingUpdate", "nginx:1.28"))
        .await
        .expect("apply");
    let Readiness::Failed(why) = wait(&cluster).await else {
        panic!(
            "the surge pod was admitted beyond the quota: {:?}",
            pods(&rig)
        );
    };
    assert!(
        why.contains("exceeded quota: one-pod, requested: pods=1, used: pods=1, limited: pods=1"),
        "{why}"
    );
    assert_eq!(pods(&rig), ["nginx:1.27"], "the old pod keeps serving");
    // Recreate: the old pod goes first, the new one fits. (Until the controller has synced,
    // the Deployment still shows the last attempt's ReplicaFailure, as on a real cluster.)
    cluster
        .apply(namespace, &web("Recreate", "nginx:1.28"))
        .await
        .expect("apply");
    let started = Instant::now();
    while pods(&rig) != ["nginx:1.28"] {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never recreated: {:?}",
            pods(&rig)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(wait(&cluster).await, Readiness::Ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_never_rolls_out_on_a_cluster_never_becomes_ready_here() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let namespace = "store-stuck";
    let cluster = rig.cluster_with_namespace(namespace).await;
    let limit = Duration::from_secs(2);
    let pods = |rig: &Rig| pod_images(rig, namespace);
    let deployment = |name: &str, paused: bool, gates: serde_json::Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "namespace": namespace},
               "spec": {"paused": paused, "selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}}, "spec": {
                            "readinessGates": gates,
                            "containers": [{"name": "web", "image": "nginx:1.27",
                                            "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}}})
    };

    // A readiness gate whose condition nobody sets: the pod runs, and is never Ready; the
    // time-out says why, from the pod's Ready condition.
    cluster
        .apply(
            namespace,
            &deployment(
                "gated",
                false,
                json!([{"conditionType": "example.com/registered"}]),
            ),
        )
        .await
        .expect("apply");
    let Readiness::TimedOut(why) =
        wait_for_deployment(&cluster, namespace, "gated", limit, limit).await
    else {
        panic!("a gated pod became ready");
    };
    assert!(
        why.contains("ReadinessGatesNotReady: corresponding condition of pod readiness gate \"example.com/registered\" does not exist."),
        "{why}"
    );
    assert_eq!(pods(&rig), ["nginx:1.27"], "the pod runs");

    // A paused Deployment gets no pods at all.
    cluster
        .apply(namespace, &deployment("paused", true, json!(null)))
        .await
        .expect("apply");
    let waited = wait_for_deployment(&cluster, namespace, "paused", limit, limit).await;
    assert_eq!(
        waited,
        Readiness::TimedOut("not ready: Deployment/paused".into())
    );
    assert_eq!(pods(&rig).len(), 1, "only the gated pod: {:?}", pods(&rig));

    // OnDelete: a new template replaces no pod, so the update never rolls out.
    let statefulset = |image: &str| {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "db", "namespace": namespace},
               "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                        "updateStrategy": {"type": "OnDelete"},
                        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [
                            {"name": "db", "image": image,
                             "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}}})
    };
    let db = [storeplane::k8s::Workload {
        kind: "StatefulSet".into(),
        name: "db".into(),
    }];
    cluster
        .apply(namespace, &statefulset("busybox:1.36"))
        .await
        .expect("apply");
    let first = cluster.wait_ready(namespace, &db, limit, limit).await;
    assert_eq!(
        first.expect("wait"),
        Readiness::Ready,
        "created: its pods start"
    );
    cluster
        .apply(namespace, &statefulset("busybox:1.37"))
        .await
        .expect("apply");
    let update = cluster.wait_ready(namespace, &db, limit, limit).await;
    assert_eq!(
        update.expect("wait"),
        Readiness::TimedOut("not ready: StatefulSet/db".into())
    );
    assert!(
        pods(&rig).contains(&"busybox:1.36".to_owned()),
        "the old pod stays: {:?}",
        pods(&rig)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_whose_startup_probe_never_passes_is_restarted_until_the_wait_gives_up() {
    // nginx listens on 80; the startup probe knocks on 9999. After `periodSeconds ×
    // failureThreshold` the kubelet kills the container and restarts it after a back-off; after
    // five restarts the wait fails, saying why with the probe's last failure.
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let namespace = "store-restarts";
    let cluster = rig.cluster_with_namespace(namespace).await;
    let web = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                     {"name": "web", "image": "nginx:1.27",
                      "startupProbe": {"tcpSocket": {"port": 9999}, "periodSeconds": 1, "failureThreshold": 1},
                      "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}}});
    cluster.apply(namespace, &web).await.expect("apply");
    let limit = Duration::from_secs(60);
    let waited = wait_for_deployment(&cluster, namespace, "web", limit, limit).await;
    let Readiness::Failed(why) = waited else {
        panic!("not failed for its restarts: {waited:?}");
    };
    for expected in [
        "container web is in CrashLoopBackOff",
        "after 5 restarts, last exit code 0 (Completed)",
        "; last warning: pod web-",
        ", container web: Startup probe failed: dial tcp ",
        ":9999: connect: connection refused",
    ] {
        assert!(why.contains(expected), "{expected:?} not in {why}");
    }
    let pod = rig
        .fake
        .objects(namespace)
        .into_iter()
        .find(|o| o["kind"] == "Pod")
        .unwrap_or_default();
    assert!(
        pod["status"]["containerStatuses"][0]["restartCount"]
            .as_u64()
            .is_some_and(|n| n >= 5),
        "{pod}"
    );
}

/// The image of each pod in `namespace` (its first container's).
fn pod_images(rig: &Rig, namespace: &str) -> Vec<String> {
    rig.fake
        .objects(namespace)
        .into_iter()
        .filter(|o| o["kind"] == "Pod")
        .map(|p| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}
