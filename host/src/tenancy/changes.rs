//! The one way a tenant's modules and flags change. Every path (superadmin toggles, presets,
//! approvals, plan changes) goes through [`apply`], which writes the rows and exactly one
//! audit row describing the delta, inside the caller's transaction.

use serde_json::{Map, Value, json};
use sqlx::AnyConnection;

use crate::storage::audit::{self, AuditEvent};
use crate::storage::toggles::{self, Kind, Source};

/// What to do to one module or flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Write the row of this source.
    Set(Source, bool),
    /// Remove the row of this source.
    Drop(Source),
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) op: Op,
}

impl Change {
    /// A superadmin override of a module.
    pub fn module_override(name: &str, enabled: bool) -> Self {
        Self {
            kind: Kind::Module,
            name: name.to_string(),
            op: Op::Set(Source::Override, enabled),
        }
    }

    /// A superadmin override of a feature flag.
    pub fn flag_override(name: &str, enabled: bool) -> Self {
        Self {
            kind: Kind::Flag,
            name: name.to_string(),
            op: Op::Set(Source::Override, enabled),
        }
    }
}

/// The effective state of one module or flag before and after (`None`: no row decides it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) previous: Option<bool>,
    pub(crate) current: Option<bool>,
}

/// Apply `changes` to `tenant`; write one audit row (`module='superadmin'`,
/// `action='registration.module_toggled'`, or `registration.feature_flag_toggled` when only
/// flags changed) with the deltas. Returns the deltas for [`record_metrics`] once committed.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    tenant: &str,
    changes: &[Change],
    actor: &str,
    request_id: &str,
    reason: &str,
) -> Result<Vec<Delta>, sqlx::Error> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let modules_before = toggles::for_tenant_in(conn, Kind::Module, tenant).await?;
    let flags_before = toggles::for_tenant_in(conn, Kind::Flag, tenant).await?;
    for c in changes {
        match c.op {
            Op::Set(source, enabled) => {
                toggles::upsert(conn, c.kind, source, tenant, &c.name, enabled, actor).await?
            }
            Op::Drop(source) => toggles::remove(conn, c.kind, source, tenant, &c.name).await?,
        }
    }
    let modules_after = toggles::for_tenant_in(conn, Kind::Module, tenant).await?;
    let flags_after = toggles::for_tenant_in(conn, Kind::Flag, tenant).await?;

    let mut deltas: Vec<Delta> = Vec::new();
    for c in changes {
        if deltas.iter().any(|d| d.kind == c.kind && d.name == c.name) {
            continue;
        }
        let (before, after) = match c.kind {
            Kind::Module => (&modules_before, &modules_after),
            Kind::Flag => (&flags_before, &flags_after),
        };
        deltas.push(Delta {
            kind: c.kind,
            name: c.name.clone(),
            previous: before.get(&c.name).and_then(|r| r.decided()),
            current: after.get(&c.name).and_then(|r| r.decided()),
        });
    }

    let section = |kind: Kind| -> Map<String, Value> {
        deltas
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| {
                (
                    d.name.clone(),
                    json!({"previous": d.previous, "current": d.current}),
                )
            })
            .collect()
    };
    let toggles = section(Kind::Module);
    let flags = section(Kind::Flag);
    let action = if toggles.is_empty() {
        "registration.feature_flag_toggled"
    } else {
        "registration.module_toggled"
    };
    let mut delta = json!({ "toggles": toggles });
    if !flags.is_empty() {
        delta["featureFlags"] = Value::Object(flags);
    }
    let payload = json!({"delta": delta, "actor": actor, "reason": reason});
    let event = AuditEvent::new(
        Some(tenant),
        "superadmin",
        action,
        Some(actor),
        &payload,
        Some(request_id),
    );
    audit::insert(conn, &event).await?;
    Ok(deltas)
}

/// Count committed module changes in `nova_api_superadmin_module_toggle_total{module,enabled}`.
pub(crate) fn record_metrics(deltas: &[Delta]) {
    for d in deltas.iter().filter(|d| d.kind == Kind::Module) {
        let enabled = if d.current.unwrap_or(false) {
            "true"
        } else {
            "false"
        };
        metrics::counter!("nova_api_superadmin_module_toggle_total", "module" => d.name.clone(), "enabled" => enabled)
            .increment(1);
    }
}
