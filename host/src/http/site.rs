//! Static sites built into the binary (the console and the tenant portal): plain ES modules
//! and stylesheets served with a strict Content-Security-Policy, so nothing but these files
//! runs in the page and nothing is fetched from another origin.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::error_code::ErrorCode;

/// Scripts and styles from this server only, no inline script, no other origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A site: its name (for errors) and its files, `(path under the mount, bytes)`; the page
/// itself is the file at `""`.
pub(crate) struct Site {
    pub(crate) name: &'static str,
    pub(crate) assets: &'static [(&'static str, &'static str)],
}

impl Site {
    /// The file at `path`, or the standard 404.
    pub(crate) fn serve(&self, path: &str) -> Response {
        let Some((_, body)) = self.assets.iter().find(|(p, _)| *p == path) else {
            return ApiError::not_found(
                ErrorCode::NOT_FOUND,
                format!("no such {} file", self.name),
            )
            .into_response();
        };
        let mut response = (StatusCode::OK, *body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        );
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
        // Always asked again (cheap: they are small), so a new binary's files are the ones shown.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }

    /// For tests: the page links `needed`, has no inline script or style, no file names
    /// another origin, and every module a script imports is served.
    #[cfg(test)]
    pub(crate) fn check_self_contained(&self, needed: &[&str]) {
        let index = self.assets[0].1;
        for n in needed {
            assert!(index.contains(n), "{}: {n}", self.name);
        }
        assert!(!index.contains("<script>") && !index.contains("style="));
        for (path, body) in self.assets {
            // (The SVG namespace is a name, not an address: nothing is fetched from it.)
            let text = body.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{path}"
            );
            for import in body.split("from \"").skip(1) {
                let target = import.split('"').next().unwrap();
                let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                let resolved = resolve(dir, target);
                assert!(
                    self.assets.iter().any(|(p, _)| *p == resolved),
                    "{path} imports {target} ({resolved}), which is not served"
                );
            }
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        _ => "text/html; charset=utf-8",
    }
}

#[cfg(test)]
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
