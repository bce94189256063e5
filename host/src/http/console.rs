//! The superadmin console: a few static files, built into the binary, that run in the
//! operator's browser and do everything through the public API (`host/console/`). No build
//! step: plain ES modules and one stylesheet.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::error::ApiError;
use crate::app::AppState;
use crate::error_code::ErrorCode;

/// Scripts and styles from this server only, no inline script, no other origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Every file of the console: path under `/console/`, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "",
        "text/html; charset=utf-8",
        include_str!("../../console/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../console/style.css"),
    ),
    (
        "js/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/app.js"),
    ),
    (
        "js/api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/api.js"),
    ),
    (
        "js/dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/dom.js"),
    ),
    (
        "js/pages/login.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/login.js"),
    ),
    (
        "js/pages/tenants.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/tenants.js"),
    ),
    (
        "js/pages/tenant.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/tenant.js"),
    ),
    (
        "js/pages/registrations.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/registrations.js"),
    ),
    (
        "js/pages/presets.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/presets.js"),
    ),
    (
        "js/pages/activity.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/activity.js"),
    ),
    (
        "js/pages/modules.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/modules.js"),
    ),
    (
        "js/pages/support.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/support.js"),
    ),
    (
        "js/pages/billing.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/billing.js"),
    ),
    (
        "js/pages/analytics.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/analytics.js"),
    ),
    (
        "js/pages/mail.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/mail.js"),
    ),
    (
        "js/pages/maintenance.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/js/pages/maintenance.js"),
    ),
];

/// `/` and `/console/…`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|| async { asset("") }))
        .route(
            "/console/{*path}",
            get(|Path(path): Path<String>| async move { asset(&path) }),
        )
}

fn asset(path: &str) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(p, _, _)| *p == path) else {
        return ApiError::not_found(ErrorCode::NOT_FOUND, "no such console file").into_response();
    };
    let mut response = (StatusCode::OK, *body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Always asked again (cheap: they are small), so a new binary's console is the one shown.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_file_is_served_and_the_page_loads_only_from_here() {
        let index = ASSETS[0].2;
        for needed in ["/console/style.css", "/console/js/app.js"] {
            assert!(index.contains(needed), "{needed}");
        }
        // No inline script or style, and nothing from another origin.
        assert!(!index.contains("<script>") && !index.contains("style="));
        for (path, _, body) in ASSETS {
            // (The SVG namespace is a name, not an address: nothing is fetched from it.)
            let text = body.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{path}"
            );
            // Every module a script imports is served.
            for import in body.split("from \"").skip(1) {
                let target = import.split('"').next().unwrap();
                let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                let resolved = resolve(dir, target);
                assert!(
                    ASSETS.iter().any(|(p, _, _)| *p == resolved),
                    "{path} imports {target} ({resolved}), which is not served"
                );
            }
        }
        assert_eq!(asset("js/app.js").status(), 200);
        assert_eq!(asset("../Cargo.toml").status(), 404);
    }

    fn resolve(dir: &str, target: &str) -> String {
        let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        for seg in target.split('/') {
            match seg {
                "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    }
}
