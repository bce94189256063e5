//! The console with an operator's worst day of data: 10,000 tenants (half on Pro, with
//! support), 1,000,000 invocation records and 100,000 audit events over 30 days, and 200
//! tenants with open tickets. Measured in a real headless Chromium: the first load (bytes
//! over the wire, time until the tenants page is usable), then the tenants, tenant,
//! activity and triage pages; and each API call behind them, on its own. Targets from the
//! console issue: under 300 KB, under 1 s. SQLite always; PostgreSQL too when
//! `NOVA_BENCH_POSTGRES=postgres://…/db` is set.
//!
//! `cargo bench -p nova --bench console_load`

use std::time::{Duration, Instant};

use nova::app::AppState;
use nova::auth::Role;
use nova::config::Config;
use nova::http::server::{ServerLimits, serve};
use serde_json::{Value, json};

#[path = "shared/postgres.rs"]
mod postgres;

#[allow(dead_code)]
#[path = "../tests/common/browser.rs"]
mod browser;

const TENANTS: i64 = 10_000;
const INVOCATIONS: i64 = 1_000_000;
const AUDIT_EVENTS: i64 = 100_000;
const WITH_TICKETS: i64 = 200;
const EMAIL: &str = "root@nova.test";
const PASSWORD: &str = "bench-password-1";

/// Rows made by SQL on the server's own database, the way a year of use would leave them.
async fn seed(state: &AppState) {
    let now = nova::storage::now_ms();
    let db = state.db.pool();
    let core = "6a1f7c0e-3b1d-4c55-9a43-0c7e2f0b9d11";
    let pro = "1ef168c5-66e9-4d11-8f51-32301dbce0d4";
    let numbers = |n: i64| {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "
        )
    };
    let statements = [
        format!(
            "{}INSERT INTO tenants (id, name, status, created_at, timezone) \
             SELECT 'bench-t-' || i, 'Restaurant ' || i, 'active', {now} - i * 60000, 'Europe/Rome' FROM n",
            numbers(TENANTS)
        ),
        // Even tenants are on Pro (POS, billing, support), odd ones on Core (POS).
        format!(
            "{}INSERT INTO subscriptions (id, tenant_id, plan_id, status, created_at, updated_at) \
             SELECT 'bench-s-' || i, 'bench-t-' || i, CASE WHEN i % 2 = 0 THEN '{pro}' ELSE '{core}' END, \
             'active', {now}, {now} FROM n",
            numbers(TENANTS)
        ),
        format!(
            "{}INSERT INTO tenant_modules (tenant_id, module, source, enabled, updated_by, updated_at) \
             SELECT 'bench-t-' || i, 'pos', 'plan', 1, 'bench', {now} FROM n",
            numbers(TENANTS)
        ),
        format!(
            "{}INSERT INTO tenant_modules (tenant_id, module, source, enabled, updated_by, updated_at) \
             SELECT 'bench-t-' || (i * 2), m.module, 'plan', 1, 'bench', {now} FROM n \
             CROSS JOIN (SELECT 'billing' AS module UNION ALL SELECT 'support') m",
            numbers(TENANTS / 2)
        ),
        // One call every 2.5 s for 29 days; one in fifty failed.
        format!(
            "{}INSERT INTO invocations (id, tenant_id, module, version, actor, method, path, status, \
             outcome, duration_us, fuel, request_id, error, created_at) \
             SELECT 'bench-i-' || i, 'bench-t-' || (1 + i % {TENANTS}), \
             CASE i % 3 WHEN 0 THEN 'pos' WHEN 1 THEN 'support' ELSE 'billing' END, '1', 'bench', \
             'GET', '/tickets', CASE WHEN i % 50 = 0 THEN 500 ELSE 200 END, \
             CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END, 900, 100000, 'bench-r-' || i, NULL, \
             {now} - i * 2500 FROM n",
            numbers(INVOCATIONS)
        ),
        format!(
            "{}INSERT INTO audit_events (id, tenant_id, module, action, actor, payload, request_id, created_at) \
             SELECT 'bench-a-' || i, 'bench-t-' || (1 + i % {TENANTS}), 'superadmin', 'module.toggled', \
             '{EMAIL}', '{{}}', 'bench-r-' || (i * 10), {now} - i * 25000 FROM n",
            numbers(AUDIT_EVENTS)
        ),
    ];
    for sql in statements {
        sqlx::query(&sql).execute(db).await.unwrap();
    }
    // What a database that has been running a while has: statistics for its planner
    // (PostgreSQL's autovacuum would have gathered them by now).
    sqlx::query("ANALYZE").execute(db).await.unwrap();
}

