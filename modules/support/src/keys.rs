//! The kv key layout, in one place so prefixes cannot collide.
//!
//! Numbers are zero-padded to 20 digits so ascending key order is numeric order; ticket
//! keys count down from `u64::MAX` so listings come newest first.

use crate::sla::{Kind, State};
use crate::ticket::Status;

/// Counter of ticket ids.
pub const TICKET_SEQ: &str = "seq/ticket";

/// All tickets, newest first.
pub const TICKETS: &str = "ticket/";

fn down(n: u64) -> String {
    format!("{:020}", u64::MAX - n)
}

/// A ticket (without its replies).
pub fn ticket(id: u64) -> String {
    format!("{TICKETS}{}", down(id))
}

/// The tickets in one status, newest first. Open entries carry what the SLA watcher needs
/// ([`crate::sla::Tracked`]); closed entries just the id. The host reads whether a tenant
/// has any key under this prefix to skip tenants with nothing to triage or check, so the
/// layout is part of the module's contract with the host.
pub fn by_status(status: Status) -> String {
    format!("status/{}/", status.as_str())
}

/// One ticket's entry in its status index.
pub fn status_entry(status: Status, id: u64) -> String {
    format!("{}{}", by_status(status), down(id))
}

/// A ticket's replies, oldest first.
pub fn replies(ticket: u64) -> String {
    format!("reply/{ticket:020}/")
}

/// One reply; `seq` is the reply's id within its ticket.
pub fn reply(ticket: u64, seq: u64) -> String {
    format!("{}{seq:020}", replies(ticket))
}

/// Set once the watcher has reported this deadline state, so each is reported once ever.
/// Kept apart from the ticket so checks never contend with people working the ticket.
pub fn sla_seen(ticket: u64, kind: Kind, state: State) -> String {
    format!("sla-seen/{ticket}/{}/{}", kind.as_str(), state.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_tickets_sort_first_and_replies_in_order() {
        assert!(ticket(2) < ticket(1));
        assert!(ticket(10) < ticket(9));
        assert!(status_entry(Status::Open, 10) < status_entry(Status::Open, 9));
        assert!(reply(1, 9) < reply(1, 10));
    }

    #[test]
    fn prefixes_do_not_capture_other_families() {
        assert!(!by_status(Status::Open).starts_with(TICKETS));
        assert!(!status_entry(Status::Closed, 1).starts_with(&by_status(Status::Open)));
        assert!(!reply(1, 1).starts_with(TICKETS));
        assert!(!reply(11, 1).starts_with(&replies(1)));
        assert!(!TICKET_SEQ.starts_with(TICKETS));
        assert_eq!(
            sla_seen(7, Kind::Resolve, State::AtRisk),
            "sla-seen/7/resolve/at_risk"
        );
    }
}
