//! What `plugin check` and upload validation tell a plugin author beyond whether each sample
//! renders: an exec grant for a container no pod of the chart has (with the containers there
//! are) and an option without a default; a problem several samples share is one line naming
//! them, in the report and in the upload's refusal.

use std::path::Path;

use reqwest::StatusCode;
use storeplane_tests::app::{Api, Backend, TestApp};
use storeplane_tests::{conformance, guests, plugin_check};

#[tokio::test]
async fn plugin_check_reports_a_grant_for_a_missing_container_and_an_option_without_a_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = plugin_check(dir.path(), guests::SLOPPY, vec![]).await;
    assert!(!report.passed(), "{report}");
    assert_eq!(report.grants.len(), 1, "{report}");
    assert!(
        report.grants[0].starts_with("exec grant for container \"wpcli\": no pod the chart renders has a container of that name (containers: ")
            && report.grants[0].contains("wp-cli"),
        "{report}"
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("options-schema property \"region\" has no default")),
        "{report}"
    );
    // Every sample still renders and passes on its own.
    assert!(
        report.specs.iter().all(|s| s.problems.is_empty()),
        "{report}"
    );
    let text = report.to_string();
    assert_eq!(text.matches("\"wpcli\"").count(), 1, "one line:\n{text}");
    assert!(
        text.contains("[FAIL] exec grants name containers the chart has"),
        "{text}"
    );
    assert!(text.ends_with("result: FAILED"), "{text}");
}

#[tokio::test]
async fn an_upload_is_refused_with_each_problem_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.user("admin").await;
    let response = app
        .client
        .post(format!("{}/api/v1/admin/plugins", app.base))
        .bearer_auth(&admin.token)
        .header("content-type", "application/wasm")
        .body(guests::SLOPPY.to_vec())
        .send()
        .await
        .expect("upload");
    let refused = Api::reply(response).await;
    assert_eq!(
        (refused.status, refused.envelope_code().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "PLUGIN_VALIDATION_FAILED"),
        "{}",
        refused.body
    );
    let details = refused.body["error"]["details"].to_string();
    assert_eq!(details.matches("\\\"wpcli\\\"").count(), 1, "{details}");
    assert!(
        details.contains("\\\"region\\\" has no default"),
        "{details}"
    );
}

/// An author's `println!` debugging: `plugin check` shows what the plugin printed on stdout and
/// stderr under the sample that printed it, escaping control characters and bounding a flood
/// (the guest's capture keeps 16 KiB; the report shows 20 lines of it).
#[tokio::test]
async fn plugin_check_shows_what_the_plugin_printed_escaped_and_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = plugin_check(
        dir.path(),
        guests::MISBEHAVE,
        vec![
            storeplane_tests::spec("a1b2c3d4e5f6", serde_json::json!({"behaviour": "printing"})),
            storeplane_tests::spec("0f0e0d0c0b0a", serde_json::json!({"behaviour": "chatty"})),
        ],
    )
    .await;
    let [.., printing, chatty] = report.specs.as_slice() else {
        panic!("{report}");
    };
    assert!(
        report.specs[..report.specs.len() - 2]
            .iter()
            .all(|s| s.output.is_empty()),
        "the samples print nothing: {report}"
    );
    assert_eq!(
        printing.output,
        "planning store a1b2c3d4e5f6\n\u{1b}[31mred on the author's terminal\u{1b}[0m\n\
         [PASS] \u{202e}deif\u{2066}i\u{2069}ton\n"
    );
    assert!(
        chatty.output.starts_with("diagnostic line 0: noise")
            && chatty.output.ends_with("[stderr truncated]"),
        "{}",
        chatty.output
    );
    let text = report.to_string();
    assert!(
        text.contains("       printed: planning store a1b2c3d4e5f6\n")
            && text.contains("       printed: \\u{1b}[31mred on the author's terminal\\u{1b}[0m\n"),
        "{text}"
    );
    assert!(
        text.contains("       printed: [PASS] \\u{202e}deif\\u{2066}i\\u{2069}ton\n"),
        "{text}"
    );
    assert!(
        !text.contains(['\u{1b}', '\u{202e}', '\u{2066}', '\u{2069}']),
        "no escape or bidi override reaches the terminal: {text}"
    );
    let shown = text.matches("printed: diagnostic line").count();
    assert_eq!(shown, 20, "{text}");
    assert!(text.contains("printed: … "), "{text}");
}