const SEVERITIES: [&str; 4] = ["S1", "S2", "S3", "S4"];

/// Open tickets for the first `WITH_TICKETS` Pro tenants, through the support module.
async fn open_tickets(state: &AppState, base: &str, http: &reqwest::Client) {
    for i in 1..=WITH_TICKETS {
        let tenant = format!("bench-t-{}", i * 2);
        let token = state
            .keys
            .issue(
                &format!("bench-u-{i}"),
                &format!("owner{i}@bench.test"),
                Role::Admin,
                Some(&tenant),
            )
            .unwrap();
        let resp = http
            .post(format!("{base}/v1/portal/support/tickets"))
            .bearer_auth(token)
            .json(&json!({"subject": format!("Till {i} offline"), "body": "No receipts", "severity": SEVERITIES[i as usize % 4]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }
}

/// Median milliseconds of five calls of `path`.
async fn api_ms(http: &reqwest::Client, base: &str, token: &str, path: &str) -> f64 {
    let mut took = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let resp = http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        resp.bytes().await.unwrap();
        took.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    took[2]
}

/// Milliseconds from setting `hash` until `css` matches, measured inside the page.
async fn page_ms(b: &browser::Browser, hash: &str, css: &str) -> f64 {
    let script = r#"
        const [hash, css, done] = arguments;
        const t0 = performance.now();
        const check = () => document.querySelector(css) && !document.querySelector("[aria-busy=true]");
        const wait = () => (check() ? done(performance.now() - t0) : requestAnimationFrame(wait));
        // The console's own hashchange handler runs first and puts the page in its loading
        // state; only then is it worth looking for the finished page.
        window.addEventListener("hashchange", () => requestAnimationFrame(wait), { once: true });
        location.hash = hash;
    "#;
    let v = b
        .client
        .execute_async(script, vec![json!(hash), json!(css)])
        .await
        .unwrap();
    v.as_f64().unwrap()
}

/// Wait (by frames) until `css` matches; the page's own clock at that moment.
async fn usable_at(b: &browser::Browser, css: &str) -> f64 {
    let script = r#"
        const [css, done] = arguments;
        const wait = () => (document.querySelector(css) ? done(performance.now()) : requestAnimationFrame(wait));
        wait();
    "#;
    let v = b
        .client
        .execute_async(script, vec![json!(css)])
        .await
        .unwrap();
    v.as_f64().unwrap()
}

/// Bytes the page took over the wire so far: the document and everything it fetched.
async fn bytes_so_far(b: &browser::Browser) -> (f64, f64) {
    let v: Value = b
        .client
        .execute(
            "const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
             return [all.reduce((s, e) => s + e.transferSize, 0), all.reduce((s, e) => s + e.decodedBodySize, 0)];",
            vec![],
        )
        .await
        .unwrap();
    (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
}

async fn run(name: &str, database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        jwt_secret: Some("bench-secret-bench-secret-bench-secret".into()),
        database_url,
        ..Config::embedded(dir.path().to_path_buf())
    };
    let state = AppState::build(&config).await.unwrap();
    state.runtime.install_bundled().await.unwrap();
    let hash = nova::auth::password::hash(PASSWORD).unwrap();
    nova::storage::users::create(&state.db, None, EMAIL, &hash, "superadmin")
        .await
        .unwrap();
    let seeding = Instant::now();
    seed(&state).await;
    let seeded = seeding.elapsed();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        nova::http::router(state.clone()),
        ServerLimits::default(),
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    open_tickets(&state, &base, &http).await;
    let admin = state
        .keys
        .issue("bench-admin", EMAIL, Role::Superadmin, None)
        .unwrap();

    println!(
        "{name}: {TENANTS} tenants, {INVOCATIONS} invocation records, {AUDIT_EVENTS} audit events, \
         {WITH_TICKETS} tenants with open tickets (seeded in {seeded:.1?})"
    );
    println!("  API, median of 5 (ms):");
    let week_ago = chrono_like(nova::storage::now_ms() - 7 * 86_400_000);
    let day_ago = chrono_like(nova::storage::now_ms() - 6 * 86_400_000);
    for path in [
        "/v1/superadmin/tenants?limit=50".to_string(),
        "/v1/superadmin/tenants?q=restaurant%209999&limit=50".into(),
        "/v1/superadmin/tenants/bench-t-4/modules".into(),
        "/v1/superadmin/invocations?limit=50".into(),
        "/v1/superadmin/invocations?tenantId=bench-t-77&limit=50".into(),
        "/v1/superadmin/invocations?module=pos&outcome=error&limit=50".into(),
        "/v1/superadmin/invocations?outcome=trap&limit=50".into(),
        format!("/v1/superadmin/invocations?since={week_ago}&until={day_ago}&limit=50"),
        "/v1/superadmin/invocations?requestId=bench-r-500000&limit=50".into(),
        "/v1/superadmin/audit?limit=50".into(),
        "/v1/superadmin/audit?tenantId=bench-t-77&limit=50".into(),
        "/v1/superadmin/support/tickets".into(),
    ] {
        let ms = api_ms(&http, &base, &admin, &path).await;
        println!("    {ms:>8.1}  GET {path}");
    }

    // First load in a browser with an empty cache: the sign-in page and every asset, then
    // signing in until the tenants table is there.
    let b = browser::Browser::start(&format!("bench-{name}")).await;
    b.goto(&format!("{base}/console/")).await;
    b.find("form#login").await;
    let login_ready = usable_at(&b, "form#login").await;
    let (wire, decoded) = bytes_so_far(&b).await;
    b.fill("#f-email", EMAIL).await;
    b.fill("#f-password", PASSWORD).await;
    let submitted: f64 = b
        .client
        .execute("return performance.now();", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    b.click("form#login button[type=submit]").await;
    let tenants_ready = usable_at(&b, "main table tbody tr").await;
    let (wire_after, _) = bytes_so_far(&b).await;
    // Sign-in runs Argon2 by design; report the page's own share apart from it.
    println!("  browser, first load (cold cache):");
    println!(
        "    sign-in page usable at {login_ready:.0} ms; {:.1} KB over the wire ({:.1} KB decoded)",
        wire / 1024.0,
        decoded / 1024.0
    );
    println!(
        "    sign-in → tenants table: {:.0} ms; {:.1} KB over the wire in all",
        tenants_ready - submitted,
        wire_after / 1024.0
    );
    // A reload with a session: navigation start → tenants table.
    b.load(&format!("{base}/console/#/tenants")).await;
    let reload = usable_at(&b, "main table tbody tr").await;
    println!("    reload with a session → tenants table: {reload:.0} ms");

    println!("  browser, pages (ms until shown):");
    for (hash, css) in [
        ("#/tenants?q=restaurant 4242", "main table tbody tr"),
        ("#/tenants/bench-t-4", "#modules-h"),
        ("#/activity", "main table tbody tr"),
        ("#/activity?view=audit", "main table tbody tr"),
        ("#/activity?tenantId=bench-t-77", "main table tbody tr"),
        ("#/activity?outcome=trap", "main p.muted, main table"),
        ("#/support", "td[data-label=Subject]"),
        ("#/tenants", "main table tbody tr"),
    ] {
        let ms = page_ms(&b, hash, css).await;
        println!("    {ms:>8.0}  {hash}");
    }
    b.shot("tenants").await;
    b.close().await;
}

/// An RFC 3339 time for a query string (UTC, whole seconds).
fn chrono_like(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn main() {
    postgres::on_each_backend(run);
}
