//! `nova payments-sandbox`: the payment provider stand-in, on its own port.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;

use crate::config::{Config, SANDBOX_WEBHOOK_SECRET};
use crate::sandbox::payments::{SandboxConfig, router};

/// Options of `nova payments-sandbox`.
#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// Address the sandbox listens on (Nova reaches it at PAYMENT_PROVIDER_URL).
    #[arg(long, env = "PAYMENT_SANDBOX_LISTEN", default_value = "127.0.0.1:4010")]
    pub(crate) listen: String,
    /// Nova's base URL, where settlement webhooks are sent.
    #[arg(long, env = "NOVA_API_URL", default_value = "http://127.0.0.1:8080")]
    pub(crate) api_url: String,
    /// How long after a capture the settlement webhook is sent, in milliseconds.
    #[arg(long, default_value_t = 300)]
    pub(crate) settle_after_ms: u64,
}

pub(crate) async fn run(config: &Config, args: SandboxArgs) -> anyhow::Result<()> {
    let secret = config
        .payments
        .webhook_secret
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| SANDBOX_WEBHOOK_SECRET.to_string());
    let app = router(SandboxConfig {
        api_url: args.api_url.clone(),
        webhook_secret: secret,
        settle_after: Duration::from_millis(args.settle_after_ms),
    });
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to learn the port when --listen ends in :0.
    println!(
        "payments sandbox listening on http://{addr}, settling to {}",
        args.api_url
    );
    axum::serve(listener, app).await?;
    Ok(())
}
