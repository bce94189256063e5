//! Payments against tickets: the stored shape and its states,
//! pending → captured → settled, with refunded and failed on the side.
//!
//! A ticket's `paidCents` is the sum of what its payments count for ([`Payment::paid_cents`]);
//! every change of a payment moves the ticket by the difference, in the same call.

pub mod capture;
pub mod provider;
pub mod refunds;
pub mod webhook;

use nova_sdk::{Error, kv};
use serde::{Deserialize, Serialize};

use crate::{keys, store};

/// Where a payment is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted by the provider but not yet captured.
    Pending,
    Captured,
    /// The provider reported the money as settled.
    Settled,
    /// Refunded in full.
    Refunded,
    Failed,
}

/// How the guest paid.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Card,
    Cash,
}

/// One refund of a payment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    pub id: String,
    pub amount_cents: i64,
    pub created_at_ms: u64,
}

/// A payment as stored and returned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: String,
    pub ticket_id: u64,
    pub amount_cents: i64,
    pub refunded_cents: i64,
    pub method: Method,
    pub status: Status,
    pub created_at_ms: u64,
    pub settled_at_ms: Option<u64>,
    pub failure_reason: Option<String>,
    pub refunds: Vec<Refund>,
}

/// The outcome the provider reports for a payment after the fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    Settled,
    Failed,
}

impl Payment {
    /// What this payment counts for towards its ticket.
    pub fn paid_cents(&self) -> i64 {
        match self.status {
            Status::Captured | Status::Settled => self.amount_cents - self.refunded_cents,
            Status::Pending | Status::Refunded | Status::Failed => 0,
        }
    }

    /// Check a refund of `amount` could be made.
    pub fn check_refund(&self, amount: i64) -> Result<(), Error> {
        if !matches!(self.status, Status::Captured | Status::Settled) {
            return Err(Error::new(
                409,
                "PAYMENT_NOT_REFUNDABLE",
                format!(
                    "payment {} is {:?}; only captured or settled payments can be refunded",
                    self.id, self.status
                ),
            ));
        }
        let left = self.amount_cents - self.refunded_cents;
        if amount > left {
            return Err(Error::new(
                409,
                "REFUND_EXCEEDS_CAPTURED",
                format!("payment {} has {left} cents left to refund", self.id),
            ));
        }
        Ok(())
    }

    /// Record a refund (checked with [`Payment::check_refund`] first); refunding everything
    /// makes the payment `refunded`.
    pub fn add_refund(&mut self, refund: Refund) {
        self.refunded_cents += refund.amount_cents;
        self.refunds.push(refund);
        if self.refunded_cents >= self.amount_cents {
            self.status = Status::Refunded;
        }
    }

    /// Apply the provider's report; `Ok(false)` when it changes nothing (a repeat, or a
    /// payment already refunded in full, which has nothing left to settle or fail).
    pub fn settle(&mut self, outcome: Settlement, now: u64) -> Result<bool, Error> {
        match (self.status, outcome) {
            (Status::Pending | Status::Captured, Settlement::Settled) => {
                self.status = Status::Settled;
                self.settled_at_ms = Some(now);
                Ok(true)
            }
            (Status::Pending | Status::Captured, Settlement::Failed) => {
                self.status = Status::Failed;
                self.failure_reason
                    .get_or_insert_with(|| "failed at settlement".into());
                Ok(true)
            }
            (Status::Settled, Settlement::Settled)
            | (Status::Failed, Settlement::Failed)
            | (Status::Refunded, _) => Ok(false),
            (from, to) => Err(Error::new(
                409,
                "INVALID_TRANSITION",
                format!("payment {} is {from:?} and cannot become {to:?}", self.id),
            )),
        }
    }
}

/// Payment ids are the provider's (`pay_…`) or ours (`cash-…`); anything else in a URL or
/// a provider answer is refused before it becomes part of a key.
/// True when a payment of `ticket` still waits for the provider: it may yet bring money in.
pub fn any_pending(ticket: u64) -> Result<bool, Error> {
    for id in store::list_all::<String>(&keys::ticket_payments(ticket))? {
        if load(&id)?.status == Status::Pending {
            return Ok(true);
        }
    }
    Ok(false)
}

pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A payment id from the URL, or 400.
pub fn path_id(raw: Option<&str>) -> Result<String, Error> {
    match raw {
        Some(id) if valid_id(id) => Ok(id.to_string()),
        _ => Err(Error::validation(
            "id",
            "payment ids are 1 to 64 letters, digits, '_' or '-'",
        )),
    }
}

/// A stored payment, or 404.
pub fn load(id: &str) -> Result<Payment, Error> {
    store::load(&keys::payment(id), || format!("no payment {id}"))
}

/// Write a payment back.
pub fn save(p: &Payment) -> Result<(), Error> {
    kv::set_json(&keys::payment(&p.id), p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(status: Status, amount: i64) -> Payment {
        Payment {
            id: "pay_1".into(),
            ticket_id: 1,
            amount_cents: amount,
            refunded_cents: 0,
            method: Method::Card,
            status,
            created_at_ms: 0,
            settled_at_ms: None,
            failure_reason: None,
            refunds: Vec::new(),
        }
    }

    fn refund(amount: i64) -> Refund {
        Refund {
            id: "re_1".into(),
            amount_cents: amount,
            created_at_ms: 0,
        }
    }

    #[test]
    fn only_captured_money_counts() {
        assert_eq!(payment(Status::Captured, 500).paid_cents(), 500);
        assert_eq!(payment(Status::Settled, 500).paid_cents(), 500);
        for s in [Status::Pending, Status::Failed, Status::Refunded] {
            assert_eq!(payment(s, 500).paid_cents(), 0);
        }
    }

    #[test]
    fn refunds_are_capped_and_a_full_refund_ends_the_payment() {
        let mut p = payment(Status::Settled, 500);
        p.check_refund(300).unwrap();
        p.add_refund(refund(300));
        assert_eq!((p.status, p.paid_cents()), (Status::Settled, 200));
        assert_eq!(
            p.check_refund(201).unwrap_err().code,
            "REFUND_EXCEEDS_CAPTURED"
        );
        p.check_refund(200).unwrap();
        p.add_refund(refund(200));
        assert_eq!((p.status, p.paid_cents()), (Status::Refunded, 0));
        assert_eq!(
            p.check_refund(1).unwrap_err().code,
            "PAYMENT_NOT_REFUNDABLE"
        );
        for s in [Status::Pending, Status::Failed] {
            assert_eq!(
                payment(s, 5).check_refund(1).unwrap_err().code,
                "PAYMENT_NOT_REFUNDABLE"
            );
        }
    }

    #[test]
    fn settlement_transitions() {
        let mut p = payment(Status::Captured, 500);
        assert!(p.settle(Settlement::Settled, 9).unwrap());
        assert_eq!((p.status, p.settled_at_ms), (Status::Settled, Some(9)));
        assert!(
            !p.settle(Settlement::Settled, 10).unwrap(),
            "repeat is a no-op"
        );
        assert_eq!(p.settled_at_ms, Some(9));
        assert_eq!(
            p.settle(Settlement::Failed, 11).unwrap_err().code,
            "INVALID_TRANSITION"
        );

        let mut p = payment(Status::Captured, 500);
        assert!(p.settle(Settlement::Failed, 9).unwrap());
        assert_eq!(p.status, Status::Failed);
        assert!(!p.settle(Settlement::Failed, 9).unwrap());
        assert!(p.settle(Settlement::Settled, 9).is_err());

        let mut p = payment(Status::Pending, 500);
        assert!(p.settle(Settlement::Settled, 9).unwrap());

        let mut p = payment(Status::Refunded, 500);
        assert!(!p.settle(Settlement::Settled, 9).unwrap());
        assert!(!p.settle(Settlement::Failed, 9).unwrap());
        assert_eq!(p.status, Status::Refunded);
    }

    #[test]
    fn ids_are_safe_key_parts() {
        assert!(valid_id("pay_3f9a-B"));
        assert!(valid_id("cash-12-3"));
        for bad in ["", "pay/1", "pay 1", "päy", &"x".repeat(65)] {
            assert!(!valid_id(bad), "{bad}");
        }
        assert_eq!(
            path_id(Some("a/b")).unwrap_err().field.as_deref(),
            Some("id")
        );
    }
}
