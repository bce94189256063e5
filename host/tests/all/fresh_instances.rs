//! A fresh instance starts from its module's own initial memory, whichever slot of the
//! instance pool it gets and whoever's call used that slot before. On kernels with
//! PAGEMAP_SCAN the host keeps the pages a call wrote and puts them back in place for the
//! next call (docs/PERFORMANCE.md), so this is what would show it if that went wrong.
//! The hostile guest's `/residue` (a module that does not opt in to reuse) reports whether
//! its static buffer and the pages it grows are still zero, then marks them.

use crate::common;

use common::{Backend, TestServer, guests};

/// A server with the hostile guest installed as `probe` and switched on for `tenants` new
/// tenants; their users' tokens.
async fn probe_server(backend: Backend, tenants: &[&str]) -> (TestServer, Vec<String>) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let resp = server.install(&admin, "probe", guests::HOSTILE).await;
    assert_eq!(resp.status(), 201);
    let mut tokens = Vec::new();
    for name in tenants {
        let (tenant, token) = server.tenant(&admin, name).await;
        server.toggle(&admin, &tenant, "probe", true).await;
        tokens.push(token);
    }
    (server, tokens)
}

/// One `/residue` call growing `pages` pages: true when it found nothing of another call.
async fn clean(server: &TestServer, token: &str, pages: u32) -> bool {
    let path = format!("/v1/portal/probe/residue?pages={pages}");
    let (status, body) = server.get(token, &path).await;
    assert_eq!(status, 200, "{body}");
    body == serde_json::json!({"static": true, "grown": true})
}

/// Calls of two tenants, some growing memory past what is reset on the calling thread (1
/// MiB more) and some not, 8 at a time: none finds what another wrote.
async fn no_call_sees_what_an_earlier_call_wrote(backend: Backend) {
    let (server, tokens) = probe_server(backend, &["Alpha", "Bravo"]).await;
    let server = &server;
    let calls = (0..64).map(|i| {
        let token = &tokens[i % 2];
        let pages = if i % 4 < 2 { 0 } else { 16 };
        async move { (pages, clean(server, token, pages).await) }
    });
    use futures_util::StreamExt;
    let answers: Vec<_> = futures_util::stream::iter(calls)
        .buffer_unordered(8)
        .collect()
        .await;
    assert_eq!(answers.len(), 64);
    for (pages, clean) in answers {
        assert!(
            clean,
            "a call growing {pages} pages found an earlier call's marks"
        );
    }
}

/// The same one call at a time: each call's instance most likely gets the slot the call
/// before it left (the pool prefers a module's own slots).
async fn sequential_calls_each_start_clean(backend: Backend) {
    let (server, tokens) = probe_server(backend, &["Alpha"]).await;
    for pages in [0, 0, 16, 0, 16, 16, 0] {
        assert!(
            clean(&server, &tokens[0], pages).await,
            "after {pages} pages"
        );
    }
}

both_backends!(
    no_call_sees_what_an_earlier_call_wrote,
    sequential_calls_each_start_clean,
);
