//! Times as people and protocols read them, from Unix milliseconds: RFC 3339 (UTC), with no time-zone database.

/// Milliseconds since the epoch as RFC 3339 (UTC).
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    format!("{}T{:02}:{:02}:{:02}.{:03}Z", date_of_days(days as i64), rem / 3600, rem % 3600 / 60, rem % 60, ms % 1000)
}

/// The day of `ms` since the epoch (before it too) as `YYYY-MM-DD`.
pub fn date(ms: i64) -> String {
    date_of_days(ms.div_euclid(86_400_000))
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (Howard Hinnant's civil-from-days).
fn date_of_days(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_before_and_after_the_epoch() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(-1), "1969-12-31");
        assert_eq!(super::date(1_767_225_600_000), "2026-01-01");
    }
}
