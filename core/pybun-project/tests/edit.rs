//! `add_requirement` / `remove_requirement` as data: every
//! `fixtures/pyproject-edit/NAME.toml` gets the same list of edits, and the
//! results are compared with `tests/snapshots/`. A round-trip property checks
//! `remove(add(x, req, t), name, t) == x` for every fixture, target and
//! requirement, and that every edited text still parses.

#![allow(
    clippy::result_large_err,
    reason = "a `Diagnostic` is the error of every edit, returned once per command"
)]

use std::path::{Path, PathBuf};

use pybun_diagnostics::Diagnostic;
use pybun_pep::PackageName;
use pybun_project::{DependencyTarget, Edit, add_requirement, parse_pyproject, remove_requirement};

/// One edit.
#[derive(Debug, Clone)]
enum Op {
    Add(&'static str, DependencyTarget),
    Remove(&'static str, Option<DependencyTarget>),
}

impl Op {
    fn run(&self, text: &str) -> Result<Edit, Diagnostic> {
        match self {
            Op::Add(req, target) => add_requirement(text, req, target.clone()),
            Op::Remove(name, target) => remove_requirement(text, name, target.clone()),
        }
    }

    fn describe(&self) -> String {
        let target = |t: &DependencyTarget| match t {
            DependencyTarget::Main => "main".to_owned(),
            DependencyTarget::Optional(e) => format!("extra {e}"),
            DependencyTarget::Group(g) => format!("group {g}"),
        };
        match self {
            Op::Add(req, t) => format!("add `{req}` to {}", target(t)),
            Op::Remove(name, t) => format!(
                "remove `{name}` from {}",
                t.as_ref().map_or("main (default)".to_owned(), target)
            ),
        }
    }
}

fn extra(name: &str) -> DependencyTarget {
    DependencyTarget::Optional(name.to_owned())
}

fn group(name: &str) -> DependencyTarget {
    DependencyTarget::Group(name.to_owned())
}

/// The edits every fixture gets in its snapshot.
fn ops() -> Vec<Op> {
    vec![
        Op::Add("httpx >= 0.27", DependencyTarget::Main),
        Op::Add("Requests[socks] >=2.32, <3", DependencyTarget::Main),
        Op::Add("click", extra("cli")),
        Op::Add("uvloop; sys_platform != 'win32'", extra("Fast")),
        Op::Add("pytest-cov", DependencyTarget::dev()),
        Op::Add("mypy==1.11", group("typing")),
        Op::Remove("requests", None),
        Op::Remove("click", Some(extra("cli"))),
        Op::Remove("pytest", Some(DependencyTarget::dev())),
        Op::Remove("reqests", None),
    ]
}

/// Show CRLF line endings and the end of the text.
fn visible(text: &str) -> String {
    let mut out = text.replace("\r\n", "␍\n").replace('\t', "→   ");
    if !out.ends_with('\n') {
        out.push_str("⏎ (no newline at end)\n");
    }
    out
}

fn render_error(diagnostic: &Diagnostic) -> String {
    let mut out = format!("{diagnostic}\n");
    if let Some(label) = &diagnostic.label {
        out.push_str(&format!("  label: {label}\n"));
    }
    out
}

/// The result of `op` on `input`, as shown in snapshots.
fn render(input: &str, op: &Op) -> String {
    match op.run(input) {
        Ok(edit) => {
            assert_parses(input, &edit.text, op);
            let mut out = String::new();
            if let Some(replaced) = &edit.replaced {
                out.push_str(&format!("(replaced `{replaced}`)\n"));
            }
            if !edit.removed.is_empty() {
                out.push_str(&format!("(removed {:?})\n", edit.removed));
            }
            if edit.text == input {
                out.push_str("(unchanged)\n");
            } else {
                out.push_str(&visible(&edit.text));
            }
            out
        }
        Err(diagnostic) => render_error(&diagnostic),
    }
}

/// The edited text parses with no error the input did not have.
#[track_caller]
fn assert_parses(input: &str, output: &str, op: &Op) {
    let errors = |text: &str| {
        parse_pyproject(text, "pyproject.toml")
            .diagnostics
            .into_iter()
            .filter(Diagnostic::is_error)
            .map(|d| (d.code, d.message))
            .collect::<Vec<_>>()
    };
    let (before, after) = (errors(input), errors(output));
    for error in &after {
        assert!(
            before.contains(error),
            "{}: new error {error:?} in\n{output}",
            op.describe()
        );
    }
}

/// Run `op` on the fixture `name` and compare with `expected`.
#[track_caller]
fn check(fixture: &str, op: Op, expected: &str) {
    let input = read(&fixtures_dir().join(fixture));
    let actual = render(&input, &op);
    assert_eq!(
        actual.trim(),
        expected.trim(),
        "\n{}\n--- actual ---\n{actual}",
        op.describe()
    );
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pyproject-edit")
}

#[expect(
    clippy::disallowed_methods,
    reason = "the test reads its fixture files"
)]
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[expect(
    clippy::disallowed_methods,
    reason = "the test lists its fixture files"
)]
fn fixture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "fixtures missing: {files:?}");
    files
}

#[test]
fn fixtures() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        insta::glob!("../../../fixtures/pyproject-edit", "*.toml", |path| {
            let input = read(path);
            let mut out = String::new();
            for op in ops() {
                out.push_str(&format!("=== {}\n", op.describe()));
                out.push_str(&render(&input, &op));
            }
            insta::assert_snapshot!(out);
        });
    });
}

