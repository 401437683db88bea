//! Typed helpers around the generated WIT types: options parsing, setup-step building, shell
//! quoting and endpoint URLs. Everything here is plain Rust and unit-tested on the host target.

use serde::de::DeserializeOwned;

use crate::{Endpoint, EndpointKind, ExecGrant, PlanError, SecretRequest, SetupStep, StoreSpec};

/// Parses the tenant's options (already validated by the host against the schema) into `T`.
/// Missing fields take `T`'s serde defaults; a mismatch becomes [`PlanError::InvalidOptions`].
pub fn parse_options<T: DeserializeOwned>(spec: &StoreSpec) -> Result<T, PlanError> {
    let text = if spec.options.trim().is_empty() {
        "{}"
    } else {
        spec.options.as_str()
    };
    serde_json::from_str(text).map_err(|err| PlanError::InvalidOptions(err.to_string()))
}

/// The JSON Schema (draft 2020-12) of an engine's options type `T`, for `describe`'s
/// `options_schema`: derived with `schemars`, so the schema and the type cannot disagree.
/// With `#[serde(default)]` on `T` (and `T: Default + Serialize`) every property's `default` is
/// `T::default()`'s; `#[serde(deny_unknown_fields)]` gives `additionalProperties: false`; doc
/// comments become descriptions; `#[schemars(extend("x-storeplane-changeable" = true))]` marks
/// an option a store may change later, and `#[schemars(extend("examples" = [...]))]` on `T`
/// lists the sample stores `plugin check` plans.
pub fn options_schema<T: schemars::JsonSchema>() -> String {
    schemars::schema_for!(T).as_value().to_string()
}

/// A secret the host must generate for every store.
pub fn secret(key: &str, description: &str, length: u32) -> SecretRequest {
    SecretRequest {
        key: key.to_owned(),
        description: description.to_owned(),
        length,
    }
}

