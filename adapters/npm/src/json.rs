//! Lazy JSON objects: a packument's fields kept as the upstream bytes.
//!
//! A packument can be tens of megabytes, mostly fields the proxy never reads
//! (readmes, maintainers, descriptions). Objects are split into `(key, raw
//! value)` pairs borrowed from the upstream body: only the fields that facts and
//! rewriting need are parsed, and everything else is copied through verbatim.
//! Lookups take the last occurrence of a key, as `JSON.parse` does, so facts are
//! computed from what clients will actually read.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// An object's members in upstream order, values unparsed.
#[derive(Debug, Default)]
pub struct Fields<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Fields<'a> {
    /// Splits `raw` into members; `None` when it is not an object.
    pub fn parse(raw: &'a RawValue) -> Option<Self> {
        serde_json::from_str(raw.get()).ok()
    }

    /// The value of the last member named `key`.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// `key`'s value deserialised, `None` when absent or of another shape.
    pub fn parsed<T: Deserialize<'a>>(&self, key: &str) -> Option<T> {
        serde_json::from_str(self.get(key)?.get()).ok()
    }

    /// `key`'s value when it is a string.
    pub fn string(&self, key: &str) -> Option<Cow<'a, str>> {
        self.parsed::<Cow<'a, str>>(key)
    }

    /// Keeps only the last member of each key, where the first one stood.
    pub fn dedup_last_wins(self) -> Self {
        Fields(dedup_last_wins(self.0))
    }
}

/// Keeps only the last member of each key, where the first one stood (what
/// `JSON.parse` makes of repeated keys).
pub fn dedup_last_wins<'a, T>(members: Vec<(Cow<'a, str>, T)>) -> Vec<(Cow<'a, str>, T)> {
    let mut index: HashMap<Cow<'a, str>, usize> = HashMap::with_capacity(members.len());
    let mut kept: Vec<(Cow<'a, str>, Option<T>)> = Vec::with_capacity(members.len());
    for (key, value) in members {
        match index.get(&key) {
            Some(&at) => kept[at].1 = Some(value),
            None => {
                index.insert(key.clone(), kept.len());
                kept.push((key, Some(value)));
            }
        }
    }
    kept.into_iter()
        .filter_map(|(key, value)| Some((key, value?)))
        .collect()
}

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// Reads an object's members, values kept raw.
pub struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some((Key(key), value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            members.push((key, value));
        }
        Ok(Fields(members))
    }
}

/// A member name, borrowed unless it had escapes.
pub struct Key<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

/// True for the values npm's registry leaves out of abbreviated documents:
/// `null`, `false`, `""`, `0`, `{}` and `[]`.
pub fn is_empty(raw: &RawValue) -> bool {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'{' | b'[') => text[1..text.len() - 1].trim().is_empty(),
        _ => matches!(text, "null" | "false" | "\"\"" | "0"),
    }
}

/// True for JavaScript-truthy values: a present script, a set flag.
pub fn is_truthy(raw: &RawValue) -> bool {
    let text = raw.get().trim();
    !matches!(text, "null" | "false" | "\"\"" | "0")
}

/// Writes one JSON object member by member.
pub struct ObjectWriter<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> ObjectWriter<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, first: true }
    }

    /// Starts a member and hands back the buffer for its value.
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        serde_json::to_writer(&mut *self.out, key).expect("a string serialises");
        self.out.push(b':');
        self.out
    }

    /// A member whose value is copied as it came.
    pub fn raw(&mut self, key: &str, value: &RawValue) {
        self.key(key).extend_from_slice(value.get().as_bytes());
    }

    /// A member whose value is serialised.
    pub fn value<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        serde_json::to_writer(self.key(key), value).expect("a JSON value serialises");
    }

    pub fn finish(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn members_in_order_with_last_wins_lookup() {
        let doc = raw(r#"{"b": 1, "a\u0041": [1, {"x": 2}], "b": "two"}"#);
        let fields = Fields::parse(&doc).unwrap();
        let keys: Vec<&str> = fields.0.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "aA", "b"]);
        assert_eq!(fields.get("aA").unwrap().get(), r#"[1, {"x": 2}]"#);
        assert_eq!(fields.string("b").as_deref(), Some("two"));
        let deduped = fields.dedup_last_wins();
        assert_eq!(deduped.0.len(), 2);
        assert_eq!(deduped.0[0].1.get(), r#""two""#);
        assert!(Fields::parse(&raw("[1]")).is_none());
    }

    #[test]
    fn emptiness_and_truthiness() {
        for text in ["null", "false", "\"\"", "0", "{}", "{ }", "[]", "[\n]"] {
            assert!(is_empty(&raw(text)), "{text}");
        }
        for text in ["true", "\"x\"", "1", "{\"a\":1}", "[0]"] {
            assert!(!is_empty(&raw(text)), "{text}");
        }
        assert!(is_truthy(&raw("\"node-gyp rebuild\"")));
        assert!(!is_truthy(&raw("\"\"")));
    }

    #[test]
    fn writer_escapes_keys_and_separates_members() {
        let mut out = Vec::new();
        let mut object = ObjectWriter::new(&mut out);
        object.raw("a\"b", &raw("[1, 2]"));
        object.value("n", &3);
        object.finish();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a\"b":[1, 2],"n":3}"#);
    }
}
