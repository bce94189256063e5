//! What an event means: the effects for the host to apply and the audit actions that say so.

use nova_sdk::Error;
use serde::Serialize;
use serde_json::{Value, json};

use crate::event::{Event, invalid};

/// One change for the host to apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Effect {
    /// Put the tenant on a plan (starting a subscription if it has none): plan-sourced
    /// modules and flags become the plan's; overrides stay.
    #[serde(rename = "plan.set", rename_all = "camelCase")]
    PlanSet {
        tenant_id: String,
        plan_id: String,
        /// Only `subscription.created` starts a subscription: a plan change that arrives after
        /// a cancellation must not bring the tenant's entitlements back.
        create: bool,
        subscription_id: Option<String>,
        billing_cycle: Option<String>,
        current_period_end: Option<i64>,
    },
    /// End the subscription now: plan rows go, overrides stay.
    #[serde(rename = "subscription.cancel", rename_all = "camelCase")]
    Cancel { tenant_id: String },
    /// End the subscription when the paid period ends; nothing changes until then.
    #[serde(rename = "subscription.cancel_at_period_end", rename_all = "camelCase")]
    CancelAtPeriodEnd { tenant_id: String },
    /// A new paid period.
    #[serde(rename = "subscription.renew", rename_all = "camelCase")]
    Renew {
        tenant_id: String,
        current_period_end: i64,
    },
    /// `active` or `past_due`.
    #[serde(rename = "subscription.status", rename_all = "camelCase")]
    Status { tenant_id: String, status: String },
    /// An invoice's state.
    #[serde(rename = "invoice.upsert", rename_all = "camelCase")]
    Invoice {
        tenant_id: String,
        invoice_id: String,
        subscription_id: Option<String>,
        status: String,
        amount_cents: i64,
        due_at: Option<i64>,
    },
}

/// An audit action with its payload, written by the host with the effects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Audit {
    pub action: String,
    pub payload: Value,
}

/// The module's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub effects: Vec<Effect>,
    pub audit: Vec<Audit>,
}

fn need<T: Clone>(v: &Option<T>, field: &str, kind: &str) -> Result<T, Error> {
    v.clone().ok_or_else(|| {
        invalid(
            &format!("data.{field}"),
            format!("{kind} needs data.{field}"),
        )
    })
}

fn invoice(e: &Event, status: &str) -> Result<Effect, Error> {
    Ok(Effect::Invoice {
        tenant_id: e.tenant_id.clone(),
        invoice_id: need(&e.invoice_id, "invoiceId", &e.kind)?,
        subscription_id: e.subscription_id.clone(),
        status: status.to_string(),
        amount_cents: need(&e.amount_cents, "amountCents", &e.kind)?,
        due_at: e.due_at,
    })
}

/// Decide what `e` does.
pub fn decide(e: &Event) -> Result<Decision, Error> {
    let t = e.tenant_id.clone();
    let effects = match e.kind.as_str() {
        "subscription.created" | "subscription.plan_changed" => vec![Effect::PlanSet {
            tenant_id: t,
            plan_id: need(&e.plan_id, "planId", &e.kind)?,
            create: e.kind == "subscription.created",
            subscription_id: e.subscription_id.clone(),
            billing_cycle: e.billing_cycle.clone(),
            current_period_end: e.current_period_end,
        }],
        "subscription.canceled" if e.cancel_at_period_end => {
            vec![Effect::CancelAtPeriodEnd { tenant_id: t }]
        }
        "subscription.canceled" => vec![Effect::Cancel { tenant_id: t }],
        "subscription.renewed" => vec![Effect::Renew {
            tenant_id: t,
            current_period_end: need(&e.current_period_end, "currentPeriodEnd", &e.kind)?,
        }],
        "invoice.created" => vec![invoice(e, "open")?],
        "invoice.paid" => vec![
            invoice(e, "paid")?,
            Effect::Status {
                tenant_id: t,
                status: "active".into(),
            },
        ],
        "invoice.payment_failed" => vec![
            invoice(e, "past_due")?,
            Effect::Status {
                tenant_id: t,
                status: "past_due".into(),
            },
        ],
        other => {
            return Err(Error::new(
                422,
                "UNKNOWN_EVENT_TYPE",
                format!("billing does not handle events of type {other:?}"),
            ));
        }
    };
    let audit = vec![Audit {
        action: format!("billing.{}", e.kind),
        payload: json!({
            "eventId": e.id, "tenantId": e.tenant_id, "subscriptionId": e.subscription_id,
            "planId": e.plan_id, "invoiceId": e.invoice_id, "amountCents": e.amount_cents,
            "cancelAtPeriodEnd": e.cancel_at_period_end,
        }),
    }];
    Ok(Decision { effects, audit })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str) -> Event {
        Event {
            id: "evt".into(),
            kind: kind.into(),
            tenant_id: "t1".into(),
            plan_id: Some("pro".into()),
            invoice_id: Some("in_1".into()),
            amount_cents: Some(14900),
            current_period_end: Some(1),
            ..Event::default()
        }
    }

    #[test]
    fn each_type_has_its_effects_and_audit_action() {
        let plan = decide(&ev("subscription.plan_changed")).unwrap();
        assert!(matches!(&plan.effects[0], Effect::PlanSet { plan_id, .. } if plan_id == "pro"));
        assert_eq!(plan.audit[0].action, "billing.subscription.plan_changed");
        assert_eq!(
            decide(&ev("subscription.canceled")).unwrap().effects,
            vec![Effect::Cancel {
                tenant_id: "t1".into()
            }]
        );
        let mut later = ev("subscription.canceled");
        later.cancel_at_period_end = true;
        assert!(matches!(
            decide(&later).unwrap().effects[0],
            Effect::CancelAtPeriodEnd { .. }
        ));
        let failed = decide(&ev("invoice.payment_failed")).unwrap();
        assert!(
            matches!(&failed.effects[0], Effect::Invoice { status, .. } if status == "past_due")
        );
        assert!(
            matches!(&failed.effects[1], Effect::Status { status, .. } if status == "past_due")
        );
        assert_eq!(failed.audit[0].action, "billing.invoice.payment_failed");
    }

    #[test]
    fn missing_fields_and_unknown_types_are_permanent() {
        let mut no_plan = ev("subscription.created");
        no_plan.plan_id = None;
        let e = decide(&no_plan).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (422, Some("data.planId")));
        let e = decide(&ev("customer.deleted")).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (422, "UNKNOWN_EVENT_TYPE"));
    }

    #[test]
    fn effects_serialise_with_their_op() {
        let v = serde_json::to_value(Effect::Cancel {
            tenant_id: "t".into(),
        })
        .unwrap();
        assert_eq!(v, json!({"op": "subscription.cancel", "tenantId": "t"}));
    }
}
