//! Routing a request to a handler by method and path.

use crate::{Error, Request, Response};

/// A handler: a function (or non-capturing closure) from a request to a response.
pub type Handler = Box<dyn Fn(&Request) -> Result<Response, Error>>;

/// A fresh instance builds every route before its first call, so adding one does as little
/// as it can: the pattern is copied into the router's one buffer and split only at match
/// time, where most routes are ruled out at their first segment. Building POS's table took
/// longer than answering the call when each route allocated its pattern and counted its
/// segments.
struct Route {
    method: &'static str,
    /// Where the pattern lies in [`Router::patterns`].
    pattern: std::ops::Range<usize>,
    handler: Handler,
}

/// How many routes [`Router::new`] makes room for.
const ROOM_FOR_ROUTES: usize = 48;

/// The module's routes. Patterns are paths with `{name}` segments for parameters.
///
/// ```
/// use nova_sdk::{Request, Response, Router};
/// let router = Router::new()
///     .get("/tickets", |_req| Response::text(200, "list"))
///     .post("/tickets", |_req| Response::text(201, "made"));
/// assert_eq!(router.handle(&Request::new("POST", "/tickets", "", b"")).status, 201);
/// assert_eq!(router.handle(&Request::new("GET", "/nope", "", b"")).status, 404);
/// assert_eq!(router.handle(&Request::new("DELETE", "/tickets", "", b"")).status, 405);
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
    /// Every route's pattern, one after another.
    patterns: String,
}

impl Router {
    /// No routes yet.
    ///
    /// ```
    /// let r = nova_sdk::Router::new();
    /// assert_eq!(r.handle(&nova_sdk::Request::new("GET", "/", "", b"")).status, 404);
    /// ```
    pub fn new() -> Self {
        // Room for a module of POS's size (35 routes, 576 bytes of patterns), so a fresh
        // instance's table is not copied as it grows: about 2 KB, made once per instance.
        Self {
            routes: Vec::with_capacity(ROOM_FOR_ROUTES),
            patterns: String::with_capacity(ROOM_FOR_ROUTES * 16),
        }
    }

    /// Add a route for any method name.
    ///
    /// ```
    /// use nova_sdk::{Response, Router};
    /// let r = Router::new().route("PATCH", "/items/{id}", |_req| Response::text(200, "patched"));
    /// # let _ = r;
    /// ```
    pub fn route(
        mut self,
        method: &'static str,
        pattern: &str,
        handler: impl Fn(&Request) -> Result<Response, Error> + 'static,
    ) -> Self {
        let start = self.patterns.len();
        self.patterns.push_str(pattern);
        self.routes.push(Route {
            method,
            pattern: start..self.patterns.len(),
            handler: Box::new(handler),
        });
        self
    }

    /// Add a `GET` route.
    ///
    /// ```
    /// let r = nova_sdk::Router::new().get("/", |_req| nova_sdk::Response::text(200, "ok"));
    /// # let _ = r;
    /// ```
    pub fn get(
        self,
        pattern: &str,
        handler: impl Fn(&Request) -> Result<Response, Error> + 'static,
    ) -> Self {
        self.route("GET", pattern, handler)
    }

    /// Add a `POST` route.
    ///
    /// ```
    /// let r = nova_sdk::Router::new().post("/", |_req| nova_sdk::Response::text(201, "ok"));
    /// # let _ = r;
    /// ```
    pub fn post(
        self,
        pattern: &str,
        handler: impl Fn(&Request) -> Result<Response, Error> + 'static,
    ) -> Self {
        self.route("POST", pattern, handler)
    }

    /// Add a `PUT` route.
    ///
    /// ```
    /// let r = nova_sdk::Router::new().put("/", |_req| nova_sdk::Response::text(200, "ok"));
    /// # let _ = r;
    /// ```
    pub fn put(
        self,
        pattern: &str,
        handler: impl Fn(&Request) -> Result<Response, Error> + 'static,
    ) -> Self {
        self.route("PUT", pattern, handler)
    }

    /// Add a `DELETE` route.
    ///
    /// ```
    /// let r = nova_sdk::Router::new().delete("/", |_req| Ok(nova_sdk::Response::empty(204)));
    /// # let _ = r;
    /// ```
    pub fn delete(
        self,
        pattern: &str,
        handler: impl Fn(&Request) -> Result<Response, Error> + 'static,
    ) -> Self {
        self.route("DELETE", pattern, handler)
    }

