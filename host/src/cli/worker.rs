//! `nova worker`: takes jobs from the queue (billing events), with liveness and readiness
//! probes and metrics on their own port.

use axum::Router;
use axum::routing::get;
use clap::Args;
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::config::Config;
use crate::http::health;

/// Options of `nova worker`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "NOVA_WORKER_LISTEN", default_value = "127.0.0.1:3001")]
    pub(crate) listen: String,
    #[command(flatten)]
    pub(crate) backups: super::backup::ScheduleArgs,
}

pub(crate) async fn run(config: &Config, args: WorkerArgs) -> anyhow::Result<()> {
    let state = AppState::build(config).await?;
    state.runtime.install_bundled().await?;
    let shutdown = super::serve::shutdown_signal();
    state.start_sync().await;
    let probes = Router::new()
        .route("/healthz", get(health::health))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::private_metrics))
        .with_state(state.clone());
    let listener = TcpListener::bind(&args.listen).await?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to learn the port when --listen ends in :0.
    println!("nova worker probes on http://{addr}");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, probes).await {
            tracing::error!(error = %e, "worker probes stopped");
        }
    });
    tokio::spawn(crate::support::sla::watch(state.clone()));
    tokio::spawn(crate::jobs::retention::run(state.clone()));
    let id = format!("worker-{}-{}", std::process::id(), uuid::Uuid::new_v4());
    tokio::spawn(super::backup::scheduled(
        config.clone(),
        state.db.clone(),
        id.clone(),
        args.backups,
    ));
    crate::jobs::run(state.clone(), id, shutdown).await;
    state.close().await;
    Ok(())
}
