//! A packument: parsed lazily from upstream's full document, turned into facts
//! for the gate, and rendered back, filtered, in the form the client asked for.
//!
//! Upstream is always asked for the full document: facts need `time` and
//! `scripts`, which the abbreviated one lacks. The abbreviated form is derived
//! here with the field set of npm's own registry (`minify-registry-metadata`),
//! plus the top-level `time` map, which pnpm's `minimumReleaseAge` and npm's
//! `--before` need.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use gatehouse_adapter_sdk::{
    Action, Decision, FactFields, FactReads, VersionFacts, decision_message,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::facts::{install_scripts, unix_seconds, version_facts};
use crate::json::{Fields, Key, MembersVisitor, ObjectWriter, dedup_last_wins, is_empty};
use crate::route::PackageName;
use crate::settings::BlockedVersions;
use crate::tags;

/// The abbreviated document's media type.
pub const ABBREVIATED_TYPE: &str = "application/vnd.npm.install-v1+json";

/// Version fields the abbreviated form keeps (`hasInstallScript` is derived,
/// `dist` rewritten, `bundledDependencies` renamed `bundleDependencies`).
const ABBREVIATED_FIELDS: [&str; 18] = [
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "_hasShrinkwrap",
    "directories",
    "engines",
    "deprecated",
    "funding",
    "os",
    "cpu",
    "libc",
];

/// How many blocked versions `policyRestrictions.message` lists by name.
const RESTRICTIONS_LISTED: usize = 20;

/// Characters a version keeps unescaped in a tarball URL.
const URL_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'+');

/// Which packument document a client wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Full,
    Abbreviated,
}

impl Form {
    /// The abbreviated form when `accept` lists its media type with a nonzero q.
    pub fn from_accept(accept: Option<&str>) -> Self {
        let wants_abbreviated = accept.is_some_and(|accept| {
            accept.split(',').any(|range| {
                let mut parts = range.split(';').map(str::trim);
                parts
                    .next()
                    .is_some_and(|media| media.eq_ignore_ascii_case(ABBREVIATED_TYPE))
                    && parts.all(|param| {
                        param
                            .strip_prefix("q=")
                            .is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0))
                    })
            })
        });
        if wants_abbreviated {
            Form::Abbreviated
        } else {
            Form::Full
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Form::Full => "application/json",
            Form::Abbreviated => ABBREVIATED_TYPE,
        }
    }
}

/// How to render a packument for one client.
#[derive(Debug, Clone, Copy)]
pub struct Rendering<'r> {
    pub name: &'r PackageName,
    /// Where clients reach this adapter (no trailing slash).
    pub public_base: &'r str,
    pub form: Form,
    pub blocked_versions: BlockedVersions,
}

/// One entry of `versions`.
#[derive(Debug)]
pub struct Version<'a> {
    /// The key in `versions`: what clients select and lockfiles record.
    pub number: Cow<'a, str>,
    manifest: Fields<'a>,
}

impl Version<'_> {
    /// The tarball URL upstream declares, when it is an absolute http(s) URL.
    pub fn upstream_tarball(&self) -> Option<String> {
        let dist = self.manifest.get("dist").and_then(Fields::parse)?;
        let url = dist.string("tarball")?;
        (url.starts_with("https://") || url.starts_with("http://")).then(|| url.into_owned())
    }
}

/// A packument borrowed from upstream's body.
#[derive(Debug)]
pub struct Packument<'a> {
    fields: Fields<'a>,
    versions: Vec<Version<'a>>,
    time: Fields<'a>,
    dist_tags: Vec<(String, String)>,
    body: &'a [u8],
}

impl<'a> Packument<'a> {
    /// Parses upstream's full document, in one pass (see [`TopLevel`]).
    pub fn parse(body: &'a [u8]) -> Result<Self, String> {
        let top = serde_json::from_slice::<TopLevel<'a>>(body)
            .map_err(|e| format!("the upstream packument is not a JSON object: {e}"))?;
        let fields = Fields(top.fields).dedup_last_wins();
        let member = |key: &str| {
            fields
                .get(key)
                .and_then(Fields::parse)
                .unwrap_or_default()
                .dedup_last_wins()
        };
        let versions = top
            .versions
            .into_iter()
            .map(|(number, manifest)| Version { number, manifest })
            .collect();
        let dist_tags = member("dist-tags")
            .0
            .into_iter()
            .filter_map(|(tag, raw)| {
                Some((tag.into_owned(), serde_json::from_str(raw.get()).ok()?))
            })
            .collect();
        Ok(Packument {
            versions,
            time: member("time"),
            dist_tags,
            body,
            fields,
        })
    }

