//! `nova drill billing`: the runbook's billing drills against a running API, with a report;
//! `nova drill check`: is the newest report of an environment fresh enough.
//!
//! The plan-change drill puts a tenant on one plan through a signed `subscription.created`,
//! moves it with `subscription.plan_changed` and checks its plan-sourced modules and flags
//! are the new plan's; the cancellation drill checks plan rows go and an override stays;
//! the failure drill posts a batch of events and times the backlog's drain (stop the
//! workers first to watch it pile up).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::api_client::Api;
use crate::webhooks::signature;

/// `nova drill …`
#[derive(Debug, Subcommand)]
pub(crate) enum DrillCommand {
    /// Plan change, cancellation and failure drills; prints snapshots and writes a report.
    Billing(BillingArgs),
    /// The monthly restore drill: the newest backup into a scratch database, its counts
    /// checked, the outbox replayed and a POS sale run on it; writes a report.
    Restore(super::restore_drill::RestoreDrillArgs),
    /// Exit non-zero when the newest drill report of an environment is older than allowed.
    Check(CheckArgs),
}

/// Options of `nova drill billing`.
#[derive(Debug, Args)]
pub(crate) struct BillingArgs {
    /// A `KEY=VALUE` file (see fixtures/drills/*.drill.env).
    #[arg(long, alias = "config")]
    pub(crate) env_file: PathBuf,
    /// Where reports go: `<dir>/<env>/YYYYMMDD-HHMMSS.md`.
    #[arg(long, default_value = "tests/drills/logs")]
    pub(crate) logs_dir: PathBuf,
    /// The report template.
    #[arg(long, default_value = "fixtures/drills/DRILL_REPORT_TEMPLATE.md")]
    pub(crate) template: PathBuf,
    /// Needed with `DRILL_ENV=production`: the drill changes real subscriptions.
    #[arg(long)]
    pub(crate) yes: bool,
}

/// Options of `nova drill check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// local, staging or production.
    #[arg(long)]
    pub(crate) env: String,
    #[arg(long, default_value = "tests/drills/logs")]
    pub(crate) logs_dir: PathBuf,
    /// Which drill: `billing` (weekly) or `restore` (monthly).
    #[arg(long, default_value = "billing", value_parser = ["billing", "restore"])]
    pub(crate) drill: String,
    /// Oldest acceptable report, in days (default 7 for billing, 31 for restore).
    #[arg(long)]
    pub(crate) max_age_days: Option<u64>,
}

pub(crate) async fn run(
    config: &crate::config::Config,
    command: DrillCommand,
) -> anyhow::Result<()> {
    match command {
        DrillCommand::Billing(args) => billing(args).await,
        DrillCommand::Restore(args) => super::restore_drill::run(config, args).await,
        DrillCommand::Check(args) => check(&args, crate::storage::now_ms() / 1000),
    }
}

/// Read a `KEY=VALUE` file: `#` comments, blank lines and optional quotes.
pub(crate) fn read_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let quoted = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')));
            // Unquoted values may carry a trailing ` # comment`.
            let v = quoted.unwrap_or_else(|| v.split(" #").next().unwrap_or("").trim());
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

struct Drill {
    api: Api,
    base: String,
    secret: String,
    timeout: Duration,
    client: reqwest::Client,
    log: Vec<String>,
}

impl Drill {
    fn say(&mut self, line: String) {
        println!("{line}");
        self.log.push(line);
    }

    /// Sign and post one event; wait until the worker processed or failed it.
    async fn event(&mut self, kind: &str, tenant: &str, data: Value) -> anyhow::Result<Value> {
        let mut data = data;
        data["tenantId"] = json!(tenant);
        let body = json!({"id": format!("evt_drill_{}", uuid::Uuid::new_v4().simple()), "type": kind, "data": data}).to_string();
        let sig = signature::sign(&self.secret, signature::unix_now(), body.as_bytes());
        let resp = self
            .client
            .post(format!("{}/billing/webhooks/sandbox", self.base))
            .header("x-sandbox-signature", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status == 202, "posting {kind} answered {status}: {answer}");
        let id = answer["id"]
            .as_str()
            .context("no event id in the answer")?
            .to_string();
        self.wait(&id).await
    }

