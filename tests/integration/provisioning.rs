//! Provisioning against the fake Kubernetes API server, with `storeplane serve` running as a
//! real child process: the full lifecycle of both engines, crashes, two replicas, faults,
//! deletion. Shared helpers live here.

mod controllers;
mod crash;
mod deletion;
mod faults;
mod hostile_plugin;
mod least_privilege;
mod lifecycle;
mod live;
mod pod_start;
mod quota;
mod real_cluster;
mod rollouts;
mod store_upgrade;
mod suspension;
mod upgrade;
mod upgrade_crash;

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use storeplane::lifecycle::record::ProvisionRecord;
use storeplane_tests::app::{Api, Backend, TestDatabase, TestUser};
use storeplane_tests::fake_kube::{FakeKube, Settings};
use storeplane_tests::host::{HostOptions, HostProcess};

/// A fake cluster, a database and a data directory: everything a host process needs.
pub struct Rig {
    pub fake: FakeKube,
    pub database: TestDatabase,
    pub data: tempfile::TempDir,
}

impl Rig {
    pub async fn new(backend: Backend, settings: Settings) -> Self {
        Self {
            fake: FakeKube::start(settings)
                .await
                .expect("start the fake API server"),
            database: TestDatabase::create(backend).await,
            data: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn options(&self) -> HostOptions {
        HostOptions::new(
            std::path::Path::new(env!("CARGO_BIN_EXE_storeplane-host")),
            &self.database.url,
            self.data.path(),
            self.fake.kubeconfig_path(),
        )
    }

    pub async fn host(&self) -> HostProcess {
        HostProcess::start(&self.options()).await
    }

    /// A cluster client with the control plane's rights, and `namespace` (`store-…`) created
    /// in the fake as the host creates a store's (labelled as storeplane's, with the store
    /// role bound): for tests of what the fake does with objects the host applies.
    pub async fn cluster_with_namespace(&self, namespace: &str) -> storeplane::k8s::Cluster {
        let cluster = storeplane::k8s::Cluster::connect(Some(self.fake.kubeconfig_path()))
            .await
            .expect("connect")
            .expect("a cluster");
        let labels = json!({
            "app.kubernetes.io/managed-by": "storeplane",
            "pod-security.kubernetes.io/enforce": "baseline",
        });
        cluster
            .apply(
                namespace,
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}),
            )
            .await
            .expect("namespace");
        cluster
            .bind_store_role(
                namespace,
                "test",
                "storeplane-store",
                Duration::from_secs(10),
            )
            .await
            .expect("store role bound");
        cluster
    }

    /// The store's provisioning record, read from the database.
    pub async fn record(&self, store: &str) -> ProvisionRecord {
        let db = storeplane::db::connect(&self.database.url)
            .await
            .expect("db");
        let id = storeplane::domain::StoreId::parse(store).expect("store id");
        let store = db
            .store(&id)
            .await
            .expect("read store")
            .expect("store exists");
        db.close().await;
        ProvisionRecord::from_value(&store.progress)
    }

    /// The generated values of a store's credentials Secret.
    pub fn secret_values(&self, store: &str) -> Vec<String> {
        let secret = self
            .fake
            .object(
                "v1",
                "Secret",
                &format!("store-{store}"),
                "store-credentials",
            )
            .expect("the credentials Secret exists");
        secret["data"]
            .as_object()
            .expect("secret data")
            .values()
            .map(|v| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().unwrap_or_default())
                    .expect("base64");
                String::from_utf8(bytes).expect("utf-8 secret")
            })
            .collect()
    }

    /// Completed execs in the store's namespace, in order.
    pub fn completed_execs(&self, store: &str) -> Vec<Vec<String>> {
        let namespace = format!("store-{store}");
        self.fake
            .execs()
            .into_iter()
            .filter(|e| e.namespace == namespace && e.completed)
            .map(|e| e.command)
            .collect()
    }
}

