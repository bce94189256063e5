//! Keeping every answer in the standard error shape, whichever layer refused the request,
//! and refusing input no backend can store before any handler sees it.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, REQUEST_ID};
use crate::error_code::ErrorCode;

/// Marks a response whose body is already what the client should see: an [`ApiError`] or a
/// module's own answer. Error statuses without it came from a layer that knows nothing of
/// the error shape (axum's extractors, the body limit) and are rewritten.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answered;

/// The code and message of an error response some layer produced without the error shape.
pub(crate) fn code_for(status: StatusCode) -> (ErrorCode, &'static str) {
    match status.as_u16() {
        400 => (ErrorCode::BAD_REQUEST, "the request is malformed"),
        401 => (ErrorCode::UNAUTHORIZED, "a valid bearer token is required"),
        403 => (ErrorCode::FORBIDDEN, "this caller may not do that"),
        404 => (ErrorCode::NOT_FOUND, "no such route"),
        405 => (
            ErrorCode::METHOD_NOT_ALLOWED,
            "this route does not take that method",
        ),
        408 => (
            ErrorCode::REQUEST_TIMEOUT,
            "the request took too long and was stopped",
        ),
        411 => (
            ErrorCode::LENGTH_REQUIRED,
            "the request needs a content-length",
        ),
        413 => (
            ErrorCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        ),
        414 => (ErrorCode::URI_TOO_LONG, "the request path is too long"),
        415 => (
            ErrorCode::UNSUPPORTED_MEDIA_TYPE,
            "the body's content-type is not accepted here",
        ),
        422 => (ErrorCode::VALIDATION, "the request body could not be read"),
        429 => (ErrorCode::RATE_LIMITED, "too many requests; retry later"),
        431 => (
            ErrorCode::HEADERS_TOO_LARGE,
            "the request's headers are too large",
        ),
        503 => (
            ErrorCode::UNAVAILABLE,
            "the service is unavailable; retry shortly",
        ),
        s if s >= 500 => (ErrorCode::INTERNAL, "internal error; see the server log"),
        _ => (ErrorCode::BAD_REQUEST, "the request was refused"),
    }
}

/// `response` as it should reach the client: an error status without the error shape gets
/// it (keeping `Retry-After` and `Allow`); everything else passes unchanged.
pub(crate) fn reshape(response: Response, request_id: &str) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<Answered>().is_some()
    {
        return response;
    }
    let mut shaped = error_response(status, request_id);
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(v) = response.headers().get(&name) {
            shaped.headers_mut().insert(name, v.clone());
        }
    }
    shaped
}

/// The standard error answer for `status` (code and message from [`code_for`]).
fn error_response(status: StatusCode, request_id: &str) -> Response {
    let (code, message) = code_for(status);
    REQUEST_ID.sync_scope(request_id.to_string(), || {
        ApiError::new(status, code, message).into_response()
    })
}

/// The metric label of a method: the standard ones, and `OTHER` for anything a client
/// invented, so junk requests cannot create new time series.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The 400 for a path or query that cannot be stored or compared (`None` when it can): NUL
/// characters (PostgreSQL text cannot hold them) and paths that do not decode to UTF-8. The
/// router's front layer answers with it before any handler or module runs, the same on
/// every backend.
pub(crate) fn bad_input_refusal(req: &Request) -> Option<Response> {
    check_uri(req.uri()).err().map(IntoResponse::into_response)
}

fn check_uri(uri: &axum::http::Uri) -> Result<(), ApiError> {
    // A parsed URI is already UTF-8 without control characters; NUL and stray bytes can
    // only arrive percent-encoded, so plain URIs (nearly all) are not decoded at all.
    if !uri.path().contains('%') && !uri.query().is_some_and(|q| q.contains('%')) {
        return Ok(());
    }
    let path = percent_encoding::percent_decode_str(uri.path());
    match path.decode_utf8() {
        Ok(p) if !p.contains('\0') => {}
        _ => {
            return Err(ApiError::bad_request(
                "the request path must be UTF-8 without NUL characters",
            ));
        }
    }
    if let Some(query) = uri.query() {
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if name.contains('\0') || value.contains('\0') {
                let field = name.replace('\0', "\u{FFFD}");
                return Err(ApiError::validation(
                    &field,
                    format!("{field} must not contain NUL characters"),
                ));
            }
        }
    }
    Ok(())
}

/// A request that ran past its deadline: 408 in the standard shape with the request id the
/// inner layers would have used (the client's, or one set on the request here).
pub(crate) async fn with_deadline(
    deadline: std::time::Duration,
    mut req: Request,
    next: Next,
) -> Response {
    let id = super::request_id(&req);
    let Ok(id_header) = HeaderValue::from_str(&id) else {
        // `request_id` only yields header-safe ids; nothing to time out without one.
        return next.run(req).await;
    };
    req.headers_mut().insert("x-request-id", id_header.clone());
    match tokio::time::timeout(deadline, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = error_response(StatusCode::REQUEST_TIMEOUT, &id);
            response.headers_mut().insert("x-request-id", id_header);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn refused(uri: &str) -> Option<(ErrorCode, Option<String>)> {
        check_uri(&uri.parse().unwrap())
            .err()
            .map(|e| (e.code, e.field))
    }

    #[test]
    fn nul_and_broken_utf8_are_refused_with_the_field() {
        assert_eq!(refused("/v1/portal/pos/tickets"), None);
        assert_eq!(refused("/v1/portal/pos/tickets?limit=5&q=caf%C3%A9"), None);
        assert_eq!(
            refused("/v1/portal/pos/tickets%00"),
            Some((ErrorCode::BAD_REQUEST, None))
        );
        assert_eq!(refused("/v1/x/%FF"), Some((ErrorCode::BAD_REQUEST, None)));
        assert_eq!(
            refused("/v1/superadmin/audit?action=a%00b"),
            Some((ErrorCode::VALIDATION, Some("action".into())))
        );
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"FROBNICATE").unwrap()),
            "OTHER"
        );
    }

    #[test]
    fn only_unshaped_errors_are_rewritten() {
        let plain = Response::builder()
            .status(413)
            .header(header::RETRY_AFTER, "3")
            .body(Body::from("length limit exceeded"))
            .unwrap();
        let shaped = reshape(plain, "req-1");
        assert_eq!(shaped.status(), 413);
        assert_eq!(shaped.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(shaped.headers()[header::RETRY_AFTER], "3");
        let mut module = Response::builder()
            .status(418)
            .body(Body::from("teapot"))
            .unwrap();
        module.extensions_mut().insert(Answered);
        assert!(
            reshape(module, "req-2")
                .headers()
                .get(header::CONTENT_TYPE)
                .is_none()
        );
        let ok = Response::new(Body::from("fine"));
        assert!(
            reshape(ok, "req-3")
                .headers()
                .get(header::CONTENT_TYPE)
                .is_none()
        );
    }
}
