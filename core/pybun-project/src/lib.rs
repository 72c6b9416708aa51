//! `pyproject.toml` reading and validation with spans.
//!
//! [`parse_pyproject`] takes the text of a `pyproject.toml` and returns what it
//! could read ([`Project`]) together with every problem found
//! ([`Diagnostic`]s with exact spans), so that an editor can show them all at
//! once. It does no IO: the caller reads the file.
//!
//! What is read and checked:
//! - `[project]` (PEP 621 / the PyPA `pyproject.toml` specification): key
//!   names, value types, `name`, `version`, `requires-python`, `dependencies`,
//!   `optional-dependencies` and `dynamic`
//! - `[dependency-groups]` (PEP 735), with `include-group` expanded
//! - `[build-system]` (PEP 518)
//! - `[tool.pybun]`: PyBun's own settings

mod cx;
mod edit;
mod groups;
mod init;
mod project;
mod recover;
mod script;
mod tasks;
mod tool;

pub use edit::{DependencyTarget, Edit, add_requirement, remove_requirement};
pub use init::{gitignore_template, init_pyproject, normalize_project_name};
pub use script::{
    ParsedScript, ScriptMetadata, ScriptTool, parse_script, script_fingerprint_input,
};
pub use tasks::{
    BUILTIN_COMMANDS, ParsedTasks, SplitError, Task, TaskAction, TaskStep, parse_tasks,
    split_command, task_plan,
};

use std::collections::BTreeMap;

use pybun_diagnostics::{Code, Diagnostic, Span};
use pybun_pep::{ExtraName, PackageName, Req, Version, VersionSpecifiers};
use toml_edit::Item;

use crate::cx::{Cx, suggest};

/// A value and where it is written in the file.
///
/// For strings the span covers the whole string literal, quotes included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// What PyBun reads from a `pyproject.toml`.
///
/// Fields that were invalid are left out (`None` or not in the list), so a
/// `Project` is always usable even when there were errors; check
/// [`Parsed::has_errors`] before acting on it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Project {
    /// `[project].name`.
    pub name: Option<Spanned<PackageName>>,
    /// `[project].version`.
    pub version: Option<Spanned<Version>>,
    /// `[project].requires-python`.
    pub requires_python: Option<Spanned<VersionSpecifiers>>,
    /// `[project].dependencies`.
    pub dependencies: Vec<Spanned<Req>>,
    /// `[project].optional-dependencies`, by normalized extra name.
    pub optional_dependencies: BTreeMap<ExtraName, Vec<Spanned<Req>>>,
    /// `[dependency-groups]` (PEP 735) by normalized group name, with
    /// `include-group` entries replaced by the included group's requirements.
    pub dependency_groups: BTreeMap<String, Vec<Spanned<Req>>>,
    /// `[project].dynamic`, as written (valid field names only).
    pub dynamic: Vec<String>,
    /// Whether the file has a `[build-system]` table.
    pub has_build_system: bool,
    /// `[build-system].requires`.
    pub build_requires: Vec<Spanned<Req>>,
    /// `[build-system].build-backend`.
    pub build_backend: Option<String>,
    /// `[build-system].backend-path` (in-tree backends), relative to the project root.
    pub build_backend_path: Vec<String>,
    /// Whether the file has a `[project]` table.
    pub has_project_table: bool,
    /// `[tool.pybun]`.
    pub tool: ToolPybun,
}

impl Project {
    /// Whether `field` (e.g. `"dependencies"`) is listed in `[project].dynamic`.
    #[must_use]
    pub fn is_dynamic(&self, field: &str) -> bool {
        self.dynamic.iter().any(|d| d == field)
    }
}

/// The lockfile encoding, `[tool.pybun] lockfile = "text" | "binary"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LockfileFormat {
    #[default]
    Text,
    Binary,
}

impl LockfileFormat {
    /// The spelling in `pyproject.toml`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Binary => "binary",
        }
    }
}

/// PyBun's settings from `[tool.pybun]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolPybun {
    /// `lockfile`: the lockfile encoding (default text).
    pub lockfile_format: LockfileFormat,
    /// `index-url`: replaces the default index (PyPI).
    pub index_url: Option<String>,
    /// `extra-index-urls`: searched after `index-url`, in order.
    pub extra_index_urls: Vec<String>,
    /// `dev-dependencies`: callers merge these into the dependency group `dev`.
    pub dev_dependencies: Vec<Spanned<Req>>,
}

/// The result of [`parse_pyproject`]: what could be read, and every problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// `None` only when the file is not valid TOML.
    pub project: Option<Project>,
    /// Every problem found, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// Whether any diagnostic is an error (warnings do not count).
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The top-level tables the specifications define.
const TOP_LEVEL_KEYS: &[&str] = &["build-system", "project", "tool", "dependency-groups"];

