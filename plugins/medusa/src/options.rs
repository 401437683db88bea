//! Tenant-settable options of a Medusa store and their JSON Schema.

use serde::Deserialize;
use storeplane_sdk::PlanError;

/// JSON Schema (draft 2020-12) of [`Options`]. Keep the two in step.
pub const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Medusa store options",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "storeTitle": { "type": "string", "title": "Store name", "minLength": 1, "maxLength": 80, "default": "My Store" },
    "currency": { "type": "string", "title": "Default currency", "enum": ["usd", "eur", "gbp", "inr", "cad", "aud", "jpy", "chf", "sek"], "default": "usd" },
    "country": { "type": "string", "title": "Country of the default region", "description": "ISO 3166-1 alpha-2, lowercase", "pattern": "^[a-z]{2}$", "default": "us" },
    "sampleData": { "type": "boolean", "title": "Seed a sample product", "default": true },
    "size": { "type": "string", "title": "Size", "description": "CPU and memory of the store; it can change later (a resize)", "enum": ["small", "medium", "large"], "default": "small", "x-storeplane-changeable": true }
  },
  "examples": [
    { "storeTitle": "O'Brien's \"Shop\" `id`", "currency": "eur", "country": "ie", "sampleData": false, "size": "medium" },
    { "storeTitle": "Large shop", "currency": "inr", "country": "in", "size": "large" }
  ]
}"#;

/// Store size; drives resource requests and limits.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    #[default]
    Small,
    Medium,
    Large,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Options {
    pub store_title: String,
    pub currency: String,
    pub country: String,
    pub sample_data: bool,
    pub size: Size,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            store_title: "My Store".into(),
            currency: "usd".into(),
            country: "us".into(),
            sample_data: true,
            size: Size::Small,
        }
    }
}

impl Options {
    /// Checks the schema cannot express (the host validated the rest).
    pub fn check(&self) -> Result<(), PlanError> {
        if self.store_title.trim().is_empty() || self.store_title.chars().any(char::is_control) {
            return Err(PlanError::InvalidOptions(
                "storeTitle must be non-blank text without control characters".into(),
            ));
        }
        Ok(())
    }
}
