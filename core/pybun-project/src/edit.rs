//! Adding and removing requirements in the text of a `pyproject.toml`
//! (`pybun add` / `pybun remove`), keeping comments, formatting, key order and
//! quoting style. Pure functions: the caller reads and writes the file.
//!
//! # Layout rules
//!
//! Adding to an existing array:
//! - a multi-line array (any newline between `[` and `]`) gets the new entry
//!   on its own line, indented like the last indented entry (4 spaces when
//!   there is none), after the entry before it and any comment on that entry's
//!   line; whether the array ends with a comma is kept;
//! - a single-line array stays single-line (`["a", "b"]` → `["a", "b", "c"]`);
//! - an entry with the same normalized name and the same marker is replaced in
//!   place, keeping its position, the comments around it and its quotes.
//!
//! Missing arrays are created as uv does,
//! `dependencies = [` newline, the entry indented 4 spaces with a trailing
//! comma, `]` (single-line `["..."]` inside an inline table), and missing
//! tables (`[project.optional-dependencies]`, `[dependency-groups]`) as
//! standard tables (the latter at the end of the file).
//!
//! # Removal and the round-trip rule
//!
//! [`remove_requirement`] is the exact inverse of [`add_requirement`] for a
//! name that was not already present: `remove(add(x, "foo>=1", t), "foo", t)
//! == x` byte for byte. Removing an entry gives the text between the entry
//! before it and the next one back (a comment on the removed entry's own
//! lines goes with it; a comment on the previous entry's line stays). When an
//! array becomes empty:
//! - if it has exactly the layout `add_requirement` gives a *created* array
//!   (multi-line: one entry indented 4 spaces with a trailing comma, no
//!   comments, default spacing around the key; in an inline table: `["..."]`),
//!   its key is deleted, and then, if `[project.optional-dependencies]` or
//!   `[dependency-groups]` is left empty with no comments around its header,
//!   that table is deleted too (an inline `{ ... }` one only when `[project]`
//!   itself is inline, the only case where `add_requirement` creates one);
//! - otherwise the empty array is kept (`[]`, or `[` newline `]`).
//!
//! So a user-written `dependencies = [\n    "requests",\n]` loses the
//! `dependencies` key when `requests` is removed (which means the same), and a
//! pre-existing empty `[dependency-groups]` header with nothing in it does not
//! survive an add and remove of a new group. Adding to an existing empty
//! multi-line array writes no trailing comma, so that it comes back as it was.
//!
//! Files with CRLF line endings everywhere are edited as LF and converted back,
//! so new lines get CRLF too.
//!
//! Diagnostics point into `pyproject.toml` (the caller may change
//! `location.file`).

#![allow(
    clippy::result_large_err,
    reason = "a `Diagnostic` is the error of every edit, returned once per command"
)]

use std::borrow::Cow;
use std::ops::Range;
use std::str::FromStr;

use pybun_diagnostics::{Code, Diagnostic, Span};
use pybun_pep::{PackageName, Req};
use toml_edit::{Array, DocumentMut, InlineTable, Item, RawString, Table, TableLike, Value};

use crate::cx::{NAME_HINT, item_kind, normalize_name};

/// The file name diagnostics point into.
const FILE: &str = "pyproject.toml";

/// The indentation of entries in arrays PyBun creates.
const INDENT: &str = "    ";

/// The hint shown with an invalid requirement.
const REQUIREMENT_HINT: &str =
    "requirements follow PEP 508, e.g. `requests>=2.31` or `pywin32; sys_platform == \"win32\"`";

/// Which dependency list to edit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DependencyTarget {
    /// `[project] dependencies`.
    Main,
    /// `[project.optional-dependencies] EXTRA`.
    Optional(String),
    /// `[dependency-groups] NAME` (PEP 735); `--dev` is the group `dev`.
    Group(String),
}

impl DependencyTarget {
    /// The group `dev` (`--dev`).
    #[must_use]
    pub fn dev() -> Self {
        Self::Group("dev".to_owned())
    }

