//! The validation context: the source text, the diagnostics collected so far,
//! and helpers for type checks and spans.

use std::ops::Range;
use std::str::FromStr;

use pybun_diagnostics::{Code, Diagnostic, Span};
use pybun_pep::{Req, VersionSpecifier, VersionSpecifiers};
use toml_edit::{Array, Item, TableLike, Value};

use crate::Spanned;

pub(crate) struct Cx<'a> {
    pub(crate) text: &'a str,
    pub(crate) file: &'a str,
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// The document was recovered from a text with syntax errors: problems
    /// that say something is missing are not reported (it may be on a bad line).
    pub(crate) recovering: bool,
}

/// The hint shown with every invalid requirement.
const REQUIREMENT_HINT: &str =
    "requirements follow PEP 508, e.g. `requests>=2.31` or `pywin32; sys_platform == \"win32\"`";

impl<'a> Cx<'a> {
    pub(crate) fn new(text: &'a str, file: &'a str) -> Self {
        Self {
            text,
            file,
            diagnostics: Vec::new(),
            recovering: false,
        }
    }

    /// Record that something required is missing (skipped while recovering).
    pub(crate) fn push_missing(&mut self, diagnostic: Diagnostic, range: Option<Range<usize>>) {
        if !self.recovering {
            self.push(diagnostic, range);
        }
    }

    pub(crate) fn span(&self, range: Range<usize>) -> Span {
        Span::in_source(self.text, range.start, range.end)
    }

    /// Record `diagnostic` at `range` (or in the file when there is no range).
    pub(crate) fn push(&mut self, diagnostic: Diagnostic, range: Option<Range<usize>>) {
        let diagnostic = match range {
            Some(range) => diagnostic.at(self.file, self.span(range)),
            None => diagnostic.in_file(self.file),
        };
        self.diagnostics.push(diagnostic);
    }

    /// Report a value of the wrong type.
    pub(crate) fn wrong_type(&mut self, code: Code, path: &str, expected: &str, item: &Item) {
        let mut diagnostic = Diagnostic::error(
            code,
            format!("`{path}` must be {expected}, found {}", item_kind(item)),
        )
        .with_label(format!("expected {expected}"));
        if let Some(example) = example(path) {
            diagnostic = diagnostic.with_hint(format!("e.g. `{example}`"));
        }
        self.push(diagnostic, item.span());
    }

    /// Report an array element of the wrong type.
    pub(crate) fn wrong_element(&mut self, code: Code, path: &str, expected: &str, value: &Value) {
        self.push(
            Diagnostic::error(
                code,
                format!(
                    "entries of `{path}` must be {expected}, found {}",
                    value_kind(value)
                ),
            )
            .with_label(format!("expected {expected}")),
            value.span(),
        );
    }

