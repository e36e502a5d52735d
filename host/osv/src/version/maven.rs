//! Maven version ordering: exactly `ComparableVersion` of maven-artifact 3.8
//! (the release Debian ships, 3.8.7), which is what Maven resolves with.
//!
//! Parsing (after lower-casing) reads the text once, keeping a current list:
//! `.` ends an item, `-` ends an item and opens a list inside the current one,
//! an empty item is the number 0. A switch from digits to letters ends the
//! number and opens a list; a switch from letters to digits ends the
//! qualifier in a list of its own (a new one unless the current list is still
//! empty: `1.0alpha1` is `[1, 0, [alpha, [1]]]`) and opens a list for the
//! number. A qualifier ending the text goes into a new list when the current
//! one has items (`1.0.foo` is `[1, 0, [foo]]`, as `1.0-foo`; `1.0.foo.` is
//! `[1, 0, foo]`). Then every list drops its trailing nulls (`0`, the empty
//! qualifier, empty lists) from the end back to its last item that is neither
//! null nor a list: `1.0-1` is `[1, [1]]`, `1-0-1` is `[1, [[1]]]`.
//!
//! Qualifiers: `a`, `b`, `m` directly before a digit mean `alpha`, `beta`,
//! `milestone`; `cr` is `rc`; `ga`, `final` and `release` are the empty
//! qualifier. They order `alpha < beta < milestone < rc < snapshot < "" < sp <`
//! anything else, alphabetically (by UTF-16 code units, as Java compares).
//! Numbers compare by value, any length. Between kinds: number > list >
//! qualifier. A missing item (the shorter list's end) is equal to `0`, to the
//! empty qualifier and to an empty list, above any known qualifier before
//! `""`, below any other number and qualifier; a list against a missing item
//! answers as its first item that is not equal to missing.
//!
//! Digits are Java's (`Character.isDigit`: the decimal digits of every script
//! in the Basic Multilingual Plane, `١٢` is 12). Lower-casing is Rust's:
//! Unicode's mappings, as Java's are, from a newer Unicode than Java 17's. Two
//! choices differ from Maven, both for text no release carries: surrounding
//! blanks are ignored, and a blank string is no version (Maven reads `""` as
//! `0`), so a range naming one falls back to its `versions[]`.
//!
//! The order is not transitive, because Maven's is not: `post1 < 0-rc < 0 <
//! post1`. `post1` is `[post, [1]]` and `0-rc` is `[[rc]]`: a qualifier is
//! below a list whatever either holds, while `0-rc` is below `0` and `post1`
//! above it. Each pair is ordered as Maven orders it.
//!
//! No crate was used: the one published implementation we found (`mvn_version`
//! 0.1) is unmaintained, uses `unsafe` and predates the current algorithm.

use std::cmp::Ordering;
use std::fmt;

/// A parsed Maven version; `Ord` is Maven's order (`1.0 == 1.0.0 == 1-ga`).
#[derive(Clone, PartialEq, Eq)]
pub struct MavenVersion {
    /// The nested lists, outermost first: each list after the first is the
    /// last item of the one before it (parsing only ever opens a list inside
    /// the current one), so the tree is a chain. Never empty; only the first
    /// list may have no items.
    lists: Vec<Vec<Item>>,
}

/// An item other than a list.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    /// ASCII decimal digits without leading zeros (`"0"` for zero), any length.
    Number(String),
    /// A lower-case qualifier, aliases resolved (`cr` → `rc`, `ga` → ``).
    Qualifier(String),
}

/// `Character.digit(c, 10)` for the characters `Character.isDigit` accepts:
/// the zero of each run of ten decimal digits Java 17 knows in the Basic
/// Multilingual Plane (Java reads text as UTF-16, so a digit beyond it is two
/// letters).
const JAVA_DIGIT_ZEROS: [u32; 37] = [
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10,
];

fn java_digit(c: char) -> Option<u32> {
    let c = u32::from(c);
    let run = JAVA_DIGIT_ZEROS.partition_point(|&zero| zero <= c);
    let zero = JAVA_DIGIT_ZEROS[run.checked_sub(1)?];
    (c - zero < 10).then_some(c - zero)
}

