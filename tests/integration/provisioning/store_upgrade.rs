//! Upgrading ready stores to an engine's next release, against the fake cluster: the preview
//! says what will change and the upgrade does exactly that (objects changed and removed, the
//! upgrade steps run once, the secrets and the data kept); an upgrade that fails — an image
//! that cannot start, a failing upgrade step, a change Kubernetes cannot make — ends with the
//! store `ready` on its old version and its objects as before, the failure recorded.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use storeplane_tests::app::{Api, Backend, TestUser};
use storeplane_tests::fake_kube::{ExecScript, PodFailure, Settings};
use storeplane_tests::guests;
use storeplane_tests::host::HostProcess;

use super::*;

/// `kind/name` of every object of the store's namespace but what controllers make (pods,
/// ReplicaSets, whose names change with each template) and the namespace itself.
pub fn object_names(rig: &Rig, id: &str) -> BTreeSet<String> {
    rig.fake
        .objects(&format!("store-{id}"))
        .iter()
        .filter(|o| {
            !["Pod", "ReplicaSet", "Namespace"].contains(&o["kind"].as_str().unwrap_or_default())
        })
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// The one object of `kind` the engine's chart renders in the store's namespace.
pub fn only(rig: &Rig, id: &str, kind: &str) -> Value {
    let found: Vec<Value> = rig
        .fake
        .objects(&format!("store-{id}"))
        .into_iter()
        .filter(|o| o["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} in store-{id}: {found:?}");
    found.into_iter().next().unwrap_or_default()
}

/// `uid` of every PersistentVolumeClaim of the store (the data).
pub fn claim_uids(rig: &Rig, id: &str) -> BTreeSet<String> {
    rig.fake
        .objects(&format!("store-{id}"))
        .iter()
        .filter(|o| o["kind"] == "PersistentVolumeClaim")
        .map(|o| o["metadata"]["uid"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The store's audit events of `action`, oldest first.
pub async fn events_of(api: &Api, user: &TestUser, id: &str, action: &str) -> Vec<Value> {
    let reply = api
        .get(
            &format!("/api/v1/stores/{id}/logs?limit=500"),
            Some(&user.token),
        )
        .await;
    let mut events: Vec<Value> = reply.body["logs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect();
    events.reverse();
    events
}

/// POSTs `body` to the store's `operation` (`upgrade`, `upgrade/preview`, `suspend`, ...).
pub async fn operate(
    api: &Api,
    user: &TestUser,
    id: &str,
    operation: &str,
    body: Value,
) -> storeplane_tests::app::Reply {
    api.post(
        &format!("/api/v1/stores/{id}/{operation}"),
        Some(&user.token),
        body,
    )
    .await
}

/// Asks for a resize of the store to `size` and checks it was accepted.
async fn start_resize(api: &Api, user: &TestUser, id: &str, size: &str) {
    let started = operate(api, user, id, "upgrade", json!({"options": {"size": size}})).await;
    assert_eq!(started.status.as_u16(), 202, "{}", started.body);
}

/// A host whose pods that cannot start fail their store after a second (not five minutes).
async fn impatient_host(rig: &Rig) -> HostProcess {
    HostProcess::start(&rig.options().with("POD_START_GRACE_MS", "1000")).await
}

/// The next release of `engine`: its test guest, `engine/version`, whether it stops rendering
/// the store's Ingress (a value of the bundled chart; an embedded chart has no such switch),
/// and the path of the values it changes.
fn next_release(engine: &str) -> (&'static [u8], &'static str, bool, &'static str) {
    match engine {
        "medusa" => (
            guests::MEDUSA_UPGRADE,
            "medusa/0.3.0",
            true,
            "/ingress/enabled",
        ),
        "prestashop" => (
            guests::PRESTASHOP_UPGRADE,
            "prestashop/0.3.0",
            false,
            "/prestashop/image",
        ),
        _ => (
            guests::WOO_UPGRADE,
            "woocommerce/0.3.0",
            true,
            "/ingress/enabled",
        ),
    }
}

async fn upgrade_changes_what_the_preview_said(engine: &str) {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let admin = host.user("admin").await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "shop", engine).await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let (secrets, claims, objects) = (
        rig.secret_values(&id),
        claim_uids(&rig, &id),
        object_names(&rig, &id),
    );
    let deployment_before = only(&rig, &id, "Deployment");
    let execs_before = rig.completed_execs(&id).len();

    let (wasm, release, drops_ingress, changed_value) = next_release(engine);
    upload_and_activate(&host, &admin, wasm, release).await;
    let store = host
        .get(&format!("/api/v1/stores/{id}"), Some(&owner.token))
        .await;
    assert_eq!(store.body["store"]["pluginVersion"], "0.1.0");
    assert_eq!(
        store.body["store"]["updateAvailable"], "0.3.0",
        "the owner sees the update: {}",
        store.body
    );

    // The preview, by the owner, to the active version.
    let preview = operate(&host, &owner, &id, "upgrade/preview", json!({})).await;
    assert_eq!(preview.status.as_u16(), 200, "{}", preview.body);
    let preview = &preview.body["preview"];
    assert_eq!(preview["fromVersion"], "0.1.0");
    assert_eq!(preview["toVersion"], "0.3.0");
    assert_eq!(preview["refused"], json!([]));
    let names = |list: &Value| -> BTreeSet<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                let o = o.get("object").unwrap_or(o);
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or_default(),
                    o["name"].as_str().unwrap_or_default()
                )
            })
            .collect()
    };
    let ingress = format!(
        "Ingress/{}",
        only(&rig, &id, "Ingress")["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
    );
    let deployment = format!(
        "Deployment/{}",
        deployment_before["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
    );
    let removed: BTreeSet<String> = if drops_ingress {
        [ingress.clone()].into()
    } else {
        BTreeSet::new()
    };
    assert_eq!(names(&preview["objects"]["removed"]), removed);
    assert_eq!(
        names(&preview["objects"]["changed"]),
        [deployment.clone()].into()
    );
    assert_eq!(preview["objects"]["added"], json!([]));
    let upgrade_steps: Vec<String> = preview["upgradeSteps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    assert!(!upgrade_steps.is_empty(), "{preview}");
    assert!(
        preview["values"]
            .as_array()
            .is_some_and(|v| v.iter().any(|c| c["path"] == changed_value)),
        "the values diff names the change: {preview}"
    );

    let started = operate(&host, &owner, &id, "upgrade", json!({})).await;
    assert_eq!(started.status.as_u16(), 202, "{}", started.body);
    assert_eq!(started.body["store"]["status"], "upgrading");
    let done = wait_until(&host, &owner, &id, Duration::from_secs(60), |s| {
        s["status"] == "ready" && s["pluginVersion"] == "0.3.0"
    })
    .await;
    assert!(done["failureReason"].is_null(), "{done}");
    assert!(done.get("updateAvailable").is_none(), "{done}");

    // Exactly what the preview said: the Ingress is gone (when the release drops it), the
    // Deployment changed, the rest is there; the data and the secrets are the same.
    let mut expected = objects.clone();
    if drops_ingress {
        expected.remove(&ingress);
    }
    assert_eq!(object_names(&rig, &id), expected);
    let deployment_after = only(&rig, &id, "Deployment");
    assert_ne!(
        deployment_before["spec"]["template"], deployment_after["spec"]["template"],
        "the Deployment changed"
    );
    assert_eq!(claim_uids(&rig, &id), claims, "the same claims: data kept");
    assert_eq!(rig.secret_values(&id), secrets, "secrets unchanged");

    // Each upgrade step ran once, in order, after the setup it follows; and nothing else ran.
    let ran: Vec<String> = events_of(&host, &owner, &id, "store.upgrade_step")
        .await
        .iter()
        .map(|e| e["details"]["step"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ran, upgrade_steps);
    assert_eq!(
        rig.completed_execs(&id).len(),
        execs_before + upgrade_steps.len()
    );
    let planned = events_of(&host, &owner, &id, "store.upgrade_planned").await;
    assert_eq!(planned.len(), 1);
    assert_eq!(
        planned[0]["details"]["objects"], preview["objects"],
        "the audit log keeps what was previewed"
    );
    assert_eq!(
        events_of(&host, &owner, &id, "store.upgraded").await.len(),
        1
    );
    let record = rig.record(&id).await;
    assert!(record.upgrade.is_none());
    assert_eq!(
        record.plan.map(|p| p.plugin_version).as_deref(),
        Some("0.3.0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woocommerce_store_upgrades_as_previewed() {
    upgrade_changes_what_the_preview_said("woocommerce").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_medusa_store_upgrades_as_previewed() {
    upgrade_changes_what_the_preview_said("medusa").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prestashop_store_upgrades_as_previewed() {
    upgrade_changes_what_the_preview_said("prestashop").await;
}

/// A WooCommerce store upgraded to the next release under `settings` fails and is rolled back:
/// `ready` on 0.1.0, its objects and workloads as before, the failure recorded.
async fn assert_rolled_back(settings: Settings, failure: &str) {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = impatient_host(&rig).await;
    let admin = host.user("admin").await;
    let (id, _) = create_store(&host, &admin, "shop", "woocommerce").await;
    wait_status(&host, &admin, &id, "ready", Duration::from_secs(60)).await;
    let objects = object_names(&rig, &id);
    let deployment = only(&rig, &id, "Deployment")["spec"].clone();
    let (secrets, claims) = (rig.secret_values(&id), claim_uids(&rig, &id));
    upload_and_activate(&host, &admin, guests::WOO_UPGRADE, "woocommerce/0.3.0").await;
    rig.fake.update(|s| *s = settings);

    let started = operate(&host, &admin, &id, "upgrade", json!({})).await;
    assert_eq!(started.status.as_u16(), 202, "{}", started.body);
    let store = wait_until(&host, &admin, &id, Duration::from_secs(60), |s| {
        s["status"] != "upgrading"
    })
    .await;
    assert_eq!(store["status"], "ready", "{store}");
    assert_eq!(store["pluginVersion"], "0.1.0", "{store}");
    let reason = store["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("rolled back to 0.1.0") && reason.contains(failure),
        "the failure is recorded: {store}"
    );
    assert_eq!(object_names(&rig, &id), objects, "its objects as before");
    assert_eq!(
        only(&rig, &id, "Deployment")["spec"],
        deployment,
        "its workload as before"
    );
    assert_eq!(claim_uids(&rig, &id), claims);
    assert_eq!(rig.secret_values(&id), secrets);
    let failed = events_of(&host, &admin, &id, "store.upgrade_failed").await;
    assert_eq!(failed.len(), 1, "the failure is in the audit log");
    assert!(
        failed[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(failure)),
        "{failed:?}"
    );
    assert_eq!(
        events_of(&host, &admin, &id, "store.upgrade_rolled_back")
            .await
            .len(),
        1
    );
    let record = rig.record(&id).await;
    assert!(record.upgrade.is_none());
    assert_eq!(
        record.plan.map(|p| p.plugin_version).as_deref(),
        Some("0.1.0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_cannot_start_is_rolled_back() {
    assert_rolled_back(
        Settings {
            pod_failures: vec![PodFailure {
                matches: "6.8.3-php8.3-apache".into(),
                reason: "ImagePullBackOff".into(),
            }],
            ..Settings::default()
        },
        "ImagePullBackOff",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_upgrade_step_is_rolled_back() {
    assert_rolled_back(
        Settings {
            exec_scripts: vec![ExecScript {
                pattern: "wp core update-db".into(),
                namespaces: Vec::new(),
                exit_code: 1,
                stdout: String::new(),
                stderr: "Error: the database could not be updated".into(),
                delay_ms: 0,
            }],
            ..Settings::default()
        },
        "update-wordpress-database failed with exit code 1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_kubernetes_cannot_make_is_refused_before_anything_is_touched() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let id = ready_store_with(&host, &owner, "big", "medusa", json!({"size": "large"})).await;
    let objects = object_names(&rig, &id);
    let requests_before = rig.fake.requests().len();

    // Smaller would shrink the database's volume: the preview says why.
    let smaller = json!({"options": {"size": "small"}});
    let preview = operate(&host, &owner, &id, "upgrade/preview", smaller.clone()).await;
    assert_eq!(preview.status.as_u16(), 200, "{}", preview.body);
    let refused = preview.body["preview"]["refused"].to_string();
    assert!(
        refused.contains("storage cannot shrink (10Gi to 2Gi)"),
        "{}",
        preview.body
    );
    // Other options cannot change at all after creation.
    let title = operate(
        &host,
        &owner,
        &id,
        "upgrade",
        json!({"options": {"storeTitle": "Renamed"}}),
    )
    .await;
    assert_eq!(title.status.as_u16(), 400, "{}", title.body);
    assert!(
        title.body["error"]["details"]
            .to_string()
            .contains("/storeTitle: cannot change after the store is created"),
        "{}",
        title.body
    );

    // Started anyway: refused by the job before anything is touched, `ready` as it was.
    let started = operate(&host, &owner, &id, "upgrade", smaller).await;
    assert_eq!(started.status.as_u16(), 202, "{}", started.body);
    let store = wait_until(&host, &owner, &id, Duration::from_secs(30), |s| {
        s["status"] == "ready" && !s["failureReason"].is_null()
    })
    .await;
    assert!(
        store["failureReason"]
            .as_str()
            .is_some_and(|r| r.contains("refused before anything was touched")),
        "{store}"
    );
    assert_eq!(store["options"]["size"], "large");
    assert_eq!(object_names(&rig, &id), objects);
    let namespace_path = format!("/namespaces/store-{id}/");
    let writes: Vec<String> = rig.fake.requests()[requests_before..]
        .iter()
        .filter(|r| r.uri.contains(&namespace_path) && r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect();
    assert!(
        writes.is_empty(),
        "nothing in the store's namespace was written: {writes:?}"
    );
    let failed = events_of(&host, &owner, &id, "store.upgrade_failed").await;
    assert!(failed[0]["message"].to_string().contains("cannot shrink"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_grows_the_store_and_its_volumes_in_place() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "grows", "medusa").await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let claims = claim_uids(&rig, &id);

    start_resize(&host, &owner, &id, "medium").await;
    let store = wait_until(&host, &owner, &id, Duration::from_secs(60), |s| {
        s["status"] == "ready" && s["options"]["size"] == "medium"
    })
    .await;
    assert!(store["failureReason"].is_null(), "{store}");
    assert_eq!(store["pluginVersion"], "0.1.0");
    assert_eq!(claim_uids(&rig, &id), claims, "the same claims");
    let claim = only(&rig, &id, "PersistentVolumeClaim");
    assert_eq!(
        claim["spec"]["resources"]["requests"]["storage"], "5Gi",
        "the database's claim grew: {claim}"
    );
    let quota = rig
        .fake
        .object("v1", "ResourceQuota", &format!("store-{id}"), "store-quota")
        .unwrap_or_default();
    assert_eq!(
        quota["spec"]["hard"]["requests.storage"], "5Gi",
        "the quota follows the new size: {quota}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_of_every_contract_version_provision_and_upgrade() {
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let admin = host.user("admin").await;
    // 1.0.0: built against storeplane:engine@1.0.0.
    upload_and_activate(&host, &admin, guests::V1_0_PLAIN, "wit-test/1.0.0").await;
    let (id, _) = create_store(&host, &admin, "contract", "wit-test").await;
    wait_status(&host, &admin, &id, "ready", Duration::from_secs(60)).await;
    let secrets = rig.secret_values(&id);
    // 1.1.0: built against 1.1 with the lifecycle interface; its upgrade step runs once.
    // 1.2.0: built against 1.1 without it; nothing to migrate.
    for (wasm, version, steps) in [
        (guests::V1_1_LIFECYCLE, "1.1.0", vec!["migrate-database"]),
        (guests::V1_1_PLAIN, "1.2.0", vec!["migrate-database"]),
    ] {
        upload_and_activate(&host, &admin, wasm, &format!("wit-test/{version}")).await;
        let preview = operate(&host, &admin, &id, "upgrade/preview", json!({})).await;
        assert_eq!(preview.status.as_u16(), 200, "{}", preview.body);
        assert_eq!(preview.body["preview"]["toVersion"], version);
        let started = operate(&host, &admin, &id, "upgrade", json!({})).await;
        assert_eq!(started.status.as_u16(), 202, "{}", started.body);
        let store = wait_until(&host, &admin, &id, Duration::from_secs(60), |s| {
            s["status"] == "ready" && s["pluginVersion"] == version
        })
        .await;
        assert!(store["failureReason"].is_null(), "{store}");
        let ran: Vec<String> = events_of(&host, &admin, &id, "store.upgrade_step")
            .await
            .iter()
            .map(|e| e["details"]["step"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(ran, steps, "upgrade steps after reaching {version}");
    }
    let migrated: Vec<Vec<String>> = rig
        .completed_execs(&id)
        .into_iter()
        .filter(|c| c.iter().any(|a| a.contains("migrating from")))
        .collect();
    assert_eq!(migrated.len(), 1, "{migrated:?}");
    assert!(
        migrated[0]
            .iter()
            .any(|a| a.contains("migrating from 1.0.0"))
    );
    assert_eq!(rig.secret_values(&id), secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_whose_storage_class_cannot_grow_volumes_is_rolled_back_with_the_reason() {
    let rig = Rig::new(
        Backend::Sqlite,
        Settings {
            volume_expansion: false,
            ..Settings::default()
        },
    )
    .await;
    let host = rig.host().await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "fixed-disk", "woocommerce").await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let (objects, claims) = (object_names(&rig, &id), claim_uids(&rig, &id));
    let claim_sizes = |rig: &Rig| -> Vec<String> {
        rig.fake
            .objects(&format!("store-{id}"))
            .iter()
            .filter(|o| o["kind"] == "PersistentVolumeClaim")
            .map(|o| {
                o["spec"]["resources"]["requests"]["storage"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let sizes = claim_sizes(&rig);

    start_resize(&host, &owner, &id, "medium").await;
    let store = wait_until(&host, &owner, &id, Duration::from_secs(60), |s| {
        s["status"] == "ready" && !s["failureReason"].is_null()
    })
    .await;
    let reason = store["failureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("the storageclass that provisions the pvc must support resize"),
        "the API server's reason reaches the owner: {store}"
    );
    assert_eq!(
        store["options"]["size"],
        Value::Null,
        "the options are as before: {store}"
    );
    assert_eq!(object_names(&rig, &id), objects);
    assert_eq!(claim_uids(&rig, &id), claims, "the same claims");
    assert_eq!(claim_sizes(&rig), sizes, "the claims kept their size");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_whose_surge_pod_a_cluster_quota_refuses_is_rolled_back_and_stays_ready() {
    // A policy engine's quota holds exactly the pods the store runs: the rolling update's
    // surge pod of Medusa's Deployment does not fit.
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = impatient_host(&rig).await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "tight", "medusa").await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let namespace = format!("store-{id}");
    let running = rig
        .fake
        .objects(&namespace)
        .iter()
        .filter(|o| o["kind"] == "Pod")
        .count();
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota",
                       "metadata": {"name": "cluster-policy", "namespace": namespace},
                       "spec": {"hard": {"pods": running.to_string()}}});
    let created = reqwest::Client::new()
        .post(format!(
            "http://{}/api/v1/namespaces/{namespace}/resourcequotas",
            rig.fake.addr
        ))
        .bearer_auth(storeplane_tests::fake_kube::ADMIN_TOKEN)
        .json(&quota)
        .send()
        .await
        .expect("create quota");
    assert_eq!(created.status().as_u16(), 201);
    tokio::time::sleep(Duration::from_millis(200)).await; // the quota controller fills it

    start_resize(&host, &owner, &id, "medium").await;
    let store = wait_until(&host, &owner, &id, Duration::from_secs(60), |s| {
        s["status"] != "upgrading"
    })
    .await;
    let reason = store["failureReason"].as_str().unwrap_or_default();
    assert!(
        store["status"] == "ready"
            && store["options"]["size"] != "medium"
            && reason.contains("rolled back")
            && reason.contains("exceeded quota: cluster-policy"),
        "{store}"
    );
}

/// The pods of the store's one Deployment (by its selector), by name.
fn deployment_pods(rig: &Rig, id: &str) -> BTreeSet<String> {
    let selector = only(rig, id, "Deployment")["spec"]["selector"]["matchLabels"].clone();
    let selector = selector.as_object().cloned().unwrap_or_default();
    rig.fake
        .objects(&format!("store-{id}"))
        .iter()
        .filter(|o| o["kind"] == "Pod")
        .filter(|pod| {
            selector
                .iter()
                .all(|(key, value)| pod["metadata"]["labels"][key] == *value)
        })
        .map(|pod| {
            pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_waits_for_the_rolling_updates_new_pod_and_runs_its_steps_there() {
    // Medusa's Deployment rolls by surging: the new pod starts beside the old one, which keeps
    // serving (Ready) until the new one is available. Here the new pod waits for a node for
    // two seconds; counting the old pod as the upgrade being done would run the release's
    // steps in the old version.
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let admin = host.user("admin").await;
    let owner = host.user("owner").await;
    let (id, _) = create_store(&host, &owner, "rolling", "medusa").await;
    wait_status(&host, &owner, &id, "ready", Duration::from_secs(60)).await;
    let old_pods = deployment_pods(&rig, &id);
    assert_eq!(old_pods.len(), 1, "{old_pods:?}");

    rig.fake.update(|s| s.unschedulable_ms = 2_000);
    let (wasm, release, _, _) = next_release("medusa");
    upload_and_activate(&host, &admin, wasm, release).await;
    let started = operate(&host, &owner, &id, "upgrade", json!({})).await;
    assert_eq!(started.status.as_u16(), 202, "{}", started.body);
    let done = wait_until(&host, &owner, &id, Duration::from_secs(60), |s| {
        s["status"] != "upgrading"
    })
    .await;
    assert!(
        done["status"] == "ready" && done["pluginVersion"] == "0.3.0",
        "{done}"
    );

    let new_pods = deployment_pods(&rig, &id);
    assert_eq!(new_pods.len(), 1, "the old pod is gone: {new_pods:?}");
    assert!(new_pods.is_disjoint(&old_pods), "{new_pods:?} {old_pods:?}");
    let steps = events_of(&host, &owner, &id, "store.upgrade_step").await;
    assert!(!steps.is_empty());
    for step in &steps {
        let pod = step["details"]["pod"].as_str().unwrap_or_default();
        assert!(
            new_pods.contains(pod),
            "the upgrade step ran in {pod}, not in the new pod {new_pods:?}: {step}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_update_whose_new_pod_cannot_start_is_rolled_back_while_the_old_pod_serves() {
    // Medusa's surging roll-out: the new pod's image cannot be pulled; the old pod keeps
    // serving, the upgrade is rolled back, and the store never went without its server.
    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = impatient_host(&rig).await;
    let admin = host.user("admin").await;
    let (id, _) = create_store(&host, &admin, "steady", "medusa").await;
    wait_status(&host, &admin, &id, "ready", Duration::from_secs(60)).await;
    let old_pods = deployment_pods(&rig, &id);
    let (wasm, release, _, _) = next_release("medusa");
    upload_and_activate(&host, &admin, wasm, release).await;
    let deployment = only(&rig, &id, "Deployment")["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    rig.fake.update(|s| {
        s.pod_failures = vec![PodFailure {
            matches: deployment.clone(),
            reason: "ImagePullBackOff".into(),
        }];
    });

    let started = operate(&host, &admin, &id, "upgrade", json!({})).await;
    assert_eq!(started.status.as_u16(), 202, "{}", started.body);
    // While it runs, the old pod is there all along.
    let begun = std::time::Instant::now();
    let store = loop {
        assert!(
            deployment_pods(&rig, &id).is_superset(&old_pods),
            "the old pod went before the new one was ready"
        );
        let store = host
            .get(&format!("/api/v1/stores/{id}"), Some(&admin.token))
            .await;
        if store.body["store"]["status"] != "upgrading" {
            break store.body["store"].clone();
        }
        assert!(begun.elapsed() < Duration::from_secs(60), "{}", store.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reason = store["failureReason"].as_str().unwrap_or_default();
    assert!(
        store["status"] == "ready"
            && store["pluginVersion"] == "0.1.0"
            && reason.contains("rolled back to 0.1.0")
            && reason.contains("ImagePullBackOff"),
        "{store}"
    );
    assert_eq!(
        deployment_pods(&rig, &id),
        old_pods,
        "the old pod serves on; the new one is gone"
    );
}