    pub(crate) fn str_item<'i>(
        &mut self,
        code: Code,
        path: &str,
        item: &'i Item,
    ) -> Option<&'i str> {
        match item.as_str() {
            Some(s) => Some(s),
            None => {
                self.wrong_type(code, path, "a string", item);
                None
            }
        }
    }

    pub(crate) fn array_item<'i>(
        &mut self,
        code: Code,
        path: &str,
        item: &'i Item,
    ) -> Option<&'i Array> {
        match item.as_array() {
            Some(array) => Some(array),
            None => {
                self.wrong_type(code, path, "an array", item);
                None
            }
        }
    }

    pub(crate) fn table_item<'i>(
        &mut self,
        code: Code,
        path: &str,
        item: &'i Item,
    ) -> Option<&'i dyn TableLike> {
        match item.as_table_like() {
            Some(table) => Some(table),
            None => {
                self.wrong_type(code, path, "a table", item);
                None
            }
        }
    }

    /// An array of strings; wrong elements are reported and skipped.
    pub(crate) fn string_array(
        &mut self,
        code: Code,
        path: &str,
        item: &Item,
    ) -> Vec<Spanned<String>> {
        let Some(array) = self.array_item(code, path, item) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for value in array {
            match value.as_str() {
                Some(s) => out.push(Spanned {
                    value: s.to_owned(),
                    span: self.value_span(value),
                }),
                None => self.wrong_element(code, path, "strings", value),
            }
        }
        out
    }

    /// The span of a value, or an empty span at the start of the file for
    /// values the parser did not place (never the case for parsed documents).
    pub(crate) fn value_span(&self, value: &Value) -> Span {
        self.span(value.span().unwrap_or(0..0))
    }

    /// An array of PEP 508 requirement strings.
    pub(crate) fn requirements(&mut self, path: &str, item: &Item) -> Vec<Spanned<Req>> {
        let Some(array) = self.array_item(Code::ProjectTable, path, item) else {
            return Vec::new();
        };
        array
            .iter()
            .filter_map(|value| self.requirement(path, value))
            .collect()
    }

    /// One requirement string; a bad one is reported with the underline on the bad part.
    pub(crate) fn requirement(&mut self, path: &str, value: &Value) -> Option<Spanned<Req>> {
        let Some(text) = value.as_str() else {
            self.push(
                Diagnostic::error(
                    Code::InvalidRequirement,
                    format!(
                        "entries of `{path}` must be requirement strings, found {}",
                        value_kind(value)
                    ),
                )
                .with_label("expected a requirement string")
                .with_hint(REQUIREMENT_HINT),
                value.span(),
            );
            return None;
        };
        match pybun_pep::parse_requirement(text) {
            Ok(req) => Some(Spanned {
                value: req,
                span: self.value_span(value),
            }),
            Err(err) => {
                let message = first_line(&err.message.to_string());
                let range = self.inner_range(value, err.start, err.len.max(1));
                self.push(
                    Diagnostic::error(
                        Code::InvalidRequirement,
                        format!(
                            "invalid requirement `{text}` in `{path}`: {}",
                            lowercase_first(&message)
                        ),
                    )
                    .with_label(lowercase_first(&message))
                    .with_hint(REQUIREMENT_HINT),
                    range,
                );
                None
            }
        }
    }

    /// Version specifiers (as in `requires-python`), with the underline on the bad clause.
    pub(crate) fn specifiers(
        &mut self,
        path: &str,
        value: &Value,
    ) -> Option<Spanned<VersionSpecifiers>> {
        let text = value.as_str()?;
        match VersionSpecifiers::from_str(text) {
            Ok(specifiers) => Some(Spanned {
                value: specifiers,
                span: self.value_span(value),
            }),
            Err(err) => {
                // Find the bad clause the same way `pep440_rs` splits them.
                let mut start = 0;
                let mut found = None;
                for clause in text.split(',') {
                    if let Err(clause_err) = VersionSpecifier::from_str(clause) {
                        let trimmed_start = start + (clause.len() - clause.trim_start().len());
                        let len = clause.trim().len();
                        found = Some((clause_err.to_string(), trimmed_start, len));
                        break;
                    }
                    start += clause.len() + 1;
                }
                let (message, range) = match found {
                    Some((message, start, len)) => {
                        let range = self.inner_range(value, start, len.max(1));
                        (message, range)
                    }
                    None => (first_line(&err.to_string()), value.span()),
                };
                let message = lowercase_first(&first_line(&message));
                self.push(
                    Diagnostic::error(
                        Code::InvalidSpecifier,
                        format!("invalid version specifier `{text}` in `{path}`: {message}"),
                    )
                    .with_label(message)
                    .with_hint(
                        "use PEP 440 specifiers separated by commas, e.g. `>=3.9` or `>=3.9,<4`",
                    ),
                    range,
                );
                None
            }
        }
    }

    /// The file range of `start..start + len` inside a string value's content.
    ///
    /// Exact for single-line literal strings and for basic strings without
    /// escapes; otherwise the whole string value.
    pub(crate) fn inner_range(
        &self,
        value: &Value,
        start: usize,
        len: usize,
    ) -> Option<Range<usize>> {
        let whole = value.span()?;
        let raw = self.text.get(whole.clone())?;
        let exact = (raw.starts_with('\'') && !raw.starts_with("'''"))
            || (raw.starts_with('"') && !raw.starts_with("\"\"\"") && !raw.contains('\\'));
        if !exact {
            return Some(whole);
        }
        // Content is between the quotes; allow pointing at the closing quote
        // for "unexpected end of input" errors.
        let content_start = whole.start + 1;
        let begin = (content_start + start).min(whole.end - 1);
        let end = (begin + len).min(whole.end);
        Some(begin..end)
    }
}

