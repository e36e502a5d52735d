//! Which costly facts a policy reads, from the `gatehouse:reads` custom
//! section its toolchain leaves in the component (see `fact-fields` in
//! `wit/types.wit`). A component without one reads everything: older
//! components, and languages whose SDK does not write it, lose nothing.

use crate::bindings::FactFields;

/// The custom section's name.
pub const SECTION: &str = "gatehouse:reads";

/// The fields `component` declares it reads; all of them when it declares
/// nothing or cannot be parsed.
pub fn declared(component: &[u8]) -> FactFields {
    let mut found: Option<FactFields> = None;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload {
            Ok(wasmparser::Payload::CustomSection(section)) if section.name() == SECTION => {
                let fields = parse(section.data());
                found = Some(found.map_or(fields, |before| before | fields));
            }
            Ok(_) => {}
            Err(_) => return FactFields::all(),
        }
    }
    found.unwrap_or(FactFields::all())
}

/// Space-separated field names; names this host does not know are ignored
/// (they are fields it never fills in).
fn parse(data: &[u8]) -> FactFields {
    String::from_utf8_lossy(data)
        .split_whitespace()
        .fold(FactFields::empty(), |fields, name| match name {
            "raw" => fields | FactFields::RAW,
            "dependencies" => fields | FactFields::DEPENDENCIES,
            _ => fields,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_and_unknown_ones_ignored() {
        assert_eq!(parse(b""), FactFields::empty());
        assert_eq!(parse(b"raw"), FactFields::RAW);
        assert_eq!(
            parse(b" dependencies  raw future-field "),
            FactFields::RAW | FactFields::DEPENDENCIES
        );
    }

    #[test]
    fn without_a_section_everything_is_read() {
        assert_eq!(declared(b"not wasm"), FactFields::all());
        // An empty core module: valid, no section.
        assert_eq!(declared(b"\0asm\x01\0\0\0"), FactFields::all());
    }
}
