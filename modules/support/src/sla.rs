//! Service levels: the deadlines a severity promises, and whether an open ticket is at
//! risk of missing one or has missed it. Pure; the clock is always passed in so the SLA
//! watcher can be driven by the host's controllable clock.

use serde::{Deserialize, Serialize};

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;

/// How bad the tenant's problem is; S1 is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    S1,
    S2,
    S3,
    S4,
}

impl Severity {
    /// `S1` to `S4`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S1 => "S1",
            Self::S2 => "S2",
            Self::S3 => "S3",
            Self::S4 => "S4",
        }
    }

    /// The severity written `S1` to `S4`, exactly.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "S1" => Some(Self::S1),
            "S2" => Some(Self::S2),
            "S3" => Some(Self::S3),
            "S4" => Some(Self::S4),
            _ => None,
        }
    }

    /// How long after creation the support team must first respond, if promised.
    fn respond_within(self) -> Option<u64> {
        match self {
            Self::S1 => Some(15 * MINUTE),
            Self::S2 => Some(HOUR),
            Self::S3 => Some(4 * HOUR),
            Self::S4 => None,
        }
    }

    /// How long after creation the ticket must be closed, if promised.
    fn resolve_within(self) -> Option<u64> {
        match self {
            Self::S1 => Some(2 * HOUR),
            _ => None,
        }
    }
}

/// The deadlines of a ticket; `None` where its severity promises none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub response_due_at_ms: Option<u64>,
    pub resolve_due_at_ms: Option<u64>,
}

/// Deadlines count from creation, also after a severity change, so re-triaging a ticket
/// never buys the support team extra time.
pub fn deadlines(severity: Severity, created_at_ms: u64) -> Deadlines {
    Deadlines {
        response_due_at_ms: severity
            .respond_within()
            .map(|d| created_at_ms.saturating_add(d)),
        resolve_due_at_ms: severity
            .resolve_within()
            .map(|d| created_at_ms.saturating_add(d)),
    }
}

/// Which promise a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Response,
    Resolve,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Response => "response",
            Self::Resolve => "resolve",
        }
    }
}

/// How close a pending deadline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    AtRisk,
    Breached,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AtRisk => "at_risk",
            Self::Breached => "breached",
        }
    }
}

/// What the SLA watcher needs of an open ticket, kept in the open-tickets index so a check
/// reads one list instead of every ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracked {
    pub id: u64,
    pub subject: String,
    pub severity: Severity,
    pub response_due_at_ms: Option<u64>,
    pub resolve_due_at_ms: Option<u64>,
    pub first_response_at_ms: Option<u64>,
}

/// The deadlines an open ticket still has to meet: the response until the support team
/// first replies, the resolution until the ticket closes.
pub fn pending(t: &Tracked) -> Vec<(Kind, u64)> {
    let response = t
        .response_due_at_ms
        .filter(|_| t.first_response_at_ms.is_none());
    [
        (Kind::Response, response),
        (Kind::Resolve, t.resolve_due_at_ms),
    ]
    .into_iter()
    .filter_map(|(kind, due)| due.map(|d| (kind, d)))
    .collect()
}

/// The earliest deadline a ticket still has to meet; a closed ticket has none.
pub fn next_due(t: &Tracked, open: bool) -> Option<u64> {
    if !open {
        return None;
    }
    pending(t).into_iter().map(|(_, due)| due).min()
}

/// Breached from the due instant on; at risk within `warn_within_ms` before it.
pub fn state(due_at_ms: u64, now_ms: u64, warn_within_ms: u64) -> Option<State> {
    if now_ms >= due_at_ms {
        Some(State::Breached)
    } else if now_ms >= due_at_ms.saturating_sub(warn_within_ms) {
        Some(State::AtRisk)
    } else {
        None
    }
}

/// A deadline of an open ticket that is at risk or breached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub ticket_id: u64,
    pub subject: String,
    pub severity: Severity,
    pub kind: Kind,
    pub state: State,
    pub due_at_ms: u64,
}

/// Every pending deadline of these open tickets that is at risk or breached at `now_ms`,
/// whether or not it was reported before.
pub fn alerts(open: &[Tracked], now_ms: u64, warn_within_ms: u64) -> Vec<Alert> {
    open.iter()
        .flat_map(|t| {
            pending(t).into_iter().filter_map(move |(kind, due_at_ms)| {
                state(due_at_ms, now_ms, warn_within_ms).map(|state| Alert {
                    ticket_id: t.id,
                    subject: t.subject.clone(),
                    severity: t.severity,
                    kind,
                    state,
                    due_at_ms,
                })
            })
        })
        .collect()
}