/// The known qualifiers in order; the empty one is a release.
const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE: usize = 5;

impl Item {
    /// `parseItem`: a run of digits or of other characters.
    fn new(digits: bool, text: &str) -> Item {
        if digits {
            Item::number(text)
        } else {
            Item::qualifier(text, false)
        }
    }

    fn number(text: &str) -> Item {
        let ascii: String = text
            .chars()
            .filter_map(java_digit)
            .filter_map(|d| char::from_digit(d, 10))
            .skip_while(|&d| d == '0')
            .collect();
        Item::Number(if ascii.is_empty() {
            "0".to_owned()
        } else {
            ascii
        })
    }

    fn qualifier(text: &str, followed_by_digit: bool) -> Item {
        let q = match text {
            "a" if followed_by_digit => "alpha",
            "b" if followed_by_digit => "beta",
            "m" if followed_by_digit => "milestone",
            "cr" => "rc",
            "ga" | "final" | "release" => "",
            other => other,
        };
        Item::Qualifier(q.to_owned())
    }

    fn is_null(&self) -> bool {
        match self {
            Item::Number(n) => n == "0",
            Item::Qualifier(q) => q.is_empty(),
        }
    }

    /// Against the missing item past the end of the other list.
    fn cmp_missing(&self) -> Ordering {
        match self {
            Item::Number(_) if self.is_null() => Ordering::Equal,
            Item::Number(_) => Ordering::Greater,
            Item::Qualifier(q) => match QUALIFIERS.iter().position(|k| k == q) {
                Some(rank) => rank.cmp(&RELEASE),
                None => Ordering::Greater,
            },
        }
    }
}

impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Item::Number(a), Item::Number(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
            (Item::Number(_), Item::Qualifier(_)) => Ordering::Greater,
            (Item::Qualifier(_), Item::Number(_)) => Ordering::Less,
            (Item::Qualifier(a), Item::Qualifier(b)) => {
                let rank = |q: &String| QUALIFIERS.iter().position(|k| k == q);
                match (rank(a), rank(b)) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => a.encode_utf16().cmp(b.encode_utf16()),
                }
            }
        }
    }
}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for MavenVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MavenVersion({})", self.canonical())
    }
}

impl MavenVersion {
    /// The canonical spelling: equal versions have equal canonical strings
    /// (`1.0.0.Final` and `1-ga` are both `1`; `1.0-RC1` is `1-rc-1`), and
    /// each parses back to an equal version (all zeros, `0.0-ga`, is `0`).
    /// Items are joined by `.`, lists opened by `-`; a list without items of
    /// its own (`1-0-1`) is an empty item (`1--1`); a qualifier closing a list
    /// of several items is followed by `.` (`1.foo.`: `1.foo` is `1-foo`).
    pub fn canonical(&self) -> String {
        if self.lists == [Vec::new()] {
            return "0".to_owned();
        }
        let mut out = String::new();
        for (depth, list) in self.lists.iter().enumerate() {
            if depth > 0 {
                out.push('-');
            }
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                match item {
                    Item::Number(n) => out.push_str(n),
                    // `ga`: an empty item would read back as the number 0.
                    Item::Qualifier(q) if q.is_empty() => out.push_str("ga"),
                    Item::Qualifier(q) => out.push_str(q),
                }
            }
        }
        // A closing qualifier after other items would go into a list of its
        // own, and a blank closing it would be trimmed: `.` keeps both.
        if let Some(Item::Qualifier(q)) = self.lists.last().and_then(|list| list.last())
            && (self.lists.last().is_some_and(|list| list.len() > 1)
                || q.ends_with(char::is_whitespace))
        {
            out.push('.');
        }
        out
    }

    /// Parses any string as `ComparableVersion` does: Maven gives every string
    /// an order. Returns `None` only for an empty (or blank) string, which no
    /// release carries.
    pub fn parse(text: &str) -> Option<MavenVersion> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let text = text.to_lowercase();
        // The lists around the current one, outermost first, and the current.
        let mut lists: Vec<Vec<Item>> = Vec::new();
        let mut current: Vec<Item> = Vec::new();
        let mut digits = false;
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if c == '.' || c == '-' {
                current.push(if i == start {
                    Item::Number("0".to_owned())
                } else {
                    Item::new(digits, &text[start..i])
                });
                start = i + 1;
                if c == '-' {
                    lists.push(std::mem::take(&mut current));
                }
            } else if java_digit(c).is_some() {
                if !digits && i > start {
                    if !current.is_empty() {
                        lists.push(std::mem::take(&mut current));
                    }
                    current.push(Item::qualifier(&text[start..i], true));
                    start = i;
                    lists.push(std::mem::take(&mut current));
                }
                digits = true;
            } else {
                if digits && i > start {
                    current.push(Item::number(&text[start..i]));
                    start = i;
                    lists.push(std::mem::take(&mut current));
                }
                digits = false;
            }
        }
        if text.len() > start {
            if !digits && !current.is_empty() {
                lists.push(std::mem::take(&mut current));
            }
            current.push(Item::new(digits, &text[start..]));
        }
        lists.push(current);
        // Each list drops its trailing nulls; an emptied innermost list is
        // itself a null item of the list around it.
        for list in &mut lists {
            while list.last().is_some_and(Item::is_null) {
                list.pop();
            }
        }
        while lists.len() > 1 && lists.last().is_some_and(Vec::is_empty) {
            lists.pop();
        }
        Some(MavenVersion { lists })
    }
}

