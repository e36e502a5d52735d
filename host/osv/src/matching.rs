//! Deciding whether a version is affected: OSV `ranges[]` turned into sorted
//! intervals at import time ([`build_range`]), stored as a compact JSON
//! [`PackageEntry`] per (advisory, package), and parsed once per package into a
//! [`Matcher`] that answers queries without touching SQLite.
//!
//! The OSV schema's evaluation algorithm: sort a range's
//! events by version; a version is affected when the last `introduced` at or
//! below it is not followed by a `fixed` at or below it, nor by a
//! `last_affected` strictly below it. `introduced: "0"` is the start of time.
//! Walking the sorted events once gives the same answer as a list of intervals
//! `[introduced, fixed)` / `[introduced, last_affected]` / `[introduced, ∞)`.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::Severity;
use crate::version::{Scheme, Version};

/// One OSV range event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
}

/// What the mirror stores per (advisory, package): already merged over all of
/// the record's `affected[]` entries for that package.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PackageEntry {
    /// The label for this package (record-level, else package-level).
    #[serde(rename = "s")]
    pub severity: Severity,
    /// `fixed` events of this package's SEMVER/ECOSYSTEM ranges, in order, deduplicated.
    #[serde(rename = "f", default, skip_serializing_if = "Vec::is_empty")]
    pub fixed: Vec<String>,
    /// `versions[]`, as the record spells them.
    #[serde(rename = "v", default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Ranges whose events all parsed, as sorted intervals.
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<StoredRange>,
}

/// A range pre-sorted into disjoint intervals, bounds kept as text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRange {
    #[serde(rename = "k")]
    pub scheme: Scheme,
    #[serde(rename = "i")]
    pub intervals: Vec<StoredInterval>,
}

/// `[lo, fixed)` or `[lo, last]` or `[lo, ∞)`; `lo == None` is "0".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredInterval {
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub lo: Option<String>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

/// Sorts `events` under `scheme` and folds them into intervals. `Err` carries
/// the first event version that does not parse: such a range cannot be
/// evaluated and the caller falls back to `versions[]`.
pub fn build_range(scheme: Scheme, events: &[Event]) -> Result<StoredRange, String> {
    let mut parsed: Vec<(Option<Version>, &Event)> = Vec::with_capacity(events.len());
    for event in events {
        let text = match event {
            Event::Introduced(t) if t.trim() == "0" => {
                parsed.push((None, event));
                continue;
            }
            Event::Introduced(t) | Event::Fixed(t) | Event::LastAffected(t) => t,
        };
        let v = scheme.parse(text).ok_or_else(|| text.clone())?;
        parsed.push((Some(v), event));
    }
    parsed.sort_by(|(a, _), (b, _)| match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => a.compare(b).unwrap_or(Ordering::Equal),
    });
    let mut intervals = Vec::new();
    let mut open: Option<Option<String>> = None;
    for (_, event) in parsed {
        match event {
            Event::Introduced(t) => {
                if open.is_none() {
                    open = Some((t.trim() != "0").then(|| t.clone()));
                }
            }
            Event::Fixed(t) => {
                if let Some(lo) = open.take() {
                    intervals.push(StoredInterval {
                        lo,
                        fixed: Some(t.clone()),
                        last: None,
                    });
                }
            }
            Event::LastAffected(t) => {
                if let Some(lo) = open.take() {
                    intervals.push(StoredInterval {
                        lo,
                        fixed: None,
                        last: Some(t.clone()),
                    });
                }
            }
        }
    }
    if let Some(lo) = open {
        intervals.push(StoredInterval {
            lo,
            fixed: None,
            last: None,
        });
    }
    Ok(StoredRange { scheme, intervals })
}

enum Upper {
    Open,
    Fixed(Version),
    Last(Version),
}

struct Interval {
    lo: Option<Version>,
    hi: Upper,
}

impl Interval {
    fn contains(&self, v: &Version) -> bool {
        let above_lo = match &self.lo {
            None => true,
            Some(lo) => matches!(lo.compare(v), Some(Ordering::Less | Ordering::Equal)),
        };
        above_lo
            && match &self.hi {
                Upper::Open => true,
                Upper::Fixed(f) => v.compare(f) == Some(Ordering::Less),
                Upper::Last(l) => matches!(v.compare(l), Some(Ordering::Less | Ordering::Equal)),
            }
    }
}

struct Range {
    scheme: Scheme,
    intervals: Vec<Interval>,
}

