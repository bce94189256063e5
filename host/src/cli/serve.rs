//! `nova serve`: the API server.

use clap::Args;
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::config::Config;
use crate::storage;

/// Options of `nova serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address the API listens on.
    #[arg(long, env = "NOVA_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,

    /// Do not install the modules bundled with this binary at start.
    #[arg(long, env = "NOVA_NO_BUNDLED_MODULES")]
    pub(crate) no_bundled_modules: bool,

    /// Run a billing worker inside the server: `auto` does on the embedded database (one
    /// process is the whole deployment) and leaves it to `nova worker` on PostgreSQL.
    #[arg(long, env = "NOVA_IN_PROCESS_WORKER", default_value = "auto", value_parser = ["auto", "on", "off"])]
    pub(crate) worker: String,

    /// Connections open at once; further clients wait to be accepted.
    #[arg(long, env = "NOVA_MAX_CONNECTIONS", default_value_t = 4096)]
    pub(crate) max_connections: usize,

    /// Time a client has to send a request's headers before it is cut off (slow clients).
    #[arg(long, env = "NOVA_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub(crate) header_timeout_ms: u64,

    /// Time a request may take from start to answer (408 after it).
    #[arg(long, env = "NOVA_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub(crate) request_timeout_ms: u64,

    /// A second address serving only `/metrics`, for Prometheus on a private network (the
    /// Kubernetes manifests open it to the monitoring namespace only). Unset: `/metrics` is
    /// served on the API port alone, to the scrape token or a superadmin.
    #[arg(long, env = "NOVA_METRICS_LISTEN")]
    pub(crate) metrics_listen: Option<String>,
}

/// Build the app, bind, serve until Ctrl-C or SIGTERM.
pub(crate) async fn run(config: &Config, args: ServeArgs) -> anyhow::Result<()> {
    if config.call_deadline_ms >= args.request_timeout_ms {
        tracing::warn!(
            call_deadline_ms = config.call_deadline_ms,
            request_timeout_ms = args.request_timeout_ms,
            "a module call may run as long as a request may take: clients get 408 before a \
             call is stopped with 504; raise --request-timeout-ms above --call-deadline-ms"
        );
    }
    let listener = TcpListener::bind(&args.listen).await?;
    let addr = listener.local_addr()?;
    config.payments.check_exposure(addr.ip())?;
    let metrics_listener = match &args.metrics_listen {
        Some(at) => Some(TcpListener::bind(at).await?),
        None => None,
    };
    let state = AppState::build(config).await?;
    if !args.no_bundled_modules {
        state.runtime.install_bundled().await?;
    }
    // Before anything that waits (the Redis subscription): a SIGTERM from here on stops the
    // process cleanly. Also before the first line a test or script reads.
    let shutdown = shutdown_signal();
    state.start_sync().await;
    let in_process = match args.worker.as_str() {
        "on" => true,
        "off" => false,
        _ => state.db.backend() == storage::Backend::Sqlite,
    };
    if in_process {
        tokio::spawn(crate::support::sla::watch(state.clone()));
        tokio::spawn(crate::jobs::retention::run(state.clone()));
        let worker_state = state.clone();
        tokio::spawn(crate::jobs::run(
            worker_state,
            format!("serve-{}", std::process::id()),
            std::future::pending(),
        ));
    }
    tracing::info!(
        addr = %addr,
        database = %storage::redact(&config.database_url()),
        modules = ?state.runtime.registry.names(),
        "nova listening"
    );
    if let Some(listener) = metrics_listener {
        let at = listener.local_addr()?;
        // Tests and scripts read this line to learn the port when it ends in :0.
        println!("nova metrics on http://{at}");
        let app = crate::http::scrape::private_router(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    // Tests and scripts read this line to learn the port when --listen ends in :0.
    println!("nova listening on http://{addr}");
    let app = crate::http::router(state.clone());
    let limits = crate::http::server::ServerLimits {
        max_connections: args.max_connections,
        header_timeout: std::time::Duration::from_millis(args.header_timeout_ms),
        request_timeout: std::time::Duration::from_millis(args.request_timeout_ms),
        ..Default::default()
    };
    crate::http::server::serve(listener, app, limits, shutdown).await?;
    state.close().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
///
/// On Unix the handlers are registered when this is called (inside the runtime), not when
/// the future is first polled: callers call it before printing their "listening" line, so a
/// supervisor or test that sends SIGTERM as soon as it reads that line gets a graceful stop
/// rather than the default action, which kills the process.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(interrupt) => {},
                _ = wait(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
    }
}
