//! `pybun check` and the language server's diagnostics: everything PyBun can
//! tell about a `pyproject.toml` (or a PEP 723 script's `# /// script`
//! block), as [`Diagnostic`]s with exact spans and machine-readable
//! [`Fix`]es.
//!
//! Four layers, separable so that an editor can run the cheap ones on every
//! keystroke and the others in the background:
//!
//! | layer | function | needs | what |
//! |---|---|---|---|
//! | static | [`check_static`], [`check_script_static`] | the text | every TOML syntax error, `[project]` (PEP 621), PEP 508 / PEP 440 strings, `[dependency-groups]`, `[tool.pybun]`: exactly what `pybun lock` reports (`pybun_project::parse_pyproject_partial`); plus `[tool.pybun.scripts]` tasks (what `pybun run` reports) |
//! | index | [`check_index`] | a [`PackageIndex`] (blocking) | unknown packages (`PB0301`, "did you mean"), specifiers that match no release (`PB0800`); code actions (bump to the latest release, normalize a name, add a lower bound) |
//! | resolution | [`check_resolution`] | a [`PackageIndex`] (blocking) | the resolver of `pybun lock` on the same inputs; a conflict (`PB0300`) is reported on *each* requirement involved |
//! | lock | [`check_lock`] | a [`FileSystem`] | a lock beside the file that is stale for this text (`PB0403`, info, fix: run `pybun lock`) |
//!
//! [`check`] runs them all for `pybun check`: static first; offline, the
//! index and resolution layers are skipped with one `PB0801` info; the
//! resolution runs only when the static and index layers found no error (it
//! would only repeat them); the lock layer runs when the static one found no
//! error.
//!
//! Every check reuses the code `pybun lock` runs (the parser, the resolver,
//! the fingerprint, the failure messages), so `pybun lock` and `pybun check`
//! report the same problems with the same codes (`pybun lock`'s `PB0300`
//! lists the `PB0800`s of [`check_index`] as related diagnostics).
//!
//! The API (SPECS.md section 20 has the rules in full):
//!
//! ```text
//! check_static(text, file) -> StaticCheck { project: Option<Project>, diagnostics }
//! check_script_static(text, file) -> StaticCheck
//! check_index(text, &project, file, &dyn PackageIndex) -> IndexCheck { diagnostics, actions: Vec<RequirementAction { span, fix }> }
//! check_resolution(&project, pyproject_path, &dyn PackageIndex, &ResolutionSettings { index, lock }, &dyn Reporter) -> Vec<Diagnostic>
//! check_lock(text, path, &dyn FileSystem, &IndexSettings) -> Option<Diagnostic>
//! check(&CheckRequest { directory, path, index, lock, offline }, &dyn FileSystem, IndexOpener, &dyn Reporter)
//!     -> Result<CheckOutcome { file, text, diagnostics }, Failure>
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use pybun_diagnostics::{Code, Diagnostic, Fix, FixCommand, Span};
use pybun_pep::{DistFilename, Operator, PackageName, Req, Version, VersionOrUrl, specifiers_to_ranges};
use pybun_ports::{FileSystem, IndexError, PackageIndex, Reporter};
use pybun_project::{Project, Spanned};
use pybun_resolver::{ConflictNode, ResolveError, resolve};

use crate::Failure;
use crate::lock::{IndexOpener, IndexSettings, Inputs, LockSettings};
use crate::project::LoadedProject;

