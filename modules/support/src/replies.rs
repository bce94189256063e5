//! `POST /tickets/{id}/replies`: the conversation on a ticket. A reply from the support
//! team is a response and is measured against the response deadline.

use nova_sdk::{Error, Request, Response, audit, kv};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::roles::Role;
use crate::sla;
use crate::ticket::{Replied, Ticket};
use crate::tickets::MAX_BODY;
use crate::{keys, roles, store, time, validate};

/// One message on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    pub id: u64,
    pub author: String,
    pub from_support: bool,
    pub body: String,
    pub created_at_ms: u64,
}

pub fn parse_new(v: &Value) -> Result<String, Error> {
    validate::text(validate::object(v, &["body"])?, "body", MAX_BODY)
}

/// The `support.ticket.responded` payload. Every response is measured against the response
/// deadline, so reports can see follow-ups as well as the first response.
pub fn responded(t: &Ticket, who: &str, at: u64, first_response: bool) -> Value {
    json!({
        "who": who,
        "at": at,
        "ticketId": t.id,
        "severity": t.severity,
        "timeToRespondMs": at.saturating_sub(t.created_at_ms),
        "firstResponse": first_response,
        "withinSla": sla::within(at, t.response_due_at_ms),
    })
}

pub fn add(req: &Request) -> Result<Response, Error> {
    let id = validate::path_id(req, "id")?;
    let body = parse_new(&req.json()?)?;
    let (actor, role) = roles::writer()?;
    let from_support = role == Role::Support;
    let mut t = store::load(id)?;
    let now = time::now_ms();
    let Replied {
        seq,
        first_response,
    } = t.reply(from_support, now)?;
    let reply = Reply {
        id: seq,
        author: actor,
        from_support,
        body,
        created_at_ms: now,
    };
    kv::set_json(&keys::reply(id, seq), &reply)?;
    store::save(&t)?;
    if from_support {
        audit::record(
            "support.ticket.responded",
            &responded(&t, &reply.author, now, first_response),
        )?;
    } else {
        audit::record(
            "support.ticket.replied",
            &json!({"ticketId": id, "replyId": seq, "who": reply.author, "at": now}),
        )?;
    }
    Response::json(201, &reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::Severity;

    const T0: u64 = 1_717_200_000_000;
    const MINUTE: u64 = 60_000;

    fn ticket(severity: Severity) -> Ticket {
        Ticket::open(3, "s".into(), "b".into(), severity, "user_1".into(), T0)
    }

    #[test]
    fn responses_are_measured_against_the_response_deadline() {
        let t = ticket(Severity::S1);
        let on_time = responded(&t, "support:ops", T0 + 15 * MINUTE - 1, true);
        assert_eq!(
            on_time,
            json!({"who": "support:ops", "at": T0 + 15 * MINUTE - 1, "ticketId": 3,
                "severity": "S1", "timeToRespondMs": 15 * MINUTE - 1,
                "firstResponse": true, "withinSla": true})
        );
        let late = responded(&t, "support:ops", T0 + 15 * MINUTE, false);
        assert_eq!(late["withinSla"], json!(false));
        assert_eq!(late["firstResponse"], json!(false));
        let no_rule = responded(&ticket(Severity::S4), "support:ops", T0 + 1, true);
        assert_eq!(no_rule["withinSla"], json!(null));
    }

    #[test]
    fn a_reply_needs_a_body() {
        assert_eq!(parse_new(&json!({"body": " ok "})).unwrap(), "ok");
        for bad in [json!({}), json!({"body": ""}), json!({"body": "x", "x": 1})] {
            let e = parse_new(&bad).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(matches!(e.field.as_deref(), Some("body" | "x")), "{bad}");
        }
    }

    #[test]
    fn replies_in_json() {
        let r = Reply {
            id: 2,
            author: "support:ops".into(),
            from_support: true,
            body: "On it".into(),
            created_at_ms: T0,
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"id": 2, "author": "support:ops", "fromSupport": true, "body": "On it", "createdAtMs": T0})
        );
    }
}
