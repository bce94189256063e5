//! Calendar dates as `YYYY-MM-DD` strings and as days since 1970-01-01 (UTC), without a
//! date library: the civil-from-days conversions of Howard Hinnant's `chrono` paper.

use nova_sdk::Error;

/// Days since 1970-01-01 of a valid `YYYY-MM-DD` date.
pub fn parse(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// A `YYYY-MM-DD` field, or 400 naming `field`.
pub fn field(s: &str, field: &str) -> Result<i64, Error> {
    parse(s).ok_or_else(|| {
        Error::validation(field, format!("{field} must be a date written YYYY-MM-DD"))
    })
}

/// `YYYY-MM-DD` of a day number.
pub fn format(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC date of a Unix time in milliseconds.
pub fn utc_date(ms: u64) -> String {
    format((ms / 86_400_000) as i64)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

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
    fn known_dates() {
        assert_eq!(parse("1970-01-01"), Some(0));
        assert_eq!(parse("2000-03-01"), Some(11_017));
        assert_eq!(format(11_017), "2000-03-01");
        assert_eq!(utc_date(1_717_200_000_000), "2024-06-01");
        assert_eq!(utc_date(1_717_199_999_999), "2024-05-31");
    }

    #[test]
    fn round_trips_across_leap_years() {
        for days in -800..30_000 {
            assert_eq!(parse(&format(days)), Some(days), "{}", format(days));
        }
    }

    #[test]
    fn rejects_malformed_and_impossible_dates() {
        for bad in [
            "2024-02-30",
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-01",
            "2024/01/01",
            "24-01-01",
            "2024-01-01T00:00",
            "+024-01-01",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse("2024-02-29"), Some(19_782));
        assert_eq!(
            parse("2000-02-29").map(format).as_deref(),
            Some("2000-02-29")
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field("x", "from").unwrap_err().field.as_deref(),
            Some("from")
        );
    }
}