/// The result of the static layer.
#[derive(Debug, Clone)]
pub struct StaticCheck {
    /// What could be read (from the recoverable parts when there are syntax
    /// errors); `None` when nothing could be read. The index, resolution
    /// and lock layers take it.
    pub project: Option<Project>,
    /// Every problem, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl StaticCheck {
    /// Whether any diagnostic is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The static layer for a `pyproject.toml`: no IO, fast enough for every
/// keystroke. `file` is the path to put in the diagnostics.
#[must_use]
pub fn check_static(text: &str, file: &str) -> StaticCheck {
    let parsed = pybun_project::parse_pyproject_partial(text, file);
    let mut diagnostics = parsed.diagnostics;
    // `[tool.pybun.scripts]` (what `pybun run TASK` reads), when the TOML is valid.
    if !diagnostics.iter().any(|d| d.code == Code::TomlSyntax) {
        diagnostics.extend(pybun_project::parse_tasks(text, file).diagnostics);
        diagnostics.sort_by_key(position);
    }
    StaticCheck { project: parsed.project, diagnostics }
}

/// The static layer for a PEP 723 script: the `# /// script` block of the
/// Python source `text`, spans in `text`. The project is the block's
/// `dependencies` and `requires-python`, named after the file; `None` when
/// the block is absent (not a problem here: most Python files have none;
/// [`check`] reports it for `pybun check FILE.py`) or not valid TOML.
#[must_use]
pub fn check_script_static(text: &str, file: &str) -> StaticCheck {
    let parsed = pybun_project::parse_script(text, file);
    let project = parsed.metadata.map(|metadata| crate::project::script_project(Path::new(file), metadata));
    StaticCheck { project, diagnostics: parsed.diagnostics }
}

/// A refactoring offered on a requirement that is not a problem (e.g. "bump
/// to the latest release"); editors show it as a code action when the
/// cursor is in `span`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementAction {
    /// The requirement's string literal, quotes included.
    pub span: Span,
    pub fix: Fix,
}

/// The result of the index layer.
#[derive(Debug, Clone, Default)]
pub struct IndexCheck {
    pub diagnostics: Vec<Diagnostic>,
    /// Code actions that fix nothing wrong: bump to the latest release,
    /// normalize the name, add a lower bound.
    pub actions: Vec<RequirementAction>,
}

/// Every requirement of the project that names a package on an index, once
/// per place it is written: dependencies, extras, groups, `[tool.pybun]
/// dev-dependencies`, `[build-system] requires`.
fn written_requirements(project: &Project) -> Vec<&Spanned<Req>> {
    let mut seen = BTreeSet::new();
    project
        .dependencies
        .iter()
        .chain(project.optional_dependencies.values().flatten())
        .chain(project.dependency_groups.values().flatten())
        .chain(&project.tool.dev_dependencies)
        .chain(&project.build_requires)
        .filter(|r| !matches!(r.value.version_or_url, Some(VersionOrUrl::Url(_))))
        .filter(|r| seen.insert((r.span.start, r.span.end)))
        .collect()
}

/// The releases of a package the index lists, from its file names.
struct Releases {
    /// Version → whether it has a file that is not yanked.
    versions: BTreeMap<Version, bool>,
}

impl Releases {
    fn new(name: &PackageName, files: &[pybun_ports::DistFile]) -> Self {
        let mut versions: BTreeMap<Version, bool> = BTreeMap::new();
        for file in files {
            if let Ok(parsed) = DistFilename::parse(&file.filename, name) {
                let usable = versions.entry(parsed.version().clone()).or_insert(false);
                *usable |= file.yanked.is_none();
            }
        }
        Self { versions }
    }

    /// The newest usable release: the newest final one, else the newest pre-release.
    fn latest(&self) -> Option<&Version> {
        let usable = || self.versions.iter().filter(|(_, usable)| **usable).map(|(v, _)| v);
        usable().rfind(|v| !v.any_prerelease()).or_else(|| usable().next_back())
    }