    pub fn versions(&self) -> &[Version<'a>] {
        &self.versions
    }

    /// The entry of `versions` named `number`.
    pub fn version(&self, number: &str) -> Option<&Version<'a>> {
        self.versions.iter().find(|v| v.number == number)
    }

    /// When `number` was published, from `time`.
    pub fn published(&self, number: &str) -> Option<i64> {
        self.time.get(number).and_then(publish_time)
    }

    /// Facts for every version, in [`Packument::versions`] order, with the
    /// costly fields only that policies `reads`.
    pub fn facts(&self, name: &PackageName, reads: &FactReads) -> Vec<VersionFacts> {
        let times: HashMap<&str, &RawValue> = self
            .time
            .0
            .iter()
            .map(|(version, raw)| (version.as_ref(), *raw))
            .collect();
        let raws = self.raw_versions(reads);
        self.versions
            .iter()
            .map(|version| {
                let published = times
                    .get(version.number.as_ref())
                    .and_then(|raw| publish_time(raw));
                self.facts_with(version, name, published, &raws, reads)
            })
            .collect()
    }

    /// The facts of one version (see [`Packument::facts`]).
    pub fn version_facts(
        &self,
        version: &Version<'a>,
        name: &PackageName,
        reads: &FactReads,
    ) -> VersionFacts {
        let published = self.published(&version.number);
        self.facts_with(version, name, published, &self.raw_versions(reads), reads)
    }

    fn facts_with(
        &self,
        version: &Version<'a>,
        name: &PackageName,
        published: Option<i64>,
        raws: &HashMap<Cow<'a, str>, &'a RawValue>,
        reads: &FactReads,
    ) -> VersionFacts {
        let raw = raws.get(&version.number).copied();
        version_facts(
            name.as_str(),
            &version.number,
            &version.manifest,
            raw,
            published,
            reads,
        )
    }

    /// Each version's JSON text, when a policy reads all of `raw` (empty
    /// otherwise): the one-pass parse splits versions without keeping it, so
    /// it is found by a second pass that only such a policy pays for.
    fn raw_versions(&self, reads: &FactReads) -> HashMap<Cow<'a, str>, &'a RawValue> {
        if !reads.fields.contains(FactFields::RAW) || reads.raw_keys.is_some() {
            return HashMap::new();
        }
        serde_json::from_slice::<Fields<'a>>(self.body)
            .ok()
            .map(Fields::dedup_last_wins)
            .and_then(|top| top.get("versions"))
            .and_then(Fields::parse)
            .map(|versions| versions.dedup_last_wins().0.into_iter().collect())
            .unwrap_or_default()
    }

    /// The document for a client: `blocks` holds, per version in
    /// [`Packument::versions`] order, the reason it is blocked.
    pub fn render(&self, how: &Rendering<'_>, blocks: &[Option<String>]) -> Vec<u8> {
        let filter = Filter::new(self, how, blocks);
        let capacity = match how.form {
            Form::Full => self.body.len() + self.body.len() / 8,
            Form::Abbreviated => self.body.len() / 2,
        };
        let mut out = Vec::with_capacity(capacity);
        let mut doc = ObjectWriter::new(&mut out);
        match how.form {
            Form::Full => {
                for (key, raw) in &self.fields.0 {
                    filter.member(&mut doc, key, raw);
                }
            }
            Form::Abbreviated => {
                for key in [
                    "name",
                    "dist-tags",
                    "versions",
                    "time",
                    "policyRestrictions",
                ] {
                    if let Some(raw) = self.fields.get(key) {
                        filter.member(&mut doc, key, raw);
                    }
                }
                if let Some(modified) = self.time.get("modified") {
                    doc.raw("modified", modified);
                }
            }
        }
        if filter.restricting && self.fields.get("policyRestrictions").is_none() {
            filter.restrictions(doc.key("policyRestrictions"));
        }
        doc.finish();
        out
    }
}

/// A packument's top-level members as one client gets them.
struct Filter<'p, 'a> {
    packument: &'p Packument<'a>,
    how: &'p Rendering<'p>,
    blocks: &'p [Option<String>],
    blocked: HashSet<&'p str>,
    removing: bool,
    /// Removing some versions: npm gets them under `policyRestrictions`.
    restricting: bool,
}

