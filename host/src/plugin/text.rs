//! What a plugin says is data, not log syntax: its messages, names and
//! output are escaped (no control characters, so no forged log lines or
//! terminal codes) and capped in length before they reach a log line or an
//! error.

/// Longest plugin text kept in one message, in bytes.
pub const MAX_TEXT: usize = 1000;

/// `s` with control characters escaped (`\n`, `\u{1b}`, ...) and cut after
/// `max` bytes, saying how much was left out.
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 16);
    for (i, c) in s.char_indices() {
        if out.len() >= max {
            out.push_str(&format!("… ({} more bytes)", s.len() - i));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_cut() {
        assert_eq!(
            clean("bad\n[INFO] dataset uploaded\x1b[31m\r", 100),
            "bad\\n[INFO] dataset uploaded\\u{1b}[31m\\r"
        );
        let long = "é".repeat(1000);
        let c = clean(&long, 11);
        assert!(c.starts_with("éééééé… (1988 more bytes)"), "{c}");
        assert_eq!(clean("plain text", 100), "plain text");
    }
}