    /// The releases `requirement` allows, as the resolver counts them (a
    /// yanked release only when pinned exactly; pre-releases too, since the
    /// default `if-necessary` mode takes them when nothing else matches).
    fn matching(&self, requirement: &Req) -> Vec<&Version> {
        let Some(VersionOrUrl::VersionSpecifier(specifiers)) = &requirement.version_or_url else {
            return self.versions.iter().filter(|(_, usable)| **usable).map(|(v, _)| v).collect();
        };
        let range = specifiers_to_ranges(specifiers);
        let pinned = specifiers.iter().any(|s| matches!(s.operator(), Operator::Equal | Operator::ExactEqual));
        self.versions.iter().filter(|(v, usable)| range.contains(v) && (**usable || pinned)).map(|(v, _)| v).collect()
    }
}

/// Where the parts of a requirement string are, in the file.
struct RequirementParts {
    /// The package name as written.
    name: Range<usize>,
    /// The version specifiers (without parentheses), or an empty range where they would go.
    specifiers: Range<usize>,
}

/// Find the name and specifier parts of the requirement literal at `span`.
///
/// Only for single-line literal strings and basic strings without escapes
/// (where the text is the value); `None` otherwise, and then no text edit is
/// offered.
fn requirement_parts(text: &str, span: Span) -> Option<RequirementParts> {
    let raw = text.get(span.start..span.end)?;
    let exact = raw.len() >= 2
        && ((raw.starts_with('\'') && !raw.starts_with("'''"))
            || (raw.starts_with('"') && !raw.starts_with("\"\"\"") && !raw.contains('\\')));
    if !exact {
        return None;
    }
    let content_start = span.start + 1;
    let content = &raw[1..raw.len() - 1];
    let bytes = content.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'-' | b'_' | b'.')) {
        i += 1;
    }
    let name = content_start + name_start..content_start + i;
    let mut j = i;
    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
        j += 1;
    }
    if bytes.get(j) == Some(&b'[') {
        j += content[j..].find(']')? + 1;
        i = j;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
    }
    let specifiers = match bytes.get(j) {
        Some(b'@') => return None,
        Some(b'(') => {
            let close = j + content[j..].find(')')?;
            content_start + j + 1..content_start + close
        }
        Some(b'<' | b'>' | b'=' | b'!' | b'~') => {
            let end = content[j..].find(';').map_or(content.len(), |k| j + k);
            let end = j + content[j..end].trim_end().len();
            content_start + j..content_start + end
        }
        _ => content_start + i..content_start + i,
    };
    Some(RequirementParts { name, specifiers })
}

/// The specifier to suggest instead of `requirement`'s to reach `version`:
/// `==version` for a single `==` pin, else `>=version`.
fn bumped_specifier(requirement: &Req, version: &Version) -> String {
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers))
            if specifiers.len() == 1 && specifiers.iter().all(|s| *s.operator() == Operator::Equal) =>
        {
            format!("=={version}")
        }
        _ => format!(">={version}"),
    }
}

fn has_lower_bound(requirement: &Req) -> bool {
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers.iter().any(|s| {
            matches!(
                s.operator(),
                Operator::Equal
                    | Operator::ExactEqual
                    | Operator::EqualStar
                    | Operator::GreaterThan
                    | Operator::GreaterThanEqual
                    | Operator::TildeEqual
            )
        }),
        _ => false,
    }
}

/// A fix that writes `specifiers` into the requirement (the text `text` of the file).
fn specifier_fix(title: String, text: &str, parts: &RequirementParts, specifiers: &str) -> Fix {
    Fix::replace(title, Span::in_source(text, parts.specifiers.start, parts.specifiers.end), specifiers)
}

/// The requirement as it reads with `specifiers` instead of its own (for titles).
fn with_specifiers(text: &str, parts: &RequirementParts, specifiers: &str) -> String {
    format!("{}{specifiers}", &text[parts.name.start..parts.name.end])
}