/// A package entry ready for queries: bounds parsed, listed versions indexed.
pub struct Matcher {
    /// Listed versions as spelled, plus their canonical spellings.
    listed: HashSet<String>,
    /// The ecosystem's own order, for canonical spellings of listed versions.
    scheme: Option<Scheme>,
    ranges: Vec<Range>,
}

/// A query version parsed lazily, at most once per scheme.
pub struct QueryVersion<'a> {
    text: &'a str,
    parsed: [Option<Option<Version>>; 3],
}

impl<'a> QueryVersion<'a> {
    pub fn new(text: &'a str) -> Self {
        QueryVersion {
            text,
            parsed: [None, None, None],
        }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The version under `scheme`, or `None` when it does not parse there.
    pub fn get(&mut self, scheme: Scheme) -> Option<&Version> {
        let slot = match scheme {
            Scheme::Semver => 0,
            Scheme::Pep440 => 1,
            Scheme::Maven => 2,
        };
        let text = self.text;
        self.parsed[slot]
            .get_or_insert_with(|| scheme.parse(text))
            .as_ref()
    }
}

impl Matcher {
    /// Parses the stored bounds for `ecosystem`. A bound that no longer parses
    /// (it did at import) drops its range, with a warning.
    pub fn new(id: &str, ecosystem: &str, entry: &PackageEntry) -> Matcher {
        let scheme = Scheme::for_ecosystem(ecosystem);
        let mut listed = HashSet::with_capacity(entry.versions.len() * 2);
        for text in &entry.versions {
            listed.insert(text.clone());
            if let Some(v) = scheme.and_then(|s| s.parse(text)) {
                listed.insert(v.canonical());
            }
        }
        let mut ranges = Vec::with_capacity(entry.ranges.len());
        'ranges: for stored in &entry.ranges {
            let s = stored.scheme;
            let mut intervals = Vec::with_capacity(stored.intervals.len());
            for iv in &stored.intervals {
                let bound = |t: &Option<String>| -> Result<Option<Version>, ()> {
                    match t {
                        None => Ok(None),
                        Some(t) => s.parse(t).map(Some).ok_or(()),
                    }
                };
                let (Ok(lo), Ok(fixed), Ok(last)) =
                    (bound(&iv.lo), bound(&iv.fixed), bound(&iv.last))
                else {
                    tracing::warn!(
                        advisory = id,
                        ecosystem,
                        "stored range bound no longer parses; range ignored"
                    );
                    continue 'ranges;
                };
                let hi = match (fixed, last) {
                    (Some(f), _) => Upper::Fixed(f),
                    (None, Some(l)) => Upper::Last(l),
                    (None, None) => Upper::Open,
                };
                intervals.push(Interval { lo, hi });
            }
            ranges.push(Range {
                scheme: s,
                intervals,
            });
        }
        Matcher {
            listed,
            scheme,
            ranges,
        }
    }

