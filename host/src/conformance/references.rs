//! What a store's pods refer to by name must exist in the store's namespace, or a real cluster
//! stops them where the fake API server used to wave them through: a ServiceAccount the chart
//! does not render (the ServiceAccount admission plugin refuses every pod: `error looking up
//! service account …: serviceaccount "x" not found`), a claim it does not render (the scheduler
//! never places the pod: `persistentvolumeclaim "x" not found`), a ConfigMap or ConfigMap key
//! it does not render (the kubelet cannot mount the volume, or start the container:
//! `couldn't find key k in ConfigMap …`), a volume mount naming no volume (the API server
//! refuses the object). References marked `optional: true` may dangle, as Kubernetes allows.
//! What the namespace holds without the chart counts: the `default` ServiceAccount and the
//! `kube-root-ca.crt` ConfigMap (key `ca.crt`) every namespace gets, and the claims a
//! StatefulSet makes from its templates (`<template>-<statefulset>-<ordinal>`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::listed;
use crate::k8s::Manifest;

/// ConfigMaps every namespace has, with their keys.
const NAMESPACE_CONFIG_MAPS: &[(&str, &[&str])] = &[("kube-root-ca.crt", &["ca.crt"])];

/// What the store's namespace will hold, by name.
struct Namespace {
    service_accounts: BTreeSet<String>,
    claims: BTreeSet<String>,
    /// Each ConfigMap's keys (`data` and `binaryData`).
    config_maps: BTreeMap<String, BTreeSet<String>>,
}

impl Namespace {
    fn of(manifests: &[Manifest]) -> Self {
        let names = |kind: &str| -> BTreeSet<String> {
            manifests
                .iter()
                .filter(|m| m.kind == kind)
                .map(|m| m.name.clone())
                .collect()
        };
        let mut service_accounts = names("ServiceAccount");
        service_accounts.insert("default".to_owned());
        let mut config_maps: BTreeMap<String, BTreeSet<String>> = NAMESPACE_CONFIG_MAPS
            .iter()
            .map(|(name, keys)| {
                let keys = keys.iter().map(|k| (*k).to_owned()).collect();
                ((*name).to_owned(), keys)
            })
            .collect();
        for m in manifests.iter().filter(|m| m.kind == "ConfigMap") {
            let keys = ["data", "binaryData"]
                .iter()
                .filter_map(|field| m.object.get(*field).and_then(Value::as_object))
                .flat_map(|map| map.keys().cloned())
                .collect();
            config_maps.insert(m.name.clone(), keys);
        }
        // A StatefulSet's claims, `<template>-<statefulset>-<ordinal>`, exist once it runs.
        let mut claims = names("PersistentVolumeClaim");
        for set in manifests.iter().filter(|m| m.kind == "StatefulSet") {
            let replicas = set
                .object
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let templates = set
                .object
                .pointer("/spec/volumeClaimTemplates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.pointer("/metadata/name").and_then(Value::as_str));
            for template in templates {
                claims.extend((0..replicas).map(|i| format!("{template}-{}-{i}", set.name)));
            }
        }
        Self {
            service_accounts,
            claims,
            config_maps,
        }
    }

    /// Why ConfigMap `name` (and `keys` of it) cannot be read, if it cannot.
    fn config_map_problem(&self, name: &str, keys: &[&str]) -> Option<String> {
        let Some(held) = self.config_maps.get(name) else {
            return Some(format!(
                "ConfigMap {name:?} is not one the chart renders ({})",
                listed(self.config_maps.keys().map(String::as_str))
            ));
        };
        let missing: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !held.contains(*k))
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "ConfigMap {name:?} has no key {} (its keys: {})",
                missing.join(", "),
                listed(held.iter().map(String::as_str))
            )
        })
    }
}

fn optional(reference: &Value) -> bool {
    reference["optional"] == true
}