/// The first item of `lists` (in reading order, through the nested lists)
/// that is not equal to a missing item decides.
fn cmp_missing(lists: &[Vec<Item>]) -> Ordering {
    lists
        .iter()
        .flatten()
        .map(Item::cmp_missing)
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// `ListItem.compareTo`, for two chains of nested lists: the lists are
/// compared item by item, and each one's nested list (its last item) stands
/// after its own items.
fn cmp_lists(mut a: &[Vec<Item>], mut b: &[Vec<Item>]) -> Ordering {
    loop {
        let (items_a, items_b) = (&a[0], &b[0]);
        let (nested_a, nested_b) = (a.len() > 1, b.len() > 1);
        let len_a = items_a.len() + usize::from(nested_a);
        let len_b = items_b.len() + usize::from(nested_b);
        for i in 0..len_a.max(len_b) {
            let order = match (items_a.get(i), items_b.get(i)) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(x), None) if i < len_b => item_against_list(x),
                (None, Some(y)) if i < len_a => item_against_list(y).reverse(),
                (Some(x), None) => x.cmp_missing(),
                (None, Some(y)) => y.cmp_missing().reverse(),
                // Both nested lists: the last items of both, so they decide.
                (None, None) if i < len_a && i < len_b => break,
                (None, None) if i < len_a => cmp_missing(&a[1..]),
                (None, None) => cmp_missing(&b[1..]).reverse(),
            };
            if order.is_ne() {
                return order;
            }
        }
        if !(nested_a && nested_b) {
            return Ordering::Equal;
        }
        (a, b) = (&a[1..], &b[1..]);
    }
}

/// An item against a nested list: a number is above it, a qualifier below.
fn item_against_list(item: &Item) -> Ordering {
    match item {
        Item::Number(_) => Ordering::Greater,
        Item::Qualifier(_) => Ordering::Less,
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_lists(&self.lists, &other.lists)
    }
}

