//! `[project]` (PEP 621 and the PyPA `pyproject.toml` specification).

use std::collections::BTreeMap;
use std::str::FromStr;

use pybun_diagnostics::{Code, Diagnostic};
use pybun_pep::{ExtraName, PackageName, Version};
use toml_edit::{Item, TableLike};

use crate::cx::{Cx, NAME_HINT, suggest};
use crate::{Project, Spanned};

/// Every key the specification allows in `[project]`.
pub(crate) const PROJECT_KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "readme",
    "requires-python",
    "license",
    "license-files",
    "authors",
    "maintainers",
    "keywords",
    "classifiers",
    "urls",
    "scripts",
    "gui-scripts",
    "entry-points",
    "dependencies",
    "optional-dependencies",
    "import-names",
    "import-namespaces",
    "dynamic",
];

const P: Code = Code::ProjectTable;

pub(crate) fn read(cx: &mut Cx<'_>, item: &Item, project: &mut Project) {
    let Some(table) = cx.table_item(P, "project", item) else {
        return;
    };

    for (key, value) in table.iter() {
        let key_range = table
            .key(key)
            .and_then(toml_edit::Key::span)
            .or_else(|| value.span());
        if !PROJECT_KEYS.contains(&key) {
            cx.push(unknown_project_key(key), key_range);
            continue;
        }
        let path = format!("project.{key}");
        match key {
            "name" => project.name = read_name(cx, value),
            "version" => project.version = read_version(cx, value),
            "requires-python" => {
                if let Some(s) = value.as_value().filter(|v| v.is_str()) {
                    project.requires_python = cx.specifiers(&path, s);
                } else {
                    cx.wrong_type(Code::InvalidSpecifier, &path, "a string", value);
                }
            }
            "dependencies" => project.dependencies = cx.requirements(&path, value),
            "optional-dependencies" => project.optional_dependencies = read_extras(cx, value),
            "dynamic" => {} // below, once the static keys are known
            "description" => {
                cx.str_item(P, &path, value);
            }
            "readme" | "license" => read_text_or_file(cx, &path, key, value),
            "license-files" | "keywords" | "classifiers" | "import-names" | "import-namespaces" => {
                cx.string_array(P, &path, value);
            }
            "authors" | "maintainers" => read_people(cx, &path, value),
            "urls" | "scripts" | "gui-scripts" => read_string_table(cx, &path, value),
            "entry-points" => read_entry_points(cx, value),
            _ => {}
        }
    }

    if let Some(dynamic) = table.get("dynamic") {
        project.dynamic = read_dynamic(cx, table, dynamic);
    }

    let header = item.span();
    if table.get("name").is_none() && !project.is_dynamic("name") {
        cx.push_missing(
            Diagnostic::error(P, "`[project]` has no `name`")
                .with_hint("add `name = \"...\"`; the name must be given statically"),
            header.clone(),
        );
    }
    if table.get("version").is_none() && !project.is_dynamic("version") {
        cx.push_missing(
            Diagnostic::error(P, "`[project]` has no `version` and does not list it in `dynamic`")
                .with_hint("add `version = \"0.1.0\"`, or `dynamic = [\"version\"]` if the build backend sets it"),
            header,
        );
    }
}

fn unknown_project_key(key: &str) -> Diagnostic {
    let mut diagnostic = Diagnostic::error(
        Code::UnknownKey,
        format!("unknown key `{key}` in `[project]`"),
    );
    if let Some(suggestion) = suggest(key, PROJECT_KEYS) {
        diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
    } else if matches!(key, "dev-dependencies" | "dev_dependencies") {
        diagnostic = diagnostic.with_hint(
            "development dependencies belong in `[dependency-groups]`, e.g. `dev = [\"pytest\"]`",
        );
    } else {
        diagnostic = diagnostic.with_hint("`[project]` holds only the keys the specification defines; tool settings belong under `[tool.NAME]`");
    }
    diagnostic
}

