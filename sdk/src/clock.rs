//! The calling tenant's local date and time, from the timezone a superadmin set for it (UTC
//! until one is set). Needs the `clock` capability; without its grant, 403
//! `CAPABILITY_DENIED`. Use it for anything a restaurant reads as "today", such as a
//! business date; store instants as `unix_ms`.

use crate::Error;
use crate::wit::nova::module::clock as raw;

/// The time now, as the tenant's restaurant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTime {
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    /// The local time of day, `HH:MM:SS`.
    pub time: String,
    /// The tenant's IANA timezone, such as `Europe/Paris`.
    pub timezone: String,
    /// The local offset from UTC, in minutes (east of Greenwich is positive).
    pub utc_offset_minutes: i32,
    /// The same instant in milliseconds since 1970-01-01T00:00:00Z.
    pub unix_ms: i64,
}

/// The tenant's local time now.
///
/// ```no_run
/// let today = nova_sdk::clock::now()?.date; // "2026-12-01"
/// # Ok::<(), nova_sdk::Error>(())
/// ```
pub fn now() -> Result<LocalTime, Error> {
    let t = raw::now().map_err(|e| match e {
        raw::Error::Denied(m) => Error::capability_denied(m),
    })?;
    Ok(LocalTime {
        date: t.date,
        time: t.time,
        timezone: t.timezone,
        utc_offset_minutes: t.utc_offset_minutes,
        unix_ms: t.unix_ms,
    })
}
