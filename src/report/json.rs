//! JSON text exactly as Python's `json.dump` writes it with its defaults: `", "` and `": "`
//! separators and `ensure_ascii=True`.

use std::io::{self, Write};

/// Writes `s` as a JSON string literal, escaping like Python's `json` module: `\"`, `\\`,
/// `\n`, `\r`, `\t`, `\b`, `\f`, other control characters and every non-ASCII character as
/// `\uxxxx` (lowercase hex; astral characters as surrogate pairs).
pub fn write_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut plain_start = 0;
    for (i, ch) in s.char_indices() {
        let escape: Option<&[u8]> = match ch {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            '\u{8}' => Some(b"\\b"),
            '\u{c}' => Some(b"\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => Some(b""),
            _ => None,
        };
        let Some(escape) = escape else { continue };
        out.write_all(&bytes[plain_start..i])?;
        plain_start = i + ch.len_utf8();
        if !escape.is_empty() {
            out.write_all(escape)?;
            continue;
        }
        let c = ch as u32;
        if c < 0x10000 {
            write!(out, "\\u{c:04x}")?;
        } else {
            let v = c - 0x10000;
            write!(
                out,
                "\\u{:04x}\\u{:04x}",
                0xd800 + (v >> 10),
                0xdc00 + (v & 0x3ff)
            )?;
        }
    }
    out.write_all(&bytes[plain_start..])?;
    out.write_all(b"\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> String {
        let mut v = Vec::new();
        write_str(&mut v, s).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_like_python() {
        assert_eq!(j("plain"), "\"plain\"");
        assert_eq!(j("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(j("\n\r\t\u{8}\u{c}\u{1}"), "\"\\n\\r\\t\\b\\f\\u0001\"");
        assert_eq!(j("naïve"), "\"na\\u00efve\"");
        assert_eq!(j("函数"), "\"\\u51fd\\u6570\"");
        assert_eq!(j("😀"), "\"\\ud83d\\ude00\"");
        assert_eq!(j("\u{7f}"), "\"\\u007f\"");
    }
}
