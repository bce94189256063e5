//! The tenant portal at `/app` in a real headless Chromium against a real server: a
//! restaurant admin signs in, a module built only from `nova-sdk` appears once it is
//! switched on and disappears once it is off (its deep link then says it is not enabled),
//! its form shows the module's refusal next to the field, the maintenance banner shows, and
//! a hostile module's screens are shown inert or refused while the page keeps working.
//! POS runs a sale paid by card through the real payments sandbox, and staff are not
//! offered a void. Screenshots land in `target/screenshots/portal-*.png`.

use crate::common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use common::{Backend, SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD, guests, sandbox};
use reqwest::Method;
use serde_json::json;

const OWNER: &str = "owner@corner-cafe.test";
const PASSWORD: &str = "owner-password-1";
const WAITER: &str = "waiter@corner-cafe.test";

/// Sign out of the portal and in again as `email`.
async fn sign_in_as(b: &Browser, email: &str) {
    b.click("#sign-out").await;
    b.see("You are signed out.").await;
    b.fill("#f-email", email).await;
    b.fill("#f-password", PASSWORD).await;
    b.click("form#login button[type=submit]").await;
    // The header names whoever is signed in, once the portal has drawn their home.
    b.see(&format!("{email} (")).await;
    b.see("Announcements").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_bring_their_screens_to_the_portal() {
    let (server, _sandbox) = sandbox::start(Backend::Sqlite).await;
    let admin = server.superadmin().await;
    assert_eq!(
        server
            .install(&admin, "notes", guests::NOTES)
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .install(&admin, "hostile", guests::HOSTILE)
            .await
            .status(),
        201
    );
    let (tenant, _) = server.tenant(&admin, "Corner Cafe").await;
    let (status, user) = server
        .send(
            Method::POST,
            &admin,
            &format!("/v1/superadmin/tenants/{tenant}/users"),
            &json!({"email": OWNER, "password": PASSWORD, "role": "admin"}),
        )
        .await;
    assert_eq!(status, 201, "{user}");

    let b = Browser::start("portal").await;
    b.goto(&server.url("/app/")).await;
    b.find("form#login").await;
    b.shot("login").await;
    b.fill("#f-email", OWNER).await;
    b.fill("#f-password", PASSWORD).await;
    b.click("form#login button[type=submit]").await;
    b.see("None of your restaurant's modules has screens yet")
        .await;
    assert_eq!(b.text("h1").await, "Corner Cafe");
    b.shot("home-empty").await;

    // Switched on (through the API), the module's entry is there on the next page load.
    server.toggle(&admin, &tenant, "notes", true).await;
    b.load(&server.url("/app/#/")).await;
    b.click("#nav a[href='#/m/notes/notes']").await;
    b.see("No notes yet.").await;
    assert_eq!(b.text("main h1").await, "Shift notes");

    // The module's refusal shows next to its field; a good note is listed.
    b.fill("textarea[name=text]", &"x".repeat(281)).await;
    b.click("main form button[type=submit]").await;
    b.see("a note is 1 to 280 characters").await;
    let beside = b.text(".field-error[data-field=text]").await;
    assert_eq!(beside, "a note is 1 to 280 characters");
    b.shot("notes-refused").await;
    b.fill("textarea[name=text]", "Out of oat milk").await;
    b.click("main form button[type=submit]").await;
    assert_eq!(
        b.text("main table td[data-label=Note]").await,
        "Out of oat milk"
    );
    b.shot("notes").await;
    let (_, listed) = server
        .get(
            &admin,
            &format!("/v1/superadmin/invocations?tenantId={tenant}&module=notes"),
        )
        .await;
    assert!(
        listed["invocations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "/_views/notes"),
        "screens are ordinary, recorded calls: {listed}"
    );

    // Maintenance: a banner, and a write shows the maintenance message.
    let (status, _) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/maintenance",
            &json!({"enabled": true, "message": "Upgrade until 23:00 UTC"}),
        )
        .await;
    assert_eq!(status, 200);
    b.load(&server.url("/app/#/m/notes/notes")).await;
    b.see("Upgrade until 23:00 UTC").await;
    b.fill("textarea[name=text]", "During maintenance").await;
    b.click("main form button[type=submit]").await;
    b.see("MAINTENANCE").await;
    b.shot("maintenance").await;
    let (status, _) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/maintenance",
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, 200);

    // A hostile module: its markup is shown as text and never runs; its broken screens are
    // refused with the host's reason; the portal keeps working.
    server.toggle(&admin, &tenant, "hostile", true).await;
    b.load(&server.url("/app/#/m/hostile/markup")).await;
    b.see("<script>window.pwned=2</script>").await;
    b.shot("hostile-markup").await;
    for (view, code) in [
        ("script-link", "VIEW_INVALID"),
        ("escape", "VIEW_INVALID"),
        ("huge", "MODULE_LIMIT"),
        ("unknown-block", "VIEW_INVALID"),
    ] {
        b.click(&format!("ul.module-menu a[href='#/m/hostile/{view}']"))
            .await;
        b.see(&format!("Hostile: {view}")).await;
        assert!(b.text("main .error").await.starts_with(code), "{view}");
    }
    b.shot("hostile-refused").await;
    let pwned = b.client.execute("return window.pwned === undefined && document.querySelectorAll('main script, main img').length === 0;", vec![]).await.unwrap();
    assert_eq!(
        pwned,
        json!(true),
        "nothing the module sent ran or became markup"
    );
    b.click("#nav a[href='#/']").await;
    b.see("Announcements").await;

    // Support's own screens: raise a ticket with a severity, land on its thread, reply,
    // close it (asked first) and find it among the closed ones.
    server.toggle(&admin, &tenant, "support", true).await;
    b.load(&server.url("/app/#/")).await;
    b.click("#nav a[href='#/m/support/tickets']").await;
    b.see("No open tickets.").await;
    b.click("ul.module-menu a[href='#/m/support/new']").await;
    b.fill("input[name=subject]", "Card reader offline").await;
    b.click("select[name=severity] option[value=S2]").await;
    b.fill(
        "textarea[name=body]",
        "Since 11:00 no card payment goes through.",
    )
    .await;
    b.click("main form button[type=submit]").await;
    b.find("main dl.details").await;
    assert_eq!(b.text("main h1").await, "#1 Card reader offline");
    b.shot("support-ticket").await;
    b.fill("textarea[name=body]", "Restarted it, still offline.")
        .await;
    b.click("main form button[type=submit]").await;
    let reply = b.text("main table td[data-label=Reply]").await;
    assert_eq!(reply, "Restarted it, still offline.");
    b.click("main .actions button").await;
    b.see("Close this ticket?").await;
    b.click("dialog.confirm button.danger").await;
    // The closed list links the ticket from its row (the thread itself has no such link).
    b.find("main table a[href='#/m/support/ticket?id=1']").await;
    let (_, triage) = server
        .get(&admin, "/v1/superadmin/support/tickets?status=closed")
        .await;
    assert_eq!(
        triage["tickets"][0]["subject"], "Card reader offline",
        "{triage}"
    );
    assert_eq!(triage["tickets"][0]["severity"], "S2");

    // POS, not in the navigation until a superadmin switches it on (through the API); then
    // its entry is there after a reload.
    let nav = b.text("#nav").await;
    assert!(!nav.contains("Point of sale"), "{nav}");
    server.toggle(&admin, &tenant, "pos", true).await;
    b.load(&server.url("/app/#/")).await;
    b.click("#nav a[href='#/m/pos/tickets']").await;
    b.see("No tickets yet.").await;
    // A category, then two items in it from the menu screen (money typed as 2.50).
    b.click("ul.module-menu a[href='#/m/pos/categories']").await;
    b.fill("input[name=name]", "Coffee bar").await;
    b.click("main form button[type=submit]").await;
    assert_eq!(
        b.text("main table td[data-label=Category]").await,
        "Coffee bar"
    );
    b.click("ul.module-menu a[href='#/m/pos/menu']").await;
    b.see("The menu is empty.").await;
    for (name, price) in [("Espresso", "2.50"), ("Croissant", "3")] {
        b.fill("input[name=name]", name).await;
        b.fill("input[name=priceCents]", price).await;
        b.click("select[name=categoryId] option[value='1']").await;
        b.click("main form button[type=submit]").await;
        b.see(name).await;
    }
    b.find("main table td[data-label=Category]").await;
    // A ticket for table 7 with two lines rung up from the menu.
    b.click("ul.module-menu a[href='#/m/pos/new']").await;
    b.fill("input[name=table]", "7").await;
    b.click("main form button[type=submit]").await;
    b.see("Ticket #1 · table 7").await;
    b.fill("input[name=qty]", "2").await;
    b.click("main form:has(select[name=itemId]) button[type=submit]")
        .await;
    assert_eq!(b.text("main table td[data-label=Qty]").await, "2");
    b.click("select[name=itemId] option[value='2']").await;
    b.fill("input[name=qty]", "1").await;
    b.click("main form:has(select[name=itemId]) button[type=submit]")
        .await;
    assert_eq!(
        b.text("main table tbody tr:nth-child(2) td[data-label=Item]")
            .await,
        "Croissant"
    );
    b.shot("pos-ticket").await;
    // Paid by card through the payments sandbox (the amount due is filled in); the payment
    // is pending until the sandbox's signed webhook settles it, which the page shows on
    // its next load.
    b.fill("input[name=cardToken]", "tok_visa").await;
    b.click("main form:has(input[name=cardToken]) button[type=submit]")
        .await;
    // The payment's row, once the charge has been answered.
    b.find("main table td[data-label=Method]").await;
    let ticket = server.url("/app/#/m/pos/ticket?id=1");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        b.load(&ticket).await;
        let status = b.text("main table td[data-label=Status]").await;
        if status == "settled" {
            break;
        }
        assert!(Instant::now() < deadline, "never settled: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(b.text("main table td[data-label=Method]").await, "card");
    b.shot("pos-settled").await;
    b.click("main .actions button").await;
    b.see("Close the ticket?").await;
    b.click("dialog.confirm button.danger").await;
    b.wait_text("main dl.details .badge", "closed").await;
    b.click("ul.module-menu a[href='#/m/pos/report']").await;
    b.see("Sales on").await;
    assert_eq!(b.text("main .stat .value").await, "1");
    // Two espressos at 2.50 and a croissant at 3.00, untaxed.
    assert_eq!(b.text("main .stat:nth-child(2) .value").await, "8.00");
    b.shot("pos-report").await;
    b.click("ul.module-menu a[href='#/m/pos/new']").await;
    b.fill("input[name=table]", "8").await;
    b.click("main form button[type=submit]").await;
    b.see("Ticket #2 · table 8").await;
    b.fill("input[name=reason]", "Guest left").await;
    b.click("main form:has(input[name=reason]) button[type=submit]")
        .await;
    b.see("Void this ticket?").await;
    b.click("dialog.confirm button.danger").await;
    b.see("Guest left").await;
    let (_, voided) = server
        .get(
            &admin,
            &format!("/v1/superadmin/audit?tenantId={tenant}&action=pos.ticket.voided"),
        )
        .await;
    assert_eq!(
        voided["events"][0]["payload"]["reason"], "Guest left",
        "{voided}"
    );

    // Switched off: gone from the navigation on the next load; its deep link says so.
    server.toggle(&admin, &tenant, "notes", false).await;
    b.load(&server.url("/app/#/m/notes/notes")).await;
    b.see("notes is not enabled for your restaurant.").await;
    let nav = b.text("#nav").await;
    assert!(!nav.contains("Shift notes"), "{nav}");
    b.shot("not-enabled").await;

    // Nothing went wrong in the page, and nothing came from anywhere but this server.
    assert_eq!(b.page_errors().await, Vec::<String>::new());
    let origin = server.url("");
    for url in b.fetched().await {
        assert!(url.starts_with(origin.trim_end_matches('/')), "{url}");
    }

    // Every screen at desktop and at phone width, for a reviewer to look at (with one
    // ticket left open, so its forms show).
    let owner = server.login(OWNER, PASSWORD).await;
    let (status, open) = server
        .send(
            Method::POST,
            &owner,
            "/v1/portal/pos/tickets",
            &json!({"table": "9"}),
        )
        .await;
    assert_eq!((status, open["id"].as_i64()), (201, Some(3)), "{open}");
    let screens = [
        ("home", "#/", "Announcements"),
        ("hostile", "#/m/hostile/markup", "Hostile markup"),
        ("support-tickets", "#/m/support/tickets", "No open tickets."),
        (
            "support-closed",
            "#/m/support/closed",
            "Card reader offline",
        ),
        ("support-new", "#/m/support/new", "How bad is it?"),
        (
            "support-thread",
            "#/m/support/ticket?id=1",
            "Restarted it, still offline.",
        ),
        ("pos-tickets", "#/m/pos/tickets", "void"),
        (
            "pos-open-ticket",
            "#/m/pos/ticket?id=3",
            "Add from the menu",
        ),
        ("pos-closed-ticket", "#/m/pos/ticket?id=1", "Lines"),
        ("pos-new", "#/m/pos/new", "Open ticket"),
        ("pos-menu", "#/m/pos/menu", "Espresso"),
        ("pos-categories", "#/m/pos/categories", "Coffee bar"),
        ("pos-stock", "#/m/pos/stock", "No item is tracked"),
        ("pos-report", "#/m/pos/report", "Sales on"),
        (
            "not-enabled",
            "#/m/notes/notes",
            "not enabled for your restaurant",
        ),
    ];
    for (width, height, suffix) in [(1280, 800, "desktop"), (390, 844, "phone")] {
        b.client.set_window_size(width, height).await.unwrap();
        for (name, hash, text) in screens {
            b.load(&server.url(&format!("/app/{hash}"))).await;
            b.see(text).await;
            b.shot(&format!("{suffix}-{name}")).await;
        }
    }
    b.client.set_window_size(1280, 800).await.unwrap();

    // Staff serve but do not void or keep the menu: the open ticket offers lines and
    // payments but no void, and the menu has no form.
    let (status, _) = server
        .send(
            Method::POST,
            &admin,
            &format!("/v1/superadmin/tenants/{tenant}/users"),
            &json!({"email": WAITER, "password": PASSWORD, "role": "staff"}),
        )
        .await;
    assert_eq!(status, 201);
    sign_in_as(&b, WAITER).await;
    b.load(&server.url("/app/#/m/pos/ticket?id=3")).await;
    b.see("Add from the menu").await;
    b.see("Card payment").await;
    let void_offered = b
        .client
        .execute(
            "return document.querySelector('main input[name=reason]') !== null;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(void_offered, json!(false), "staff are not offered a void");
    b.shot("staff-ticket").await;
    b.load(&server.url("/app/#/m/pos/menu")).await;
    b.see("Your restaurant's admin keeps the menu.").await;
    assert_eq!(
        b.client
            .execute(
                "return document.querySelectorAll('main form').length;",
                vec![]
            )
            .await
            .unwrap(),
        json!(0)
    );
    b.shot("staff-menu").await;
    sign_in_as(&b, OWNER).await;

    // POS switched off: its entry is gone on the next load, and its deep link says so.
    server.toggle(&admin, &tenant, "pos", false).await;
    b.load(&server.url("/app/#/m/pos/ticket?id=3")).await;
    b.see("pos is not enabled for your restaurant.").await;
    let nav = b.text("#nav").await;
    assert!(!nav.contains("Point of sale"), "{nav}");
    b.shot("pos-not-enabled").await;

    // Nova's operators are sent to the console and get no session here.
    b.click("#sign-out").await;
    b.see("You are signed out.").await;
    b.fill("#f-email", SUPERADMIN_EMAIL).await;
    b.fill("#f-password", SUPERADMIN_PASSWORD).await;
    b.click("form#login button[type=submit]").await;
    b.see("Nova's operators use the console").await;
    let kept = b
        .client
        .execute(
            "return sessionStorage.getItem('nova.portal.token');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, serde_json::Value::Null);
    b.close().await;
}
