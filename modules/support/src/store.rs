//! Tickets in kv: ids, loading with a 404, saving with the status indexes, and paging.

use nova_sdk::{Error, kv};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::keys;
use crate::ticket::{Status, Ticket};

/// Entries fetched from the host per round trip while paging, so a large `limit` does not
/// hold a thousand 10 KB tickets in memory at once.
const FETCH: u32 = 100;

/// The most entries the host returns per list call.
const HOST_PAGE: u32 = 1000;

/// Stop filling a page past this many bytes of JSON, well inside the host's 1 MiB response
/// limit; the client follows `nextCursor` for the rest.
const PAGE_BYTES: usize = 768 << 10;

/// A status index entry; both indexes hold at least the ticket id.
#[derive(Deserialize)]
struct Indexed {
    id: u64,
}

/// The next ticket id. The host re-runs a call that raced another on the counter, so two
/// tickets never share an id.
pub fn next_id() -> Result<u64, Error> {
    let id = kv::get_json::<u64>(keys::TICKET_SEQ)?.unwrap_or(0) + 1;
    kv::set_json(keys::TICKET_SEQ, &id)?;
    Ok(id)
}

/// A ticket, or 404.
pub fn load(id: u64) -> Result<Ticket, Error> {
    kv::get_json(&keys::ticket(id))?.ok_or_else(|| Error::not_found(format!("no ticket {id}")))
}

/// Write a ticket and keep its status indexes in step; both commit together with the call.
pub fn save(t: &Ticket) -> Result<(), Error> {
    kv::set_json(&keys::ticket(t.id), t)?;
    match t.status {
        Status::Open => kv::set_json(&keys::status_entry(Status::Open, t.id), &t.tracked()),
        Status::Closed => {
            kv::delete(&keys::status_entry(Status::Open, t.id))?;
            kv::set_json(
                &keys::status_entry(Status::Closed, t.id),
                &serde_json::json!({ "id": t.id }),
            )
        }
    }
}

/// One page of ticket views, newest first: from all tickets, or from one status index.
pub fn page(
    status: Option<Status>,
    limit: u32,
    cursor: Option<String>,
) -> Result<(Vec<Value>, Option<String>), Error> {
    match status {
        None => collect(host_list(keys::TICKETS), limit, cursor, |raw| {
            let t: Ticket = parse(keys::TICKETS, &raw)?;
            Ok(serde_json::to_value(t.view())?)
        }),
        Some(s) => collect(host_list(&keys::by_status(s)), limit, cursor, |raw| {
            let entry: Indexed = parse(&keys::by_status(s), &raw)?;
            // The index is written with the ticket, so a missing ticket is corruption.
            let t: Ticket = kv::get_json(&keys::ticket(entry.id))?.ok_or_else(|| {
                Error::internal(format!(
                    "the status index names missing ticket {}",
                    entry.id
                ))
            })?;
            Ok(serde_json::to_value(t.view())?)
        }),
    }
}

/// Every value under `prefix`, in key order.
pub fn all<T: DeserializeOwned>(prefix: &str) -> Result<Vec<T>, Error> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = kv::list_json::<T>(prefix, HOST_PAGE, cursor.as_deref())?;
        out.extend(page.entries.into_iter().map(|(_, v)| v));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

fn parse<T: DeserializeOwned>(prefix: &str, raw: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(raw).map_err(|e| {
        Error::internal(format!(
            "a stored {prefix} entry is not the expected JSON: {e}"
        ))
    })
}

/// The host's listing of `prefix`, as [`collect`] pages it.
fn host_list(prefix: &str) -> impl FnMut(u32, Option<&str>) -> Result<kv::Page, Error> + '_ {
    move |limit, cursor| kv::list(prefix, limit, cursor)
}

/// Up to `limit` rendered entries from `list` after `cursor`, and the cursor of the next
/// page. Cut short when the JSON would crowd the response limit; the returned cursor then
/// resumes after the last entry included.
fn collect(
    mut list: impl FnMut(u32, Option<&str>) -> Result<kv::Page, Error>,
    limit: u32,
    mut cursor: Option<String>,
    mut render: impl FnMut(Vec<u8>) -> Result<Value, Error>,
) -> Result<(Vec<Value>, Option<String>), Error> {
    let limit = limit as usize;
    let mut items = Vec::new();
    let mut bytes = 0;
    loop {
        let want = (limit - items.len()).min(FETCH as usize) as u32;
        let page = list(want, cursor.as_deref())?;
        let more = page.cursor.is_some();
        let count = page.entries.len();
        for (i, (key, raw)) in page.entries.into_iter().enumerate() {
            let item = render(raw)?;
            bytes += serde_json::to_vec(&item)?.len();
            if bytes > PAGE_BYTES && !items.is_empty() {
                return Ok((items, cursor));
            }
            items.push(item);
            cursor = Some(key);
            if items.len() == limit {
                let rest = i + 1 < count || more;
                return Ok((items, if rest { cursor } else { None }));
            }
        }
        if !more || count == 0 {
            return Ok((items, None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An in-memory listing with the host's cursor rule: the last key of a page that has
    /// more after it.
    fn listing(n: usize) -> impl FnMut(u32, Option<&str>) -> Result<kv::Page, Error> {
        let keys: Vec<String> = (0..n).map(|i| format!("k/{i:03}")).collect();
        move |limit, cursor| {
            let after: Vec<_> = keys
                .iter()
                .filter(|k| cursor.is_none_or(|c| k.as_str() > c))
                .collect();
            let entries: Vec<_> = after
                .iter()
                .take(limit as usize)
                .map(|k| (k.to_string(), k.as_bytes().to_vec()))
                .collect();
            let cursor = (after.len() > entries.len()).then(|| entries.last().unwrap().0.clone());
            Ok(kv::Page { entries, cursor })
        }
    }

    fn small(raw: Vec<u8>) -> Result<Value, Error> {
        Ok(json!(String::from_utf8(raw).unwrap()))
    }

    #[test]
    fn pages_follow_on_from_their_cursor() {
        let (items, next) = collect(listing(250), 120, None, small).unwrap();
        assert_eq!((items.len(), next.as_deref()), (120, Some("k/119")));
        let (items, next) = collect(listing(250), 1000, next, small).unwrap();
        assert_eq!((items.len(), next), (130, None));
        assert_eq!(items[0], json!("k/120"));
    }

    #[test]
    fn a_page_that_ends_with_the_data_has_no_cursor() {
        let (items, next) = collect(listing(100), 100, None, small).unwrap();
        assert_eq!((items.len(), next), (100, None));
        let (items, next) = collect(listing(0), 50, None, small).unwrap();
        assert_eq!((items.len(), next), (0, None));
    }

    #[test]
    fn large_entries_cut_the_page_short_with_a_cursor() {
        let big = |raw: Vec<u8>| -> Result<Value, Error> {
            Ok(json!({"key": String::from_utf8(raw).unwrap(), "body": "x".repeat(100_000)}))
        };
        let (items, next) = collect(listing(20), 20, None, big).unwrap();
        assert_eq!(items.len(), 7);
        assert_eq!(next.as_deref(), Some("k/006"));
        let (rest, _) = collect(listing(20), 20, next, big).unwrap();
        assert_eq!(rest[0]["key"], "k/007");
    }
}