/// Creates a store; returns its id and the request id of the call.
pub async fn create_store(
    api: &Api,
    user: &TestUser,
    name: &str,
    engine: &str,
) -> (String, String) {
    let response = api
        .client
        .post(format!("{}/api/v1/stores", api.base))
        .bearer_auth(&user.token)
        .json(&json!({"name": name, "engine": engine}))
        .send()
        .await
        .expect("send");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let reply = Api::reply(response).await;
    assert_eq!(reply.status.as_u16(), 202, "create {name}: {}", reply.body);
    (
        reply.body["store"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        request_id,
    )
}

/// Creates a store with `options` and waits until it is ready; returns its id.
pub async fn ready_store_with(
    api: &Api,
    user: &TestUser,
    name: &str,
    engine: &str,
    options: Value,
) -> String {
    let created = api
        .post(
            "/api/v1/stores",
            Some(&user.token),
            json!({"name": name, "engine": engine, "options": options}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 202, "{}", created.body);
    let id = created.body["store"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    wait_status(api, user, &id, "ready", Duration::from_secs(60)).await;
    id
}

/// Uploads the WooCommerce engine as version 0.2.0 (a real, valid plugin) and activates it, as
/// an admin shipping a fix would: the next retry of a store plans and applies again.
pub async fn upload_and_activate_woo_next(host: &Api, admin: &TestUser) {
    upload_and_activate(
        host,
        admin,
        storeplane_tests::guests::WOO_NEXT,
        "woocommerce/0.2.0",
    )
    .await;
}

/// Uploads `wasm` as `admin` and activates it as `engine/version`; both must succeed.
pub async fn upload_and_activate(host: &Api, admin: &TestUser, wasm: &[u8], engine_version: &str) {
    let uploaded = host
        .client
        .post(format!("{}/api/v1/admin/plugins", host.base))
        .bearer_auth(&admin.token)
        .header("content-type", "application/wasm")
        .body(wasm.to_vec())
        .send()
        .await
        .expect("upload");
    assert!(
        uploaded.status().is_success(),
        "{}",
        uploaded.text().await.unwrap_or_default()
    );
    let activated = host
        .post(
            &format!("/api/v1/admin/plugins/{engine_version}/activate"),
            Some(&admin.token),
            json!({}),
        )
        .await;
    assert_eq!(activated.status.as_u16(), 200, "{}", activated.body);
}

/// How the host's wait for Deployment `name` in `namespace` ends (`limit` in all, `grace` for
/// a pod that may heal), on a cluster client of the rig's.
pub async fn wait_for_deployment(
    cluster: &storeplane::k8s::Cluster,
    namespace: &str,
    name: &str,
    limit: Duration,
    grace: Duration,
) -> storeplane::k8s::Readiness {
    let workload = [storeplane::k8s::Workload {
        kind: "Deployment".into(),
        name: name.into(),
    }];
    cluster
        .wait_ready(namespace, &workload, limit, grace)
        .await
        .expect("wait")
}

/// Polls the store until `done(store)` holds; panics with the last view after `limit`.
pub async fn wait_until(
    api: &Api,
    user: &TestUser,
    id: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let reply = api
            .get(&format!("/api/v1/stores/{id}"), Some(&user.token))
            .await;
        let store = reply.body["store"].clone();
        if done(&store) {
            return store;
        }
        assert!(
            started.elapsed() < limit,
            "store {id} did not get there within {limit:?}: {store}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the store has `status`.
pub async fn wait_status(
    api: &Api,
    user: &TestUser,
    id: &str,
    status: &str,
    limit: Duration,
) -> Value {
    wait_until(api, user, id, limit, |s| s["status"] == status).await
}

/// Asserts no secret value appears in `haystack`, naming where.
pub fn assert_no_secret(secrets: &[String], haystack: &str, place: &str) {
    for secret in secrets {
        assert!(
            !haystack.contains(secret.as_str()),
            "a generated secret appears in {place}"
        );
    }
}
