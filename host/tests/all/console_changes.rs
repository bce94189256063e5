//! The console's less travelled changes, in a real headless Chromium (SQLite; the
//! walkthrough in `console.rs` covers both backends): a tenant's users, pinning a tenant
//! to a module version and unpinning it, rolling a module back and activating a version,
//! changing grants, editing and deleting a preset, a ticket's severity and assignee, and
//! reaching every control of a page with the keyboard alone. Each change is checked
//! through the API, not only on the screen.

use crate::common;

use common::browser::Browser;
use common::{Backend, SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD, TestServer, guests};
use fantoccini::key::Key;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_changes_reach_the_api() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server.superadmin().await;
    assert_eq!(
        server
            .install(&admin, "probe", guests::TRIVIAL)
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .install(&admin, "probe", guests::HOSTILE)
            .await
            .status(),
        201
    );
    let (tenant, staff) = server.tenant(&admin, "Canary Grill").await;
    server.toggle(&admin, &tenant, "probe", true).await;
    // Version 1 (trivial) has no /counter; version 2 (hostile) has one.
    let counter = "/v1/portal/probe/counter";
    assert_eq!(server.get(&staff, counter).await.0, 200);

    let b = Browser::start("console-changes").await;
    b.goto(&server.url("/console/")).await;
    b.fill("#f-email", SUPERADMIN_EMAIL).await;
    b.fill("#f-password", SUPERADMIN_PASSWORD).await;
    b.click("form#login button[type=submit]").await;
    b.see("Create tenant").await;

    // Every control of the tenants page is reached with Tab, and each says what it is.
    let reached = tab_through(&b).await;
    for name in [
        "Tenants",
        "Modules",
        "Activity",
        "Sign out",
        "Create tenant",
    ] {
        assert!(
            reached.iter().any(|r| r == name),
            "{name} is not reached by Tab: {reached:?}"
        );
    }

    // The tenant's page lists its users: role and last sign-in, no secrets.
    b.goto(&server.url(&format!("/console/#/tenants/{tenant}")))
        .await;
    b.see("Last sign-in").await;
    let users = b.text("section:has(#users-h) table").await;
    assert!(
        users.contains("@canary-grill.test") && users.contains("staff"),
        "{users}"
    );
    // The users and tokens sit below the fold: a shot of them at each width.
    for (width, name) in [(1280, "users"), (390, "users-phone")] {
        b.client.set_window_size(width, 800).await.unwrap();
        b.client
            .execute(
                "document.getElementById('users-h').scrollIntoView();",
                vec![],
            )
            .await
            .unwrap();
        b.shot(name).await;
    }
    b.client.set_window_size(1280, 800).await.unwrap();

    // Pin a version that does not exist: the API's refusal. Then pin version 1.
    let pin_input = "input[aria-label='Version of probe to pin for Canary Grill']";
    let pin_button =
        "form.pin:has(input[aria-label='Version of probe to pin for Canary Grill']) button";
    b.fill(pin_input, "9").await;
    b.click(pin_button).await;
    b.see("VERSION_NOT_FOUND").await;
    b.fill(pin_input, "1").await;
    b.click(pin_button).await;
    b.see("Canary Grill is pinned to probe v1.").await;
    b.see("pinned v1").await;
    b.shot("pinned").await;
    assert_eq!(server.get(&staff, counter).await.0, 404, "runs version 1");
    let (_, audit) = server
        .get(&admin, &format!("/v1/superadmin/audit?tenantId={tenant}"))
        .await;
    assert!(
        audit["events"].as_array().unwrap().iter().any(
            |e| e["actor"] == SUPERADMIN_EMAIL && e["action"].as_str().unwrap().contains("pin")
        ),
        "the pin is audited as the operator: {audit}"
    );

    // Unpinning asks first, then puts the tenant back on the active version.
    b.click("button[aria-label='Unpin probe for Canary Grill']")
        .await;
    b.see("runs the active version of probe from its next call")
        .await;
    b.click("dialog.confirm button.danger").await;
    b.see("Canary Grill runs the active version of probe again.")
        .await;
    assert_eq!(
        server.get(&staff, counter).await.0,
        200,
        "back on version 2"
    );

    // Roll the module back (asked first), then activate version 2 again.
    b.goto(&server.url("/console/#/modules/probe")).await;
    b.see("Capability grants").await;
    b.click("main button.danger").await;
    b.see("moves from version 2 to 1").await;
    b.click("dialog.confirm button.danger").await;
    b.see("probe is back on version 1.").await;
    assert_eq!(server.get(&staff, counter).await.0, 404, "rolled back");
    b.click("button[aria-label='Activate version 2']").await;
    b.click("dialog.confirm button.danger").await;
    b.see("probe version 2 is active.").await;
    assert_eq!(server.get(&staff, counter).await.0, 200, "active again");

    // Grants: tick what the module declares and save; the API has it.
    let grants_path = "/v1/superadmin/modules/probe/grants";
    let (_, grants) = server.get(&admin, grants_path).await;
    let declared: Vec<String> = serde_json::from_value(grants["declared"].clone()).unwrap();
    let granted: Vec<String> = serde_json::from_value(grants["granted"].clone()).unwrap();
    let flip = declared
        .first()
        .expect("the hostile guest declares capabilities")
        .clone();
    b.click(&format!("input[name=capabilities][value='{flip}']"))
        .await;
    b.click("form.card button[type=submit]").await;
    b.see("probe's grants are saved").await;
    b.shot("grants").await;
    let (_, after) = server.get(&admin, grants_path).await;
    let now: Vec<String> = serde_json::from_value(after["granted"].clone()).unwrap();
    assert_eq!(
        now.contains(&flip),
        !granted.contains(&flip),
        "{flip} flipped: {grants} → {after}"
    );

    // A preset is edited (description, probe off) and then deleted.
    let (status, _) = server
        .send(
            Method::POST,
            &admin,
            "/v1/superadmin/module-presets",
            &json!({"name": "weekend", "description": "", "modules": {"probe": true}, "featureFlags": {}}),
        )
        .await;
    assert_eq!(status, 201);
    b.goto(&server.url("/console/#/presets")).await;
    b.click("a[aria-label='Edit preset weekend']").await;
    b.see("Preset weekend").await;
    b.fill("#f-description", "Saturday rush").await;
    b.click("select[name=module-probe] option[value=off]").await;
    b.click("form.card button[type=submit]").await;
    b.see("Preset weekend is saved.").await;
    let weekend = || async {
        let (_, all) = server.get(&admin, "/v1/superadmin/module-presets").await;
        all["presets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "weekend")
            .cloned()
    };
    let saved = weekend().await.expect("the preset is there");
    assert_eq!(saved["description"], "Saturday rush");
    assert_eq!(saved["modules"], json!({"probe": false}));
    b.click("button[aria-label='Delete preset weekend']").await;
    b.click("dialog.confirm button.danger").await;
    b.see("Preset weekend is deleted.").await;
    assert_eq!(weekend().await, None);

    // A ticket's severity and assignee change from its thread.
    server.toggle(&admin, &tenant, "support", true).await;
    let (status, opened) = server
        .send(
            Method::POST,
            &staff,
            "/v1/portal/support/tickets",
            &json!({"subject": "Printer jams", "body": "Every third receipt", "severity": "S3"}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    b.goto(&server.url("/console/#/support")).await;
    b.click("td[data-label=Subject] a").await;
    b.see("Every third receipt").await;
    b.click("select[name=severity] option[value=S1]").await;
    b.click("form.inline:has(select[name=severity]) button")
        .await;
    b.see("Severity changed").await;
    b.fill("#f-assignee", "dana@nova.test").await;
    b.click("form.inline:has(#f-assignee) button").await;
    b.see("Assignee saved.").await;
    b.shot("ticket-changed").await;
    let (_, triage) = server.get(&admin, "/v1/superadmin/support/tickets").await;
    let ticket = triage["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == opened["id"])
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        (&ticket["severity"], &ticket["assignee"]),
        (&json!("S1"), &json!("dana@nova.test")),
        "{triage}"
    );

    assert_eq!(b.page_errors().await, Vec::<String>::new());
    b.close().await;
}

/// Press Tab from the top of the page until focus comes back round, and return the name
/// of every control reached. Fails if a control has no accessible name or no visible focus.
async fn tab_through(b: &Browser) -> Vec<String> {
    // What a screen reader would announce, roughly: aria-label, the label, or the text.
    let describe = r#"
        const el = document.activeElement;
        if (!el || el === document.body) return null;
        const label = el.getAttribute("aria-label")
            || (el.labels && el.labels[0] && el.labels[0].textContent)
            || el.textContent || el.value || "";
        const style = getComputedStyle(el);
        return { name: label.trim(), tag: el.tagName, outline: style.outlineStyle };
    "#;
    b.client
        .execute(
            "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
            vec![],
        )
        .await
        .unwrap();
    let mut reached: Vec<String> = Vec::new();
    // Focus starts where the page put it (the main area); going past the last control
    // leaves the page for a moment, then Tab comes round to the top.
    let mut outside = 0;
    for _ in 0..80 {
        b.client
            .active_element()
            .await
            .unwrap()
            .send_keys(&char::from(Key::Tab).to_string())
            .await
            .unwrap();
        let seen = b.client.execute(describe, vec![]).await.unwrap();
        if seen.is_null() {
            outside += 1;
            assert!(
                outside < 3,
                "Tab never came back into the page: {reached:?}"
            );
            continue;
        }
        let name = seen["name"].as_str().unwrap_or_default().to_string();
        assert!(!name.is_empty(), "a control without a name: {seen}");
        assert_ne!(seen["outline"], "none", "focus is not visible on {seen}");
        if reached.first() == Some(&name) {
            break;
        }
        reached.push(name);
    }
    reached
}
