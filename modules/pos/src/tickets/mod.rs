//! Tickets: the stored shape, totals, and the open → closed | void life cycle. Handlers live
//! in the submodules; everything here is pure apart from [`load`] and [`save`].

pub mod create;
pub mod lifecycle;
pub mod lines;

use std::collections::BTreeMap;

use nova_sdk::{Error, kv};
use serde::{Deserialize, Serialize};

use crate::{dates, keys, money, store};

/// Most lines one ticket may hold.
pub const MAX_LINES: usize = 200;

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Open,
    Closed,
    Void,
}

/// One line of a ticket. Fields added after the first release default, so older tickets
/// still load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    #[serde(default)]
    pub line_id: u32,
    /// The menu item the line was rung up from; `None` for an open line.
    #[serde(default)]
    pub item_id: Option<u64>,
    pub name: String,
    pub qty: i64,
    pub price_cents: i64,
    #[serde(default)]
    pub tax_rate_bps: i64,
    pub line_total_cents: i64,
    #[serde(default)]
    pub tax_cents: i64,
}

impl Line {
    /// A line with its total and tax worked out (its id is given when it joins a ticket).
    pub fn new(
        item_id: Option<u64>,
        name: String,
        qty: i64,
        price_cents: i64,
        tax_rate_bps: i64,
    ) -> Self {
        let line_total_cents = qty * price_cents;
        Self {
            line_id: 0,
            item_id,
            name,
            qty,
            price_cents,
            tax_rate_bps,
            line_total_cents,
            tax_cents: money::tax_cents(line_total_cents, tax_rate_bps),
        }
    }
}

/// A ticket as returned by the API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: u64,
    pub table: String,
    pub reference: Option<String>,
    /// The day the sale counts towards in reports.
    #[serde(default)]
    pub business_date: String,
    pub items: Vec<Line>,
    pub subtotal_cents: i64,
    #[serde(default)]
    pub tax_cents: i64,
    pub total_cents: i64,
    /// Captured or settled payments less refunds.
    #[serde(default)]
    pub paid_cents: i64,
    pub status: Status,
    pub opened_by: String,
    pub created_at_ms: u64,
    pub closed_at_ms: Option<u64>,
    pub voided_at_ms: Option<u64>,
    pub void_reason: Option<String>,
}

/// A ticket as stored: the API shape plus counters that number its lines and payments.
/// Per-ticket counters keep busy tickets from contending on one shared key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    #[serde(flatten)]
    pub ticket: Ticket,
    #[serde(default)]
    pub line_seq: u32,
    #[serde(default)]
    pub payment_seq: u64,
}

fn closed(id: u64, status: Status) -> Error {
    let state = match status {
        Status::Void => "void",
        _ => "closed",
    };
    Error::new(
        409,
        "TICKET_CLOSED",
        format!("ticket {id} is {state} and can no longer change"),
    )
}

impl Ticket {
    /// 409 `TICKET_CLOSED` unless the ticket is open.
    pub fn ensure_open(&self) -> Result<(), Error> {
        match self.status {
            Status::Open => Ok(()),
            other => Err(closed(self.id, other)),
        }
    }

    /// Work the sums out again from the lines.
    pub fn recompute(&mut self) {
        let t = money::totals(self.items.iter().map(|l| (l.line_total_cents, l.tax_cents)));
        self.subtotal_cents = t.subtotal_cents;
        self.tax_cents = t.tax_cents;
        self.total_cents = t.total_cents;
    }

    /// What is still to pay.
    pub fn remaining_cents(&self) -> i64 {
        (self.total_cents - self.paid_cents).max(0)
    }

    /// Void an open ticket nobody has paid towards.
    pub fn void(&mut self, reason: String, now: u64) -> Result<(), Error> {
        self.ensure_open()?;
        if self.paid_cents > 0 {
            return Err(Error::new(
                409,
                "TICKET_PAID",
                format!(
                    "ticket {} has {} cents paid; refund the payments before voiding",
                    self.id, self.paid_cents
                ),
            ));
        }
        self.status = Status::Void;
        self.voided_at_ms = Some(now);
        self.void_reason = Some(reason);
        Ok(())
    }

    /// Close an open ticket that is paid in full.
    pub fn close(&mut self, now: u64) -> Result<(), Error> {
        self.ensure_open()?;
        if self.paid_cents < self.total_cents {
            return Err(Error::new(
                409,
                "PAYMENT_REQUIRED",
                format!(
                    "ticket {} has {} of {} cents paid",
                    self.id, self.paid_cents, self.total_cents
                ),
            ));
        }
        self.status = Status::Closed;
        self.closed_at_ms = Some(now);
        Ok(())
    }

    /// Quantities per menu item (item id → (name, qty)), for taking stock.
    pub fn sold_quantities(&self) -> BTreeMap<u64, (String, i64)> {
        let mut out: BTreeMap<u64, (String, i64)> = BTreeMap::new();
        for line in &self.items {
            if let Some(id) = line.item_id {
                out.entry(id).or_insert_with(|| (line.name.clone(), 0)).1 += line.qty;
            }
        }
        out
    }
}

