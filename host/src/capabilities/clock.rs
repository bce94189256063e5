//! `nova:module/clock`: the tenant's local date and time, from its timezone setting. A
//! restaurant's business date is its own calendar day, not UTC's.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use wasmtime::component::Linker;

use super::{Unit, Using, grants::Capability};
use crate::contract::clock::{self as wit, Error, Host, LocalTime};
use crate::tenancy::TenantView;

/// `at` as seen in the IANA timezone `name` (UTC when the name is unknown, which the API
/// never stores).
pub(crate) fn local_time(name: &str, at: Timestamp) -> LocalTime {
    let (tz, name) = match TimeZone::get(name) {
        Ok(tz) => (tz, name),
        Err(_) => (TimeZone::UTC, "UTC"),
    };
    let zoned = at.to_zoned_datetime(tz);
    LocalTime {
        date: zoned.strftime("%Y-%m-%d").to_string(),
        time: zoned.strftime("%H:%M:%S").to_string(),
        timezone: name.to_string(),
        utc_offset_minutes: zoned.offset().seconds() / 60,
        unix_ms: at.as_millisecond(),
    }
}

/// Whether `name` is an IANA timezone the host knows.
pub fn known_timezone(name: &str) -> bool {
    TimeZone::get(name).is_ok()
}

/// Link `nova:module/clock` (new in 0.2.0) to the tenant `get` finds in a store.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> Unit<'_, Arc<TenantView>>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Using<Arc<TenantView>>>(linker, get)
}

impl Host for Unit<'_, Arc<TenantView>> {
    async fn now(&mut self) -> wasmtime::Result<Result<LocalTime, Error>> {
        if let Err(denied) = self.gate.enter(Some(Capability::Clock))? {
            return Ok(Err(Error::Denied(denied)));
        }
        Ok(Ok(local_time(&self.state.timezone, Timestamp::now())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        rfc3339.parse().unwrap()
    }

    #[test]
    fn the_local_date_follows_the_timezone() {
        // 23:30 UTC on 31 December is already New Year's Day in Paris (UTC+1 in winter)…
        let t = local_time("Europe/Paris", at("2026-12-31T23:30:00Z"));
        assert_eq!(
            (t.date.as_str(), t.time.as_str()),
            ("2027-01-01", "00:30:00")
        );
        assert_eq!(t.utc_offset_minutes, 60);
        assert_eq!(t.timezone, "Europe/Paris");
        // …and still the 31st in New York (UTC-5).
        let t = local_time("America/New_York", at("2026-12-31T23:30:00Z"));
        assert_eq!(
            (t.date.as_str(), t.utc_offset_minutes),
            ("2026-12-31", -300)
        );
        // Summer time moves the offset.
        let t = local_time("Europe/Paris", at("2026-07-01T12:00:00Z"));
        assert_eq!((t.time.as_str(), t.utc_offset_minutes), ("14:00:00", 120));
        assert_eq!(t.unix_ms, at("2026-07-01T12:00:00Z").as_millisecond());
    }

    #[test]
    fn an_unknown_or_unset_timezone_is_utc() {
        for name in ["", "Mars/Olympus"] {
            let t = local_time(name, at("2026-12-31T23:30:00Z"));
            assert_eq!(
                (t.date.as_str(), t.timezone.as_str()),
                ("2026-12-31", "UTC")
            );
        }
        assert!(known_timezone("Asia/Kolkata"));
        assert!(!known_timezone("Mars/Olympus"));
    }
}