/// The index layer: ask `index` about every package the project names.
///
/// Blocking (the [`PackageIndex`] port is); editors run it in the
/// background. `text` is the file's text (for the fixes' edits), `file` the
/// path for the diagnostics. An index that cannot answer (unreachable,
/// offline cache miss, HTTP error) gives one diagnostic with `pybun lock`'s
/// code for it, and the remaining packages are not asked.
#[must_use]
pub fn check_index(text: &str, project: &Project, file: &str, index: &dyn PackageIndex) -> IndexCheck {
    let requirements = written_requirements(project);
    let names: BTreeSet<&PackageName> = requirements.iter().map(|r| &r.value.name).collect();
    for name in &names {
        index.prefetch_project(name);
    }
    let mut out = IndexCheck::default();
    let mut known: BTreeMap<&PackageName, Option<Releases>> = BTreeMap::new();
    for name in names {
        match index.project(name) {
            Ok(files) => {
                known.insert(name, Some(Releases::new(name, &files.files)));
            }
            Err(IndexError::NotFound { .. }) => {
                known.insert(name, None);
            }
            Err(error) => {
                out.diagnostics.push(crate::lock::index_failure(&error).in_file(file));
                return out;
            }
        }
    }
    let mut suggestions: BTreeMap<&PackageName, Vec<String>> = BTreeMap::new();
    for requirement in requirements {
        let name = &requirement.value.name;
        let parts = requirement_parts(text, requirement.span);
        let Some(Some(releases)) = known.get(name) else {
            let suggested = suggestions.entry(name).or_insert_with(|| crate::lock::suggest_names(index, name));
            let mut diagnostic =
                Diagnostic::error(Code::PackageNotFound, format!("package `{name}` was not found on any configured index"))
                    .with_label("no such package")
                    .at(file, requirement.span);
            if suggested.is_empty() {
                diagnostic = diagnostic.with_hint(
                    "check the spelling, and `--index-url` / `--extra-index-url` if the package lives on another index",
                );
            } else {
                let list: Vec<String> = suggested.iter().map(|s| format!("`{s}`")).collect();
                diagnostic = diagnostic.with_hint(format!("did you mean {}?", list.join(" or ")));
                if let Some(parts) = &parts {
                    for suggestion in suggested.iter() {
                        diagnostic = diagnostic.with_fix(Fix::replace(
                            format!("Change to `{suggestion}`"),
                            Span::in_source(text, parts.name.start, parts.name.end),
                            suggestion.clone(),
                        ));
                    }
                }
            }
            out.diagnostics.push(diagnostic);
            continue;
        };
        let Some(latest) = releases.latest() else {
            out.diagnostics.push(
                Diagnostic::error(Code::NoMatchingRelease, format!("`{name}` has no release on the index that can be installed"))
                    .with_label("no usable release")
                    .with_hint("every file of it is yanked or has a name PyBun cannot read")
                    .at(file, requirement.span),
            );
            continue;
        };
        let matching = releases.matching(&requirement.value);
        if matching.is_empty() {
            out.diagnostics.push(no_matching_release(requirement, releases, latest, Some(text), file));
            continue;
        }
        let Some(parts) = parts else { continue };
        // Code actions on a requirement that is fine.
        let written = &text[parts.name.start..parts.name.end];
        if written != name.as_ref() {
            out.actions.push(RequirementAction {
                span: requirement.span,
                fix: Fix::replace(
                    format!("Normalize the name to `{name}`"),
                    Span::in_source(text, parts.name.start, parts.name.end),
                    name.to_string(),
                ),
            });
        }
        // Only upwards: a pre-release the specifier asks for may be newer than the latest final release.
        if matching.last().is_some_and(|best| *best < latest) {
            let new = bumped_specifier(&requirement.value, latest);
            out.actions.push(RequirementAction {
                span: requirement.span,
                fix: specifier_fix(
                    format!("Bump to the latest release: `{}`", with_specifiers(text, &parts, &new)),
                    text,
                    &parts,
                    &new,
                ),
            });
        }
        if !has_lower_bound(&requirement.value) {
            let best = matching.iter().rev().find(|v| !v.any_prerelease()).or(matching.last()).copied().unwrap_or(latest);
            let existing = text[parts.specifiers.clone()].trim();
            let new = if existing.is_empty() { format!(">={best}") } else { format!(">={best},{existing}") };
            out.actions.push(RequirementAction {
                span: requirement.span,
                fix: specifier_fix(
                    format!("Add a lower bound: `{}`", with_specifiers(text, &parts, &new)),
                    text,
                    &parts,
                    &new,
                ),
            });
        }
    }
    out.diagnostics.sort_by_key(position);
    out
}