    /// Where the list is, for messages, e.g. ``dependency group `dev` ``.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Main => "`[project] dependencies`".to_owned(),
            Self::Optional(extra) => format!("extra `{extra}` (`[project.optional-dependencies]`)"),
            Self::Group(group) => format!("dependency group `{group}` (`[dependency-groups]`)"),
        }
    }
}

/// The result of an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The new text of the file.
    pub text: String,
    /// [`add_requirement`]: the entry (as written before) that the new one
    /// replaced, when one with the same normalized name and marker was there.
    pub replaced: Option<String>,
    /// [`remove_requirement`]: the entries removed, as written, in file order.
    pub removed: Vec<String>,
}

/// Add `requirement` (PEP 508) to `target`, or replace the entry with the
/// same normalized name and marker in place. See the module documentation for
/// the layout rules.
///
/// The requirement is written normalized as uv does (`requests >= 2.31` →
/// `requests>=2.31`), keeping the user's spelling of the name.
///
/// # Errors
/// - `PB0103` when `requirement` is not valid PEP 508;
/// - `PB0105` when the extra or group name is not valid;
/// - `PB0101` when `text` is not valid TOML;
/// - `PB0102` when `[project]` is missing (for [`DependencyTarget::Main`] and
///   [`DependencyTarget::Optional`]) or a table or list on the way has the
///   wrong type;
/// - `PB0108` when adding to `[project] dependencies` that are `dynamic`.
pub fn add_requirement(
    text: &str,
    requirement: &str,
    target: DependencyTarget,
) -> Result<Edit, Diagnostic> {
    let (req, formatted) = normalize_requirement(requirement)?;
    let target = validate_target(target)?;
    let source = Source::new(text);
    let mut document = source.parse()?;
    let slot = locate(&source, &mut document, &target, true)?;
    let Slot::Found { array, inline } = slot else {
        unreachable!("locate creates the list when asked to");
    };
    let existing = array.iter().position(|value| same_requirement(value, &req));
    let replaced = match existing {
        Some(index) => {
            let old = array.get(index).and_then(Value::as_str).map(str::to_owned);
            let decor = array
                .get(index)
                .map(|v| v.decor().clone())
                .unwrap_or_default();
            let literal = array.get(index).is_some_and(is_literal);
            let mut value = string_value(&formatted, literal);
            *value.decor_mut() = decor;
            array.replace_formatted(index, value);
            old
        }
        None => {
            let literal = array
                .iter()
                .filter(|v| v.is_str())
                .last()
                .is_some_and(is_literal);
            append(array, string_value(&formatted, literal), inline);
            None
        }
    };
    Ok(Edit {
        text: source.finish(document.to_string()),
        replaced,
        removed: Vec::new(),
    })
}

