//! Content negotiation between the simple API's HTML (PEP 503) and JSON
//! (PEP 691) forms, from the client's `Accept` header.

/// A serialisation of the simple API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/vnd.pypi.simple.v1+json`.
    Json,
    /// `application/vnd.pypi.simple.v1+html`.
    VersionedHtml,
    /// `text/html`, what pre-PEP 691 clients ask for.
    Html,
}

pub const JSON: &str = "application/vnd.pypi.simple.v1+json";
const VERSIONED_HTML: &str = "application/vnd.pypi.simple.v1+html";

/// What this adapter asks upstream for: JSON, falling back to HTML.
pub const UPSTREAM_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, \
     application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => JSON,
            Format::VersionedHtml => VERSIONED_HTML,
            Format::Html => "text/html; charset=utf-8",
        }
    }

    /// The media types that name this format; `latest` aliases the newest v1.
    fn names(self) -> &'static [&'static str] {
        match self {
            Format::Json => &[JSON, "application/vnd.pypi.simple.latest+json"],
            Format::VersionedHtml => &[VERSIONED_HTML, "application/vnd.pypi.simple.latest+html"],
            Format::Html => &["text/html"],
        }
    }
}

/// The format to answer in. The highest q-value wins, then the more specific
/// match; remaining ties, a missing header and a header naming nothing we
/// serve all get HTML, the spec's default.
pub fn choose(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Html;
    };
    let ranges: Vec<MediaRange> = accept.split(',').filter_map(MediaRange::parse).collect();
    // Listed in tie-break order: the first of equal scores wins.
    [Format::Html, Format::VersionedHtml, Format::Json]
        .into_iter()
        .filter_map(|format| {
            ranges
                .iter()
                .filter_map(|range| range.specificity(format).map(|s| (range.q, s)))
                .max_by_key(|&(_, specificity)| specificity)
                .filter(|&(q, _)| q > 0)
                .map(|score| (format, score))
        })
        .fold(
            None,
            |best: Option<(Format, (u16, u8))>, candidate| match best {
                Some(b) if b.1 >= candidate.1 => Some(b),
                _ => Some(candidate),
            },
        )
        .map_or(Format::Html, |(format, _)| format)
}

/// One entry of an `Accept` header, q scaled to 0..=1000.
struct MediaRange {
    kind: String,
    subtype: String,
    q: u16,
}

impl MediaRange {
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let q = parts
            .filter_map(|param| param.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1000), |(_, value)| parse_q(value.trim()))?;
        Some(MediaRange {
            kind: kind.trim().to_ascii_lowercase(),
            subtype: subtype.trim().to_ascii_lowercase(),
            q,
        })
    }

    /// How specifically this range names `format`: 2 exact, 1 `type/*`, 0 `*/*`.
    fn specificity(&self, format: Format) -> Option<u8> {
        format.names().iter().find_map(|name| {
            let (kind, subtype) = name.split_once('/')?;
            if self.kind == kind && self.subtype == subtype {
                Some(2)
            } else if self.kind == kind && self.subtype == "*" {
                Some(1)
            } else if self.kind == "*" && self.subtype == "*" {
                Some(0)
            } else {
                None
            }
        })
    }
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths.
fn parse_q(text: &str) -> Option<u16> {
    let value: f32 = text.parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_clients_get_what_they_prefer() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
        assert_eq!(choose(Some(pip)), Format::Json);
        assert_eq!(choose(Some(UPSTREAM_ACCEPT)), Format::Json);
        assert_eq!(choose(Some("text/html")), Format::Html);
        assert_eq!(
            choose(Some("application/vnd.pypi.simple.v1+html")),
            Format::VersionedHtml
        );
        assert_eq!(
            choose(Some("application/vnd.pypi.simple.latest+json")),
            Format::Json
        );
    }

    #[test]
    fn q_values_outrank_order() {
        assert_eq!(
            choose(Some(
                "text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.9"
            )),
            Format::Json
        );
        assert_eq!(
            choose(Some("application/vnd.pypi.simple.v1+json;q=0.1, text/html")),
            Format::Html
        );
        assert_eq!(
            choose(Some("application/vnd.pypi.simple.v1+json;q=0, */*")),
            Format::Html
        );
    }

    #[test]
    fn defaults_to_html() {
        assert_eq!(choose(None), Format::Html);
        assert_eq!(choose(Some("*/*")), Format::Html);
        assert_eq!(choose(Some("application/json")), Format::Html);
        assert_eq!(choose(Some("garbage")), Format::Html);
        assert_eq!(choose(Some("")), Format::Html);
    }

    #[test]
    fn exact_match_beats_wildcard_at_equal_q() {
        assert_eq!(
            choose(Some("*/*, application/vnd.pypi.simple.v1+json")),
            Format::Json
        );
        assert_eq!(
            choose(Some("application/*, text/*;q=0.5")),
            Format::VersionedHtml
        );
    }
}