fn read_name(cx: &mut Cx<'_>, item: &Item) -> Option<Spanned<PackageName>> {
    let name = cx.str_item(Code::InvalidName, "project.name", item)?;
    let span = cx.span(item.span().unwrap_or(0..0));
    match PackageName::from_str(name) {
        Ok(value) if !name.is_empty() => Some(Spanned { value, span }),
        _ if name.is_empty() => {
            cx.push(
                Diagnostic::error(Code::InvalidName, "`project.name` is empty")
                    .with_hint("e.g. `name = \"my-project\"`"),
                item.span(),
            );
            None
        }
        _ => {
            cx.push(
                Diagnostic::error(
                    Code::InvalidName,
                    format!("`{name}` is not a valid project name"),
                )
                .with_label("invalid name")
                .with_hint(NAME_HINT),
                item.span(),
            );
            None
        }
    }
}

fn read_version(cx: &mut Cx<'_>, item: &Item) -> Option<Spanned<Version>> {
    let version = cx.str_item(Code::InvalidVersion, "project.version", item)?;
    match Version::from_str(version) {
        Ok(value) => Some(Spanned {
            value,
            span: cx.span(item.span().unwrap_or(0..0)),
        }),
        Err(err) => {
            cx.push(
                Diagnostic::error(
                    Code::InvalidVersion,
                    format!("`{version}` is not a valid PEP 440 version"),
                )
                .with_label(err.to_string())
                .with_hint("versions look like `1.2.3`, `2.0.0rc1` or `1.0.post1`"),
                item.span(),
            );
            None
        }
    }
}

fn read_extras(cx: &mut Cx<'_>, item: &Item) -> BTreeMap<ExtraName, Vec<Spanned<pybun_pep::Req>>> {
    let mut extras = BTreeMap::new();
    let Some(table) = cx.table_item(P, "project.optional-dependencies", item) else {
        return extras;
    };
    let mut first_spelling: BTreeMap<ExtraName, String> = BTreeMap::new();
    for (key, value) in table.iter() {
        let key_range = table.key(key).and_then(toml_edit::Key::span);
        let path = format!("project.optional-dependencies.{key}");
        let requirements = cx.requirements(&path, value);
        match ExtraName::from_str(key) {
            Ok(extra) if !key.is_empty() => {
                if let Some(first) = first_spelling.get(&extra) {
                    cx.push(
                        Diagnostic::error(
                            Code::InvalidName,
                            format!("extra `{key}` is the same as `{first}` after normalization"),
                        )
                        .with_hint("extra names are compared lowercased, with runs of `-`, `_` and `.` as one `-`; merge the two"),
                        key_range,
                    );
                    continue;
                }
                first_spelling.insert(extra.clone(), key.to_owned());
                extras.insert(extra, requirements);
            }
            _ => cx.push(
                Diagnostic::error(
                    Code::InvalidName,
                    format!("`{key}` is not a valid extra name"),
                )
                .with_label("invalid extra name")
                .with_hint(NAME_HINT),
                key_range,
            ),
        }
    }
    extras
}

/// `readme` and `license`: a string, or a table with `file` or `text`.
fn read_text_or_file(cx: &mut Cx<'_>, path: &str, key: &str, item: &Item) {
    if item.is_str() {
        return;
    }
    let Some(table) = item.as_table_like() else {
        cx.wrong_type(P, path, "a string or a table", item);
        return;
    };
    let file = table.get("file");
    let text = table.get("text");
    for (sub, value) in [("file", file), ("text", text)] {
        if let Some(value) = value {
            cx.str_item(P, &format!("{path}.{sub}"), value);
        }
    }
    if file.is_some() == text.is_some() {
        cx.push(
            Diagnostic::error(
                P,
                format!("`{path}` must have exactly one of `file` and `text`"),
            )
            .with_hint(format!(
                "e.g. `{key} = {{ file = \"{}\" }}`",
                if key == "readme" {
                    "README.md"
                } else {
                    "LICENSE"
                }
            )),
            item.span(),
        );
    }
    if key == "readme" {
        match table.get("content-type") {
            Some(value) => {
                cx.str_item(P, &format!("{path}.content-type"), value);
            }
            None => cx.push(
                Diagnostic::error(P, "`project.readme` as a table needs `content-type`")
                    .with_hint("e.g. `content-type = \"text/markdown\"`"),
                item.span(),
            ),
        }
    }
}

