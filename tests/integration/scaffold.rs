//! `storeplane plugin new`, as a first-time plugin author uses it, following the quick start of
//! `docs/plugin-authoring.md`: the scaffolded crate's own unit tests pass, it builds for
//! wasm32-wasip2 (its chart packaged at build time) into the file the guide names, passes
//! `plugin check` untouched, uploads, activates and provisions a store to `ready` against the
//! fake cluster with the guide's options, and resizes; then the guide's "change an option"
//! recipe, applied as written, gives a new version whose option reaches the store's pod.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use storeplane_tests::app::{Api, Backend, TestUser};
use storeplane_tests::fake_kube::Settings;
use storeplane_tests::workspace_root;

use crate::provisioning::{Rig, ready_store_with, upload_and_activate, wait_until};

/// The guide's engine name, and the component its commands name.
const ENGINE: &str = "my-engine";
const COMPONENT: &str = "my_engine_engine.wasm";

/// `cargo` in the scaffolded crate, with a target directory of its own (kept between runs)
/// and none of the outer build's settings.
fn cargo(dir: &Path, args: &[&str]) {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", workspace_root().join("target/scaffold"));
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(var);
    }
    let output = command.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo {args:?} in the scaffolded crate failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds the crate for wasm32-wasip2 (after its unit tests when `test`) and returns the
/// component the guide's commands name.
async fn build(crate_dir: &Path, test: bool) -> Vec<u8> {
    let dir = crate_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        if test {
            cargo(&dir, &["test", "--offline", "--quiet"]);
        }
        let release = [
            "build",
            "--offline",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
        ];
        cargo(&dir, &release);
    })
    .await
    .expect("join");
    std::fs::read(
        workspace_root()
            .join("target/scaffold/wasm32-wasip2/release")
            .join(COMPONENT),
    )
    .expect("the component is where the guide's commands look for it")
}

/// `plugin check`, as the guide runs it; it must pass.
async fn plugin_check(scratch: &Path, wasm: &[u8]) {
    let report = storeplane_tests::plugin_check(scratch, wasm, vec![]).await;
    assert!(report.passed(), "plugin check passes:\n{report}");
}

/// The author's guide.
fn guide() -> String {
    std::fs::read_to_string(workspace_root().join("docs/plugin-authoring.md")).expect("the guide")
}

/// Every `--options '…'` of the guide's commands, parsed.
fn guide_options(guide: &str) -> Vec<Value> {
    guide
        .split("--options '")
        .skip(1)
        .map(|rest| {
            let json = &rest[..rest.find('\'').expect("a closing quote")];
            serde_json::from_str(json).unwrap_or_else(|e| panic!("the guide's {json} is JSON: {e}"))
        })
        .collect()
}

/// Replaces `anchor` in the crate's file with `anchor` followed by `added`, as the guide tells
/// an author to; `shown` is how the guide writes the addition, which it must contain.
fn edit(file: &Path, anchor: &str, replacement: &str, shown: &str, guide: &str) {
    assert!(guide.contains(shown), "the guide shows {shown:?}");
    let text = std::fs::read_to_string(file).expect("read");
    assert_eq!(
        text.matches(anchor).count(),
        1,
        "{anchor:?} once in {}",
        file.display()
    );
    std::fs::write(file, text.replacen(anchor, replacement, 1)).expect("write");
}

