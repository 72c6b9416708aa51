//! PEP 723 inline script metadata: the `# /// script` block of a `.py` file.
//!
//! Blocks are found line by line, following the specification's reference
//! regular expression
//! `(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$`:
//!
//! - a block opens with the line `# /// TYPE` (`TYPE` is ASCII letters, digits
//!   and `-`), at the start of a line;
//! - every following line that is `#` or starts with `# ` is a content line;
//!   the run of content lines ends at the first other line (or the end of the
//!   file);
//! - the block closes at the *last* `# ///` line of that run (the
//!   specification gives an ending line precedence only when the next line is
//!   not a content line); the content is the lines in between with the `# ` (or
//!   `#`) prefix taken away;
//! - `\r\n` line endings are accepted (Python reads source files with
//!   universal newlines).
//!
//! Only `script` blocks are read; blocks of other types are skipped. Spans in
//! the result and in diagnostics point into the original `.py` text.

use std::ops::Range;

use pybun_diagnostics::{Code, Diagnostic, Span};
use pybun_pep::{Req, VersionSpecifiers};
use toml_edit::Item;

use crate::Spanned;
use crate::cx::{Cx, suggest};

/// What PyBun reads from a script's `# /// script` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScriptMetadata {
    /// `dependencies`: PEP 508 requirements (invalid ones are left out).
    pub dependencies: Vec<Spanned<Req>>,
    /// `requires-python`.
    pub requires_python: Option<Spanned<VersionSpecifiers>>,
    /// `[tool.pybun]`.
    pub tool_pybun: ScriptTool,
    /// The 1-based line of the opening `# /// script`.
    pub block_start_line: usize,
}

/// The `[tool.pybun]` settings a script may carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScriptTool {
    /// `index-url`: replaces the default index (PyPI).
    pub index_url: Option<String>,
    /// `extra-index-urls`: searched after `index-url`, in order.
    pub extra_index_urls: Vec<String>,
}

/// The result of [`parse_script`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedScript {
    /// `None` when the script has no (usable) `script` block: none at all, an
    /// unclosed one, or one whose content is not valid TOML.
    pub metadata: Option<ScriptMetadata>,
    /// Every problem found, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl ParsedScript {
    /// Whether any diagnostic is an error (warnings do not count).
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The top-level keys of a `script` block.
const SCRIPT_KEYS: &[&str] = &["dependencies", "requires-python", "tool"];

/// One line of the source: its text without the line ending, and where it starts.
struct Line<'a> {
    text: &'a str,
    start: usize,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for raw in text.split_inclusive('\n') {
        let body = raw.strip_suffix('\n').unwrap_or(raw);
        let body = body.strip_suffix('\r').unwrap_or(body);
        out.push(Line { text: body, start });
        start += raw.len();
    }
    out
}

/// `# /// TYPE` → `TYPE`.
fn opening_type(line: &str) -> Option<&str> {
    let kind = line.strip_prefix("# /// ")?;
    (!kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then_some(kind)
}

fn is_content_line(line: &str) -> bool {
    line == "#" || line.starts_with("# ")
}

/// A closed block: its type, the index of its opening line and the indices
/// of its content lines.
struct Block<'a> {
    kind: &'a str,
    open: usize,
    content: Range<usize>,
}