/// Allows setup steps to run `programs` in `container`.
pub fn exec_grant(container: &str, programs: &[&str]) -> ExecGrant {
    ExecGrant {
        container: container.to_owned(),
        programs: programs.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// `https://host` or `http://host`, without a trailing slash.
pub fn base_url(spec: &StoreSpec) -> String {
    let scheme = if spec.tls { "https" } else { "http" };
    format!("{scheme}://{}", spec.hostname)
}

/// An endpoint on the store's host name; `path` starts with `/`.
pub fn endpoint(spec: &StoreSpec, kind: EndpointKind, label: &str, path: &str) -> Endpoint {
    Endpoint {
        kind,
        label: label.to_owned(),
        url: format!("{}{path}", base_url(spec)),
    }
}

/// Quotes `value` as one POSIX shell word (single quotes, embedded quotes escaped), so tenant
/// text such as a store title can be placed in a script without being interpreted.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// A POSIX `sh` script that stops at the first failing command (`set -eu`): a setup step fails
/// when any of its commands fails, and nothing is swallowed.
#[derive(Debug, Clone, Default)]
pub struct ShellScript {
    lines: Vec<String>,
}

impl ShellScript {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one line of shell. Interpolate tenant values only through [`shell_quote`].
    pub fn line(mut self, line: impl Into<String>) -> Self {
        self.lines.push(line.into());
        self
    }

    /// The command vector: `["sh", "-c", "set -eu\n..."]`.
    pub fn into_command(self) -> Vec<String> {
        let mut body = String::from("set -eu");
        for line in self.lines {
            body.push('\n');
            body.push_str(&line);
        }
        vec!["sh".to_owned(), "-c".to_owned(), body]
    }
}

/// Builder for a [`SetupStep`] with safe defaults (120 s timeout, 3 attempts).
#[derive(Debug, Clone)]
pub struct Step {
    step: SetupStep,
}

impl Step {
    /// A step named `name` (unique within the plan) with a human description.
    pub fn new(name: &str, description: &str) -> Self {
        Self {
            step: SetupStep {
                name: name.to_owned(),
                description: description.to_owned(),
                pod_selector: Vec::new(),
                container: String::new(),
                command: Vec::new(),
                timeout_seconds: 120,
                attempts: 3,
            },
        }
    }

    /// Runs in `container` of the pod matching every `(label, value)` of `selector`.
    pub fn in_container(mut self, selector: &[(&str, &str)], container: &str) -> Self {
        self.step.pod_selector = selector
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.step.container = container.to_owned();
        self
    }

    /// Runs `script` with `sh -c`.
    pub fn script(mut self, script: ShellScript) -> Self {
        self.step.command = script.into_command();
        self
    }

    /// Runs an explicit argument vector.
    pub fn command(mut self, argv: &[&str]) -> Self {
        self.step.command = argv.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// Time limit of one attempt.
    pub fn timeout_seconds(mut self, seconds: u32) -> Self {
        self.step.timeout_seconds = seconds;
        self
    }

    /// Attempts before the store fails.
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.step.attempts = attempts;
        self
    }

    /// The finished step.
    pub fn build(self) -> SetupStep {
        self.step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How big the store is.
    #[derive(
        Debug, Clone, Copy, Default, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
    )]
    #[serde(rename_all = "lowercase")]
    #[schemars(inline)]
    enum Size {
        #[default]
        Small,
        Large,
    }

    #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    #[serde(default, deny_unknown_fields)]
    #[schemars(extend("examples" = [{ "title": "Corner", "size": "large" }]))]
    struct Options {
        /// The shop's title.
        #[schemars(title = "Title", length(min = 1, max = 80))]
        title: String,
        #[schemars(extend("x-storeplane-changeable" = true))]
        size: Size,
    }

    impl Default for Options {
        fn default() -> Self {
            Self {
                title: "My Store".into(),
                size: Size::Small,
            }
        }
    }

    #[test]
    fn the_options_schema_is_2020_12_with_the_types_defaults_and_the_authors_marks() {
        let schema: serde_json::Value =
            serde_json::from_str(&options_schema::<Options>()).expect("JSON");
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["additionalProperties"], false);
        let title = &schema["properties"]["title"];
        assert_eq!(title["default"], "My Store");
        assert_eq!(title["minLength"], 1);
        assert_eq!(title["description"], "The shop's title.");
        let size = &schema["properties"]["size"];
        assert_eq!(size["default"], "small");
        assert_eq!(
            size["enum"],
            serde_json::json!(["small", "large"]),
            "{schema}"
        );
        assert_eq!(size["x-storeplane-changeable"], true);
        assert_eq!(schema["examples"][0]["size"], "large");
    }

    fn spec(tls: bool, options: &str) -> StoreSpec {
        StoreSpec {
            store_id: "0a1b2c3d".into(),
            name: "shop".into(),
            namespace: "store-0a1b2c3d".into(),
            hostname: "shop.example.com".into(),
            tls,
            owner_email: "o@example.com".into(),
            options: options.into(),
            credentials_secret: "store-credentials".into(),
            ingress_class: None,
            storage_class: None,
        }
    }

    #[test]
    fn shell_quote_neutralises_quotes_and_expansions() {
        assert_eq!(shell_quote("it's $HOME"), r"'it'\''s $HOME'");
    }

    #[test]
    fn scripts_stop_at_the_first_error() {
        let argv = ShellScript::new().line("false").line("true").into_command();
        assert_eq!(argv[0], "sh");
        assert!(argv[2].starts_with("set -eu\n"));
    }

    #[test]
    fn endpoints_follow_tls() {
        assert_eq!(
            endpoint(&spec(true, ""), EndpointKind::Admin, "Admin", "/app").url,
            "https://shop.example.com/app"
        );
        assert_eq!(base_url(&spec(false, "")), "http://shop.example.com");
    }

    #[test]
    fn options_errors_are_invalid_options() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Opts {
            title: String,
        }
        assert!(matches!(
            parse_options::<Opts>(&spec(true, "{}")),
            Err(PlanError::InvalidOptions(_))
        ));
    }
}