/// Remove every entry of `target` (main dependencies when `None`) whose
/// normalized name is `name`, whatever its version or marker. The exact
/// inverse of [`add_requirement`]; see the module documentation.
///
/// # Errors
/// - `PB0111` when no entry matched: the message says where PyBun looked, the
///   hints list the names there ("did you mean") and other lists that have it;
/// - `PB0105` when `name` or the extra or group name is not valid;
/// - `PB0101` when `text` is not valid TOML;
/// - `PB0102` when `[project]` is missing or has the wrong type.
pub fn remove_requirement(
    text: &str,
    name: &str,
    target: Option<DependencyTarget>,
) -> Result<Edit, Diagnostic> {
    let package = PackageName::from_str(name.trim())
        .ok()
        .filter(|_| !name.trim().is_empty())
        .ok_or_else(|| {
            Diagnostic::error(
                Code::InvalidName,
                format!("`{name}` is not a valid package name"),
            )
            .with_hint(NAME_HINT)
        })?;
    let target = validate_target(target.unwrap_or(DependencyTarget::Main))?;
    let source = Source::new(text);
    let mut document = source.parse()?;
    let not_found = |present: Vec<String>, document: &DocumentMut| {
        not_found(name, &package, &target, &present, document)
    };
    let (array, inline) = match locate(&source, &mut document, &target, false)? {
        Slot::Found { array, inline } => (array, inline),
        Slot::Missing => {
            let document = source.parse()?;
            return Err(not_found(Vec::new(), &document)
                .with_cause(format!("`pyproject.toml` has no {}", target.describe())));
        }
    };
    let matches: Vec<usize> = array
        .iter()
        .enumerate()
        .filter(|(_, value)| entry_name(value).is_some_and(|n| n == package))
        .map(|(index, _)| index)
        .collect();
    if matches.is_empty() {
        let present: Vec<String> = array
            .iter()
            .filter_map(|v| entry_name(v).map(|_| v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let document = source.parse()?;
        let empty = present.is_empty();
        let mut diagnostic = not_found(present, &document);
        if empty {
            diagnostic = diagnostic.with_cause("it has no entries");
        }
        return Err(diagnostic);
    }
    let created = array.len() == 1 && has_created_layout(array, inline);
    let removed = matches
        .iter()
        .filter_map(|&i| array.get(i).and_then(Value::as_str).map(str::to_owned))
        .collect();
    for &index in matches.iter().rev() {
        remove_at(array, index);
    }
    if created && array.is_empty() {
        delete_created(&mut document, &target);
    }
    Ok(Edit {
        text: source.finish(document.to_string()),
        replaced: None,
        removed,
    })
}

/// Parse and validate a requirement; returns it and its normalized spelling.
fn normalize_requirement(input: &str) -> Result<(Req, String), Diagnostic> {
    let trimmed = input.trim();
    let req = pybun_pep::parse_requirement(trimmed).map_err(|err| {
        let rendered = err.to_string();
        let mut lines = rendered.lines();
        let message = lines.next().unwrap_or("invalid").trim_end_matches('.');
        let mut diagnostic = Diagnostic::error(
            Code::InvalidRequirement,
            format!(
                "invalid requirement `{trimmed}`: {}",
                lowercase_first(message)
            ),
        )
        .with_label(lowercase_first(message));
        for line in lines {
            diagnostic = diagnostic.with_cause(line.to_owned());
        }
        diagnostic.with_hint(REQUIREMENT_HINT)
    })?;
    let display = req.to_string();
    let normalized = req.name.to_string();
    // Keep the user's spelling of the name (`Django`, `zope.interface`).
    let written: String = trimmed
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let formatted = match display.strip_prefix(&normalized) {
        Some(rest) if normalize_name(&written) == normalized => format!("{written}{rest}"),
        _ => display,
    };
    Ok((req, formatted))
}

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

/// Check the extra or group name and normalize it.
fn validate_target(target: DependencyTarget) -> Result<DependencyTarget, Diagnostic> {
    let check = |kind: &str, name: &str| {
        if !name.is_empty() && PackageName::from_str(name).is_ok() {
            Ok(normalize_name(name))
        } else {
            Err(Diagnostic::error(
                Code::InvalidName,
                format!("`{name}` is not a valid {kind} name"),
            )
            .with_hint(NAME_HINT))
        }
    };
    Ok(match target {
        DependencyTarget::Main => DependencyTarget::Main,
        DependencyTarget::Optional(extra) => DependencyTarget::Optional(check("extra", &extra)?),
        DependencyTarget::Group(group) => DependencyTarget::Group(check("group", &group)?),
    })
}

/// The text, converted to LF line endings when it uses CRLF everywhere.
struct Source<'a> {
    original: &'a str,
    lf: Cow<'a, str>,
    crlf: bool,
}

impl<'a> Source<'a> {
    fn new(original: &'a str) -> Self {
        let crlf = original.contains("\r\n") && !original.replace("\r\n", "").contains('\n');
        let lf = if crlf {
            Cow::Owned(original.replace("\r\n", "\n"))
        } else {
            Cow::Borrowed(original)
        };
        Self { original, lf, crlf }
    }

    fn parse(&self) -> Result<DocumentMut, Diagnostic> {
        // First the panic-safe parse (`toml_edit` panics on some invalid texts).
        if let Err(error) = crate::recover::parse_document(&self.lf) {
            let message = error.message;
            let diagnostic = Diagnostic::error(Code::TomlSyntax, format!("invalid TOML: {message}"))
                .with_label(message)
                .with_hint("fix the file first; `pybun` edits only valid TOML");
            return Err(match error.range {
                Some(range) => diagnostic.at(FILE, self.span(range)),
                None => diagnostic.in_file(FILE),
            });
        }
        self.lf.parse::<DocumentMut>().map_err(|err| {
            let message = err
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .trim_end_matches('.')
                .to_owned();
            let diagnostic =
                Diagnostic::error(Code::TomlSyntax, format!("invalid TOML: {message}"))
                    .with_label(message)
                    .with_hint("fix the file first; `pybun` edits only valid TOML");
            match err.span() {
                Some(range) => diagnostic.at(FILE, self.span(range)),
                None => diagnostic.in_file(FILE),
            }
        })
    }

    /// A span in the original text from a range in the LF text.
    fn span(&self, range: Range<usize>) -> Span {
        let map = |offset: usize| {
            if self.crlf {
                offset + self.lf[..offset.min(self.lf.len())].matches('\n').count()
            } else {
                offset
            }
        };
        Span::in_source(self.original, map(range.start), map(range.end))
    }

    /// The span of the value at `path` (keys from the root), if any.
    fn span_of(&self, path: &[&str]) -> Option<Span> {
        let document = crate::recover::parse_document(&self.lf).ok()?;
        let mut item = document.as_item();
        for key in path {
            item = item.as_table_like()?.get(key)?;
        }
        item.span().map(|range| self.span(range))
    }

    fn finish(&self, mut text: String) -> String {
        // `toml_edit` ends the last line; keep a missing final newline missing.
        if !self.lf.is_empty() && !self.lf.ends_with('\n') && text.ends_with('\n') {
            text.pop();
        }
        if self.crlf {
            text.replace('\n', "\r\n")
        } else {
            text
        }
    }
}

enum Slot<'d> {
    Found { array: &'d mut Array, inline: bool },
    Missing,
}

/// Find the array of `target`, creating it (and the tables on the way) when
/// `create` is set.
fn locate<'d>(
    source: &Source<'_>,
    document: &'d mut DocumentMut,
    target: &DependencyTarget,
    create: bool,
) -> Result<Slot<'d>, Diagnostic> {
    let wrong_type = |path: &[&str], expected: &str, found: &str| {
        let dotted = path.join(".");
        let diagnostic = Diagnostic::error(
            Code::ProjectTable,
            format!("`{dotted}` must be {expected}, found {found}"),
        )
        .with_label(format!("expected {expected}"));
        match source.span_of(path) {
            Some(span) => diagnostic.at(FILE, span),
            None => diagnostic.in_file(FILE),
        }
    };
    let next_position = max_position(document.as_table()) + 1;
    let root = document.as_table_mut();
    let (container, key, path, inline): (&mut dyn TableLike, &str, Vec<&str>, bool) = match target {
        DependencyTarget::Main | DependencyTarget::Optional(_) => {
            let Some(project) = root.get_mut("project") else {
                return Err(Diagnostic::error(
                    Code::ProjectTable,
                    "`pyproject.toml` has no `[project]` table",
                )
                .in_file(FILE)
                .with_hint("dependencies and extras live in `[project]`; add `[project]` with `name` and `version` (or run `pybun init`)")
                .with_hint("dependency groups (`--group`, `--dev`) work without `[project]`"));
            };
            let found = item_kind(project);
            let project_inline = project.is_inline_table();
            let Some(project) = project.as_table_like_mut() else {
                return Err(wrong_type(&["project"], "a table", found));
            };
            match target {
                DependencyTarget::Optional(extra) => {
                    if !project.contains_key("optional-dependencies") {
                        if !create {
                            return Ok(Slot::Missing);
                        }
                        let item = if project_inline {
                            Item::Value(Value::InlineTable(InlineTable::new()))
                        } else {
                            Item::Table(Table::new())
                        };
                        project.insert("optional-dependencies", item);
                    }
                    let extras = project
                        .get_mut("optional-dependencies")
                        .expect("present or just inserted");
                    let found = item_kind(extras);
                    let inline = extras.is_inline_table();
                    let Some(extras) = extras.as_table_like_mut() else {
                        return Err(wrong_type(
                            &["project", "optional-dependencies"],
                            "a table",
                            found,
                        ));
                    };
                    let key = existing_key(extras, extra).unwrap_or(extra.as_str());
                    let key = key.to_owned();
                    return finish_locate(
                        extras,
                        key,
                        vec!["project".to_owned(), "optional-dependencies".to_owned()],
                        inline,
                        create,
                        &wrong_type,
                    );
                }
                _ => {
                    if create
                        && let Some(dynamic) = project.get("dynamic").and_then(Item::as_array)
                        && dynamic.iter().any(|v| v.as_str() == Some("dependencies"))
                    {
                        let diagnostic = Diagnostic::error(
                            Code::DynamicMisuse,
                            "`[project] dependencies` are `dynamic`: the build backend sets them",
                        )
                        .with_hint("remove `\"dependencies\"` from `dynamic` to list them in `pyproject.toml`, or add to a dependency group");
                        return Err(match source.span_of(&["project", "dynamic"]) {
                            Some(span) => diagnostic.at(FILE, span),
                            None => diagnostic.in_file(FILE),
                        });
                    }
                    (project, "dependencies", vec!["project"], project_inline)
                }
            }
        }
        DependencyTarget::Group(group) => {
            if !root.contains_key("dependency-groups") {
                if !create {
                    return Ok(Slot::Missing);
                }
                let mut table = Table::new();
                table.set_position(next_position);
                root.insert("dependency-groups", Item::Table(table));
            }
            let groups = root
                .get_mut("dependency-groups")
                .expect("present or just inserted");
            let found = item_kind(groups);
            let inline = groups.is_inline_table();
            let Some(groups) = groups.as_table_like_mut() else {
                return Err(wrong_type(&["dependency-groups"], "a table", found));
            };
            let key = existing_key(groups, group)
                .unwrap_or(group.as_str())
                .to_owned();
            return finish_locate(
                groups,
                key,
                vec!["dependency-groups".to_owned()],
                inline,
                create,
                &wrong_type,
            );
        }
    };
    let key = key.to_owned();
    let path = path.into_iter().map(str::to_owned).collect();
    finish_locate(container, key, path, inline, create, &wrong_type)
}

