//! The clock and RFC 3339 timestamps, without a date library: the civil-from-days
//! conversion of Howard Hinnant's `chrono` paper.

const MS_PER_DAY: u64 = 86_400_000;

/// Milliseconds since the Unix epoch. A clock before 1970 reads as 0 rather than failing
/// the call, since every use only compares or subtracts times.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC) of a Unix time in milliseconds. Milliseconds are
/// always written, as JavaScript's `toISOString` does, so the string round-trips `…AtMs`.
pub fn rfc3339(ms: u64) -> String {
    let days = (ms / MS_PER_DAY) as i64;
    let in_day = ms % MS_PER_DAY;
    let (y, m, d) = civil_from_days(days);
    let (hh, mm) = (in_day / 3_600_000, in_day / 60_000 % 60);
    let (ss, millis) = (in_day / 1000 % 60, in_day % 1000);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z")
}

/// `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1), "1970-01-01T00:00:00.001Z");
        assert_eq!(rfc3339(86_399_999), "1970-01-01T23:59:59.999Z");
        assert_eq!(rfc3339(1_717_200_000_000), "2024-06-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_717_199_999_999), "2024-05-31T23:59:59.999Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn leap_days_and_century_rules() {
        // 2024-02-29 and 2000-02-29 exist; 2100 is not a leap year.
        assert_eq!(rfc3339(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(rfc3339(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn days_count_up_one_calendar_day_at_a_time() {
        let mut prev = civil_from_days(-1);
        for z in 0..60_000 {
            let (y, m, d) = civil_from_days(z);
            let next_day = (y, m, d) == (prev.0, prev.1, prev.2 + 1);
            let next_month =
                d == 1 && ((y, m) == (prev.0, prev.1 + 1) || (m == 1 && y == prev.0 + 1));
            assert!(next_day || next_month, "{prev:?} -> {:?}", (y, m, d));
            prev = (y, m, d);
        }
    }

    #[test]
    fn the_clock_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }
}