/// Every reference of every workload's pods that the store's namespace will not satisfy.
pub(super) fn check_references(manifests: &[Manifest]) -> Vec<String> {
    let namespace = Namespace::of(manifests);
    let mut problems = Vec::new();
    for m in manifests {
        let Some(pod) = m.pod_spec() else {
            continue;
        };
        let id = m.id();
        let claim_templates: BTreeSet<&str> = m
            .object
            .pointer("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.pointer("/metadata/name").and_then(Value::as_str))
            .collect();
        check_service_account(&id, pod, &namespace, &mut problems);
        let volumes = check_volumes(&id, pod, &namespace, &mut problems);
        for list in ["initContainers", "containers"] {
            for container in pod[list].as_array().into_iter().flatten() {
                let at = format!(
                    "{id}: {list} {:?}",
                    container["name"].as_str().unwrap_or_default()
                );
                check_mounts(&at, container, &volumes, &claim_templates, &mut problems);
                check_env(&at, container, &namespace, &mut problems);
            }
        }
    }
    problems
}

fn check_service_account(id: &str, pod: &Value, namespace: &Namespace, problems: &mut Vec<String>) {
    for field in ["serviceAccountName", "serviceAccount"] {
        if let Some(name) = pod[field].as_str()
            && !namespace.service_accounts.contains(name)
        {
            problems.push(format!(
                "{id}: spec.template.spec.{field} {name:?} is not a ServiceAccount the chart renders ({}): admission would refuse every pod (serviceaccount {name:?} not found)",
                listed(namespace.service_accounts.iter().map(String::as_str))
            ));
        }
    }
}

/// Checks the pod's volumes' references; returns the volumes' names.
fn check_volumes<'a>(
    id: &str,
    pod: &'a Value,
    namespace: &Namespace,
    problems: &mut Vec<String>,
) -> BTreeSet<&'a str> {
    let mut names = BTreeSet::new();
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        let name = volume["name"].as_str().unwrap_or_default();
        names.insert(name);
        let at = format!("{id}: volume {name:?}");
        if let Some(claim) = volume.pointer("/persistentVolumeClaim/claimName")
            && let Some(claim) = claim.as_str()
            && !namespace.claims.contains(claim)
        {
            problems.push(format!(
                "{at}: claim {claim:?} is not a PersistentVolumeClaim the chart renders ({}): the pod would never be scheduled (persistentvolumeclaim {claim:?} not found)",
                listed(namespace.claims.iter().map(String::as_str))
            ));
        }
        let config_maps = volume.get("configMap").into_iter().chain(
            volume
                .pointer("/projected/sources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|source| source.get("configMap")),
        );
        for source in config_maps.filter(|s| !optional(s)) {
            let keys: Vec<&str> = source["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item["key"].as_str())
                .collect();
            let name = source["name"].as_str().unwrap_or_default();
            if let Some(problem) = namespace.config_map_problem(name, &keys) {
                problems.push(format!(
                    "{at}: {problem}: the kubelet could not mount it and the pod would never start"
                ));
            }
        }
    }
    names
}

fn check_mounts(
    at: &str,
    container: &Value,
    volumes: &BTreeSet<&str>,
    claim_templates: &BTreeSet<&str>,
    problems: &mut Vec<String>,
) {
    for (index, mount) in container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = mount["name"].as_str().unwrap_or_default();
        if !volumes.contains(name) && !claim_templates.contains(name) {
            let known: Vec<String> = volumes
                .iter()
                .chain(claim_templates.iter())
                .map(|n| (*n).to_owned())
                .collect();
            problems.push(format!(
                "{at}: volumeMounts[{index}] names {name:?}, which is no volume of the pod ({})",
                listed(known.iter().map(String::as_str))
            ));
        }
    }
}