/// `plugin-try.py` as a release archive lays it out (the script beside `storeplane` and
/// `fake-kube`, no checkout around it), with a scripted failure whose message holds a `=`.
#[test]
fn plugin_try_shows_each_command_and_the_failing_step_with_its_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir
        .path()
        .join("storeplane-v0.1.0-x86_64-unknown-linux-gnu");
    std::fs::create_dir(&archive).expect("archive dir");
    for (name, target) in [
        (
            "storeplane",
            Path::new(env!("CARGO_BIN_EXE_storeplane-host")).to_owned(),
        ),
        (
            "fake-kube",
            Path::new(env!("CARGO_BIN_EXE_fake-kube")).to_owned(),
        ),
        (
            "plugin-try.py",
            storeplane_tests::workspace_root().join("scripts/plugin-try.py"),
        ),
    ] {
        std::os::unix::fs::symlink(target, archive.join(name)).expect("symlink");
    }
    let wasm = dir.path().join("woocommerce-0.2.0.wasm");
    std::fs::write(&wasm, guests::WOO_NEXT).expect("write the plugin");
    let output = std::process::Command::new("python3")
        .arg(archive.join("plugin-try.py"))
        .arg(&wasm)
        .args([
            "--exec-script",
            "wp plugin install woocommerce=1:Error: could not download WooCommerce (status=503)",
        ])
        .env_remove("STOREPLANE_BIN")
        .env_remove("FAKE_KUBE_BIN")
        .env("HELM_BIN", storeplane_tests::helm_bin())
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the store failed:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("plugin woocommerce 0.2.0 uploaded and activated"),
        "{text}"
    );
    assert!(
        text.contains("wp core install --url="),
        "the commands are shown:\n{text}"
    );
    assert!(text.contains("-> exit 1"), "{text}");
    assert!(
        text.contains("setup step 1 of 7: install-wordpress done"),
        "{text}"
    );
    assert!(
        text.contains("result: the store is failed: setup step install-woocommerce failed with exit code 1 after 3 attempt(s): Error: could not download WooCommerce (status=503)"),
        "{text}"
    );
}

/// A chart as a hurried author might write it: one container asking for 3 CPU and 6 GiB
/// (above what one container of a store may use: the namespace's LimitRange allows 2 and 4 GiB,
/// so the API server would refuse its pods), and a pod that breaks the namespace's Pod
/// Security level in each way the baseline profile forbids. `plugin check` renders each
/// sample with the host's checks (`Conformance::render_and_check`): every one is reported,
/// with the numbers for the limits.
#[tokio::test]
async fn plugin_check_fails_a_plan_the_limit_range_or_pod_security_would_refuse() {
    let report = render_and_check_chart(
        "greedy",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      securityContext:
        sysctls:
          - { name: kernel.msgmax, value: "65536" }
        seccompProfile: { type: Unconfined }
      containers:
        - name: web
          image: nginx
          ports:
            - { containerPort: 80, hostPort: 80 }
          resources:
            requests: { cpu: "3", memory: 6Gi }
            limits: { cpu: "3", memory: 6Gi }
          securityContext:
            privileged: true
            procMount: Unmasked
            appArmorProfile: { type: Unconfined }
            seLinuxOptions: { type: spc_t }
"#,
    )
    .await;
    let problems = report.problems.join("\n");
    for expected in [
        // The LimitRange, with the numbers.
        "container web: resources.limits.cpu 3 is above the 2 one container of a store may use",
        "container web: resources.limits.memory 6Gi is above the 4Gi one container of a store may use",
        // Pod Security "baseline", the namespace's level at the least.
        "container \"web\" is privileged",
        "hostPort or hostIP are not allowed",
        "spec.template.spec.securityContext.seccompProfile.type \"Unconfined\" is not allowed",
        "spec.template.spec.securityContext.sysctls \"kernel.msgmax\" is not allowed",
        "containers[web].securityContext.procMount \"Unmasked\" is not allowed",
        "containers[web].securityContext.appArmorProfile.type \"Unconfined\" is not allowed",
        "containers[web].securityContext.seLinuxOptions.type \"spc_t\" is not allowed",
    ] {
        assert!(
            problems.contains(expected),
            "{expected:?} not reported; the report:\n{problems}"
        );
    }
}

