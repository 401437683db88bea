//! Host-side rules on what a plugin returns, in one place. They hold for every plugin, built-in
//! or uploaded, on every call: an engine-info or plan that breaks one never reaches the
//! lifecycle. Pure functions; each returns the list of problems found (empty = valid).

use std::collections::HashSet;

use super::model::{ChartSource, DeploymentPlan, EngineInfo, SetupStep, StoreSpec};

/// Bounds on setup steps; generous for real installs, tight enough to keep a store's
/// provisioning time bounded.
pub const MAX_STEP_TIMEOUT_SECONDS: u32 = 3600;
pub const MAX_STEP_ATTEMPTS: u32 = 10;
pub const MAX_SETUP_STEPS: usize = 50;
pub const SECRET_LENGTH: std::ops::RangeInclusive<u32> = 16..=128;

/// `true` for an RFC 1123 DNS label (lowercase alphanumerics and `-`, 1..=63 chars).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `true` for a Kubernetes label key (`[prefix/]name`).
fn is_label_key(s: &str) -> bool {
    let (prefix, name) = s.rsplit_once('/').map_or((None, s), |(p, n)| (Some(p), n));
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    let prefix_ok =
        prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label));
    name_ok && prefix_ok
}

/// Problems of the options' declarations: each needs a default (a store created without it
/// would get none, and the dashboard's form shows the default), and the changeable mark
/// (`x-storeplane-changeable`) is a boolean.
fn option_problems(schema: &serde_json::Value) -> Vec<String> {
    let mut problems = Vec::new();
    let properties = schema
        .get("properties")
        .and_then(serde_json::Value::as_object);
    for (name, property) in properties.into_iter().flatten() {
        if property.get("default").is_none() {
            problems.push(format!(
                "options-schema property {name:?} has no default: a store created without it gets none (add \"default\")"
            ));
        }
        if let Some(mark) = property.get("x-storeplane-changeable")
            && !mark.is_boolean()
        {
            problems.push(format!(
                "options-schema property {name:?}: x-storeplane-changeable must be true or false, not {mark}"
            ));
        }
    }
    problems
}

/// Problems with what `describe` returned.
pub fn check_info(info: &EngineInfo) -> Vec<String> {
    let mut problems = Vec::new();
    if !is_dns_label(&info.id) {
        problems.push(format!(
            "engine id {:?} must be a DNS label (lowercase letters, digits, '-')",
            info.id
        ));
    }
    if info.display_name.trim().is_empty() || info.display_name.len() > 80 {
        problems.push("display-name must be 1..=80 characters".into());
    }
    if info.description.len() > 2000 {
        problems.push("description must be at most 2000 characters".into());
    }
    match options_validator(&info.options_schema) {
        Err(err) => problems.push(format!("options-schema is not a valid JSON Schema: {err}")),
        Ok(validator) => {
            if info.options_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
                problems
                    .push("options-schema must describe an object (\"type\": \"object\")".into());
            }
            if !validator.is_valid(&serde_json::json!({})) {
                problems
                    .push("options-schema must accept {} (every option needs a default)".into());
            }
            problems.extend(option_problems(&info.options_schema));
            for (i, example) in schema_examples(&info.options_schema).iter().enumerate() {
                for err in validator.iter_errors(example) {
                    problems.push(format!(
                        "options-schema example #{i} does not validate: {err}"
                    ));
                }
            }
        }
    }
    let mut keys = HashSet::new();
    for secret in &info.secrets {
        if !is_dns_label(&secret.key) {
            problems.push(format!("secret key {:?} must be a DNS label", secret.key));
        }
        if !keys.insert(secret.key.as_str()) {
            problems.push(format!("secret key {:?} is requested twice", secret.key));
        }
        if !SECRET_LENGTH.contains(&secret.length) {
            problems.push(format!(
                "secret {:?} length {} is outside {SECRET_LENGTH:?}",
                secret.key, secret.length
            ));
        }
    }
    match &info.chart {
        ChartSource::Bundled(name) if !is_dns_label(name) => {
            problems.push(format!("bundled chart name {name:?} must be a DNS label"));
        }
        ChartSource::Embedded(bytes) if !bytes.starts_with(&[0x1f, 0x8b]) => {
            problems.push(
                "embedded chart must be a gzip-compressed chart archive (helm package)".into(),
            );
        }
        _ => {}
    }
    for grant in &info.exec {
        if !is_dns_label(&grant.container) {
            problems.push(format!(
                "exec grant container {:?} must be a DNS label",
                grant.container
            ));
        }
        if grant.programs.is_empty()
            || grant
                .programs
                .iter()
                .any(|p| p.is_empty() || p.contains(char::is_whitespace))
        {
            problems.push(format!(
                "exec grant for {:?} must list programs (single words)",
                grant.container
            ));
        }
    }
    problems
}