fn check_env(at: &str, container: &Value, namespace: &Namespace, problems: &mut Vec<String>) {
    for variable in container["env"].as_array().into_iter().flatten() {
        let Some(reference) = variable.pointer("/valueFrom/configMapKeyRef") else {
            continue;
        };
        if optional(reference) {
            continue;
        }
        let name = reference["name"].as_str().unwrap_or_default();
        let key = reference["key"].as_str().unwrap_or_default();
        if let Some(problem) = namespace.config_map_problem(name, &[key]) {
            problems.push(format!(
                "{at}: env {}: {problem}: the container would never start (CreateContainerConfigError)",
                variable["name"].as_str().unwrap_or_default()
            ));
        }
    }
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let Some(reference) = source.get("configMapRef").filter(|r| !optional(r)) else {
            continue;
        };
        let name = reference["name"].as_str().unwrap_or_default();
        if let Some(problem) = namespace.config_map_problem(name, &[]) {
            problems.push(format!(
                "{at}: envFrom: {problem}: the container would never start (CreateContainerConfigError)"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifests(yaml: &str) -> Vec<Manifest> {
        crate::k8s::manifest::parse_documents(yaml).unwrap_or_else(|err| panic!("{err}"))
    }

    const CHART: &str = "
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {site.conf: x}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: pages}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web}
";

    fn deployment(pod: &str) -> String {
        format!(
            "{CHART}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {pod}\n"
        )
    }

    #[test]
    fn references_to_what_the_chart_renders_pass() {
        let pod = "{serviceAccountName: web, volumes: [{name: pages, persistentVolumeClaim: {claimName: pages}}, {name: conf, configMap: {name: settings, items: [{key: site.conf, path: site.conf}]}}, {name: ca, projected: {sources: [{configMap: {name: kube-root-ca.crt}}]}}], containers: [{name: web, image: i, volumeMounts: [{name: pages, mountPath: /p}, {name: conf, mountPath: /c}, {name: ca, mountPath: /ca}], env: [{name: X, valueFrom: {configMapKeyRef: {name: settings, key: site.conf}}}, {name: Y, valueFrom: {configMapKeyRef: {name: other, key: k, optional: true}}}], envFrom: [{configMapRef: {name: settings}}]}]}";
        assert_eq!(
            check_references(&manifests(&deployment(pod))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn dangling_references_are_named_with_what_exists() {
        let pod = "{serviceAccountName: builder, volumes: [{name: pages, persistentVolumeClaim: {claimName: page}}, {name: conf, configMap: {name: setting}}, {name: keyed, configMap: {name: settings, items: [{key: nginx.conf, path: n}]}}], containers: [{name: web, image: i, volumeMounts: [{name: page, mountPath: /p}], env: [{name: X, valueFrom: {configMapKeyRef: {name: settings, key: port}}}], envFrom: [{configMapRef: {name: env}}]}]}";
        let problems = check_references(&manifests(&deployment(pod)));
        let expected = [
            r#"Deployment/web: spec.template.spec.serviceAccountName "builder" is not a ServiceAccount the chart renders (default, web): admission would refuse every pod (serviceaccount "builder" not found)"#,
            r#"Deployment/web: volume "pages": claim "page" is not a PersistentVolumeClaim the chart renders (pages): the pod would never be scheduled (persistentvolumeclaim "page" not found)"#,
            r#"Deployment/web: volume "conf": ConfigMap "setting" is not one the chart renders (kube-root-ca.crt, settings): the kubelet could not mount it and the pod would never start"#,
            r#"Deployment/web: volume "keyed": ConfigMap "settings" has no key nginx.conf (its keys: site.conf): the kubelet could not mount it and the pod would never start"#,
            r#"Deployment/web: containers "web": volumeMounts[0] names "page", which is no volume of the pod (conf, keyed, pages)"#,
            r#"Deployment/web: containers "web": env X: ConfigMap "settings" has no key port (its keys: site.conf): the container would never start (CreateContainerConfigError)"#,
            r#"Deployment/web: containers "web": envFrom: ConfigMap "env" is not one the chart renders (kube-root-ca.crt, settings): the container would never start (CreateContainerConfigError)"#,
        ];
        assert_eq!(problems, expected);
    }

    #[test]
    fn a_chart_of_thousands_of_objects_gets_messages_of_bounded_size() {
        // A hostile chart: a thousand ConfigMaps and a pod with 500 volumes naming none of
        // them. Listing every ConfigMap in each problem would make 500 messages of 16 KiB.
        let mut yaml = String::new();
        for i in 0..1_000 {
            yaml.push_str(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: map-{i:04}}}\n---\n"
            ));
        }
        let volumes: Vec<String> = (0..500)
            .map(|i| format!("{{name: v{i}, configMap: {{name: gone-{i}}}}}"))
            .collect();
        yaml.push_str(&deployment(&format!(
            "{{volumes: [{}], containers: [{{name: web, image: i}}]}}",
            volumes.join(", ")
        )));
        let problems = check_references(&manifests(&yaml));
        assert_eq!(problems.len(), 500);
        assert!(
            problems[0].contains(
                "is not one the chart renders (kube-root-ca.crt, map-0000, map-0001, map-0002, map-0003, map-0004, map-0005, map-0006, map-0007, map-0008 and 992 more)"
            ),
            "{}",
            problems[0]
        );
        assert!(problems.iter().all(|p| p.len() < 400), "{}", problems[0]);
    }

    #[test]
    fn a_statefulset_mounts_its_claim_templates_and_others_may_name_its_claims() {
        let yaml = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  selector: {matchLabels: {app: db}}\n  volumeClaimTemplates: [{metadata: {name: data}, spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}]\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: db, image: i, volumeMounts: [{name: data, mountPath: /d}]}]}\n";
        assert_eq!(check_references(&manifests(yaml)), Vec::<String>::new());
        let backup = |claim: &str| {
            format!(
                "{yaml}---\napiVersion: batch/v1\nkind: Job\nmetadata: {{name: backup}}\nspec:\n  template:\n    spec: {{restartPolicy: Never, volumes: [{{name: d, persistentVolumeClaim: {{claimName: {claim}}}}}], containers: [{{name: b, image: i}}]}}\n"
            )
        };
        assert_eq!(
            check_references(&manifests(&backup("data-db-0"))),
            Vec::<String>::new()
        );
        assert_eq!(
            check_references(&manifests(&backup("data-db-1"))),
            [
                r#"Job/backup: volume "d": claim "data-db-1" is not a PersistentVolumeClaim the chart renders (data-db-0): the pod would never be scheduled (persistentvolumeclaim "data-db-1" not found)"#
            ]
        );
    }
}
