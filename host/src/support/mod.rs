//! Support around the support module: announcements (with mail to tenant admins), the SLA
//! watcher, and calls into the module for the platform's support team.

pub mod sla;

use serde_json::Value;
use sqlx::AnyConnection;

use crate::app::AppState;
use crate::calls::{self, Call, CallerRole, Policy};
use crate::contract::GuestRequest;
use crate::storage::announcements::{self, Announcement, Window};
use crate::storage::{kv, mail, users};

/// The module's name.
pub(crate) const MODULE: &str = "support";

/// Store an announcement and queue a mail to the admins of the tenants it reaches, in the
/// caller's transaction.
pub(crate) async fn announce_in(
    conn: &mut AnyConnection,
    title: &str,
    body: &str,
    tenants: Option<&[String]>,
    window: Option<Window>,
    actor: &str,
) -> Result<Announcement, sqlx::Error> {
    let a = announcements::create_in(conn, title, body, tenants, window, actor).await?;
    let admins = match tenants {
        None => users::all_tenant_admin_emails_in(conn).await?,
        Some(ids) => {
            let mut all = Vec::new();
            for t in ids {
                all.extend(users::emails_in(conn, Some(t), "admin").await?);
            }
            all
        }
    };
    let text = match window {
        Some(w) => format!(
            "{body}\n\nMaintenance window: {} to {} (UTC).",
            crate::storage::rfc3339(w.start),
            crate::storage::rfc3339(w.end)
        ),
        None => body.to_string(),
    };
    for to in admins {
        mail::enqueue_in(conn, &to, &format!("[Nova] {title}"), &text).await?;
    }
    Ok(a)
}

/// What a call into the support module answered.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

/// Call the support module for `tenant` as `actor` (the support team, `support:<email>`, or
/// the SLA watcher), with the checks every module call passes.
pub(crate) async fn call(
    state: &AppState,
    tenant: &str,
    actor: &str,
    role: CallerRole,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let req = GuestRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
    };
    // Calls made outside a request (the watcher) get a request id of their own.
    let request_id = crate::telemetry::REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| uuid::Uuid::now_v7().to_string());
    let call = Call {
        tenant_id: tenant.to_string(),
        actor: actor.to_string(),
        role,
        request_id: request_id.clone(),
        module: MODULE.to_string(),
        request: req,
    };
    match calls::call(state, call, Policy::PLATFORM)
        .await
        .into_answer()
    {
        Ok(resp) => Answer {
            status: resp.status,
            body: serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
        },
        Err(refusal) => Answer {
            status: refusal.status,
            body: refusal.body(request_id),
        },
    }
}

/// Tenants with the support module switched on that have a ticket in `status` (`open` or
/// `closed`). The module keeps one `status/<status>/…` key per ticket in that status
/// (`modules/support/src/keys.rs`), so a tenant without one has nothing to list or check:
/// triage and the SLA watcher call only these, a handful of calls where calling every
/// tenant with support would be thousands.
pub(crate) async fn tenants_with_tickets(
    state: &AppState,
    status: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let mut out = Vec::new();
    if state.runtime.registry.get(MODULE).is_none() {
        return Ok(out);
    }
    let prefix = format!("status/{status}/");
    for id in kv::tenants_with_prefix(&state.db, MODULE, &prefix).await? {
        if state.tenancy.view(&id).await?.module_enabled(MODULE) {
            out.push(id);
        }
    }
    Ok(out)
}
