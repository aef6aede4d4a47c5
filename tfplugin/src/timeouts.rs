//! The conventional `timeouts { create = "5m" ... }` block and Go-style
//! duration strings ("90s", "1h30m", "2m").

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::schema::validators::custom;
use crate::schema::{Attribute, Block, NestedBlock, Nesting};

/// The `timeouts` block for the given operations, e.g. `&["create", "update", "delete"]`.
pub fn block(operations: &[&str]) -> NestedBlock {
    let mut b = Block::new(
        "How long each operation may take in all (every call and retry in it), as a duration such as `30s`, \
         `5m` or `1h`. A call still out when the bound passes is abandoned; whatever the operation made by then \
         stays in state, and the next apply continues from there.",
    );
    for op in operations {
        b = b.attribute(
            Attribute::string(op)
                .optional()
                .description(&format!("Limit for {op}, e.g. `2m`."))
                .validator(custom("a duration such as `30s`, `5m` or `1h30m`", |v| {
                    v.as_str().map_or(Ok(()), |s| parse_duration(s).map(drop))
                })),
        );
    }
    NestedBlock::new("timeouts", Nesting::Single, b)
}

/// The model of a `timeouts` block; absent operations use the resource's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    pub create: Option<String>,
    pub update: Option<String>,
    pub delete: Option<String>,
}

impl Timeouts {
    fn pick(value: Option<&String>, default: Duration) -> Duration {
        value.and_then(|s| parse_duration(s).ok()).unwrap_or(default)
    }
    pub fn create_or(&self, default: Duration) -> Duration {
        Self::pick(self.create.as_ref(), default)
    }
    pub fn update_or(&self, default: Duration) -> Duration {
        Self::pick(self.update.as_ref(), default)
    }
    pub fn delete_or(&self, default: Duration) -> Duration {
        Self::pick(self.delete.as_ref(), default)
    }
}

/// The model of a `timeouts` block of only `create` and `update`, for
/// resources whose delete is one call (a model field the schema lacks would
/// make every state with the block fail to encode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteTimeouts {
    pub create: Option<String>,
    pub update: Option<String>,
}

impl WriteTimeouts {
    pub fn create_or(&self, default: Duration) -> Duration {
        Timeouts::pick(self.create.as_ref(), default)
    }
    pub fn update_or(&self, default: Duration) -> Duration {
        Timeouts::pick(self.update.as_ref(), default)
    }
}

/// The longest duration accepted: no operation is meant to take longer, and a
/// bound keeps `Duration` arithmetic (and `tokio` deadlines) from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Refuses durations longer than [`MAX_DURATION`].
pub fn check_bound(text: &str, d: Duration) -> Result<Duration, String> {
    if d > MAX_DURATION {
        Err(format!(
            "{text:?} is longer than a year (8784h); write a shorter duration such as \"30m\" or \"2h\""
        ))
    } else {
        Ok(d)
    }
}

/// Parses Go's duration syntax: a sequence of decimal numbers with units
/// `ns`, `us`, `ms`, `s`, `m`, `h` ("1h30m", "2.5s"), at most a year.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration; write it like \"30s\", \"5m\" or \"1h30m\"");
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    // Checked before converting: `Duration::from_secs_f64` panics on values
    // past `u64::MAX` seconds (and on infinity, which "1e400h" parses to).
    if !total.is_finite() || total > MAX_DURATION.as_secs_f64() {
        return check_bound(text, Duration::MAX);
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn huge_durations_are_refused_not_a_panic() {
        let infinite = format!("1{}h", "0".repeat(400));
        for text in [
            "99999999999999999999999h",
            &infinite,
            "8785h",
            "1000000000000000000000000s",
        ] {
            let e = parse_duration(text).expect_err(text);
            assert!(e.contains("longer than a year"), "{e}");
        }
        assert_eq!(parse_duration("8784h"), Ok(MAX_DURATION));
        assert!(check_bound("x", Duration::from_secs(u64::MAX)).is_err());
    }
}
