//! Property tests of the error-tolerant parse: whatever the text (a valid
//! `pyproject.toml` with random edits, or arbitrary bytes), parsing never
//! panics, every span lies inside the text, a valid file gives no syntax
//! error, and each syntax error is reported once.

use pybun_project::{parse_pyproject, parse_pyproject_partial, parse_script};
use proptest::prelude::*;

const VALID: &str = r#"[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.9"
description = "é ünïcode"
dependencies = [
  "requests>=2.31",
  "rich[jupyter]>=13; python_version >= '3.9'",
]

[project.optional-dependencies]
cli = ["click>=8"]

[dependency-groups]
dev = ["pytest", { include-group = "lint" }]
lint = ["ruff"]

[tool.pybun]
lockfile = "text"
"#;

/// An edit: at a fraction of the text, delete some bytes and insert a snippet.
fn edited() -> impl Strategy<Value = String> {
    let snippets = prop::sample::select(vec!["", "\"", "'", "[", "]", "{", "}", "=", ",", "\n", "x", "[[a]]", "= =", "\"\"\"", "é", "#", "\r\n", "[project]\n"]);
    prop::collection::vec((0.0f64..1.0, 0usize..6, snippets), 1..6).prop_map(|edits| {
        let mut text = VALID.to_string();
        for (at, delete, insert) in edits {
            let mut start = ((text.len() as f64) * at) as usize;
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + delete).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(start..end, insert);
        }
        text
    })
}

fn check_invariants(text: &str) {
    for parsed in [parse_pyproject(text, "pyproject.toml"), parse_pyproject_partial(text, "pyproject.toml")] {
        let mut syntax = Vec::new();
        for diagnostic in &parsed.diagnostics {
            if let Some(span) = diagnostic.location.as_ref().and_then(|l| l.span) {
                assert!(span.start <= span.end && span.end <= text.len(), "{span:?} outside the text:\n{text}");
                if diagnostic.code.as_str() == "PB0101" {
                    syntax.push((span.start, span.end));
                }
            }
        }
        let count = syntax.len();
        syntax.dedup();
        assert_eq!(syntax.len(), count, "a syntax error reported twice:\n{text}");
        assert!(count <= 50);
    }
    let script: String = text.lines().map(|l| if l.is_empty() { "#\n".to_string() } else { format!("# {l}\n") }).collect();
    let script = format!("# /// script\n{script}# ///\n");
    for diagnostic in parse_script(&script, "s.py").diagnostics {
        if let Some(span) = diagnostic.location.as_ref().and_then(|l| l.span) {
            assert!(span.end <= script.len());
        }
    }
}

#[test]
fn a_valid_file_has_no_syntax_error() {
    let parsed = parse_pyproject_partial(VALID, "pyproject.toml");
    assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn edited_files_never_break_the_parser(text in edited()) {
        check_invariants(&text);
    }

    #[test]
    fn arbitrary_text_never_breaks_the_parser(text in "[\\[\\]{}=,\"'#a-z0-9 .\n\\\\é]{0,200}") {
        check_invariants(&text);
    }
}