    async fn wait(&self, id: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let v = self
                .api
                .expect(
                    "reading the event",
                    "GET",
                    &format!("/v1/superadmin/billing/webhooks/{id}"),
                    None,
                    &[200],
                )
                .await?;
            match v["event"]["status"].as_str() {
                Some("processed") => return Ok(v["event"].clone()),
                Some("failed") => anyhow::bail!("event {id} failed: {}", v["event"]["lastError"]),
                _ if Instant::now() > deadline => anyhow::bail!(
                    "event {id} still {} after {:?}: is a worker running?",
                    v["event"]["status"],
                    self.timeout
                ),
                // The worker is another process: polling its visible result is the only way.
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// (modules, flags) as `name source=… enabled=…` lines.
    async fn snapshot(&self, tenant: &str) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
        let m = self
            .api
            .expect(
                "reading modules",
                "GET",
                &format!("/v1/superadmin/tenants/{tenant}/modules"),
                None,
                &[200],
            )
            .await?;
        let f = self
            .api
            .expect(
                "reading flags",
                "GET",
                &format!("/v1/superadmin/tenants/{tenant}/feature-flags"),
                None,
                &[200],
            )
            .await?;
        Ok((
            m["modules"].as_array().cloned().unwrap_or_default(),
            f["featureFlags"].as_array().cloned().unwrap_or_default(),
        ))
    }
}

fn render(rows: &[Value]) -> String {
    let mut out = String::new();
    for r in rows
        .iter()
        .filter(|r| !r["plan"].is_null() || !r["override"].is_null())
    {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r["name"].as_str().unwrap_or(""),
            r["plan"],
            r["override"],
            r["enabled"]
        ));
    }
    if out.is_empty() {
        out.push_str("| (none) | | | |\n");
    }
    format!("| name | plan | override | enabled |\n|---|---|---|---|\n{out}")
}

