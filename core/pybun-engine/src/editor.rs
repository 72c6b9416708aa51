//! Editor use cases (the language server's): plain data for hover and
//! completion. (Code actions come from the check layers: the diagnostics'
//! fixes and [`crate::check::IndexCheck::actions`].)
//!
//! Everything works on the text of an open document (which may be unsaved and
//! half-typed) and byte offsets into it; frontends convert offsets to their
//! own positions. Index look-ups go through the [`PackageIndex`] port and
//! block: call them off the frontend's event loop.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use pybun_lockfile::{Lock, Source};
use pybun_pep::{CoreMetadata, DistFilename, PackageName, Req, Version, VersionOrUrl};
use pybun_ports::{FileSystem, IndexError, PackageIndex};
use pybun_project::{Project, Spanned};

/// What kind of file a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// A `pyproject.toml`.
    Pyproject,
    /// A Python file, whose PEP 723 `# /// script` block is read.
    Script,
}

impl DocumentKind {
    /// The kind of a file by its name: `pyproject.toml`, or `*.py`; `None` for anything else.
    #[must_use]
    pub fn of_path(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        if name == "pyproject.toml" {
            Some(Self::Pyproject)
        } else if Path::new(name).extension().is_some_and(|e| e == "py" || e == "pyw") {
            Some(Self::Script)
        } else {
            None
        }
    }
}

/// The project a document describes (from the recoverable parts when there
/// are syntax errors), or `None` when nothing could be read (a script:
/// no usable metadata block). The static check layer's project.
#[must_use]
pub fn document_project(text: &str, file: &str, kind: DocumentKind) -> Option<Project> {
    match kind {
        DocumentKind::Pyproject => crate::check::check_static(text, file).project,
        DocumentKind::Script => crate::check::check_script_static(text, file).project,
    }
}

/// Every requirement the project lists, with where it is written.
fn all_requirements(project: &Project) -> impl Iterator<Item = &Spanned<Req>> {
    project
        .dependencies
        .iter()
        .chain(project.optional_dependencies.values().flatten())
        .chain(project.dependency_groups.values().flatten())
        .chain(project.tool.dev_dependencies.iter())
        .chain(project.build_requires.iter())
}

/// The requirement whose string literal contains byte `offset`.
#[must_use]
pub fn requirement_at(project: &Project, offset: usize) -> Option<&Spanned<Req>> {
    all_requirements(project).find(|r| r.span.start <= offset && offset <= r.span.end)
}

/// What the index knows about a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFacts {
    pub name: PackageName,
    /// Every version with a file that is not yanked, newest first.
    pub versions: Vec<Version>,
    /// The newest final release (the newest pre-release when there is none).
    pub latest: Option<Version>,
    /// `Summary` of the latest version's metadata.
    pub summary: Option<String>,
    /// `Requires-Python` of the latest version.
    pub requires_python: Option<String>,
}

/// Ask the index about `name`; with `with_metadata`, also read the latest
/// version's metadata (summary and requires-python).
///
/// # Errors
/// The index's error for the project page (`NotFound` for an unknown name).
pub fn package_facts(index: &dyn PackageIndex, name: &PackageName, with_metadata: bool) -> Result<PackageFacts, IndexError> {
    let project = index.project(name)?;
    let mut versions: BTreeSet<Version> = BTreeSet::new();
    for file in &project.files {
        if file.yanked.is_some() {
            continue;
        }
        if let Ok(parsed) = DistFilename::parse(&file.filename, name) {
            versions.insert(parsed.version().clone());
        }
    }
    let versions: Vec<Version> = versions.into_iter().rev().collect();
    let latest = versions.iter().find(|v| !v.any_prerelease()).or_else(|| versions.first()).cloned();
    let mut facts = PackageFacts { name: name.clone(), versions, latest, summary: None, requires_python: None };
    let Some(latest) = facts.latest.clone() else {
        return Ok(facts);
    };
    let files: Vec<_> = project
        .files
        .iter()
        .filter(|f| f.yanked.is_none())
        .filter_map(|f| DistFilename::parse(&f.filename, name).ok().filter(|d| *d.version() == latest).map(|d| (f, d)))
        .collect();
    // A wheel with a PEP 658 metadata file is the cheapest to read.
    let best = files
        .iter()
        .max_by_key(|(file, parsed)| (matches!(parsed, DistFilename::Wheel(_)), file.has_metadata))
        .map(|(file, _)| *file);
    if let Some(file) = best {
        facts.requires_python.clone_from(&file.requires_python);
        if with_metadata
            && let Ok(raw) = index.metadata(name, file)
            && let Ok(metadata) = CoreMetadata::parse(&raw.bytes)
        {
            facts.summary = metadata.summary.filter(|s| !s.trim().is_empty());
            if let Some(requires_python) = metadata.requires_python {
                facts.requires_python = Some(requires_python.to_string());
            }
        }
    }
    Ok(facts)
}