fn finish_locate<'d>(
    container: &'d mut dyn TableLike,
    key: String,
    path: Vec<String>,
    inline: bool,
    create: bool,
    wrong_type: &dyn Fn(&[&str], &str, &str) -> Diagnostic,
) -> Result<Slot<'d>, Diagnostic> {
    if !container.contains_key(&key) {
        if !create {
            return Ok(Slot::Missing);
        }
        let mut array = created_array(inline);
        if inline {
            // The space before `}` moves to the new last value.
            let suffix = container
                .iter_mut()
                .last()
                .and_then(|(_, item)| item.as_value_mut())
                .map(|value| {
                    let suffix = raw(value.decor().suffix(), " ");
                    value.decor_mut().set_suffix("");
                    suffix
                });
            array.decor_mut().set_prefix(" ");
            array
                .decor_mut()
                .set_suffix(suffix.unwrap_or_else(|| " ".to_owned()));
        }
        container.insert(&key, Item::Value(Value::Array(array)));
    }
    let item = container.get_mut(&key).expect("present or just inserted");
    let found = item_kind(item);
    match item.as_array_mut() {
        Some(array) => Ok(Slot::Found { array, inline }),
        None => {
            let mut full: Vec<&str> = path.iter().map(String::as_str).collect();
            full.push(&key);
            Err(wrong_type(&full, "an array", found))
        }
    }
}

