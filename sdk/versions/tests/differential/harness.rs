//! What every ecosystem's differential test shares: a seeded generator, the
//! version strings of the repository's fixtures, one batch run of the
//! reference implementation, and the comparison with its allow-list.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// Distinct generated versions per ecosystem, on top of the fixtures' own.
pub const GENERATED_VERSIONS: usize = 100_000;
/// Generated ranges per ecosystem.
pub const GENERATED_RANGES: usize = 600;
/// Versions each range is matched against.
pub const VERSIONS_PER_RANGE: usize = 500;
/// Randomly drawn version pairs whose order is compared (on top of every
/// neighbour in the reference's sorted order).
pub const ORDER_PAIRS: usize = 100_000;
/// Disagreements printed per kind when a test fails.
const SHOWN: usize = 25;

/// SplitMix64: small, seeded, and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A version number: mostly small (so that versions and range bounds
    /// meet), sometimes with leading zeros, sometimes past every integer type.
    pub fn number(&mut self) -> String {
        match self.below(100) {
            0..=69 => self.below(4).to_string(),
            70..=86 => self.below(25).to_string(),
            87..=90 => format!("0{}", self.below(10)),
            91..=94 => self.next().to_string(),
            95..=96 => pick_str(
                self,
                &[
                    "9007199254740991",
                    "9007199254740992",
                    "18446744073709551615",
                    "18446744073709551616",
                    "99999999999999999999999",
                ],
            ),
            _ => (self.next() % 100_000).to_string(),
        }
    }
}

fn pick_str(rng: &mut Rng, items: &[&str]) -> String {
    (*rng.pick(items)).to_owned()
}

/// Every version-looking token in the repository's tests, fixtures and
/// components: each ecosystem's reference decides which are versions.
pub fn fixture_versions() -> Vec<String> {
    let root = workspace_root();
    let mut found = Vec::new();
    for dir in ["tests", "policies", "adapters", "host", "sdk"] {
        collect_tokens(&root.join(dir), &mut found);
    }
    found.sort();
    found.dedup();
    found
}

fn collect_tokens(dir: &Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | "node_modules" | ".git") {
                collect_tokens(&path, found);
            }
        } else if [".rs", ".json", ".txt", ".lock", ".toml", ".xml"]
            .iter()
            .any(|ext| name.ends_with(ext))
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            let version_char = |c: char| c.is_ascii_alphanumeric() || ".-+_!*~".contains(c);
            found.extend(
                text.split(|c: char| !version_char(c))
                    .filter(|t| {
                        let digits = t.strip_prefix('v').unwrap_or(t);
                        t.len() <= 40
                            && t.contains('.')
                            && digits.starts_with(|c: char| c.is_ascii_digit())
                    })
                    .map(str::to_owned),
            );
        }
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where `.ci/run` installs reference tools that are not system packages.
pub fn reference_dir() -> PathBuf {
    workspace_root().join("target/differential")
}

/// Every published version of a few hundred popular packages of `corpus`
/// (`corpus/<corpus>.versions`, written by `corpus/fetch.py`); none where
/// the registry could not be reached when the corpus was fetched.
pub fn real_versions(corpus: &str) -> Vec<String> {
    let path = workspace_root()
        .join("sdk/versions/tests/differential/corpus")
        .join(format!("{corpus}.versions"));
    match std::fs::read_to_string(&path) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(_) => {
            eprintln!("no real {corpus} versions ({} missing)", path.display());
            Vec::new()
        }
    }
}

/// The fixtures' versions and the real ones of `corpus`, then `generate`d
/// ones until there are [`GENERATED_VERSIONS`] more distinct strings.
pub fn versions(
    seed: u64,
    corpus: &str,
    mut generate: impl FnMut(&mut Rng) -> String,
) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut out = fixture_versions();
    out.extend(real_versions(corpus));
    out.sort();
    out.dedup();
    let mut seen: HashSet<String> = out.iter().cloned().collect();
    let target = out.len() + GENERATED_VERSIONS;
    while out.len() < target {
        let v = generate(&mut rng);
        if seen.insert(v.clone()) {
            out.push(v);
        }
    }
    out
}

