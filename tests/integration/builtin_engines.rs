//! The built-in engines against their real charts and real tools: `plugin check` passes, the
//! rendered manifests validate strictly against Kubernetes 1.33 schemas, `helm lint` passes
//! with each engine's values (for the bundled chart alone and with the operator overlays; an
//! embedded chart never gets them), and the registry validates them with chart rendering on.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use storeplane::conformance::check_plugin;
use storeplane::conformance::{Conformance, with_host_values};
use storeplane::k8s::quantity::Quantity;
use storeplane::k8s::{Ceiling, HelmRenderer};
use storeplane::plugins::model::ChartSource;
use storeplane::plugins::{Origin, Registry, builtin};
use storeplane_tests::{
    conformance, helm_bin, kubernetes_validate, runtime, spec, store_chart, wp_cli,
};

const ENGINES: [&str; 3] = ["woocommerce", "medusa", "prestashop"];

/// The chart `engine` renders with: the host's bundled chart, or its own embedded one
/// (written to `dir`, as the host writes it before rendering).
fn chart_of(engine: &str, dir: &std::path::Path) -> (std::path::PathBuf, bool) {
    let rt = runtime();
    let component = rt
        .load(builtin::wasm(engine).expect("built-in"))
        .expect("load");
    match component.describe(&rt).expect("describe").chart {
        ChartSource::Bundled(_) => (store_chart(), true),
        ChartSource::Embedded(bytes) => {
            let path = dir.join(format!("{engine}.tgz"));
            std::fs::write(&path, bytes).expect("write the embedded chart");
            (path, false)
        }
    }
}

#[tokio::test]
async fn builtin_engines_pass_plugin_check_and_strict_schema_validation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conformance = conformance(dir.path());
    for engine in ENGINES {
        let wasm = builtin::wasm(engine).expect("built-in").to_vec();
        let report = check_plugin(runtime(), &conformance, wasm, vec![]).await;
        assert!(report.passed(), "{engine}:\n{report}");
        assert!(
            report.specs.len() >= 3,
            "{engine}: defaults plus schema examples"
        );
        for spec in &report.specs {
            assert!(
                spec.manifests.iter().any(|m| m.kind == "Deployment"),
                "{engine}: no Deployment"
            );
            assert!(
                spec.manifests.iter().any(|m| m.kind == "StatefulSet"),
                "{engine}: no StatefulSet"
            );
            assert!(
                spec.manifests.iter().any(|m| m.kind == "Ingress"),
                "{engine}: no Ingress"
            );
        }
        let out = dir.path().join(format!("rendered-{engine}"));
        report.write_manifests(&out).expect("write manifests");
        let files: Vec<_> = std::fs::read_dir(&out)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .collect();
        let result = Command::new(kubernetes_validate())
            .args(["-k", "1.33.0", "--strict"])
            .args(&files)
            .output()
            .expect("run kubernetes-validate");
        assert!(
            result.status.success(),
            "{engine}: kubernetes-validate failed:\n{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
    }
}

