//! The payment provider, reached as the host name `payments`: captures and refunds.
//!
//! Requests are outside the call's transaction and are sent again if the host re-runs the
//! call, so each carries an idempotency key naming the slot it fills (the ticket's next
//! payment, the payment's next refund); the provider answers a repeat with the original
//! result instead of moving money twice. Reading the answers is
//! kept apart from sending so it can be tested without a host.

use nova_sdk::Error;
use nova_sdk::outbound::{self, Reply};
use serde::Deserialize;
use serde_json::json;

use super::valid_id;

const CAPTURES: &str = "http://payments/v1/captures";
const REFUNDS: &str = "http://payments/v1/refunds";
/// The provider's test card, used when the till sends no token.
pub const DEFAULT_SOURCE: &str = "tok_visa";

/// What a capture request came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Capture {
    Captured {
        id: String,
        amount_cents: i64,
    },
    /// Accepted, to be confirmed by the settlement webhook.
    Pending {
        id: String,
        amount_cents: i64,
    },
    Declined {
        id: String,
        reason: String,
    },
}

/// The parts of a provider answer POS uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    id: String,
    #[serde(default)]
    status: String,
    amount_cents: Option<i64>,
    failure_reason: Option<String>,
}

fn bad_answer(why: String) -> Error {
    Error::new(502, "UPSTREAM_BAD_RESPONSE", why)
}

/// Any answer POS has no use for. 502 in every case, so nothing the call wrote is kept.
fn unexpected(reply: &Reply) -> Error {
    let body: String = String::from_utf8_lossy(&reply.body)
        .chars()
        .take(200)
        .collect();
    if reply.status >= 500 {
        Error::new(
            502,
            "UPSTREAM_FAILED",
            format!("payment provider failed with {}: {body}", reply.status),
        )
    } else {
        Error::new(
            502,
            "UPSTREAM_REJECTED",
            format!("payment provider refused with {}: {body}", reply.status),
        )
    }
}

fn answer(reply: &Reply) -> Result<Answer, Error> {
    let a: Answer = reply.json()?;
    if !valid_id(&a.id) {
        return Err(bad_answer(format!(
            "payment provider returned an unusable id {:?}",
            a.id
        )));
    }
    Ok(a)
}

/// Read a capture answer. The provider's amount, when given, is what was really taken, so
/// it wins over the amount asked for.
pub fn read_capture(reply: &Reply, requested: i64) -> Result<Capture, Error> {
    if reply.is_success() {
        let a = answer(reply)?;
        let amount_cents = a.amount_cents.unwrap_or(requested);
        return match a.status.as_str() {
            "captured" => Ok(Capture::Captured {
                id: a.id,
                amount_cents,
            }),
            "pending" => Ok(Capture::Pending {
                id: a.id,
                amount_cents,
            }),
            "failed" => Ok(Capture::Declined {
                id: a.id,
                reason: a.failure_reason.unwrap_or_else(|| "failed".into()),
            }),
            other => Err(bad_answer(format!(
                "payment provider answered with unknown status {other:?}"
            ))),
        };
    }
    if reply.status == 402 {
        let a = answer(reply)?;
        return Ok(Capture::Declined {
            id: a.id,
            reason: a.failure_reason.unwrap_or_else(|| "declined".into()),
        });
    }
    Err(unexpected(reply))
}

/// Read a refund answer: the refund's id.
pub fn read_refund(reply: &Reply) -> Result<String, Error> {
    if reply.is_success() {
        return Ok(answer(reply)?.id);
    }
    if reply.status == 409 {
        return Err(Error::new(
            409,
            "REFUND_EXCEEDS_CAPTURED",
            "the payment provider has less left to refund than asked",
        ));
    }
    Err(unexpected(reply))
}

/// Capture `amount_cents` for a ticket.
pub fn capture(
    amount_cents: i64,
    ticket_id: u64,
    tenant_id: &str,
    source: &str,
    idempotency_key: &str,
) -> Result<Capture, Error> {
    let body = json!({
        "amountCents": amount_cents,
        "currency": "USD",
        "reference": ticket_id.to_string(),
        "source": source,
        "metadata": {"tenantId": tenant_id, "ticketId": ticket_id.to_string()},
    });
    let reply = outbound::post_json(CAPTURES, &[("idempotency-key", idempotency_key)], &body)?;
    read_capture(&reply, amount_cents)
}

/// Refund part or all of a captured payment; returns the refund's id.
pub fn refund(payment_id: &str, amount_cents: i64, idempotency_key: &str) -> Result<String, Error> {
    let body = json!({"paymentId": payment_id, "amountCents": amount_cents});
    let reply = outbound::post_json(REFUNDS, &[("idempotency-key", idempotency_key)], &body)?;
    read_refund(&reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn captures_and_declines() {
        let ok = reply(
            201,
            json!({"id": "pay_1", "status": "captured", "amountCents": 500}),
        );
        assert_eq!(
            read_capture(&ok, 500).unwrap(),
            Capture::Captured {
                id: "pay_1".into(),
                amount_cents: 500
            }
        );
        let declined = reply(
            402,
            json!({"id": "pay_2", "status": "failed", "failureReason": "card_declined"}),
        );
        assert_eq!(
            read_capture(&declined, 500).unwrap(),
            Capture::Declined {
                id: "pay_2".into(),
                reason: "card_declined".into()
            }
        );
        let pending = reply(200, json!({"id": "pay_3", "status": "pending"}));
        assert_eq!(
            read_capture(&pending, 700).unwrap(),
            Capture::Pending {
                id: "pay_3".into(),
                amount_cents: 700
            }
        );
    }

    #[test]
    fn unusable_answers_are_502() {
        let cases = [
            reply(500, json!({"error": "down"})),
            reply(400, json!({"error": "bad"})),
            reply(201, json!({"id": "pay/../x", "status": "captured"})),
            reply(201, json!({"id": "pay_1", "status": "weird"})),
            reply(201, json!({"status": "captured"})),
            Reply {
                status: 201,
                headers: vec![],
                body: b"not json".to_vec(),
            },
        ];
        for r in cases {
            let err = read_capture(&r, 1).unwrap_err();
            assert_eq!(err.status, 502, "{}", String::from_utf8_lossy(&r.body));
        }
    }

    #[test]
    fn refunds() {
        let ok = reply(
            201,
            json!({"id": "re_1", "paymentId": "pay_1", "amountCents": 5, "status": "refunded"}),
        );
        assert_eq!(read_refund(&ok).unwrap(), "re_1");
        let too_much = reply(409, json!({"error": "exceeds"}));
        assert_eq!(
            read_refund(&too_much).unwrap_err().code,
            "REFUND_EXCEEDS_CAPTURED"
        );
        assert_eq!(read_refund(&reply(503, json!({}))).unwrap_err().status, 502);
    }
}