/// `PB0800` for a requirement no release matches: underlined on the
/// specifier, with the latest release and (given the file's `text`) a fix to it.
fn no_matching_release(requirement: &Spanned<Req>, releases: &Releases, latest: &Version, text: Option<&str>, file: &str) -> Diagnostic {
    let name = &requirement.value.name;
    let specifiers = match &requirement.value.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers.to_string(),
        _ => String::new(),
    };
    let parts = text.and_then(|text| requirement_parts(text, requirement.span).map(|parts| (text, parts)));
    let underline = parts
        .as_ref()
        .filter(|(_, p)| !p.specifiers.is_empty())
        .map_or(requirement.span, |(text, p)| Span::in_source(text, p.specifiers.start, p.specifiers.end));
    let mut diagnostic = Diagnostic::error(Code::NoMatchingRelease, format!("no release of `{name}` matches `{specifiers}`"))
        .with_label(format!("the latest release is {latest}"))
        .with_hint(format!("the latest release of `{name}` is {latest}"))
        .at(file, underline);
    if releases.versions.iter().any(|(v, usable)| !usable && specifiers_match(&requirement.value, v)) {
        diagnostic = diagnostic.with_hint("a yanked release matches; a yanked release is used only when pinned exactly (`==`)");
    }
    if let Some((text, parts)) = &parts {
        let new = bumped_specifier(&requirement.value, latest);
        diagnostic = diagnostic.with_fix(specifier_fix(
            format!("Use the latest release: `{}`", with_specifiers(text, parts, &new)),
            text,
            parts,
            &new,
        ));
    }
    diagnostic
}

/// For `pybun lock`'s failure: `PB0800` for each of the project's
/// requirements that no release on the index matches (the same diagnostic
/// `pybun check` gives; without `text`, on the whole string and without a fix).
/// Index errors are skipped: this only adds detail to a resolution failure.
pub(crate) fn unmatched_requirements(project: &Project, text: Option<&str>, file: &str, index: &dyn PackageIndex) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for requirement in written_requirements(project) {
        if !matches!(requirement.value.version_or_url, Some(VersionOrUrl::VersionSpecifier(_))) {
            continue;
        }
        let Ok(files) = index.project(&requirement.value.name) else { continue };
        let releases = Releases::new(&requirement.value.name, &files.files);
        if let Some(latest) = releases.latest()
            && releases.matching(&requirement.value).is_empty()
        {
            out.push(no_matching_release(requirement, &releases, latest, text, file));
        }
    }
    out
}

fn specifiers_match(requirement: &Req, version: &Version) -> bool {
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers_to_ranges(specifiers).contains(version),
        _ => true,
    }
}

/// What the resolution layer resolves with; `pybun lock`'s options.
#[derive(Debug, Clone, Default)]
pub struct ResolutionSettings {
    /// The frontend's index options (`--index-url`, …); `[tool.pybun]` fills the rest.
    pub index: IndexSettings,
    pub lock: LockSettings,
}

