//! Methods, paths and query strings from clients, routed inside a module by the SDK: any
//! input ends in a response with a valid status.
#![no_main]

use nova_sdk::{Request, Response, Router};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (method, rest) = text.split_once(' ').unwrap_or(("GET", &text));
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let router = Router::new()
        .get("/tickets", |_r| Response::text(200, "list"))
        .get("/tickets/{id}", |r| {
            Response::text(200, r.param("id").unwrap_or(""))
        })
        .post("/tickets/{id}/lines", |_r| Response::text(201, "line"));
    let req = Request::new(method, path, query, data);
    let status = router.handle(&req).status;
    assert!((200..600).contains(&status));
    let _ = req.query("x");
});
