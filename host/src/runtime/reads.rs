//! Which costly facts a policy reads, from the `gatehouse:reads` custom
//! section its toolchain leaves in the component (see `fact-fields` in
//! `wit/types.wit`). A component without one reads everything: older
//! components, and languages whose SDK does not write it, lose nothing.

use std::collections::BTreeSet;

use crate::bindings::{FactFields, FactReads};

/// The custom section's name.
pub const SECTION: &str = "gatehouse:reads";

/// What one policy, or a set of them, reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reads {
    pub fields: FactFields,
    /// With `raw` read: the top-level keys needed, `None` for all of it.
    pub raw_keys: Option<BTreeSet<String>>,
}

impl Reads {
    /// Reads everything.
    pub fn all() -> Self {
        Reads {
            fields: FactFields::all(),
            raw_keys: None,
        }
    }

    /// Reads nothing costly.
    pub fn nothing() -> Self {
        Reads {
            fields: FactFields::empty(),
            raw_keys: Some(BTreeSet::new()),
        }
    }

    /// What `self` and `other` read together.
    pub fn union(mut self, other: &Reads) -> Self {
        self.fields |= other.fields;
        self.raw_keys = match (self.raw_keys, &other.raw_keys) {
            (Some(mut mine), Some(theirs)) => {
                mine.extend(theirs.iter().cloned());
                Some(mine)
            }
            _ => None,
        };
        self
    }

    /// As the adapter world's `gate.reads` answers it.
    pub fn to_wit(&self) -> FactReads {
        FactReads {
            fields: self.fields,
            raw_keys: self
                .raw_keys
                .as_ref()
                .filter(|_| self.fields.contains(FactFields::RAW))
                .map(|keys| keys.iter().cloned().collect()),
        }
    }
}

/// What `component` declares it reads; everything when it declares nothing
/// or cannot be parsed.
pub fn declared(component: &[u8]) -> Reads {
    let mut found: Option<Reads> = None;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload {
            Ok(wasmparser::Payload::CustomSection(section)) if section.name() == SECTION => {
                let reads = parse(section.data());
                found = Some(match found {
                    Some(before) => before.union(&reads),
                    None => reads,
                });
            }
            Ok(_) => {}
            Err(_) => return Reads::all(),
        }
    }
    found.unwrap_or_else(Reads::all)
}

/// Space-separated `raw`, `raw.KEY`, `dependencies`; names this host does not
/// know are ignored (they are fields it never fills in).
fn parse(data: &[u8]) -> Reads {
    let mut reads = Reads::nothing();
    for token in String::from_utf8_lossy(data).split_whitespace() {
        match token.split_once('.') {
            Some(("raw", key)) if !key.is_empty() => {
                reads.fields |= FactFields::RAW;
                if let Some(keys) = &mut reads.raw_keys {
                    keys.insert(key.to_owned());
                }
            }
            None if token == "raw" => {
                reads.fields |= FactFields::RAW;
                reads.raw_keys = None;
            }
            None if token == "dependencies" => reads.fields |= FactFields::DEPENDENCIES,
            _ => {}
        }
    }
    reads
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Option<BTreeSet<String>> {
        Some(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn names_are_read_and_unknown_ones_ignored() {
        assert_eq!(parse(b"\n"), Reads::nothing());
        assert_eq!(
            parse(b"raw"),
            Reads {
                fields: FactFields::RAW,
                raw_keys: None
            }
        );
        assert_eq!(
            parse(b" raw.scripts dependencies raw.license future-field "),
            Reads {
                fields: FactFields::RAW | FactFields::DEPENDENCIES,
                raw_keys: keys(&["license", "scripts"]),
            }
        );
        // Asking for all of `raw` wins over single keys.
        assert_eq!(parse(b"raw.scripts raw").raw_keys, None);
    }

    #[test]
    fn a_union_keeps_whatever_any_policy_reads() {
        let scripts = parse(b"raw.scripts");
        let license = parse(b"raw.license");
        let both = Reads::nothing().union(&scripts).union(&license);
        assert_eq!(both.raw_keys, keys(&["license", "scripts"]));
        assert_eq!(both.clone().union(&Reads::all()), Reads::all());
        // Keys mean nothing while `raw` itself is not read.
        assert_eq!(Reads::nothing().to_wit().raw_keys, None);
        assert_eq!(
            both.to_wit().raw_keys,
            Some(vec!["license".into(), "scripts".into()])
        );
    }

    #[test]
    fn without_a_section_everything_is_read() {
        assert_eq!(declared(b"not wasm"), Reads::all());
        // An empty core module: valid, no section.
        assert_eq!(declared(b"\0asm\x01\0\0\0"), Reads::all());
    }
}
