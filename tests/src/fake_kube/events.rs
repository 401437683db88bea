//! Warning events as the controllers and the kubelet write them (`core/v1` Events: the object
//! they are about, reason, message, first and last time, count, source component).

use serde_json::{Value, json};

use super::objects::Objects;
use super::resources::of_kind;

/// Writes a Warning event about `involved` (an `involvedObject`: kind, name, namespace, and
/// what else the writer names) from `source` (`{"component": …}`).
pub(super) fn record_warning(
    objects: &mut Objects,
    namespace: &str,
    involved: Value,
    reason: &str,
    message: &str,
    source: Value,
) {
    let Some(events) = of_kind("v1", "Event") else {
        return;
    };
    let name = involved["name"].as_str().unwrap_or_default();
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let event = json!({
        "metadata": {"name": format!("{name}.{:x}", objects.resource_version() + 1)},
        "involvedObject": involved,
        "reason": reason, "message": message, "type": "Warning", "count": 1,
        "firstTimestamp": now, "lastTimestamp": now,
        "source": source,
    });
    let _ = objects.create(events, namespace, event);
}
