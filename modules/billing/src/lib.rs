//! Billing: decides what each billing provider event means for a tenant's entitlements.
//!
//! The host's worker calls `POST /events` with a stored provider event; the module checks
//! it and answers with the effects to apply (a plan change, a cancellation, an invoice
//! state) and the audit actions that describe them. The host applies both in one
//! transaction together with marking the event processed, so an event takes effect once.
//! A `422` means the event can never be applied (unknown type, missing field): the host marks
//! it failed without retrying.

mod decide;
mod event;

use nova_sdk::{Error, Module, Request, Response, Router, context};

/// The billing module.
pub struct Billing;

/// Only the host's worker may submit events.
const WORKER: &str = "worker:billing";

fn events(req: &Request) -> Result<Response, Error> {
    if context::get().actor != WORKER {
        return Err(Error::new(
            403,
            "FORBIDDEN",
            "billing events come from the billing worker only",
        ));
    }
    let raw: serde_json::Value = req
        .json()
        .map_err(|_| Error::new(422, "INVALID_EVENT", "the event is not a JSON object"))?;
    let event = event::parse(&raw)?;
    Response::json(200, &decide::decide(&event)?)
}

impl Module for Billing {
    fn router() -> Router {
        Router::new().post("/events", events)
    }
}

nova_sdk::export!(Billing);
