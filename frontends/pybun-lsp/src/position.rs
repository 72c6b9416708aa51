//! Byte offsets ↔ LSP positions.
//!
//! Core spans are byte offsets into the UTF-8 text. LSP positions are a line
//! and a character offset counted in the negotiated encoding: UTF-16 code
//! units by default, bytes when the client offers `utf-8`. This is the only
//! place that converts between the two.

use tower_lsp_server::ls_types::{Position, Range};

/// How `Position.character` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-16 code units (the LSP default).
    Utf16,
    /// Bytes of UTF-8.
    Utf8,
}

/// The byte offset where each line starts (after `\n`; `\r\n` counts as one line end).
fn line_start(text: &str, line: u32) -> Option<usize> {
    if line == 0 {
        return Some(0);
    }
    let mut seen = 0;
    for (index, byte) in text.bytes().enumerate() {
        if byte == b'\n' {
            seen += 1;
            if seen == line {
                return Some(index + 1);
            }
        }
    }
    None
}

/// The byte offset of `position` in `text`. A character past the end of its
/// line means the end of the line (as the specification says); a line past
/// the end of the text means the end of the text. An offset inside a
/// character (half a surrogate pair) moves to the character's start.
#[must_use]
pub fn to_offset(text: &str, position: Position, encoding: Encoding) -> usize {
    let Some(start) = line_start(text, position.line) else {
        return text.len();
    };
    let rest = &text[start..];
    let line = match rest.find('\n') {
        Some(end) => rest[..end].strip_suffix('\r').unwrap_or(&rest[..end]),
        None => rest,
    };
    let wanted = position.character as usize;
    let mut counted = 0usize;
    for (index, ch) in line.char_indices() {
        let width = match encoding {
            Encoding::Utf16 => ch.len_utf16(),
            Encoding::Utf8 => ch.len_utf8(),
        };
        if counted + width > wanted {
            return start + index;
        }
        counted += width;
    }
    start + line.len()
}

/// The position of byte `offset` in `text` (clamped to the text, and to a character boundary).
#[must_use]
pub fn to_position(text: &str, offset: usize, encoding: Encoding) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|&b| b == b'\n').count();
    let in_line = &before[line_start..];
    let character = match encoding {
        Encoding::Utf16 => in_line.chars().map(char::len_utf16).sum::<usize>(),
        Encoding::Utf8 => in_line.len(),
    };
    Position::new(u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(character).unwrap_or(u32::MAX))
}

/// The range of bytes `start..end` in `text`.
#[must_use]
pub fn to_range(text: &str, start: usize, end: usize, encoding: Encoding) -> Range {
    Range::new(to_position(text, start, encoding), to_position(text, end.max(start), encoding))
}

/// Apply one `didChange` content change: replace `range` (or everything) by `new_text`.
pub fn apply_change(text: &mut String, range: Option<Range>, new_text: &str, encoding: Encoding) {
    match range {
        None => new_text.clone_into(text),
        Some(range) => {
            let start = to_offset(text, range.start, encoding);
            let end = to_offset(text, range.end, encoding).max(start);
            text.replace_range(start..end, new_text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_counts_surrogate_pairs() {
        let text = "a = \"😀é\"\nb = 1\r\nc";
        // 😀 is two UTF-16 units and four bytes; é one unit and two bytes.
        let e = text.find('é').unwrap();
        assert_eq!(to_position(text, e, Encoding::Utf16), Position::new(0, 7));
        assert_eq!(to_position(text, e, Encoding::Utf8), Position::new(0, 9));
        assert_eq!(to_offset(text, Position::new(0, 7), Encoding::Utf16), e);
        assert_eq!(to_offset(text, Position::new(0, 9), Encoding::Utf8), e);
        // Half a surrogate pair moves to the character's start.
        assert_eq!(to_offset(text, Position::new(0, 6), Encoding::Utf16), text.find('😀').unwrap());
        // Past the end of a line (before `\r\n`): the line's end.
        assert_eq!(to_offset(text, Position::new(1, 99), Encoding::Utf16), text.find("\r\n").unwrap());
        assert_eq!(to_offset(text, Position::new(2, 1), Encoding::Utf16), text.len());
        assert_eq!(to_offset(text, Position::new(9, 0), Encoding::Utf16), text.len());
        assert_eq!(to_position(text, text.len(), Encoding::Utf16), Position::new(2, 1));
    }

    #[test]
    fn round_trips_every_boundary() {
        let text = "x\n😀a\r\né\n\nz";
        for encoding in [Encoding::Utf16, Encoding::Utf8] {
            for (offset, _) in text.char_indices() {
                if text[offset..].starts_with('\n') && offset > 0 && text[..offset].ends_with('\r') {
                    continue; // between `\r` and `\n`: not addressable, as in every editor
                }
                let position = to_position(text, offset, encoding);
                assert_eq!(to_offset(text, position, encoding), offset, "{encoding:?} {offset}");
            }
        }
    }

    #[test]
    fn incremental_changes_apply_in_utf16() {
        let mut text = "deps = [\"😀\", \"b\"]".to_string();
        let start = Position::new(0, 15);
        apply_change(&mut text, Some(Range::new(start, Position::new(0, 16))), "requests", Encoding::Utf16);
        assert_eq!(text, "deps = [\"😀\", \"requests\"]");
        apply_change(&mut text, None, "new", Encoding::Utf16);
        assert_eq!(text, "new");
    }
}