impl Stored {
    /// A new open ticket with no lines.
    pub fn open(
        id: u64,
        table: String,
        reference: Option<String>,
        business_date: String,
        opened_by: String,
        now: u64,
    ) -> Self {
        Self {
            ticket: Ticket {
                id,
                table,
                reference,
                business_date,
                items: Vec::new(),
                subtotal_cents: 0,
                tax_cents: 0,
                total_cents: 0,
                paid_cents: 0,
                status: Status::Open,
                opened_by,
                created_at_ms: now,
                closed_at_ms: None,
                voided_at_ms: None,
                void_reason: None,
            },
            line_seq: 0,
            payment_seq: 0,
        }
    }

    /// Add a line to an open ticket, numbering it; returns its id.
    pub fn add_line(&mut self, mut line: Line) -> Result<u32, Error> {
        self.ticket.ensure_open()?;
        if self.ticket.items.len() >= MAX_LINES {
            return Err(Error::new(
                409,
                "TICKET_FULL",
                format!("a ticket holds at most {MAX_LINES} lines"),
            ));
        }
        self.line_seq += 1;
        line.line_id = self.line_seq;
        self.ticket.items.push(line);
        self.ticket.recompute();
        Ok(self.line_seq)
    }

    /// Remove a line from an open ticket. Refused when the payments already taken would
    /// exceed the new total: refund first, so money is never silently overpaid.
    pub fn remove_line(&mut self, line_id: u32) -> Result<Line, Error> {
        self.ticket.ensure_open()?;
        let at = self
            .ticket
            .items
            .iter()
            .position(|l| l.line_id == line_id)
            .ok_or_else(|| {
                Error::not_found(format!("ticket {} has no line {line_id}", self.ticket.id))
            })?;
        let mut after = self.ticket.clone();
        let line = after.items.remove(at);
        after.recompute();
        if after.paid_cents > after.total_cents {
            return Err(Error::new(
                409,
                "PAID_EXCEEDS_TOTAL",
                format!(
                    "without this line the total would be {} cents but {} are paid; refund first",
                    after.total_cents, after.paid_cents
                ),
            ));
        }
        self.ticket = after;
        Ok(line)
    }

    /// Fill in what tickets written by the first release lack: line ids and a business date.
    pub fn upgrade(mut self) -> Self {
        if self.ticket.fill_in() {
            self.line_seq = self.ticket.items.len() as u32;
        }
        self
    }
}

impl Ticket {
    /// [`Stored::upgrade`] for a ticket read only to be shown. Lists read the stored JSON as
    /// a bare `Ticket` (serde skips the counters): `#[serde(flatten)]` first buffers every
    /// field of the ticket, and without it a list call burns a fifth less fuel.
    pub fn upgrade(mut self) -> Self {
        self.fill_in();
        self
    }

    /// Number unnumbered lines and date an undated ticket; whether the lines were numbered.
    fn fill_in(&mut self) -> bool {
        let unnumbered = self.items.iter().any(|l| l.line_id == 0);
        if unnumbered {
            for (i, line) in self.items.iter_mut().enumerate() {
                line.line_id = i as u32 + 1;
            }
        }
        if self.business_date.is_empty() {
            self.business_date = dates::utc_date(self.created_at_ms);
        }
        unnumbered
    }
}

/// A stored ticket, or 404.
pub fn load(id: u64) -> Result<Stored, Error> {
    store::load::<Stored>(&keys::ticket(id), || format!("no ticket {id}")).map(Stored::upgrade)
}

/// Write a ticket back.
pub fn save(stored: &Stored) -> Result<(), Error> {
    kv::set_json(&keys::ticket(stored.ticket.id), stored)
}

