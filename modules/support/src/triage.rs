//! `PUT /tickets/{id}/severity` and `PUT /tickets/{id}/assignee`: the support team's
//! triage. Setting a value a ticket already has succeeds without an audit record, since
//! nothing changed.

use nova_sdk::{Error, Request, Response, audit};
use serde_json::{Value, json};

use crate::sla::Severity;
use crate::{roles, store, validate};

const MAX_ASSIGNEE: usize = 200;

pub fn parse_severity(v: &Value) -> Result<Severity, Error> {
    validate::severity(validate::object(v, &["severity"])?)
}

/// `Some(name)` to assign, `None` to unassign.
pub fn parse_assignee(v: &Value) -> Result<Option<String>, Error> {
    validate::nullable_text(
        validate::object(v, &["assignee"])?,
        "assignee",
        MAX_ASSIGNEE,
    )
}

pub fn set_severity(req: &Request) -> Result<Response, Error> {
    let who = roles::support()?;
    let id = validate::path_id(req, "id")?;
    let to = parse_severity(&req.json()?)?;
    let mut t = store::load(id)?;
    let from = t.severity;
    if from != to {
        t.set_severity(to);
        store::save(&t)?;
        audit::record(
            "support.ticket.severity_changed",
            &json!({"ticketId": id, "from": from, "to": to, "who": who}),
        )?;
    }
    Response::json(200, &t.view())
}

pub fn set_assignee(req: &Request) -> Result<Response, Error> {
    let who = roles::support()?;
    let id = validate::path_id(req, "id")?;
    let to = parse_assignee(&req.json()?)?;
    let mut t = store::load(id)?;
    if t.assignee != to {
        let from = std::mem::replace(&mut t.assignee, to);
        store::save(&t)?;
        audit::record(
            "support.ticket.assigned",
            &json!({"ticketId": id, "from": from, "to": t.assignee, "who": who}),
        )?;
    }
    Response::json(200, &t.view())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_bodies() {
        assert_eq!(
            parse_severity(&json!({"severity": "S2"})).unwrap(),
            Severity::S2
        );
        for (bad, field) in [
            (json!({}), "severity"),
            (json!({"severity": "high"}), "severity"),
            (json!({"severity": "S1", "reason": "x"}), "reason"),
            (json!(null), "body"),
        ] {
            assert_eq!(
                parse_severity(&bad).unwrap_err().field.as_deref(),
                Some(field)
            );
        }
    }

    #[test]
    fn assignee_bodies() {
        assert_eq!(
            parse_assignee(&json!({"assignee": " ops@example.com "})).unwrap(),
            Some("ops@example.com".to_string())
        );
        assert_eq!(parse_assignee(&json!({"assignee": null})).unwrap(), None);
        for bad in [
            json!({}),
            json!({"assignee": ""}),
            json!({"assignee": 4}),
            json!({"assignee": "x".repeat(201)}),
        ] {
            assert_eq!(
                parse_assignee(&bad).unwrap_err().field.as_deref(),
                Some("assignee"),
                "{bad}"
            );
        }
    }
}