impl<'p, 'a> Filter<'p, 'a> {
    fn new(
        packument: &'p Packument<'a>,
        how: &'p Rendering<'p>,
        blocks: &'p [Option<String>],
    ) -> Self {
        assert_eq!(
            blocks.len(),
            packument.versions.len(),
            "one block entry per version"
        );
        let blocked: HashSet<&str> = packument
            .versions
            .iter()
            .zip(blocks)
            .filter(|(_, block)| block.is_some())
            .map(|(version, _)| version.number.as_ref())
            .collect();
        let removing = how.blocked_versions == BlockedVersions::Remove;
        Filter {
            packument,
            how,
            blocks,
            restricting: removing && !blocked.is_empty(),
            blocked,
            removing,
        }
    }

    /// Writes top-level member `key`, filtered where it names versions.
    fn member(&self, doc: &mut ObjectWriter<'_>, key: &str, raw: &RawValue) {
        match key {
            "versions" => self.versions(doc.key(key)),
            "time" => {
                let mut time = ObjectWriter::new(doc.key(key));
                for (version, raw) in &self.packument.time.0 {
                    if !(self.removing && self.blocked.contains(version.as_ref())) {
                        time.raw(version, raw);
                    }
                }
                time.finish();
            }
            "dist-tags" => {
                let listed: Vec<(&str, bool)> = self
                    .packument
                    .versions
                    .iter()
                    .map(|v| (v.number.as_ref(), self.blocked.contains(v.number.as_ref())))
                    .collect();
                let mut tags = ObjectWriter::new(doc.key(key));
                for (tag, version) in tags::repoint(&self.packument.dist_tags, &listed) {
                    tags.value(&tag, &version);
                }
                tags.finish();
            }
            "policyRestrictions" if self.restricting => self.restrictions(doc.key(key)),
            _ => doc.raw(key, raw),
        }
    }

    fn versions(&self, out: &mut Vec<u8>) {
        let mut versions = ObjectWriter::new(out);
        for (version, block) in self.packument.versions.iter().zip(self.blocks) {
            let deprecation = match (block, self.removing) {
                (Some(_), true) => continue,
                (Some(reason), false) => Some(format!("blocked by gatehouse — {reason}")),
                (None, _) => None,
            };
            write_version(
                versions.key(&version.number),
                version,
                self.how,
                deprecation.as_deref(),
            );
        }
        versions.finish();
    }

    /// `policyRestrictions` for npm: the removed versions and why (see `settings`).
    fn restrictions(&self, out: &mut Vec<u8>) {
        let name = self.how.name;
        let removed: Vec<(&str, &str)> = self
            .packument
            .versions
            .iter()
            .zip(self.blocks)
            .filter_map(|(version, block)| Some((version.number.as_ref(), block.as_deref()?)))
            .collect();
        let mut message = format!("gatehouse blocked {} version(s) of {name}:", removed.len());
        // Newest first: packuments list versions in publishing order.
        for (version, reason) in removed.iter().rev().take(RESTRICTIONS_LISTED) {
            message.push_str(&format!("\n  {name}@{version}: {reason}"));
        }
        if removed.len() > RESTRICTIONS_LISTED {
            message.push_str(&format!(
                "\n  ... and {} more",
                removed.len() - RESTRICTIONS_LISTED
            ));
        }
        let mut restrictions = ObjectWriter::new(out);
        restrictions.value("message", &message);
        let mut versions = ObjectWriter::new(restrictions.key("versions"));
        for (version, _) in &removed {
            let mut manifest = ObjectWriter::new(versions.key(version));
            manifest.value("name", name.as_str());
            manifest.value("version", version);
            manifest.finish();
        }
        versions.finish();
        restrictions.finish();
    }
}

