//! `TestApp`: a real storeplane server on 127.0.0.1:0 with its own database — a temp SQLite
//! file, or a fresh PostgreSQL database (created on `TEST_DATABASE_URL`'s server, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, and dropped afterwards) — plus typed request
//! helpers.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use storeplane::config::{Config, Environment, ProvisioningConfig, ServerConfig};
use storeplane::k8s::Ceiling;
use storeplane::server::{self, App};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database owned by one test.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Makes `statement` (with `id` bound to `$1`) as another writer would and, in the same
    /// transaction, cuts every server's connection listening for changes (PostgreSQL only):
    /// the change's notification goes out on commit, to nobody.
    pub async fn change_unheard(&self, statement: &str, id: &str) {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
            .await
            .expect("connect");
        let mut tx = sqlx::Connection::begin(&mut conn).await.expect("begin");
        sqlx::query(statement)
            .bind(id)
            .execute(&mut *tx)
            .await
            .expect("the change");
        let cut: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%') AS cut",
        )
        .fetch_one(&mut *tx)
        .await
        .expect("cut the listener");
        assert!(cut >= 1, "a server listens for changes");
        tx.commit().await.expect("commit");
    }

    /// A new, empty database on `backend`.
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("storeplane.db").display());
                Self {
                    url,
                    postgres_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("storeplane_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap_or_else(|err| {
                    panic!(
                        "PostgreSQL is needed for these tests ({admin}): {err}. Start it (CI machines run it on \
                         127.0.0.1:5432 with trust auth) or set TEST_DATABASE_URL"
                    )
                });
                sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                let mut url = url::Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    postgres_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop cannot await: use a private runtime on a thread of its own.
        let admin = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                {
                    let _ = sqlx::Executor::execute(
                        &mut conn,
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                    )
                    .await;
                }
            });
        })
        .join();
    }
}

/// Plugin-host settings for tests: real helm, and a data directory (precompiled-artifact cache,
/// extracted charts) shared by all tests of the run — safe to share, since both are written
/// atomically.
pub fn test_config() -> Config {
    let shared_cache = std::env::temp_dir().join("storeplane-test-data");
    let _ = std::fs::create_dir_all(&shared_cache);
    Config {
        data_dir: shared_cache,
        helm_bin: crate::helm_bin(),
        helm_values_file: None,
        helm_timeout_ms: 60_000,
        helm_memory_limit_mb: 256,
        helm_cpu_limit_s: 30,
        plugin_dir: None,
        plugin_scan_interval_ms: 1_000,
        plugin_memory_mb: 64,
        plugin_timeout_ms: 5_000,
        plugin_fuel: 2_000_000_000,
        store_max_cpu: Ceiling::default().cpu,
        store_max_memory: Ceiling::default().memory,
        store_max_storage: Ceiling::default().storage,
        store_max_ephemeral_storage: Ceiling::default().ephemeral_storage,
        store_max_grace_period_s: 120,
        store_max_job_retries: 6,
        store_max_job_parallelism: 4,
        setup_total_max_s: 7_200,
        store_max_pods: Ceiling::default().pods,
        ingress_annotations_allowed: Vec::new(),
    }
}

/// Server settings for tests: everything permissive unless a test tightens it.
pub fn test_server_config(database_url: String) -> ServerConfig {
    ServerConfig {
        database_url,
        kubeconfig: None,
        port: 0,
        host: std::net::IpAddr::from([127, 0, 0, 1]),
        environment: Environment::Test,
        node_env: None,
        jwt_secret: Some(storeplane::config::Secret(
            "test-jwt-secret-of-at-least-32-characters".into(),
        )),
        jwt_expires_in: Duration::from_secs(3600),
        max_stores_per_user: 5,
        store_creation_cooldown_ms: 0,
        rate_limit_max: 0,
        rate_limit_window_ms: 60_000,
        login_rate_limit_max: 0,
        login_rate_limit_window_ms: 60_000,
        login_ip_max_failures: 0,
        login_account_max_failures: 0,
        login_global_max_failures: 0,
        password_hash_workers: 0,
        // Tests register many users at once; the bounded queue has its own test.
        password_hash_queue: 1_000,
        register_rate_limit_max: 0,
        register_rate_limit_window_ms: 60_000,
        cors_origin: vec![],
        trusted_proxies: String::new(),
        request_timeout_ms: 30_000,
        max_plugin_upload_mb: 16,
        dashboard_notice: None,
        provisioning: ProvisioningConfig {
            store_domain_suffix: ".localhost".into(),
            store_tls: false,
            ingress_class: "traefik".into(),
            ingress_namespace: "kube-system".into(),
            ingress_source_cidrs: vec!["0.0.0.0/0".into(), "::/0".into()],
            storage_class: None,
            provisioning_timeout_ms: 600_000,
            deletion_stuck_after_ms: 600_000,
            pod_start_grace_ms: 300_000,
            setup_step_timeout_max_ms: 900_000,
            store_role: "storeplane-store".into(),
            plugin_disable_after_render_failures: 3,
            provisioning_concurrency: 4,
            job_lease_ms: 30_000,
            job_poll_interval_ms: 1_000,
            job_retry_base_ms: 500,
            job_retry_max_ms: 30_000,
            cluster_breaker_threshold: 5,
            cluster_breaker_reset_ms: 10_000,
            cluster_request_timeout_ms: 10_000,
        },
    }
}

