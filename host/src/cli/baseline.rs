//! `nova bench-baseline`: native handlers the peer benchmark (`host/benches/peers.rs`)
//! measures Nova's module paths against. Same binary, same server loop, same token check
//! (`TenantUser`), same database and rows; only the module (and its invocation record) is
//! missing. Hidden from `--help`: it is a yardstick, not a feature.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::config::Config;
use crate::http::error::ApiError;
use crate::http::extract::TenantUser;
use crate::http::query::{ApiQuery, limit};
use crate::storage::{kv, now_ms};

/// Options of `nova bench-baseline`.
#[derive(Debug, Args)]
pub(crate) struct BaselineArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
}

pub(crate) async fn run(config: &Config, args: BaselineArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&args.listen).await?;
    let addr = listener.local_addr()?;
    let state = AppState::build(config).await?;
    let shutdown = super::serve::shutdown_signal();
    println!("nova baseline listening on http://{addr}");
    let app = Router::new()
        .route("/hello", get(|| async { Json(json!({"ok": true})) }))
        .route("/v1/portal/pos/tickets", get(list).post(create))
        .with_state(state.clone());
    crate::http::server::serve(
        listener,
        app,
        crate::http::server::ServerLimits::default(),
        shutdown,
    )
    .await?;
    state.db.close().await;
    Ok(())
}

#[derive(Deserialize)]
struct Page {
    limit: Option<String>,
}

/// What POS's `GET /tickets?limit=N` reads: the newest tickets of the caller's tenant.
async fn list(
    State(state): State<AppState>,
    user: TenantUser,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Response, ApiError> {
    let limit = limit(page.limit.as_deref(), 50, 100)?;
    let rows = kv::list(&state.db, &user.tenant_id, "pos", "ticket/", None, limit).await?;
    let tickets = rows
        .iter()
        .map(|(_, v)| serde_json::from_slice(&v.value).unwrap_or(Value::Null))
        .collect::<Vec<Value>>();
    let next = (rows.len() as i64 == limit).then(|| rows.last().map(|(k, _)| k.clone()));
    Ok(Json(json!({"tickets": tickets, "nextCursor": next.flatten()})).into_response())
}

/// Ticket ids: the time in milliseconds times 4096 plus a per-process counter, so they
/// increase and never repeat within this process (the benchmark runs one).
static SEQ: AtomicU64 = AtomicU64::new(0);

/// The turn to write, on SQLite.
static WRITER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What POS's `POST /tickets` stores: a ticket of the same size under a newest-first key,
/// in one transaction. Stored under a module name of its own (`pos-baseline`), so POS never
/// reads a row of another shape.
async fn create(
    State(state): State<AppState>,
    user: TenantUser,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let Some(table) = body.get("table").and_then(Value::as_str) else {
        return Err(ApiError::validation("table", "table is required"));
    };
    let now = now_ms();
    let id = (now as u64) << 12 | (SEQ.fetch_add(1, Ordering::Relaxed) & 0xfff);
    let ticket = json!({
        "id": id,
        "table": table,
        "reference": body.get("reference"),
        "businessDate": body.get("businessDate"),
        "items": body.get("items").cloned().unwrap_or(json!([])),
        "status": "open",
        "openedBy": user.claims.sub,
        "createdAtMs": now,
    });
    let key = format!("ticket/{:020}", u64::MAX - id);
    // SQLite has one writer: a native app takes turns in the process rather than have its
    // connections spin on the file lock (which starved them, and every other writer).
    let _turn = match state.db.backend() {
        crate::storage::Backend::Sqlite => Some(WRITER.lock().await),
        crate::storage::Backend::Postgres => None,
    };
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO module_kv (tenant_id, module, key, value, version, updated_at) \
         VALUES ($1, 'pos-baseline', $2, $3, 1, $4)",
    )
    .bind(&user.tenant_id)
    .bind(&key)
    .bind(serde_json::to_vec(&ticket).unwrap_or_default())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    crate::storage::commit_in_task(tx).await?;
    Ok((StatusCode::CREATED, Json(ticket)).into_response())
}