fn plan_names(rows: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .filter(|r| r["plan"] == json!(true))
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

async fn billing(args: BillingArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.env_file)
        .with_context(|| format!("reading {}", args.env_file.display()))?;
    let env = read_env_file(&text);
    // The file first, then the environment, so secrets can stay out of the file.
    let get = |k: &str| {
        env.get(k)
            .cloned()
            .filter(|v| !v.is_empty())
            .or_else(|| std::env::var(k).ok().filter(|v| !v.is_empty()))
    };
    let need = |k: &str| get(k).with_context(|| format!("{} has no {k}", args.env_file.display()));
    let env_name = need("DRILL_ENV")?;
    anyhow::ensure!(
        env_name != "production" || args.yes,
        "the drill changes subscriptions and writes invoices: pass --yes to run it against production"
    );
    let base = need("API_URL")?.trim_end_matches('/').to_string();
    let secret = need("BILLING_WEBHOOK_SECRET")?;
    let from_plan =
        get("DRILL_FROM_PLAN").unwrap_or_else(|| "6a1f7c0e-3b1d-4c55-9a43-0c7e2f0b9d11".into());
    let to_plan =
        get("DRILL_TO_PLAN").unwrap_or_else(|| "1ef168c5-66e9-4d11-8f51-32301dbce0d4".into());
    let timeout = Duration::from_secs(
        get("DRILL_TIMEOUT_SECS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    );
    let failure_events: usize = get("DRILL_FAILURE_EVENTS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let token = match get("SUPERADMIN_TOKEN") {
        Some(t) => t,
        None => {
            let anon = Api::new(&base, "")?;
            let login = anon
                .expect("logging in", "POST", "/auth/login", Some(&json!({"email": need("SUPERADMIN_EMAIL")?, "password": need("SUPERADMIN_PASSWORD")?})), &[200])
                .await?;
            login["token"]
                .as_str()
                .context("no token in the login answer")?
                .to_string()
        }
    };
    let mut d = Drill {
        api: Api::new(&base, &token)?,
        base: base.clone(),
        secret,
        timeout,
        client: reqwest::Client::new(),
        log: Vec::new(),
    };
    let started = crate::storage::now_ms();
    let tenant = match get("DRILL_TENANT_ID") {
        Some(t) => t,
        None => {
            let t = d
                .api
                .expect(
                    "creating the drill tenant",
                    "POST",
                    "/v1/superadmin/tenants",
                    Some(&json!({"name": format!("Billing drill {started}")})),
                    &[201],
                )
                .await?;
            t["id"].as_str().context("no tenant id")?.to_string()
        }
    };
    d.say(format!("drill tenant {tenant} on {base} ({env_name})"));
    let plans = d
        .api
        .expect("listing plans", "GET", "/v1/superadmin/plans", None, &[200])
        .await?;
    let plan = |id: &str| {
        plans["plans"]
            .as_array()
            .and_then(|ps| {
                ps.iter()
                    .find(|p| p["id"] == id || p["name"] == id)
                    .cloned()
            })
            .with_context(|| format!("no plan {id}"))
    };
    let (from, to) = (plan(&from_plan)?, plan(&to_plan)?);
    let wanted = |p: &Value, key: &str| {
        let mut v: Vec<String> = p["entitlements"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
        v.sort();
        v
    };

    // An override that every drill must leave alone.
    d.api
        .expect(
            "setting an override",
            "PUT",
            &format!("/v1/superadmin/tenants/{tenant}/feature-flags/drill.override_kept"),
            Some(&json!({"enabled": true})),
            &[200],
        )
        .await?;
    d.event("subscription.created", &tenant, json!({"subscriptionId": format!("sub_drill_{started}"), "planId": from["id"], "billingCycle": "monthly"}))
        .await?;
    let (m0, f0) = d.snapshot(&tenant).await?;
    print!("before, modules:\n{}flags:\n{}", render(&m0), render(&f0));

    // Plan change.
    let t = Instant::now();
    d.event("subscription.plan_changed", &tenant, json!({"subscriptionId": format!("sub_drill_{started}"), "planId": to["id"], "billingCycle": "monthly"}))
        .await?;
    let plan_ms = t.elapsed().as_millis();
    let (m1, f1) = d.snapshot(&tenant).await?;
    print!(
        "after the plan change, modules:\n{}flags:\n{}",
        render(&m1),
        render(&f1)
    );
    let plan_ok =
        plan_names(&m1) == wanted(&to, "modules") && plan_names(&f1) == wanted(&to, "featureFlags");
    d.say(format!(
        "plan change {} → {}: {} in {plan_ms} ms (plan modules {:?}, plan flags {:?})",
        from["name"],
        to["name"],
        if plan_ok { "PASS" } else { "FAIL" },
        plan_names(&m1),
        plan_names(&f1)
    ));

    // Cancellation.
    d.event(
        "subscription.canceled",
        &tenant,
        json!({"subscriptionId": format!("sub_drill_{started}")}),
    )
    .await?;
    let (m2, f2) = d.snapshot(&tenant).await?;
    print!(
        "after the cancellation, modules:\n{}flags:\n{}",
        render(&m2),
        render(&f2)
    );
    let kept = f2
        .iter()
        .any(|r| r["name"] == "drill.override_kept" && r["override"] == json!(true));
    let cancel_ok = plan_names(&m2).is_empty() && plan_names(&f2).is_empty() && kept;
    d.say(format!(
        "cancellation: {} (plan rows left: {:?} {:?}; override kept: {kept})",
        if cancel_ok { "PASS" } else { "FAIL" },
        plan_names(&m2),
        plan_names(&f2)
    ));

    // Failure drill: a batch of events and the time the backlog takes to drain.
    let mut ids = Vec::new();
    for n in 0..failure_events {
        let body = json!({"id": format!("evt_drill_{}", uuid::Uuid::new_v4().simple()), "type": "invoice.created",
            "data": {"tenantId": tenant, "invoiceId": format!("in_drill_{started}_{n}"), "amountCents": 100}}).to_string();
        let sig = signature::sign(&d.secret, signature::unix_now(), body.as_bytes());
        let r = d
            .client
            .post(format!("{base}/billing/webhooks/sandbox"))
            .header("x-sandbox-signature", sig)
            .body(body)
            .send()
            .await?;
        let v: Value = r.json().await.unwrap_or(Value::Null);
        ids.push(v["id"].as_str().unwrap_or_default().to_string());
    }
    // The drill's token is a superadmin's, which /metrics on the API port accepts.
    let metrics = d.api.text("/metrics").await.unwrap_or_default();
    let depth = metrics
        .lines()
        .find(|l| l.starts_with("nova_queue_depth{queue=\"billing:webhooks\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or("?")
        .to_string();
    let t = Instant::now();
    let mut drained = true;
    for id in &ids {
        if let Err(e) = d.wait(id).await {
            drained = false;
            d.say(format!("backlog did not drain: {e:#}"));
            break;
        }
    }
    d.say(format!(
        "failure drill: {failure_events} events posted, queue depth right after: {depth}; backlog {} in {} ms",
        if drained { "drained" } else { "NOT drained" },
        t.elapsed().as_millis()
    ));

    let audit = d
        .api
        .expect(
            "reading audit",
            "GET",
            &format!("/v1/superadmin/audit?tenantId={tenant}&module=billing&limit=50"),
            None,
            &[200],
        )
        .await?;
    let mut audit_lines = String::new();
    for e in audit["events"].as_array().into_iter().flatten() {
        audit_lines.push_str(&format!(
            "- {} {} {}\n",
            e["createdAt"].as_str().unwrap_or(""),
            e["action"].as_str().unwrap_or(""),
            e["actor"].as_str().unwrap_or("")
        ));
    }
    print!("audit:\n{audit_lines}");
    let result = if plan_ok && cancel_ok && drained {
        "PASS"
    } else {
        "FAIL"
    };
    let template = std::fs::read_to_string(&args.template)
        .with_context(|| format!("reading the report template {}", args.template.display()))?;
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let file_stamp: String = stamp
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(14)
        .collect();
    let file_stamp = format!("{}-{}", &file_stamp[..8], &file_stamp[8..]);
    let report = template
        .replace("{{env}}", &env_name)
        .replace("{{date}}", &stamp)
        .replace("{{api_url}}", &base)
        .replace("{{tenant}}", &tenant)
        .replace("{{result}}", result)
        .replace("{{modules_before}}", &render(&m0))
        .replace("{{flags_before}}", &render(&f0))
        .replace("{{modules_after}}", &render(&m1))
        .replace("{{flags_after}}", &render(&f1))
        .replace("{{modules_canceled}}", &render(&m2))
        .replace("{{flags_canceled}}", &render(&f2))
        .replace("{{audit}}", &audit_lines)
        .replace(
            "{{log}}",
            &d.log.iter().map(|l| format!("- {l}\n")).collect::<String>(),
        );
    let dir = args.logs_dir.join(&env_name);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{file_stamp}.md"));
    std::fs::write(&path, report)?;
    println!("report: {}", path.display());
    anyhow::ensure!(
        result == "PASS",
        "the billing drill failed; see {}",
        path.display()
    );
    Ok(())
}

/// Whether a report says its drill failed.
fn failed(report: &Path) -> bool {
    std::fs::read_to_string(report).is_ok_and(|text| text.contains("**Result:** FAIL"))
}

/// The newest report's age in seconds, from its `<prefix>YYYYMMDD-HHMMSS.md` name.
fn newest_age(dir: &Path, prefix: &str, now_secs: i64) -> anyhow::Result<Option<(String, i64)>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| Some(n.strip_prefix(prefix)?.to_string()))
        .filter(|n| n.len() == 18 && n.ends_with(".md"))
        .collect();
    names.sort();
    let Some(name) = names.pop() else {
        return Ok(None);
    };
    let stamp = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &name[0..4],
        &name[4..6],
        &name[6..8],
        &name[9..11],
        &name[11..13],
        &name[13..15]
    );
    let t = humantime::parse_rfc3339(&stamp)
        .with_context(|| format!("{name} is not YYYYMMDD-HHMMSS.md"))?;
    let secs = t.duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    Ok(Some((format!("{prefix}{name}"), now_secs - secs)))
}

fn check(args: &CheckArgs, now_secs: i64) -> anyhow::Result<()> {
    let dir = args.logs_dir.join(&args.env);
    let (prefix, default_days) = match args.drill.as_str() {
        "restore" => ("restore-", 31),
        _ => ("", 7),
    };
    let days = args.max_age_days.unwrap_or(default_days);
    let max = days as i64 * 86_400;
    let what = format!("{} {} drill report", args.env, args.drill);
    match newest_age(&dir, prefix, now_secs)? {
        None => anyhow::bail!("no {} drill reports in {}", args.drill, dir.display()),
        Some((name, age)) if age > max => anyhow::bail!(
            "the newest {what} ({name}) is {} days old; the limit is {days}",
            age / 86_400,
        ),
        Some((name, _)) if failed(&dir.join(&name)) => {
            anyhow::bail!("the newest {what} ({name}) says the drill failed")
        }
        Some((name, age)) => {
            println!("{what} {name} is {} hours old: fresh", age / 3600);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files() {
        let env = read_env_file(
            "# c\nAPI_URL=http://x   # the API\nexport A='b c'\nB=\"d # not a comment\"\n\nEMPTY=\n",
        );
        assert_eq!(env["API_URL"], "http://x");
        assert_eq!(env["A"], "b c");
        assert_eq!(env["B"], "d # not a comment");
        assert_eq!(env["EMPTY"], "");
    }

    #[test]
    fn freshness() {
        let dir = tempfile::tempdir().unwrap();
        let args = CheckArgs {
            env: "staging".into(),
            logs_dir: dir.path().to_path_buf(),
            drill: "billing".into(),
            max_age_days: Some(7),
        };
        assert!(check(&args, 1_800_000_000).is_err(), "no reports");
        std::fs::create_dir_all(dir.path().join("staging")).unwrap();
        std::fs::write(dir.path().join("staging/20270110-080000.md"), "x").unwrap();
        let t = humantime::parse_rfc3339("2027-01-10T08:00:00Z").unwrap();
        let at = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!(check(&args, at + 6 * 86_400).is_ok());
        assert!(check(&args, at + 8 * 86_400).is_err());
        std::fs::write(dir.path().join("staging/20270117-080000.md"), "x").unwrap();
        assert!(check(&args, at + 8 * 86_400).is_ok(), "the newest counts");

        // Restore reports are told apart by name, and kept a month by default.
        let restore = CheckArgs {
            drill: "restore".into(),
            max_age_days: None,
            ..args
        };
        assert!(
            check(&restore, at).is_err(),
            "billing reports are not restore reports"
        );
        std::fs::write(dir.path().join("staging/restore-20270110-080000.md"), "x").unwrap();
        assert!(check(&restore, at + 30 * 86_400).is_ok());
        assert!(check(&restore, at + 32 * 86_400).is_err());
        std::fs::write(
            dir.path().join("staging/restore-20270111-080000.md"),
            "- **Result:** FAIL\n",
        )
        .unwrap();
        assert!(
            check(&restore, at + 86_400).is_err(),
            "a failed drill is no evidence"
        );
    }
}
