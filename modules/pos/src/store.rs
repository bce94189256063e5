//! Small kv helpers shared by the handlers: counters, loading with a 404, listing everything
//! under a prefix, and the clock.

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
/// not all rewrite one counter key and re-run each other (issue 17). The ticket's key is
/// read, so the create is checked at commit against anything else writing that key (an
/// earlier POS numbering from its kv counter during an upgrade): the loser runs again with
/// a new number, and a number already taken is skipped.
///
/// Earlier versions numbered tickets from a kv counter, which is only read now, and only
/// once a number turns out taken: tickets are never deleted, so every number up to that
/// counter is taken, and a sequence still below it meets one at once. The sequence then
/// jumps above the counter instead of stepping through the old tickets. Read on every create
/// instead, the counter cost each one a second read (on PostgreSQL a round trip).
pub fn next_ticket_id() -> Result<u64, Error> {
    let mut at_least = 1;
    let mut counter_read = false;
    loop {
        let id = kv::next_number("ticket", at_least)?;
        if kv::get(&keys::ticket(id))?.is_none() {
            return Ok(id);
        }
        if !counter_read {
            counter_read = true;
            at_least = kv::get_json::<u64>(keys::TICKET_SEQ)?.unwrap_or(0) + 1;
        }
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
