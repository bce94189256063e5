//! Invocation records and audit events for the console's Activity page: pages through a
//! cursor, a time range, every record of one request, and 400s naming a bad parameter.

use crate::common;

use common::{Backend, TestServer};
use serde_json::Value;

fn ids(page: &Value, key: &str) -> Vec<String> {
    page[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

async fn activity_pages_and_ranges(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, user) = server.tenant(&admin, "Activity Cafe").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    for _ in 0..5 {
        assert_eq!(server.get(&user, "/v1/portal/pos/tickets").await.0, 200);
    }

    // Five records, two at a time, newest first, each once.
    let mut seen = Vec::new();
    let mut path = format!("/v1/superadmin/invocations?tenantId={tenant}&limit=2");
    loop {
        let (status, page) = server.get(&admin, &path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page, "invocations"));
        match page["nextCursor"].as_str() {
            Some(c) => {
                path = format!("/v1/superadmin/invocations?tenantId={tenant}&limit=2&cursor={c}")
            }
            None => break,
        }
    }
    let (_, all) = server
        .get(
            &admin,
            &format!("/v1/superadmin/invocations?tenantId={tenant}"),
        )
        .await;
    assert_eq!(seen, ids(&all, "invocations"));
    assert_eq!(seen.len(), 5);

    // A time range: everything falls inside today, nothing before 2020 or after 2100.
    for (range, expected) in [
        ("since=2020-01-01T00:00:00Z", 5),
        ("until=2020-01-01T00:00:00Z", 0),
        ("since=2100-01-01T00:00:00Z", 0),
    ] {
        let (_, page) = server
            .get(
                &admin,
                &format!("/v1/superadmin/invocations?tenantId={tenant}&{range}"),
            )
            .await;
        assert_eq!(
            page["invocations"].as_array().unwrap().len(),
            expected,
            "{range}"
        );
    }

    // Every audit row of one request: the toggle's.
    let (_, audit) = server
        .get(
            &admin,
            &format!("/v1/superadmin/audit?tenantId={tenant}&limit=1"),
        )
        .await;
    let toggle = &audit["events"][0];
    let rid = toggle["requestId"].as_str().unwrap();
    let (_, same) = server
        .get(&admin, &format!("/v1/superadmin/audit?requestId={rid}"))
        .await;
    assert_eq!(
        ids(&same, "events"),
        vec![toggle["id"].as_str().unwrap().to_string()]
    );
    assert_eq!(same["nextCursor"], Value::Null);

    for (list, query, field) in [
        ("invocations", "since=yesterday", "since"),
        ("invocations", "until=2026-13-01T00:00:00Z", "until"),
        ("invocations", "cursor=nope", "cursor"),
        ("audit", "since=1", "since"),
        ("audit", "cursor=5_", "cursor"),
    ] {
        let (status, body) = server
            .get(&admin, &format!("/v1/superadmin/{list}?{query}"))
            .await;
        assert_eq!(status, 400, "{list}?{query}");
        assert_eq!(body["error"]["field"], field, "{list}?{query}");
    }
}

both_backends!(activity_pages_and_ranges);