/// The key of `table` whose normalized name is `normalized`.
fn existing_key<'t>(table: &'t dyn TableLike, normalized: &str) -> Option<&'t str> {
    table
        .iter()
        .map(|(key, _)| key)
        .find(|key| normalize_name(key) == normalized)
}

/// The largest table position in the document.
fn max_position(table: &Table) -> isize {
    let mut max = table.position().unwrap_or(0);
    for (_, item) in table.iter() {
        match item {
            Item::Table(sub) => max = max.max(max_position(sub)),
            Item::ArrayOfTables(array) => {
                for sub in array.iter() {
                    max = max.max(max_position(sub));
                }
            }
            _ => {}
        }
    }
    max
}

/// An empty array in the layout of a created one (see [`append`]).
fn created_array(inline: bool) -> Array {
    let mut array = Array::new();
    if !inline {
        array.set_trailing("\n");
        array.set_trailing_comma(true);
    }
    array
}

/// Whether `array` (with one entry) has the layout of a created array.
fn has_created_layout(array: &Array, inline: bool) -> bool {
    let Some(value) = array.get(0) else {
        return false;
    };
    let decor_is = |decor: &toml_edit::Decor, prefix: &str, suffix: &str| {
        raw(decor.prefix(), prefix) == prefix && raw(decor.suffix(), suffix) == suffix
    };
    if inline {
        decor_is(value.decor(), "", "")
            && !array.trailing_comma()
            && raw(Some(array.trailing()), "").is_empty()
            && raw(array.decor().prefix(), " ") == " "
    } else {
        decor_is(value.decor(), "\n    ", "")
            && array.trailing_comma()
            && raw(Some(array.trailing()), "") == "\n"
            && decor_is(array.decor(), " ", "")
    }
}

