//! The tenant portal at `/app`: static files built into the binary that run in a restaurant
//! user's browser, call the public API, and draw each enabled module's screens
//! (`host/portal/`). It shares the console's `api.js`, `dom.js` and stylesheet.

use axum::Router;
use axum::extract::Path;
use axum::response::Redirect;
use axum::routing::get;

use super::site::Site;
use crate::app::AppState;

/// Every file of the portal: path under `/app/`, bytes.
const ASSETS: &[(&str, &str)] = &[
    ("", include_str!("../../portal/index.html")),
    ("style.css", include_str!("../../console/style.css")),
    ("portal.css", include_str!("../../portal/portal.css")),
    ("js/app.js", include_str!("../../portal/js/app.js")),
    ("js/render.js", include_str!("../../portal/js/render.js")),
    ("js/api.js", include_str!("../../console/js/api.js")),
    ("js/dom.js", include_str!("../../console/js/dom.js")),
    ("js/signin.js", include_str!("../../console/js/signin.js")),
    ("js/exports.js", include_str!("../../console/js/exports.js")),
    ("reset.html", include_str!("../../portal/reset.html")),
    ("js/reset.js", include_str!("../../portal/js/reset.js")),
];

const PORTAL: Site = Site {
    name: "portal",
    assets: ASSETS,
};

/// `/app/…`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/app", get(|| async { Redirect::to("/app/") }))
        .route("/app/", get(|| async { PORTAL.serve("") }))
        .route(
            "/app/{*path}",
            get(|Path(path): Path<String>| async move { PORTAL.serve(&path) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_portal_file_is_served_and_the_page_loads_only_from_here() {
        PORTAL.check_self_contained(&["/app/style.css", "/app/portal.css", "/app/js/app.js"]);
        assert_eq!(PORTAL.serve("js/render.js").status(), 200);
        assert_eq!(PORTAL.serve("../console/js/app.js").status(), 404);
    }
}