/// The names listed in `target` of `text` (empty when the list is missing).
fn names_in(text: &str, target: &DependencyTarget) -> Vec<PackageName> {
    let Some(project) = parse_pyproject(text, "pyproject.toml").project else {
        return Vec::new();
    };
    let reqs = match target {
        DependencyTarget::Main => project.dependencies,
        DependencyTarget::Optional(e) => project
            .optional_dependencies
            .into_iter()
            .find(|(k, _)| k.as_ref() == e)
            .map(|(_, v)| v)
            .unwrap_or_default(),
        DependencyTarget::Group(g) => project
            .dependency_groups
            .get(g)
            .cloned()
            .unwrap_or_default(),
    };
    reqs.into_iter().map(|r| r.value.name).collect()
}

#[test]
fn add_then_remove_is_identity() {
    let targets = [
        DependencyTarget::Main,
        extra("cli"),
        extra("socks"),
        extra("new-extra"),
        DependencyTarget::dev(),
        group("lint"),
        group("new-group"),
    ];
    let requirements = [
        ("foo>=1", "foo"),
        ("Zope.Interface >= 5, <6", "zope-interface"),
        ("bar[socks] ; python_version < '3.11'", "BAR"),
        ("baz @ https://example.com/baz-1.0.tar.gz", "baz"),
        ("pytest-xdist", "pytest_xdist"),
    ];
    let mut checked = 0;
    for file in fixture_files() {
        let input = read(&file);
        for target in &targets {
            for (req, name) in requirements {
                let op = Op::Add(req, target.clone());
                let Ok(added) = op.run(&input) else {
                    continue;
                };
                let package: PackageName = name.parse().unwrap();
                let label = format!("{} ({})", op.describe(), file.display());
                assert_parses(&input, &added.text, &op);
                assert!(added.replaced.is_none(), "{label}");
                assert!(
                    names_in(&added.text, target).contains(&package)
                        || added.text.contains("dynamic"),
                    "{label}: not added\n{}",
                    added.text
                );
                // Adding again replaces in place.
                let again = op.run(&added.text).unwrap();
                assert_eq!(again.text, added.text, "{label}: not idempotent");
                assert!(again.replaced.is_some(), "{label}");
                if names_in(&input, target).contains(&package) {
                    continue;
                }
                let removed = remove_requirement(&added.text, name, Some(target.clone()))
                    .unwrap_or_else(|e| panic!("{label}: {e}"));
                assert_eq!(removed.removed.len(), 1, "{label}");
                assert_eq!(
                    visible(&removed.text),
                    visible(&input),
                    "{label}: remove(add(x)) != x; after add:\n{}",
                    added.text
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "only {checked} round trips");
}

#[test]
fn replaces_in_place() {
    check(
        "multiline_trailing_comma.toml",
        Op::Add("Click >= 8.1", DependencyTarget::Main),
        r#"
(replaced `click>=8`)
[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = [
    "requests>=2.31",
    "Click>=8.1",
]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"#,
    );
    // A different marker is a different entry.
    check(
        "markers.toml",
        Op::Add("foo>=2; sys_platform == 'win32'", DependencyTarget::Main),
        r#"
(replaced `foo>=1; sys_platform == 'win32'`)
[project]
name = "demo"
version = "0.1.0"
dependencies = [
    "foo>=2 ; sys_platform == 'win32'",
    "tomli>=2; python_version < '3.11'",
    "Typing_Extensions",
]
"#,
    );
}

#[test]
fn errors() {
    check(
        "no_project.toml",
        Op::Add("foo", DependencyTarget::Main),
        "error[PB0102]: `pyproject.toml` has no `[project]` table
  --> pyproject.toml

hint: dependencies and extras live in `[project]`; add `[project]` with `name` and `version` (or run `pybun init`)

hint: dependency groups (`--group`, `--dev`) work without `[project]`",
    );
    check(
        "multiline_trailing_comma.toml",
        Op::Add("foo >=", DependencyTarget::Main),
        "error[PB0103]: invalid requirement `foo >=`: unexpected end of version specifier, expected version
  foo >=
      ^^

hint: requirements follow PEP 508, e.g. `requests>=2.31` or `pywin32; sys_platform == \"win32\"`
  label: unexpected end of version specifier, expected version",
    );
    check(
        "wrong_type.toml",
        Op::Add("foo", DependencyTarget::Main),
        "error[PB0102]: `project.dependencies` must be an array, found a string
  --> pyproject.toml:4:16
  label: expected an array",
    );
    check(
        "multiline_trailing_comma.toml",
        Op::Remove("reqests", None),
        "error[PB0111]: `reqests` is not in `[project] dependencies`
  --> pyproject.toml
  it lists: requests, click

hint: did you mean `requests`?",
    );
    check(
        "groups_extras.toml",
        Op::Remove("pytest", None),
        "error[PB0111]: `pytest` is not in `[project] dependencies`
  --> pyproject.toml
  it lists: requests

hint: `pytest` is in dependency group `dev` (`[dependency-groups]`)",
    );
    check(
        "no_project.toml",
        Op::Remove("ruff", Some(DependencyTarget::dev())),
        "error[PB0111]: `ruff` is not in dependency group `dev` (`[dependency-groups]`)
  --> pyproject.toml
  `pyproject.toml` has no dependency group `dev` (`[dependency-groups]`)

hint: `ruff` is in dependency group `lint` (`[dependency-groups]`)",
    );
    check(
        "dynamic_dependencies.toml",
        Op::Add("foo", DependencyTarget::Main),
        "error[PB0108]: `[project] dependencies` are `dynamic`: the build backend sets them
  --> pyproject.toml:4:11

hint: remove `\"dependencies\"` from `dynamic` to list them in `pyproject.toml`, or add to a dependency group",
    );
    check(
        "crlf.toml",
        Op::Add("foo", group("not valid!")),
        "error[PB0105]: `not valid!` is not a valid group name

hint: names contain only ASCII letters, digits, `-`, `_` and `.`, and start and end with a letter or digit",
    );
}
