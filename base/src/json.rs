//! JSON string literals for the tools' machine-readable output (`cairn --json`, `cairn-bench
//! --json`): one escaping rule, so every tool's JSON reads the same way.
//!
//! RFC 8259 escaping: `"` and `\` are escaped, `\n` `\r` `\t` use their short forms, every other
//! control character (and DEL) becomes `\u00XX`; everything else, non-ASCII included, passes
//! through as UTF-8.

use std::fmt::Write as _;

/// Appends `s` to `out` as a JSON string literal, quotes included.
///
/// ```
/// let mut out = String::new();
/// cairn_base::json::push_json_string(&mut out, "a\"b\n");
/// assert_eq!(out, r#""a\"b\n""#);
/// ```
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_and_control_characters() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"b\\c\nd\te\r\u{1}f\u{7f}é");
        assert_eq!(s, r#""a\"b\\c\nd\te\r\u0001f\u007fé""#);
    }
}
