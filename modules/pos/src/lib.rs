//! Point of sale: tickets with lines and totals in integer cents.
//!
//! Written only against `nova-sdk`, as an outside module author would.

mod tickets;
mod validate;

use nova_sdk::{Module, Router};

/// The POS module.
pub struct Pos;

impl Module for Pos {
    fn router() -> Router {
        Router::new()
            .post("/tickets", tickets::create)
            .get("/tickets", tickets::list)
            .get("/tickets/{id}", tickets::get)
    }
}

nova_sdk::export!(Pos, capabilities = ["kv", "audit"]);