/// The lock beside a document: `pybun.lock` / `pybun.lockb` next to a
/// `pyproject.toml`, `FILE.py.lock` next to a script. `None` when there is
/// none or it cannot be read.
#[must_use]
pub fn document_lock(fs: &dyn FileSystem, path: &Path, kind: DocumentKind) -> Option<Lock> {
    let candidates: Vec<PathBuf> = match kind {
        DocumentKind::Pyproject => {
            let root = path.parent()?;
            vec![root.join("pybun.lock"), root.join("pybun.lockb")]
        }
        DocumentKind::Script => {
            let mut name = path.file_name()?.to_os_string();
            name.push(".lock");
            vec![path.with_file_name(name)]
        }
    };
    candidates.iter().find_map(|candidate| {
        let bytes = fs.read(candidate).ok()?;
        pybun_lockfile::detect_and_parse(&bytes, &candidate.display().to_string()).ok()
    })
}

/// The resolution options recorded in the document's lock (what `pybun
/// lock` re-locks with), else the defaults.
#[must_use]
pub fn recorded_lock_settings(fs: &dyn FileSystem, path: &Path, kind: DocumentKind) -> crate::LockSettings {
    document_lock(fs, path, kind).map(|lock| crate::lock::settings_from_lock(&lock)).unwrap_or_default()
}

/// The versions of `name` the lock pins (one, or several for forked locks).
#[must_use]
pub fn locked_versions(lock: &Lock, name: &PackageName) -> Vec<String> {
    lock.packages
        .iter()
        .filter(|p| p.source != Source::Project)
        .filter(|p| PackageName::from_str(&p.name).is_ok_and(|n| &n == name))
        .map(|p| p.version.clone())
        .collect()
}

/// What to show when hovering a requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementHover {
    /// The requirement as PyBun reads it.
    pub requirement: String,
    pub name: PackageName,
    /// Byte span of the requirement's string literal.
    pub start: usize,
    pub end: usize,
    /// What the index says (`None` without an index, e.g. offline).
    pub facts: Option<PackageFacts>,
    /// Why the index could not answer.
    pub index_error: Option<String>,
    /// The versions the lock pins.
    pub locked: Vec<String>,
    /// Whether the requirement's specifiers allow the latest version (`None` when unknown, or for a direct URL).
    pub allows_latest: Option<bool>,
}

/// Hover data for the requirement at `offset`.
#[must_use]
pub fn hover(project: &Project, offset: usize, index: Option<&dyn PackageIndex>, lock: Option<&Lock>) -> Option<RequirementHover> {
    let requirement = requirement_at(project, offset)?;
    let name = requirement.value.name.clone();
    let (facts, index_error) = match index.map(|index| package_facts(index, &name, true)) {
        Some(Ok(facts)) => (Some(facts), None),
        Some(Err(error)) => (None, Some(error.to_string())),
        None => (None, None),
    };
    let allows_latest = facts.as_ref().and_then(|f| f.latest.as_ref()).and_then(|latest| allows(&requirement.value, latest));
    Some(RequirementHover {
        requirement: requirement.value.to_string(),
        name: name.clone(),
        start: requirement.span.start,
        end: requirement.span.end,
        facts,
        index_error,
        locked: lock.map(|lock| locked_versions(lock, &name)).unwrap_or_default(),
        allows_latest,
    })
}

