//! Access and data screens in a real headless Chromium (SQLite): in the console a superadmin
//! disables and enables a tenant's user, sends a password reset link, gives a service token
//! an expiry and exports the tenant; in the portal the tenant's admin exports their own data.
//! Each action is checked behind the screen (the API refuses the disabled user's token, the
//! mail and the audit rows exist). Screenshots land in `target/screenshots/access-*.png`.

use crate::common;

use std::str::FromStr;

use common::browser::Browser;
use common::{Backend, SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD, TestServer};

async fn scalar(server: &TestServer, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .bind(bind)
        .fetch_one(server.db().pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_manage_access_and_export_data_on_screen() {
    let server = TestServer::start(Backend::Sqlite).await;
    let _worker = server.spawn_worker("screens");
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Screen Diner").await;
    let staff_email: String =
        sqlx::query_scalar("SELECT email FROM users WHERE tenant_id = $1 AND role = 'staff'")
            .bind(&tenant)
            .fetch_one(server.db().pool())
            .await
            .unwrap();
    let owner_email = "owner@screen-diner.test";
    let resp = server
        .http
        .post(server.url(&format!("/v1/superadmin/tenants/{tenant}/users")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"email": owner_email, "password": "owner-password", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    let b = Browser::start("access").await;
    b.goto(&server.url("/console/")).await;
    b.fill("#f-email", SUPERADMIN_EMAIL).await;
    b.fill("#f-password", SUPERADMIN_PASSWORD).await;
    b.click("form#login button[type=submit]").await;
    b.see("Create tenant").await;
    b.goto(&server.url(&format!("/console/#/tenants/{tenant}")))
        .await;
    b.see("Send reset link").await;

    // Disable the staff user: their token is refused at once.
    b.click(&format!("button[aria-label='Disable {staff_email}']"))
        .await;
    b.click("dialog.confirm button.danger").await;
    b.see(&format!("{staff_email} is disabled.")).await;
    assert_eq!(server.get(&staff, "/v1/portal/me").await.0, 401);
    let users = b.text("section:has(#users-h) table").await;
    assert!(users.contains("disabled"), "{users}");
    b.click(&format!("button[aria-label='Enable {staff_email}']"))
        .await;
    b.click("dialog.confirm button.danger").await;
    b.see(&format!("{staff_email} is enabled.")).await;

    // A reset link, mailed.
    b.click(&format!(
        "button[aria-label='Send {staff_email} a password reset link']"
    ))
    .await;
    b.click("dialog.confirm button.danger").await;
    b.see(&format!("A reset link is on its way to {staff_email}."))
        .await;
    let mails = scalar(
        &server,
        "SELECT COUNT(*) FROM mail_outbox WHERE to_addr = $1 AND body LIKE '%/app/reset.html#token=%'",
        &staff_email,
    )
    .await;
    assert_eq!(mails, 1);

    // A service token that expires in 30 days shows its date.
    b.fill("#f-name", "till check").await;
    b.fill("#f-expiresInDays", "30").await;
    b.click("section:has(#tokens-h) form button[type=submit]")
        .await;
    b.see("copy it now").await;
    let (_, listed) = server
        .get(
            &admin,
            &format!("/v1/superadmin/tenants/{tenant}/service-tokens"),
        )
        .await;
    let at = listed["tokens"][0]["expiresAt"].as_str().unwrap();
    let days = (jiff::Timestamp::from_str(at).unwrap() - jiff::Timestamp::now()).as_secs();
    assert!((29 * 86_400..=30 * 86_400).contains(&days), "{listed}");
    let expires = at[..10].to_string();
    let tokens = b.text("section:has(#tokens-h) table").await;
    assert!(tokens.contains(&expires), "{expires} in {tokens}");
    b.shots("console-users", Some("users-h")).await;

    // The tenant's export, built by the worker and downloaded by the one who asked.
    b.fill("#f-export-secret", "a console passphrase").await;
    b.click("#export-form button[type=submit]").await;
    b.see("The export is ready").await;
    b.click("#export-download").await;
    b.see("Downloaded.").await;
    b.shots("console-export", Some("export-h")).await;
    let downloaded = "SELECT COUNT(*) FROM audit_events WHERE tenant_id = $1 AND action = 'tenant.export.downloaded'";
    assert_eq!(scalar(&server, downloaded, &tenant).await, 1);
    assert_eq!(b.page_errors().await, Vec::<String>::new());

    // The restaurant's admin exports their own data from the portal.
    b.goto(&server.url("/app/")).await;
    b.fill("#f-email", owner_email).await;
    b.fill("#f-password", "owner-password").await;
    b.click("form#login button[type=submit]").await;
    b.see("Your data").await;
    b.goto(&server.url("/app/#/data")).await;
    b.fill("#f-export-secret", "a portal passphrase").await;
    b.click("#export-form button[type=submit]").await;
    b.see("The export is ready").await;
    b.click("#export-download").await;
    b.see("Downloaded.").await;
    b.shots("portal-export", None).await;
    assert_eq!(scalar(&server, downloaded, &tenant).await, 2);
    assert_eq!(b.page_errors().await, Vec::<String>::new());
    b.close().await;
}
