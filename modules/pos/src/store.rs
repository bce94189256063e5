//! Small kv helpers shared by the handlers: counters, loading with a 404, listing everything
//! under a prefix, and the clock.

use std::sync::atomic::{AtomicU64, Ordering};

use nova_sdk::{Error, kv};

use crate::keys;
use serde::de::DeserializeOwned;

/// Largest page the host returns.
const PAGE: u32 = 1000;

/// The next id from a counter. The host re-runs a call that raced another on the same
/// counter, so two calls never get the same id.
pub fn next_id(counter: &str) -> Result<u64, Error> {
    let id = kv::get_json::<u64>(counter)?.unwrap_or(0) + 1;
    kv::set_json(counter, &id)?;
    Ok(id)
}

/// The next ticket id, from the host's `ticket` sequence, so that concurrent creations do
/// not all rewrite one counter key and re-run each other (issue 17). It carries on above the
/// kv counter earlier versions kept ([`old_counter_floor`]). The ticket goes in with
/// `kv::create` ([`crate::tickets::save_new`]), checked at commit against anything else that
/// wrote its key (an earlier POS numbering from its counter during an upgrade): the loser
/// runs again and takes the next number. A number is not read before it is used, which on
/// PostgreSQL saves a round trip per ticket.
pub fn next_ticket_id() -> Result<u64, Error> {
    kv::next_number("ticket", old_counter_floor()?)
}

/// One above the ticket counter earlier versions kept in kv; 0 until this instance has read
/// it.
static OLD_COUNTER_FLOOR: AtomicU64 = AtomicU64::new(0);

/// One above the ticket counter earlier versions kept, read once per instance rather than
/// on every creation (a read fewer per ticket, on PostgreSQL a round trip). An instance
/// serves one tenant and one version of POS, and this version only reads the counter, so
/// what it read holds for the calls it serves. Should an earlier version still move the
/// counter meanwhile (on another server during an upgrade, or for a tenant pinned back to
/// it), the ticket's creation checked at commit keeps this version from writing over the
/// tickets it numbered: each taken number costs the creation an attempt (six in a row, and
/// it answers 409). The earlier version writes its tickets blind, so the two should not run
/// side by side for long. The taken numbers alone are no floor: an earlier version moved its
/// counter on before checks that could still refuse the ticket, so its numbers have gaps.
fn old_counter_floor() -> Result<u64, Error> {
    match OLD_COUNTER_FLOOR.load(Ordering::Relaxed) {
        0 => {
            let floor = kv::get_json::<u64>(keys::TICKET_SEQ)?.unwrap_or(0) + 1;
            OLD_COUNTER_FLOOR.store(floor, Ordering::Relaxed);
            Ok(floor)
        }
        floor => Ok(floor),
    }
}

/// A stored value, or 404 `NOT_FOUND` with `what` as the message.
pub fn load<T: DeserializeOwned>(key: &str, what: impl FnOnce() -> String) -> Result<T, Error> {
    kv::get_json(key)?.ok_or_else(|| Error::not_found(what()))
}

/// Every value under `prefix`, in key order. For small families (the menu, inventory, one
/// day's sales); large ones are paged to the client instead.
pub fn list_all<T: DeserializeOwned>(prefix: &str) -> Result<Vec<T>, Error> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = kv::list_json::<T>(prefix, PAGE, cursor.as_deref())?;
        out.extend(page.entries.into_iter().map(|(_, v)| v));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