    /// Run the matching handler; 404 or 405 in the standard error shape when none matches,
    /// and a handler's [`Error`] rendered the same way.
    ///
    /// ```
    /// use nova_sdk::{Error, Request, Router};
    /// let r = Router::new().get("/x", |_req| Err(Error::validation("x", "bad")));
    /// let resp = r.handle(&Request::new("GET", "/x", "", b""));
    /// assert_eq!(resp.status, 400);
    /// ```
    pub fn handle(&self, req: &Request) -> Response {
        self.handle_owned(req.clone())
    }

    /// [`Router::handle`] taking the request: the module's entry point hands over the
    /// request it lifted, so the handler sees it without a copy of its body and headers.
    pub(crate) fn handle_owned(&self, mut req: Request) -> Response {
        // Split once; each route's pattern is split as far as its first segment that differs.
        let path: Vec<&str> = Segments(req.path()).collect();
        let mut path_matched = false;
        for route in &self.routes {
            let pattern = &self.patterns[route.pattern.clone()];
            if !matches(pattern, &path) {
                continue;
            }
            path_matched = true;
            if !route.method.eq_ignore_ascii_case(req.method()) {
                continue;
            }
            // Parameters are captured for the route that answers, not for every candidate.
            req.params = params(pattern, &path);
            return match (route.handler)(&req) {
                Ok(resp) => resp,
                Err(e) => e.into_response(&request_id()),
            };
        }
        let err = if path_matched {
            Error::new(
                405,
                "METHOD_NOT_ALLOWED",
                format!("{} is not allowed on {}", req.method(), req.path()),
            )
        } else {
            Error::not_found(format!("no route for {}", req.path()))
        };
        err.into_response(&request_id())
    }
}

/// The non-empty segments of a path, split by a plain byte loop: `str::split` searches with
/// `memchr`, whose setup costs more than these few bytes in a Wasm guest.
struct Segments<'a>(&'a str);

impl<'a> Iterator for Segments<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.0.as_bytes();
        let Some(start) = bytes.iter().position(|&b| b != b'/') else {
            self.0 = "";
            return None;
        };
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(bytes.len(), |n| start + n);
        // Both ends are at a '/' or an end of the string, so they are character boundaries.
        let segment = &self.0[start..end];
        self.0 = &self.0[end..];
        Some(segment)
    }
}

/// The pattern's `{name}` part, if this segment is a parameter.
fn parameter(segment: &str) -> Option<&str> {
    segment.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
}

/// True when the path has as many segments as the pattern and each literal segment of the
/// pattern equals the path's in its place. Stops at the first that differs.
fn matches(pattern: &str, path: &[&str]) -> bool {
    // A quick no, without a split: a pattern written `/literal...` whose first byte differs
    // from the path's (in POS, every route of another resource).
    if let ([b'/', first, ..], Some(segment)) = (pattern.as_bytes(), path.first())
        && !matches!(first, b'{' | b'/')
        && segment.as_bytes().first() != Some(first)
    {
        return false;
    }
    let (mut pattern, mut path) = (Segments(pattern), path.iter());
    loop {
        match (pattern.next(), path.next()) {
            (None, None) => return true,
            (Some(p), Some(s)) if parameter(p).is_some() || p == *s => {}
            _ => return false,
        }
    }
}

/// The path's segments in the pattern's parameter places, by name.
fn params(pattern: &str, path: &[&str]) -> Vec<(String, String)> {
    Segments(pattern)
        .zip(path)
        .filter_map(|(p, s)| parameter(p).map(|name| (name.to_string(), s.to_string())))
        .collect()
}

