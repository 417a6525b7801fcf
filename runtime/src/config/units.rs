//! Durations and byte sizes as operators write them: `"29s"`, `"500ms"`,
//! `"10MiB"`, or a plain number of bytes.

use std::time::Duration;

use serde::Deserialize;

/// A size written either as a string with a unit or as a plain byte count.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    /// A byte count.
    Bytes(i64),
    /// A string such as `"10MiB"` or `"64 KB"`.
    Text(String),
}

/// Parses a duration such as `"29s"`, `"500ms"` or `"1m 30s"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(text).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write e.g. \"29s\", \"500ms\" or \"2m\"")
    })?;
    if parsed.is_zero() {
        return Err(format!("`{text}` is zero; a duration must be positive"));
    }
    Ok(parsed)
}

/// Parses a size: bytes as an integer, or a string with a unit
/// (`KB`/`MB` are powers of 1000, `KiB`/`MiB` powers of 1024).
pub fn parse_size(value: &SizeValue) -> Result<u64, String> {
    match value {
        SizeValue::Bytes(n) if *n > 0 => Ok(*n as u64),
        SizeValue::Bytes(n) => Err(format!("{n} is not a positive number of bytes")),
        SizeValue::Text(text) => match text.trim().parse::<bytesize::ByteSize>() {
            Ok(size) if size.as_u64() > 0 => Ok(size.as_u64()),
            Ok(_) => Err(format!("`{text}` is zero; a size must be positive")),
            Err(_) => Err(format!(
                "`{text}` is not a size; write e.g. \"10MiB\", \"512KB\" or a number of bytes"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("29s"), Ok(Duration::from_secs(29)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").unwrap_err().contains("zero"));
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_duration("10").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn sizes() {
        let text = |s: &str| parse_size(&SizeValue::Text(s.into()));
        assert_eq!(text("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(text("10 KB"), Ok(10_000));
        assert_eq!(parse_size(&SizeValue::Bytes(4096)), Ok(4096));
        assert!(parse_size(&SizeValue::Bytes(-1)).is_err());
        assert!(text("lots").unwrap_err().contains("not a size"));
    }
}
