//! The superadmin console: a few static files, built into the binary, that run in the
//! operator's browser and do everything through the public API (`host/console/`). No build
//! step: plain ES modules and one stylesheet.

use axum::Router;
use axum::extract::Path;
use axum::response::Redirect;
use axum::routing::get;

use super::site::Site;
use crate::app::AppState;

/// Every file of the console: path under `/console/`, bytes.
const ASSETS: &[(&str, &str)] = &[
    ("", include_str!("../../console/index.html")),
    ("style.css", include_str!("../../console/style.css")),
    ("js/app.js", include_str!("../../console/js/app.js")),
    ("js/api.js", include_str!("../../console/js/api.js")),
    ("js/dom.js", include_str!("../../console/js/dom.js")),
    ("js/signin.js", include_str!("../../console/js/signin.js")),
    ("js/exports.js", include_str!("../../console/js/exports.js")),
    (
        "js/pages/login.js",
        include_str!("../../console/js/pages/login.js"),
    ),
    (
        "js/pages/tenants.js",
        include_str!("../../console/js/pages/tenants.js"),
    ),
    (
        "js/pages/tenant.js",
        include_str!("../../console/js/pages/tenant.js"),
    ),
    (
        "js/pages/registrations.js",
        include_str!("../../console/js/pages/registrations.js"),
    ),
    (
        "js/pages/presets.js",
        include_str!("../../console/js/pages/presets.js"),
    ),
    (
        "js/pages/activity.js",
        include_str!("../../console/js/pages/activity.js"),
    ),
    (
        "js/pages/modules.js",
        include_str!("../../console/js/pages/modules.js"),
    ),
    (
        "js/pages/support.js",
        include_str!("../../console/js/pages/support.js"),
    ),
    (
        "js/pages/billing.js",
        include_str!("../../console/js/pages/billing.js"),
    ),
    (
        "js/pages/analytics.js",
        include_str!("../../console/js/pages/analytics.js"),
    ),
    (
        "js/pages/mail.js",
        include_str!("../../console/js/pages/mail.js"),
    ),
    (
        "js/pages/maintenance.js",
        include_str!("../../console/js/pages/maintenance.js"),
    ),
];

const CONSOLE: Site = Site {
    name: "console",
    assets: ASSETS,
};

/// `/` and `/console/…`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|| async { CONSOLE.serve("") }))
        .route(
            "/console/{*path}",
            get(|Path(path): Path<String>| async move { CONSOLE.serve(&path) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_file_is_served_and_the_page_loads_only_from_here() {
        CONSOLE.check_self_contained(&["/console/style.css", "/console/js/app.js"]);
        assert_eq!(CONSOLE.serve("js/app.js").status(), 200);
        assert_eq!(CONSOLE.serve("../Cargo.toml").status(), 404);
    }
}