/// `templates/app.yaml` packaged as the embedded chart `name` of an engine with no options,
/// rendered for one store and checked by the host's rules (`Conformance::render_and_check`).
async fn render_and_check_chart(
    name: &str,
    template: &str,
) -> storeplane::conformance::RenderReport {
    use storeplane::plugins::model::{ChartSource, DeploymentPlan, EngineInfo};
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = dir.path().join(name);
    std::fs::create_dir_all(chart.join("templates")).expect("chart dir");
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
    )
    .expect("Chart.yaml");
    std::fs::write(chart.join("templates/app.yaml"), template).expect("template");
    let packaged = std::process::Command::new(storeplane_tests::helm_bin())
        .args(["package", "--destination"])
        .arg(dir.path())
        .arg(&chart)
        .output()
        .expect("helm package");
    assert!(packaged.status.success(), "{packaged:?}");
    let info = EngineInfo {
        id: name.into(),
        display_name: name.into(),
        version: semver::Version::new(0, 1, 0),
        description: String::new(),
        options_schema: serde_json::json!({"type": "object"}),
        secrets: vec![],
        chart: ChartSource::Embedded(
            std::fs::read(dir.path().join(format!("{name}-0.1.0.tgz"))).expect("the package"),
        ),
        exec: vec![],
    };
    let spec = storeplane_tests::spec("6f708192", serde_json::json!({}));
    let plan = DeploymentPlan {
        values: serde_json::Map::new(),
        setup: vec![],
        endpoints: vec![],
        ready_when: vec![],
        admin_login: None,
    };
    conformance(dir.path())
        .render_and_check(&info, &spec, &plan)
        .await
}

/// Settings under which a real cluster never finishes a roll-out (a paused Deployment, an
/// `OnDelete` or partitioned StatefulSet, a readiness gate no controller sets): the store
/// would wait until its time limit on every cluster, so `plugin check` fails them, naming
/// the object, the field and why.
#[tokio::test]
async fn plugin_check_fails_workloads_that_would_never_roll_out() {
    let report = render_and_check_chart(
        "stuck",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  paused: true
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      readinessGates:
        - conditionType: example.com/registered
      containers:
        - name: web
          image: nginx
          resources:
            limits: { cpu: 100m, memory: 64Mi }
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: { partition: 1 }
  selector:
    matchLabels: { app: db }
  template:
    metadata:
      labels: { app: db }
    spec:
      containers:
        - name: db
          image: mariadb
          resources:
            limits: { cpu: 100m, memory: 64Mi }
"#,
    )
    .await;
    let problems = report.problems.join("\n");
    for expected in [
        "Deployment/web: spec.paused is true: the deployment controller makes no pods",
        "Deployment/web: spec.template.spec.readinessGates is not allowed in a store's pods: a pod is Ready only once a controller of the cluster sets",
        "StatefulSet/db: spec.updateStrategy.rollingUpdate.partition is 1: pods below ordinal 1 keep the old revision",
    ] {
        assert!(
            problems.contains(expected),
            "{expected:?} not reported; the report:\n{problems}"
        );
    }
}
