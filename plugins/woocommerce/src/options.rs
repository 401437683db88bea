//! Tenant-settable options of a WooCommerce store and their JSON Schema.

use serde::Deserialize;
use storeplane_sdk::PlanError;

/// JSON Schema (draft 2020-12) of [`Options`]; the host validates requests against it and the
/// dashboard builds its form from it. Keep the two in step.
pub const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "WooCommerce store options",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "storeTitle": { "type": "string", "title": "Store title", "minLength": 1, "maxLength": 80, "default": "My Store" },
    "currency": { "type": "string", "title": "Currency", "enum": ["USD", "EUR", "GBP", "INR", "CAD", "AUD", "JPY", "CHF", "SEK"], "default": "USD" },
    "country": { "type": "string", "title": "Country (and state)", "description": "WooCommerce base location, e.g. US:CA, DE or IN:KA", "pattern": "^[A-Z]{2}(:[A-Z0-9]{1,3})?$", "default": "US:CA" },
    "address": { "type": "string", "title": "Street address", "maxLength": 120, "default": "123 Main St" },
    "city": { "type": "string", "title": "City", "maxLength": 60, "default": "Anytown" },
    "postcode": { "type": "string", "title": "Postcode", "maxLength": 16, "default": "94000" },
    "sampleData": { "type": "boolean", "title": "Add a sample product", "default": true },
    "size": { "type": "string", "title": "Size", "description": "CPU and memory of the store; it can change later (a resize)", "enum": ["small", "medium", "large"], "default": "small", "x-storeplane-changeable": true }
  },
  "examples": [
    { "storeTitle": "Chai & Co's \"Best\" Tea; $(rm -rf /)", "currency": "INR", "country": "IN:KA", "sampleData": false, "size": "medium" },
    { "storeTitle": "Grand Bazaar", "currency": "EUR", "country": "DE", "city": "Berlin", "postcode": "10115", "size": "large" }
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
    pub address: String,
    pub city: String,
    pub postcode: String,
    pub sample_data: bool,
    pub size: Size,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            store_title: "My Store".into(),
            currency: "USD".into(),
            country: "US:CA".into(),
            address: "123 Main St".into(),
            city: "Anytown".into(),
            postcode: "94000".into(),
            sample_data: true,
            size: Size::Small,
        }
    }
}

impl Options {
    /// Checks the schema cannot express (the host validated the rest).
    pub fn check(&self) -> Result<(), PlanError> {
        if self.store_title.trim().is_empty() {
            return Err(PlanError::InvalidOptions(
                "storeTitle must not be blank".into(),
            ));
        }
        if self.store_title.chars().any(char::is_control) {
            return Err(PlanError::InvalidOptions(
                "storeTitle must not contain control characters".into(),
            ));
        }
        Ok(())
    }
}
