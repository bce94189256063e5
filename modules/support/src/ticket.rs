//! A ticket as stored, its life cycle (open → closed) and its JSON shape. Pure: handlers
//! load and save through [`crate::store`].

use nova_sdk::Error;
use serde::{Deserialize, Serialize};

use crate::sla::{self, Severity, Tracked};
use crate::time;

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Closed,
}

impl Status {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// A ticket as stored. Deadlines are stored rather than derived from the severity so a
/// later change to the SLA rules does not move deadlines already promised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: u64,
    pub subject: String,
    pub body: String,
    pub severity: Severity,
    pub status: Status,
    pub created_by: String,
    pub created_at_ms: u64,
    pub response_due_at_ms: Option<u64>,
    pub resolve_due_at_ms: Option<u64>,
    pub first_response_at_ms: Option<u64>,
    pub assignee: Option<String>,
    pub closed_at_ms: Option<u64>,
    /// Also numbers the replies, so the ticket key serialises concurrent replies.
    pub reply_count: u64,
}

/// The API shape: the stored fields plus the ones derived from them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct View<'a> {
    #[serde(flatten)]
    ticket: &'a Ticket,
    created_at: String,
    response_due_at: Option<String>,
    resolve_due_at: Option<String>,
    sla_due_at_ms: Option<u64>,
}

/// What a reply did to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replied {
    /// The reply's id within the ticket.
    pub seq: u64,
    /// Whether this reply is the support team's first response.
    pub first_response: bool,
}

/// 409 for any change to a closed ticket.
fn closed(id: u64) -> Error {
    Error::new(
        409,
        "TICKET_CLOSED",
        format!("ticket {id} is closed and can no longer change"),
    )
}

impl Ticket {
    pub fn open(
        id: u64,
        subject: String,
        body: String,
        severity: Severity,
        created_by: String,
        now: u64,
    ) -> Self {
        let due = sla::deadlines(severity, now);
        Self {
            id,
            subject,
            body,
            severity,
            status: Status::Open,
            created_by,
            created_at_ms: now,
            response_due_at_ms: due.response_due_at_ms,
            resolve_due_at_ms: due.resolve_due_at_ms,
            first_response_at_ms: None,
            assignee: None,
            closed_at_ms: None,
            reply_count: 0,
        }
    }

    pub fn is_open(&self) -> bool {
        self.status == Status::Open
    }

    /// Count a reply. Only the support team's replies are responses.
    pub fn reply(&mut self, from_support: bool, now: u64) -> Result<Replied, Error> {
        if !self.is_open() {
            return Err(closed(self.id));
        }
        self.reply_count += 1;
        let first_response = from_support && self.first_response_at_ms.is_none();
        if first_response {
            self.first_response_at_ms = Some(now);
        }
        Ok(Replied {
            seq: self.reply_count,
            first_response,
        })
    }

    pub fn close(&mut self, now: u64) -> Result<(), Error> {
        if !self.is_open() {
            return Err(closed(self.id));
        }
        self.status = Status::Closed;
        self.closed_at_ms = Some(now);
        Ok(())
    }

    /// Re-triage: both deadlines follow the new severity, still counted from creation.
    pub fn set_severity(&mut self, severity: Severity) {
        let due = sla::deadlines(severity, self.created_at_ms);
        self.severity = severity;
        self.response_due_at_ms = due.response_due_at_ms;
        self.resolve_due_at_ms = due.resolve_due_at_ms;
    }

    /// The slice of the ticket the SLA watcher reads.
    pub fn tracked(&self) -> Tracked {
        Tracked {
            id: self.id,
            subject: self.subject.clone(),
            severity: self.severity,
            response_due_at_ms: self.response_due_at_ms,
            resolve_due_at_ms: self.resolve_due_at_ms,
            first_response_at_ms: self.first_response_at_ms,
        }
    }

    pub fn view(&self) -> View<'_> {
        View {
            ticket: self,
            created_at: time::rfc3339(self.created_at_ms),
            response_due_at: self.response_due_at_ms.map(time::rfc3339),
            resolve_due_at: self.resolve_due_at_ms.map(time::rfc3339),
            sla_due_at_ms: sla::next_due(&self.tracked(), self.is_open()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: u64 = 1_717_200_000_000;

    fn s1() -> Ticket {
        Ticket::open(
            7,
            "Till offline".into(),
            "Nothing prints".into(),
            Severity::S1,
            "user_1".into(),
            T0,
        )
    }

    #[test]
    fn a_new_ticket_in_json() {
        let v = serde_json::to_value(s1().view()).unwrap();
        assert_eq!(
            v,
            json!({
                "id": 7, "subject": "Till offline", "body": "Nothing prints", "severity": "S1",
                "status": "open", "createdBy": "user_1", "createdAtMs": T0,
                "createdAt": "2024-06-01T00:00:00.000Z",
                "responseDueAtMs": T0 + 900_000, "responseDueAt": "2024-06-01T00:15:00.000Z",
                "resolveDueAtMs": T0 + 7_200_000, "resolveDueAt": "2024-06-01T02:00:00.000Z",
                "firstResponseAtMs": null, "assignee": null, "closedAtMs": null,
                "slaDueAtMs": T0 + 900_000, "replyCount": 0,
            })
        );
    }

    #[test]
    fn only_the_first_support_reply_is_the_first_response() {
        let mut t = s1();
        assert_eq!(
            t.reply(false, T0 + 1).unwrap(),
            Replied {
                seq: 1,
                first_response: false
            }
        );
        assert_eq!(t.first_response_at_ms, None);
        assert!(t.reply(true, T0 + 2).unwrap().first_response);
        assert!(!t.reply(true, T0 + 3).unwrap().first_response);
        assert_eq!(t.first_response_at_ms, Some(T0 + 2));
        assert_eq!(t.reply_count, 3);
        assert_eq!(t.view().sla_due_at_ms, Some(T0 + 7_200_000));
    }

    #[test]
    fn a_closed_ticket_takes_no_replies_and_no_second_close() {
        let mut t = s1();
        t.close(T0 + 5).unwrap();
        assert_eq!(t.closed_at_ms, Some(T0 + 5));
        assert_eq!(t.view().sla_due_at_ms, None);
        assert_eq!(t.close(T0 + 6).unwrap_err().code, "TICKET_CLOSED");
        let e = t.reply(false, T0 + 6).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (409, "TICKET_CLOSED"));
        assert_eq!(t.reply_count, 0);
    }

    #[test]
    fn severity_changes_recompute_deadlines_from_creation() {
        let mut t = s1();
        t.set_severity(Severity::S3);
        assert_eq!(t.response_due_at_ms, Some(T0 + 4 * 3_600_000));
        assert_eq!(t.resolve_due_at_ms, None);
        t.set_severity(Severity::S4);
        let v = serde_json::to_value(t.view()).unwrap();
        assert_eq!(v["responseDueAt"], json!(null));
        assert_eq!(v["slaDueAtMs"], json!(null));
    }

    #[test]
    fn statuses_parse_exactly() {
        assert_eq!(Status::parse("open"), Some(Status::Open));
        assert_eq!(Status::parse("closed"), Some(Status::Closed));
        assert_eq!(Status::parse("Open"), None);
    }
}
