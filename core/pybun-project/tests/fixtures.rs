//! Scenario tests as data: every `fixtures/pyproject/NAME.toml` is parsed and
//! its diagnostics are compared with `fixtures/pyproject/snapshots/`.
//!
//! One line per diagnostic:
//! `CODE severity line:col-line:col [underlined text] message | hint | hint`.

use pybun_diagnostics::Span;
use pybun_project::{LockfileFormat, parse_pyproject};

/// Render the diagnostics of `input` one per line.
fn render(input: &str) -> String {
    let parsed = parse_pyproject(input, "pyproject.toml");
    let mut out = String::new();
    for d in &parsed.diagnostics {
        out.push_str(d.code.as_str());
        out.push(' ');
        out.push_str(d.severity.as_str());
        match d.location.as_ref().and_then(|l| l.span) {
            Some(span) => {
                let end = Span::in_source(input, span.end, span.end);
                let mut under: String = input[span.start..span.end]
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                if under.chars().count() > 40 {
                    under = under.chars().take(40).collect::<String>() + "…";
                }
                out.push_str(&format!(
                    " {}:{}-{}:{} [{under}]",
                    span.line, span.column, end.line, end.column
                ));
            }
            None => out.push_str(" -"),
        }
        out.push(' ');
        out.push_str(&d.message);
        for hint in &d.hints {
            out.push_str(" | ");
            out.push_str(hint);
        }
        out.push('\n');
    }
    if parsed.project.is_none() {
        out.push_str("(no project)\n");
    }
    out
}

/// Compare the rendered diagnostics of `input` with `expected`.
#[track_caller]
fn check(input: &str, expected: &str) {
    let actual = render(input);
    assert_eq!(
        actual.trim_end(),
        expected.trim_end(),
        "\n--- actual ---\n{actual}"
    );
}

#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "the test reads its fixture files"
)]
fn fixtures() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../../fixtures/pyproject/snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        insta::glob!("../../../fixtures/pyproject", "*.toml", |path| {
            let input = std::fs::read_to_string(path).unwrap();
            insta::assert_snapshot!(render(&input));
        });
    });
}

#[test]
fn valid_project_is_read() {
    let input = include_str!("../../../fixtures/pyproject/valid_full.toml");
    let parsed = parse_pyproject(input, "pyproject.toml");
    assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
    let project = parsed.project.unwrap();
    assert_eq!(project.name.as_ref().unwrap().value.as_ref(), "my-project");
    assert_eq!(
        project.version.as_ref().unwrap().value.to_string(),
        "1.2.0rc1"
    );
    assert_eq!(
        project.requires_python.as_ref().unwrap().value.to_string(),
        ">=3.9, <4"
    );
    let names = |reqs: &[pybun_project::Spanned<pybun_pep::Req>]| {
        reqs.iter()
            .map(|r| r.value.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&project.dependencies),
        ["requests", "pywin32", "tomli"]
    );
    // The span covers the string literal, quotes included.
    let first = &project.dependencies[0].span;
    assert_eq!(&input[first.start..first.end], "\"requests>=2.31\"");
    let extras: Vec<_> = project
        .optional_dependencies
        .keys()
        .map(ToString::to_string)
        .collect();
    assert_eq!(extras, ["cli", "socks"]);
    assert_eq!(project.dynamic, ["scripts"]);
    let groups: Vec<_> = project.dependency_groups.keys().cloned().collect();
    assert_eq!(groups, ["dev", "lint", "test", "typing"]);
    assert_eq!(
        names(&project.dependency_groups["test"]),
        ["pytest", "mypy"]
    );
    assert_eq!(names(&project.dependency_groups["lint"]), ["ruff", "mypy"]);
    // `dev` includes `test` and `lint`, which both include `typing`: `mypy` once.
    assert_eq!(
        names(&project.dependency_groups["dev"]),
        ["pytest", "mypy", "ruff", "ipython"]
    );
    assert!(project.has_build_system);
    assert_eq!(names(&project.build_requires), ["hatchling"]);
    assert_eq!(project.build_backend.as_deref(), Some("hatchling.build"));
    assert_eq!(project.tool.lockfile_format, LockfileFormat::Binary);
    assert_eq!(
        project.tool.index_url.as_deref(),
        Some("https://pypi.example.com/simple")
    );
    assert_eq!(
        project.tool.extra_index_urls,
        ["https://extra.example.com/simple"]
    );
    assert_eq!(names(&project.tool.dev_dependencies), ["debugpy"]);
}

#[test]
fn partial_project_survives_errors() {
    let input = "[project]\nname = \"demo\"\nversion = \"x\"\ndependencies = [\"ok\", \"bad[\"]\n";
    let parsed = parse_pyproject(input, "pyproject.toml");
    assert!(parsed.has_errors());
    let project = parsed.project.unwrap();
    assert!(project.name.is_some());
    assert!(project.version.is_none());
    assert_eq!(project.dependencies.len(), 1);
}

#[test]
fn inline_cases() {
    check(
        "[project]\nname = \"a\"\nversion = \"1\"\ndependencies = ['x >= 1 ; os_name ==']\n",
        "PB0103 error 4:37-4:38 ['] invalid requirement `x >= 1 ; os_name ==` in `project.dependencies`: expected marker value, found end of dependency specification | requirements follow PEP 508, e.g. `requests>=2.31` or `pywin32; sys_platform == \"win32\"`",
    );
    check("[project]\nname = \"a\"\nversion = \"1\"\n", "");
    check(
        "[project]\nname = \"a\"\nversion = \"1\"\n[tool]\npybun = 1\n",
        "PB0110 error 5:9-5:10 [1] `tool.pybun` must be a table, found an integer | e.g. `[tool.pybun]`",
    );
    check(
        "",
        "PB0102 error - `pyproject.toml` has no `[project]` table | PyBun needs `[project]` with at least `name` and `version` to lock and install | add `[project]` with `name = \"...\"` and `version = \"0.1.0\"`",
    );
}
