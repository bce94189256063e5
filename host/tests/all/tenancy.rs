//! Registration and approval, plans, overrides, presets, flags, limits and the audit trail
//! every change leaves.

use crate::common;

use std::time::{Duration, Instant};

use common::{Backend, TestServer, counter, guests};
use reqwest::Method;
use serde_json::{Value, json};

const PRO: &str = "1ef168c5-66e9-4d11-8f51-32301dbce0d4";

/// Register a restaurant; returns the registration id.
async fn register(server: &TestServer, name: &str, email: &str, plan: &str) -> String {
    let body =
        json!({"restaurantName": name, "email": email, "password": "owner-password", "plan": plan});
    let (status, reg) = server
        .send(Method::POST, "", "/v1/registrations", &body)
        .await;
    assert_eq!(status, 202, "{reg}");
    assert_eq!(reg["status"], "pending");
    reg["id"].as_str().unwrap().to_string()
}

/// Register `name` on `plan`, approve it, and sign its owner in: the owner's token.
async fn owner_on(server: &TestServer, admin: &str, name: &str, email: &str, plan: &str) -> String {
    let id = register(server, name, email, plan).await;
    approve(server, admin, &id).await;
    server.login(email, "owner-password").await
}

/// Approve registration `id`; the new tenant's id.
async fn approve(server: &TestServer, admin: &str, id: &str) -> String {
    let (status, approved) = server
        .send(
            Method::POST,
            admin,
            &format!("/v1/superadmin/registrations/{id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    approved["tenantId"].as_str().unwrap().to_string()
}

async fn toggle_audit(server: &TestServer, admin: &str, tenant: &str) -> Vec<Value> {
    let (_, body) = server
        .get(
            admin,
            &format!("/v1/superadmin/audit?module=superadmin&tenantId={tenant}&limit=100"),
        )
        .await;
    body["events"].as_array().unwrap().clone()
}

/// A module's state in a tenant's module list, without `inFlight` (nothing runs in these
/// tests, which `kill_switch` covers: here it must be 0) and `pinnedVersion` (no pins here;
/// `versions` covers them).
fn module_state(list: &Value, name: &str) -> Value {
    let mut found = list["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(m) = found.as_object_mut() {
        assert_eq!(m.remove("inFlight"), Some(serde_json::json!(0)), "{list}");
        assert_eq!(m.remove("pinnedVersion"), Some(Value::Null), "{list}");
    }
    found
}

async fn registration_to_tenant(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let id = register(&server, "Osteria Nord", "Owner@Osteria.test", "pro").await;

    let (status, pending) = server
        .get(&admin, "/v1/superadmin/registrations?status=pending")
        .await;
    assert_eq!(status, 200);
    assert_eq!(pending["registrations"][0]["id"], id.as_str());
    assert_eq!(pending["registrations"][0]["email"], "owner@osteria.test");
    assert!(pending["registrations"][0].get("passwordHash").is_none());

    let (status, approved) = server
        .send(
            Method::POST,
            &admin,
            &format!("/v1/superadmin/registrations/{id}/approve"),
            &json!({"preset": "pos-only"}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let tenant = approved["tenantId"].as_str().unwrap().to_string();
    assert!(approved["subscriptionId"].as_str().is_some());

    // A second decision loses, either way.
    let again = format!("/v1/superadmin/registrations/{id}/approve");
    assert_eq!(
        server
            .send(Method::POST, &admin, &again, &json!({}))
            .await
            .0,
        409
    );
    let reject = format!("/v1/superadmin/registrations/{id}/reject");
    assert_eq!(
        server
            .send(Method::POST, &admin, &reject, &json!({"reason": "late"}))
            .await
            .0,
        409
    );

    // The owner logs in as the tenant's admin and sees the plan: Pro gives pos, billing and
    // support with two flags; the pos-only preset switched billing and support off.
    let owner = server.login("owner@osteria.test", "owner-password").await;
    let (status, me) = server.get(&owner, "/v1/portal/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["plan"]["id"], PRO);
    assert_eq!(me["plan"]["name"], "Pro");
    assert_eq!(me["user"]["role"], "admin");
    assert_eq!(me["tenant"]["name"], "Osteria Nord");
    assert_eq!(me["modules"], json!(["pos"]));
    assert_eq!(
        me["featureFlags"],
        json!(["pos.reports", "support.priority"])
    );
    assert_eq!(me["limits"]["callsPerMinute"], 3000);
    assert_eq!(
        me["limits"]["concurrentCalls"], 16,
        "the Pro plan's, not the host default"
    );

    let (_, modules) = server
        .get(&admin, &format!("/v1/superadmin/tenants/{tenant}/modules"))
        .await;
    assert_eq!(
        module_state(&modules, "pos"),
        json!({"name": "pos", "enabled": true, "source": "override", "plan": true, "override": true})
    );
    assert_eq!(module_state(&modules, "billing")["source"], "override");
    assert_eq!(module_state(&modules, "billing")["plan"], true);
    assert_eq!(module_state(&modules, "billing")["enabled"], false);

    // Exactly one audit row for the approval, holding every module's delta.
    let events = toggle_audit(&server, &admin, &tenant).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["action"], "registration.module_toggled");
    assert_eq!(events[0]["actor"], common::SUPERADMIN_EMAIL);
    // The payload's keys, as docs/API.md describes them.
    let mut keys: Vec<&String> = events[0]["payload"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["actor", "delta", "reason"], "{}", events[0]);
    let toggles = &events[0]["payload"]["delta"]["toggles"];
    assert_eq!(toggles["pos"], json!({"previous": null, "current": true}));
    assert_eq!(
        toggles["billing"],
        json!({"previous": null, "current": false})
    );
    assert_eq!(
        events[0]["payload"]["delta"]["featureFlags"]["pos.reports"],
        json!({"previous": null, "current": true})
    );

    // The tenant can use pos at once.
    let (status, _) = server
        .send(
            Method::POST,
            &owner,
            "/v1/portal/pos/tickets",
            &json!({"table": "1", "items": [{"name": "x", "qty": 1, "priceCents": 1}]}),
        )
        .await;
    assert_eq!(status, 201);
}

async fn overrides_flags_and_resolution(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let id = register(&server, "Core Cafe", "core@cafe.test", "Core").await;
    let tenant = approve(&server, &admin, &id).await;
    let owner = server.login("core@cafe.test", "owner-password").await;
    let modules_path = format!("/v1/superadmin/tenants/{tenant}/modules");
    let pos = format!("{modules_path}/pos");

    // plan on, no override → on (plan)
    let (_, m) = server.get(&admin, &modules_path).await;
    assert_eq!(
        module_state(&m, "pos"),
        json!({"name": "pos", "enabled": true, "source": "plan", "plan": true, "override": null})
    );
    // plan on, override off → off (override)
    let (status, s) = server
        .send(Method::PUT, &admin, &pos, &json!({"enabled": false}))
        .await;
    assert_eq!(
        (status, s["enabled"].clone(), s["previous"].clone()),
        (200, json!(false), json!(true))
    );
    assert_eq!(server.get(&owner, "/v1/portal/pos/tickets").await.0, 403);
    // override removed → back to the plan
    let (status, s) = server.send(Method::DELETE, &admin, &pos, &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        (s["enabled"].clone(), s["source"].clone()),
        (json!(true), json!("plan"))
    );
    assert_eq!(server.get(&owner, "/v1/portal/pos/tickets").await.0, 200);

    // Install a module the plan does not include: none → off; override on → on.
    assert_eq!(
        server
            .install(&admin, "hostile", guests::HOSTILE)
            .await
            .status(),
        201
    );
    let (_, m) = server.get(&admin, &modules_path).await;
    assert_eq!(
        module_state(&m, "hostile"),
        json!({"name": "hostile", "enabled": false, "source": "none", "plan": null, "override": null})
    );
    server.toggle(&admin, &tenant, "hostile", true).await;

    // Flags: none → off; override → on; the module sees it through the entitlements import.
    let flag = format!("/v1/superadmin/tenants/{tenant}/feature-flags/pos.reports");
    let (_, e) = server
        .get(&owner, "/v1/portal/hostile/entitlements?flag=pos.reports")
        .await;
    assert_eq!(
        e,
        json!({"hasFeature": false, "modules": ["hostile", "pos"]})
    );
    let (status, _) = server
        .send(Method::PUT, &admin, &flag, &json!({"enabled": true}))
        .await;
    assert_eq!(status, 200);
    let (_, e) = server
        .get(&owner, "/v1/portal/hostile/entitlements?flag=pos.reports")
        .await;
    assert_eq!(e["hasFeature"], true);
    let (_, flags) = server
        .get(
            &admin,
            &format!("/v1/superadmin/tenants/{tenant}/feature-flags"),
        )
        .await;
    assert_eq!(
        flags["featureFlags"],
        json!([{"name": "pos.reports", "enabled": true, "source": "override", "plan": null, "override": true}])
    );
    assert_eq!(
        server
            .send(Method::DELETE, &admin, &flag, &json!({}))
            .await
            .0,
        200
    );
    let (_, me) = server.get(&owner, "/v1/portal/me").await;
    assert_eq!(me["featureFlags"], json!([]));

    // Every change left exactly one audit row: approval, pos off, pos override dropped,
    // hostile on, flag on, flag dropped.
    let events = toggle_audit(&server, &admin, &tenant).await;
    let actions: Vec<&str> = events
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "registration.module_toggled",
            "registration.module_toggled",
            "registration.module_toggled",
            "registration.module_toggled",
            "registration.feature_flag_toggled",
            "registration.feature_flag_toggled",
        ]
    );
    assert_eq!(
        events[3]["payload"]["delta"]["toggles"]["pos"],
        json!({"previous": false, "current": true})
    );
}

async fn presets_apply_with_one_audit_row(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, _) = server.tenant(&admin, "Preset Place").await;
    let preset = json!({"name": "full-house", "description": "everything", "modules": {"pos": true, "support": true}, "featureFlags": {"pos.reports": true}});
    let (status, _) = server
        .send(
            Method::POST,
            &admin,
            "/v1/superadmin/module-presets",
            &preset,
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        server
            .send(
                Method::POST,
                &admin,
                "/v1/superadmin/module-presets",
                &preset
            )
            .await
            .0,
        409
    );
    let (_, list) = server.get(&admin, "/v1/superadmin/module-presets").await;
    let names: Vec<&str> = list["presets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"full-house") && names.contains(&"pos-only"),
        "{names:?}"
    );

    let metrics_before = server.metrics().await;
    let before = counter(
        &metrics_before,
        r#"nova_api_superadmin_module_toggle_total{module="support",enabled="true"}"#,
    );
    let (status, applied) = server
        .send(
            Method::POST,
            &admin,
            &format!("/v1/superadmin/tenants/{tenant}/apply-preset"),
            &json!({"preset": "full-house"}),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    let events = toggle_audit(&server, &admin, &tenant).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["payload"]["delta"]["toggles"],
        json!({"pos": {"previous": null, "current": true}, "support": {"previous": null, "current": true}})
    );
    let metrics_after = server.metrics().await;
    // At least this test's toggle: the recorder is shared by every server in this test
    // process, and other tests switch support on too.
    let after = counter(
        &metrics_after,
        r#"nova_api_superadmin_module_toggle_total{module="support",enabled="true"}"#,
    );
    assert!(after >= before + 1.0, "{before} -> {after}");

    // Replace, then delete.
    let (status, _) = server
        .send(
            Method::PUT,
            &admin,
            "/v1/superadmin/module-presets/full-house",
            &json!({"modules": {"pos": false}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        server
            .send(
                Method::DELETE,
                &admin,
                "/v1/superadmin/module-presets/full-house",
                &json!({})
            )
            .await
            .0,
        204
    );
    assert_eq!(
        server
            .send(
                Method::DELETE,
                &admin,
                "/v1/superadmin/module-presets/full-house",
                &json!({})
            )
            .await
            .0,
        404
    );

    // Analytics count the toggles in the window.
    let (status, report) = server
        .get(
            &admin,
            "/v1/superadmin/analytics/module-toggles?windowDays=30",
        )
        .await;
    assert_eq!(status, 200);
    let support = report["toggles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["module"] == "support")
        .unwrap()
        .clone();
    assert_eq!(
        support,
        json!({"module": "support", "enabled": 1, "disabled": 0})
    );
    assert!(
        report["newTenantsPerModule"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["module"] == "pos" && t["tenants"] == 1)
    );
}

async fn plan_limits_reach_each_call(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    assert_eq!(
        server
            .install(&admin, "hostile", guests::HOSTILE)
            .await
            .status(),
        201
    );
    // Core: a 500 ms deadline. Pro: 32 MiB and three calls a minute, with a deadline long
    // enough that only those limits, not a loaded machine's clock, stop its calls.
    for (plan, limits) in [
        (
            "Core",
            json!({"memoryMb": 32, "deadlineMs": 500, "fuel": 20_000_000_000u64, "callsPerMinute": 600}),
        ),
        (
            "Pro",
            json!({"memoryMb": 32, "deadlineMs": 20_000, "fuel": 50_000_000_000u64, "callsPerMinute": 3}),
        ),
    ] {
        server
            .edit_plan(
                plan,
                |e| {
                    *e =
                        json!({"modules": ["pos", "hostile"], "featureFlags": [], "limits": limits})
                },
            )
            .await;
    }
    let core = owner_on(&server, &admin, "Limited", "limited@place.test", "Core").await;
    let pro = owner_on(&server, &admin, "Bounded", "bounded@place.test", "Pro").await;

    let started = Instant::now();
    let resp = server
        .http
        .get(server.url("/v1/portal/hostile/loop"))
        .bearer_auth(&core)
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 504);
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    // The record names the deadline that stopped the call: the plan's, not the host's.
    let record = &server.invocations_for(&admin, &request_id).await[0];
    assert_eq!(record["outcome"], "timeout");
    assert!(
        record["error"].as_str().unwrap().contains("500ms"),
        "{record}"
    );

    let (status, err) = server.get(&pro, "/v1/portal/hostile/grow").await;
    assert_eq!(status, 502, "{err}");
    assert_eq!(err["error"]["code"], "MODULE_LIMIT");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&(32u64 << 20).to_string()),
        "{err}"
    );
    assert_eq!(server.get(&pro, "/v1/portal/hostile/ping").await.0, 200);
    // One call of the three is left (two, if a slow machine let 20 s pass and the bucket
    // refilled one): of four more at once, some are refused.
    let pings = (0..4).map(|_| server.get(&pro, "/v1/portal/hostile/ping"));
    let answers = futures_util::future::join_all(pings).await;
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 429),
        "{answers:?}"
    );
    assert!(refused.len() >= 2, "{answers:?}");
    assert_eq!(refused[0].1["error"]["code"], "RATE_LIMITED");
}