/// Delete the emptied, created array of `target` and then its table when that
/// is empty and was created too.
fn delete_created(document: &mut DocumentMut, target: &DependencyTarget) {
    let root = document.as_table_mut();
    match target {
        DependencyTarget::Main => {
            if let Some(project) = root.get_mut("project") {
                remove_key(project, "dependencies");
            }
        }
        DependencyTarget::Optional(extra) => {
            let Some(project) = root.get_mut("project") else {
                return;
            };
            let project_inline = project.is_inline_table();
            let Some(project) = project.as_table_like_mut() else {
                return;
            };
            let Some(extras) = project.get_mut("optional-dependencies") else {
                return;
            };
            if let Some(key) = extras
                .as_table_like()
                .and_then(|t| existing_key(t, extra))
                .map(str::to_owned)
                && remove_key(extras, &key)
            {
                remove_empty_table(project, "optional-dependencies", project_inline);
            }
        }
        DependencyTarget::Group(group) => {
            let Some(groups) = root.get_mut("dependency-groups") else {
                return;
            };
            if let Some(key) = groups
                .as_table_like()
                .and_then(|t| existing_key(t, group))
                .map(str::to_owned)
                && remove_key(groups, &key)
            {
                remove_empty_table(root, "dependency-groups", false);
            }
        }
    }
}

/// Remove `key` of the table `item` when no comment or blank line is
/// attached to it; whether it was removed.
fn remove_key(item: &mut Item, key: &str) -> bool {
    let inline = item.is_inline_table();
    let Some(table) = item.as_table_like_mut() else {
        return false;
    };
    let (prefix, suffix) = if inline { (" ", " ") } else { ("", " ") };
    let plain = table.key(key).is_some_and(|k| {
        let decor = k.leaf_decor();
        raw(decor.prefix(), prefix) == prefix && raw(decor.suffix(), suffix) == suffix
    });
    if !plain {
        return false;
    }
    let removed = table.remove(key);
    if inline && let Some(Item::Value(removed)) = removed {
        // Give the space before `}` back to the new last value.
        if let Some((_, Item::Value(last))) = table.iter_mut().last() {
            let own = raw(last.decor().suffix(), "");
            last.decor_mut()
                .set_suffix(format!("{own}{}", raw(removed.decor().suffix(), " ")));
        }
    }
    true
}

/// Remove the table `key` of `parent` when it is empty and has no comments.
/// An inline table is removed only inside an inline table (where
/// `add_requirement` creates inline tables); `x = {}` elsewhere was written so.
fn remove_empty_table(parent: &mut dyn TableLike, key: &str, parent_inline: bool) {
    let Some(item) = parent.get(key) else {
        return;
    };
    let empty = match item {
        Item::Table(table) => {
            table.is_empty()
                && !table.is_implicit()
                && raw(table.decor().prefix(), "\n").trim().is_empty()
                && raw(table.decor().suffix(), "").trim().is_empty()
        }
        Item::Value(Value::InlineTable(table)) => parent_inline && table.is_empty(),
        _ => false,
    };
    if empty {
        parent.remove(key);
    }
}

/// The text of a decor part, or `default` when it is not set.
fn raw(raw: Option<&RawString>, default: &str) -> String {
    raw.and_then(RawString::as_str)
        .unwrap_or(default)
        .to_owned()
}

