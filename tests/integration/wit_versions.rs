//! The plugin contract's versions (`wit/v1.0`, `wit/v1.1`): 1.1 only adds to 1.0, and the
//! host loads, plans and asks for upgrade steps with components built against either, with or
//! without 1.1's optional `lifecycle` interface.

use serde_json::json;
use storeplane::plugins::PluginError;
use storeplane_tests::{guests, runtime, spec, workspace_root};

/// A WIT file without comments, blank lines or its `package` line: what it declares.
fn declarations(version: &str) -> Vec<String> {
    let path = workspace_root().join(format!("wit/{version}/engine.wit"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path:?}: {err}"));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with("package "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn wit_1_1_declares_everything_1_0_does_unchanged_and_only_adds() {
    let (old, new) = (declarations("v1.0"), declarations("v1.1"));
    assert!(
        new.len() > old.len() && new[..old.len()] == old[..],
        "1.1 must begin with 1.0's declarations, unchanged; first difference at line {}",
        old.iter().zip(&new).take_while(|(a, b)| a == b).count()
    );
    let added = new[old.len()..].join("\n");
    assert!(added.contains("interface lifecycle {"), "{added}");
    assert!(
        added.contains("world engine-plugin-with-lifecycle {"),
        "{added}"
    );
    for version in ["1.0.0", "1.1.0"] {
        let minor = &version[..3];
        let text =
            std::fs::read_to_string(workspace_root().join(format!("wit/v{minor}/engine.wit")))
                .expect("wit");
        assert!(text.contains(&format!("package storeplane:engine@{version};")));
    }
}

#[test]
fn components_of_1_0_and_1_1_load_plan_and_give_their_upgrade_steps() {
    let rt = runtime();
    let store = spec("1a2b3c4d", json!({}));
    let from = semver::Version::new(1, 0, 0);
    for (name, wasm, wit, lifecycle) in [
        ("1.0", guests::V1_0_PLAIN, "1.0.0", false),
        ("1.1 without lifecycle", guests::V1_1_PLAIN, "1.1.0", false),
        ("1.1 with lifecycle", guests::V1_1_LIFECYCLE, "1.1.0", true),
    ] {
        let component = rt
            .load(wasm)
            .unwrap_or_else(|err| panic!("{name} loads: {err}"));
        assert_eq!(component.wit_version().to_string(), wit, "{name}");
        assert_eq!(component.has_lifecycle(), lifecycle, "{name}");
        component
            .describe(&rt)
            .unwrap_or_else(|err| panic!("{name} describes: {err}"));
        let plan = component
            .plan(&rt, &store)
            .unwrap_or_else(|err| panic!("{name} plans: {err}"));
        assert!(plan.values.contains_key("storeId"), "{name}");
        let steps = component
            .upgrade_steps(&rt, &from, &store)
            .unwrap_or_else(|err| panic!("{name} answers upgrade-steps: {err}"));
        if lifecycle {
            assert_eq!(steps.len(), 1, "{name}");
            assert_eq!(steps[0].name, "migrate-database");
            assert_eq!(steps[0].command, ["sh", "-c", "echo migrating from 1.0.0"]);
            assert_eq!(steps[0].attempts, 2);
        } else {
            assert!(steps.is_empty(), "{name} has nothing to migrate");
        }
    }
    // A plugin may refuse an upgrade path; the refusal comes back as the plugin's own words.
    let component = rt.load(guests::V1_1_LIFECYCLE).expect("load");
    let refused = component
        .upgrade_steps(&rt, &semver::Version::new(0, 9, 0), &store)
        .expect_err("0.9.0 is refused");
    assert!(
        matches!(&refused, PluginError::Plan(_))
            && refused.to_string().contains("upgrade to 1.0.0 first"),
        "{refused}"
    );
}
