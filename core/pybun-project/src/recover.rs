//! Every TOML syntax error, not only the first.
//!
//! `toml_edit` stops at the first syntax error. To report them all, the
//! parser is run again on a copy of the text in which the lines of each error
//! found so far are blanked out (every byte replaced by a space, so byte
//! offsets, lines and columns stay those of the original text). When blanking
//! the error's own line cannot help (the error is on an empty line or at the
//! end of the file, typically an unclosed array or inline table), the nearest
//! non-blank line before it is blanked instead, without reporting a second
//! error for the same place. The loop ends when the copy parses (its
//! document is then the "recoverable parts" that semantic validation reads)
//! or after [`MAX_ERRORS`] errors.

use std::ops::Range;

use toml_edit::{Document, TomlError};


/// Stop after this many syntax errors (and give up recovering).
pub(crate) const MAX_ERRORS: usize = 50;

/// One syntax error: its first message line and its byte range in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) message: String,
    pub(crate) range: Option<Range<usize>>,
}

impl SyntaxError {
    pub(crate) fn new(err: &TomlError, text: &str) -> Self {
        let message = err.message().lines().next().unwrap_or("invalid TOML").trim_end_matches('.').to_owned();
        let range = err.span().map(|span| {
            // Show at least one character so the error is visible.
            if span.is_empty() && span.end < text.len() { span.start..span.end + 1 } else { span }
        });
        Self { message, range }
    }
}

/// The result of [`parse_recovering`].
pub(crate) struct Recovered {
    /// The document of the text with the bad lines blanked; `None` when it
    /// could not be made to parse.
    pub(crate) document: Option<Document<String>>,
    /// Every syntax error, in the order found (sorted by the caller).
    pub(crate) errors: Vec<SyntaxError>,
}

/// `toml_edit`'s parse, but a panic inside it (it has `expect`s that some
/// invalid texts reach, e.g. `",\n==a\n.="`) becomes a syntax error on the
/// first line whose prefix of the text makes it panic. The error's range, if
/// any, is in `text`.
pub(crate) fn parse_document(text: &str) -> Result<Document<String>, SyntaxError> {
    let owned = text.to_owned();
    match std::panic::catch_unwind(move || Document::parse(owned)) {
        Ok(Ok(document)) => Ok(document),
        Ok(Err(err)) => Err(SyntaxError::new(&err, text)),
        Err(_) => {
            let mut end = 0;
            let line = loop {
                let next = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
                let prefix = text[..next].to_owned();
                if next >= text.len() || std::panic::catch_unwind(move || Document::parse(prefix)).is_err() {
                    break end..next;
                }
                end = next;
            };
            let line = line.start..line.end.max(line.start + 1).min(text.len());
            Err(SyntaxError { message: "invalid TOML the parser cannot read".to_owned(), range: Some(line) })
        }
    }
}

/// Parse `text`, collecting every syntax error (see the module doc).
pub(crate) fn parse_recovering(text: &str) -> Recovered {
    let first = match parse_document(text) {
        Ok(document) => return Recovered { document: Some(document), errors: Vec::new() },
        Err(error) => error,
    };
    let mut position = first.range.as_ref().map_or(text.len(), |r| r.start);
    let mut errors = vec![first];
    let mut current = text.as_bytes().to_vec();
    loop {
        if !blank_around(&mut current, position) {
            return Recovered { document: None, errors };
        }
        let Ok(candidate) = String::from_utf8(current.clone()) else {
            return Recovered { document: None, errors };
        };
        match parse_document(&candidate) {
            Ok(document) => return Recovered { document: Some(document), errors },
            Err(error) => {
                position = error.range.as_ref().map_or(text.len(), |r| r.start);
                // A blanked line's error can show again at the same place; report it once.
                if !errors.iter().any(|e| e.range == error.range) {
                    errors.push(error);
                }
                if errors.len() >= MAX_ERRORS {
                    return Recovered { document: None, errors };
                }
            }
        }
    }
}

/// Blank the line at `position`, or when it is already blank, the nearest
/// non-blank line before it. Returns `false` when nothing was left to blank.
fn blank_around(bytes: &mut [u8], position: usize) -> bool {
    let position = position.min(bytes.len());
    let mut line = line_range(bytes, position);
    loop {
        if bytes[line.clone()].iter().any(|b| !b.is_ascii_whitespace()) {
            for b in &mut bytes[line] {
                if *b != b'\r' {
                    *b = b' ';
                }
            }
            return true;
        }
        if line.start == 0 {
            return false;
        }
        line = line_range(bytes, line.start - 1);
    }
}

/// The byte range of the line holding `position` (without its `\n`).
fn line_range(bytes: &[u8], position: usize) -> Range<usize> {
    let start = bytes[..position].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let end = bytes[position..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| position + i);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_found_and_the_rest_parses() {
        let text = "a = 1\nb = = 2\nc = 3\nd = \"x\n[t]\ne = 4\n";
        let recovered = parse_recovering(text);
        let lines: Vec<usize> = recovered.errors.iter().map(|e| text[..e.range.clone().unwrap().start].matches('\n').count() + 1).collect();
        assert_eq!(lines, [2, 4]);
        let document = recovered.document.expect("the rest parses");
        assert_eq!(document.get("c").and_then(toml_edit::Item::as_integer), Some(3));
        assert_eq!(document.get("t").and_then(|t| t.get("e")).and_then(toml_edit::Item::as_integer), Some(4));
    }

    #[test]
    fn an_unclosed_array_at_the_end_blanks_its_opening_line() {
        let text = "a = 1\nb = [\"x\"\n";
        let recovered = parse_recovering(text);
        assert_eq!(recovered.errors.len(), 1, "{:?}", recovered.errors);
        assert!(recovered.document.is_some());
    }

    #[test]
    fn a_panic_inside_the_parser_is_a_syntax_error() {
        // `toml_edit` 0.23 panics ("all items have spans") on this text.
        let text = ",\n==a\n.=";
        let recovered = parse_recovering(text);
        assert!(!recovered.errors.is_empty());
        assert!(recovered.errors.iter().all(|e| e.range.as_ref().is_none_or(|r| r.end <= text.len())));
    }

    #[test]
    fn multibyte_text_keeps_its_offsets() {
        let text = "a = \"é\" x\nb = 2\n";
        let recovered = parse_recovering(text);
        assert_eq!(recovered.errors.len(), 1);
        assert_eq!(recovered.document.unwrap().get("b").and_then(toml_edit::Item::as_integer), Some(2));
    }
}