impl PartialOrd for MavenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn v(s: &str) -> MavenVersion {
        MavenVersion::parse(s).expect("non-empty")
    }

    /// The first three were found by the `versions_maven` fuzz target: they
    /// spelled canonically as `` (not a version), `0.2-alpha..alpha` (the
    /// empty item reads as 0) and `alpha-9` (a different version).
    #[test]
    fn canonical_spellings_parse_back_equal() {
        for (text, canonical) in [
            ("0.0", "0"),
            ("0.2-alpha.ga.alpha", "0.2-alpha-alpha"),
            ("0.2-alpha.ga.alpha.", "0.2-alpha.ga.alpha."),
            ("-alpha9.", "-alpha-9"),
            ("1.0.foo", "1-foo"),
            ("1.foo.", "1.foo."),
            ("1-0-1", "1--1"),
            ("--1", "--1"),
            ("1.0alpha1", "1-alpha-1"),
            ("1.a1", "1-alpha-1"),
            ("1-a-1", "1-a-1"),
            ("1-x .", "1-x ."),
            ("1.\u{0661}\u{0662}", "1.12"),
        ] {
            assert_eq!(v(text).canonical(), canonical, "{text}");
            assert_eq!(v(canonical), v(text), "{text}");
            assert_eq!(v(canonical).canonical(), canonical);
        }
    }

    fn assert_chain(chain: &[&str]) {
        for pair in chain.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
            assert!(v(pair[1]) > v(pair[0]), "{} > {}", pair[1], pair[0]);
        }
    }

    fn assert_same(a: &str, b: &str) {
        assert_eq!(v(a).cmp(&v(b)), Ordering::Equal, "{a} == {b}");
        assert_eq!(v(a).canonical(), v(b).canonical(), "{a} == {b}");
    }

    #[test]
    fn specification_examples() {
        assert_chain(&["1", "1.1"]);
        assert_chain(&["1-snapshot", "1", "1-sp"]);
        assert_chain(&["1-foo2", "1-foo10"]);
        assert_chain(&["1.foo.", "1-foo", "1-1", "1.1"]);
        for same in [
            "1.ga", "1-ga", "1-0", "1.0", "1", "1.0.0", "1.final", "1.", "1-",
        ] {
            assert_same(same, "1");
        }
        assert!(v("1-sp") > v("1-ga"));
        assert!(v("1-sp.1") > v("1-ga.1"));
        assert_chain(&["1-sp-1", "1-ga-1", "1-1"]);
        assert_same("1-a1", "1-alpha-1");
        assert_same("1.0.0-foo.0.0", "1-foo");
        assert_same("1.0.0-0.0.0", "1");
        assert_same("1-1.foo-bar1baz-.1", "1-1.foo-bar-1-baz-0.1");
    }

    /// Where the written specification (and this module, before) and
    /// `ComparableVersion` 3.8 differ: the differential test's findings.
    #[test]
    fn lists_as_comparable_version_nests_them() {
        // A qualifier ending the text opens a list: `.` and `-` meet there.
        assert_same("alpha.rc-b", "alpha.rc.b");
        assert_same("alpha.milestone", "alpha-milestone.release");
        assert_same("1.foo", "1-foo");
        assert_same("1.0.beta", "1-beta");
        assert_chain(&["1.foo.", "1.foo"]);
        // Nulls go only from the end of each list: `1-0-1` keeps an empty list.
        assert_chain(&["1-0-1", "1-1"]);
        assert_same("1-0-1", "1--1");
        assert_same("1-ga-1", "1-0-1");
        assert_same("1.0-1", "1-1");
        // Letters before digits get a list of their own unless the list is new.
        assert_same("1.0alpha1", "1-alpha1");
        assert_chain(&["1.a1", "1-a-1"]);
        assert_same("1.a1", "1-alpha1");
        // The chain the fuzz check once found circular is an order now.
        assert_chain(&["1.0.beta", "1.0", "1.0-2"]);
    }

    #[test]
    fn qualifier_order() {
        assert_chain(&[
            "1-alpha-1",
            "1-beta-1",
            "1-milestone-1",
            "1-rc-1",
            "1-snapshot",
            "1",
            "1-sp",
            "1-abc",
            "1-def",
        ]);
        assert_same("1-cr-1", "1-rc-1");
        assert_same("1.0.RELEASE", "1.0");
        assert_same("1.0-Final", "1.0.FINAL");
        assert_same("1.0.0-SNAPSHOT", "1-snapshot");
        assert_eq!(v("1.0-RC1").canonical(), "1-rc-1");
        assert_eq!(v("1.0.0.Final").canonical(), "1");
        // Java compares UTF-16 code units: U+FF5E is above a surrogate pair.
        assert_chain(&["1-\u{1F600}", "1-\u{FF5E}"]);
    }

    /// `Character.isDigit`: the decimal digits of every script in the Basic
    /// Multilingual Plane are digits; a digit beyond it is a letter.
    #[test]
    fn digits_are_javas() {
        assert_same("1.\u{0661}\u{0662}", "1.12");
        assert_same("\u{FF11}.\u{0967}", "1.1");
        assert_eq!(java_digit('\u{0669}'), Some(9));
        assert_eq!(java_digit('\u{066A}'), None);
        assert_eq!(java_digit('/'), None);
        assert_chain(&["1", "1.\u{1D7D9}", "1.0.1"]);
    }

    /// `ComparableVersion` 3.8.7 orders `post1 < 0-rc`, `0-rc < 0` and
    /// `0 < post1`: a qualifier is below a list whatever either holds.
    #[test]
    fn the_order_is_not_transitive_as_mavens_is_not() {
        assert_chain(&["post1", "0-rc", "0", "post1"]);
    }

    #[test]
    fn real_world_orderings() {
        assert_chain(&[
            "1.0-alpha-1",
            "1.0-alpha-1-12062013",
            "1.0-alpha-2",
            "1.0-beta-1",
            "1.0-rc-1",
            "1.0-rc-2",
            "1.0-final",
            "1.0.1.Final",
            "1.1.0.Beta1",
            "1.1.0.CR1",
            "1.1.0.Final",
        ]);
        assert_chain(&["2.0.0-M1", "2.0.0.RELEASE", "2.0.1.RELEASE"]);
        assert_chain(&["0.95beta", "0.95beta-1", "0.95", "0.95-1", "1.0"]);
        assert_chain(&["3.1.0", "3.2.0rc2", "3.2.0-rc.1", "3.2.0"]);
        assert_chain(&[
            "9.3.0.M0",
            "9.3.0.M1",
            "9.3.0.RC0",
            "9.3.0.v20150612",
            "9.3.1.v20150714",
            "9.4.0.M0",
        ]);
        assert_chain(&["2.12.6", "2.12.6.1", "2.12.7", "2.13.0"]);
        assert_chain(&["5.194", "5.201", "5.2020.2", "5.2021.10", "5.2022.1"]);
        assert_chain(&["2.0.0", "2.0.0-preview", "2.0.1"]);
        assert_chain(&["0.2.0M9", "0.2.0", "0.3.0M1"]);
        assert_chain(&["2.6.4", "2.6.4-1", "2.6.5"]);
        assert_chain(&["1.9", "1.10", "1.99999999999999999999"]);
    }

    #[test]
    fn blank_is_rejected_and_odd_input_does_not_panic() {
        assert!(MavenVersion::parse("  ").is_none());
        assert!(MavenVersion::parse("").is_none());
        for odd in ["-", ".", "..--..", "é-1", "v", "1..2", "--1", "0-1"] {
            let a = v(odd);
            let _ = a.cmp(&v("1"));
        }
        assert!(v("0-1") < v("1"));
        let deep = "1-".repeat(100_000);
        assert_eq!(v(&deep).cmp(&v(&deep)), Ordering::Equal);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Any text's canonical spelling parses back equal and is a fixed
        /// point; two versions are equal exactly when their spellings are.
        #[test]
        fn canonical_spelling_is_stable(
            a in "[0-2a-cfgmrs .\\-_\u{0661}\u{1D7D9}]{1,16}",
            b in "[0-2a-cfgmrs .\\-]{1,8}",
        ) {
            if let (Some(a), Some(b)) = (MavenVersion::parse(&a), MavenVersion::parse(&b)) {
                let canonical = a.canonical();
                let again = v(&canonical);
                prop_assert_eq!(&again, &a, "{}", canonical);
                prop_assert_eq!(again.canonical(), canonical);
                prop_assert_eq!(a.cmp(&b).is_eq(), a == b);
                prop_assert_eq!(a.canonical() == b.canonical(), a == b);
            }
        }
    }
}
