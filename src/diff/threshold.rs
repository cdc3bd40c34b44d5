//! `--fail-above BYTES|PERCENT`: how much the new report may grow before `memform diff`
//! fails a CI run (exit status [`EXIT_GREW`], after the outputs are written).
//!
//! A threshold is a number of bytes, with an optional unit (`B`, `KB`, `MB`, `GB`, `TB` in
//! powers of 1000; `KiB`, `MiB`, `GiB`, `TiB` in powers of 1024; case-insensitive, a space
//! allowed before the unit), or a percentage of the base report's bytes (`5%`). The report
//! fails when its bytes grew by *more* than that; growth from an empty base report exceeds
//! every percentage.

use std::fmt;

use crate::diff::Diff;
use crate::flamegraph::human_bytes;

/// The exit status of a diff whose new report grew by more than `--fail-above`.
pub const EXIT_GREW: i32 = 3;

/// The growth a diff allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Bytes(u64),
    Percent(f64),
}

impl Threshold {
    /// Parses `10MB`, `1.5 GiB`, `4096` or `5%`.
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let invalid = || {
            format!(
                "{text:?} is not a threshold: give bytes (4096, 10MB, 1.5GiB) or a percentage \
                 (5%)"
            )
        };
        let text = text.trim();
        if let Some(number) = text.strip_suffix('%') {
            let percent: f64 = number.trim().parse().map_err(|_| invalid())?;
            if !percent.is_finite() || percent < 0.0 {
                return Err(invalid());
            }
            return Ok(Threshold::Percent(percent));
        }
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1000,
            "mb" => 1000_u64.pow(2),
            "gb" => 1000_u64.pow(3),
            "tb" => 1000_u64.pow(4),
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "tib" => 1 << 40,
            _ => return Err(invalid()),
        };
        if number.is_empty() {
            return Err(invalid());
        }
        if let Ok(whole) = number.parse::<u64>() {
            return whole
                .checked_mul(unit)
                .map(Threshold::Bytes)
                .ok_or_else(invalid);
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let bytes = (value * unit as f64).round();
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(invalid());
        }
        Ok(Threshold::Bytes(bytes as u64))
    }

    /// Whether `diff`'s new report grew by more than this.
    pub fn is_exceeded_by(&self, diff: &Diff) -> bool {
        let grew = diff.size_change();
        match *self {
            Threshold::Bytes(bytes) => grew > i128::from(bytes),
            Threshold::Percent(percent) => match diff.size_change_percent() {
                Some(change) => change > percent,
                None => grew > 0,
            },
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Bytes(bytes) => write!(f, "{}", human_bytes(u128::from(*bytes))),
            Threshold::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse() {
        let p = |s| Threshold::parse(s).unwrap();
        assert_eq!(p("4096"), Threshold::Bytes(4096));
        assert_eq!(p("10MB"), Threshold::Bytes(10_000_000));
        assert_eq!(p("10 mb"), Threshold::Bytes(10_000_000));
        assert_eq!(p("1.5GiB"), Threshold::Bytes(1_610_612_736));
        assert_eq!(p("2KiB"), Threshold::Bytes(2048));
        assert_eq!(p("0"), Threshold::Bytes(0));
        assert_eq!(p("5%"), Threshold::Percent(5.0));
        assert_eq!(p("0.5 %"), Threshold::Percent(0.5));
        for bad in [
            "",
            "MB",
            "5 apples",
            "-3",
            "-3%",
            "x%",
            "1e3",
            "99999999999999999999",
        ] {
            assert!(Threshold::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Threshold::parse("5 apples").unwrap_err(),
            "\"5 apples\" is not a threshold: give bytes (4096, 10MB, 1.5GiB) or a percentage (5%)"
        );
    }
}
