//! Durations as gate-policy files write them: `48h`, `7d`, `90m`, `2w`.

use std::time::Duration;

/// Parses `48h`, `7d`, `1w 2d`, `30m`, `3600s` (and anything `humantime` accepts).
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_forms() {
        assert_eq!(parse("48h"), Ok(Duration::from_secs(48 * 3600)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse(" 2w "), Ok(Duration::from_secs(14 * 86400)));
        assert!(parse("soon").is_err());
    }
}
