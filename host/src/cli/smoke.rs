//! `nova smoke pos-sale`: a sale end to end against a running deployment, stopping with a
//! clear message at the first step that fails.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::api_client::Api;

/// `nova smoke …`
#[derive(Debug, Subcommand)]
pub(crate) enum SmokeCommand {
    /// Open a ticket, add lines, capture a card payment, close, and wait for settlement.
    PosSale(SmokeArgs),
}

/// Where and as whom.
#[derive(Debug, Args)]
pub(crate) struct SmokeArgs {
    /// Nova's base URL.
    #[arg(long, env = "NOVA_API_URL")]
    pub(crate) api_url: String,
    /// A tenant user's or service token with POS enabled.
    #[arg(long, env = "NOVA_TOKEN", hide_env_values = true)]
    pub(crate) token: String,
    /// How long to wait for the provider's settlement webhook, in seconds.
    #[arg(long, default_value_t = 30)]
    pub(crate) settle_timeout_secs: u64,
}

pub(crate) async fn run(command: SmokeCommand) -> anyhow::Result<()> {
    let SmokeCommand::PosSale(args) = command;
    let api = Api::new(&args.api_url, &args.token)?;
    let started = Instant::now();
    let pos = "/v1/portal/pos";
    let reference = format!("smoke-{}", uuid::Uuid::new_v4());

    let ticket = step("open a ticket", api.expect(
        "opening a ticket",
        "POST",
        &format!("{pos}/tickets"),
        Some(&json!({"table": "smoke", "reference": reference,
            "items": [{"name": "Smoke test espresso", "qty": 1, "priceCents": 300, "taxRateBps": 1000}]})),
        &[201],
    ))
    .await?;
    let id = ticket["id"].as_u64().ok_or_else(|| {
        anyhow::anyhow!("opening a ticket: the answer has no numeric id: {ticket}")
    })?;

    let ticket = step("add lines", api.expect(
        "adding a line",
        "POST",
        &format!("{pos}/tickets/{id}/lines"),
        Some(&json!({"name": "Smoke test croissant", "qty": 2, "priceCents": 250, "taxRateBps": 1000})),
        &[201],
    ))
    .await?;
    let total = ticket["totalCents"].as_i64().unwrap_or(0);
    if total != 880 {
        anyhow::bail!("add lines: expected a total of 880 cents (800 + 10% tax), got {ticket}");
    }

    let payment = step(
        "capture the payment",
        api.expect(
            "capturing the payment",
            "POST",
            &format!("{pos}/tickets/{id}/payments"),
            Some(&json!({"amountCents": total, "method": "card"})),
            &[201],
        ),
    )
    .await?;
    let payment_id = payment["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("capture: the answer has no payment id: {payment}"))?
        .to_string();

    step(
        "close the ticket",
        api.expect(
            "closing the ticket",
            "POST",
            &format!("{pos}/tickets/{id}/close"),
            Some(&json!({})),
            &[200],
        ),
    )
    .await?;

    step("see the settlement", async {
        let deadline = Instant::now() + Duration::from_secs(args.settle_timeout_secs);
        loop {
            let p: Value = api
                .expect("reading the payment", "GET", &format!("{pos}/payments/{payment_id}"), None, &[200])
                .await?;
            match p["status"].as_str() {
                Some("settled") => return Ok(p),
                Some("failed") => anyhow::bail!("the provider reported the payment failed: {p}"),
                _ if Instant::now() > deadline => anyhow::bail!(
                    "no settlement webhook within {}s (payment {payment_id} is {}): is the provider's webhook reaching {}?",
                    args.settle_timeout_secs,
                    p["status"],
                    args.api_url
                ),
                // Polling an external provider's asynchronous webhook: there is nothing to
                // wait on but the state itself.
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    })
    .await?;
    println!(
        "pos-sale smoke passed in {:.1}s: ticket {id}, payment {payment_id} settled",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Run one step, printing its outcome.
async fn step<T>(name: &str, f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let t = Instant::now();
    match f.await {
        Ok(v) => {
            println!("  ok    {name} ({} ms)", t.elapsed().as_millis());
            Ok(v)
        }
        Err(e) => {
            println!("  FAIL  {name}");
            Err(e.context(format!("smoke step '{name}' failed")))
        }
    }
}
