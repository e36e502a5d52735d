//! Severity of an advisory: CVSS base scores from `severity[]` vectors (via the
//! RustSec `cvss` crate, which scores v2, v3.0, v3.1 and v4.0), and the label
//! derived from the score or from the database's own word.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

use crate::Severity;

/// The CVSS v4.0 base metrics; other metrics are dropped before scoring so that
/// the result is the base score (CVSS-B), not a threat/environmental one.
const V4_BASE_METRICS: [&str; 11] = [
    "AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA",
];

/// Base metrics a v3 / v2 vector must carry: the `cvss` crate accepts partial
/// vectors and scores the missing metrics as absent (a 0.0 that means nothing).
const V3_BASE_METRICS: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];
const V2_BASE_METRICS: [&str; 6] = ["AV", "AC", "Au", "C", "I", "A"];

/// The base score of one OSV severity entry (`type`, `score`). CVSS_V3 and
/// CVSS_V4 vectors are scored; CVSS_V2 too, but [`highest_score`] uses v2
/// only when no v3/v4 vector scored. `None` for other types and bad vectors.
pub fn base_score(kind: &str, vector: &str) -> Option<f32> {
    let vector = vector.trim();
    let score = match kind {
        "CVSS_V3" => {
            if !has_metrics(vector, &V3_BASE_METRICS) {
                return None;
            }
            let v = cvss::v3::Vector::from_str(vector).ok()?;
            guarded(|| v.base_score().value())?
        }
        "CVSS_V4" => {
            if !has_metrics(vector, &V4_BASE_METRICS) {
                return None;
            }
            let base = v4_base_only(vector);
            let v = cvss::v4::Vector::from_str(&base).ok()?;
            guarded(|| v.score().value())?
        }
        "CVSS_V2" => {
            if !has_metrics(vector, &V2_BASE_METRICS) {
                return None;
            }
            let v = cvss::v2::Vector::from_str(vector).ok()?;
            guarded(|| v.score().value())?
        }
        _ => return None,
    };
    (score.is_finite() && (0.0..=10.0).contains(&score)).then_some(score as f32)
}

/// The highest base score among `(type, vector)` entries: v3/v4 first, v2 only
/// when neither gave a score.
pub fn highest_score<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<f32> {
    let mut modern: Option<f32> = None;
    let mut legacy: Option<f32> = None;
    for (kind, vector) in entries {
        let Some(score) = base_score(kind, vector) else {
            continue;
        };
        let slot = if kind == "CVSS_V2" {
            &mut legacy
        } else {
            &mut modern
        };
        *slot = Some(slot.map_or(score, |s| s.max(score)));
    }
    modern.or(legacy)
}

/// CVSS qualitative rating: 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high,
/// 9.0–10.0 critical; 0.0 ("none") is `Unknown`.
pub fn label_from_score(score: f32) -> Severity {
    match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::High,
        s if s >= 4.0 => Severity::Medium,
        s if s > 0.0 => Severity::Low,
        _ => Severity::Unknown,
    }
}

/// A database's own label (GHSA: LOW, MODERATE, HIGH, CRITICAL), any case.
pub fn label_from_text(text: &str) -> Option<Severity> {
    match text.trim().to_ascii_uppercase().as_str() {
        "LOW" => Some(Severity::Low),
        "MODERATE" | "MEDIUM" => Some(Severity::Medium),
        "HIGH" | "IMPORTANT" => Some(Severity::High),
        "CRITICAL" => Some(Severity::Critical),
        _ => None,
    }
}

/// `severity` label from a `database_specific` / `ecosystem_specific` object.
pub fn label_from_specific(value: Option<&serde_json::Value>) -> Option<Severity> {
    value?.get("severity")?.as_str().and_then(label_from_text)
}

fn has_metrics(vector: &str, required: &[&str]) -> bool {
    required.iter().all(|m| {
        vector
            .split('/')
            .any(|part| part.split_once(':').is_some_and(|(k, _)| k == *m))
    })
}

fn v4_base_only(vector: &str) -> String {
    let mut parts = vector.split('/');
    let mut out = String::with_capacity(vector.len());
    out.push_str(parts.next().unwrap_or_default());
    for part in parts {
        let metric = part.split(':').next().unwrap_or_default();
        if V4_BASE_METRICS.contains(&metric) {
            out.push('/');
            out.push_str(part);
        }
    }
    out
}

/// Scoring is pure arithmetic on a validated vector, but this runs on untrusted
/// input inside a server: a panic in a dependency must not take it down.
fn guarded(f: impl FnOnce() -> f64) -> Option<f64> {
    catch_unwind(AssertUnwindSafe(f)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_v31_base_score() {
        // Log4Shell, CVE-2021-44228: 10.0
        let s = base_score("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H");
        assert_eq!(s, Some(10.0));
        // A typical network/no-auth/high-impact vector: 9.8
        let s = base_score("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
        assert_eq!(s, Some(9.8));
        let s = base_score("CVSS_V3", "CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:L/A:N");
        assert_eq!(s, Some(4.3));
    }

    #[test]
    fn cvss_v4_base_score() {
        // FIRST's calculator: all high, network, no requirements: 10.0
        let s = base_score(
            "CVSS_V4",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
        );
        assert_eq!(s, Some(10.0));
        // FIRST's calculator: 9.3 for the vulnerable system only.
        let s = base_score(
            "CVSS_V4",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        );
        assert_eq!(s, Some(9.3));
        // Threat metrics are dropped: still the base score.
        let s = base_score(
            "CVSS_V4",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U",
        );
        assert_eq!(s, Some(9.3));
    }

    #[test]
    fn v2_only_when_nothing_newer() {
        let v2 = ("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P");
        assert_eq!(highest_score([v2]), Some(7.5));
        let v3 = ("CVSS_V3", "CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:L/A:N");
        assert_eq!(highest_score([v2, v3]), Some(4.3));
    }

    #[test]
    fn bad_vectors_score_nothing() {
        assert_eq!(base_score("CVSS_V3", "garbage"), None);
        assert_eq!(base_score("CVSS_V3", "CVSS:3.1/AV:N"), None);
        assert_eq!(base_score("CVSS_V4", "CVSS:4.0/AV:N/AC:L"), None);
        assert_eq!(base_score("Ubuntu", "high"), None);
        assert_eq!(highest_score([("CVSS_V3", "")]), None);
    }

    #[test]
    fn labels() {
        assert_eq!(label_from_score(0.0), Severity::Unknown);
        assert_eq!(label_from_score(0.1), Severity::Low);
        assert_eq!(label_from_score(3.9), Severity::Low);
        assert_eq!(label_from_score(4.0), Severity::Medium);
        assert_eq!(label_from_score(6.9), Severity::Medium);
        assert_eq!(label_from_score(7.0), Severity::High);
        assert_eq!(label_from_score(8.9), Severity::High);
        assert_eq!(label_from_score(9.0), Severity::Critical);
        assert_eq!(label_from_text("MODERATE"), Some(Severity::Medium));
        assert_eq!(label_from_text("critical"), Some(Severity::Critical));
        assert_eq!(label_from_text("whatever"), None);
    }
}
