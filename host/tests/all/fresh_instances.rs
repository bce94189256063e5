//! A fresh instance starts from its module's own initial memory, whichever slot of the
//! instance pool it gets and whoever's call used that slot before: the guarantee a module
//! that does not opt in to reuse relies on, and the one a faster way of resetting slots must
//! keep (docs/PERFORMANCE.md, "Fresh instances"). The hostile guest's `/residue` reports
//! whether its statics still hold their initial bytes and the pages it grows are zero, then
//! marks them.

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

/// Calls of two tenants, half of them growing memory by 1 MiB, 8 at a time: none finds what
/// another wrote.
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

/// One tenant's calls one at a time, enough of them that slots come back to the pool (they
/// are given back in batches) and are taken again; nothing here checks that one was.
async fn sequential_calls_each_start_clean(backend: Backend) {
    let (server, tokens) = probe_server(backend, &["Alpha"]).await;
    for i in 0..48 {
        let pages = if i % 3 == 0 { 16 } else { 0 };
        assert!(clean(&server, &tokens[0], pages).await, "call {i}");
    }
}

/// Another module with a smaller initial memory (`notes`: 128 KiB against the probe's 192 KiB)
/// takes turns with the probe: its heap lies where the probe's zeroed static does, so a
/// slot's kept pages that were not reset between two modules would show in the probe. Enough
/// calls that slots come back from their decommit batches and go to the other module;
/// nothing here checks that one did.
async fn another_modules_calls_leave_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, token) = server.tenant(&admin, "Alpha").await;
    for (name, component) in [("probe", guests::HOSTILE), ("notes", guests::NOTES)] {
        assert_eq!(server.install(&admin, name, component).await.status(), 201);
        server.toggle(&admin, &tenant, name, true).await;
    }
    for i in 0..48 {
        let (status, view) = server.get(&token, "/v1/portal/notes/_views/notes").await;
        assert_eq!(status, 200, "{view}");
        assert!(clean(&server, &token, 0).await, "call {i}");
    }
}

both_backends!(
    no_call_sees_what_an_earlier_call_wrote,
    sequential_calls_each_start_clean,
    another_modules_calls_leave_nothing,
);