/// Whether `value` is a string written with single quotes.
fn is_literal(value: &Value) -> bool {
    match value {
        Value::String(s) => s
            .as_repr()
            .and_then(|r| r.as_raw().as_str())
            .is_some_and(|r| r.starts_with('\'')),
        _ => false,
    }
}

/// A string value, with single quotes when `literal` and possible.
fn string_value(text: &str, literal: bool) -> Value {
    if literal
        && !text.contains('\'')
        && !text.contains('\n')
        && let Ok(value) = format!("'{text}'").parse::<Value>()
    {
        let mut value = value;
        value.decor_mut().clear();
        return value;
    }
    let mut value = Value::from(text);
    value.decor_mut().clear();
    value
}

fn entry_name(value: &Value) -> Option<PackageName> {
    value
        .as_str()
        .and_then(|s| pybun_pep::parse_requirement(s).ok())
        .map(|r| r.name)
}

fn same_requirement(value: &Value, req: &Req) -> bool {
    value
        .as_str()
        .and_then(|s| pybun_pep::parse_requirement(s).ok())
        .is_some_and(|r| r.name == req.name && r.marker == req.marker)
}

/// `text` split before its first newline (`"  # c\n    "` → `"  # c"`, `"\n    "`).
fn split_line(text: &str) -> (&str, &str) {
    match text.find('\n') {
        Some(index) => text.split_at(index),
        None => (text, ""),
    }
}

/// Whether the array spans several lines.
fn is_multiline(array: &Array) -> bool {
    raw(Some(array.trailing()), "").contains('\n')
        || array.iter().any(|v| {
            raw(v.decor().prefix(), "").contains('\n') || raw(v.decor().suffix(), "").contains('\n')
        })
}

/// The indentation of the last entry that starts a line.
fn indent(array: &Array) -> String {
    array
        .iter()
        .filter_map(|v| {
            let prefix = raw(v.decor().prefix(), "");
            prefix.rfind('\n').map(|i| prefix[i + 1..].to_owned())
        })
        .last()
        .unwrap_or_else(|| INDENT.to_owned())
}

fn prefix_of(value: &Value) -> String {
    raw(value.decor().prefix(), "")
}

fn suffix_of(value: &Value) -> String {
    raw(value.decor().suffix(), "")
}

/// Append `value` (with cleared decor) after the last entry; see the module
/// documentation. [`remove_at`] undoes it exactly.
fn append(array: &mut Array, mut value: Value, inline: bool) {
    let n = array.len();
    if is_multiline(array) && !(inline && n == 0) {
        let indent = indent(array);
        let after_last = if array.trailing_comma() || n == 0 {
            raw(Some(array.trailing()), "")
        } else {
            suffix_of(array.get(n - 1).expect("n > 0"))
        };
        let (head, rest) = split_line(&after_last);
        value.decor_mut().set_prefix(format!("{head}\n{indent}"));
        if array.trailing_comma() {
            value.decor_mut().set_suffix("");
            array.set_trailing(rest);
        } else {
            if let Some(last) = array.get_mut(n.wrapping_sub(1)) {
                last.decor_mut().set_suffix("");
            } else {
                array.set_trailing("");
            }
            value.decor_mut().set_suffix(rest);
        }
    } else if n == 0 {
        value.decor_mut().set_prefix("");
        value.decor_mut().set_suffix("");
    } else {
        let last_prefix = if n >= 2 {
            prefix_of(array.get(n - 1).expect("n > 0"))
        } else {
            String::new()
        };
        let separator = if last_prefix.is_empty() {
            " ".to_owned()
        } else {
            last_prefix
        };
        value.decor_mut().set_prefix(separator);
        if array.trailing_comma() {
            value.decor_mut().set_suffix("");
        } else {
            let last = array.get_mut(n - 1).expect("n > 0");
            let suffix = suffix_of(last);
            last.decor_mut().set_suffix("");
            value.decor_mut().set_suffix(suffix);
        }
    }
    array.push_formatted(value);
}

/// The part of a removed entry's prefix that belongs to the entry before it:
/// the rest of that entry's line (a comment after it).
fn kept_head(prefix: &str) -> &str {
    if prefix.contains('\n') {
        split_line(prefix).0
    } else {
        ""
    }
}