/// True when `text` holds a number of 2^64 - 1 or more: past what gatehouse's
/// version libraries keep (allow-lists name it).
pub fn past_u64(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .map(|run| run.trim_start_matches('0'))
        .any(|run| run.len() > 20 || (run.len() == 20 && run >= "18446744073709551615"))
}

/// What a reference implementation is asked, in one batch.
pub struct Batch {
    pub versions: Vec<String>,
    pub ranges: Vec<String>,
    /// (version, range) index pairs to match.
    pub pairs: Vec<(usize, usize)>,
}

impl Batch {
    /// `versions`, `ranges` from `range`, and each range paired with
    /// [`VERSIONS_PER_RANGE`] versions drawn from the generated ones.
    pub fn new(
        seed: u64,
        versions: Vec<String>,
        mut range: impl FnMut(&mut Rng) -> String,
    ) -> Batch {
        let mut rng = Rng::new(seed ^ 0x5eed);
        let mut ranges: Vec<String> = (0..GENERATED_RANGES).map(|_| range(&mut rng)).collect();
        ranges.sort();
        ranges.dedup();
        let pairs = (0..ranges.len())
            .flat_map(|r| (0..VERSIONS_PER_RANGE).map(move |_| r))
            .map(|r| (rng.below(versions.len()), r))
            .collect();
        Batch {
            versions,
            ranges,
            pairs,
        }
    }
}

/// The reference's answers: `valid[i]` for each version, `rank[i]` its place
/// among the valid ones (equal versions share a rank), `range_valid[j]` for
/// each range, and `satisfies[k]` for each pair (null when either side is
/// invalid); `satisfies_including_prereleases` likewise where the ecosystem
/// has such a mode (else empty).
pub struct Answers {
    pub valid: Vec<bool>,
    pub rank: Vec<Option<u64>>,
    pub range_valid: Vec<bool>,
    pub satisfies: Vec<Option<bool>>,
    pub satisfies_including_prereleases: Vec<Option<bool>>,
}

/// Runs `command` once with `body` in a JSON file named by its last argument,
/// and reads the JSON it prints. `None` (the test is skipped) when the tool is
/// missing and CI is not set.
pub fn run_json(tool: &str, mut command: Command, body: &Value) -> Option<Value> {
    let input = tempfile::NamedTempFile::new().expect("temporary file");
    std::fs::write(input.path(), body.to_string()).expect("write the batch");
    let output = match command.arg(input.path()).output() {
        Ok(output) if output.status.success() => output,
        outcome => {
            let why = match outcome {
                Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "{tool} is needed under CI (.ci/run installs it): {why}"
            );
            eprintln!("skipped: {tool} is not available: {why}");
            return None;
        }
    };
    Some(serde_json::from_slice(&output.stdout).expect("the reference prints JSON"))
}

/// Asks the reference about `batch` (see [`run_json`]).
pub fn run_reference(tool: &str, command: Command, batch: &Batch) -> Option<Answers> {
    let body = json!({
        "versions": batch.versions,
        "ranges": batch.ranges,
        "pairs": batch.pairs,
    });
    let answer = run_json(tool, command, &body)?;
    let list = |key: &str| answer[key].as_array().cloned().unwrap_or_default();
    let answers = Answers {
        valid: list("valid")
            .iter()
            .map(|v| v.as_bool() == Some(true))
            .collect(),
        rank: list("rank").iter().map(Value::as_u64).collect(),
        range_valid: list("range_valid")
            .iter()
            .map(|v| v.as_bool() == Some(true))
            .collect(),
        satisfies: list("satisfies").iter().map(Value::as_bool).collect(),
        satisfies_including_prereleases: list("satisfies_including_prereleases")
            .iter()
            .map(Value::as_bool)
            .collect(),
    };
    assert_eq!(answers.valid.len(), batch.versions.len(), "{tool}: valid[]");
    assert_eq!(answers.rank.len(), batch.versions.len(), "{tool}: rank[]");
    assert_eq!(
        answers.range_valid.len(),
        batch.ranges.len(),
        "{tool}: range_valid[]"
    );
    assert_eq!(
        answers.satisfies.len(),
        batch.pairs.len(),
        "{tool}: satisfies[]"
    );
    assert!(
        answers.satisfies_including_prereleases.is_empty()
            || answers.satisfies_including_prereleases.len() == batch.pairs.len(),
        "{tool}: satisfies_including_prereleases[]"
    );
    Some(answers)
}

