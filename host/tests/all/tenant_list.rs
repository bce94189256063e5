//! `GET /v1/superadmin/tenants`: pages through a cursor, searches by name or id, shows each
//! tenant's plan and modules, and refuses a cursor it did not give out.

use crate::common;

use common::{Backend, TestServer};

async fn tenants_page_and_search(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let mut made = Vec::new();
    for i in 0..7 {
        let (id, _) = server.tenant(&admin, &format!("Cafe {i} 100%_off")).await;
        made.push(id);
    }
    server.toggle(&admin, &made[3], "pos", true).await;

    // Pages of three, newest first, each tenant once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/superadmin/tenants?limit=3&cursor={c}"),
            None => "/v1/superadmin/tenants?limit=3".into(),
        };
        let (status, page) = server.get(&admin, &path).await;
        assert_eq!(status, 200, "{page}");
        let rows = page["tenants"].as_array().unwrap();
        assert!(rows.len() <= 3);
        seen.extend(rows.iter().map(|t| t["id"].as_str().unwrap().to_string()));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut newest_first = made.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    // Search: part of the name in any case (LIKE's wildcards are plain text), or a whole id.
    let (_, found) = server
        .get(&admin, "/v1/superadmin/tenants?q=CAFE%203")
        .await;
    let rows = found["tenants"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], made[3].as_str());
    assert_eq!(rows[0]["modules"], serde_json::json!(["pos"]));
    assert!(rows[0].get("plan").is_some());
    let (_, wild) = server.get(&admin, "/v1/superadmin/tenants?q=0%25_").await;
    assert_eq!(
        wild["tenants"].as_array().unwrap().len(),
        7,
        "% and _ match themselves"
    );
    let (_, none) = server.get(&admin, "/v1/superadmin/tenants?q=_x%25").await;
    assert!(none["tenants"].as_array().unwrap().is_empty());
    let (_, by_id) = server
        .get(&admin, &format!("/v1/superadmin/tenants?q={}", made[5]))
        .await;
    assert_eq!(by_id["tenants"][0]["id"], made[5].as_str());

    // Bad paging input is a 400 naming the parameter.
    for (query, field) in [
        ("cursor=garbage", "cursor"),
        ("cursor=12_", "cursor"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
    ] {
        let (status, body) = server
            .get(&admin, &format!("/v1/superadmin/tenants?{query}"))
            .await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"]["field"], field, "{query}");
    }
    let long = "x".repeat(201);
    let (status, _) = server
        .get(&admin, &format!("/v1/superadmin/tenants?q={long}"))
        .await;
    assert_eq!(status, 400);
}

both_backends!(tenants_page_and_search);
