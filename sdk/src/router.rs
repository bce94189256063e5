//! Routing a request to a handler by method and path.

use crate::{Error, Request, Response};

/// A handler: a function (or non-capturing closure) from a request to a response.
pub type Handler = Box<dyn Fn(&Request) -> Result<Response, Error>>;

struct Route {
    method: &'static str,
    /// The pattern as given, split at match time: one allocation per route, where a vector
    /// of segments took one per segment and one for itself, and a fresh instance builds
    /// every route before its first call (a third of a fresh POS read's time in the guest).
    pattern: Box<str>,
    /// How many segments the pattern has, so most routes are ruled out without a split.
    segments: usize,
    handler: Handler,
}

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
}

impl Router {
    /// No routes yet.
    ///
    /// ```
    /// let r = nova_sdk::Router::new();
    /// assert_eq!(r.handle(&nova_sdk::Request::new("GET", "/", "", b"")).status, 404);
    /// ```
    pub fn new() -> Self {
        Self::default()
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
        self.routes.push(Route {
            method,
            pattern: pattern.into(),
            segments: split(pattern).count(),
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
        let path: Vec<&str> = split(req.path()).collect();
        let mut path_matched = false;
        for route in &self.routes {
            let Some(params) = matches(route, &path) else {
                continue;
            };
            path_matched = true;
            if !route.method.eq_ignore_ascii_case(req.method()) {
                continue;
            }
            let mut req = req.clone();
            req.params = params;
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

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn matches(route: &Route, path: &[&str]) -> Option<Vec<(String, String)>> {
    if route.segments != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, s) in split(&route.pattern).zip(path) {
        match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => params.push((name.to_string(), (*s).to_string())),
            None if p == *s => {}
            None => return None,
        }
    }
    Some(params)
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
}
