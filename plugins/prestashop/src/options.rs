//! Tenant-settable options of a PrestaShop store. The JSON Schema the host validates requests
//! against (and the dashboard builds its form from) is derived from these types with
//! `schemars`, so the two cannot disagree: defaults, limits, help texts and examples are
//! written once, here.

use serde::{Deserialize, Serialize};
use storeplane_sdk::PlanError;
use storeplane_sdk::schemars::JsonSchema;

/// The language of the shop and of its back office.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[schemars(crate = "storeplane_sdk::schemars", inline)]
pub enum Language {
    #[default]
    En,
    Fr,
    De,
    Es,
    It,
    Nl,
    Pl,
    Pt,
}

/// The shop's country: its taxes, states and address format (PrestaShop's localization pack).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(crate = "storeplane_sdk::schemars", inline)]
pub enum Country {
    #[default]
    Us,
    Gb,
    Fr,
    De,
    Es,
    It,
    Nl,
    Pl,
    Pt,
    In,
    Ca,
    Au,
}

/// The shop's default currency; one the country does not use is added to the shop.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(crate = "storeplane_sdk::schemars", inline)]
pub enum Currency {
    #[default]
    Usd,
    Eur,
    Gbp,
    Pln,
    Inr,
    Cad,
    Aud,
    Chf,
}

/// Store size; drives resource requests, limits and volume sizes.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
#[schemars(crate = "storeplane_sdk::schemars", inline)]
pub enum Size {
    #[default]
    Small,
    Medium,
    Large,
}

/// The options of a PrestaShop store.
// Doc comments here become the form's help texts; `plugin check` plans the defaults and
// every example.
#[derive(Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[schemars(
    crate = "storeplane_sdk::schemars",
    title = "PrestaShop store options",
    extend("examples" = [
        { "shopName": "Chai & Co's \"Best\" <Tea>; $(rm -rf /) --password=x", "language": "fr", "country": "FR", "currency": "EUR", "demoProducts": false, "size": "medium" },
        { "shopName": "Księgarnia Kraków", "language": "pl", "country": "PL", "currency": "PLN", "size": "large" }
    ])
)]
pub struct Options {
    /// The name shown in the shop's header and e-mails.
    #[schemars(title = "Shop name", length(min = 1, max = 64))]
    pub shop_name: String,
    #[schemars(title = "Language")]
    pub language: Language,
    #[schemars(title = "Country")]
    pub country: Country,
    #[schemars(title = "Currency")]
    pub currency: Currency,
    /// Install PrestaShop's demo catalog (products, categories, a customer).
    #[schemars(title = "Demo products")]
    pub demo_products: bool,
    /// CPU, memory and storage of the store; it can change later (a resize).
    #[schemars(title = "Size", extend("x-storeplane-changeable" = true))]
    pub size: Size,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            shop_name: "My Store".into(),
            language: Language::default(),
            country: Country::default(),
            currency: Currency::default(),
            demo_products: true,
            size: Size::default(),
        }
    }
}

/// The code an option's value is written as (`"fr"`, `"FR"`, `"EUR"`).
pub fn code<T: Serialize>(value: T) -> String {
    storeplane_sdk::serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Options {
    /// The JSON Schema (draft 2020-12) `describe` returns.
    pub fn schema() -> String {
        storeplane_sdk::options_schema::<Self>()
    }

    /// What the schema cannot say (the host validated the rest; these hold when a plan is
    /// asked for without the host, in unit tests or `plugin check`).
    pub fn check(&self) -> Result<(), PlanError> {
        if self.shop_name.trim().is_empty() {
            return Err(PlanError::InvalidOptions(
                "shopName must not be blank".into(),
            ));
        }
        if self.shop_name.chars().any(char::is_control) {
            return Err(PlanError::InvalidOptions(
                "shopName must not contain control characters".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storeplane_sdk::serde_json::{self, Value, json};

    fn schema() -> Value {
        serde_json::from_str(&Options::schema()).expect("the schema is JSON")
    }

    #[test]
    fn every_option_has_its_default_and_the_enums_their_codes() {
        let schema = schema();
        assert_eq!(schema["additionalProperties"], false);
        let properties = schema["properties"].as_object().expect("properties");
        let defaults: serde_json::Map<String, Value> = properties
            .iter()
            .map(|(name, p)| (name.clone(), p["default"].clone()))
            .collect();
        let spelled_out: Options =
            serde_json::from_value(Value::Object(defaults)).expect("the defaults parse");
        assert_eq!(spelled_out, Options::default());
        assert_eq!(properties["country"]["enum"][0], "US");
        assert_eq!(properties["currency"]["enum"][1], "EUR");
        assert_eq!(properties["language"]["enum"][1], "fr");
        assert_eq!(properties["size"]["x-storeplane-changeable"], true);
        assert_eq!(properties["shopName"]["maxLength"], 64);
    }

    #[test]
    fn every_example_parses_and_passes_the_checks() {
        for example in schema()["examples"].as_array().expect("examples") {
            let options: Options = serde_json::from_value(example.clone()).expect("parses");
            options.check().expect("passes");
        }
    }

    #[test]
    fn codes_are_the_values_written() {
        assert_eq!(code(Country::De), "DE");
        assert_eq!(code(Language::Pt), "pt");
        assert_eq!(code(json!("x")), "x");
    }
}