/// Whether something done at `at_ms` met `due_at_ms`; `None` when nothing was promised. A
/// response at the due instant is late, matching [`state`], which calls that instant
/// breached.
pub fn within(at_ms: u64, due_at_ms: Option<u64>) -> Option<bool> {
    due_at_ms.map(|due| at_ms < due)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn tracked(severity: Severity, first_response_at_ms: Option<u64>) -> Tracked {
        let d = deadlines(severity, T0);
        Tracked {
            id: 1,
            subject: "Till offline".into(),
            severity,
            response_due_at_ms: d.response_due_at_ms,
            resolve_due_at_ms: d.resolve_due_at_ms,
            first_response_at_ms,
        }
    }

    #[test]
    fn deadlines_for_every_severity() {
        let cases = [
            (Severity::S1, Some(T0 + 15 * MINUTE), Some(T0 + 2 * HOUR)),
            (Severity::S2, Some(T0 + HOUR), None),
            (Severity::S3, Some(T0 + 4 * HOUR), None),
            (Severity::S4, None, None),
        ];
        for (severity, response, resolve) in cases {
            let d = deadlines(severity, T0);
            assert_eq!(d.response_due_at_ms, response, "{severity:?}");
            assert_eq!(d.resolve_due_at_ms, resolve, "{severity:?}");
        }
    }

    #[test]
    fn severities_parse_exactly() {
        for (s, sev) in [
            ("S1", Severity::S1),
            ("S2", Severity::S2),
            ("S3", Severity::S3),
            ("S4", Severity::S4),
        ] {
            assert_eq!(Severity::parse(s), Some(sev));
            assert_eq!(serde_json::to_value(sev).unwrap(), s);
        }
        for bad in ["s1", "S0", "S5", " S1", "1", ""] {
            assert_eq!(Severity::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn states_at_the_boundaries() {
        let due = T0 + HOUR;
        let warn = 10 * MINUTE;
        assert_eq!(state(due, due - warn - 1, warn), None);
        assert_eq!(state(due, due - warn, warn), Some(State::AtRisk));
        assert_eq!(state(due, due - 1, warn), Some(State::AtRisk));
        assert_eq!(state(due, due, warn), Some(State::Breached));
        assert_eq!(state(due, due + HOUR, warn), Some(State::Breached));
        // With no warning window a deadline goes straight from fine to breached.
        assert_eq!(state(due, due - 1, 0), None);
        assert_eq!(state(due, due, 0), Some(State::Breached));
        // A window wider than the time since the epoch does not wrap around.
        assert_eq!(state(5, 0, 10), Some(State::AtRisk));
    }

    #[test]
    fn a_first_response_stops_the_response_clock_only() {
        assert_eq!(
            pending(&tracked(Severity::S1, None)),
            vec![
                (Kind::Response, T0 + 15 * MINUTE),
                (Kind::Resolve, T0 + 2 * HOUR)
            ]
        );
        assert_eq!(
            pending(&tracked(Severity::S1, Some(T0 + MINUTE))),
            vec![(Kind::Resolve, T0 + 2 * HOUR)]
        );
        assert_eq!(
            pending(&tracked(Severity::S3, None)),
            vec![(Kind::Response, T0 + 4 * HOUR)]
        );
        assert!(pending(&tracked(Severity::S3, Some(T0))).is_empty());
        assert!(pending(&tracked(Severity::S4, None)).is_empty());
    }

    #[test]
    fn next_due_is_the_earliest_pending_deadline_of_an_open_ticket() {
        let s1 = tracked(Severity::S1, None);
        assert_eq!(next_due(&s1, true), Some(T0 + 15 * MINUTE));
        assert_eq!(next_due(&s1, false), None);
        let answered = tracked(Severity::S1, Some(T0));
        assert_eq!(next_due(&answered, true), Some(T0 + 2 * HOUR));
        assert_eq!(next_due(&tracked(Severity::S2, Some(T0)), true), None);
        assert_eq!(next_due(&tracked(Severity::S4, None), true), None);
    }

    #[test]
    fn within_means_strictly_before_the_deadline() {
        assert_eq!(within(T0 - 1, Some(T0)), Some(true));
        assert_eq!(within(T0, Some(T0)), Some(false));
        assert_eq!(within(T0, None), None);
    }

    #[test]
    fn alerts_for_each_pending_deadline_in_its_state() {
        let warn = 10 * MINUTE;
        let open = [
            tracked(Severity::S1, None),
            Tracked {
                id: 2,
                ..tracked(Severity::S3, None)
            },
            Tracked {
                id: 3,
                ..tracked(Severity::S4, None)
            },
        ];
        // Five minutes in: the S1 response is due in ten minutes, so at risk; nothing else.
        let at = |now: u64| -> Vec<(u64, Kind, State)> {
            alerts(&open, now, warn)
                .into_iter()
                .map(|a| (a.ticket_id, a.kind, a.state))
                .collect()
        };
        assert_eq!(at(T0 + 5 * MINUTE - 1), vec![]);
        assert_eq!(
            at(T0 + 5 * MINUTE),
            vec![(1, Kind::Response, State::AtRisk)]
        );
        assert_eq!(
            at(T0 + 15 * MINUTE),
            vec![(1, Kind::Response, State::Breached)]
        );
        assert_eq!(
            at(T0 + 2 * HOUR - warn),
            vec![
                (1, Kind::Response, State::Breached),
                (1, Kind::Resolve, State::AtRisk)
            ]
        );
        assert_eq!(
            at(T0 + 4 * HOUR),
            vec![
                (1, Kind::Response, State::Breached),
                (1, Kind::Resolve, State::Breached),
                (2, Kind::Response, State::Breached)
            ]
        );
        let first = &alerts(&open, T0 + 4 * HOUR, warn)[0];
        assert_eq!(
            serde_json::to_value(first).unwrap(),
            serde_json::json!({"ticketId": 1, "subject": "Till offline", "severity": "S1",
                "kind": "response", "state": "breached", "dueAtMs": T0 + 15 * MINUTE})
        );
    }

    #[test]
    fn names_used_in_keys_and_audit_actions() {
        assert_eq!(Kind::Response.as_str(), "response");
        assert_eq!(Kind::Resolve.as_str(), "resolve");
        assert_eq!(State::AtRisk.as_str(), "at_risk");
        assert_eq!(State::Breached.as_str(), "breached");
    }
}