/// `authors` and `maintainers`: an array of tables with `name` and/or `email`.
fn read_people(cx: &mut Cx<'_>, path: &str, item: &Item) {
    let mut tables: Vec<(&dyn TableLike, Option<std::ops::Range<usize>>)> = Vec::new();
    match item {
        Item::ArrayOfTables(array) => {
            tables.extend(array.iter().map(|t| (t as &dyn TableLike, t.span())))
        }
        Item::Value(toml_edit::Value::Array(array)) => {
            for value in array {
                match value.as_inline_table() {
                    Some(table) => tables.push((table as &dyn TableLike, value.span())),
                    None => cx.wrong_element(P, path, "tables with `name` and/or `email`", value),
                }
            }
        }
        _ => {
            cx.wrong_type(P, path, "an array of tables", item);
            return;
        }
    }
    for (table, span) in tables {
        if table.get("name").is_none() && table.get("email").is_none() {
            cx.push(
                Diagnostic::error(
                    P,
                    format!("entries of `{path}` need a `name` or an `email`"),
                )
                .with_hint("e.g. `{ name = \"Ada Lovelace\", email = \"ada@example.com\" }`"),
                span,
            );
        }
        for (key, value) in table.iter() {
            if matches!(key, "name" | "email") {
                cx.str_item(P, &format!("{path}.{key}"), value);
            } else {
                let mut diagnostic =
                    Diagnostic::error(Code::UnknownKey, format!("unknown key `{key}` in `{path}`"));
                diagnostic = match suggest(key, &["name", "email"]) {
                    Some(s) => diagnostic.with_hint(format!("did you mean `{s}`?")),
                    None => diagnostic.with_hint("entries have only `name` and `email`"),
                };
                let range = table.key(key).and_then(toml_edit::Key::span);
                cx.push(diagnostic, range);
            }
        }
    }
}

/// `urls`, `scripts`, `gui-scripts`: a table of strings.
fn read_string_table(cx: &mut Cx<'_>, path: &str, item: &Item) {
    let Some(table) = cx.table_item(P, path, item) else {
        return;
    };
    for (key, value) in table.iter() {
        cx.str_item(P, &format!("{path}.{key}"), value);
    }
}

fn read_entry_points(cx: &mut Cx<'_>, item: &Item) {
    let Some(table) = cx.table_item(P, "project.entry-points", item) else {
        return;
    };
    for (group, value) in table.iter() {
        let path = format!("project.entry-points.{group}");
        if matches!(group, "console_scripts" | "gui_scripts") {
            let key = if group == "console_scripts" {
                "scripts"
            } else {
                "gui-scripts"
            };
            cx.push(
                Diagnostic::error(P, format!("`{path}` is not allowed"))
                    .with_hint(format!("use `[project.{key}]` instead")),
                table.key(group).and_then(toml_edit::Key::span),
            );
            continue;
        }
        read_string_table(cx, &path, value);
    }
}

fn read_dynamic(cx: &mut Cx<'_>, table: &dyn TableLike, item: &Item) -> Vec<String> {
    let mut dynamic = Vec::new();
    for Spanned { value: field, span } in cx.string_array(P, "project.dynamic", item) {
        let range = Some(span.start..span.end);
        if field == "name" {
            cx.push(
                Diagnostic::error(Code::DynamicMisuse, "`name` cannot be dynamic").with_hint(
                    "give `name` statically in `[project]` and remove it from `dynamic`",
                ),
                range,
            );
        } else if field == "dynamic" || !PROJECT_KEYS.contains(&field.as_str()) {
            let mut diagnostic = Diagnostic::error(
                Code::DynamicMisuse,
                format!("`dynamic` lists `{field}`, which is not a `[project]` field"),
            );
            diagnostic = match suggest(&field, PROJECT_KEYS).filter(|s| *s != "dynamic") {
                Some(s) => diagnostic.with_hint(format!("did you mean `{s}`?")),
                None => diagnostic.with_hint("`dynamic` lists the `[project]` fields a build backend provides, e.g. `dynamic = [\"version\"]`"),
            };
            cx.push(diagnostic, range);
        } else if table.contains_key(&field) {
            cx.push(
                Diagnostic::error(
                    Code::DynamicMisuse,
                    format!("`{field}` is both given in `[project]` and listed in `dynamic`"),
                )
                .with_hint(format!(
                    "remove `{field}` from `dynamic`, or remove the `{field}` key"
                )),
                range,
            );
            dynamic.push(field);
        } else {
            dynamic.push(field);
        }
    }
    dynamic
}
