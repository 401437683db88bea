//! The OpenAPI document, generated from the handlers' annotations as the router collects
//! them, and a docs page.

use axum::response::Html;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::extract::AppJson;

use super::contract::{PathParameters, operations_mut};
use super::error::{ErrorBody, ErrorEnvelope};

/// Responses every operation can give, added to each so the document matches what the server
/// does: any request can be rate limited (429), time out (408) or hit an internal error (500);
/// one with a body can be malformed (400), too large (413) or of the wrong type (415); one
/// that needs a token can be refused (401).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let envelope = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations_mut(item) {
                let mut add = |code: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| envelope(description).into());
                };
                add("408", "The request took too long (REQUEST_TIMEOUT)");
                add(
                    "500",
                    "Internal error (INTERNAL_ERROR); details are in the server log under the request id",
                );
                if !path.ends_with("/health") && !path.contains("/metrics") {
                    add(
                        "429",
                        "Rate limited (RATE_LIMITED and the endpoint's own limits); see Retry-After",
                    );
                }
                // Query strings are checked strictly (unknown parameters, bounds).
                let has_query = operation.parameters.iter().flatten().any(|p| {
                    p.parameter_in == utoipa::openapi::path::ParameterIn::Query
                        && p.name != "ticket"
                });
                if has_query {
                    add(
                        "400",
                        "Unknown or invalid query parameters (VALIDATION_ERROR)",
                    );
                }
                if operation.request_body.is_some() {
                    add(
                        "400",
                        "Malformed body (INVALID_JSON) or invalid values (VALIDATION_ERROR)",
                    );
                    add("413", "Body too large (PAYLOAD_TOO_LARGE)");
                    add("415", "Wrong Content-Type (UNSUPPORTED_MEDIA_TYPE)");
                }
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add("401", "Missing, invalid or expired token (UNAUTHORIZED)");
                }
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
        }
    }
}

/// The document's frame: title, security scheme and shared schemas. The operations come from
/// the router (`routes.rs`), where each is listed once.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "storeplane API",
        description = "Provision isolated e-commerce stores on Kubernetes."
    ),
    components(schemas(ErrorEnvelope, ErrorBody))
)]
pub(super) struct ApiDoc;

/// The document as served, from what the router collected: the responses every operation can
/// give, the forms of path parameters and body fields, the bearer scheme.
pub(super) fn finish(mut document: utoipa::openapi::OpenApi) -> serde_json::Value {
    let modifiers: [&dyn Modify; 3] = [&BearerAuth, &CommonResponses, &PathParameters];
    for modifier in modifiers {
        modifier.modify(&mut document);
    }
    super::contract::with_body_forms(serde_json::to_value(document).unwrap_or_default())
}

/// `GET /openapi.json`: `document` (made by [`finish`] when the router was built), with the
/// create-store body of the engines active now.
pub(super) fn serve_document(
    document: std::sync::Arc<serde_json::Value>,
    state: &super::AppState,
) -> AppJson<serde_json::Value> {
    AppJson(super::contract::with_active_engines(
        (*document).clone(),
        &state.registry,
    ))
}

/// `GET /docs`: a self-contained page listing every operation from the document.
pub(super) async fn docs_page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