/// Whether the requirement allows `version`; `None` for a direct URL (its
/// file's version, not the index's, is what it gets).
fn allows(requirement: &Req, version: &Version) -> Option<bool> {
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => Some(specifiers.contains(version)),
        Some(VersionOrUrl::Url(_)) => None,
        None => Some(true),
    }
}

/// What the cursor is completing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionTarget {
    /// A package name at the start of a requirement string; `start..cursor` is replaced.
    Name { prefix: String, start: usize },
    /// A version after a comparison operator; `start..cursor` is replaced.
    Version { name: PackageName, prefix: String, start: usize },
}

/// Where requirement arrays live: `(table, key)`; an empty key means any key of the table.
const REQUIREMENT_ARRAYS: &[(&str, &str)] = &[
    ("project", "dependencies"),
    ("project.optional-dependencies", ""),
    ("dependency-groups", ""),
    ("build-system", "requires"),
    ("tool.pybun", "dev-dependencies"),
];

/// What is being completed at byte `offset`: a name or a version inside a
/// requirement string of a requirement array. Text-based (the document is
/// often not valid TOML while typing).
#[must_use]
pub fn completion_target(text: &str, offset: usize, kind: DocumentKind) -> Option<CompletionTarget> {
    let offset = offset.min(text.len());
    let (literal_start, table, key) = scan_to(text, offset, kind)?;
    let in_array = match kind {
        DocumentKind::Script => table.is_empty() && key == "dependencies",
        DocumentKind::Pyproject => REQUIREMENT_ARRAYS.iter().any(|(t, k)| *t == table && (k.is_empty() || *k == key)),
    };
    if !in_array {
        return None;
    }
    let typed = text.get(literal_start..offset)?;
    let leading = typed.len() - typed.trim_start().len();
    let typed_name_end = typed[leading..].find(|c: char| !is_name_char(c)).map_or(typed.len(), |i| leading + i);
    if typed_name_end == typed.len() {
        return Some(CompletionTarget::Name { prefix: typed[leading..].to_string(), start: literal_start + leading });
    }
    let rest = &typed[typed_name_end..];
    if rest.contains([';', '@']) || (rest.contains('[') && !rest.contains(']')) {
        return None;
    }
    let operator_end = rest.rfind(['<', '>', '=', '!', '~'])? + 1;
    let after = &rest[operator_end..];
    let version = after.trim_start();
    if !version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '+' | '!' | '-' | '_')) {
        return None;
    }
    let name = PackageName::from_str(typed[leading..typed_name_end].trim()).ok()?;
    Some(CompletionTarget::Version { name, prefix: version.to_string(), start: offset - version.len() })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Scan TOML text up to `offset`: when `offset` is inside a basic or literal