async fn ready_store(host: &Api, admin: &TestUser, name: &str, options: Value) -> String {
    ready_store_with(host, admin, name, ENGINE, options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_quick_start_scaffolds_builds_checks_and_provisions_a_store() {
    let guide = guide();
    for (at, _) in guide.match_indices(".wasm") {
        let start = guide[..at].rfind(['/', ' ', '@', '`']).map_or(0, |i| i + 1);
        let named = &guide[start..at + ".wasm".len()];
        if named.starts_with("my_engine") {
            assert_eq!(
                named, COMPONENT,
                "the guide names the component the scaffold builds"
            );
        }
    }
    let options = guide_options(&guide);
    let (with_greeting, untouched): (Vec<_>, Vec<_>) = options
        .into_iter()
        .partition(|o| o.get("greeting").is_some());
    assert!(
        !untouched.is_empty() && !with_greeting.is_empty(),
        "{guide}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let crate_dir = dir.path().join(ENGINE);
    let scaffold = Command::new(env!("CARGO_BIN_EXE_storeplane-host"))
        .args(["plugin", "new", ENGINE, "--path"])
        .arg(&crate_dir)
        .arg("--storeplane")
        .arg(workspace_root())
        .output()
        .expect("storeplane plugin new");
    assert!(
        scaffold.status.success(),
        "{}",
        String::from_utf8_lossy(&scaffold.stderr)
    );
    let printed = String::from_utf8_lossy(&scaffold.stdout);
    assert!(
        printed.contains("wrote") && printed.contains(COMPONENT),
        "{printed}"
    );

    let wasm = build(&crate_dir, true).await;
    plugin_check(dir.path(), &wasm).await;

    let rig = Rig::new(Backend::Sqlite, Settings::default()).await;
    let host = rig.host().await;
    let admin = host.user("author").await;
    upload_and_activate(&host, &admin, &wasm, "my-engine/0.1.0").await;
    let id = ready_store(
        &host,
        &admin,
        "corner",
        json!({"title": "Corner \"Shop\"; $(id)"}),
    )
    .await;
    let ran = rig.completed_execs(&id);
    assert_eq!(ran.len(), 1, "{ran:?}");
    let command = ran[0].join(" ");
    assert!(
        command.contains("STORE_TITLE") && !command.contains("Corner"),
        "{command}"
    );
    // A resize (the changeable option) replaces the pod; the pages stay on the store's claim.
    let resized = host
        .post(
            &format!("/api/v1/stores/{id}/upgrade"),
            Some(&admin.token),
            json!({"options": {"size": "large"}}),
        )
        .await;
    assert_eq!(resized.status.as_u16(), 202, "{}", resized.body);
    let store = wait_until(&host, &admin, &id, Duration::from_secs(60), |s| {
        s["status"] == "ready" || s["status"] == "failed"
    })
    .await;
    assert!(
        store["status"] == "ready" && store["failureReason"].is_null(),
        "{store}"
    );
    let deployment = rig
        .fake
        .object("apps/v1", "Deployment", &format!("store-{id}"), ENGINE)
        .expect("the store's Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["resources"]["limits"]["cpu"], "500m");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "my-engine-pages"
    );
    assert_eq!(rig.completed_execs(&id).len(), 1, "setup ran once");
    for (n, options) in untouched.into_iter().enumerate() {
        ready_store(&host, &admin, &format!("guide-{n}"), options).await;
    }

    // "Change an option", as the guide writes it, then a new version (every upload bumps it).
    let file = |name: &str| crate_dir.join(name);
    let field = r#"#[schemars(title = "Greeting", length(max = 200))] pub greeting: String,"#;
    let add = |f: &str, anchor: &str, added: &str, shown: &str| {
        edit(&file(f), anchor, &format!("{anchor}{added}"), shown, &guide);
    };
    add(
        "src/options.rs",
        "pub size: Size,\n",
        &format!("    {field}\n"),
        field,
    );
    let default = r#"greeting: "Welcome!".into(),"#;
    add(
        "src/options.rs",
        "size: Size::Small,\n",
        &format!("{default}\n"),
        default,
    );
    let value = r#""greeting": options.greeting,"#;
    add(
        "src/lib.rs",
        "\"title\": options.title,\n",
        &format!("{value}\n"),
        value,
    );
    edit(
        &file("src/lib.rs"),
        r#"<h1>%s</h1>\\n' \"$(html \"$STORE_TITLE\")\""#,
        r#"<h1>%s</h1><p>%s</p>\\n' \"$(html \"$STORE_TITLE\")\" \"$(html \"$STORE_GREETING\")\""#,
        "`\"$(html \"$STORE_GREETING\")\"` after\n   `\"$(html \"$STORE_TITLE\")\"`",
        &guide,
    );
    add(
        "chart/templates/app.yaml",
        "value: {{ .Values.title | quote }}\n",
        "            - name: STORE_GREETING\n              value: {{ .Values.greeting | quote }}\n",
        "`- name: STORE_GREETING` and `value: {{ .Values.greeting | quote }}`",
    );
    edit(
        &file("Cargo.toml"),
        "version = \"0.1.0\"",
        "version = \"0.2.0\"",
        "bump it",
        &guide,
    );

    let changed = build(&crate_dir, true).await;
    plugin_check(dir.path(), &changed).await;
    upload_and_activate(&host, &admin, &changed, "my-engine/0.2.0").await;
    for (n, options) in with_greeting.into_iter().enumerate() {
        let greeting = options["greeting"].as_str().expect("text").to_owned();
        let id = ready_store(&host, &admin, &format!("greeting-{n}"), options).await;
        let deployment = rig
            .fake
            .object("apps/v1", "Deployment", &format!("store-{id}"), ENGINE)
            .expect("the store's Deployment");
        let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
        assert!(
            env.as_array()
                .expect("env")
                .contains(&json!({"name": "STORE_GREETING", "value": greeting})),
            "the option reaches the pod: {env}"
        );
        let ran = rig.completed_execs(&id).concat().join(" ");
        assert!(
            ran.contains("$STORE_GREETING") && !ran.contains(&greeting),
            "the script prints it from the environment: {ran}"
        );
    }
}