    /// True when `version` is listed or falls in a range. `unparsable` is set
    /// when a range could not be evaluated because the version does not parse
    /// under the range's scheme (the listed versions still decided).
    pub fn affects(&self, version: &mut QueryVersion<'_>, unparsable: &mut bool) -> bool {
        if self.listed.contains(version.text()) {
            return true;
        }
        for range in &self.ranges {
            match version.get(range.scheme) {
                Some(v) => {
                    if range.intervals.iter().any(|iv| iv.contains(v)) {
                        return true;
                    }
                }
                None => *unparsable = true,
            }
        }
        // A spelling variant of a listed version ("1.0" for "1.0.0" in PyPI).
        match self.scheme {
            Some(scheme) if !self.listed.is_empty() => version
                .get(scheme)
                .is_some_and(|v| self.listed.contains(&v.canonical())),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record;
    use proptest::prelude::*;
    use serde_json::json;

    /// A matcher for one package of a record built from `events`.
    fn matcher(
        ecosystem: &str,
        range_type: &str,
        events: serde_json::Value,
        versions: &[&str],
    ) -> Matcher {
        let record = json!({
            "id": "TEST-1",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [{
                "package": {"ecosystem": ecosystem, "name": "pkg"},
                "ranges": [{"type": range_type, "events": events}],
                "versions": versions,
            }],
        });
        let prepared = record::prepare(record.to_string().as_bytes()).expect("valid record");
        let package = prepared.packages.first().expect("one package");
        Matcher::new("TEST-1", ecosystem, &package.entry)
    }

    fn hit(m: &Matcher, version: &str) -> bool {
        m.affects(&mut QueryVersion::new(version), &mut false)
    }

    fn check(m: &Matcher, affected: &[&str], not_affected: &[&str]) {
        for v in affected {
            assert!(hit(m, v), "{v} should be affected");
        }
        for v in not_affected {
            assert!(!hit(m, v), "{v} should not be affected");
        }
    }

    #[test]
    fn npm_fixed_and_prereleases() {
        let m = matcher(
            "npm",
            "SEMVER",
            json!([{"introduced": "0"}, {"fixed": "1.2.3"}]),
            &[],
        );
        check(
            &m,
            &[
                "0.0.1",
                "1.2.2",
                "1.2.3-beta.1",
                "1.2.3-0",
                "v1.0.0",
                "1.0.0+build.5",
            ],
            &["1.2.3", "1.2.4", "2.0.0-alpha", "1.2.3+build"],
        );
    }

    #[test]
    fn npm_last_affected_is_inclusive() {
        let m = matcher(
            "npm",
            "SEMVER",
            json!([{"introduced": "2.0.0-rc.1"}, {"last_affected": "2.0.1"}]),
            &[],
        );
        check(
            &m,
            &["2.0.0-rc.1", "2.0.0-rc.2", "2.0.0", "2.0.1-beta", "2.0.1"],
            &["2.0.0-rc.0", "1.9.9", "2.0.2-alpha", "2.0.2"],
        );
    }

    #[test]
    fn several_intervals_in_any_event_order() {
        let events = json!([
            {"fixed": "2.1.0"}, {"introduced": "1.0.0"}, {"introduced": "2.0.0"}, {"fixed": "1.0.5"}
        ]);
        let m = matcher("npm", "SEMVER", events, &[]);
        check(
            &m,
            &["1.0.0", "1.0.4", "2.0.0", "2.0.9"],
            &["0.9.0", "1.0.5", "1.5.0", "2.1.0", "3.0.0"],
        );
    }

    #[test]
    fn open_ended_range_affects_everything_after() {
        let m = matcher("npm", "SEMVER", json!([{"introduced": "3.1.0"}]), &[]);
        check(&m, &["3.1.0", "99.0.0"], &["3.0.9", "3.1.0-rc.1"]);
    }

    #[test]
    fn pypi_pep440_edges() {
        let m = matcher(
            "PyPI",
            "ECOSYSTEM",
            json!([{"introduced": "0"}, {"fixed": "2.0"}]),
            &[],
        );
        check(
            &m,
            &["1.9.9", "2.0rc1", "2.0.dev0", "2.0a1", "0.0"],
            &["2.0", "2.0.0", "2.0.post1", "2.1", "1!0.1"],
        );
        let m = matcher(
            "PyPI",
            "ECOSYSTEM",
            json!([{"introduced": "1.0"}, {"last_affected": "1.5"}]),
            &[],
        );
        check(
            &m,
            &["1.0", "1.5", "1.5.0", "1.5rc1", "1.2.post3"],
            &["0.9", "1.0rc1", "1.5.post1", "1.5.1"],
        );
    }

    #[test]
    fn crates_io_rustsec_style() {
        let m = matcher(
            "crates.io",
            "SEMVER",
            json!([{"introduced": "0.0.0-0"}, {"fixed": "0.7.0"}]),
            &[],
        );
        check(
            &m,
            &["0.0.0", "0.0.1", "0.6.9", "0.7.0-alpha.1"],
            &["0.7.0", "0.7.1", "1.0.0"],
        );
    }

    #[test]
    fn go_pseudo_versions_and_incompatible() {
        let m = matcher(
            "Go",
            "SEMVER",
            json!([{"introduced": "0"}, {"fixed": "0.0.0-20220314234659-1baeb1ce4c0b"}]),
            &[],
        );
        check(
            &m,
            &[
                "v0.0.0-20210101000000-abcdefabcdef",
                "0.0.0-20220314234658-ffffffffffff",
            ],
            &[
                "v0.0.0-20220314234659-1baeb1ce4c0b",
                "v0.0.0-20230101000000-000000000000",
                "v0.1.0",
            ],
        );
        let m = matcher(
            "Go",
            "SEMVER",
            json!([{"introduced": "2.0.0"}, {"last_affected": "2.3.1"}]),
            &[],
        );
        check(
            &m,
            &["v2.0.0+incompatible", "v2.3.1+incompatible", "v2.3.1"],
            &["v1.9.9", "v2.3.2", "v2.3.2-0.20200101000000-abcdefabcdef"],
        );
    }

    #[test]
    fn maven_comparable_version() {
        let m = matcher(
            "Maven",
            "ECOSYSTEM",
            json!([{"introduced": "2.0.0"}, {"fixed": "2.12.6.1"}]),
            &[],
        );
        check(
            &m,
            &["2.0.0", "2.0", "2.9.10.8", "2.12.6", "2.12.6.1-rc1"],
            &[
                "1.9.13",
                "2.0.0-rc1",
                "2.0.0-SNAPSHOT",
                "2.12.6.1",
                "2.12.7",
                "2.13.0",
            ],
        );
        let m = matcher(
            "Maven",
            "ECOSYSTEM",
            json!([{"introduced": "0"}, {"last_affected": "9.4.41.v20210516"}]),
            &[],
        );
        check(
            &m,
            &["9.4.41.v20210516", "9.4.41.RC0", "9.3.30.v20211001"],
            &["9.4.42.v20210604", "10.0.0"],
        );
    }

    #[test]
    fn listed_versions_match_exactly_and_by_canonical_spelling() {
        let m = matcher(
            "PyPI",
            "GIT",
            json!([{"introduced": "abc"}, {"fixed": "def"}]),
            &["1.0", "2.0rc1"],
        );
        check(
            &m,
            &["1.0", "1.0.0", "2.0RC1", "2.0rc1"],
            &["1.1", "2.0", "abc", "def"],
        );
    }

    #[test]
    fn unknown_ecosystem_uses_versions_only() {
        let m = matcher(
            "Debian:11",
            "ECOSYSTEM",
            json!([{"introduced": "0"}, {"fixed": "2.0-1"}]),
            &["1.0-1"],
        );
        check(&m, &["1.0-1"], &["1.5-1", "1.0"]);
    }

    #[test]
    fn unparsable_query_version_falls_back_to_versions() {
        let m = matcher(
            "PyPI",
            "ECOSYSTEM",
            json!([{"introduced": "0"}]),
            &["weird-build"],
        );
        let mut unparsable = false;
        assert!(m.affects(&mut QueryVersion::new("weird-build"), &mut unparsable));
        let mut unparsable = false;
        assert!(!m.affects(&mut QueryVersion::new("also weird"), &mut unparsable));
        assert!(unparsable);
    }

    #[test]
    fn unparsable_range_event_drops_only_that_range() {
        let record = json!({
            "id": "TEST-2",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [{
                "package": {"ecosystem": "npm", "name": "pkg"},
                "ranges": [
                    {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "not-a-version"}]},
                    {"type": "SEMVER", "events": [{"introduced": "5.0.0"}, {"fixed": "5.1.0"}]}
                ],
                "versions": ["0.1.0"],
            }],
        });
        let prepared = record::prepare(record.to_string().as_bytes()).expect("valid record");
        assert!(matches!(prepared.notes[0], record::Note::BadVersion { .. }));
        let m = Matcher::new("TEST-2", "npm", &prepared.packages[0].entry);
        check(&m, &["0.1.0", "5.0.1"], &["0.2.0", "5.1.0"]);
    }

