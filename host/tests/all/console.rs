//! The superadmin console in a real headless Chromium against a real server: sign in,
//! create a tenant and its admin, switch POS on and see the tenant's call succeed, switch
//! it off with confirmation, a refused form field, maintenance on and off, an expired
//! session, a tenant user turned away; no page errors, no CSP violation, nothing fetched
//! from elsewhere. Screenshots of every page land in `target/screenshots/`.

use crate::common;

use common::browser::Browser;
use common::{Backend, SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD, TestServer};
use fantoccini::key::Key;
use reqwest::Method;
use serde_json::{Value, json};

async fn console_walkthrough(backend: Backend) {
    let server = TestServer::start(backend).await;
    let b = Browser::start(&format!("console-{backend:?}").to_lowercase()).await;

    // `/` leads to the console, which asks for a sign-in.
    b.goto(&server.url("/")).await;
    b.find("form#login").await;
    assert!(
        b.client.current_url().await.unwrap().path() == "/console/",
        "/ redirects to the console"
    );
    b.shot("login").await;

    // A wrong password: the API's error, with its code, in the form.
    b.fill("#f-email", SUPERADMIN_EMAIL).await;
    b.fill("#f-password", "not the password").await;
    b.click("form#login button[type=submit]").await;
    b.see("UNAUTHORIZED").await;

    // Signing in works from the keyboard: Enter in the password field submits.
    b.fill("#f-password", SUPERADMIN_PASSWORD).await;
    b.press("#f-password", Key::Enter).await;
    b.see("Create tenant").await;
    assert_eq!(b.text("h1").await, "Tenants");

    // Create a tenant: the console opens its page.
    b.fill("#f-name", "Bistro Console").await;
    b.click("form.inline:has(#f-name) button[type=submit]")
        .await;
    b.see("Feature flags").await;
    assert_eq!(b.text("h1").await, "Bistro Console");
    let url = b.client.current_url().await.unwrap();
    let tenant = url
        .fragment()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    // A password the API refuses: its message next to the password field.
    b.fill("section:has(#users-h) #f-email", "owner@bistro.test")
        .await;
    b.fill("section:has(#users-h) #f-password", "short").await;
    b.click("section:has(#users-h) button[type=submit]").await;
    b.see("VALIDATION").await;
    let beside = b
        .text("section:has(#users-h) .field-error[data-field=password]")
        .await;
    assert!(!beside.is_empty(), "the refusal shows next to the field");
    b.shot("field-error").await;
    b.fill("section:has(#users-h) #f-password", "owner-password-1")
        .await;
    b.click("section:has(#users-h) button[type=submit]").await;
    b.see("owner@bistro.test can sign in").await;
    let owner = server.login("owner@bistro.test", "owner-password-1").await;

    // A service token: its secret is shown once and works; revoked, it no longer does.
    b.fill("section:has(#tokens-h) #f-name", "synthetic check")
        .await;
    b.click("section:has(#tokens-h) button[type=submit]").await;
    let secret = b.text("#token-value").await;
    assert!(secret.starts_with("nova_st_"), "{secret}");
    assert_eq!(server.get(&secret, "/v1/portal/me").await.0, 200);
    b.shot("service-token").await;
    b.click("button[aria-label='Revoke token synthetic check']")
        .await;
    b.click("dialog.confirm button.danger").await;
    b.see("Token synthetic check is revoked.").await;
    assert_eq!(server.get(&secret, "/v1/portal/me").await.0, 401);
    assert!(
        !b.text("body").await.contains(&secret),
        "the secret is not shown again"
    );

    // Switch POS on: the tenant's call succeeds, and the toggle is audited.
    let (status, _) = server.get(&owner, "/v1/portal/pos/tickets").await;
    assert_eq!(status, 403, "POS is off for a new tenant");
    b.click("button[aria-label='Switch pos on for Bistro Console']")
        .await;
    b.see("pos is on for Bistro Console").await;
    b.shot("tenant").await;
    let (status, _) = server.get(&owner, "/v1/portal/pos/tickets").await;
    assert_eq!(status, 200, "POS answers once the console switched it on");
    let admin = server.superadmin().await;
    let (_, audit) = server
        .get(&admin, &format!("/v1/superadmin/audit?tenantId={tenant}"))
        .await;
    assert!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == SUPERADMIN_EMAIL
                && e["action"].as_str().unwrap().contains("toggle")),
        "the console's toggle is audited as the operator: {audit}"
    );

    // Activity shows the toggle as before → after, and the tenant's call; a request id
    // opens every record of that request.
    b.goto(&server.url(&format!("/console/#/activity?view=audit&tenantId={tenant}")))
        .await;
    b.see("pos: unset → on").await;
    b.shot("activity-audit").await;
    b.goto(&server.url(&format!(
        "/console/#/activity?view=invocations&tenantId={tenant}"
    )))
    .await;
    b.see("GET /tickets").await;
    b.shot("activity-invocations").await;
    b.click("td[data-label=Request] a").await;
    b.see("Invocations").await;
    b.see("GET /tickets").await;
    b.goto(&server.url(&format!("/console/#/tenants/{tenant}")))
        .await;

    // Switching off asks first, and says what will happen; cancelling changes nothing.
    b.click("button[aria-label='Switch pos off for Bistro Console']")
        .await;
    b.see("No call of pos is running for Bistro Console now.")
        .await;
    b.shot("confirm-off").await;
    // Escape closes the question without doing anything.
    b.press("dialog.confirm", Key::Escape).await;
    let (status, _) = server.get(&owner, "/v1/portal/pos/tickets").await;
    assert_eq!(status, 200, "cancelled: POS stays on");
    b.click("button[aria-label='Switch pos off for Bistro Console']")
        .await;
    b.click("dialog.confirm button.danger").await;
    b.see("pos is off for Bistro Console").await;
    let (status, body) = server.get(&owner, "/v1/portal/pos/tickets").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("MODULE_DISABLED"))
    );

    // The list finds it by name, any case.
    b.goto(&server.url("/console/#/tenants?q=bistro")).await;
    b.see("Bistro Console").await;
    b.shot("tenants").await;

    // Maintenance on, with a message tenants' writes get; then off.
    b.click("#nav a[href='#/maintenance']").await;
    b.fill("#f-message", "Upgrading the database").await;
    b.click("form.card button[type=submit]").await;
    b.click("dialog.confirm button.danger").await;
    b.see("Maintenance mode is on.").await;
    b.shot("maintenance").await;
    let (status, body) = server
        .send(
            Method::POST,
            &owner,
            "/v1/portal/support/tickets",
            &json!({"subject": "s", "body": "b", "severity": "S4"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("MAINTENANCE"))
    );
    b.click("form.card button[type=submit]").await;
    b.see("Maintenance mode is off.").await;
    b.see("Upgrading the database").await;

    // A preset made in the console, then a registration approved with it: the new tenant
    // gets the plan's modules (Core: POS) and the preset's overrides (support).
    b.click("#nav a[href='#/presets']").await;
    b.fill("form.card #f-name", "with-support").await;
    b.fill("form.card #f-description", "Support beside the plan")
        .await;
    b.find("select[name='module-support'] option[value='on']")
        .await
        .click()
        .await
        .unwrap();
    b.click("form.card button[type=submit]").await;
    b.see("Preset with-support is saved.").await;
    b.see("support on").await;
    b.shot("presets").await;
    for (name, email) in [
        ("Cafe Approved", "a@cafe.test"),
        ("Cafe Rejected", "r@cafe.test"),
    ] {
        let asked = reqwest::Client::new()
            .post(server.url("/v1/registrations"))
            .json(&json!({"restaurantName": name, "email": email, "password": "cafe-password-1", "plan": "Core"}))
            .send()
            .await
            .unwrap();
        assert_eq!(asked.status(), 202);
    }
    b.click("#nav a[href='#/registrations']").await;
    b.see("Cafe Approved").await;
    b.shot("registrations").await;
    // Rejecting without a reason: the API's refusal shows beside the reason.
    b.click("tr:has(td[data-label=Restaurant]) + tr button[name=reject]")
        .await;
    b.click("dialog.confirm button.danger").await;
    b.see("VALIDATION").await;
    assert!(
        !b.text("tr:has(td[data-label=Restaurant]) + tr .field-error[data-field=reason]")
            .await
            .is_empty()
    );
    b.fill(
        "tr:has(td[data-label=Restaurant]) + tr input[name=reason]",
        "Outside our area",
    )
    .await;
    b.click("tr:has(td[data-label=Restaurant]) + tr button[name=reject]")
        .await;
    b.click("dialog.confirm button.danger").await;
    b.see("Cafe Rejected was rejected.").await;
    b.find("tr select[name=preset] option[value='with-support']")
        .await
        .click()
        .await
        .unwrap();
    b.click("tr button[name=approve]").await;
    b.see("Cafe Approved is a tenant on Core now.").await;
    let (_, page) = server
        .get(&admin, "/v1/superadmin/tenants?q=Cafe%20Approved")
        .await;
    let modules = page["tenants"][0]["modules"].as_array().unwrap();
    assert!(
        modules.iter().any(|m| m == "support"),
        "the preset switched support on beside Core's POS: {page}"
    );

    // Modules: a file that is no component is refused with the reason; a component is
    // installed from its file and shows its versions and grants.
    let files = tempfile::tempdir().unwrap();
    let bad = files.path().join("bad.wasm");
    std::fs::write(&bad, b"not a component").unwrap();
    let good = files.path().join("hello.wasm");
    std::fs::write(&good, common::guests::TRIVIAL).unwrap();
    b.click("#nav a[href='#/modules']").await;
    b.see("Install a component").await;
    b.fill("#f-name", "hello").await;
    b.find("#f-body")
        .await
        .send_keys(bad.to_str().unwrap())
        .await
        .unwrap();
    b.click("form.inline button[type=submit]").await;
    b.see("INVALID_COMPONENT").await;
    b.shot("modules-refused").await;
    b.goto(&server.url("/console/#/tenants")).await;
    b.see("Create tenant").await;
    b.click("#nav a[href='#/modules']").await;
    // The tenants page has a #f-name too: wait for the modules page to replace it.
    b.see("Install a component").await;
    b.fill("#f-name", "hello").await;
    b.find("#f-body")
        .await
        .send_keys(good.to_str().unwrap())
        .await
        .unwrap();
    b.click("form.inline button[type=submit]").await;
    b.see("hello version 1 is installed and active").await;
    b.see("declares no capabilities").await;
    b.shot("module").await;
    let (status, _) = server
        .get(&admin, "/v1/superadmin/modules/hello/versions")
        .await;
    assert_eq!(status, 200, "installed through the console");

    // Support: the tenant's S1 ticket is in triage; the operator answers it from its thread.
    server.toggle(&admin, &tenant, "support", true).await;
    let (status, opened) = server
        .send(
            Method::POST,
            &owner,
            "/v1/portal/support/tickets",
            &json!({"subject": "Till offline", "body": "No receipts since noon", "severity": "S1"}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    b.click("#nav a[href='#/support']").await;
    b.see("Till offline").await;
    b.shot("support").await;
    b.click("td[data-label=Subject] a").await;
    b.see("No receipts since noon").await;
    b.fill("#f-body", "We are on it: restart the till while we check.")
        .await;
    b.click("form.card button[type=submit]").await;
    b.see("Your reply is sent.").await;
    b.see("We are on it").await;
    b.shot("ticket").await;
    let (_, thread) = server
        .get(
            &owner,
            &format!("/v1/portal/support/tickets/{}", opened["id"]),
        )
        .await;
    assert_eq!(thread["replies"][0]["fromSupport"], true, "{thread}");

    // Billing: an event for a tenant that does not exist yet fails; once the tenant exists,
    // the operator replays it from the console and it is processed.
    let _worker = server.spawn_worker("console-worker");
    let ghost = "00000000-0000-4000-8000-00000console";
    let (status, accepted) = server
        .post_billing(&json!({"id": "evt_console", "type": "subscription.created",
            "data": {"tenantId": ghost, "planId": "6a1f7c0e-3b1d-4c55-9a43-0c7e2f0b9d11"}}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let event_id = accepted["id"].as_str().unwrap().to_string();
    let failed = server.settled_event(&admin, &event_id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, 'Late Cafe', 0)")
        .bind(ghost)
        .execute(server.db().pool())
        .await
        .unwrap();
    b.click("#nav a[href='#/billing']").await;
    b.see("gave up after 3 attempts").await;
    b.shot("billing").await;
    b.click("button[aria-label='Replay evt_console']").await;
    b.see("evt_console is queued again.").await;
    let replayed = server.settled_event(&admin, &event_id).await;
    assert_eq!(replayed["status"], "processed", "{replayed}");

    // Announcements: a window that ends before it starts is refused beside the field.
    b.click("#nav a[href='#/announcements']").await;
    b.fill("#f-title", "Card payments down").await;
    b.fill("#f-body", "Card payments are down; cash works.")
        .await;
    b.client
        .execute(
            "document.getElementById('f-start').value = '2026-12-02T10:00'; \
             document.getElementById('f-maintenanceWindow').value = '2026-12-02T09:00';",
            vec![],
        )
        .await
        .unwrap();
    b.click("form.card > button[type=submit]").await;
    b.see("VALIDATION").await;
    assert!(
        !b.text(".field-error[data-field=maintenanceWindow]")
            .await
            .is_empty()
    );
    b.client
        .execute(
            "document.getElementById('f-maintenanceWindow').value = '2026-12-02T11:00';",
            vec![],
        )
        .await
        .unwrap();
    b.click("form.card > button[type=submit]").await;
    b.see("Announced; tenant admins get it by mail.").await;
    b.see("every tenant").await;
    b.shot("announcements").await;

    // Analytics draws today's toggles (on and off); mail shows the outbox, where switching
    // maintenance off announced the end to every tenant admin.
    b.click("#nav a[href='#/analytics']").await;
    b.find("svg.chart rect.up").await;
    b.find("svg.chart rect.down").await;
    b.shot("analytics").await;
    b.click("#nav a[href='#/mail']").await;
    b.see("No SMTP server is configured").await;
    b.see("[Nova] Maintenance complete").await;
    b.see("[Nova] Card payments down").await;
    b.see("owner@bistro.test").await;
    b.shot("mail").await;

    // Nothing went wrong in the page, and nothing came from anywhere but this server.
    assert_eq!(b.page_errors().await, Vec::<String>::new());
    for url in b.fetched().await {
        assert!(
            url.starts_with(&server.url("/")),
            "fetched from elsewhere: {url}"
        );
    }

    // At phone width every page still reads: one screenshot of each.
    b.client.set_window_size(390, 844).await.unwrap();
    b.goto(&server.url("/console/#/tenants")).await;
    b.see("Bistro Console").await;
    b.shot("tenants-phone").await;
    b.goto(&server.url(&format!("/console/#/tenants/{tenant}")))
        .await;
    b.see("Feature flags").await;
    b.shot("tenant-phone").await;
    for (page, heading) in [
        ("registrations", "Registrations"),
        ("presets", "Presets"),
        ("modules", "Modules"),
        ("activity", "Activity"),
        ("billing", "Billing"),
        ("support", "Support"),
        ("announcements", "Announcements"),
        ("maintenance", "Maintenance"),
        ("analytics", "Analytics"),
        ("mail", "Mail"),
    ] {
        b.goto(&server.url(&format!("/console/#/{page}"))).await;
        b.see(heading).await;
        b.find("main h1").await;
        b.shot(&format!("{page}-phone")).await;
    }
    b.client.set_window_size(1280, 800).await.unwrap();

    // A session the API no longer accepts goes back to sign-in, saying why.
    b.client
        .execute(
            "sessionStorage.setItem('nova.console.token', 'expired.or.revoked');",
            vec![],
        )
        .await
        .unwrap();
    b.goto(&server.url("/console/#/maintenance")).await;
    b.see("Your session has expired").await;
    b.find("form#login").await;

    // A restaurant's user is sent to the tenant portal, and gets no session here.
    b.fill("#f-email", "owner@bistro.test").await;
    b.fill("#f-password", "owner-password-1").await;
    b.click("form#login button[type=submit]").await;
    b.see("This console is for Nova's operators").await;
    let kept: Value = b
        .client
        .execute(
            "return sessionStorage.getItem('nova.console.token');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, Value::Null);
    b.shot("tenant-user").await;

    assert_eq!(b.page_errors().await, Vec::<String>::new());
    b.close().await;
}

/// The console's files carry a strict Content-Security-Policy.
async fn console_is_served_with_a_strict_policy(backend: Backend) {
    let server = TestServer::start(backend).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = http.get(server.url("/")).send().await.unwrap();
    assert!(root.status().is_redirection());
    assert_eq!(root.headers()["location"], "/console/");
    for path in ["/console/", "/console/js/app.js", "/console/style.css"] {
        let resp = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    }
    let missing = http
        .get(server.url("/console/js/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

both_backends!(console_walkthrough, console_is_served_with_a_strict_policy);
