//! New projects (`pybun init`): a minimal `pyproject.toml`, the project name
//! from a directory name, and a `.gitignore`.

#![allow(
    clippy::result_large_err,
    reason = "a `Diagnostic` is the error of every edit, returned once per command"
)]

use std::str::FromStr;

use pybun_diagnostics::{Code, Diagnostic};
use pybun_pep::PackageName;

use crate::cx::{NAME_HINT, normalize_name};

/// A minimal, valid `pyproject.toml`: `[project]` with `name`, `version =
/// "0.1.0"`, `requires-python` and `dependencies = []`, and with
/// `with_build_system` a `[build-system]` using hatchling.
///
/// `name` should come from [`normalize_project_name`]; both strings are
/// written as TOML basic strings (escaped as needed).
#[must_use]
pub fn init_pyproject(name: &str, requires_python: &str, with_build_system: bool) -> String {
    let mut out = format!(
        "[project]\nname = {}\nversion = \"0.1.0\"\nrequires-python = {}\ndependencies = []\n",
        basic_string(name),
        basic_string(requires_python),
    );
    if with_build_system {
        out.push_str(
            "\n[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n",
        );
    }
    out
}

/// A TOML basic string (`"..."`) for `text`.
fn basic_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The project name for a directory name: whitespace becomes `-`, leading and
/// trailing `-_.` are dropped, and the result is normalized (PEP 503:
/// lowercase, runs of `-_.` as one `-`), e.g. `My Project_2` → `my-project-2`.
///
/// # Errors
/// `PB0105` when the name has other characters than ASCII letters, digits,
/// `-`, `_`, `.` and whitespace, or nothing is left.
pub fn normalize_project_name(dir_name: &str) -> Result<String, Diagnostic> {
    let error = |why: String| {
        Diagnostic::error(
            Code::InvalidName,
            format!("cannot make a project name from the directory name `{dir_name}`"),
        )
        .with_cause(why)
        .with_hint(NAME_HINT)
        .with_hint("give the name explicitly (`--name NAME`)")
    };
    if let Some(bad) = dir_name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || c.is_whitespace()))
    {
        return Err(error(format!("`{bad}` cannot be part of a project name")));
    }
    let dashed: String = dir_name
        .trim()
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .collect();
    let trimmed = dashed.trim_matches(|c| matches!(c, '-' | '_' | '.'));
    if trimmed.is_empty() {
        return Err(error("it has no letters or digits".to_owned()));
    }
    let name = normalize_name(trimmed);
    match PackageName::from_str(&name) {
        Ok(_) => Ok(name),
        Err(err) => Err(error(err.to_string())),
    }
}

/// A `.gitignore` for a Python project managed by PyBun.
#[must_use]
pub fn gitignore_template() -> &'static str {
    "# Python-generated files\n__pycache__/\n*.pyc\nbuild/\ndist/\n*.egg-info\n\n# Virtual environments\n.venv\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_pyproject;

    #[test]
    fn init_is_valid() {
        for build in [false, true] {
            let text = init_pyproject("my-project", ">=3.12", build);
            let parsed = parse_pyproject(&text, "pyproject.toml");
            assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
            let project = parsed.project.unwrap();
            assert_eq!(project.name.unwrap().value.as_ref(), "my-project");
            assert_eq!(project.has_build_system, build);
        }
        insta::assert_snapshot!(init_pyproject("demo", ">=3.9", true), @r#"
        [project]
        name = "demo"
        version = "0.1.0"
        requires-python = ">=3.9"
        dependencies = []

        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        "#);
        assert_eq!(basic_string("a\"b\\"), r#""a\"b\\""#);
    }

    #[test]
    fn project_names() {
        for (dir, name) in [
            ("demo", "demo"),
            ("My Project_2", "my-project-2"),
            ("zope.interface", "zope-interface"),
            ("_private_", "private"),
            ("  spaced  out ", "spaced-out"),
        ] {
            assert_eq!(normalize_project_name(dir).unwrap(), name, "{dir}");
        }
        for dir in ["", "...", "café", "a/b", "a+b"] {
            let err = normalize_project_name(dir).unwrap_err();
            assert_eq!(err.code, Code::InvalidName, "{dir}");
        }
    }

    #[test]
    fn gitignore() {
        for line in [
            ".venv",
            "__pycache__/",
            "*.pyc",
            "dist/",
            "build/",
            "*.egg-info",
        ] {
            assert!(gitignore_template().lines().any(|l| l == line), "{line}");
        }
    }
}
