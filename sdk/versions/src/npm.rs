//! npm's versions and ranges, as node's `semver` package (which npm resolves
//! with) reads them under its default options: strict versions, and
//! pre-releases matched only by a comparator that names a pre-release of the
//! same `major.minor.patch`.
//!
//! A port of that package's own regular expressions and rewriting steps
//! (`internal/re.js`, `classes/{semver,range,comparator}.js`), so that odd
//! inputs (partial versions, `x` wildcards, hyphen ranges, `v`/`=` prefixes,
//! numbers past 2^53) mean here what they mean to npm; the differential tests
//! hold it to the package itself.

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Longest version node's `semver` accepts, in UTF-16 units.
const MAX_LENGTH: usize = 256;
/// `Number.MAX_SAFE_INTEGER`: larger version numbers are invalid.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// JavaScript's `\s` (and `String.prototype.trim`'s) characters.
const JS_SPACE: &str = r"[\t\n\x0B\x0C\r \u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}\u{feff}]";

fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\x0B' | '\x0C' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

fn js_trim(text: &str) -> &str {
    text.trim_matches(is_js_space)
}

/// The package's regular expressions, built from the same pieces. As in its
/// `safeRe`, a run of whitespace is at most one character (whitespace has been
/// collapsed before these run); `\d` is ASCII as in JavaScript.
struct Patterns {
    full: Regex,
    build: Regex,
    build_all: Regex,
    hyphen_range: Regex,
    comparator_trim: Regex,
    tilde_trim: Regex,
    caret_trim: Regex,
    tilde: Regex,
    caret: Regex,
    xrange: Regex,
    star: Regex,
    gte0: Regex,
    gte0_pre: Regex,
    comparator: Regex,
    spaces: Regex,
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let numeric = "0|[1-9][0-9]*";
    let numeric_loose = "[0-9]+";
    let non_numeric = "[0-9]*[a-zA-Z-][a-zA-Z0-9-]*";
    let main = format!(r"({numeric})\.({numeric})\.({numeric})");
    let main_loose = format!(r"({numeric_loose})\.({numeric_loose})\.({numeric_loose})");
    let pre_id = format!("(?:{non_numeric}|{numeric})");
    let pre_id_loose = format!("(?:{non_numeric}|{numeric_loose})");
    let pre = format!(r"(?:-({pre_id}(?:\.{pre_id})*))");
    let pre_loose = format!(r"(?:-?({pre_id_loose}(?:\.{pre_id_loose})*))");
    let build = r"(?:\+([a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*))";
    let full_plain = format!("v?{main}{pre}?{build}?");
    let loose_plain = format!("[v=\\s]*{main_loose}{pre_loose}?{build}?");
    let gtlt = "((?:<|>)?=?)";
    let xid = format!(r"{numeric}|x|X|\*");
    let xrange_plain = format!(r"[v=\s]*({xid})(?:\.({xid})(?:\.({xid})(?:{pre})?{build}?)?)?");
    let regex = |pattern: &str| {
        let pattern = pattern
            .replace(r"\s*", r"\s?")
            .replace(r"\s+", r"\s")
            .replace(r"\s", JS_SPACE);
        Regex::new(&pattern).expect("node-semver's patterns compile")
    };
    Patterns {
        full: regex(&format!("^{full_plain}$")),
        build: regex(build),
        build_all: regex(build),
        hyphen_range: regex(&format!(r"^\s*({xrange_plain})\s+-\s+({xrange_plain})\s*$")),
        comparator_trim: regex(&format!(r"(\s*){gtlt}\s*({loose_plain}|{xrange_plain})")),
        tilde_trim: regex(r"(\s*)(?:~>?)\s+"),
        caret_trim: regex(r"(\s*)(?:\^)\s+"),
        tilde: regex(&format!("^(?:~>?){xrange_plain}$")),
        caret: regex(&format!(r"^(?:\^){xrange_plain}$")),
        xrange: regex(&format!(r"^{gtlt}\s*{xrange_plain}$")),
        star: regex(r"(<|>)?=?\s*\*"),
        gte0: regex(r"^\s*>=\s*0\.0\.0\s*$"),
        gte0_pre: regex(r"^\s*>=\s*0\.0\.0-0\s*$"),
        comparator: regex(&format!(r"^{gtlt}\s*({full_plain})$|^$")),
        spaces: Regex::new(&format!("{JS_SPACE}+")).expect("compiles"),
    }
});

