//! Durations in settings: `2s`, `500ms`, `1m`, `1h`, or a bare number of seconds.

use std::time::Duration;

/// Parses `2s`, `500ms`, `1m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |i| (&text[..i], text[i..].trim()));
    let value: f64 = number.parse().map_err(|_| format!("invalid duration `{text}`"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration unit in `{text}` (use ms, s, m or h)")),
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("duration `{text}` must be positive"));
    }
    // Bounds that keep timers meaningful: below a millisecond rounds towards zero, and a
    // month is past any interval this stack waits on.
    if seconds < 0.001 {
        return Err(format!("duration `{text}` is shorter than 1ms"));
    }
    if seconds > 30.0 * 86_400.0 {
        return Err(format!("duration `{text}` is too long (at most 30 days)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("6s").unwrap(), Duration::from_secs(6));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("99999999999999999999999h").unwrap_err().contains("too long"));
        assert!(parse_duration("0.0000000001").unwrap_err().contains("shorter than 1ms"));
        assert!(parse_duration("721h").unwrap_err().contains("too long"));
    }
}
