//! What a pod refers to by name in its namespace, looked up as Kubernetes looks it up, with
//! its wording: the ServiceAccount (admission, k/k `plugin/pkg/admission/serviceaccount`:
//! `error looking up service account <ns>/<sa>: serviceaccount "<sa>" not found`), claims
//! (the scheduler's volume binding: `persistentvolumeclaim "<c>" not found`, or `… is being
//! deleted`), ConfigMap volumes (the kubelet's `FailedMount`: `MountVolume.SetUp failed for
//! volume "<v>" : configmap "<c>" not found`, `configmap references non-existent config key:
//! <k>`) and ConfigMap env (`CreateContainerConfigError`: `configmap "<c>" not found`,
//! `couldn't find key <k> in ConfigMap <ns>/<c>`). References with `optional: true` may
//! dangle. The `default` ServiceAccount and `kube-root-ca.crt` ConfigMap count as present:
//! their controllers make them in every new namespace within moments.

use serde_json::Value;

use super::objects::Objects;
use super::resources::of_kind;

fn get<'a>(objects: &'a Objects, kind: &str, namespace: &str, name: &str) -> Option<&'a Value> {
    objects.get(of_kind("v1", kind)?, namespace, name)
}

fn optional(reference: &Value) -> bool {
    reference["optional"] == true
}

/// Why admission refuses `pod` for its ServiceAccount, if it does.
pub fn service_account_refusal(objects: &Objects, namespace: &str, pod: &Value) -> Option<String> {
    let name = pod
        .pointer("/spec/serviceAccountName")
        .or_else(|| pod.pointer("/spec/serviceAccount"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    (name != "default" && get(objects, "ServiceAccount", namespace, name).is_none()).then(|| {
        format!(
            "error looking up service account {namespace}/{name}: serviceaccount \"{name}\" not found"
        )
    })
}

fn volumes(pod: &Value) -> impl Iterator<Item = &Value> {
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Why the scheduler cannot place `pod` for one of its claims, if it cannot.
pub fn unschedulable_claim(objects: &Objects, namespace: &str, pod: &Value) -> Option<String> {
    volumes(pod).find_map(|volume| {
        let claim = volume
            .pointer("/persistentVolumeClaim/claimName")?
            .as_str()?;
        match get(objects, "PersistentVolumeClaim", namespace, claim) {
            None => Some(format!("persistentvolumeclaim \"{claim}\" not found")),
            Some(c) if c.pointer("/metadata/deletionTimestamp").is_some() => Some(format!(
                "persistentvolumeclaim \"{claim}\" is being deleted"
            )),
            Some(_) => None,
        }
    })
}

/// What is missing of a ConfigMap a pod reads.
enum Gap {
    /// The ConfigMap itself.
    ConfigMap,
    /// One of the keys it reads.
    Key(String),
}

/// What of ConfigMap `name` (with `keys`) cannot be read, if anything.
fn config_map_gap(objects: &Objects, namespace: &str, name: &str, keys: &[&str]) -> Option<Gap> {
    let missing_key = |has: &dyn Fn(&str) -> bool| {
        keys.iter()
            .find(|k| !has(k))
            .map(|k| Gap::Key((*k).to_owned()))
    };
    if name == "kube-root-ca.crt" {
        return missing_key(&|k| k == "ca.crt");
    }
    let Some(map) = get(objects, "ConfigMap", namespace, name) else {
        return Some(Gap::ConfigMap);
    };
    missing_key(&|k| {
        ["data", "binaryData"]
            .iter()
            .any(|field| map.get(*field).and_then(|d| d.get(k)).is_some())
    })
}

/// The first ConfigMap volume of `pod` the kubelet cannot set up: its name and the
/// `FailedMount` message.
pub fn mount_failure(objects: &Objects, namespace: &str, pod: &Value) -> Option<String> {
    volumes(pod).find_map(|volume| {
        let volume_name = volume["name"].as_str().unwrap_or_default();
        let sources = volume.get("configMap").into_iter().chain(
            volume
                .pointer("/projected/sources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.get("configMap")),
        );
        sources.filter(|s| !optional(s)).find_map(|source| {
            let name = source["name"].as_str().unwrap_or_default();
            let keys: Vec<&str> = source["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["key"].as_str())
                .collect();
            let cause = match config_map_gap(objects, namespace, name, &keys)? {
                Gap::Key(key) => format!("configmap references non-existent config key: {key}"),
                Gap::ConfigMap => format!("configmap \"{name}\" not found"),
            };
            Some(format!(
                "MountVolume.SetUp failed for volume \"{volume_name}\" : {cause}"
            ))
        })
    })
}

/// Why the kubelet cannot make `container`'s environment from ConfigMaps, if it cannot.
pub fn env_failure(objects: &Objects, namespace: &str, container: &Value) -> Option<String> {
    let from_keys = container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.pointer("/valueFrom/configMapKeyRef"))
        .filter(|r| !optional(r))
        .find_map(|reference| {
            let name = reference["name"].as_str().unwrap_or_default();
            let key = reference["key"].as_str().unwrap_or_default();
            Some(match config_map_gap(objects, namespace, name, &[key])? {
                Gap::Key(key) => format!("couldn't find key {key} in ConfigMap {namespace}/{name}"),
                Gap::ConfigMap => format!("configmap \"{name}\" not found"),
            })
        });
    from_keys.or_else(|| {
        container
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("configMapRef"))
            .filter(|r| !optional(r))
            .find_map(|reference| {
                let name = reference["name"].as_str().unwrap_or_default();
                config_map_gap(objects, namespace, name, &[])
                    .map(|_| format!("configmap \"{name}\" not found"))
            })
    })
}
