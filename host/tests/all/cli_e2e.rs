//! The README walk-through with the real `nova` binary: `nova superadmin create`, `nova
//! serve` on a loopback port, HTTP calls, a restart, and `nova module install`.

use crate::common;

use common::process::{Nova, stop};
use common::{Backend, guests};
use serde_json::{Value, json};

async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn readme_walkthrough(backend: Backend) {
    let nova = Nova::new(backend).await;
    let created = nova.run(&[
        "superadmin",
        "create",
        "--email",
        "ops@example.com",
        "--password",
        "s3cret-pass",
    ]);
    assert!(
        created.contains("superadmin ops@example.com created"),
        "{created}"
    );
    let http = reqwest::Client::new();
    let (child, base) = nova.serve();

    let (status, ready) = json(http.get(format!("{base}/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(
        ready["modules"],
        json!(["billing", "pos", "support"]),
        "bundled modules installed at start"
    );

    let login = |email: &'static str, password: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let (status, body) = json(
                http.post(format!("{base}/auth/login"))
                    .json(&json!({"email": email, "password": password}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body["token"].as_str().unwrap().to_string()
        }
    };
    let admin = login("ops@example.com", "s3cret-pass").await;
    let (status, tenant) = json(
        http.post(format!("{base}/v1/superadmin/tenants"))
            .bearer_auth(&admin)
            .json(&json!({"name": "Trattoria"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let tid = tenant["id"].as_str().unwrap().to_string();
    let (status, _) = json(
        http.post(format!("{base}/v1/superadmin/tenants/{tid}/users"))
            .bearer_auth(&admin)
            .json(&json!({"email": "anna@trattoria.test", "password": "anna-password", "role": "admin"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    let anna = login("anna@trattoria.test", "anna-password").await;
    let (status, state) = json(
        http.put(format!("{base}/v1/superadmin/tenants/{tid}/modules/pos"))
            .bearer_auth(&admin)
            .json(&json!({"enabled": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, state["enabled"].clone()), (200, json!(true)));
    let (status, ticket) = json(
        http.post(format!("{base}/v1/portal/pos/tickets"))
            .bearer_auth(&anna)
            .json(
                &json!({"table": "7", "items": [{"name": "Pizza", "qty": 2, "priceCents": 1150}]}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(ticket["totalCents"], 2300);
    let (_, records) = json(
        http.get(format!(
            "{base}/v1/superadmin/invocations?tenantId={tid}&module=pos&outcome=ok"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(records["invocations"].as_array().unwrap().len(), 1);
    stop(child);

    // A second module installed from the command line; the restarted server loads both and
    // keeps the ticket.
    let wasm = nova.data_dir.path().join("probe.wasm");
    std::fs::write(&wasm, guests::TRIVIAL).unwrap();
    let out = nova.run(&[
        "module",
        "install",
        wasm.to_str().unwrap(),
        "--name",
        "probe",
    ]);
    assert!(out.contains("installed probe version 1"), "{out}");
    // It says where it went, and when running servers take it.
    let into = match backend {
        Backend::Sqlite => format!(
            "the SQLite database {}",
            nova.data_dir.path().join("nova.db").display()
        ),
        Backend::Postgres => "the database postgres".to_string(),
    };
    assert!(out.contains(&into), "{out}");
    assert!(out.contains("switch to it within 5 s"), "{out}");
    let (child, base) = nova.serve();
    let (_, ready) = json(http.get(format!("{base}/readyz")).send().await.unwrap()).await;
    assert_eq!(
        ready["modules"],
        json!(["billing", "pos", "probe", "support"])
    );
    let (status, got) = json(
        http.get(format!("{base}/v1/portal/pos/tickets/{}", ticket["id"]))
            .bearer_auth(&anna)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(got, ticket);
    // Through the running server's API: served at once, no restart.
    let out = nova.run(&[
        "module",
        "install",
        wasm.to_str().unwrap(),
        "--name",
        "probe-api",
        "--api-url",
        &base,
        "--token",
        &admin,
    ]);
    assert!(out.contains("installed probe-api version 1"), "{out}");
    let (_, ready) = json(http.get(format!("{base}/readyz")).send().await.unwrap()).await;
    assert_eq!(
        ready["modules"],
        json!(["billing", "pos", "probe", "probe-api", "support"])
    );
    stop(child);

    // A data directory no server uses is not created by accident.
    if backend == Backend::Sqlite {
        let elsewhere = nova.data_dir.path().join("elsewhere");
        let out = nova
            .command()
            .args([
                "module",
                "install",
                wasm.to_str().unwrap(),
                "--name",
                "lost",
            ])
            .args(["--data-dir", elsewhere.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("there is no Nova database"), "{err}");
        assert!(!elsewhere.exists(), "nothing was created");
    }

    let out = nova
        .command()
        .args(["module", "install", "/nonexistent.wasm", "--name", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = nova
        .command()
        .args([
            "superadmin",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "s3cret-pass",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "duplicate superadmin refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

async fn seed_and_key_commands(backend: Backend) {
    let nova = Nova::new(backend).await;
    let out = nova.run(&[
        "seed",
        "tenant",
        "--name",
        "Seeded Bistro",
        "--email",
        "chef@seeded.test",
        "--password",
        "chef-password",
        "--plan",
        "Pro",
        "--preset",
        "pos-only",
    ]);
    assert!(out.contains("on plan Pro"), "{out}");
    let out = nova
        .command()
        .args([
            "seed",
            "tenant",
            "--name",
            "X",
            "--email",
            "x@y.test",
            "--password",
            "long enough",
            "--plan",
            "Gold",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "unknown plan refused");
    let rotated = nova.run(&["keys", "rotate"]);
    assert!(rotated.starts_with("new signing key "), "{rotated}");

    // The seeded owner logs in and sees Pro with the pos-only preset applied.
    let (child, base) = nova.serve();
    let http = reqwest::Client::new();
    let (status, login) = json(
        http.post(format!("{base}/auth/login"))
            .json(&json!({"email": "chef@seeded.test", "password": "chef-password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let token = login["token"].as_str().unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    assert!(
        rotated.contains(&kid),
        "tokens are signed with the newest key ({kid})"
    );
    let (_, me) = json(
        http.get(format!("{base}/v1/portal/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["plan"]["name"], "Pro");
    assert_eq!(me["modules"], json!(["pos"]));
    stop(child);
}

both_backends!(readme_walkthrough, seed_and_key_commands);