async fn bad_input_on_tenancy_routes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, staff) = server.tenant(&admin, "Checks").await;
    let before = server.count("registrations").await;
    for (body, field) in [
        (
            json!({"restaurantName": "", "email": "a@b.co", "password": "long enough", "plan": "Core"}),
            "restaurantName",
        ),
        (
            json!({"restaurantName": "A", "email": "nope", "password": "long enough", "plan": "Core"}),
            "email",
        ),
        (
            json!({"restaurantName": "A", "email": "a@b.co", "password": "short", "plan": "Core"}),
            "password",
        ),
        (
            json!({"restaurantName": "A", "email": "a@b.co", "password": "long enough", "plan": "Platinum"}),
            "plan",
        ),
        (
            json!({"restaurantName": "A", "email": "a@b.co", "password": "long enough"}),
            "plan",
        ),
    ] {
        let (status, err) = server
            .send(Method::POST, "", "/v1/registrations", &body)
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["error"]["code"], "VALIDATION");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
    }
    assert_eq!(server.count("registrations").await, before);
    register(&server, "Dup", "dup@place.test", "Core").await;
    // A second registration of the same email looks like the first to its sender (no way to
    // learn who is a customer), stores nothing, and mails the address's owner.
    let dup = json!({"restaurantName": "Dup", "email": "dup@place.test", "password": "long enough", "plan": "Core"});
    let (regs, mails) = (
        server.count("registrations").await,
        server.count("mail_outbox").await,
    );
    let (status, answer) = server
        .send(Method::POST, "", "/v1/registrations", &dup)
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "pending");
    assert!(answer["id"].as_str().is_some_and(|id| id.len() == 36));
    assert_eq!(server.count("registrations").await, regs);
    assert_eq!(server.count("mail_outbox").await, mails + 1);

    // Unknown preset: refused, and the registration stays pending (nothing half-created).
    let id = register(&server, "Preset Miss", "miss@place.test", "Core").await;
    let tenants_before = server.count("tenants").await;
    let (status, err) = server
        .send(
            Method::POST,
            &admin,
            &format!("/v1/superadmin/registrations/{id}/approve"),
            &json!({"preset": "nope"}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "preset");
    assert_eq!(server.count("tenants").await, tenants_before);
    let (_, pending) = server
        .get(&admin, "/v1/superadmin/registrations?status=pending")
        .await;
    assert!(
        pending["registrations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id.as_str())
    );
    let missing = "/v1/superadmin/registrations/00000000-0000-0000-0000-000000000000/approve";
    assert_eq!(
        server
            .send(Method::POST, &admin, missing, &json!({}))
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .get(&admin, "/v1/superadmin/registrations?status=maybe")
            .await
            .0,
        400
    );

    for (path, body) in [
        (
            format!("/v1/superadmin/tenants/{tenant}/feature-flags/Bad Flag"),
            json!({"enabled": true}),
        ),
        (
            format!("/v1/superadmin/tenants/{tenant}/feature-flags/ok.flag"),
            json!({"enabled": 1}),
        ),
        (
            "/v1/superadmin/module-presets/x".to_string(),
            json!({"modules": {"Not A Module": true}}),
        ),
        (
            "/v1/superadmin/module-presets/x".to_string(),
            json!({"modules": {"pos": "yes"}}),
        ),
    ] {
        let (status, err) = server.send(Method::PUT, &admin, &path, &body).await;
        assert_eq!(status, 400, "{path} {body}: {err}");
    }
    let (status, _) = server
        .send(
            Method::POST,
            &admin,
            &format!("/v1/superadmin/tenants/{tenant}/apply-preset"),
            &json!({"preset": "nope"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = server
        .send(
            Method::POST,
            &admin,
            "/v1/superadmin/tenants/missing/apply-preset",
            &json!({"preset": "pos-only"}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        server
            .get(
                &admin,
                "/v1/superadmin/analytics/module-toggles?windowDays=0"
            )
            .await
            .0,
        400
    );

    // Tenant tokens never reach superadmin routes.
    for path in [
        "/v1/superadmin/plans",
        "/v1/superadmin/members",
        "/v1/superadmin/registrations",
        "/v1/superadmin/module-presets",
        "/v1/superadmin/analytics/module-toggles",
    ] {
        assert_eq!(server.get(&staff, path).await.0, 403, "{path}");
    }
    assert_eq!(server.get(&admin, "/v1/portal/me").await.0, 403);
    assert_eq!(server.get("", "/v1/portal/me").await.0, 401);

    let (_, plans) = server.get(&admin, "/v1/superadmin/plans").await;
    let names: Vec<&str> = plans["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Core", "Pro", "Enterprise"]);
    let (_, members) = server.get(&admin, "/v1/superadmin/members").await;
    assert_eq!(members["members"][0]["email"], common::SUPERADMIN_EMAIL);
    assert!(members["members"][0]["lastLoginAt"].as_str().is_some());

    // A tenant's users: its own only, with role and last sign-in, never a hash.
    let (other, _) = server.tenant(&admin, "Elsewhere").await;
    let (status, listed) = server
        .get(&admin, &format!("/v1/superadmin/tenants/{tenant}/users"))
        .await;
    assert_eq!(status, 200, "{listed}");
    let users = listed["users"].as_array().unwrap();
    assert_eq!(users.len(), 1, "{listed}");
    assert_eq!(users[0]["role"], "staff");
    assert!(
        users[0]["email"]
            .as_str()
            .unwrap()
            .ends_with("@checks.test"),
        "{listed}"
    );
    assert!(
        users[0]["lastLoginAt"].as_str().is_some(),
        "staff signed in: {listed}"
    );
    assert!(!listed.to_string().contains("argon2"), "{listed}");
    let (_, theirs) = server
        .get(&admin, &format!("/v1/superadmin/tenants/{other}/users"))
        .await;
    assert_ne!(theirs["users"][0]["id"], users[0]["id"]);
    let (status, err) = server
        .get(&admin, "/v1/superadmin/tenants/missing/users")
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("TENANT_NOT_FOUND"))
    );
    let (status, _) = server
        .get(&staff, &format!("/v1/superadmin/tenants/{tenant}/users"))
        .await;
    assert_eq!(status, 403);
}

async fn service_tokens_for_synthetic_checks(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, _) = server.tenant(&admin, "Synthetic").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    let path = format!("/v1/superadmin/tenants/{tenant}/service-tokens");
    let (status, created) = server
        .send(Method::POST, &admin, &path, &json!({"name": "uptime"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    let token_id = created["id"].as_str().unwrap().to_string();
    assert!(token.starts_with("nova_st_"));
    let stored: String = {
        use sqlx::Row;
        sqlx::query("SELECT token_hash FROM service_tokens WHERE id = $1")
            .bind(&token_id)
            .fetch_one(server.db().pool())
            .await
            .unwrap()
            .get("token_hash")
    };
    assert_ne!(stored, token, "only a hash is stored");

    let resp = server
        .http
        .get(server.url("/v1/portal/pos/tickets?limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(
        server.invocations_for(&admin, &id).await[0]["actor"],
        token_id.as_str()
    );
    assert_eq!(server.get(&token, "/v1/superadmin/tenants").await.0, 403);
    let (_, me) = server.get(&token, "/v1/portal/me").await;
    assert_eq!(me["user"]["role"], "service");

    let revoke = format!("{path}/{token_id}");
    assert_eq!(
        server
            .send(Method::DELETE, &admin, &revoke, &json!({}))
            .await
            .0,
        204
    );
    assert_eq!(
        server.get(&token, "/v1/portal/pos/tickets?limit=1").await.0,
        401
    );
    assert_eq!(
        server
            .send(Method::DELETE, &admin, &revoke, &json!({}))
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .send(Method::POST, &admin, &path, &json!({"name": ""}))
            .await
            .0,
        400
    );
    let (_, audit) = server
        .get(
            &admin,
            &format!("/v1/superadmin/audit?tenantId={tenant}&action=service_token.revoked"),
        )
        .await;
    assert_eq!(audit["events"][0]["payload"]["tokenId"], token_id.as_str());
}

async fn signing_keys_rotate_without_logging_anyone_out(backend: Backend) {
    use nova::auth::{Claims, Keys, Role};
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (tenant, old) = server.tenant(&admin, "Rotating").await;
    server.toggle(&admin, &tenant, "pos", true).await;
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let old_kid = kid(&old);

    // Another process (here: the same code `nova keys rotate` runs) adds a key.
    let new_kid = nova::auth::token::rotate(server.db()).await.unwrap();
    assert_ne!(new_kid, old_kid);
    let fresh = Keys::load(server.db(), None).await.unwrap();
    assert_eq!(fresh.kid(), new_kid);
    let now = nova::storage::now_ms() / 1000;
    let signed_by_new = fresh
        .sign(&Claims {
            sub: "someone".into(),
            email: "someone@rotating.test".into(),
            role: Role::Staff,
            tenant: Some(tenant.clone()),
            iat: now,
            exp: now + 600,
        })
        .unwrap();
    // The server has not seen the new key yet: it re-reads the keys and accepts the token.
    assert_eq!(
        server
            .get(&signed_by_new, "/v1/portal/pos/tickets?limit=1")
            .await
            .0,
        200
    );
    // Tokens of the previous key keep working.
    assert_eq!(
        server.get(&old, "/v1/portal/pos/tickets?limit=1").await.0,
        200
    );
    // After reconciliation the server signs with the new key.
    server.state.reconcile().await;
    let relogin = server.superadmin().await;
    assert_eq!(kid(&relogin), new_kid);
    // A token naming a key that does not exist is refused.
    let forged = Keys::from_secret(b"never-stored-never-stored-never-stored!")
        .issue("x", "x@y.z", Role::Superadmin, None)
        .unwrap();
    assert_eq!(server.get(&forged, "/v1/superadmin/tenants").await.0, 401);
}

async fn plan_change_and_cancellation_keep_overrides(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let id = register(&server, "Growing", "grow@place.test", "Core").await;
    let tenant = approve(&server, &admin, &id).await;
    let base = format!("/v1/superadmin/tenants/{tenant}");
    let (status, _) = server
        .send(
            Method::PUT,
            &admin,
            &format!("{base}/modules/pos"),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .send(
            Method::PUT,
            &admin,
            &format!("{base}/feature-flags/pos.reports"),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, 200);
    let audit_before = toggle_audit(&server, &admin, &tenant).await.len();

    // Core → Pro: billing arrives from the plan; the overrides stay as they were.
    let (status, changed) = server
        .send(
            Method::PUT,
            &admin,
            &format!("{base}/subscription"),
            &json!({"plan": "Pro"}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        changed["delta"]["billing"],
        json!({"previous": null, "current": true})
    );
    let (_, m) = server.get(&admin, &format!("{base}/modules")).await;
    assert_eq!(module_state(&m, "billing")["source"], "plan");
    assert_eq!(
        module_state(&m, "pos"),
        json!({"name": "pos", "enabled": false, "source": "override", "plan": true, "override": false})
    );
    let (_, f) = server.get(&admin, &format!("{base}/feature-flags")).await;
    let reports = f["featureFlags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "pos.reports")
        .unwrap()
        .clone();
    assert_eq!(
        reports,
        json!({"name": "pos.reports", "enabled": false, "source": "override", "plan": true, "override": false})
    );
    assert_eq!(
        toggle_audit(&server, &admin, &tenant).await.len(),
        audit_before + 1,
        "one audit row"
    );

    // Cancel: every plan row goes, overrides remain.
    let (status, _) = server
        .send(
            Method::DELETE,
            &admin,
            &format!("{base}/subscription"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, m) = server.get(&admin, &format!("{base}/modules")).await;
    assert_eq!(
        module_state(&m, "pos"),
        json!({"name": "pos", "enabled": false, "source": "override", "plan": null, "override": false})
    );
    // billing is installed (bundled) but has no rows left: listed as off, decided by nothing.
    assert_eq!(
        module_state(&m, "billing"),
        json!({"name": "billing", "enabled": false, "source": "none", "plan": null, "override": null})
    );
    let owner = server.login("grow@place.test", "owner-password").await;
    let (_, me) = server.get(&owner, "/v1/portal/me").await;
    assert_eq!(me["plan"], Value::Null);
    assert_eq!(me["modules"], json!([]));
    assert_eq!(me["featureFlags"], json!([]));
    assert_eq!(server.get(&owner, "/v1/portal/pos/tickets").await.0, 403);
    // Dropping the override after cancellation leaves nothing: off.
    server
        .send(
            Method::DELETE,
            &admin,
            &format!("{base}/modules/pos"),
            &json!({}),
        )
        .await;
    let (_, m) = server.get(&admin, &format!("{base}/modules")).await;
    assert_eq!(module_state(&m, "pos")["source"], "none");
    assert_eq!(
        toggle_audit(&server, &admin, &tenant).await.len(),
        audit_before + 3
    );

    // Bad input.
    assert_eq!(
        server
            .send(
                Method::DELETE,
                &admin,
                &format!("{base}/subscription"),
                &json!({})
            )
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .send(
                Method::PUT,
                &admin,
                &format!("{base}/subscription"),
                &json!({"plan": "Pro"})
            )
            .await
            .0,
        404
    );
    let (other, _) = server.tenant(&admin, "NoPlan").await;
    let (status, err) = server
        .send(
            Method::PUT,
            &admin,
            &format!("/v1/superadmin/tenants/{other}/subscription"),
            &json!({"plan": "Gold"}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].clone()),
        (400, json!("plan"))
    );
}

/// Changes made behind the cache's back (a change message that never arrived) show after one
/// reconciliation, for every cached tenant at once; until then the cached views answer.
async fn reconciliation_rereads_every_cached_view(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (a, a_staff) = server.tenant(&admin, "Reread A").await;
    let (b, b_staff) = server.tenant(&admin, "Reread B").await;
    let (c, c_staff) = server.tenant(&admin, "Reread C").await;
    server.toggle(&admin, &a, "pos", true).await;
    let modules = |me: &Value| -> Vec<String> {
        me["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect()
    };
    for token in [&a_staff, &b_staff, &c_staff] {
        assert_eq!(server.get(token, "/v1/portal/me").await.0, 200);
    }
    let pro: String = sqlx::query_scalar("SELECT id FROM plans WHERE name = 'Pro'")
        .fetch_one(server.db().pool())
        .await
        .unwrap();
    let now = nova::storage::now_ms();
    for sql in [
        format!("UPDATE tenant_modules SET enabled = 0 WHERE tenant_id = '{a}'"),
        format!(
            "INSERT INTO tenant_modules (tenant_id, module, source, enabled, updated_by, updated_at) VALUES ('{b}', 'pos', 'override', 1, 'x', {now})"
        ),
        format!(
            "INSERT INTO subscriptions (id, tenant_id, plan_id, status, created_at, updated_at) VALUES ('sub-reread', '{c}', '{pro}', 'active', {now}, {now})"
        ),
        format!(
            "INSERT INTO tenant_feature_flags (tenant_id, flag, source, enabled, updated_at) VALUES ('{c}', 'pos.reports', 'override', 1, {now})"
        ),
    ] {
        sqlx::query(&sql).execute(server.db().pool()).await.unwrap();
    }
    // No message told this server: its cached views still answer.
    assert_eq!(
        modules(&server.get(&a_staff, "/v1/portal/me").await.1),
        ["pos"]
    );
    assert_eq!(server.get(&b_staff, "/v1/portal/pos/tickets").await.0, 403);

    server.state.reconcile().await;
    assert!(modules(&server.get(&a_staff, "/v1/portal/me").await.1).is_empty());
    assert_eq!(server.get(&a_staff, "/v1/portal/pos/tickets").await.0, 403);
    assert_eq!(
        modules(&server.get(&b_staff, "/v1/portal/me").await.1),
        ["pos"]
    );
    assert_eq!(server.get(&b_staff, "/v1/portal/pos/tickets").await.0, 200);
    let (_, me) = server.get(&c_staff, "/v1/portal/me").await;
    assert_eq!(me["plan"]["name"], "Pro", "{me}");
    assert_eq!(me["featureFlags"], json!(["pos.reports"]), "{me}");
    assert_eq!(me["limits"]["callsPerMinute"], 3000, "{me}");
}

/// Reconciliation re-reads the views of tenants that are calling rather than dropping
/// them (their calls stay in memory), and drops a view no call has used for a minute of
/// rounds, so memory follows the tenants that are active.
async fn reconciliation_keeps_busy_views_and_drops_idle_ones(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let (busy, busy_staff) = server.tenant(&admin, "Busy").await;
    let (idle, idle_staff) = server.tenant(&admin, "Idle").await;
    for token in [&busy_staff, &idle_staff] {
        assert_eq!(server.get(token, "/v1/portal/me").await.0, 200);
    }
    let tenancy = &server.state.tenancy;
    assert!(tenancy.is_cached(&busy) && tenancy.is_cached(&idle));
    let mut rounds = 0;
    while tenancy.is_cached(&idle) {
        assert_eq!(server.get(&busy_staff, "/v1/portal/me").await.0, 200);
        server.state.reconcile().await;
        assert!(tenancy.is_cached(&busy), "round {rounds}");
        rounds += 1;
        assert!(rounds <= 20, "an idle view outlived 20 rounds");
    }
    // Not at the first round: a tenant that calls every few seconds keeps its view.
    assert!(rounds > 10, "dropped after {rounds} rounds");
    // The dropped tenant's next call loads its view again.
    assert_eq!(server.get(&idle_staff, "/v1/portal/me").await.0, 200);
    assert!(tenancy.is_cached(&idle));
}

/// A plan whose stored entitlements no longer decode does not stop reconciliation for
/// everyone: its tenants' views are dropped (their calls meet the error), the others are
/// re-read.
async fn reconciliation_survives_a_plan_that_does_not_decode(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.superadmin().await;
    let id = register(&server, "On Pro", "pro@decode.test", "Pro").await;
    let on_pro = approve(&server, &admin, &id).await;
    let pro_staff = server.tenant_user(&admin, &on_pro, "staff").await;
    let (plain, plain_staff) = server.tenant(&admin, "No Plan").await;
    for token in [&pro_staff, &plain_staff] {
        assert_eq!(server.get(token, "/v1/portal/me").await.0, 200);
    }
    sqlx::query("UPDATE plans SET entitlements = 'not json' WHERE name = 'Pro'")
        .execute(server.db().pool())
        .await
        .unwrap();
    server.state.reconcile().await;
    let tenancy = &server.state.tenancy;
    assert!(!tenancy.is_cached(&on_pro));
    assert!(tenancy.is_cached(&plain));
    let (status, body) = server.get(&pro_staff, "/v1/portal/me").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "INTERNAL", "{body}");
    assert_eq!(server.get(&plain_staff, "/v1/portal/me").await.0, 200);
}

both_backends!(
    reconciliation_rereads_every_cached_view,
    reconciliation_survives_a_plan_that_does_not_decode,
    reconciliation_keeps_busy_views_and_drops_idle_ones,
    plan_change_and_cancellation_keep_overrides,
    signing_keys_rotate_without_logging_anyone_out,
    service_tokens_for_synthetic_checks,
    registration_to_tenant,
    overrides_flags_and_resolution,
    presets_apply_with_one_audit_row,
    plan_limits_reach_each_call,
    bad_input_on_tenancy_routes,
);