/// string at array depth ≥ 1, the string's content start, the current table
/// header and the key the array belongs to. For a script, only the lines of
/// its `# /// script` block are read, without their `#` prefix.
fn scan_to(text: &str, offset: usize, kind: DocumentKind) -> Option<(usize, String, String)> {
    let mut table = String::new();
    let mut key = String::new();
    let mut depth = 0usize;
    let mut in_block = kind == DocumentKind::Pyproject;
    let mut line_start = 0usize;
    for line in text.split_inclusive('\n') {
        let line_end = line_start + line.len();
        let mut body_start = line_start;
        if kind == DocumentKind::Script {
            let trimmed = line.trim_end();
            if !in_block {
                if trimmed == "# /// script" {
                    in_block = true;
                }
                line_start = line_end;
                if offset < line_start {
                    return None;
                }
                continue;
            }
            if trimmed == "# ///" {
                return None;
            }
            body_start += if line.starts_with("# ") { 2 } else { usize::from(line.starts_with('#')) };
        }
        let body = &text[body_start..line_end];
        let at_depth_zero_start = depth == 0;
        let trimmed = body.trim_start();
        if at_depth_zero_start && trimmed.starts_with('[') {
            let header = trimmed.trim_start_matches('[');
            if let Some(end) = header.find(']') {
                table = header[..end].split('.').map(|p| p.trim().trim_matches('"')).collect::<Vec<_>>().join(".");
                key.clear();
                if offset < line_end {
                    return None;
                }
                line_start = line_end;
                continue;
            }
        }
        let mut chars = body.char_indices().peekable();
        let mut key_text = String::new();
        while let Some((index, ch)) = chars.next() {
            let absolute = body_start + index;
            if absolute >= offset {
                return None;
            }
            match ch {
                '#' => break,
                '"' | '\'' => {
                    let content_start = absolute + 1;
                    let mut escaped = false;
                    let mut closed = false;
                    for (inner, c) in chars.by_ref() {
                        let at = body_start + inner;
                        if at >= offset {
                            break;
                        }
                        if ch == '"' && c == '\\' && !escaped {
                            escaped = true;
                            continue;
                        }
                        if c == ch && !escaped {
                            closed = true;
                            break;
                        }
                        escaped = false;
                    }
                    if !closed {
                        // The cursor is inside this string (or it is unterminated on this line).
                        let end_of_line = body_start + body.trim_end_matches(['\n', '\r']).len();
                        return (offset <= end_of_line && depth >= 1).then(|| (content_start, table.clone(), key.clone()));
                    }
                    if depth == 0 {
                        key_text.clear();
                    }
                }
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                '=' if depth == 0 => {
                    key = key_text.trim().trim_matches('"').to_string();
                    key_text.clear();
                }
                c if depth == 0 => key_text.push(c),
                _ => {}
            }
        }
        line_start = line_end;
        if offset < line_start {
            return None;
        }
    }
    None
}

/// Package names to offer for `prefix`: the names the index has seen (its
/// cache) and the lock's packages, matching the prefix once normalized.
#[must_use]
pub fn complete_names(prefix: &str, index: Option<&dyn PackageIndex>, lock: Option<&Lock>, limit: usize) -> Vec<String> {
    let wanted = normalize_loose(prefix);
    let mut names: BTreeSet<String> = BTreeSet::new();
    if let Some(index) = index {
        names.extend(index.known_projects().iter().map(ToString::to_string));
    }
    if let Some(lock) = lock {
        names.extend(lock.packages.iter().filter(|p| p.source != Source::Project).map(|p| p.name.clone()));
    }
    names.into_iter().filter(|name| normalize_loose(name).starts_with(&wanted)).take(limit).collect()
}