/// Read the PEP 723 `script` block of the Python source `text`; `file` is the
/// path to show in diagnostics.
///
/// Never fails: problems are returned as diagnostics (`PB0112` for the block
/// structure, `PB0101` for the TOML, `PB0103`/`PB0104` for requirements and
/// `requires-python`, `PB0107` warnings for unknown keys, `PB0110` for
/// `[tool.pybun]`).
#[must_use]
pub fn parse_script(text: &str, file: &str) -> ParsedScript {
    let mut cx = Cx::new(text, file);
    let lines = lines(text);
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(kind) = opening_type(lines[i].text) else {
            i += 1;
            continue;
        };
        let run_end = (i + 1..lines.len())
            .find(|&j| !is_content_line(lines[j].text))
            .unwrap_or(lines.len());
        let close = (i + 1..run_end).rev().find(|&j| lines[j].text == "# ///");
        match close {
            Some(close) => {
                blocks.push(Block {
                    kind,
                    open: i,
                    content: i + 1..close,
                });
                i = close + 1;
            }
            None => {
                if kind == "script" {
                    let open_line = i + 1;
                    let opening = lines[i].start..lines[i].start + lines[i].text.len();
                    match lines.get(run_end) {
                        Some(line) => {
                            let found = if line.text.is_empty() {
                                "an empty line".to_owned()
                            } else {
                                format!("`{}`", line.text.chars().take(40).collect::<String>())
                            };
                            cx.push(
                                Diagnostic::error(
                                    Code::ScriptMetadata,
                                    format!(
                                        "line {} ends the `script` metadata block opened at line {open_line} before its closing `# ///`",
                                        run_end + 1
                                    ),
                                )
                                .with_label("not a metadata comment line")
                                .with_hint(format!(
                                    "every line of the block must be `#` or start with `# `; found {found}"
                                ))
                                .with_hint("end the block with a line `# ///`"),
                                Some(line.start..line.start + line.text.len().max(1)),
                            );
                        }
                        None => cx.push(
                            Diagnostic::error(
                                Code::ScriptMetadata,
                                format!(
                                    "the `script` metadata block opened at line {open_line} is not closed before the end of the file"
                                ),
                            )
                            .with_label("opened here")
                            .with_hint("end the block with a line `# ///`"),
                            Some(opening),
                        ),
                    }
                }
                i = run_end.max(i + 1);
            }
        }
    }

    let mut scripts = blocks.into_iter().filter(|b| b.kind == "script");
    let first = scripts.next();
    for extra in scripts {
        let line = &lines[extra.open];
        let first_line = first.as_ref().map_or(0, |b| b.open + 1);
        cx.push(
            Diagnostic::error(
                Code::ScriptMetadata,
                format!(
                    "a second `script` metadata block at line {}; the first is at line {first_line}",
                    extra.open + 1
                ),
            )
            .with_label("second `script` block")
            .with_hint("PEP 723 allows one `script` block per file; merge them"),
            Some(line.start..line.start + line.text.len()),
        );
    }

    let metadata = first.and_then(|block| read_block(&mut cx, &lines, &block));
    let mut diagnostics = cx.diagnostics;
    diagnostics.sort_by_key(|d| {
        d.location
            .as_ref()
            .and_then(|l| l.span)
            .map(|s| (s.start, s.end))
    });
    ParsedScript {
        metadata,
        diagnostics,
    }
}

/// Maps byte offsets of the extracted TOML back to the original source.
struct SourceMap {
    /// Per content line: (offset in the TOML, offset in the source, length).
    lines: Vec<(usize, usize, usize)>,
}

impl SourceMap {
    fn map(&self, offset: usize) -> usize {
        let index = self
            .lines
            .partition_point(|&(toml_start, _, _)| toml_start <= offset)
            .saturating_sub(1);
        match self.lines.get(index) {
            // Past the line's text means its `\n`: the end of the source line.
            Some(&(toml_start, source_start, len)) => source_start + (offset - toml_start).min(len),
            None => 0,
        }
    }

    fn span(&self, source: &str, span: Span) -> Span {
        Span::in_source(source, self.map(span.start), self.map(span.end))
    }
}

fn read_block(cx: &mut Cx<'_>, lines: &[Line<'_>], block: &Block<'_>) -> Option<ScriptMetadata> {
    let mut toml = String::new();
    let mut map = SourceMap { lines: Vec::new() };
    for line in &lines[block.content.clone()] {
        let prefix = if line.text == "#" { 1 } else { 2 };
        let body = &line.text[prefix..];
        map.lines
            .push((toml.len(), line.start + prefix, body.len()));
        toml.push_str(body);
        toml.push('\n');
    }
    if map.lines.is_empty() {
        // An empty block: map everything to the end of the opening line.
        let open = &lines[block.open];
        map.lines.push((0, open.start + open.text.len(), 0));
    }

    // Validate against the extracted TOML, then move every span to the source.
    let mut inner = Cx::new(&toml, cx.file);
    let metadata = read_toml(&mut inner, &toml, block.open + 1);
    let source = cx.text;
    let remap = |span: Span| map.span(source, span);
    for mut diagnostic in inner.diagnostics {
        if let Some(location) = diagnostic.location.as_mut()
            && let Some(span) = location.span.as_mut()
        {
            *span = remap(*span);
        }
        cx.diagnostics.push(diagnostic);
    }
    let mut metadata = metadata?;
    for dependency in &mut metadata.dependencies {
        dependency.span = remap(dependency.span);
    }
    if let Some(requires_python) = metadata.requires_python.as_mut() {
        requires_python.span = remap(requires_python.span);
    }
    Some(metadata)
}