/// Writes one version object: upstream's fields (all, or the abbreviated set),
/// `dist.tarball` pointing back here, and the block's deprecation if any.
fn write_version(
    out: &mut Vec<u8>,
    version: &Version<'_>,
    how: &Rendering<'_>,
    deprecation: Option<&str>,
) {
    let abbreviated = how.form == Form::Abbreviated;
    let manifest = &version.manifest;
    let mut object = ObjectWriter::new(out);
    for (key, raw) in &manifest.0 {
        let key = key.as_ref();
        if key == "dist" || (key == "deprecated" && deprecation.is_some()) {
            continue;
        }
        if abbreviated {
            let key = match key {
                "bundledDependencies" if manifest.get("bundleDependencies").is_none() => {
                    "bundleDependencies"
                }
                _ if ABBREVIATED_FIELDS.contains(&key) => key,
                _ => continue,
            };
            if !is_empty(raw) {
                object.raw(key, raw);
            }
        } else {
            object.raw(key, raw);
        }
    }
    if abbreviated && !install_scripts(manifest).is_empty() {
        object.value("hasInstallScript", &true);
    }
    if let Some(deprecation) = deprecation {
        object.value("deprecated", deprecation);
    }
    let tarball = format!(
        "{}/{}/-/{}",
        how.public_base,
        how.name,
        how.name
            .tarball_filename(&utf8_percent_encode(&version.number, URL_SEGMENT).to_string())
    );
    let mut dist = ObjectWriter::new(object.key("dist"));
    for (key, raw) in manifest
        .get("dist")
        .and_then(Fields::parse)
        .unwrap_or_default()
        .0
    {
        if key != "tarball" {
            dist.raw(&key, raw);
        }
    }
    dist.value("tarball", &tarball);
    dist.finish();
    object.finish();
}

/// Upstream's top level, read in one pass: each version of `versions` is
/// split into its members as the parser meets it, every other member is kept
/// raw. (Splitting the top level, then `versions`, then each version would
/// read the bulk of a big packument three times.)
struct TopLevel<'a> {
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
    versions: Vec<(Cow<'a, str>, Fields<'a>)>,
}

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TopLevelVisitor;

        impl<'de> Visitor<'de> for TopLevelVisitor {
            type Value = TopLevel<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut top = TopLevel {
                    fields: Vec::with_capacity(32),
                    versions: Vec::new(),
                };
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    if key == "versions" {
                        // The last `versions` wins, as `JSON.parse` has it;
                        // rendering writes versions from `TopLevel::versions`.
                        top.versions = map.next_value::<Objects<'de>>()?.0;
                        top.fields.push((key, empty_object()));
                    } else {
                        top.fields.push((key, map.next_value()?));
                    }
                }
                Ok(top)
            }
        }

        deserializer.deserialize_map(TopLevelVisitor)
    }
}

/// The members of an object that are objects themselves, each split into its
/// members; members of another shape are dropped (a version that is not an
/// object cannot be installed, nor gated), and so is a value that is not an object.
struct Objects<'a>(Vec<(Cow<'a, str>, Fields<'a>)>);

impl<'de> Deserialize<'de> for Objects<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let members = deserializer.deserialize_any(AnyValue(ObjectsVisitor))?;
        Ok(Objects(members.unwrap_or_default()))
    }
}

struct ObjectsVisitor;

impl<'de> Visitor<'de> for ObjectsVisitor {
    type Value = Vec<(Cow<'de, str>, Fields<'de>)>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(64));
        while let Some((Key(key), value)) = map.next_entry::<Key<'de>, MaybeObject<'de>>()? {
            members.push((key, value.0));
        }
        // A repeated key's last value wins before shapes are judged, as
        // `JSON.parse` has it: `{"1.0.0": {...}, "1.0.0": null}` has no 1.0.0.
        Ok(dedup_last_wins(members)
            .into_iter()
            .filter_map(|(key, fields)| Some((key, fields?)))
            .collect())
    }
}

/// A value split into members when it is an object, `None` otherwise.
struct MaybeObject<'a>(Option<Fields<'a>>);

impl<'de> Deserialize<'de> for MaybeObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(AnyValue(MembersVisitor))
            .map(MaybeObject)
    }
}

/// Runs `V` on an object and answers `None` for any other value (consumed).
struct AnyValue<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for AnyValue<V> {
    type Value = Option<V::Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(map).map(Some)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The top-level member standing for `versions`, which is rendered from the
/// split versions and never copied raw.
fn empty_object() -> &'static RawValue {
    serde_json::from_str("{}").expect("`{}` is JSON")
}

fn publish_time(raw: &RawValue) -> Option<i64> {
    unix_seconds(&serde_json::from_str::<Cow<'_, str>>(raw.get()).ok()?)
}

/// Per version, the reason the gate blocked it (`None`: allowed or warned).
pub fn blocks(decisions: &[Decision]) -> Vec<Option<String>> {
    decisions
        .iter()
        .map(|decision| (decision.action == Action::Block).then(|| decision_message(decision)))
        .collect()
}

#[cfg(test)]
mod tests;