fn normalize_loose(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// Versions of `name` to offer after an operator, newest first, matching what is typed.
///
/// # Errors
/// The index's error for the project page.
pub fn complete_versions(index: &dyn PackageIndex, name: &PackageName, prefix: &str) -> Result<Vec<Version>, IndexError> {
    let facts = package_facts(index, name, false)?;
    Ok(facts.versions.into_iter().filter(|v| v.to_string().starts_with(prefix)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pybun_ports::DistFile;
    use pybun_ports::testing::FixtureIndex;

    fn name(text: &str) -> PackageName {
        PackageName::from_str(text).unwrap()
    }

    fn index() -> FixtureIndex {
        let mut index = FixtureIndex::new();
        for (version, yanked) in [("1.0.0", false), ("2.0.0", false), ("2.1.0", false), ("3.0.0rc1", false), ("0.9", true)] {
            let filename = format!("requests-{version}-py3-none-any.whl");
            let file = DistFile {
                filename: filename.clone(),
                url: format!("https://example.org/{filename}"),
                index: "https://example.org/simple".into(),
                sha256: None,
                size: None,
                requires_python: Some(">=3.8".into()),
                yanked: yanked.then(String::new),
                upload_time: None,
                has_metadata: true,
            };
            let metadata = format!("Metadata-Version: 2.1\nName: requests\nVersion: {version}\nSummary: HTTP for Humans\nRequires-Python: >=3.9\n");
            index.add_file(&name("requests"), file, &metadata);
        }
        index
    }

    const PYPROJECT: &str = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\ndependencies = [\n  \"Requests_X >= 1.0 ; python_version > '3.8'\",\n  \"requests>=2.0,<3\",\n  \"requests<2.1\",\n]\n";

    #[test]
    fn facts_skip_yanked_and_prefer_final_releases() {
        let facts = package_facts(&index(), &name("requests"), true).unwrap();
        assert_eq!(facts.latest.unwrap().to_string(), "2.1.0");
        assert_eq!(facts.versions.iter().map(ToString::to_string).collect::<Vec<_>>(), ["3.0.0rc1", "2.1.0", "2.0.0", "1.0.0"]);
        assert_eq!(facts.summary.as_deref(), Some("HTTP for Humans"));
        assert_eq!(facts.requires_python.as_deref(), Some(">=3.9"));
    }

    #[test]
    fn hover_names_latest_and_whether_it_is_allowed() {
        let project = document_project(PYPROJECT, "pyproject.toml", DocumentKind::Pyproject).unwrap();
        let offset = PYPROJECT.find("requests<2.1").unwrap() + 3;
        let hover = hover(&project, offset, Some(&index()), None).unwrap();
        assert_eq!(hover.name.to_string(), "requests");
        assert_eq!(hover.allows_latest, Some(false));
        assert_eq!(hover.facts.unwrap().summary.as_deref(), Some("HTTP for Humans"));
        assert!(super::hover(&project, 0, None, None).is_none());
        // A direct URL gets its file's version: no verdict on the index's latest.
        let text = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\ndependencies = [\"requests @ https://example.com/requests-1.0.0-py3-none-any.whl\"]\n";
        let project = document_project(text, "pyproject.toml", DocumentKind::Pyproject).unwrap();
        let hover = super::hover(&project, text.find("requests @").unwrap() + 2, Some(&index()), None).unwrap();
        assert_eq!(hover.allows_latest, None);
    }

    #[test]
    fn completion_targets() {
        let check = |text: &str, expected: Option<CompletionTarget>| {
            let offset = text.find('|').unwrap();
            let text = text.replace('|', "");
            assert_eq!(completion_target(&text, offset, DocumentKind::Pyproject), expected, "{text}");
        };
        let start = |text: &str, needle: &str| text.replace('|', "").find(needle).unwrap();
        let text = "[project]\ndependencies = [\"req|\"]\n";
        check(text, Some(CompletionTarget::Name { prefix: "req".into(), start: start(text, "req") }));
        let text = "[project]\ndependencies = [\n  \"a\",\n  \"requests >= 2.|\n";
        check(text, Some(CompletionTarget::Version { name: name("requests"), prefix: "2.".into(), start: start(text, "2.") }));
        let text = "[project.optional-dependencies]\nfast = ['x', 'requests==|']\n";
        check(text, Some(CompletionTarget::Version { name: name("requests"), prefix: String::new(), start: start(text, "']") }));
        check("[project]\nname = \"re|\"\n", None);
        check("[project]\ndependencies = [\"a ; python_version > '3|'\"]\n", None);
        check("[tool.other]\ndependencies = [\"re|\"]\n", None);
        let script = "import x\n# /// script\n# dependencies = [\n#   \"ht|\n# ]\n# ///\n";
        let offset = script.find('|').unwrap();
        let clean = script.replace('|', "");
        assert_eq!(
            completion_target(&clean, offset, DocumentKind::Script),
            Some(CompletionTarget::Name { prefix: "ht".into(), start: clean.find("ht").unwrap() })
        );
    }

    #[test]
    fn versions_complete_by_prefix() {
        let versions = complete_versions(&index(), &name("requests"), "2.").unwrap();
        assert_eq!(versions.iter().map(ToString::to_string).collect::<Vec<_>>(), ["2.1.0", "2.0.0"]);
    }
}