/// A pre-release identifier: a number below 2^53 - 1 or text (digits included).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identifier {
    Number(u64),
    Text(String),
}

impl Identifier {
    fn parse(text: &str) -> Identifier {
        match text.parse::<u64>() {
            Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) && n < MAX_SAFE_INTEGER => {
                Identifier::Number(n)
            }
            _ => Identifier::Text(text.to_owned()),
        }
    }

    /// `compareIdentifiers`: numbers below text, text by code units. Unlike
    /// node, all-digit identifiers past 2^53 compare exactly, not as rounded
    /// JavaScript numbers (which would make distinct ones equal and the order
    /// intransitive).
    fn compare(&self, other: &Identifier) -> Ordering {
        let digits = |id: &Identifier| match id {
            Identifier::Number(n) => Some(n.to_string()),
            Identifier::Text(t) if t.bytes().all(|b| b.is_ascii_digit()) => Some(t.clone()),
            Identifier::Text(_) => None,
        };
        match (digits(self), digits(other)) {
            (Some(a), Some(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(&b)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => self.to_string().cmp(&other.to_string()),
        }
    }
}

impl std::fmt::Display for Identifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identifier::Number(n) => write!(f, "{n}"),
            Identifier::Text(t) => f.write_str(t),
        }
    }
}

/// A version as node's `semver` parses it (build metadata dropped: it never
/// takes part in order or matching).
#[derive(Debug, Clone)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<Identifier>,
}

