//! Durations as operators type them: `90s`, `30m`, `24h`, `7d`, up to
//! `bounds::MAX_DURATION`.

use std::time::Duration;

use crate::bounds::{BoundsError, MAX_DURATION};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration like 90s, 30m, 24h or 7d")]
    Malformed(String),
    #[error(transparent)]
    OutOfBounds(#[from] BoundsError),
}

pub fn parse_duration(raw: &str) -> Result<Duration, DurationError> {
    let raw = raw.trim();
    let bad = || DurationError::Malformed(raw.chars().flat_map(char::escape_default).collect());
    let split = raw.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = raw.split_at(split);
    if number.is_empty() {
        return Err(bad());
    }
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let too_long = || DurationError::OutOfBounds(BoundsError::TooLong(raw.to_owned()));
    // Digits past u64 are a duration too long, not a malformed one.
    let number: u64 = number.parse().map_err(|_| too_long())?;
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(too_long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_usual_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        for bad in ["", "7", "d", "7w", "-1h", "1.5h"] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_durations_past_the_bound() {
        assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
        for long in ["36501d", "99999999d", "99999999999999999999999s"] {
            assert_eq!(
                parse_duration(long),
                Err(DurationError::OutOfBounds(BoundsError::TooLong(
                    long.to_owned()
                ))),
            );
        }
        assert!(
            parse_duration("99999999d")
                .unwrap_err()
                .to_string()
                .contains("`99999999d` is longer than 36500d")
        );
    }
}
