//! The HTTP server loop: hyper with the protections a public endpoint needs. A client that
//! sends headers slowly is cut off after a timeout (slow-loris), connections beyond a cap
//! wait in the kernel's accept queue instead of exhausting the process, every request has a
//! deadline, and shutdown lets requests in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::extract::connect_info::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Limits on clients.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Connections open at once; more wait to be accepted.
    pub(crate) max_connections: usize,
    /// Time a client has to send a request's headers.
    pub(crate) header_timeout: Duration,
    /// Time a request may take, start to answer (module deadlines are far shorter).
    pub(crate) request_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub(crate) max_header_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_header_bytes: 64 << 10,
        }
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then wait (up to 30 s) for requests in
/// flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let deadline = limits.request_timeout;
    let app = app.layer(axum::middleware::from_fn(move |req, next| {
        super::shape::with_deadline(deadline, req, next)
    }));
    // HTTP/1 only: protocol detection for HTTP/2 has no timer, so a client could hold a
    // slot by sending part of the HTTP/2 preface; Nova is served behind proxies that speak
    // HTTP/1 to it.
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    let builder = Arc::new(builder);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let svc = app.clone().map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req.map(axum::body::Body::new)
        });
        let (builder, watcher, header_timeout) =
            (builder.clone(), graceful.watcher(), limits.header_timeout);
        tokio::spawn(async move {
            // hyper's header timeout starts with the first byte; a client that connects and
            // says nothing would otherwise hold its slot for ever.
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => {
                    drop(permit);
                    return;
                }
            }
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(super::parse_errors::ShapedErrors::new(stream)),
                TowerToHyperService::new(svc),
            );
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("requests still running after 30 s of shutdown; stopping anyway");
        }
    }
    Ok(())
}
