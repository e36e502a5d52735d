//! Maven version ordering, as the Maven POM reference's "Version Order
//! Specification" describes it (the order `ComparableVersion` implements).
//!
//! A version is split into tokens at `.`, `-` and at every switch between digits
//! and other characters (a switch counts as `-`); each token remembers the
//! separator before it. Empty tokens become `0`. Trailing "null" tokens (`0`,
//! `""`, `final`, `ga`, `release`) are trimmed at the end of every `-` group.
//! Tokens are then compared pairwise, the shorter version padded with nulls:
//! numbers numerically, qualifiers as `alpha < beta < milestone < rc = cr <
//! snapshot < "" = final = ga = release < sp < (anything else, alphabetically)`,
//! and across separators `.qualifier < -qualifier < -number < .number`.
//!
//! No crate was used: the one published implementation we found (`mvn_version`
//! 0.1) is unmaintained, uses `unsafe` and predates the current specification.

use std::cmp::Ordering;
use std::fmt;

/// A parsed Maven version; `Ord` is Maven's order (`1.0 == 1.0.0 == 1-ga`).
#[derive(Clone, PartialEq, Eq)]
pub struct MavenVersion {
    tokens: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Token {
    /// The separator before the token: `.` (true) or `-` (false).
    dot: bool,
    item: Item,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    /// Decimal digits without leading zeros (`"0"` for zero), any length.
    Number(String),
    /// A lower-case qualifier, aliases resolved (`cr` → `rc`, `ga` → ``).
    Qualifier(String),
}

impl Item {
    fn is_null(&self) -> bool {
        match self {
            Item::Number(n) => n == "0",
            Item::Qualifier(q) => q.is_empty(),
        }
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
    pub fn canonical(&self) -> String {
        if self.tokens.is_empty() {
            return "0".to_owned();
        }
        let mut out = String::new();
        for (i, t) in self.tokens.iter().enumerate() {
            // A leading `-` list (`-alpha9`) keeps its `-`: `alpha-9` differs.
            if i > 0 || !t.dot {
                out.push(if t.dot { '.' } else { '-' });
            }
            match &t.item {
                Item::Number(n) => out.push_str(n),
                // `ga`: an empty token would read back as the number 0.
                Item::Qualifier(q) if q.is_empty() => out.push_str("ga"),
                Item::Qualifier(q) => out.push_str(q),
            }
        }
        out
    }

    /// Parses any string: Maven gives every string an order. Returns `None` only
    /// for an empty (or blank) string, which no release carries.
    pub fn parse(text: &str) -> Option<MavenVersion> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let lower = text.to_lowercase();
        let mut tokens = Vec::new();
        let mut buf = String::new();
        let mut buf_digits = false;
        let mut dot = true;
        for c in lower.chars() {
            match c {
                '.' | '-' => {
                    tokens.push(make_token(dot, &buf, buf_digits, false));
                    buf.clear();
                    dot = c == '.';
                }
                _ => {
                    let digit = c.is_ascii_digit();
                    if !buf.is_empty() && digit != buf_digits {
                        tokens.push(make_token(dot, &buf, buf_digits, digit));
                        buf.clear();
                        dot = false;
                    }
                    buf.push(c);
                    buf_digits = digit;
                }
            }
        }
        tokens.push(make_token(dot, &buf, buf_digits, false));
        Some(MavenVersion {
            tokens: trim_nulls(tokens),
        })
    }
}

fn make_token(dot: bool, text: &str, digits: bool, followed_by_digit: bool) -> Token {
    let item = if text.is_empty() {
        Item::Number("0".to_owned())
    } else if digits {
        let trimmed = text.trim_start_matches('0');
        Item::Number(if trimmed.is_empty() { "0" } else { trimmed }.to_owned())
    } else {
        let q = match text {
            "a" if followed_by_digit => "alpha",
            "b" if followed_by_digit => "beta",
            "m" if followed_by_digit => "milestone",
            "cr" => "rc",
            "ga" | "final" | "release" => "",
            other => other,
        };
        Item::Qualifier(q.to_owned())
    };
    Token { dot, item }
}

/// Drops trailing nulls at the end of every `-` group, from the end to the start;
/// a group left empty disappears with its `-`.
fn trim_nulls(tokens: Vec<Token>) -> Vec<Token> {
    let mut groups: Vec<Vec<Token>> = Vec::new();
    for token in tokens {
        match groups.last_mut() {
            Some(group) if token.dot => group.push(token),
            _ => groups.push(vec![token]),
        }
    }
    let mut out = Vec::new();
    for mut group in groups {
        while group.last().is_some_and(|t| t.item.is_null()) {
            group.pop();
        }
        out.extend(group);
    }
    out
}

fn qualifier_rank(q: &str) -> u8 {
    match q {
        "alpha" => 0,
        "beta" => 1,
        "milestone" => 2,
        "rc" => 3,
        "snapshot" => 4,
        "" => 5,
        "sp" => 6,
        _ => 7,
    }
}

fn cmp_qualifiers(a: &str, b: &str) -> Ordering {
    match (qualifier_rank(a), qualifier_rank(b)) {
        (7, 7) => a.cmp(b),
        (x, y) => x.cmp(&y),
    }
}

fn cmp_numbers(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `.qualifier < -qualifier < -number < .number`
fn separator_rank(t: &Token) -> u8 {
    match (&t.item, t.dot) {
        (Item::Qualifier(_), true) => 0,
        (Item::Qualifier(_), false) => 1,
        (Item::Number(_), false) => 2,
        (Item::Number(_), true) => 3,
    }
}

fn cmp_tokens(a: &Token, b: &Token) -> Ordering {
    if a.dot != b.dot {
        return separator_rank(a).cmp(&separator_rank(b));
    }
    match (&a.item, &b.item) {
        (Item::Number(x), Item::Number(y)) => cmp_numbers(x, y),
        (Item::Qualifier(x), Item::Qualifier(y)) => cmp_qualifiers(x, y),
        (Item::Number(_), Item::Qualifier(_)) => Ordering::Greater,
        (Item::Qualifier(_), Item::Number(_)) => Ordering::Less,
    }
}

/// A token against the padding null of the other, shorter version.
fn cmp_with_null(a: &Token) -> Ordering {
    match &a.item {
        Item::Number(n) if n == "0" => Ordering::Equal,
        Item::Number(_) => Ordering::Greater,
        Item::Qualifier(q) => cmp_qualifiers(q, ""),
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.tokens.len().max(other.tokens.len());
        for i in 0..n {
            let o = match (self.tokens.get(i), other.tokens.get(i)) {
                (Some(a), Some(b)) => cmp_tokens(a, b),
                (Some(a), None) => cmp_with_null(a),
                (None, Some(b)) => cmp_with_null(b).reverse(),
                (None, None) => Ordering::Equal,
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for MavenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MavenVersion {
        MavenVersion::parse(s).expect("non-empty")
    }

    /// Found by the `versions_maven` fuzz target: these spelled canonically
    /// as `` (not a version), `0.2-alpha..alpha` (the empty token reads as 0)
    /// and `alpha-9` (a different version).
    #[test]
    fn canonical_spellings_parse_back_equal() {
        for (text, canonical) in [
            ("0.0", "0"),
            ("0.2-alpha.ga.alpha", "0.2-alpha.ga.alpha"),
            ("-alpha9.", "-alpha-9"),
        ] {
            assert_eq!(v(text).canonical(), canonical);
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

    #[test]
    fn specification_examples() {
        assert_chain(&["1", "1.1"]);
        assert_chain(&["1-snapshot", "1", "1-sp"]);
        assert_chain(&["1-foo2", "1-foo10"]);
        assert_chain(&["1.foo", "1-foo", "1-1", "1.1"]);
        for same in [
            "1.ga", "1-ga", "1-0", "1.0", "1", "1.0.0", "1.final", "1.", "1-",
        ] {
            assert_eq!(v(same), v("1"), "{same} == 1");
        }
        assert!(v("1-sp") > v("1-ga"));
        assert!(v("1-sp.1") > v("1-ga.1"));
        assert!(v("1-sp-1") < v("1-ga-1"));
        assert_eq!(v("1-ga-1"), v("1-1"));
        assert_eq!(v("1-a1"), v("1-alpha-1"));
        assert_eq!(v("1.0.0-foo.0.0"), v("1-foo"));
        assert_eq!(v("1.0.0-0.0.0"), v("1"));
        assert_eq!(v("1-1.foo-bar1baz-.1"), v("1-1.foo-bar-1-baz-0.1"));
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
        assert_eq!(v("1-cr-1"), v("1-rc-1"));
        assert_eq!(v("1.0.RELEASE"), v("1.0"));
        assert_eq!(v("1.0-Final"), v("1.0.FINAL"));
        assert_eq!(v("1.0.0-SNAPSHOT"), v("1-snapshot"));
        assert_eq!(v("1.0-RC1").canonical(), "1-rc-1");
        assert_eq!(v("1.0.0.Final").canonical(), "1");
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
        for odd in ["-", ".", "..--..", "é-1", "v", "1..2", "--1", "0-1"] {
            let a = v(odd);
            let _ = a.cmp(&v("1"));
        }
        assert!(v("0-1") < v("1"));
    }
}
