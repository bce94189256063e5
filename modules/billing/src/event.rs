//! Reading a provider event: `{"id", "type", "data": {"subscriptionId", "tenantId", "planId",
//! "billingCycle", …}}`. Every refusal is a 422 naming the field, since retrying cannot fix it.

use nova_sdk::Error;
use serde_json::Value;

/// The fields any event type may use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    pub id: String,
    pub kind: String,
    pub tenant_id: String,
    pub subscription_id: Option<String>,
    pub plan_id: Option<String>,
    pub billing_cycle: Option<String>,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub invoice_id: Option<String>,
    pub amount_cents: Option<i64>,
    pub due_at: Option<i64>,
}

pub fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error {
        field: Some(field.to_string()),
        ..Error::new(422, "INVALID_EVENT", message)
    }
}

fn text(data: &Value, field: &str) -> Result<Option<String>, Error> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 128 => {
            Ok(Some(s.trim().to_string()))
        }
        Some(_) => Err(invalid(
            &format!("data.{field}"),
            format!("data.{field} must be a string of 1 to 128 characters"),
        )),
    }
}

fn int(data: &Value, field: &str) -> Result<Option<i64>, Error> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
            invalid(
                &format!("data.{field}"),
                format!("data.{field} must be a whole number, 0 or more"),
            )
        }),
    }
}

/// Read an event, checking the fields every type shares.
pub fn parse(raw: &Value) -> Result<Event, Error> {
    let id = raw["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("id", "the event id is required"))?;
    let kind = raw["type"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("type", "the event type is required"))?;
    let data = raw
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| invalid("data", "data must be an object"))?;
    let tenant_id = text(data, "tenantId")?
        .ok_or_else(|| invalid("data.tenantId", "data.tenantId is required"))?;
    let billing_cycle = text(data, "billingCycle")?;
    if let Some(c) = &billing_cycle
        && c != "monthly"
        && c != "yearly"
    {
        return Err(invalid(
            "data.billingCycle",
            "data.billingCycle must be monthly or yearly",
        ));
    }
    let cancel_at_period_end = match data.get("cancelAtPeriodEnd") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(invalid(
                "data.cancelAtPeriodEnd",
                "data.cancelAtPeriodEnd must be true or false",
            ));
        }
    };
    Ok(Event {
        id: id.to_string(),
        kind: kind.to_string(),
        tenant_id,
        subscription_id: text(data, "subscriptionId")?,
        plan_id: text(data, "planId")?,
        billing_cycle,
        current_period_end: int(data, "currentPeriodEnd")?,
        cancel_at_period_end,
        invoice_id: text(data, "invoiceId")?,
        amount_cents: int(data, "amountCents")?,
        due_at: int(data, "dueAt")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_runbook_payload() {
        let e = parse(
            &json!({"id": "evt_1", "type": "subscription.plan_changed", "data": {
            "subscriptionId": "sub_1", "tenantId": "t1",
            "planId": "1ef168c5-66e9-4d11-8f51-32301dbce0d4", "billingCycle": "monthly"}}),
        )
        .unwrap();
        assert_eq!(e.tenant_id, "t1");
        assert_eq!(
            e.plan_id.as_deref(),
            Some("1ef168c5-66e9-4d11-8f51-32301dbce0d4")
        );
        assert!(!e.cancel_at_period_end);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (json!({"type": "x", "data": {"tenantId": "t"}}), "id"),
            (json!({"id": "e", "data": {"tenantId": "t"}}), "type"),
            (json!({"id": "e", "type": "x"}), "data"),
            (json!({"id": "e", "type": "x", "data": {}}), "data.tenantId"),
            (
                json!({"id": "e", "type": "x", "data": {"tenantId": "t", "billingCycle": "weekly"}}),
                "data.billingCycle",
            ),
            (
                json!({"id": "e", "type": "x", "data": {"tenantId": "t", "amountCents": -1}}),
                "data.amountCents",
            ),
            (
                json!({"id": "e", "type": "x", "data": {"tenantId": "t", "cancelAtPeriodEnd": "yes"}}),
                "data.cancelAtPeriodEnd",
            ),
        ];
        for (raw, field) in cases {
            let e = parse(&raw).unwrap_err();
            assert_eq!((e.status, e.field.as_deref()), (422, Some(field)), "{raw}");
        }
    }
}