/// Record a TOML syntax error as `PB0101` (spans in `cx`'s text).
pub(crate) fn push_toml_error(cx: &mut Cx<'_>, error: &crate::recover::SyntaxError) {
    let message = error.message.as_str();
    cx.push(
        Diagnostic::error(Code::TomlSyntax, format!("invalid TOML: {message}"))
            .with_label(message.to_owned()),
        error.range.clone(),
    );
}

fn read_toml(cx: &mut Cx<'_>, toml: &str, block_start_line: usize) -> Option<ScriptMetadata> {
    // Every syntax error; the recoverable rest is still checked, but a block
    // with syntax errors gives no metadata.
    let recovered = crate::recover::parse_recovering(toml);
    for error in &recovered.errors {
        push_toml_error(cx, error);
    }
    let syntax_errors = !recovered.errors.is_empty();
    cx.recovering = syntax_errors;
    let document = recovered.document?;
    let root = document.as_table();
    let mut metadata = ScriptMetadata {
        block_start_line,
        ..ScriptMetadata::default()
    };
    for (key, item) in root.iter() {
        match key {
            "dependencies" => metadata.dependencies = cx.requirements("dependencies", item),
            "requires-python" => {
                if let Some(value) = item.as_value().filter(|v| v.is_str()) {
                    metadata.requires_python = cx.specifiers("requires-python", value);
                } else {
                    cx.wrong_type(Code::InvalidSpecifier, "requires-python", "a string", item);
                }
            }
            "tool" => {
                if let Some(tool) = cx.table_item(Code::ToolSettings, "tool", item)
                    && let Some(pybun) = tool.get("pybun")
                {
                    metadata.tool_pybun = read_tool(cx, pybun);
                }
            }
            _ => {
                let mut diagnostic = Diagnostic::warning(
                    Code::UnknownKey,
                    format!("unknown key `{key}` in the `script` metadata block"),
                );
                if let Some(suggestion) = suggest(key, SCRIPT_KEYS) {
                    diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
                }
                diagnostic = diagnostic
                    .with_hint("PEP 723 defines `dependencies`, `requires-python` and `[tool]`");
                let range = root
                    .key(key)
                    .and_then(toml_edit::Key::span)
                    .or_else(|| item.span());
                cx.push(diagnostic, range);
            }
        }
    }
    (!syntax_errors).then_some(metadata)
}

/// `[tool.pybun]` in a script: validated like the project's, but only the
/// index settings apply; other known keys get a warning.
fn read_tool(cx: &mut Cx<'_>, item: &Item) -> ScriptTool {
    let tool = crate::tool::read(cx, item);
    if let Some(table) = item.as_table_like() {
        for key in ["lockfile", "dev-dependencies"] {
            if table.contains_key(key) {
                cx.push(
                    Diagnostic::warning(
                        Code::ToolSettings,
                        format!("`tool.pybun.{key}` has no effect in a script"),
                    )
                    .with_hint("a script reads only `index-url` and `extra-index-urls` from `[tool.pybun]`"),
                    table.key(key).and_then(toml_edit::Key::span),
                );
            }
        }
    }
    ScriptTool {
        index_url: tool.index_url,
        extra_index_urls: tool.extra_index_urls,
    }
}

/// A canonical text of what determines a script's environment, for the caller
/// to hash into the key of a cached environment.
///
/// Requirements are normalized (PEP 508 display form), sorted and
/// deduplicated, so formatting, order and spans do not change the result;
/// index URLs keep their order (it matters).
#[must_use]
pub fn script_fingerprint_input(metadata: &ScriptMetadata) -> String {
    let mut requirements: Vec<String> = metadata
        .dependencies
        .iter()
        .map(|r| r.value.to_string())
        .collect();
    requirements.sort();
    requirements.dedup();
    let mut out = String::from("pybun-script-v1\n");
    if let Some(requires_python) = &metadata.requires_python {
        out.push_str(&format!("requires-python {}\n", requires_python.value));
    }
    if let Some(url) = &metadata.tool_pybun.index_url {
        out.push_str(&format!("index-url {url}\n"));
    }
    for url in &metadata.tool_pybun.extra_index_urls {
        out.push_str(&format!("extra-index-url {url}\n"));
    }
    for requirement in requirements {
        out.push_str(&format!("dependency {requirement}\n"));
    }
    out
}