    fn version_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}",
            "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}-(alpha|beta|rc)(\\.[0-9])?",
            "[0-9]{1,2}\\.[0-9]{1,2}(a|b|rc|\\.post|\\.dev)[0-9]",
            "v?[0-9]\\.[0-9]\\.[0-9](\\+incompatible)?",
            "[0-9]\\.[0-9]\\.(RELEASE|Final|SNAPSHOT|v2021[0-9]{4})",
            "[a-zA-Z0-9.+_~-]{1,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever the ranges say, a version in `versions[]` is affected.
        #[test]
        fn listed_version_always_matches(
            ecosystem in prop_oneof![
                Just("npm"), Just("PyPI"), Just("crates.io"), Just("Go"), Just("Maven"), Just("Debian:11")
            ],
            range_type in prop_oneof![Just("SEMVER"), Just("ECOSYSTEM"), Just("GIT")],
            listed in proptest::collection::vec(version_text(), 1..6),
            bounds in proptest::collection::vec((0u8..3, version_text()), 0..5),
            pick in any::<proptest::sample::Index>(),
        ) {
            let events: Vec<serde_json::Value> = bounds
                .iter()
                .map(|(kind, v)| match kind {
                    0 => json!({"introduced": v}),
                    1 => json!({"fixed": v}),
                    _ => json!({"last_affected": v}),
                })
                .collect();
            let listed_refs: Vec<&str> = listed.iter().map(String::as_str).collect();
            let m = matcher(ecosystem, range_type, serde_json::Value::Array(events), &listed_refs);
            let version = pick.get(&listed);
            prop_assert!(hit(&m, version), "{} listed but not matched", version);
        }
    }
}