/// Store a ticket just numbered ([`crate::store::next_ticket_id`]): a creation, checked at
/// commit, so a number some other writer took meanwhile makes the call run again with the
/// next one instead of writing over that ticket.
pub fn save_new(stored: &Stored) -> Result<(), Error> {
    if kv::create_json(&keys::ticket(stored.ticket.id), stored)? {
        Ok(())
    } else {
        // The call has neither read nor written this key, so it cannot know it is taken.
        Err(Error::internal(format!(
            "ticket {} was written twice in one call",
            stored.ticket.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Stored {
        let mut t = Stored::open(1, "4".into(), None, "2024-05-01".into(), "anna".into(), 0);
        t.add_line(Line::new(Some(7), "Soup".into(), 2, 500, 825))
            .unwrap();
        t.add_line(Line::new(None, "Bread".into(), 1, 199, 0))
            .unwrap();
        t
    }

    #[test]
    fn lines_are_numbered_and_totalled() {
        let t = ticket();
        let ids: Vec<u32> = t.ticket.items.iter().map(|l| l.line_id).collect();
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(t.ticket.items[0].line_total_cents, 1000);
        assert_eq!(t.ticket.items[0].tax_cents, 83);
        assert_eq!(t.ticket.subtotal_cents, 1199);
        assert_eq!(t.ticket.tax_cents, 83);
        assert_eq!(t.ticket.total_cents, 1282);
    }

    #[test]
    fn removed_line_ids_are_not_reused() {
        let mut t = ticket();
        t.remove_line(2).unwrap();
        let id = t
            .add_line(Line::new(None, "Tea".into(), 1, 100, 0))
            .unwrap();
        assert_eq!(id, 3);
        assert_eq!(t.remove_line(9).unwrap_err().status, 404);
    }

    #[test]
    fn removing_a_line_cannot_leave_the_ticket_overpaid() {
        let mut t = ticket();
        t.ticket.paid_cents = 1282;
        let err = t.remove_line(1).unwrap_err();
        assert_eq!(err.code, "PAID_EXCEEDS_TOTAL");
        assert_eq!(t.ticket.items.len(), 2, "nothing changed");
    }

    #[test]
    fn close_needs_full_payment_and_then_freezes() {
        let mut t = ticket();
        assert_eq!(t.ticket.close(5).unwrap_err().code, "PAYMENT_REQUIRED");
        t.ticket.paid_cents = t.ticket.total_cents;
        t.ticket.close(5).unwrap();
        assert_eq!(t.ticket.status, Status::Closed);
        assert_eq!(t.ticket.closed_at_ms, Some(5));
        for err in [
            t.ticket.close(6).unwrap_err(),
            t.ticket.void("x".into(), 6).unwrap_err(),
            t.add_line(Line::new(None, "x".into(), 1, 1, 0))
                .unwrap_err(),
            t.remove_line(1).unwrap_err(),
        ] {
            assert_eq!(err.code, "TICKET_CLOSED");
        }
    }

    #[test]
    fn void_refuses_paid_tickets() {
        let mut t = ticket();
        t.ticket.paid_cents = 1;
        assert_eq!(
            t.ticket.void("x".into(), 1).unwrap_err().code,
            "TICKET_PAID"
        );
        t.ticket.paid_cents = 0;
        t.ticket.void("wrong table".into(), 2).unwrap();
        assert_eq!(t.ticket.status, Status::Void);
        assert_eq!(t.ticket.voided_at_ms, Some(2));
        assert_eq!(t.ticket.close(3).unwrap_err().code, "TICKET_CLOSED");
    }

    #[test]
    fn sold_quantities_sum_menu_lines_only() {
        let mut t = ticket();
        t.add_line(Line::new(Some(7), "Soup".into(), 3, 500, 825))
            .unwrap();
        let q = t.ticket.sold_quantities();
        assert_eq!(q.len(), 1);
        assert_eq!(q[&7], ("Soup".to_string(), 5));
    }

    #[test]
    fn first_release_tickets_still_load() {
        let old = serde_json::json!({
            "id": 3, "table": "4", "status": "open", "openedBy": "a", "createdAtMs": 1_717_200_000_000u64,
            "subtotalCents": 900, "totalCents": 900,
            "items": [{"name": "Soup", "qty": 2, "priceCents": 450, "lineTotalCents": 900}]
        });
        let t = serde_json::from_value::<Stored>(old).unwrap().upgrade();
        assert_eq!(t.ticket.items[0].line_id, 1);
        assert_eq!(t.line_seq, 1);
        assert_eq!(t.ticket.business_date, "2024-06-01");
        assert_eq!(t.ticket.paid_cents, 0);
    }

    #[test]
    fn stored_counters_stay_out_of_the_api_shape() {
        let t = ticket();
        let api = serde_json::to_value(&t.ticket).unwrap();
        assert!(api.get("lineSeq").is_none());
        let stored = serde_json::to_value(&t).unwrap();
        assert_eq!(stored["lineSeq"], 2);
        assert_eq!(serde_json::from_value::<Stored>(stored).unwrap(), t);
    }

    #[test]
    fn a_listed_ticket_reads_as_its_stored_tickets_api_shape() {
        let t = ticket();
        let bytes = serde_json::to_vec(&t).unwrap();
        let listed = serde_json::from_slice::<Ticket>(&bytes).unwrap().upgrade();
        assert_eq!(listed, t.clone().upgrade().ticket);
        let old = br#"{"id": 3, "table": "4", "status": "open", "openedBy": "a",
            "createdAtMs": 1717200000000, "subtotalCents": 900, "totalCents": 900,
            "items": [{"name": "Soup", "qty": 2, "priceCents": 450, "lineTotalCents": 900}]}"#;
        let listed = serde_json::from_slice::<Ticket>(old).unwrap().upgrade();
        let loaded = serde_json::from_slice::<Stored>(old).unwrap().upgrade();
        assert_eq!(listed, loaded.ticket);
        assert_eq!(listed.items[0].line_id, 1);
        assert_eq!(listed.business_date, "2024-06-01");
    }
}
