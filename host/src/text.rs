//! Text from guests and upstreams made safe to show to people.

/// `text` safe to print on a client's terminal: terminal escape sequences
/// and control characters removed (line breaks and tabs become spaces), so
/// a reason cannot recolour, retitle or rewrite what the user sees.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // CSI: parameters up to a final byte; OSC, DCS and the other string
        // sequences: up to BEL or ST; any other escape: one more character.
        let escape = match c {
            '\u{1b}' => match chars.next() {
                Some('[') => Some(false),
                Some(']' | 'P' | 'X' | '^' | '_') => Some(true),
                _ => None,
            },
            '\u{9b}' => Some(false),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => Some(true),
            '\n' | '\r' | '\t' => {
                out.push(' ');
                continue;
            }
            c if c.is_control() => continue,
            c => {
                out.push(c);
                continue;
            }
        };
        match escape {
            Some(false) => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            Some(true) => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || c == '\u{9c}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            None => {}
        }
    }
    out.into()
}
