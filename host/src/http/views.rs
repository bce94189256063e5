//! Portal screens on their way from a module to the browser. A module answers
//! `GET /_views` (its entry) and `GET /_views/{name}` (a page) with `nova.view/1` documents
//! (the `nova-view` crate); a document that breaks the format is refused here with 502
//! `VIEW_INVALID` and recorded as an audit event, so a broken or hostile module shows a clear
//! error in the portal and its document never reaches the page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{ApiError, current_request_id};
use crate::app::AppState;
use crate::error_code::ErrorCode;
use crate::storage::audit::{self, AuditEvent};

/// Whether a module route is one of its screens.
pub(crate) fn is_view_route(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::GET && (path == "_views" || path.starts_with("_views/"))
}

/// What is wrong with a screen document the module answered 200 with, if anything.
pub(crate) fn problem(path: &str, body: &[u8]) -> Option<nova_view::check::Problem> {
    if path == "_views" {
        nova_view::check::parse_screens(body).err()
    } else {
        nova_view::check::parse_view(body).err()
    }
}

/// The refusal of a broken screen, recorded as `portal.view_invalid` for the tenant.
pub(crate) async fn refuse(
    state: &AppState,
    tenant: &str,
    actor: &str,
    module: &str,
    path: &str,
    problem: &nova_view::check::Problem,
) -> Response {
    let request_id = current_request_id();
    let event = AuditEvent::new(
        Some(tenant),
        module,
        "portal.view_invalid",
        Some(actor),
        &json!({"path": format!("/{path}"), "at": problem.at, "problem": problem.message}),
        Some(&request_id),
    );
    let written = async {
        let mut conn = state.db.pool().acquire().await?;
        audit::insert(&mut conn, &event).await
    }
    .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, module, "could not record an invalid view");
    }
    metrics::counter!("nova_portal_views_invalid_total", "module" => module.to_string())
        .increment(1);
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        ErrorCode::VIEW_INVALID,
        format!("{module} sent a screen the portal cannot show ({problem})"),
    )
    .into_response()
}
