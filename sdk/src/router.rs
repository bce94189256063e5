//! Routing a request to a handler by method and path.

use crate::{Error, Request, Response};

/// A handler: a function (or non-capturing closure) from a request to a response.
pub type Handler = Box<dyn Fn(&Request) -> Result<Response, Error>>;

struct Route {
    method: &'static str,
    segments: Vec<String>,
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
            segments: split(pattern).map(str::to_string).collect(),
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
            let Some(params) = matches(&route.segments, &path) else {
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

fn matches(pattern: &[String], path: &[&str]) -> Option<Vec<(String, String)>> {
    if pattern.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, s) in pattern.iter().zip(path) {
        match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => params.push((name.to_string(), (*s).to_string())),
            None if p == s => {}
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