/// The resolution layer: resolve `project` as `pybun lock` would (same
/// inputs, same resolver, same settings) and report why it fails.
///
/// A conflict (`PB0300`) gives one diagnostic on each of the project's
/// requirements the derivation names (and on `requires-python` when Python
/// is involved), each with the whole explanation as causes and the
/// resolver's hints; other failures give `pybun lock`'s diagnostic. Also
/// returns `pybun lock`'s warnings (no `requires-python`). Blocking.
#[must_use]
pub fn check_resolution(
    project: &Project,
    pyproject_path: &Path,
    index: &dyn PackageIndex,
    settings: &ResolutionSettings,
    reporter: &dyn Reporter,
) -> Vec<Diagnostic> {
    let loaded = LoadedProject {
        root: pyproject_path.parent().map_or_else(PathBuf::new, Path::to_path_buf),
        pyproject_path: pyproject_path.to_path_buf(),
        project: project.clone(),
        warnings: Vec::new(),
        text: String::new(),
    };
    let file = pyproject_path.display().to_string();
    let index_settings = settings.index.resolved(project);
    let mut diagnostics = Vec::new();
    let inputs = match Inputs::new(&loaded, &index_settings, &settings.lock, &mut diagnostics) {
        Ok(inputs) => inputs,
        Err(failure) => return failure_diagnostics(failure),
    };
    let request = inputs.resolve_request;
    let error = match resolve(&request, index, reporter) {
        Ok(_) => return diagnostics,
        Err(error) => error,
    };
    if let ResolveError::NoSolution(report) = &error {
        let mut involved = BTreeSet::new();
        let mut python = false;
        root_dependencies(&report.tree, &request.project, &mut involved, &mut python);
        let mut spans: Vec<(Span, String)> = written_requirements(project)
            .into_iter()
            .filter(|r| involved.contains(&r.value.name))
            .map(|r| (r.span, r.value.to_string()))
            .collect();
        if python && let Some(requires_python) = &project.requires_python {
            spans.push((requires_python.span, format!("requires-python {}", requires_python.value)));
        }
        if !spans.is_empty() {
            let others = |me: &str| -> Vec<String> {
                spans.iter().filter(|(_, r)| r != me).map(|(_, r)| format!("`{r}`")).collect()
            };
            for (span, requirement) in &spans {
                let mut diagnostic = Diagnostic::error(
                    Code::NoSolution,
                    format!("no set of versions satisfies the requirements: `{requirement}` is part of the conflict"),
                )
                .at(file.clone(), *span);
                let others = others(requirement);
                diagnostic = diagnostic.with_label(if others.is_empty() {
                    "cannot be satisfied".to_string()
                } else {
                    format!("conflicts with {}", others.join(", "))
                });
                diagnostic.causes.clone_from(&report.explanation);
                diagnostic.hints.clone_from(&report.hints);
                diagnostics.push(diagnostic);
            }
            diagnostics.sort_by_key(position);
            return diagnostics;
        }
    }
    diagnostics.extend(failure_diagnostics(crate::lock::resolve_failure(error, &loaded, &request, index)));
    diagnostics.sort_by_key(position);
    diagnostics
}

/// The packages the project's own requirements name in a derivation tree,
/// and whether the project's Python range is part of it.
fn root_dependencies(node: &ConflictNode, root: &str, names: &mut BTreeSet<PackageName>, python: &mut bool) {
    match node {
        ConflictNode::Dependency { package, dependency, .. } if package == root => {
            if dependency == "Python" {
                *python = true;
            } else {
                let bare = dependency.split('[').next().unwrap_or(dependency);
                if let Ok(name) = PackageName::from_str(bare) {
                    names.insert(name);
                }
            }
        }
        // A package needing another Python than the project allows: `requires-python` is involved.
        ConflictNode::Dependency { dependency, .. } if dependency == "Python" => *python = true,
        ConflictNode::Derived { causes, .. } => {
            for cause in causes {
                root_dependencies(cause, root, names, python);
            }
        }
        _ => {}
    }
}

fn failure_diagnostics(failure: Failure) -> Vec<Diagnostic> {
    std::iter::once(*failure.diagnostic).chain(failure.related).collect()
}

