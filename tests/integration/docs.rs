//! The README's configuration reference is checked against the configuration types: every
//! environment variable `storeplane serve` reads is documented, every documented variable
//! exists, and documented defaults are the real ones.

use std::collections::BTreeMap;

use clap::Args as _;
use storeplane::config::{Config, ServerConfig};
use storeplane_tests::workspace_root;

/// Variables read outside the two config types (global CLI options), with their defaults.
const GLOBAL: &[(&str, &str)] = &[("LOG_LEVEL", "info"), ("LOG_FORMAT", "text")];

/// Documented variables and their documented defaults (`None` when not a single literal).
fn documented() -> BTreeMap<String, Vec<Option<String>>> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README");
    let section = readme
        .split("\n## Configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Configuration section");
    let mut found = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let names: Vec<String> = cells[1]
            .split(['`', ',', '/', ' '])
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .map(str::to_owned)
            .collect();
        let defaults: Vec<Option<String>> = cells[2]
            .split(" / ")
            .flat_map(|d| d.split(", "))
            .map(|d| {
                let d = d.trim();
                (d.starts_with('`') && d.ends_with('`') && d.matches('`').count() == 2)
                    .then(|| d.trim_matches('`').to_owned())
            })
            .collect();
        for (i, name) in names.iter().enumerate() {
            let default = if defaults.len() == names.len() {
                defaults[i].clone()
            } else {
                None
            };
            found
                .entry(name.clone())
                .or_insert_with(Vec::new)
                .push(default);
        }
    }
    found
}

/// Variables of the configuration types and their defaults.
fn actual() -> BTreeMap<String, Option<String>> {
    let command = ServerConfig::augment_args(Config::augment_args(clap::Command::new("serve")));
    let mut vars: BTreeMap<String, Option<String>> = command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let default = arg
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned());
            Some((env, default))
        })
        .collect();
    for (name, default) in GLOBAL {
        vars.insert((*name).to_owned(), Some((*default).to_owned()));
    }
    vars
}

#[test]
fn the_configuration_reference_matches_the_configuration_types() {
    let documented = documented();
    let actual = actual();
    let hidden = ["NODE_ENV"]; // documented with STOREPLANE_ENV, as its alias
    let undocumented: Vec<&String> = actual
        .keys()
        .filter(|k| !documented.contains_key(*k) && !hidden.contains(&k.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in the README's configuration table: {undocumented:?}"
    );
    let unknown: Vec<&String> = documented
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    assert!(
        unknown.is_empty(),
        "documented but not read by storeplane: {unknown:?}"
    );
    for (name, defaults) in &documented {
        for default in defaults.iter().flatten() {
            assert_eq!(
                actual[name].as_deref(),
                Some(default.as_str()),
                "the README says {name} defaults to {default}"
            );
        }
    }
}

/// Breakage 6 of the real-cluster review: the guide mapped k3d's load balancer to port 8080,
/// but a store knows only its host name (WordPress is installed with, and redirects to, a
/// port-less URL), so every store link led the browser back to port 80. The guide's cluster
/// must publish the ingress on the port the stores' URLs use, and never tell users to add one.
#[test]
fn the_real_cluster_guide_serves_stores_on_the_port_their_urls_name() {
    let spec = storeplane::plugins::samples::sample_spec("6f708192", serde_json::json!({}), false);
    let url = url::Url::parse(&format!("http://{}/", spec.hostname)).expect("store URL");
    let store_port = url.port_or_known_default().expect("a port");
    for file in ["docs/real-cluster.md", "README.md"] {
        let text = std::fs::read_to_string(workspace_root().join(file)).expect(file);
        for line in text.lines().filter(|l| l.contains("k3d cluster create")) {
            let mapping = line
                .split_whitespace()
                .skip_while(|w| *w != "-p")
                .nth(1)
                .unwrap_or_else(|| panic!("{file}: no -p in {line:?}"))
                .trim_matches('"');
            let host_port: u16 = mapping
                .split(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("{file}: cannot read the port of {mapping:?}"));
            assert_eq!(
                host_port, store_port,
                "{file}: `{line}` publishes the ingress on {host_port}, store URLs use {store_port}"
            );
        }
        assert!(
            !text.contains(".localhost:8080"),
            "{file} sends users to a port the stores do not know"
        );
    }
}