/// Remove the entry at `index`, giving the text around it back to its
/// neighbours; the exact inverse of [`append`].
fn remove_at(array: &mut Array, index: usize) {
    let n = array.len();
    let removed = array.remove(index);
    let prefix = prefix_of(&removed);
    let suffix = suffix_of(&removed);
    let head = kept_head(&prefix).to_owned();
    // In a multi-line array, a comment on the removed entry's own line goes
    // with it.
    let multiline = prefix.contains('\n');
    let own_line = |text: String| {
        if multiline {
            split_line(&text).1.to_owned()
        } else {
            text
        }
    };
    if index + 1 == n {
        let trailing = raw(Some(array.trailing()), "");
        if n == 1 {
            let rest = if array.trailing_comma() {
                own_line(trailing)
            } else {
                format!("{}{trailing}", own_line(suffix))
            };
            array.set_trailing(format!("{head}{rest}"));
            array.set_trailing_comma(false);
        } else if array.trailing_comma() {
            array.set_trailing(format!("{head}{}", own_line(trailing)));
        } else {
            let last = array.get_mut(index - 1).expect("n >= 2");
            let own = suffix_of(last);
            last.decor_mut()
                .set_suffix(format!("{own}{head}{}", own_line(suffix)));
        }
    } else {
        let next = array.get_mut(index).expect("an entry follows");
        let next_prefix = prefix_of(next);
        let new_prefix = if prefix.contains('\n') {
            if next_prefix.contains('\n') {
                format!("{head}{}", split_line(&next_prefix).1)
            } else {
                prefix
            }
        } else if index == 0 {
            prefix
        } else {
            next_prefix
        };
        next.decor_mut().set_prefix(new_prefix);
    }
}

/// The diagnostic for a name that is not in the list.
fn not_found(
    name: &str,
    package: &PackageName,
    target: &DependencyTarget,
    present: &[String],
    document: &DocumentMut,
) -> Diagnostic {
    let mut diagnostic = Diagnostic::error(
        Code::DependencyNotFound,
        format!("`{name}` is not in {}", target.describe()),
    )
    .in_file(FILE);
    let names: Vec<String> = present
        .iter()
        .filter_map(|s| pybun_pep::parse_requirement(s).ok())
        .map(|r| r.name.to_string())
        .collect();
    if !names.is_empty() {
        diagnostic = diagnostic.with_cause(format!("it lists: {}", names.join(", ")));
        let wanted = package.to_string();
        if let Some((distance, best)) = names
            .iter()
            .map(|n| (strsim::damerau_levenshtein(&wanted, n), n))
            .min_by_key(|(d, _)| *d)
            && distance <= (wanted.len() / 3).clamp(1, 3)
        {
            diagnostic = diagnostic.with_hint(format!("did you mean `{best}`?"));
        }
    }
    for other in elsewhere(document, package) {
        if &other != target {
            diagnostic = diagnostic.with_hint(format!("`{name}` is in {}", other.describe()));
        }
    }
    diagnostic
}

/// Every list that has an entry named `package`.
fn elsewhere(document: &DocumentMut, package: &PackageName) -> Vec<DependencyTarget> {
    let has = |item: &Item| {
        item.as_array()
            .is_some_and(|a| a.iter().any(|v| entry_name(v).as_ref() == Some(package)))
    };
    let mut out = Vec::new();
    let root = document.as_table();
    if let Some(project) = root.get("project").and_then(Item::as_table_like) {
        if project.get("dependencies").is_some_and(has) {
            out.push(DependencyTarget::Main);
        }
        if let Some(extras) = project
            .get("optional-dependencies")
            .and_then(Item::as_table_like)
        {
            for (key, item) in extras.iter() {
                if has(item) {
                    out.push(DependencyTarget::Optional(normalize_name(key)));
                }
            }
        }
    }
    if let Some(groups) = root.get("dependency-groups").and_then(Item::as_table_like) {
        for (key, item) in groups.iter() {
            if has(item) {
                out.push(DependencyTarget::Group(normalize_name(key)));
            }
        }
    }
    out
}