/// The lock layer: whether the lock beside `path` (`pybun.lock` /
/// `pybun.lockb` in its directory, or `FILE.py.lock` for a script) was made
/// from other inputs than `text` gives (the fingerprint `pybun lock`
/// compares, with the options recorded in the lock and `index`'s index
/// options). A stale lock is `PB0403` at *info* severity on the
/// `[project]` header (else the first line) with a fix that runs `pybun
/// lock`; an unreadable lock is its own diagnostic. `None` when the lock is
/// up to date, there is none, or `text` has errors.
#[must_use]
pub fn check_lock(text: &str, path: &Path, fs: &dyn FileSystem, index: &IndexSettings) -> Option<Diagnostic> {
    let file = path.display().to_string();
    let is_script = path.extension().is_some_and(|e| e == "py");
    let checked = if is_script { check_script_static(text, &file) } else { check_static(text, &file) };
    if checked.has_errors() {
        return None;
    }
    let project = checked.project?;
    let root = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    let existing = if is_script {
        crate::lock::read_script_lock(fs, &crate::lock::script_lock_path(path))
    } else {
        crate::lock::read_existing(fs, &root)
    };
    let (lock, lock_path) = match existing {
        Ok(Some(found)) => found,
        Ok(None) => return None,
        Err(failure) => return Some(*failure.diagnostic),
    };
    let loaded = LoadedProject { root, pyproject_path: path.to_path_buf(), project, warnings: Vec::new(), text: text.to_string() };
    let settings = crate::lock::settings_from_lock(&lock);
    let index_settings = index.resolved(&loaded.project);
    let inputs = Inputs::new(&loaded, &index_settings, &settings, &mut Vec::new()).ok()?;
    if inputs.fingerprint == lock.fingerprint {
        return None;
    }
    let lock_name = lock_path.file_name().map_or_else(|| lock_path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let anchor = if is_script { script_anchor(text) } else { project_anchor(text) };
    Some(
        Diagnostic::info(Code::LockStale, format!("`{lock_name}` is out of date with this file"))
            .with_label("the lock was made from other requirements or options")
            .with_hint("run `pybun lock` to update it")
            .with_fix(Fix::command("Run `pybun lock`", FixCommand::Lock))
            .at(file, Span::in_source(text, anchor.start, anchor.end)),
    )
}

/// The `[project]` header line, else the first line.
fn project_anchor(text: &str) -> Range<usize> {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end();
        if body.trim() == "[project]" {
            return start..start + body.len();
        }
        start += line.len();
    }
    0..text.lines().next().map_or(0, str::len)
}

/// The `# /// script` line, else the first line.
fn script_anchor(text: &str) -> Range<usize> {
    match text.find("# /// script") {
        Some(start) => start..start + "# /// script".len(),
        None => 0..text.lines().next().map_or(0, str::len),
    }
}

/// A `pybun check` call.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// Where the command runs; the project is found from here.
    pub directory: PathBuf,
    /// The file to check, relative to `directory`: a `pyproject.toml` (or a
    /// directory holding one) or a `.py` script (its PEP 723 block). `None`:
    /// the `pyproject.toml` of the project `directory` is in.
    pub path: Option<PathBuf>,
    pub index: IndexSettings,
    /// Resolution options; `None`: those recorded in the lock, else the defaults.
    pub lock: Option<LockSettings>,
    /// Skip the index and resolution layers (one `PB0801` info says so).
    pub offline: bool,
}

/// What `pybun check` found.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// The file checked.
    pub file: PathBuf,
    /// Its text, as checked (the diagnostics' spans point into it).
    pub text: String,
    /// Every diagnostic of every layer, in file order (those without a span first).
    pub diagnostics: Vec<Diagnostic>,
}

impl CheckOutcome {
    /// How many diagnostics have `severity`.
    #[must_use]
    pub fn count(&self, severity: pybun_diagnostics::Severity) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == severity).count()
    }
}