/// Read and validate the text of a `pyproject.toml`; `file` is the path to
/// show in diagnostics.
///
/// Never fails: problems are returned as diagnostics. When the text is not
/// valid TOML the result has no project; its diagnostics are every syntax
/// error (`PB0101`) plus the problems found in the parts that could be read
/// (see [`parse_pyproject_partial`]).
#[must_use]
pub fn parse_pyproject(text: &str, file: &str) -> Parsed {
    let (parsed, syntax_errors) = parse(text, file);
    if syntax_errors {
        return Parsed { project: None, diagnostics: parsed.diagnostics };
    }
    parsed
}

/// Like [`parse_pyproject`], but with syntax errors the project is still
/// read from the recoverable parts of the file (the lines with syntax errors
/// left out), for editors that want hover and checks while the user types.
/// `project` is `None` only when no part could be recovered.
#[must_use]
pub fn parse_pyproject_partial(text: &str, file: &str) -> Parsed {
    parse(text, file).0
}

/// The TOML syntax error `error` of `text` as a `PB0101` diagnostic.
fn syntax_diagnostic(cx: &mut Cx<'_>, error: &recover::SyntaxError) {
    let message = error.message.as_str();
    let mut diagnostic = Diagnostic::error(Code::TomlSyntax, format!("invalid TOML: {message}")).with_label(message.to_owned());
    if message == "duplicate key"
        && let Some(key) = error.range.clone().and_then(|r| cx.text.get(r))
    {
        diagnostic.message = format!("invalid TOML: duplicate key `{key}`");
        diagnostic = diagnostic.with_hint("a key can be given only once in a table");
    }
    cx.push(diagnostic, error.range.clone());
}

/// Parse and validate; the flag tells whether there were syntax errors.
fn parse(text: &str, file: &str) -> (Parsed, bool) {
    let mut cx = Cx::new(text, file);
    let recovered = recover::parse_recovering(text);
    for error in &recovered.errors {
        syntax_diagnostic(&mut cx, error);
    }
    let syntax_errors = !recovered.errors.is_empty();
    // With syntax errors, "X is missing" may only mean X was on a bad line.
    cx.recovering = syntax_errors;
    let Some(document) = recovered.document else {
        return (Parsed { project: None, diagnostics: sorted(cx.diagnostics) }, true);
    };
    let root = document.as_table();
    let mut project = Project::default();

    for (key, item) in root.iter() {
        if !TOP_LEVEL_KEYS.contains(&key) {
            let mut diagnostic =
                Diagnostic::warning(Code::UnknownKey, format!("unknown top-level table `{key}`"));
            if let Some(suggestion) = suggest(key, TOP_LEVEL_KEYS) {
                diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
            }
            diagnostic = diagnostic.with_hint("the specification reserves top-level tables; tool settings belong under `[tool.NAME]`");
            let range = root
                .key(key)
                .and_then(toml_edit::Key::span)
                .or_else(|| item.span());
            cx.push(diagnostic, range);
        }
    }

    match root.get("project") {
        Some(item) => {
            project.has_project_table = true;
            project::read(&mut cx, item, &mut project);
        }
        None => cx.push_missing(
            Diagnostic::error(
                Code::ProjectTable,
                "`pyproject.toml` has no `[project]` table",
            )
            .with_hint(
                "PyBun needs `[project]` with at least `name` and `version` to lock and install",
            )
            .with_hint("add `[project]` with `name = \"...\"` and `version = \"0.1.0\"`"),
            None,
        ),
    }

    if let Some(item) = root.get("build-system") {
        project.has_build_system = true;
        read_build_system(&mut cx, item, &mut project);
    }

    if let Some(item) = root.get("dependency-groups") {
        project.dependency_groups = groups::read(&mut cx, item);
    }

    if let Some(tool) = root.get("tool")
        && let Some(tool) = cx.table_item(Code::ToolSettings, "tool", tool)
        && let Some(pybun) = tool.get("pybun")
    {
        project.tool = tool::read(&mut cx, pybun);
    }

    (Parsed { project: Some(project), diagnostics: sorted(cx.diagnostics) }, syntax_errors)
}

/// File order; diagnostics without a span (whole-file problems) come first.
fn sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|d| d.location.as_ref().and_then(|l| l.span).map(|s| (s.start, s.end)));
    diagnostics
}

fn read_build_system(cx: &mut Cx<'_>, item: &Item, project: &mut Project) {
    let Some(table) = cx.table_item(Code::ProjectTable, "build-system", item) else {
        return;
    };
    match table.get("requires") {
        Some(requires) => {
            project.build_requires = cx.requirements("build-system.requires", requires)
        }
        None => cx.push_missing(
            Diagnostic::error(Code::ProjectTable, "`[build-system]` has no `requires`").with_hint(
                "list the build backend's requirements, e.g. `requires = [\"hatchling\"]`",
            ),
            item.span(),
        ),
    }
    if let Some(backend) = table.get("build-backend") {
        project.build_backend = cx
            .str_item(Code::ProjectTable, "build-system.build-backend", backend)
            .map(str::to_owned);
    }
    if let Some(path) = table.get("backend-path") {
        project.build_backend_path = cx
            .string_array(Code::ProjectTable, "build-system.backend-path", path)
            .into_iter()
            .map(|entry| entry.value)
            .collect();
    }
}
