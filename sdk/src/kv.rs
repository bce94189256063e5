//! Storage scoped to the calling tenant and this module.
//!
//! Writes are buffered and committed with the call only if it answers below 500; the call's
//! own reads see them. If two calls read and then write the same key at once, the host runs
//! the loser again on fresh data (or answers 409), so no update is lost.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::wit::nova::module::kv as raw;

fn map(e: raw::Error) -> Error {
    match e {
        raw::Error::InvalidKey(m) => Error::internal(format!("invalid kv key: {m}")),
        raw::Error::ValueTooLarge(limit) => Error::new(
            413,
            "VALUE_TOO_LARGE",
            format!("values are limited to {limit} bytes"),
        ),
        raw::Error::QuotaExceeded(m) => Error::new(429, "QUOTA_EXCEEDED", m),
        raw::Error::Other(m) => Error::new(503, "STORAGE_UNAVAILABLE", m),
        raw::Error::Denied(m) => Error::capability_denied(m),
    }
}

/// Read raw bytes.
///
/// ```no_run
/// let v: Option<Vec<u8>> = nova_sdk::kv::get("greeting")?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    raw::get(key).map_err(map)
}

/// Write raw bytes.
///
/// ```no_run
/// nova_sdk::kv::set("greeting", b"hello")?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn set(key: &str, value: &[u8]) -> Result<(), Error> {
    raw::set(key, value).map_err(map)
}

/// Write raw bytes under a key that must not exist yet, without reading it first: for a new
/// record under a fresh name (a number from [`next_number`], an id from [`crate::id::new`]).
/// `Ok(false)`, and nothing written, when this call has already seen the key hold a value
/// (it read, listed or wrote it and has not deleted it since). Otherwise the write is
/// buffered as by [`set`] and the host checks that the key is free when the call commits: if
/// it is taken by then, none of this call's writes stand and the call runs again from the
/// start (answered 409 if every attempt conflicts). On PostgreSQL that saves the round trip
/// a [`get`] first would cost. A key this call deleted is free for it: there `create` writes
/// as [`set`] does. To learn whether a key exists, [`get`] it.
///
/// ```no_run
/// let id = nova_sdk::kv::next_number("order", 1)?;
/// let created = nova_sdk::kv::create(&format!("order/{id:020}"), b"{}")?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn create(key: &str, value: &[u8]) -> Result<bool, Error> {
    raw::create(key, value).map_err(map)
}

/// [`create`] with a JSON value.
///
/// ```no_run
/// let created = nova_sdk::kv::create_json("order/00000000000000000001", &serde_json::json!({"table": "4"}))?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn create_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<bool, Error> {
    create(key, &serde_json::to_vec(value)?)
}

/// Delete a key (missing keys are fine).
///
/// ```no_run
/// nova_sdk::kv::delete("greeting")?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn delete(key: &str) -> Result<(), Error> {
    raw::delete(key).map_err(map)
}

/// Read a JSON value.
///
/// ```no_run
/// let n: Option<u64> = nova_sdk::kv::get_json("counter")?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    match get(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::internal(format!(
                "stored value of {key:?} is not the expected JSON: {e}"
            ))
        }),
    }
}

/// Write a JSON value.
///
/// ```no_run
/// nova_sdk::kv::set_json("counter", &3u64)?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), Error> {
    set(key, &serde_json::to_vec(value)?)
}

/// The next number of this module's sequence `name`, at least `at_least`: for numbering
/// tickets, orders and the like. Unlike a counter kept in kv, concurrent calls never
/// conflict over it. A number is taken at once and never given again, even if the call then
/// fails (that leaves a gap). Numbers from one server increase; replicas take blocks of
/// numbers, so their numbers interleave block by block. A server that stops, or leaves a
/// sequence unused for a minute, gives back the numbers of its block it did not hand out
/// when no other server has taken numbers since, so a stop and start or a quiet night does
/// not make the numbers jump (a crash still can). Pass a counter you kept in kv before as
/// `at_least` to carry on from it.
///
/// ```no_run
/// let id = nova_sdk::kv::next_number("ticket", 1)?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn next_number(name: &str, at_least: u64) -> Result<u64, Error> {
    raw::next_number(name, at_least).map_err(map)
}

/// One page of [`list`] or [`list_descending`].
#[derive(Debug, Clone)]
pub struct Page {
    /// `(key, value)` pairs in the order asked for.
    pub entries: Vec<(String, Vec<u8>)>,
    /// Pass to the next call of the same function, with the same prefix, for the following
    /// page; `None` on the last page. Opaque: pass it on (in a link, say), never build one.
    pub cursor: Option<String>,
}

/// Keys starting with `prefix`, ascending, at most `limit` (capped at 1000), after `cursor`.
/// A listing reads its page, not the keys around it: its cost does not grow with what else
/// the module stores, so give each family of keys its own prefix.
///
/// ```no_run
/// let page = nova_sdk::kv::list("ticket/", 20, None)?;
/// for (key, _value) in &page.entries { nova_sdk::log::debug(key); }
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn list(prefix: &str, limit: u32, cursor: Option<&str>) -> Result<Page, Error> {
    raw::list(prefix, limit, cursor).map(page).map_err(map)
}

/// Keys starting with `prefix`, descending (newest first for keys that sort by time, such
/// as those made with [`crate::id::new`]), at most `limit` (capped at 1000), continuing from
/// `cursor`.
///
/// ```no_run
/// let newest = nova_sdk::kv::list_descending("note/", 20, None)?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn list_descending(prefix: &str, limit: u32, cursor: Option<&str>) -> Result<Page, Error> {
    raw::list_descending(prefix, limit, cursor)
        .map(page)
        .map_err(map)
}

fn page(p: raw::Page) -> Page {
    Page {
        entries: p.entries.into_iter().map(|e| (e.key, e.value)).collect(),
        cursor: p.cursor,
    }
}

/// One page of [`list_json`] or [`list_json_descending`].
#[derive(Debug, Clone)]
pub struct JsonPage<T> {
    /// `(key, value)` pairs in the order asked for.
    pub entries: Vec<(String, T)>,
    /// Pass to the next call for the following page; `None` on the last page.
    pub cursor: Option<String>,
}

/// Like [`list`], with each value parsed as JSON.
///
/// ```no_run
/// let page = nova_sdk::kv::list_json::<serde_json::Value>("ticket/", 20, None)?;
/// let next = page.cursor;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn list_json<T: DeserializeOwned>(
    prefix: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<JsonPage<T>, Error> {
    parse_page(list(prefix, limit, cursor)?)
}

/// Like [`list_descending`], with each value parsed as JSON.
///
/// ```no_run
/// let newest = nova_sdk::kv::list_json_descending::<serde_json::Value>("note/", 20, None)?;
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn list_json_descending<T: DeserializeOwned>(
    prefix: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<JsonPage<T>, Error> {
    parse_page(list_descending(prefix, limit, cursor)?)
}

fn parse_page<T: DeserializeOwned>(page: Page) -> Result<JsonPage<T>, Error> {
    let mut entries = Vec::with_capacity(page.entries.len());
    for (key, bytes) in page.entries {
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::internal(format!(
                "stored value of {key:?} is not the expected JSON: {e}"
            ))
        })?;
        entries.push((key, value));
    }
    Ok(JsonPage {
        entries,
        cursor: page.cursor,
    })
}