/// A response: status, headers and JSON body (`Value::Null` when not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// `error.code` of an error envelope.
    pub fn code(&self) -> &str {
        self.body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Asserts the error envelope's shape and returns its code.
    pub fn envelope_code(&self) -> String {
        assert!(
            self.body
                .get("requestId")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            "no requestId: {}",
            self.body
        );
        assert!(
            self.body
                .pointer("/error/message")
                .and_then(Value::as_str)
                .is_some(),
            "no error.message: {}",
            self.body
        );
        assert!(
            self.body
                .pointer("/error/retryable")
                .and_then(Value::as_bool)
                .is_some(),
            "no error.retryable: {}",
            self.body
        );
        self.code().to_owned()
    }
}

/// A registered user and their token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub token: String,
    pub role: String,
}

/// A client of a storeplane API at `base`, with typed request helpers.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

/// A running server (in this process). Dereferences to its [`Api`] client.
#[derive(Debug)]
pub struct TestApp {
    pub api: Api,
    pub app_state: storeplane::api::AppState,
    /// The server's database, for tests that arrange what the API cannot.
    pub db: std::sync::Arc<dyn storeplane::db::Db>,
    pub database: TestDatabase,
    pub backend: Backend,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// A server on a fresh database with default test settings.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A server on a fresh database; `tweak` adjusts the server settings.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let database = TestDatabase::create(backend).await;
        Self::spawn_on(backend, database, tweak).await
    }

    /// A server on an existing database (e.g. to test a restart).
    pub async fn spawn_on(
        backend: Backend,
        database: TestDatabase,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        Self::start(backend, database, test_config(), tweak).await
    }

    /// A server on `database` whose plugin-host settings `tweak` adjusts (e.g. no helm).
    pub async fn spawn_on_with_config(
        backend: Backend,
        database: TestDatabase,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = test_config();
        tweak(&mut config);
        Self::start(backend, database, config, |_| {}).await
    }

    async fn start(
        backend: Backend,
        database: TestDatabase,
        config: Config,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let mut server_config = test_server_config(database.url.clone());
        tweak(&mut server_config);
        let app = server::build(&config, &server_config)
            .await
            .expect("build app");
        // As `serve` does: the change feed (PostgreSQL) or, without one, the user cache.
        app.follow_changes().await;
        let App {
            state, router, db, ..
        } = app;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = storeplane::api::serve(listener, router, async move {
                let _ = stopped.await;
            })
            .await;
        });
        Self {
            api: Api::new(format!("http://{addr}")),
            app_state: state,
            db,
            database,
            backend,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server gracefully and returns the database (to start another server on it).
    pub async fn stop(mut self) -> TestDatabase {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.db.close().await;
        let placeholder = TestDatabase {
            url: String::new(),
            postgres_name: None,
            _dir: None,
        };
        std::mem::replace(&mut self.database, placeholder)
    }
}

impl std::ops::Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    /// A client of the API at `base` (`http://host:port`).
    pub fn new(base: String) -> Self {
        Self {
            base,
            client: reqwest::Client::new(),
        }
    }

    /// Sends a request; `body` is JSON when given.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::reply(request.send().await.expect("send request")).await
    }

    /// Turns a raw response into a [`Reply`].
    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::DELETE, path, token, None).await
    }

    /// Registers `name` (`<name>@example.com`, password `password-<name>`) and returns them.
    pub async fn user(&self, name: &str) -> TestUser {
        let email = format!("{name}@example.com");
        let reply = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "username": name, "password": format!("password-{name}") }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "register {name}: {}",
            reply.body
        );
        TestUser {
            id: reply.body["user"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            email,
            token: reply.body["token"].as_str().unwrap_or_default().to_owned(),
            role: reply.body["user"]["role"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// Creates a WooCommerce store named `name` as `user`; returns its id.
    pub async fn store(&self, user: &TestUser, name: &str) -> String {
        let reply = self
            .post(
                "/api/v1/stores",
                Some(&user.token),
                json!({ "name": name, "engine": "woocommerce" }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "create {name}: {}",
            reply.body
        );
        reply.body["store"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Runs one async test body against SQLite and PostgreSQL: `backend_test!(name, |backend| async move { ... })`.
#[macro_export]
macro_rules! backend_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::app::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::app::Backend::Postgres).await;
            }
        }
    };
}
