//! The OSV mirror: records as upstream sends them, and ranges as matched.
//!
//! Invariants: a range's intervals answer as the OSV schema's own evaluation
//! algorithm does (events sorted, walked once); a record's stored entry
//! survives its JSON round trip (it is what SQLite keeps); every version a
//! record lists is affected.

use std::cmp::Ordering;

use arbitrary::Unstructured;
use gatehouse_osv::matching::{Event, Matcher, PackageEntry, QueryVersion, build_range};
use gatehouse_osv::record::prepare;
use gatehouse_osv::version::{Scheme, Version};

use crate::token_text;

const TOKENS: &str = "0 1 2 3 10 0.0 1.0 1.2.3 alpha rc a1 post1 dev SNAPSHOT beta";

/// The schemes and an ecosystem ordered by each. Not Maven: its order is not
/// transitive (see `versions::maven`), so sorting events has no one answer.
const SCHEMES: [(Scheme, &str); 2] = [(Scheme::Semver, "npm"), (Scheme::Pep440, "PyPI")];

fn version(u: &mut Unstructured<'_>) -> String {
    token_text(u, TOKENS, &[".", "-", ""])
}

/// The OSV schema's algorithm: sort the events by version (`introduced: 0`
/// first, ties in the order given), then walk them once.
fn reference(events: &[(Option<Version>, &Event)], query: &Version) -> bool {
    let at_or_below = |v: &Option<Version>| {
        v.as_ref()
            .is_none_or(|v| v.compare(query) != Some(Ordering::Greater))
    };
    let mut affected = false;
    for (bound, event) in events {
        match event {
            Event::Introduced(_) if at_or_below(bound) => affected = true,
            Event::Fixed(_) if at_or_below(bound) => affected = false,
            Event::LastAffected(_)
                if bound
                    .as_ref()
                    .is_some_and(|b| b.compare(query) == Some(Ordering::Less)) =>
            {
                affected = false;
            }
            _ => {}
        }
    }
    affected
}

/// A range of arbitrary events, matched against arbitrary versions, both ways.
pub fn ranges(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(&(scheme, ecosystem)) = u.choose(&SCHEMES) else {
        return;
    };
    let count = u.int_in_range(0..=6).unwrap_or(0);
    let events: Vec<Event> = (0..count)
        .map(|_| {
            let text = version(&mut u);
            match u.int_in_range(0..=2).unwrap_or(0) {
                0 => Event::Introduced(text),
                1 => Event::Fixed(text),
                _ => Event::LastAffected(text),
            }
        })
        .collect();
    let Ok(range) = build_range(scheme, &events) else {
        return;
    };
    let mut sorted: Vec<(Option<Version>, &Event)> = events
        .iter()
        .map(|event| match event {
            Event::Introduced(t) if t.trim() == "0" => (None, event),
            Event::Introduced(t) | Event::Fixed(t) | Event::LastAffected(t) => {
                (Some(scheme.parse(t).expect("build_range parsed it")), event)
            }
        })
        .collect();
    let order = |a: &Option<Version>, b: &Option<Version>| match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => a.compare(b).expect("one scheme"),
    };
    // Events of different kinds at one version contradict each other, and
    // the schema orders them no way: the walk and the intervals may differ.
    let kind = |event: &Event| std::mem::discriminant(event);
    for (i, (a, x)) in sorted.iter().enumerate() {
        if sorted[i + 1..]
            .iter()
            .any(|(b, y)| kind(x) != kind(y) && order(a, b) == Ordering::Equal)
        {
            return;
        }
    }
    sorted.sort_by(|(a, _), (b, _)| order(a, b));
    let entry = PackageEntry {
        ranges: vec![range],
        ..PackageEntry::default()
    };
    let matcher = Matcher::new("FUZZ-1", ecosystem, &entry);
    let mut queries: Vec<String> = events
        .iter()
        .map(|(Event::Introduced(t) | Event::Fixed(t) | Event::LastAffected(t))| t.clone())
        .collect();
    queries.extend((0..3).map(|_| version(&mut u)));
    for text in &queries {
        let Some(query) = scheme.parse(text) else {
            continue;
        };
        let mut unparsable = false;
        let matched = matcher.affects(&mut QueryVersion::new(text), &mut unparsable);
        assert_eq!(
            matched,
            reference(&sorted, &query),
            "{ecosystem}: {text:?} against {events:?} ({entry:?})"
        );
    }
}

/// A record as upstream sends it.
pub fn record(data: &[u8]) {
    let Ok(prepared) = prepare(data) else {
        return;
    };
    for package in &prepared.packages {
        let stored = serde_json::to_string(&package.entry).expect("an entry serialises");
        let read: PackageEntry = serde_json::from_str(&stored).expect("a stored entry reads");
        assert_eq!(read, package.entry, "the stored entry changed: {stored}");
        let matcher = Matcher::new(&prepared.id, &package.ecosystem, &package.entry);
        for listed in &package.entry.versions {
            let mut unparsable = false;
            assert!(
                matcher.affects(&mut QueryVersion::new(listed), &mut unparsable),
                "{listed:?} is listed but not affected"
            );
        }
    }
}
