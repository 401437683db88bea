//! The OpenAPI document, generated from the handlers' annotations, and a docs page.

use axum::response::Html;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::extract::AppJson;
use super::{audit, auth, engines, health, plugins, stores};

/// The error envelope every error response uses.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    pub request_id: String,
    pub error: ErrorBody,
}

/// The `error` member of the envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine code, e.g. `VALIDATION_ERROR`, `STORE_LIMIT_EXCEEDED`.
    pub code: String,
    pub message: String,
    pub retryable: bool,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
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

#[derive(OpenApi)]
#[openapi(
    info(title = "storeplane API", description = "Provision isolated e-commerce stores on Kubernetes."),
    modifiers(&BearerAuth),
    paths(
        auth::register, auth::login, auth::me,
        stores::create, stores::list, stores::get, stores::delete, stores::retry, stores::logs,
        audit::list, audit::list_logs,
        engines::list,
        plugins::list, plugins::upload, plugins::activate, plugins::rollback, plugins::disable, plugins::enable,
        health::health, health::metrics, health::metrics_json,
    ),
    components(schemas(ErrorEnvelope, ErrorBody))
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn document() -> AppJson<utoipa::openapi::OpenApi> {
    AppJson(ApiDoc::openapi())
}

/// `GET /docs`: a self-contained page listing every operation from the document.
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