/// The `examples` array of an options schema (empty when absent).
pub fn schema_examples(schema: &serde_json::Value) -> Vec<serde_json::Value> {
    schema
        .get("examples")
        .and_then(|e| e.as_array())
        .cloned()
        .unwrap_or_default()
}

/// Problems of `steps` (setup steps, or the upgrade steps of 1.1's `lifecycle`): unique
/// names, exec grants that cover them, selectors, time limits and attempts.
pub fn check_steps(info: &EngineInfo, kind: &str, steps: &[SetupStep]) -> Vec<String> {
    let mut problems = Vec::new();
    if steps.len() > MAX_SETUP_STEPS {
        problems.push(format!(
            "{} {kind} steps exceeds {MAX_SETUP_STEPS}",
            steps.len()
        ));
    }
    let mut names = HashSet::new();
    for step in steps {
        let at = format!("{kind} step {:?}", step.name);
        if step.name.is_empty() || !names.insert(step.name.as_str()) {
            problems.push(format!("{at}: names must be non-empty and unique"));
        }
        match info.exec.iter().find(|g| g.container == step.container) {
            None => problems.push(format!(
                "{at}: container {:?} is not covered by an exec grant",
                step.container
            )),
            Some(grant) => match step.command.first() {
                None => problems.push(format!("{at}: empty command")),
                Some(program) if !grant.programs.contains(program) => problems.push(format!(
                    "{at}: program {program:?} is not granted in container {:?} (granted: {})",
                    step.container,
                    grant.programs.join(", ")
                )),
                Some(_) => {}
            },
        }
        if step.pod_selector.is_empty() {
            problems.push(format!("{at}: pod selector must not be empty"));
        }
        for (key, _) in &step.pod_selector {
            if !is_label_key(key) {
                problems.push(format!("{at}: {key:?} is not a label key"));
            }
        }
        if !(1..=MAX_STEP_TIMEOUT_SECONDS).contains(&step.timeout_seconds) {
            problems.push(format!(
                "{at}: timeout must be 1..={MAX_STEP_TIMEOUT_SECONDS} seconds"
            ));
        }
        if !(1..=MAX_STEP_ATTEMPTS).contains(&step.attempts) {
            problems.push(format!("{at}: attempts must be 1..={MAX_STEP_ATTEMPTS}"));
        }
    }
    problems
}

/// Problems with a plan for `spec` from the engine described by `info`.
pub fn check_plan(info: &EngineInfo, spec: &StoreSpec, plan: &DeploymentPlan) -> Vec<String> {
    let mut problems = check_steps(info, "setup", &plan.setup);
    for endpoint in &plan.endpoints {
        match url::Url::parse(&endpoint.url) {
            Err(err) => problems.push(format!("endpoint {:?}: {err}", endpoint.url)),
            Ok(url) => {
                if !matches!(url.scheme(), "http" | "https")
                    || url.host_str() != Some(spec.hostname.as_str())
                {
                    problems.push(format!(
                        "endpoint {:?} must be an http(s) URL on the store host {}",
                        endpoint.url, spec.hostname
                    ));
                }
            }
        }
    }
    if plan.ready_when.iter().any(|w| !is_dns_label(&w.name)) {
        problems.push("ready-when workload names must be DNS labels".into());
    }
    if let Some(login) = &plan.admin_login
        && !info.secrets.iter().any(|s| s.key == login.password_key)
    {
        problems.push(format!(
            "admin-login password key {:?} is not a requested secret",
            login.password_key
        ));
    }
    problems
}

/// A validator of options against `schema` (checked against its meta-schema first).
pub fn options_validator(
    schema: &serde_json::Value,
) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options().build(schema)
}

/// A validation error with the JSON Pointer of the value it is about, when not the root.
pub fn located(err: &jsonschema::ValidationError<'_>) -> String {
    let path = err.instance_path().to_string();
    if path.is_empty() {
        err.to_string()
    } else {
        format!("{path}: {err}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("woocommerce"));
        assert!(is_dns_label("a-1"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("A"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label(&"a".repeat(64)));
    }

    #[test]
    fn every_option_needs_a_default_and_a_boolean_changeable_mark() {
        let schema = serde_json::json!({"type": "object", "properties": {
            "title": {"type": "string", "default": "Shop"},
            "size": {"enum": ["s", "m"], "x-storeplane-changeable": "yes", "default": "s"},
            "region": {"type": "string"},
        }});
        let problems = option_problems(&schema);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("\"region\" has no default"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("x-storeplane-changeable must be true or false"))
        );
    }

    #[test]
    fn label_keys() {
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(is_label_key("name"));
        assert!(!is_label_key("/name"));
        assert!(!is_label_key("bad key"));
    }
}
