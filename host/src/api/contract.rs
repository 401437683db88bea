//! The constraints handlers enforce, stated in the OpenAPI document where the handlers'
//! annotations cannot say them once: the form of every path parameter (by name), and the body
//! of `POST /stores` as one alternative per active engine with that engine's own options
//! schema (added when the document is served, since engines are loaded at run time).

use serde_json::{Value, json};
use utoipa::Modify;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, RefOr, Schema};

use crate::plugins::Registry;

/// A store id (`StoreId::parse`).
pub(super) const STORE_ID: &str = "^[0-9a-f]{12}$";
/// A user id (`UserId::parse`).
pub(super) const USER_ID: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
/// An engine id: a DNS label (`validate::is_dns_label`), at most 63 characters.
pub(super) const ENGINE_ID: &str = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";
/// A semantic version as `semver::Version::parse` accepts it (numbers of at most 9 digits:
/// larger ones overflow nowhere in practice and would need a longer expression).
pub(super) const SEMVER: &str = "^(0|[1-9][0-9]{0,8})\\.(0|[1-9][0-9]{0,8})\\.(0|[1-9][0-9]{0,8})(-(0|[1-9][0-9]{0,8}|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\\.(0|[1-9][0-9]{0,8}|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?(\\+[0-9a-zA-Z-]+(\\.[0-9a-zA-Z-]+)*)?$";
/// A store name (`StoreName::parse`; the reserved names are listed beside it).
const STORE_NAME: &str = "^[a-z0-9]+(-[a-z0-9]+)*$";

/// Sets the schema of every path parameter from its name (and, for `id`, its path).
pub(super) struct PathParameters;

impl Modify for PathParameters {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations_mut(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if parameter.parameter_in != ParameterIn::Path {
                        continue;
                    }
                    if let Some(schema) = path_parameter(path, &parameter.name) {
                        parameter.schema = Some(RefOr::T(schema));
                    }
                }
            }
        }
    }
}

/// Where the request bodies name versions and stores, as JSON Pointers into the document, with
/// the form handlers hold them to.
const BODY_FORMS: &[(&str, &str)] = &[
    (
        "/components/schemas/RollbackBody/properties/version",
        SEMVER,
    ),
    (
        "/components/schemas/StartRolloutBody/properties/version",
        SEMVER,
    ),
    ("/components/schemas/UpgradeBody/properties/version", SEMVER),
    (
        "/components/schemas/RolloutSettings/properties/fromVersions/items",
        SEMVER,
    ),
    (
        "/components/schemas/RolloutSettings/properties/storeIds/items",
        STORE_ID,
    ),
];

/// States the forms of [`BODY_FORMS`] in `document` (the generated document as JSON).
pub(super) fn with_body_forms(mut document: Value) -> Value {
    for (pointer, pattern) in BODY_FORMS {
        if let Some(Value::Object(schema)) = document.pointer_mut(pointer) {
            schema.insert("pattern".into(), json!(pattern));
        }
    }
    document
}

/// The schema of path parameter `name` of `path`, if the table knows it.
fn path_parameter(path: &str, name: &str) -> Option<Schema> {
    let text = |pattern: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .build()
    };
    let schema = match name {
        "id" if path.starts_with("/api/v1/stores/") => text(STORE_ID),
        "id" if path.starts_with("/api/v1/admin/users/") => text(USER_ID),
        "id" if path.starts_with("/api/v1/admin/rollouts/") => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(1))
            .build(),
        "engine" => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(ENGINE_ID))
            .max_length(Some(63))
            .build(),
        "version" => text(SEMVER),
        "action" => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["pause", "resume", "abort"]))
            .build(),
        _ => return None,
    };
    Some(Schema::Object(schema))
}

/// `document` (the OpenAPI document as JSON) with `CreateStoreBody` as one alternative per
/// engine active in `registry`, each with the engine's options schema.
pub(super) fn with_active_engines(mut document: Value, registry: &Registry) -> Value {
    let name = json!({
        "type": "string",
        "description": "3–63 characters, lowercase letters, digits and single '-' between them; not reserved.",
        "minLength": 3,
        "maxLength": 63,
        "pattern": STORE_NAME,
        "not": {"enum": crate::domain::RESERVED_STORE_NAMES},
    });
    let mut engines = registry.active_engines();
    engines.sort_by(|a, b| a.info.id.cmp(&b.info.id));
    let alternatives: Vec<Value> = engines
        .iter()
        .map(|engine| {
            let mut options = engine.info.options_schema.clone();
            if let Some(options) = options.as_object_mut() {
                // A subschema of the document: its dialect is the document's (2020-12).
                options.remove("$schema");
                options.remove("$id");
            }
            json!({
                "type": "object",
                "title": engine.info.id,
                "required": ["name", "engine"],
                "properties": {
                    "name": name,
                    "engine": {"const": engine.info.id, "description": engine.info.display_name},
                    "options": options,
                },
            })
        })
        .collect();
    if let Some(body) = document.pointer_mut("/components/schemas/CreateStoreBody") {
        *body = if alternatives.is_empty() {
            // No engine is active: nothing can be created.
            json!({"not": {}, "description": "No engine is active on this host."})
        } else {
            json!({
                "description": "A store to create: one alternative per active engine (`GET /engines`).",
                "oneOf": alternatives,
            })
        };
    }
    document
}

/// The operations of one path, to change each.
pub(super) fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.delete,
        &mut item.put,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}