impl Version {
    pub fn parse(text: &str) -> Result<Version, String> {
        if text.encode_utf16().count() > MAX_LENGTH {
            return Err(format!("longer than {MAX_LENGTH} characters"));
        }
        let caps = PATTERNS
            .full
            .captures(js_trim(text))
            .ok_or("not major.minor.patch[-pre][+build]")?;
        let number = |i: usize| {
            caps[i]
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= MAX_SAFE_INTEGER)
                .ok_or_else(|| format!("{} is past 2^53 - 1", &caps[i]))
        };
        Ok(Version {
            major: number(1)?,
            minor: number(2)?,
            patch: number(3)?,
            pre: caps
                .get(4)
                .map(|p| p.as_str().split('.').map(Identifier::parse).collect())
                .unwrap_or_default(),
        })
    }

    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    fn same_release(&self, other: &Version) -> bool {
        (self.major, self.minor, self.patch) == (other.major, other.minor, other.patch)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        for (i, id) in self.pre.iter().enumerate() {
            write!(f, "{}{id}", if i == 0 { '-' } else { '.' })?;
        }
        Ok(())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let main =
            (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch));
        if main != Ordering::Equal {
            return main;
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => return Ordering::Equal,
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            (false, false) => {}
        }
        for (a, b) in self.pre.iter().zip(&other.pre) {
            match a.compare(b) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        self.pre.len().cmp(&other.pre.len())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// One comparator: an operator and a version, or any version (`None`).
#[derive(Debug, Clone)]
struct Comparator {
    operator: String,
    version: Option<Version>,
}

impl Comparator {
    fn parse(text: &str) -> Result<Comparator, String> {
        let patterns = &*PATTERNS;
        let text = patterns.spaces.replace_all(js_trim(text), " ");
        let caps = patterns
            .comparator
            .captures(&text)
            .ok_or_else(|| format!("invalid comparator {text:?}"))?;
        let operator = caps.get(1).map_or("", |m| m.as_str());
        let version = caps
            .get(2)
            .map(|m| Version::parse(m.as_str()))
            .transpose()?;
        Ok(Comparator {
            operator: if operator == "=" { "" } else { operator }.to_owned(),
            version,
        })
    }

    /// `value`: the comparator's canonical text, its identity in a set.
    fn value(&self) -> String {
        match &self.version {
            None => String::new(),
            Some(v) => format!("{}{v}", self.operator),
        }
    }

    fn test(&self, version: &Version) -> bool {
        let Some(bound) = &self.version else {
            return true;
        };
        let order = version.cmp(bound);
        match self.operator.as_str() {
            ">" => order == Ordering::Greater,
            ">=" => order != Ordering::Less,
            "<" => order == Ordering::Less,
            "<=" => order != Ordering::Greater,
            _ => order == Ordering::Equal,
        }
    }
}

/// A range: alternatives (`||`) of comparator sets that must all hold.
#[derive(Debug, Clone)]
pub struct Range {
    sets: Vec<Vec<Comparator>>,
    include_prerelease: bool,
}

const NULL_SET: &str = "<0.0.0-0";

impl Range {
    /// `include_prerelease` is node's option of that name: pre-releases match
    /// wherever their place in the order puts them (as `npm audit` tests
    /// vulnerable ranges), and widened lower bounds start at their `-0`.
    pub fn parse(text: &str, include_prerelease: bool) -> Result<Range, String> {
        let raw = PATTERNS.spaces.replace_all(js_trim(text), " ");
        let mut sets = raw
            .split("||")
            .map(|part| parse_set(js_trim(part), include_prerelease))
            .collect::<Result<Vec<_>, _>>()?;
        if sets.len() > 1 {
            let first = sets[0].clone();
            sets.retain(|set| set[0].value() != NULL_SET);
            if sets.is_empty() {
                sets = vec![first];
            } else if let Some(any) = sets
                .iter()
                .find(|set| set.len() == 1 && set[0].version.is_none())
            {
                sets = vec![any.clone()];
            }
        }
        Ok(Range {
            sets,
            include_prerelease,
        })
    }

    pub fn satisfies(&self, version: &Version) -> bool {
        self.sets
            .iter()
            .any(|set| test_set(set, version, self.include_prerelease))
    }
}

fn test_set(set: &[Comparator], version: &Version, include_prerelease: bool) -> bool {
    if !set.iter().all(|c| c.test(version)) {
        return false;
    }
    // A pre-release passes only where a comparator opts into its release.
    include_prerelease
        || !version.is_prerelease()
        || set.iter().any(|c| {
            c.version
                .as_ref()
                .is_some_and(|bound| bound.is_prerelease() && bound.same_release(version))
        })
}

fn parse_set(range: &str, include_prerelease: bool) -> Result<Vec<Comparator>, String> {
    let patterns = &*PATTERNS;
    let z = if include_prerelease { "-0" } else { "" };
    let gte0 = if include_prerelease {
        &patterns.gte0_pre
    } else {
        &patterns.gte0
    };
    let range = patterns.build_all.replace_all(range, "");
    let range = patterns
        .hyphen_range
        .replace(&range, |c: &Captures| hyphen(c, z));
    let range = patterns.comparator_trim.replace_all(&range, "${1}${2}${3}");
    let range = patterns.tilde_trim.replace_all(&range, "${1}~");
    let range = patterns.caret_trim.replace_all(&range, "${1}^");
    let rewritten: Vec<String> = range.split(' ').map(|c| parse_comparator(c, z)).collect();
    let rewritten = rewritten.join(" ");
    let comparators = patterns
        .spaces
        .split(&rewritten)
        .map(|text| Comparator::parse(&gte0.replace(js_trim(text), "")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut set: Vec<Comparator> = Vec::new();
    for comparator in comparators {
        let value = comparator.value();
        if value == NULL_SET {
            return Ok(vec![comparator]);
        }
        if !set.iter().any(|c| c.value() == value) {
            set.push(comparator);
        }
    }
    if set.len() > 1 {
        set.retain(|c| c.version.is_some());
    }
    Ok(set)
}

/// `parseComparator`: carets, tildes, x-ranges and stars to plain comparators;
/// `z` (`-0` under `includePrerelease`) ends widened lower bounds.
fn parse_comparator(comp: &str, z: &str) -> String {
    let patterns = &*PATTERNS;
    let comp = patterns.build.replace(comp, "");
    let each = |text: &str, one: &dyn Fn(&str) -> String| {
        patterns
            .spaces
            .split(text)
            .map(one)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let comp = each(js_trim(&comp), &|c| {
        patterns
            .caret
            .replace(c, |c: &Captures| caret(c, z))
            .into_owned()
    });
    let comp = each(js_trim(&comp), &|c| {
        patterns
            .tilde
            .replace(c, |c: &Captures| tilde(c, z))
            .into_owned()
    });
    let comp = each(&comp, &|c| xrange(js_trim(c), z));
    patterns.star.replace(js_trim(&comp), "").into_owned()
}

fn group<'c>(caps: &'c Captures, i: usize) -> &'c str {
    caps.get(i).map_or("", |m| m.as_str())
}

/// `isX`: absent, `x`, `X` or `*`.
fn is_x(id: &str) -> bool {
    id.is_empty() || id.eq_ignore_ascii_case("x") || id == "*"
}

/// JavaScript's `+id + 1` on a version number; anything past 2^53 - 1 comes
/// out too large, as there, so that the comparator is rejected.
fn plus_one(id: &str) -> String {
    match id.parse::<u64>() {
        Ok(n) if n < MAX_SAFE_INTEGER => (n + 1).to_string(),
        _ => (MAX_SAFE_INTEGER + 1).to_string(),
    }
}

/// A caret or tilde comparator's major, minor and patch (each possibly an
/// x), and its pre-release with the `-` it needs, or nothing.
fn partial<'c>(caps: &'c Captures) -> (&'c str, &'c str, &'c str, String) {
    let pre = group(caps, 4);
    let pre = if pre.is_empty() {
        String::new()
    } else {
        format!("-{pre}")
    };
    (group(caps, 1), group(caps, 2), group(caps, 3), pre)
}

fn caret(caps: &Captures, z: &str) -> String {
    let (major, minor, patch, pre) = partial(caps);
    if is_x(major) {
        String::new()
    } else if is_x(minor) {
        format!(">={major}.0.0{z} <{}.0.0-0", plus_one(major))
    } else if is_x(patch) {
        if major == "0" {
            format!(">={major}.{minor}.0{z} <{major}.{}.0-0", plus_one(minor))
        } else {
            format!(">={major}.{minor}.0{z} <{}.0.0-0", plus_one(major))
        }
    } else if major == "0" && minor == "0" {
        format!(
            ">={major}.{minor}.{patch}{pre} <{major}.{minor}.{}-0",
            plus_one(patch)
        )
    } else if major == "0" {
        format!(
            ">={major}.{minor}.{patch}{pre} <{major}.{}.0-0",
            plus_one(minor)
        )
    } else {
        format!(">={major}.{minor}.{patch}{pre} <{}.0.0-0", plus_one(major))
    }
}

fn tilde(caps: &Captures, z: &str) -> String {
    let (major, minor, patch, pre) = partial(caps);
    if is_x(major) {
        String::new()
    } else if is_x(minor) {
        format!(">={major}.0.0{z} <{}.0.0-0", plus_one(major))
    } else if is_x(patch) {
        format!(">={major}.{minor}.0{z} <{major}.{}.0-0", plus_one(minor))
    } else {
        format!(
            ">={major}.{minor}.{patch}{pre} <{major}.{}.0-0",
            plus_one(minor)
        )
    }
}

fn xrange(comp: &str, z: &str) -> String {
    let Some(caps) = PATTERNS.xrange.captures(comp) else {
        return comp.to_owned();
    };
    let mut operator = group(&caps, 1);
    let (major, minor, patch) = (group(&caps, 2), group(&caps, 3), group(&caps, 4));
    let patch_given = caps.get(4).is_some_and(|m| !m.as_str().is_empty());
    if (is_x(major) && !is_x(minor)) || (is_x(minor) && patch_given && !is_x(patch)) {
        return comp.to_owned();
    }
    let x_major = is_x(major);
    let x_minor = x_major || is_x(minor);
    let any_x = x_minor || is_x(patch);
    if operator == "=" && any_x {
        operator = "";
    }
    if x_major {
        if operator == ">" || operator == "<" {
            NULL_SET.to_owned()
        } else {
            "*".to_owned()
        }
    } else if !operator.is_empty() && any_x {
        let (mut major, mut minor) = (
            major.to_owned(),
            if x_minor { "0" } else { minor }.to_owned(),
        );
        match operator {
            ">" => {
                operator = ">=";
                if x_minor {
                    major = plus_one(&major);
                    minor = "0".to_owned();
                } else {
                    minor = plus_one(&minor);
                }
            }
            "<=" => {
                operator = "<";
                if x_minor {
                    major = plus_one(&major);
                } else {
                    minor = plus_one(&minor);
                }
            }
            _ => {}
        }
        let pre = if operator == "<" { "-0" } else { z };
        format!("{operator}{major}.{minor}.0{pre}")
    } else if x_minor {
        format!(">={major}.0.0{z} <{}.0.0-0", plus_one(major))
    } else if any_x {
        format!(">={major}.{minor}.0{z} <{major}.{}.0-0", plus_one(minor))
    } else {
        comp.to_owned()
    }
}

/// `hyphenReplace`: `A - B` to `>=A <=B`, partial ends widened.
fn hyphen(caps: &Captures, z: &str) -> String {
    let from = match (
        group(caps, 2),
        group(caps, 3),
        group(caps, 4),
        group(caps, 5),
    ) {
        (major, _, _, _) if is_x(major) => String::new(),
        (major, minor, _, _) if is_x(minor) => format!(">={major}.0.0{z}"),
        (major, minor, patch, _) if is_x(patch) => format!(">={major}.{minor}.0{z}"),
        (_, _, _, pre) if !pre.is_empty() => format!(">={}", group(caps, 1)),
        _ => format!(">={}{z}", group(caps, 1)),
    };
    let to = match (
        group(caps, 8),
        group(caps, 9),
        group(caps, 10),
        group(caps, 11),
    ) {
        (major, _, _, _) if is_x(major) => String::new(),
        (major, minor, _, _) if is_x(minor) => format!("<{}.0.0-0", plus_one(major)),
        (major, minor, patch, _) if is_x(patch) => {
            format!("<{major}.{}.0-0", plus_one(minor))
        }
        (major, minor, patch, pre) if !pre.is_empty() => format!("<={major}.{minor}.{patch}-{pre}"),
        (major, minor, patch, _) if !z.is_empty() => {
            format!("<{major}.{minor}.{}-0", plus_one(patch))
        }
        _ => format!("<={}", group(caps, 7)),
    };
    js_trim(&format!("{from} {to}")).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn satisfies(version: &str, range: &str) -> bool {
        Range::parse(range, false)
            .unwrap()
            .satisfies(&Version::parse(version).unwrap())
    }

    // Each case below is one the differential test found the previous
    // library (the `nodejs-semver` crate) answering differently from npm.

    #[test]
    fn versions_are_strict_as_in_npm() {
        for valid in [
            "1.2.3",
            " v1.2.3 ",
            "1.2.3-rc.1+build.5",
            "9007199254740991.0.0",
        ] {
            assert!(Version::parse(valid).is_ok(), "{valid}");
        }
        for invalid in [
            "1.2.3.4",
            "1.0.0.Final",
            "1.2",
            "=1.2.3",
            "01.2.3",
            "1.2.3-01",
            "9007199254740992.0.0",
        ] {
            assert!(Version::parse(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn prereleases_match_only_a_range_naming_their_release() {
        assert!(!satisfies("2.0.0-beta.1", ">=1.0.0"));
        assert!(satisfies("1.2.3-rc.2", ">=1.2.3-rc.1 <2"));
        assert!(!satisfies("1.2.4-rc.2", ">=1.2.3-rc.1 <2"));
    }

    #[test]
    fn ranges_rewrite_as_npm_does() {
        assert!(satisfies("3.0.2", " || 0.x - 3.0.2"));
        assert!(satisfies("3.5.0", "1.2 - 3"));
        assert!(!satisfies("4.0.0", "1.2 - 3"));
        assert!(satisfies("1.9.0", ">= 1.2.*"));
        assert!(satisfies("0.2.5", "^0.2"));
        assert!(!satisfies("0.3.0", "^0.2"));
        assert!(satisfies("1.2.3", "=1.2.3+build"));
        assert!(Range::parse("^01.2.3", false).is_err());
        assert!(Range::parse(">=9007199254740992.0.0", false).is_err());
        assert!(Range::parse("^9007199254740991.1.0", false).is_err());
    }

    #[test]
    fn including_prereleases_matches_them_by_order_alone() {
        let including = |version: &str, range: &str| {
            Range::parse(range, true)
                .unwrap()
                .satisfies(&Version::parse(version).unwrap())
        };
        assert!(including("2.0.0-beta.1", ">=1.0.0"));
        assert!(including("1.5.0-rc.1", ">=1.0.0 <2.0.0"));
        assert!(!including("2.0.0-rc.1", "^1.2.3"));
        assert!(including("1.0.0-alpha", "1.x"));
        assert!(!satisfies("1.0.0-alpha", "1.x"));
        assert!(!including("1.2.4-0", "1.0.0 - 1.2.3"));
    }

    #[test]
    fn huge_numeric_identifiers_order_exactly() {
        let a = Version::parse("1.0.0-18446744073709551615").unwrap();
        let b = Version::parse("1.0.0-18446744073709551616").unwrap();
        assert_eq!(a.cmp(&b), Ordering::Less);
    }
}
