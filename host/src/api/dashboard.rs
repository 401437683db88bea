//! The web dashboard: plain HTML, CSS and JavaScript modules from `host/dashboard/`, embedded
//! in the binary (no Node toolchain to build or run it) and served at `/` and `/assets/…`.
//! It talks to the same public REST API as every other client.

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// `(path under /assets/, content type, content)`.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../dashboard/app.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../dashboard/favicon.svg"),
    ),
    ("js/app.js", JS, include_str!("../../dashboard/js/app.js")),
    ("js/api.js", JS, include_str!("../../dashboard/js/api.js")),
    ("js/dom.js", JS, include_str!("../../dashboard/js/dom.js")),
    ("js/auth.js", JS, include_str!("../../dashboard/js/auth.js")),
    (
        "js/session.js",
        JS,
        include_str!("../../dashboard/js/session.js"),
    ),
    (
        "js/stores.js",
        JS,
        include_str!("../../dashboard/js/stores.js"),
    ),
    (
        "js/create.js",
        JS,
        include_str!("../../dashboard/js/create.js"),
    ),
    (
        "js/rollouts.js",
        JS,
        include_str!("../../dashboard/js/rollouts.js"),
    ),
    (
        "js/operations.js",
        JS,
        include_str!("../../dashboard/js/operations.js"),
    ),
    (
        "js/detail.js",
        JS,
        include_str!("../../dashboard/js/detail.js"),
    ),
    (
        "js/admin.js",
        JS,
        include_str!("../../dashboard/js/admin.js"),
    ),
    (
        "js/users.js",
        JS,
        include_str!("../../dashboard/js/users.js"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";
const INDEX: &str = include_str!("../../dashboard/index.html");

fn page(content_type: &'static str, body: impl Into<Body>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Small files, embedded per build: revalidate rather than serve stale code.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body.into(),
    )
        .into_response()
}

/// Where the operator's notice goes in the shell: after the top bar, before the page.
const NOTICE_SLOT: &str = "<!-- notice -->";

/// The dashboard shell, with the operator's notice (`DASHBOARD_NOTICE`) in it when there is
/// one. Rendered once per router: in the HTML itself, the notice shows before any script runs
/// and on the login page too.
pub(super) fn shell(notice: Option<&str>) -> Bytes {
    match notice {
        None => Bytes::from_static(INDEX.as_bytes()),
        Some(text) => Bytes::from(INDEX.replacen(
            NOTICE_SLOT,
            &format!(
                r#"<p id="notice" class="notice" role="note">{}</p>"#,
                escape_html(text)
            ),
            1,
        )),
    }
}

/// Text as HTML character data and attribute-safe: the notice is the operator's plain text.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `GET /`: the dashboard shell (`shell` is cheap to clone: a shared buffer).
pub(super) fn index(shell: Bytes) -> Response {
    page("text/html; charset=utf-8", shell)
}

/// `GET /assets/{*path}`.
pub(super) async fn asset(Path(path): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|(name, _, _)| *name == path)
        .map(|(_, content_type, body)| page(content_type, *body))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("no dashboard asset {path}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The served names of the modules `body` imports.
    fn imports_of(body: &str) -> Vec<String> {
        body.lines()
            .filter(|l| l.starts_with("import "))
            .filter_map(|line| line.split('\'').nth(1))
            .map(|module| format!("js/{}", module.trim_start_matches("./")))
            .collect()
    }

    fn module(name: &str) -> &'static str {
        ASSETS
            .iter()
            .find(|(served, _, _)| *served == name)
            .map(|(_, _, body)| *body)
            .unwrap_or_else(|| panic!("{name} is imported but not served"))
    }

    #[test]
    fn every_module_the_dashboard_imports_is_served() {
        for (_, _, body) in ASSETS.iter().filter(|(name, _, _)| name.ends_with(".js")) {
            for name in imports_of(body) {
                module(&name);
            }
        }
        assert!(INDEX.contains("/assets/js/app.js") && INDEX.contains("/assets/app.css"));
    }

    #[test]
    fn the_notice_is_shown_as_text_never_as_markup() {
        assert_eq!(shell(None), INDEX.as_bytes());
        let page = shell(Some(
            r#"Maintenance <b>tonight</b> & "Fri's" <script>x()</script>"#,
        ));
        let page = std::str::from_utf8(&page).unwrap();
        assert!(page.contains(
            r#"<p id="notice" class="notice" role="note">Maintenance &lt;b&gt;tonight&lt;/b&gt; &amp; &quot;Fri&#39;s&quot; &lt;script&gt;x()&lt;/script&gt;</p>"#
        ));
        assert!(!page.contains("<script>x()"));
        // It sits between the top bar and the page.
        let notice = page.find(r#"id="notice""#).unwrap();
        assert!(
            page.find("</header>").unwrap() < notice && notice < page.find(r#"id="app""#).unwrap()
        );
    }

    /// A cycle makes a module run before those it imports are initialised (and the entry
    /// module's state is then shared by accident): views take the session from `session.js`,
    /// never from `app.js`.
    #[test]
    fn the_dashboard_modules_import_one_another_without_a_cycle() {
        fn visit(name: &str, path: &mut Vec<String>) {
            if let Some(start) = path.iter().position(|seen| seen == name) {
                panic!("import cycle: {} -> {name}", path[start..].join(" -> "));
            }
            path.push(name.to_owned());
            for next in imports_of(module(name)) {
                visit(&next, path);
            }
            path.pop();
        }
        for (name, _, _) in ASSETS.iter().filter(|(name, _, _)| name.ends_with(".js")) {
            visit(name, &mut Vec::new());
        }
    }
}