/// Run every layer on one file, for `pybun check`.
///
/// # Errors
/// A [`Failure`] only when there is nothing to check: no `pyproject.toml`
/// found (`PB0100`), or the file cannot be read (`PB0002`). Problems in the
/// file are the outcome's diagnostics, never a failure.
pub fn check(
    request: &CheckRequest,
    fs: &dyn FileSystem,
    open_index: IndexOpener<'_>,
    reporter: &dyn Reporter,
) -> Result<CheckOutcome, Failure> {
    let path = match &request.path {
        Some(path) if fs.is_dir(&request.directory.join(path)) => request.directory.join(path).join("pyproject.toml"),
        Some(path) => request.directory.join(path),
        None => {
            let root = crate::find_project_root(fs, &request.directory).ok_or_else(|| {
                Failure::new(
                    Diagnostic::error(
                        Code::PyprojectNotFound,
                        format!("no `pyproject.toml` found in `{}` or any parent directory", request.directory.display()),
                    )
                    .with_hint("run the command inside a project, or pass the file to check: `pybun check path/to/pyproject.toml`"),
                )
            })?;
            root.join("pyproject.toml")
        }
    };
    let text = fs.read_to_string(&path).map_err(|e| Failure::io(&path, &e, "read"))?;
    let file = path.display().to_string();
    let is_script = path.extension().is_some_and(|e| e == "py");
    let checked = if is_script { check_script_static(&text, &file) } else { check_static(&text, &file) };
    let mut diagnostics = checked.diagnostics;
    if is_script && checked.project.is_none() && diagnostics.is_empty() {
        diagnostics.push(
            Diagnostic::error(Code::ProjectTable, format!("`{file}` has no `# /// script` metadata block (PEP 723)"))
                .in_file(file.clone())
                .with_hint("add a block:\n# /// script\n# dependencies = [\"requests\"]\n# ///"),
        );
    }
    let static_errors = diagnostics.iter().any(Diagnostic::is_error);
    if let Some(project) = &checked.project {
        if request.offline {
            diagnostics.push(
                Diagnostic::info(Code::ChecksSkipped, "offline: the index and resolution checks were skipped")
                    .with_hint("run without `--offline` to check package names, versions and conflicts")
                    .in_file(file.clone()),
            );
        } else {
            let index_settings = request.index.resolved(project);
            let index = open_index(&index_settings)?;
            let found = check_index(&text, project, &file, index.as_ref());
            let index_errors = found.diagnostics.iter().any(Diagnostic::is_error);
            diagnostics.extend(found.diagnostics);
            if !static_errors && !index_errors {
                let lock = match &request.lock {
                    Some(lock) => lock.clone(),
                    None => recorded_settings(fs, &path, is_script),
                };
                let settings = ResolutionSettings { index: request.index.clone(), lock };
                diagnostics.extend(check_resolution(project, &path, index.as_ref(), &settings, reporter));
            }
        }
        if !static_errors && let Some(stale) = check_lock(&text, &path, fs, &request.index) {
            diagnostics.push(stale);
        }
    }
    diagnostics.sort_by_key(position);
    Ok(CheckOutcome { file: path, text, diagnostics })
}

/// The options recorded in the file's lock, else the defaults.
fn recorded_settings(fs: &dyn FileSystem, path: &Path, is_script: bool) -> LockSettings {
    let existing = if is_script {
        crate::lock::read_script_lock(fs, &crate::lock::script_lock_path(path))
    } else {
        crate::lock::read_existing(fs, path.parent().unwrap_or(Path::new("")))
    };
    match existing {
        Ok(Some((lock, _))) => crate::lock::settings_from_lock(&lock),
        _ => LockSettings::default(),
    }
}

/// Sort key: file order, diagnostics without a span first.
fn position(diagnostic: &Diagnostic) -> Option<(usize, usize)> {
    diagnostic.location.as_ref().and_then(|l| l.span).map(|s| (s.start, s.end))
}