/// The order of two versions under test; `None` when either is not a version.
pub type OrderFn<'a> = Box<dyn Fn(&str, &str) -> Option<Ordering> + 'a>;

/// `gatehouse_versions::satisfies` and its variants.
type MatchFn = fn(&str, &str, &str) -> Result<bool, gatehouse_versions::VersionError>;

/// What differs between gatehouse and the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The version parses in one and not the other.
    Validity,
    /// Two versions valid in both are ordered differently.
    Order,
    /// The range parses in one and not the other.
    RangeValidity,
    /// A version and range valid in both match in one and not the other.
    Satisfies,
    /// The same, pre-releases matching wherever the order puts them.
    SatisfiesIncludingPrereleases,
}

/// One disagreement, described by what was asked.
#[derive(Debug)]
pub struct Disagreement<'a> {
    pub kind: Kind,
    pub version: &'a str,
    /// The other version (order) or the range (range validity, satisfies).
    pub other: &'a str,
    pub gatehouse: String,
    pub reference: String,
}

/// gatehouse's side of the comparison, for one ecosystem.
pub struct Gatehouse<'a> {
    pub ecosystem: &'a str,
    /// The order of two versions; `None` when either is not a version.
    pub compare: OrderFn<'a>,
    /// Why a disagreement is intended, or `None` when it is a bug.
    pub allowed: &'a dyn Fn(&Disagreement) -> Option<&'static str>,
}

impl<'a> Gatehouse<'a> {
    /// `gatehouse_versions` for `ecosystem`.
    pub fn versions(
        ecosystem: &'a str,
        allowed: &'a dyn Fn(&Disagreement) -> Option<&'static str>,
    ) -> Gatehouse<'a> {
        Gatehouse {
            ecosystem,
            compare: Box::new(move |a, b| gatehouse_versions::compare(ecosystem, a, b).ok()),
            allowed,
        }
    }
}

