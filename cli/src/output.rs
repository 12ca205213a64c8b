//! Text forms of keys and values, and hand-written JSON (docs/tools.md#output-formats).
//!
//! Owns the byte-to-text rules: hex is lowercase, two digits per byte; a key or value is shown as
//! text when the format allows it and the bytes are valid UTF-8, otherwise as hex. In JSON the
//! field name says which form was used (`key` / `key_hex`, `value` / `value_hex`), so machine
//! readers never guess. Knows nothing about the database.

use std::fmt::Write as _;

use cairn_base::json::push_json_string;

use crate::args::{KeyFormat, ValueFormat};

/// Lowercase hex, two digits per byte.
pub fn hex_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Decodes hex (either case, two digits per byte, no prefix). The error says what is wrong.
pub fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of digits ({})", digits.len()));
    }
    digits
        .chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
            _ => Err(format!("bad digit at position {}", 2 * i + usize::from(hex_digit(pair[0]).is_some()))),
        })
        .collect()
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Bytes rendered for output: as text, or as hex when text is not allowed or not possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown<'a> {
    /// Valid UTF-8, shown as is.
    Text(&'a str),
    /// Lowercase hex.
    Hex(String),
}

impl Shown<'_> {
    /// The displayed string.
    pub fn as_str(&self) -> &str {
        match self {
            Shown::Text(s) => s,
            Shown::Hex(h) => h,
        }
    }

    /// The JSON field name for this form: `base` for text, `base_hex` for hex.
    pub fn json_field(&self, base: &'static str) -> &'static str {
        match (self, base) {
            (Shown::Text(_), _) => base,
            (Shown::Hex(_), "key") => "key_hex",
            (Shown::Hex(_), _) => "value_hex",
        }
    }
}

fn show(bytes: &[u8], text_allowed: bool) -> Shown<'_> {
    match std::str::from_utf8(bytes) {
        Ok(s) if text_allowed => Shown::Text(s),
        _ => Shown::Hex(hex_encode(bytes)),
    }
}

/// Renders a key in `format`.
pub fn show_key(key: &[u8], format: KeyFormat) -> Shown<'_> {
    show(key, format == KeyFormat::Utf8)
}

/// Renders a value in `format`.
pub fn show_value(value: &[u8], format: ValueFormat) -> Shown<'_> {
    show(value, format == ValueFormat::Utf8)
}

/// Builds one JSON object, field by field, in insertion order.
#[derive(Debug)]
pub struct JsonObject {
    buf: String,
    empty: bool,
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> Self {
        JsonObject { buf: String::from("{"), empty: true }
    }

    fn key(&mut self, name: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        push_json_string(&mut self.buf, name);
        self.buf.push(':');
    }

    /// Adds a string field.
    pub fn string(mut self, name: &str, value: &str) -> Self {
        self.key(name);
        push_json_string(&mut self.buf, value);
        self
    }

    /// Adds a number field (any integer type).
    pub fn number(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        self.key(name);
        // Writing to a String cannot fail.
        let _ = write!(self.buf, "{value}");
        self
    }

    /// Adds a boolean field.
    pub fn boolean(mut self, name: &str, value: bool) -> Self {
        self.key(name);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// Adds a field whose value is already JSON (an array or object built elsewhere).
    pub fn raw(mut self, name: &str, json: &str) -> Self {
        self.key(name);
        self.buf.push_str(json);
        self
    }

    /// Adds `base` (text) or `base_hex` (hex) holding `shown`.
    pub fn shown(self, base: &'static str, shown: &Shown<'_>) -> Self {
        let name = shown.json_field(base);
        self.string(name, shown.as_str())
    }

    /// The finished object.
    pub fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A strict decoder for the JSON strings `push_json_string` writes, to check the round trip.
    fn json_unescape(lit: &str) -> Option<String> {
        let body = lit.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '"' || u32::from(c) < 0x20 {
                return None;
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next()? {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                _ => return None,
            }
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes: Vec<u8>) {
            let h = hex_encode(&bytes);
            prop_assert_eq!(h.len(), bytes.len() * 2);
            prop_assert_eq!(hex_decode(&h), Ok(bytes.clone()));
            prop_assert_eq!(hex_decode(&h.to_uppercase()), Ok(bytes));
        }

        #[test]
        fn hex_decode_never_panics(text: String) {
            let _ = hex_decode(&text);
        }

        #[test]
        fn json_string_round_trips(s: String) {
            let mut lit = String::new();
            push_json_string(&mut lit, &s);
            prop_assert_eq!(json_unescape(&lit), Some(s));
        }
    }

    #[test]
    fn hex_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let h = hex_encode(&all);
        assert!(h.starts_with("000102"));
        assert!(h.ends_with("feff"));
        assert_eq!(hex_decode(&h), Ok(all.clone()));
        assert_eq!(hex_decode(&h.to_uppercase()), Ok(all));
        assert_eq!(hex_decode(""), Ok(vec![]));
    }

    #[test]
    fn hex_decode_rejects_bad_input() {
        assert!(hex_decode("abc").expect_err("odd").contains("odd"));
        assert_eq!(hex_decode("0g"), Err("bad digit at position 1".to_string()));
        assert_eq!(hex_decode("zz00"), Err("bad digit at position 0".to_string()));
        assert!(hex_decode("0x00").is_err());
    }

    #[test]
    fn invalid_utf8_falls_back_to_hex() {
        assert_eq!(show_key(b"abc", KeyFormat::Utf8), Shown::Text("abc"));
        assert_eq!(show_key(b"abc", KeyFormat::Hex), Shown::Hex("616263".into()));
        assert_eq!(show_value(&[0xff, 0x00], ValueFormat::Utf8), Shown::Hex("ff00".into()));
        assert_eq!(show_value(&[0xff, 0x00], ValueFormat::Utf8).json_field("value"), "value_hex");
        assert_eq!(show_key(&[0xc3], KeyFormat::Utf8).json_field("key"), "key_hex");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"b\\c\nd\te\u{1}f\u{7f}é");
        assert_eq!(s, r#""a\"b\\c\nd\te\u0001f\u007fé""#);
    }

    #[test]
    fn json_object_separates_fields() {
        let o = JsonObject::new().string("k", "v").number("n", 3u64).boolean("b", false).raw("a", "[1]").finish();
        assert_eq!(o, r#"{"k":"v","n":3,"b":false,"a":[1]}"#);
        assert_eq!(JsonObject::new().finish(), "{}");
    }
}