#[tokio::test]
async fn helm_lint_passes_for_every_engine_and_overlay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    for engine in ENGINES {
        let component = rt
            .load(builtin::wasm(engine).expect("built-in"))
            .expect("load");
        let store = spec("6f708192", json!({}));
        let plan = component.plan(&rt, &store).expect("plan");
        let values = dir.path().join(format!("{engine}.json"));
        std::fs::write(
            &values,
            serde_json::to_vec(&with_host_values(&plan.values, &store)).expect("json"),
        )
        .expect("write values");
        let (chart, bundled) = chart_of(engine, dir.path());
        let overlays: &[Option<&str>] = if bundled {
            &[None, Some("values-local.yaml"), Some("values-vps.yaml")]
        } else {
            &[None]
        };
        for overlay in overlays {
            let mut cmd = Command::new(helm_bin());
            cmd.args(["lint", "--strict"])
                .arg(&chart)
                .arg("-f")
                .arg(&values);
            if let Some(overlay) = overlay {
                cmd.arg("-f").arg(store_chart().join(overlay));
            }
            let out = cmd.output().expect("run helm lint");
            assert!(
                out.status.success(),
                "helm lint {engine} {overlay:?}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[tokio::test]
async fn registry_validates_builtins_with_the_chart_and_rejects_chartless_plans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::new(runtime(), Arc::new(conformance(dir.path())));
    for engine in ENGINES {
        let version = registry
            .add_and_activate(
                builtin::wasm(engine).expect("built-in").to_vec(),
                Origin::Builtin,
            )
            .await
            .unwrap_or_else(|err| panic!("{engine}: {err}"));
        assert_eq!(version.info.id, engine);
    }
    // The swap test engine claims the bundled chart but gives it none of the values it needs:
    // with chart rendering on, it must not get in.
    let err = registry
        .add(
            storeplane_tests::guests::SWAP_V1.to_vec(),
            Origin::Upload("admin".into()),
        )
        .await
        .expect_err("plans that do not render are refused");
    assert_eq!(err.code(), "validation_failed", "{err}");
    assert!(
        err.to_string().contains("rendering the chart failed"),
        "{err}"
    );
    assert!(registry.active("swap").is_none());
}

#[tokio::test]
async fn plans_carry_no_secret_values_and_read_secrets_from_the_environment() {
    let rt = runtime();
    let component = rt
        .load(builtin::wasm("woocommerce").expect("built-in"))
        .expect("load");
    let plan = component
        .plan(
            &rt,
            &spec(
                "708192a3",
                json!({ "storeTitle": "Ann's $(reboot) `shop`" }),
            ),
        )
        .expect("plan");
    let install = plan
        .setup
        .iter()
        .find(|s| s.name == "install-wordpress")
        .expect("install step");
    let script = install.command.join(" ");
    assert!(
        script.contains("\"$WP_ADMIN_PASSWORD\""),
        "password comes from the container env: {script}"
    );
    assert!(
        script.contains("--prompt=admin_password"),
        "and reaches wp-cli on stdin: {script}"
    );
    // Tenant text is quoted as one shell word, so it cannot run commands.
    assert!(
        script.contains(r"--title='Ann'\''s $(reboot) `shop`'"),
        "{script}"
    );
    for step in &plan.setup {
        assert_eq!(step.command[..2], ["sh".to_owned(), "-c".to_owned()]);
        assert!(
            step.command[2].starts_with("set -eu"),
            "{}: steps stop at the first error",
            step.name
        );
        assert!(
            !step.command[2].contains("|| echo"),
            "{}: no swallowed errors",
            step.name
        );
    }
}

/// Breakage 15 of the real-cluster review: the local overlay (`values-local.yaml`) is applied
/// after the plan's values, so any ingress setting in it silently beat the operator's
/// `INGRESS_CLASS` and `STORE_TLS`. The overlay may set storage and images, never what the
/// host's settings decide.
#[tokio::test]
async fn operator_overlays_never_override_the_ingress_class_or_tls_the_host_chose() {
    let rt = runtime();
    for engine in ["woocommerce", "medusa"] {
        let component = rt
            .load(builtin::wasm(engine).expect("built-in"))
            .expect("load");
        let mut store = spec("6f708192", json!({}));
        store.ingress_class = Some("nginx".into());
        store.tls = true;
        let plan = component.plan(&rt, &store).expect("plan");
        for overlay in ["values-local.yaml", "values-vps.yaml"] {
            // The renderer the host runs with HELM_VALUES_FILE set.
            let helm = HelmRenderer::new(
                helm_bin(),
                Duration::from_secs(60),
                Some(store_chart().join(overlay)),
            );
            let manifests = helm
                .template(
                    &store_chart(),
                    "store",
                    "store-6f708192",
                    &plan.values,
                    true,
                )
                .await
                .unwrap_or_else(|err| panic!("{engine} {overlay}: {err}"));
            let ingress = manifests
                .iter()
                .find(|m| m.kind == "Ingress")
                .unwrap_or_else(|| panic!("{engine} {overlay}: no Ingress"));
            assert_eq!(
                ingress.object["spec"]["ingressClassName"], "nginx",
                "{engine} with {overlay}: INGRESS_CLASS must win"
            );
            assert!(
                ingress.object["spec"]["tls"].is_array(),
                "{engine} with {overlay}: STORE_TLS=true must keep TLS on: {}",
                ingress.object["spec"]
            );
        }
    }
}

#[tokio::test]
async fn plugin_check_refuses_a_size_above_the_hosts_per_store_ceiling_with_the_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An operator allows 4 CPU per store; WooCommerce's "large" sample needs 4.5.
    let ceiling = Ceiling {
        cpu: Quantity::units(4),
        ..Ceiling::default()
    };
    let conformance = conformance(dir.path()).with_ceiling(ceiling);
    let wasm = builtin::wasm("woocommerce").expect("built-in").to_vec();
    let report = check_plugin(runtime(), &conformance, wasm, vec![]).await;
    assert!(!report.passed(), "{report}");
    let problems: Vec<&String> = report.specs.iter().flat_map(|s| &s.problems).collect();
    assert_eq!(
        problems.len(),
        1,
        "only the large sample is refused: {problems:?}"
    );
    assert!(
        problems[0].contains("CPU 4500m and memory 4352Mi")
            && problems[0].contains("CPU 4500m > 4"),
        "{}",
        problems[0]
    );
}

/// Part C of the real-cluster review: every WP-CLI command the WooCommerce engine plans, for
/// every sample store and for hostile-looking tenant text, matches WP-CLI's documented
/// synopsis (`storeplane_tests::wp_cli`): a command, positional arguments and options it has.
/// Breakage 17: WooCommerce and Storefront are installed at pinned versions.
#[tokio::test]
async fn every_planned_wp_cli_command_matches_wp_clis_synopsis() {
    let rt = runtime();
    let component = rt
        .load(builtin::wasm("woocommerce").expect("built-in"))
        .expect("load");
    let info = component.describe(&rt).expect("describe");
    let mut options: Vec<serde_json::Value> = info
        .options_schema
        .get("examples")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    options.push(json!({}));
    let hostile = [
        "--require=/tmp/x.php",
        "-x",
        "--debug",
        "--exec=system('id');",
    ];
    options.push(
        json!({"storeTitle": hostile[0], "sampleData": true, "city": hostile[1],
                        "postcode": hostile[2], "address": hostile[3]}),
    );
    let mut checked = 0;
    let mut pinned = 0;
    for (i, opts) in options.iter().enumerate() {
        let plan = component
            .plan(&rt, &spec(&format!("70819{i:03x}"), opts.clone()))
            .expect("plan");
        for step in &plan.setup {
            for command in wp_cli::commands(&step.command[2]) {
                if command[0] != "wp" {
                    continue;
                }
                let problems = wp_cli::check(&command[1..]);
                assert!(problems.is_empty(), "step {}: {problems:?}", step.name);
                // What a store installs does not depend on the day it was created.
                if matches!(command.get(1..3), Some([what, verb]) if verb == "install" && (what == "plugin" || what == "theme"))
                {
                    assert!(
                        command.iter().any(|w| w.starts_with("--version=")),
                        "step {}: {command:?} installs whatever is newest",
                        step.name
                    );
                    pinned += 1;
                }
                // Tenant text is never a word of its own that WP-CLI would parse as an option.
                assert!(
                    !command.iter().any(|word| hostile.contains(&word.as_str())),
                    "step {}: tenant text became an argument: {command:?}",
                    step.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} wp invocations were found");
    assert_eq!(
        pinned,
        2 * options.len(),
        "WooCommerce and Storefront, in every plan"
    );
}

#[test]
fn the_built_in_engines_export_lifecycle_with_real_upgrade_steps_within_their_grants() {
    let rt = runtime();
    let from = semver::Version::new(0, 1, 0);
    for (engine, expected) in [
        (
            "woocommerce",
            &[
                "pin-woocommerce",
                "update-wordpress-database",
                "update-woocommerce-database",
            ][..],
        ),
        ("medusa", &["migrate-database"][..]),
        ("prestashop", &["clear-cache"][..]),
    ] {
        let component = rt
            .load(builtin::wasm(engine).expect("built-in"))
            .expect("load");
        assert_eq!(component.wit_version().to_string(), "1.1.0", "{engine}");
        assert!(component.has_lifecycle(), "{engine}");
        let info = component.describe(&rt).expect("describe");
        let store = spec("70819abc", json!({}));
        let steps = component
            .upgrade_steps(&rt, &from, &store)
            .expect("upgrade steps");
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, expected, "{engine}");
        let problems = storeplane::plugins::validate::check_steps(&info, "upgrade", &steps);
        assert!(problems.is_empty(), "{engine}: {problems:?}");
        if engine == "woocommerce" {
            for step in &steps {
                for command in wp_cli::commands(&step.command[2]) {
                    if command[0] == "wp" {
                        let problems = wp_cli::check(&command[1..]);
                        assert!(problems.is_empty(), "step {}: {problems:?}", step.name);
                    }
                }
            }
        }
    }
}

/// The options' defaults are written twice in each engine (its JSON Schema, which the
/// dashboard's form and the API show, and its Rust options type, which plans): a store created
/// with `{}` must be planned exactly as one created with every schema default spelled out.
#[test]
fn the_schema_defaults_are_the_defaults_the_engines_plan_with() {
    let rt = runtime();
    for engine in ENGINES {
        let component = rt
            .load(builtin::wasm(engine).expect("built-in"))
            .expect("load");
        let info = component.describe(&rt).expect("describe");
        let defaults: serde_json::Map<String, serde_json::Value> =
            info.options_schema["properties"]
                .as_object()
                .expect("properties")
                .iter()
                .map(|(name, property)| {
                    let default = property
                        .get("default")
                        .unwrap_or_else(|| panic!("{engine}: option {name} has no default"));
                    (name.clone(), default.clone())
                })
                .collect();
        assert!(!defaults.is_empty(), "{engine}");
        let implicit = component
            .plan(&rt, &spec("1a2b3c4d", json!({})))
            .expect("plan with {}");
        let explicit = component
            .plan(
                &rt,
                &spec("1a2b3c4d", serde_json::Value::Object(defaults.clone())),
            )
            .expect("plan with the schema's defaults");
        assert_eq!(
            implicit, explicit,
            "{engine}: the schema's defaults {defaults:?} are not what the engine plans with"
        );
    }
}

/// An embedded chart never receives the operator's overlay (`HELM_VALUES_FILE`), whose keys
/// are the bundled chart's: PrestaShop's chart has a strict values schema, which would refuse
/// them. Its Ingress takes the class and TLS from the host's `storeplane` values alone.
#[tokio::test]
async fn an_embedded_chart_renders_on_a_host_with_an_overlay_and_takes_the_hosts_ingress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let component = rt
        .load(builtin::wasm("prestashop").expect("built-in"))
        .expect("load");
    let info = component.describe(&rt).expect("describe");
    assert!(matches!(info.chart, ChartSource::Embedded(_)));
    let mut store = spec("6f708192", json!({}));
    store.ingress_class = Some("nginx".into());
    store.tls = true;
    let plan = component.plan(&rt, &store).expect("plan");
    for overlay in ["values-local.yaml", "values-vps.yaml"] {
        let helm = HelmRenderer::new(
            helm_bin(),
            Duration::from_secs(60),
            Some(store_chart().join(overlay)),
        );
        let checks = Conformance::new(
            helm,
            storeplane::k8s::BundledCharts::new(dir.path().join("charts")),
        );
        let report = checks.render_and_check(&info, &store, &plan).await;
        assert!(
            report.problems.is_empty(),
            "{overlay}: {:?}",
            report.problems
        );
        let ingress = report
            .manifests
            .iter()
            .find(|m| m.kind == "Ingress")
            .unwrap_or_else(|| panic!("{overlay}: no Ingress"));
        assert_eq!(
            ingress.object["spec"]["ingressClassName"], "nginx",
            "{overlay}"
        );
        assert_eq!(
            ingress.object["spec"]["tls"][0]["hosts"][0],
            store.hostname.as_str(),
            "{overlay}"
        );
    }
    // The same chart with the overlay forced on it fails its own schema: what the host spares it.
    let chart = dir.path().join("prestashop.tgz");
    let ChartSource::Embedded(bytes) = &info.chart else {
        unreachable!()
    };
    std::fs::write(&chart, bytes).expect("write chart");
    let values = dir.path().join("values.json");
    std::fs::write(
        &values,
        serde_json::to_vec(&with_host_values(&plan.values, &store)).expect("json"),
    )
    .expect("write values");
    let forced = Command::new(helm_bin())
        .args(["template", "store"])
        .arg(&chart)
        .arg("-f")
        .arg(&values)
        .arg("-f")
        .arg(store_chart().join("values-local.yaml"))
        .output()
        .expect("run helm");
    assert!(
        !forced.status.success(),
        "the strict schema refuses the bundled chart's keys"
    );
    assert!(
        String::from_utf8_lossy(&forced.stderr).contains("additional properties"),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
}

/// Every argument the PrestaShop engine's install step passes to PrestaShop's CLI installer,
/// for every sample store and for hostile-looking tenant text, is one the installer knows,
/// and its value (the fixed one, or the one the chart puts in the container's environment)
/// survives the installer's parser and passes its validation: the installer drops a bad
/// value without failing (`storeplane_tests::prestashop_installer`). Secrets reach it from
/// the credentials Secret, never a command line; the tenant's shop name never reaches it.
#[tokio::test]
async fn the_prestashop_installer_gets_only_arguments_it_knows_with_values_it_keeps() {
    use storeplane_tests::prestashop_installer::{Source, arguments_of, check};
    let dir = tempfile::tempdir().expect("tempdir");
    let checks = conformance(dir.path());
    let rt = runtime();
    let component = rt
        .load(builtin::wasm("prestashop").expect("built-in"))
        .expect("load");
    let info = component.describe(&rt).expect("describe");
    let mut options: Vec<serde_json::Value> = info.options_schema["examples"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    options.push(json!({}));
    options.push(json!({"shopName": "a=b <c> | `d` {e}", "demoProducts": false}));
    let secret_keys: Vec<(&str, u32)> = info
        .secrets
        .iter()
        .map(|s| (s.key.as_str(), s.length))
        .collect();
    for (i, opts) in options.iter().enumerate() {
        let store = spec(&format!("70819{i:03x}"), opts.clone());
        let plan = component.plan(&rt, &store).expect("plan");
        let report = checks.render_and_check(&info, &store, &plan).await;
        assert!(report.problems.is_empty(), "{opts}: {:?}", report.problems);
        let deployment = report
            .manifests
            .iter()
            .find(|m| m.kind == "Deployment")
            .expect("the PrestaShop Deployment");
        let env = deployment.object["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let install = plan
            .setup
            .iter()
            .find(|s| s.name == "install-prestashop")
            .expect("install step");
        let php = wp_cli::commands(&install.command[2])
            .into_iter()
            .find_map(|words| {
                // `runuser -u www-data -- php -d … -r PROGRAM`
                let php = words.iter().position(|w| w == "php")?;
                let at = words[php..].iter().position(|w| w == "-r")?;
                words.get(php + at + 1).cloned()
            })
            .expect("the installer's PHP program");
        let arguments = arguments_of(&php);
        assert!(arguments.len() >= 15, "{arguments:?}");
        for required in [
            "domain",
            "db_server",
            "db_password",
            "password",
            "email",
            "language",
            "country",
            "fixtures",
        ] {
            assert!(
                arguments.iter().any(|(n, _)| n == required),
                "--{required} missing: {arguments:?}"
            );
        }
        for (name, source) in &arguments {
            let value = match source {
                Source::Fixed(value) => value.clone(),
                Source::Env(var) => {
                    let entry = env
                        .iter()
                        .find(|e| e["name"] == var.as_str())
                        .unwrap_or_else(|| {
                            panic!("--{name}: ${var} is not in the container's environment")
                        });
                    if let Some(key) = entry
                        .pointer("/valueFrom/secretKeyRef/key")
                        .and_then(|k| k.as_str())
                    {
                        // A generated secret: alphanumeric, of the length requested.
                        let (_, length) = secret_keys
                            .iter()
                            .find(|(k, _)| *k == key)
                            .unwrap_or_else(|| panic!("--{name}: secret {key} is not requested"));
                        "x".repeat(*length as usize)
                    } else {
                        entry["value"].as_str().unwrap_or_default().to_owned()
                    }
                }
            };
            let problems = check(name, &value);
            assert!(problems.is_empty(), "{opts}: {problems:?}");
        }
        for word in ["Chai", "a=b", "owner@"] {
            assert!(
                !install.command[2].contains(word),
                "tenant or owner text in the install step"
            );
        }
    }
}
