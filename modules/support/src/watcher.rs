//! `POST /sla/check`: the SLA watcher's periodic check. It reports each deadline state of
//! each ticket once ever, so the watcher can page people on every alert it is given.

use nova_sdk::{Error, Request, Response, audit, kv};
use serde_json::{Value, json};

use crate::sla::{self, State, Tracked};
use crate::ticket::Status;
use crate::{keys, roles, store, validate};

/// Warn this long before a deadline unless the watcher says otherwise.
const DEFAULT_WARN_MS: u64 = 600_000;
/// A warning window longer than any deadline is surely a mistake.
const MAX_WARN_MS: u64 = 7 * 24 * 3_600_000;
/// The latest `now` accepted (year 9999), so deadline arithmetic stays meaningful.
const MAX_NOW_MS: u64 = 253_402_300_799_999;
/// New alerts reported per check. The host allows 256 audit records per call; the rest are
/// reported by the next check (the answer says `more`).
const MAX_ALERTS: usize = 200;

/// A check body: the clock to judge by and the warning window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub now: u64,
    pub warn_within_ms: u64,
}

pub fn parse(v: &Value) -> Result<Check, Error> {
    let v = validate::object(v, &["now", "warnWithinMs"])?;
    Ok(Check {
        now: validate::millis(v, "now", MAX_NOW_MS, None)?,
        warn_within_ms: validate::millis(v, "warnWithinMs", MAX_WARN_MS, Some(DEFAULT_WARN_MS))?,
    })
}

fn action(state: State) -> &'static str {
    match state {
        State::AtRisk => "support.sla.at_risk",
        State::Breached => "support.sla.breached",
    }
}

pub fn check(req: &Request) -> Result<Response, Error> {
    roles::watcher()?;
    let c = parse(&req.json()?)?;
    let open: Vec<Tracked> = store::all(&keys::by_status(Status::Open))?;
    let mut reported = Vec::new();
    let mut more = false;
    for alert in sla::alerts(&open, c.now, c.warn_within_ms) {
        let seen = keys::sla_seen(alert.ticket_id, alert.kind, alert.state);
        if kv::get(&seen)?.is_some() {
            continue;
        }
        if reported.len() == MAX_ALERTS {
            more = true;
            break;
        }
        audit::record(
            action(alert.state),
            &json!({
                "ticketId": alert.ticket_id, "kind": alert.kind, "severity": alert.severity,
                "dueAtMs": alert.due_at_ms, "now": c.now,
            }),
        )?;
        kv::set_json(&seen, &c.now)?;
        reported.push(alert);
    }
    Response::json(200, &json!({"alerts": reported, "more": more}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_bodies() {
        assert_eq!(
            parse(&json!({"now": 5})).unwrap(),
            Check {
                now: 5,
                warn_within_ms: 600_000
            }
        );
        assert_eq!(
            parse(&json!({"now": 5, "warnWithinMs": 0}))
                .unwrap()
                .warn_within_ms,
            0
        );
        for (bad, field) in [
            (json!({}), "now"),
            (json!({"now": -1}), "now"),
            (json!({"now": "soon"}), "now"),
            (json!({"now": 1, "warnWithinMs": -5}), "warnWithinMs"),
            (
                json!({"now": 1, "warnWithinMs": MAX_WARN_MS + 1}),
                "warnWithinMs",
            ),
            (json!({"now": 1, "warn": 5}), "warn"),
        ] {
            assert_eq!(
                parse(&bad).unwrap_err().field.as_deref(),
                Some(field),
                "{bad}"
            );
        }
    }

    #[test]
    fn audit_actions_per_state() {
        assert_eq!(action(State::AtRisk), "support.sla.at_risk");
        assert_eq!(action(State::Breached), "support.sla.breached");
    }
}
