//! Requests and responses as a module sees them.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// A request routed to this module.
///
/// ```
/// use nova_sdk::Request;
/// let req = Request::new("GET", "/tickets", "limit=5", b"");
/// assert_eq!(req.query("limit").as_deref(), Some("5"));
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    pub(crate) params: Vec<(String, String)>,
}

impl Request {
    /// A request with no headers (for tests).
    ///
    /// ```
    /// let req = nova_sdk::Request::new("POST", "/tickets", "", br#"{"table":"4"}"#);
    /// assert_eq!(req.method(), "POST");
    /// ```
    pub fn new(method: &str, path: &str, query: &str, body: &[u8]) -> Self {
        Self::from_raw(
            method.to_string(),
            path.to_string(),
            query.to_string(),
            Vec::new(),
            body.to_vec(),
        )
    }

    pub(crate) fn from_raw(
        method: String,
        path: String,
        query: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Self {
        Self {
            method,
            path,
            query,
            headers,
            body,
            params: Vec::new(),
        }
    }

    /// Upper-case method.
    ///
    /// ```
    /// assert_eq!(nova_sdk::Request::new("GET", "/", "", b"").method(), "GET");
    /// ```
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Path inside the module, starting with `/`.
    ///
    /// ```
    /// assert_eq!(nova_sdk::Request::new("GET", "/a/b", "", b"").path(), "/a/b");
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A path parameter captured by a `{name}` segment of the route.
    ///
    /// ```
    /// use nova_sdk::{Request, Response, Router};
    /// let router = Router::new().get("/tickets/{id}", |req| Response::text(200, req.param("id").unwrap_or("")));
    /// let resp = router.handle(&Request::new("GET", "/tickets/42", "", b""));
    /// assert_eq!(resp.body, b"42");
    /// ```
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter, percent-decoded.
    ///
    /// ```
    /// let req = nova_sdk::Request::new("GET", "/", "q=a%20b&x=1", b"");
    /// assert_eq!(req.query("q").as_deref(), Some("a b"));
    /// assert_eq!(req.query("missing"), None);
    /// ```
    pub fn query(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The query string read into a type: numbers, booleans and enums parsed, optional
    /// parameters as `Option`. A bad or missing parameter is a 400 `VALIDATION` naming it.
    ///
    /// ```
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Page { limit: Option<u32>, cursor: Option<String> }
    ///
    /// let req = nova_sdk::Request::new("GET", "/members", "limit=20", b"");
    /// let page: Page = req.query_as().unwrap();
    /// assert_eq!((page.limit, page.cursor), (Some(20), None));
    ///
    /// let bad = nova_sdk::Request::new("GET", "/members", "limit=lots", b"");
    /// let e = bad.query_as::<Page>().unwrap_err();
    /// assert_eq!((e.status, e.field.as_deref()), (400, Some("limit")));
    /// ```
    pub fn query_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        crate::input::query(&self.query)
    }

    /// A header's value (names are lower-case).
    ///
    /// ```
    /// let req = nova_sdk::Request::new("GET", "/", "", b"");
    /// assert_eq!(req.header("content-type"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The raw body.
    ///
    /// ```
    /// assert_eq!(nova_sdk::Request::new("POST", "/", "", b"hi").body(), b"hi");
    /// ```
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body parsed as JSON. A malformed or mistyped body is a 400 `VALIDATION` error
    /// whose `field` is the path of the value at fault (`items[0].qty`), or `body` when the
    /// body as a whole is wrong.
    ///
    /// ```
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Line { qty: u32 }
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Ticket { table: String, items: Vec<Line> }
    ///
    /// let req = nova_sdk::Request::new("POST", "/", "", br#"{"table":"4","items":[]}"#);
    /// assert_eq!(req.json::<Ticket>().unwrap().table, "4");
    ///
    /// let bad = nova_sdk::Request::new("POST", "/", "", br#"{"table":"4","items":[{}]}"#);
    /// let e = bad.json::<Ticket>().unwrap_err();
    /// assert_eq!((e.status, e.field.as_deref()), (400, Some("items[0].qty")));
    /// assert_eq!(e.message, "items[0].qty is required");
    ///
    /// let e = nova_sdk::Request::new("POST", "/", "", b"{").json::<Ticket>().unwrap_err();
    /// assert_eq!(e.field.as_deref(), Some("body"));
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        crate::input::json(&self.body)
    }
}

/// A module's answer.
///
/// ```
/// let r = nova_sdk::Response::text(200, "ok").unwrap();
/// assert_eq!(r.status, 200);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status; 500 or more discards the call's writes.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes (at most 1 MiB).
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    ///
    /// ```
    /// let r = nova_sdk::Response::json(201, &serde_json::json!({"id": 1})).unwrap();
    /// assert_eq!(r.body, br#"{"id":1}"#);
    /// ```
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<Self, Error> {
        Ok(Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(value)?,
        })
    }

    /// A portal screen, answered from `GET /_views/{name}` (see [`crate::view`]).
    ///
    /// ```
    /// use nova_sdk::view::View;
    /// let r = nova_sdk::Response::view(&View::new("Members").text("Nobody yet.")).unwrap();
    /// assert_eq!(r.status, 200);
    /// ```
    pub fn view(view: &crate::view::View) -> Result<Self, Error> {
        Self::json(200, view)
    }

    /// The module's portal entry, answered from `GET /_views` (see [`crate::view`]).
    pub fn screens(screens: &crate::view::Screens) -> Result<Self, Error> {
        Self::json(200, screens)
    }

    pub(crate) fn json_value(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    /// A plain-text response.
    ///
    /// ```
    /// assert_eq!(nova_sdk::Response::text(200, "hi").unwrap().body, b"hi");
    /// ```
    #[allow(clippy::unnecessary_wraps)]
    pub fn text(status: u16, body: &str) -> Result<Self, Error> {
        Ok(Self {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        })
    }

    /// A response with no body, such as 204.
    ///
    /// ```
    /// assert!(nova_sdk::Response::empty(204).body.is_empty());
    /// ```
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Add a header.
    ///
    /// ```
    /// let r = nova_sdk::Response::empty(204).with_header("x-total", "3");
    /// assert_eq!(r.headers, vec![("x-total".to_string(), "3".to_string())]);
    /// ```
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }
}
