//! The module rules of `docs/architecture.md` hold on the host's sources
//! (`storeplane_tests::house_rules`; its unit tests show a misplaced import refused).

#[test]
fn every_module_of_the_host_imports_only_what_the_architecture_allows() {
    let root = storeplane_tests::workspace_root().join("host/src");
    let breaches = storeplane_tests::house_rules::breaches(&root);
    assert!(
        breaches.is_empty(),
        "module rules broken (docs/architecture.md):\n{}",
        breaches.join("\n")
    );
}
