//! The one set of bounds on what operators type: durations, limits and ids,
//! whether they come from a flag, an environment variable or an admin
//! request. A value past a bound is refused where it enters, naming the
//! value, so nothing deeper (date arithmetic, `make_interval`, a bind that
//! PostgreSQL refuses) ever sees it: the CLI exits 2, the admin API answers
//! 400, and a long-running process refuses to start.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The longest duration anything accepts: a century, far past any
/// retention or look-back, and far inside what dates and PostgreSQL
/// intervals can hold.
pub const MAX_DURATION_DAYS: u64 = 36_500;
pub const MAX_DURATION_SECS: u64 = MAX_DURATION_DAYS * 86_400;
pub const MAX_DURATION_MS: u64 = MAX_DURATION_SECS * 1000;
pub const MAX_DURATION: Duration = Duration::from_secs(MAX_DURATION_SECS);

/// The most rows a listing returns at once.
pub const MAX_LIMIT: usize = 10_000;

/// The longest id or event type accepted (Stripe's are well under 100).
pub const MAX_ID_CHARS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundsError {
    #[error("`{0}` is longer than {MAX_DURATION_DAYS}d, the longest duration accepted")]
    TooLong(String),
    #[error("`{0}` is not a limit from 1 to {MAX_LIMIT}")]
    Limit(String),
    #[error("`{0}` is not a connected account id (acct_ and letters or digits)")]
    Account(String),
    #[error("`{0}` is not an id: 1 to {MAX_ID_CHARS} printable characters")]
    Id(String),
    #[error("`{0}` is not a number of seconds from 0 to {MAX_DURATION_SECS}")]
    Seconds(String),
    #[error("`{0}` is not a rate from 1 to {MAX_RATE} per second")]
    Rate(String),
}

/// The highest rate (per second) a load generator is asked for.
pub const MAX_RATE: f64 = 10_000_000.0;

/// `raw` as seconds, fractions allowed (`0.5`), within MAX_DURATION: what
/// `Duration::from_secs_f64` and `Instant + Duration` take without panicking.
pub fn parse_seconds(raw: &str) -> Result<f64, BoundsError> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| (0.0..=MAX_DURATION_SECS as f64).contains(s))
        .ok_or_else(|| BoundsError::Seconds(shown(raw)))
}

/// `raw` as a rate per second from 1 to MAX_RATE; below one a schedule's
/// delays would pass any bound.
pub fn parse_rate(raw: &str) -> Result<f64, BoundsError> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|r| (1.0..=MAX_RATE).contains(r))
        .ok_or_else(|| BoundsError::Rate(shown(raw)))
}

/// `raw` as a limit within 1..=MAX_LIMIT.
pub fn parse_limit(raw: &str) -> Result<usize, BoundsError> {
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| BoundsError::Limit(shown(raw)))
}

/// `raw` as an id (an event, job, object id or an event type): no control
/// characters (PostgreSQL refuses a NUL in text), no more than
/// MAX_ID_CHARS.
pub fn parse_id(raw: &str) -> Result<String, BoundsError> {
    let fits = !raw.is_empty()
        && raw.chars().count() <= MAX_ID_CHARS
        && !raw.chars().any(char::is_control);
    if fits {
        Ok(raw.to_owned())
    } else {
        Err(BoundsError::Id(shown(raw)))
    }
}

/// `raw` as a connected account id: `acct_` and up to MAX_ID_CHARS letters
/// and digits, as Stripe makes them. It goes into a request header, so
/// nothing else passes.
pub fn parse_account(raw: &str) -> Result<String, BoundsError> {
    let raw = raw.trim();
    let fits = raw.strip_prefix("acct_").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= MAX_ID_CHARS
            && rest.chars().all(|c| c.is_ascii_alphanumeric())
    });
    if fits {
        Ok(raw.to_owned())
    } else {
        Err(BoundsError::Account(shown(raw)))
    }
}

/// `now - window`, checked. Within MAX_DURATION this always succeeds; the
/// check keeps a caller that skipped the bound from panicking.
pub fn before_now(window: Duration) -> Result<DateTime<Utc>, BoundsError> {
    TimeDelta::from_std(window)
        .ok()
        .filter(|_| window <= MAX_DURATION)
        .and_then(|delta| Utc::now().checked_sub_signed(delta))
        .ok_or_else(|| BoundsError::TooLong(format!("{}s", window.as_secs())))
}

/// A refused value as it is echoed back: control characters escaped, cut
/// short, so an error line stays one short line.
fn shown(raw: &str) -> String {
    let escaped: String = raw.chars().flat_map(char::escape_default).collect();
    match escaped.char_indices().nth(80) {
        Some((at, _)) => format!("{}...", &escaped[..at]),
        None => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_acct_and_letters_or_digits() {
        assert_eq!(parse_account(" acct_1Ab9 "), Ok("acct_1Ab9".into()));
        for refused in ["acct_", "cus_1", "acct_1\r\nX-Evil: 1", "acct_a-b", ""] {
            assert!(
                matches!(parse_account(refused), Err(BoundsError::Account(_))),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn limits_are_from_one_to_the_maximum() {
        assert_eq!(parse_limit("1"), Ok(1));
        assert_eq!(parse_limit("10000"), Ok(10_000));
        for bad in ["0", "-1", "10001", "99999999999999999999999", "ten", ""] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_refuse_control_characters_and_length() {
        assert_eq!(parse_id("evt_123").as_deref(), Ok("evt_123"));
        assert_eq!(
            parse_id("evt_\0x"),
            Err(BoundsError::Id("evt_\\u{0}x".into()))
        );
        assert!(parse_id("").is_err());
        assert!(parse_id(&"a".repeat(MAX_ID_CHARS)).is_ok());
        assert!(parse_id(&"a".repeat(MAX_ID_CHARS + 1)).is_err());
    }

    #[test]
    fn seconds_and_rates_are_finite_and_bounded() {
        assert_eq!(parse_seconds("0.5"), Ok(0.5));
        assert_eq!(parse_rate("250"), Ok(250.0));
        for bad in ["-1", "NaN", "inf", "1e300", "x"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("0.5").is_err());
    }

    #[test]
    fn before_now_is_checked() {
        assert!(before_now(MAX_DURATION).is_ok());
        assert!(before_now(Duration::from_secs(u64::MAX)).is_err());
        assert!(before_now(MAX_DURATION + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn a_refused_value_is_echoed_short() {
        let long = "9".repeat(500);
        let BoundsError::Limit(echo) = parse_limit(&long).unwrap_err() else {
            unreachable!()
        };
        assert_eq!(echo.len(), 83);
    }
}
