//! `[dependency-groups]` (PEP 735).

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::str::FromStr;

use pybun_diagnostics::{Code, Diagnostic};
use pybun_pep::{PackageName, Req};
use toml_edit::Item;

use crate::Spanned;
use crate::cx::{Cx, NAME_HINT, normalize_name, suggest};

enum Entry {
    Requirement(Spanned<Req>),
    /// The normalized group name, as written, and the span of the name.
    Include {
        group: String,
        written: String,
        range: Option<Range<usize>>,
    },
}

struct Group {
    written: String,
    entries: Vec<Entry>,
}

/// Read the groups and expand `include-group`; the result is keyed by normalized name.
pub(crate) fn read(cx: &mut Cx<'_>, item: &Item) -> BTreeMap<String, Vec<Spanned<Req>>> {
    let Some(table) = cx.table_item(Code::ProjectTable, "dependency-groups", item) else {
        return BTreeMap::new();
    };
    // Insertion order matters for reporting; a Vec keeps it.
    let mut groups: Vec<(String, Group)> = Vec::new();
    for (key, value) in table.iter() {
        let key_range = table.key(key).and_then(toml_edit::Key::span);
        let normalized = normalize_name(key);
        if key.is_empty() || PackageName::from_str(key).is_err() {
            cx.push(
                Diagnostic::error(
                    Code::InvalidName,
                    format!("`{key}` is not a valid dependency group name"),
                )
                .with_label("invalid group name")
                .with_hint(NAME_HINT),
                key_range,
            );
            continue;
        }
        if let Some((_, first)) = groups.iter().find(|(name, _)| *name == normalized) {
            cx.push(
                Diagnostic::error(
                    Code::InvalidName,
                    format!("dependency group `{key}` is the same as `{}` after normalization", first.written),
                )
                .with_hint("group names are compared lowercased, with runs of `-`, `_` and `.` as one `-`; merge the two"),
                key_range,
            );
            continue;
        }
        let path = format!("dependency-groups.{key}");
        let entries = read_entries(cx, &path, value);
        groups.push((
            normalized,
            Group {
                written: key.to_owned(),
                entries,
            },
        ));
    }

    let names: Vec<&str> = groups.iter().map(|(name, _)| name.as_str()).collect();
    let mut expanded = BTreeMap::new();
    let mut stack = Vec::new();
    for (name, _) in &groups {
        expand(cx, &groups, &names, name, &mut stack, &mut expanded);
    }
    expanded
}

fn read_entries(cx: &mut Cx<'_>, path: &str, item: &Item) -> Vec<Entry> {
    let Some(array) = cx.array_item(Code::ProjectTable, path, item) else {
        return Vec::new();
    };
    let mut entries = Vec::new();
    for value in array {
        if value.is_str() {
            if let Some(req) = cx.requirement(path, value) {
                entries.push(Entry::Requirement(req));
            }
            continue;
        }
        let include = value.as_inline_table().and_then(|table| {
            let included = table.get("include-group")?;
            (table.len() == 1).then_some(included)
        });
        match include {
            Some(included) => match included.as_str() {
                Some(written) => entries.push(Entry::Include {
                    group: normalize_name(written),
                    written: written.to_owned(),
                    range: included.span(),
                }),
                None => cx.push(
                    Diagnostic::error(
                        Code::ProjectTable,
                        format!("`include-group` in `{path}` must be a string, found {}", crate::cx::value_kind(included)),
                    )
                    .with_label("expected a group name")
                    .with_hint("e.g. `{ include-group = \"lint\" }`"),
                    included.span(),
                ),
            },
            None => cx.push(
                Diagnostic::error(
                    Code::InvalidRequirement,
                    format!(
                        "entries of `{path}` must be requirement strings or `{{ include-group = \"...\" }}`, found {}",
                        crate::cx::value_kind(value)
                    ),
                )
                .with_hint("e.g. `dev = [\"pytest\", { include-group = \"lint\" }]`"),
                value.span(),
            ),
        }
    }
    entries
}

/// Expand `name`, memoized in `expanded`; `stack` holds the groups being expanded.
fn expand(
    cx: &mut Cx<'_>,
    groups: &[(String, Group)],
    names: &[&str],
    name: &str,
    stack: &mut Vec<String>,
    expanded: &mut BTreeMap<String, Vec<Spanned<Req>>>,
) {
    if expanded.contains_key(name) {
        return;
    }
    let Some((_, group)) = groups.iter().find(|(n, _)| n == name) else {
        return;
    };
    stack.push(name.to_owned());
    let mut out: Vec<Spanned<Req>> = Vec::new();
    for entry in &group.entries {
        match entry {
            Entry::Requirement(req) => out.push(req.clone()),
            Entry::Include {
                group: included,
                written,
                range,
            } => {
                if !names.contains(&included.as_str()) {
                    let mut diagnostic = Diagnostic::error(
                        Code::UnknownGroup,
                        format!(
                            "dependency group `{}` includes `{written}`, which does not exist",
                            group.written
                        ),
                    )
                    .with_label("no such group");
                    diagnostic = match suggest(included, names) {
                        Some(s) => diagnostic.with_hint(format!("did you mean `{s}`?")),
                        None => diagnostic.with_hint(format!(
                            "the groups are {}",
                            names
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    };
                    cx.push(diagnostic, range.clone());
                } else if let Some(position) = stack.iter().position(|n| n == included) {
                    let mut cycle: Vec<String> =
                        stack[position..].iter().map(|n| format!("`{n}`")).collect();
                    cycle.push(format!("`{included}`"));
                    cx.push(
                        Diagnostic::error(
                            Code::UnknownGroup,
                            format!(
                                "dependency groups include each other in a cycle: {}",
                                cycle.join(" -> ")
                            ),
                        )
                        .with_label("closes the cycle")
                        .with_hint("remove one of the `include-group` entries"),
                        range.clone(),
                    );
                } else {
                    expand(cx, groups, names, included, stack, expanded);
                    if let Some(requirements) = expanded.get(included.as_str()) {
                        out.extend(requirements.iter().cloned());
                    }
                }
            }
        }
    }
    // A group included twice (a diamond) contributes its entries once.
    let mut seen = HashSet::new();
    out.retain(|req| seen.insert((req.span.start, req.span.end)));
    stack.pop();
    expanded.insert(name.to_owned(), out);
}