/// An example of a correct value, for the keys where one helps.
fn example(path: &str) -> Option<&'static str> {
    Some(match path {
        "project" => "[project]",
        "project.name" => "name = \"my-project\"",
        "project.version" => "version = \"0.1.0\"",
        "project.requires-python" => "requires-python = \">=3.9\"",
        "project.dependencies" => "dependencies = [\"requests>=2.31\"]",
        "project.optional-dependencies" => "optional-dependencies = { cli = [\"click\"] }",
        "project.dynamic" => "dynamic = [\"version\"]",
        "project.keywords"
        | "project.classifiers"
        | "project.license-files"
        | "project.import-names"
        | "project.import-namespaces" => "[\"first\", \"second\"]",
        "project.readme" => "readme = \"README.md\"",
        "project.license" => "license = \"MIT\"",
        "project.authors" | "project.maintainers" => {
            "authors = [{ name = \"Ada Lovelace\", email = \"ada@example.com\" }]"
        }
        "project.urls" => "urls = { Homepage = \"https://example.com\" }",
        "project.scripts" | "project.gui-scripts" => {
            "scripts = { my-tool = \"my_project.cli:main\" }"
        }
        "build-system" => "[build-system]",
        "build-system.requires" => "requires = [\"hatchling\"]",
        "build-system.build-backend" => "build-backend = \"hatchling.build\"",
        "dependency-groups" => "[dependency-groups]",
        "tool.pybun" => "[tool.pybun]",
        "tool.pybun.lockfile" => "lockfile = \"text\"",
        "tool.pybun.index-url" => "index-url = \"https://pypi.org/simple\"",
        "tool.pybun.extra-index-urls" => "extra-index-urls = [\"https://example.com/simple\"]",
        "tool.pybun.dev-dependencies" => "dev-dependencies = [\"pytest\"]",
        _ if path.starts_with("dependency-groups.") => {
            "dev = [\"pytest\", { include-group = \"lint\" }]"
        }
        _ if path.starts_with("project.optional-dependencies.") => "cli = [\"click>=8\"]",
        _ if path.starts_with("project.entry-points.") => "my-plugin = \"my_project.plugins:main\"",
        _ => return None,
    })
}

pub(crate) fn item_kind(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(value) => value_kind(value),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

pub(crate) fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "a table",
    }
}

fn first_line(message: &str) -> String {
    message
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_owned()
}

/// `Expected x` → `expected x`, but leave `URL ...` alone.
fn lowercase_first(message: &str) -> String {
    let mut chars = message.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => first
            .to_lowercase()
            .chain(message[first.len_utf8()..].chars())
            .collect(),
        _ => message.to_owned(),
    }
}

/// The closest of `candidates` to `key`, if close enough to be a likely typo.
pub(crate) fn suggest<'c>(key: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let normalized = key.to_ascii_lowercase().replace('_', "-");
    let mut best: Option<(usize, &str)> = None;
    for &candidate in candidates {
        if candidate == normalized {
            return Some(candidate);
        }
        let distance = strsim::damerau_levenshtein(&normalized, candidate);
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    let (distance, candidate) = best?;
    let limit = (candidate.len() / 3).clamp(1, 3);
    (distance <= limit).then_some(candidate)
}

/// PEP 503 / PEP 735 name normalization: lowercase, runs of `-_.` become `-`.
pub(crate) fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}

/// The hint for a name that is not valid.
pub(crate) const NAME_HINT: &str = "names contain only ASCII letters, digits, `-`, `_` and `.`, and start and end with a letter or digit";