fn request_id() -> String {
    #[cfg(target_arch = "wasm32")]
    {
        crate::context::get().request_id
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new()
            .get("/tickets", |_req| Response::text(200, "list"))
            .get("/tickets/{id}", |req| {
                Response::text(200, &format!("ticket {}", req.param("id").unwrap_or("?")))
            })
            .post("/tickets/{id}/lines/{line}", |req| {
                let id = req.param("id").unwrap_or("?");
                let line = req.param("line").unwrap_or("?");
                Response::text(201, &format!("{id}/{line}"))
            })
            .get("/tickets/open", |_req| {
                Response::text(200, "never: the route above wins")
            })
    }

    fn call(method: &str, path: &str) -> (u16, String) {
        let resp = router().handle(&Request::new(method, path, "", b""));
        (resp.status, String::from_utf8(resp.body).unwrap())
    }

    #[test]
    fn parameters_take_the_segments_they_stand_for() {
        assert_eq!(call("GET", "/tickets/7"), (200, "ticket 7".into()));
        assert_eq!(call("POST", "/tickets/7/lines/3"), (201, "7/3".into()));
    }

    #[test]
    fn empty_segments_and_a_trailing_slash_do_not_count() {
        assert_eq!(call("GET", "/tickets/"), (200, "list".into()));
        assert_eq!(call("GET", "//tickets//9"), (200, "ticket 9".into()));
    }

    #[test]
    fn routes_are_tried_in_the_order_they_were_added() {
        assert_eq!(call("GET", "/tickets/open"), (200, "ticket open".into()));
    }

    #[test]
    fn a_path_of_another_length_or_literal_does_not_match() {
        assert_eq!(call("GET", "/tickets/7/lines").0, 404);
        assert_eq!(call("GET", "/orders/7").0, 404);
        assert_eq!(call("POST", "/tickets/7/items/3").0, 404);
        assert_eq!(call("GET", "/").0, 404);
    }

    #[test]
    fn a_known_path_with_another_method_is_405() {
        assert_eq!(call("DELETE", "/tickets/7").0, 405);
        assert_eq!(call("GET", "/tickets/7/lines/3").0, 405);
        assert_eq!(
            call("get", "/tickets").0,
            200,
            "methods compare without case"
        );
    }

    #[test]
    fn segments_skip_empty_ones() {
        let split = |p| Segments(p).collect::<Vec<_>>();
        assert_eq!(split("/a/bc//d/"), ["a", "bc", "d"]);
        assert_eq!(split("a"), ["a"]);
        assert_eq!(split("/é/ü"), ["é", "ü"]);
        assert!(split("").is_empty());
        assert!(split("///").is_empty());
    }

    #[test]
    fn only_the_answering_route_captures_parameters() {
        let router = Router::new()
            .get("/a/{x}/c", |_req| Response::text(200, "never"))
            .post("/a/{z}/d", |_req| Response::text(200, "never"))
            .get("/a/{y}/d", |req| {
                let x = req.param("x").unwrap_or("-");
                let z = req.param("z").unwrap_or("-");
                let y = req.param("y").unwrap_or("-");
                Response::text(200, &format!("{x} {z} {y}"))
            });
        let resp = router.handle(&Request::new("GET", "/a/7/d", "", b""));
        assert_eq!(String::from_utf8(resp.body).unwrap(), "- - 7");
    }

    #[test]
    fn patterns_match_however_they_are_written() {
        let router = Router::new()
            .get("items", |_req| Response::text(200, "items"))
            .get("{id}/x", |req| {
                Response::text(200, req.param("id").unwrap_or("?"))
            })
            .get("//a//b/", |_req| Response::text(200, "ab"))
            .get("/x/{id}.json", |_req| Response::text(200, "literal braces"))
            .get("/é", |_req| Response::text(200, "é"))
            .get("/{id}", |req| {
                Response::text(200, req.param("id").unwrap_or("?"))
            })
            .get("", |_req| Response::text(200, "root"));
        let body = |path| {
            let resp = router.handle(&Request::new("GET", path, "", b""));
            (resp.status, String::from_utf8(resp.body).unwrap())
        };
        assert_eq!(body("/items"), (200, "items".into()));
        assert_eq!(body("/7/x"), (200, "7".into()));
        assert_eq!(body("/a/b"), (200, "ab".into()));
        assert_eq!(body("/x/{id}.json"), (200, "literal braces".into()));
        assert_eq!(body("/x/7.json").0, 404);
        assert_eq!(body("/é"), (200, "é".into()));
        // Shares its first byte with `é` in UTF-8, so only the segment tells them apart.
        assert_eq!(body("/è"), (200, "è".into()));
        assert_eq!(body("/7"), (200, "7".into()));
        assert_eq!(body("/"), (200, "root".into()));
        assert_eq!(body("/itemz/q").0, 404);
        assert_eq!(body("/b/a").0, 404);
    }
}