/// Compares gatehouse with the reference's answers and fails on any
/// disagreement the allow-list does not explain.
pub fn compare(gatehouse: &Gatehouse, batch: &Batch, answers: &Answers) {
    let ecosystem = gatehouse.ecosystem;
    let mut found = Vec::new();
    let ours: Vec<bool> = batch
        .versions
        .iter()
        .map(|v| (gatehouse.compare)(v, v).is_some())
        .collect();
    for (i, version) in batch.versions.iter().enumerate() {
        if ours[i] != answers.valid[i] {
            found.push(Disagreement {
                kind: Kind::Validity,
                version,
                other: "",
                gatehouse: ours[i].to_string(),
                reference: answers.valid[i].to_string(),
            });
        }
    }

    // Order: every neighbour in the reference's order, and random pairs.
    let mut both: Vec<usize> = (0..batch.versions.len())
        .filter(|&i| ours[i] && answers.rank[i].is_some())
        .collect();
    both.sort_by_key(|&i| answers.rank[i]);
    let mut rng = Rng::new(both.len() as u64);
    let random =
        (0..ORDER_PAIRS.min(both.len() * both.len())).map(|_| (*rng.pick(&both), *rng.pick(&both)));
    for (a, b) in both.windows(2).map(|w| (w[0], w[1])).chain(random) {
        let expected = answers.rank[a].cmp(&answers.rank[b]);
        let (va, vb) = (&batch.versions[a], &batch.versions[b]);
        let actual = (gatehouse.compare)(va, vb);
        if actual != Some(expected) {
            found.push(Disagreement {
                kind: Kind::Order,
                version: va,
                other: vb,
                gatehouse: format!("{actual:?}"),
                reference: format!("{expected:?}"),
            });
        }
    }

    let probe = batch
        .versions
        .iter()
        .zip(&ours)
        .find(|(_, ok)| **ok)
        .map(|(v, _)| v);
    let probe = probe.expect("some version is valid");
    let range_ours: Vec<bool> = batch
        .ranges
        .iter()
        .map(|r| {
            !matches!(
                gatehouse_versions::satisfies(ecosystem, probe, r),
                Err(gatehouse_versions::VersionError::Range { .. })
            )
        })
        .collect();
    for (j, range) in batch.ranges.iter().enumerate() {
        if range_ours[j] != answers.range_valid[j] {
            found.push(Disagreement {
                kind: Kind::RangeValidity,
                version: "",
                other: range,
                gatehouse: range_ours[j].to_string(),
                reference: answers.range_valid[j].to_string(),
            });
        }
    }
    let (mut matched, mut inside) = (0, 0);
    let modes: [(Kind, &[Option<bool>], MatchFn); 2] = [
        (
            Kind::Satisfies,
            &answers.satisfies,
            gatehouse_versions::satisfies,
        ),
        (
            Kind::SatisfiesIncludingPrereleases,
            &answers.satisfies_including_prereleases,
            gatehouse_versions::satisfies_including_prereleases,
        ),
    ];
    for (kind, expectations, ours_fn) in modes {
        for (&(i, j), expected) in batch.pairs.iter().zip(expectations) {
            let Some(expected) = *expected else {
                continue;
            };
            if !ours[i] || !range_ours[j] {
                continue;
            }
            if kind == Kind::Satisfies {
                matched += 1;
                inside += usize::from(expected);
            }
            let (version, range) = (&batch.versions[i], &batch.ranges[j]);
            let actual = ours_fn(ecosystem, version, range);
            if actual != Ok(expected) {
                found.push(Disagreement {
                    kind,
                    version,
                    other: range,
                    gatehouse: format!("{actual:?}"),
                    reference: expected.to_string(),
                });
            }
        }
    }

    let mut allowed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unexplained: BTreeMap<Kind, Vec<&Disagreement>> = BTreeMap::new();
    for d in &found {
        match (gatehouse.allowed)(d) {
            Some(reason) => *allowed.entry(reason).or_default() += 1,
            None => unexplained.entry(d.kind).or_default().push(d),
        }
    }
    eprintln!(
        "{ecosystem}: {} versions ({} valid in both), {} ranges, {} version-range pairs valid in both ({} inside)",
        batch.versions.len(),
        both.len(),
        batch.ranges.len(),
        matched,
        inside
    );
    for (reason, count) in &allowed {
        eprintln!("  allowed ({count}): {reason}");
    }
    for (kind, list) in &unexplained {
        eprintln!("  {kind:?}: {} unexplained disagreements, e.g.", list.len());
        for d in list.iter().take(SHOWN) {
            eprintln!(
                "    {:?} {:?}: gatehouse {}, reference {}",
                d.version, d.other, d.gatehouse, d.reference
            );
        }
    }
    assert!(
        unexplained.is_empty(),
        "{ecosystem}: gatehouse disagrees with the reference (listed above)"
    );
    assert!(
        both.len() >= GENERATED_VERSIONS / 3
            && (batch.pairs.is_empty() || (matched >= 20_000 && inside >= matched / 20)),
        "{ecosystem}: too few valid versions or pairs to compare"
    );
}
