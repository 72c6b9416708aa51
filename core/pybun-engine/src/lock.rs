//! `pybun lock`: resolve the project and write the lockfile.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use pybun_diagnostics::{Code, Diagnostic, Span};
use pybun_lockfile::{
    FORMAT_VERSION, Lock, LockOptions, LockedDependency, LockedFile, LockedPackage, Source,
    TargetEnvironment as LockEnvironment,
};
use pybun_pep::{PackageName, Req, TargetPlatform, Version, VersionSpecifiers};
use pybun_ports::{DistFile, Event, FileSystem, IndexError, PackageIndex, Reporter};
use pybun_project::{LockfileFormat, Project};
use pybun_resolver::{
    Edge, PrereleaseMode, ResolutionMode, ResolveError, ResolveOptions, ResolveRequest, Resolution,
    TargetEnvironment, resolve,
};

use crate::Failure;
use crate::fingerprint::Fingerprint;
use crate::project::{LoadedProject, load_project};

/// The Python floor assumed when a project declares no `requires-python`.
const DEFAULT_REQUIRES_PYTHON: &str = ">=3.9";

/// Which indexes to use. The frontend's options win over `[tool.pybun]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexSettings {
    /// `--index-url`; `None` means `[tool.pybun] index-url`, else PyPI.
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    pub find_links: Vec<String>,
}

impl IndexSettings {
    /// The default index.
    pub const PYPI: &'static str = "https://pypi.org/simple";

    /// All index URLs in priority order, with the project's settings filled in.
    #[must_use]
    pub fn resolved(&self, project: &Project) -> Self {
        let index_url = self
            .index_url
            .clone()
            .or_else(|| project.tool.index_url.clone())
            .unwrap_or_else(|| Self::PYPI.to_string());
        let mut extra_index_urls = self.extra_index_urls.clone();
        for url in &project.tool.extra_index_urls {
            if !extra_index_urls.contains(url) {
                extra_index_urls.push(url.clone());
            }
        }
        Self { index_url: Some(index_url.trim_end_matches('/').to_string()), extra_index_urls, find_links: self.find_links.clone() }
    }

    /// Every index URL, the default first.
    #[must_use]
    pub fn index_urls(&self) -> Vec<String> {
        self.index_url.iter().cloned().chain(self.extra_index_urls.iter().cloned()).collect()
    }
}

/// How to resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockSettings {
    pub resolution: ResolutionMode,
    pub prerelease: PrereleaseMode,
    /// RFC 3339 timestamp or `YYYY-MM-DD` (midnight UTC).
    pub exclude_newer: Option<String>,
    /// Resolve for one Python version instead of universally.
    pub python_version: Option<String>,
    /// Resolve for one platform (`linux`, `macos`, `windows`, …).
    pub python_platform: Option<String>,
    pub no_binary: Vec<String>,
    pub no_build: Vec<String>,
}

/// The encoding to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockFormat {
    Text,
    Binary,
}

impl LockFormat {
    #[must_use]
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Text => "pybun.lock",
            Self::Binary => "pybun.lockb",
        }
    }
}

/// A `pybun lock` call.
#[derive(Debug, Clone, Default)]
pub struct LockRequest {
    /// Where to look for the project (it or a parent holds `pyproject.toml`).
    pub directory: PathBuf,
    pub index: IndexSettings,
    pub settings: LockSettings,
    /// Only check that the lock is up to date; write nothing.
    pub check: bool,
    /// Re-resolve from scratch, ignoring the versions in the existing lock.
    pub upgrade: bool,
    /// Overrides `[tool.pybun] lockfile`.
    pub format: Option<LockFormat>,
    /// `--script FILE.py`: lock a PEP 723 script's dependencies into `FILE.py.lock` instead.
    pub script: Option<PathBuf>,
    /// Use the resolution options recorded in an existing lock instead of
    /// `settings` (what `sync`, `add` and `remove` want: the lock keeps the
    /// options it was made with).
    pub keep_settings: bool,
}

/// What happened to the lockfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockStatus {
    /// There was no lock; one was written.
    Created,
    /// The lock changed and was rewritten.
    Updated,
    /// Resolution gave the same lock; nothing written.
    Unchanged,
    /// The lock's inputs had not changed; no resolution was needed.
    UpToDate,
}

/// The result of `pybun lock`.
#[derive(Debug, Clone)]
pub struct LockOutcome {
    pub lock: Lock,
    pub path: PathBuf,
    pub status: LockStatus,
    pub warnings: Vec<Diagnostic>,
}

/// Opens the package index for the resolved settings (the frontend's composition root provides it).
pub type IndexOpener<'a> = &'a dyn Fn(&IndexSettings) -> Result<Arc<dyn PackageIndex>, Failure>;

/// Resolve the project and write its lock.
///
/// # Errors
/// A [`Failure`] for an unreadable project, a failed resolution, an
/// unreachable index or (with `check`) a stale lock. Nothing is written on failure.
pub fn lock(
    request: &LockRequest,
    fs: &dyn FileSystem,
    open_index: IndexOpener<'_>,
    reporter: &dyn Reporter,
) -> Result<LockOutcome, Failure> {
    let loaded = match &request.script {
        Some(script) => crate::project::load_script(fs, &request.directory.join(script))?,
        None => load_project(fs, &request.directory)?,
    };
    let mut warnings = loaded.warnings.clone();
    let index_settings = request.index.resolved(&loaded.project);
    let format = request.format.unwrap_or(match loaded.project.tool.lockfile_format {
        LockfileFormat::Binary => LockFormat::Binary,
        LockfileFormat::Text => LockFormat::Text,
    });
    let path = match &request.script {
        Some(_) => script_lock_path(&loaded.pyproject_path),
        None => loaded.root.join(format.file_name()),
    };
    // A damaged `pybun.lockb` is a cache-like artifact (SPECS §6): `lock`
    // regenerates it, with a warning; `--check` still fails on it.
    let mut damaged = None;
    let existing = if request.script.is_some() {
        read_script_lock(fs, &path)
    } else {
        read_existing(fs, &loaded.root)
    };
    let existing = match existing {
        Ok(existing) => existing,
        Err(failure) if !request.check && failure.diagnostic.code == Code::LockCorrupt => {
            let damaged_path = loaded.root.join(LockFormat::Binary.file_name());
            warnings.push(
                Diagnostic::warning(Code::LockCorrupt, format!("{}; regenerating it", failure.diagnostic.message))
                    .in_file(damaged_path.display().to_string()),
            );
            damaged = Some(damaged_path);
            None
        }
        Err(failure) => return Err(failure),
    };
    // `sync`, `add`, `remove`: re-lock with the options the lock was made with.
    let settings = match &existing {
        Some((existing_lock, _)) if request.keep_settings => settings_from_lock(existing_lock),
        _ => request.settings.clone(),
    };
    let inputs = Inputs::new(&loaded, &index_settings, &settings, &mut warnings)?;

    let mut opened: Option<Arc<dyn PackageIndex>> = None;
    if let Some((existing_lock, existing_path)) = &existing {
        let mut fresh = existing_lock.fingerprint == inputs.fingerprint;
        let mut changed = Vec::new();
        if fresh && has_local_archives(existing_lock) {
            let index = open_index(&index_settings)?;
            changed = changed_local_archives(existing_lock, index.as_ref());
            fresh = changed.is_empty();
            opened = Some(index);
        }
        if request.check {
            if fresh {
                return Ok(LockOutcome { lock: existing_lock.clone(), path: existing_path.clone(), status: LockStatus::UpToDate, warnings });
            }
            let mut diagnostic =
                Diagnostic::error(Code::LockStale, format!("`{}` is out of date with `pyproject.toml`", existing_path.display()))
                    .in_file(existing_path.display().to_string())
                    .with_hint("run `pybun lock` to update it");
            for url in changed {
                diagnostic = diagnostic.with_cause(format!("`{url}` is not the file that was locked"));
            }
            return Err(Failure::new(diagnostic));
        }
        if fresh && !request.upgrade && *existing_path == path {
            return Ok(LockOutcome { lock: existing_lock.clone(), path: existing_path.clone(), status: LockStatus::UpToDate, warnings });
        }
    } else if request.check {
        return Err(Failure::new(
            Diagnostic::error(Code::LockMissing, format!("`{}` does not exist", path.display()))
                .with_hint("run `pybun lock` to create it"),
        ));
    }

    let mut resolve_request = inputs.resolve_request;
    if !request.upgrade
        && let Some((existing_lock, _)) = &existing {
            resolve_request.preferences = existing_lock
                .packages
                .iter()
                .filter(|p| p.source != Source::Project)
                .filter_map(|p| Some((PackageName::from_str(&p.name).ok()?, Version::from_str(&p.version).ok()?)))
                .collect();
            // A URL's bytes stay pinned to the hash the lock has (a re-lock does not download them again).
            resolve_request.known_hashes = existing_lock
                .packages
                .iter()
                .filter_map(|p| {
                    let Source::Url(url) = &p.source else { return None };
                    let hash = p.files.first()?.hash.as_deref()?.strip_prefix("sha256:")?;
                    Some((url.clone(), hash.to_string()))
                })
                .collect();
        }

    let index = match opened {
        Some(index) => index,
        None => open_index(&index_settings)?,
    };
    let resolution = match resolve(&resolve_request, index.as_ref(), reporter) {
        Ok(resolution) => resolution,
        Err(error) => return Err(resolve_failure(error, &loaded, &resolve_request, index.as_ref())),
    };
    reporter.report(Event::ResolveFinished { packages: resolution.packages.len() });

    let lock = build_lock(&loaded.project, &resolution, &inputs.fingerprint, &inputs.requires_python, &settings, &index_settings, inputs.environment);
    let bytes = match format {
        LockFormat::Text => pybun_lockfile::to_text(&lock).into_bytes(),
        LockFormat::Binary => pybun_lockfile::to_binary(&lock),
    };
    let status = match fs.read(&path) {
        Ok(old) if old == bytes => LockStatus::Unchanged,
        Ok(_) => LockStatus::Updated,
        Err(_) => LockStatus::Created,
    };
    if status != LockStatus::Unchanged {
        fs.write_atomic(&path, &bytes).map_err(|e| Failure::io(&path, &e, "write"))?;
    }
    // Switching encodings: the other file would be read first next time.
    let replaced = existing.as_ref().map(|(_, existing_path)| existing_path).or(damaged.as_ref());
    if let Some(existing_path) = replaced
        && *existing_path != path {
            fs.remove_file(existing_path).map_err(|e| Failure::io(existing_path, &e, "remove"))?;
        }
    Ok(LockOutcome { lock, path, status, warnings })
}

/// Whether the lock pins local files by URL (`file:` archives), whose bytes
/// may change under the same URL.
fn has_local_archives(lock: &Lock) -> bool {
    lock.packages.iter().any(|p| matches!(&p.source, Source::Url(url) if url.starts_with("file:")))
}

/// The `file:` archive URLs of the lock whose bytes no longer have the locked
/// hash (rebuilt in place, or gone): the lock is then stale.
fn changed_local_archives(lock: &Lock, index: &dyn PackageIndex) -> Vec<String> {
    lock.packages
        .iter()
        .filter_map(|package| {
            let Source::Url(url) = &package.source else { return None };
            let file = package.files.first()?;
            if !url.starts_with("file:") {
                return None;
            }
            let locked = file.hash.as_deref()?.strip_prefix("sha256:")?;
            let now = index.file_sha256(&DistFile::new(file.filename.clone(), url.clone(), url.clone())).ok();
            (now.as_deref() != Some(locked)).then(|| url.clone())
        })
        .collect()
}

/// Everything the resolution depends on, and its fingerprint.
pub(crate) struct Inputs {
    pub(crate) resolve_request: ResolveRequest,
    pub(crate) requires_python: String,
    pub(crate) fingerprint: String,
    pub(crate) environment: Option<LockEnvironment>,
}

impl Inputs {
    pub(crate) fn new(
        loaded: &LoadedProject,
        index: &IndexSettings,
        settings: &LockSettings,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<Self, Failure> {
        let project = &loaded.project;
        let file = loaded.pyproject_path.display().to_string();
        let requires_python = match &project.requires_python {
            Some(spanned) => spanned.value.clone(),
            None => {
                warnings.push(
                    Diagnostic::warning(Code::ProjectTable, format!("no `requires-python` in `[project]`; assuming `{DEFAULT_REQUIRES_PYTHON}`"))
                        .in_file(file.clone())
                        .with_hint(format!("add `requires-python = \"{DEFAULT_REQUIRES_PYTHON}\"` (or your real floor) to `[project]`")),
                );
                VersionSpecifiers::from_str(DEFAULT_REQUIRES_PYTHON).map_err(|e| internal(&e.to_string()))?
            }
        };
        let dependencies: Vec<Req> = project.dependencies.iter().map(|r| r.value.clone()).collect();
        let optional_dependencies = project
            .optional_dependencies
            .iter()
            .map(|(extra, list)| (extra.clone(), list.iter().map(|r| r.value.clone()).collect()))
            .collect();
        let mut dependency_groups: BTreeMap<String, Vec<Req>> = project
            .dependency_groups
            .iter()
            .map(|(group, list)| (group.clone(), list.iter().map(|r| r.value.clone()).collect()))
            .collect();
        if !project.tool.dev_dependencies.is_empty() {
            dependency_groups
                .entry("dev".to_string())
                .or_default()
                .extend(project.tool.dev_dependencies.iter().map(|r| r.value.clone()));
        }

        let exclude_newer = settings.exclude_newer.as_deref().map(parse_timestamp).transpose()?;
        let environment = match &settings.python_version {
            Some(version) => {
                let python_version = Version::from_str(version).map_err(|e| {
                    Failure::new(
                        Diagnostic::error(Code::InvalidVersion, format!("invalid `--python-version` `{version}`: {e}"))
                            .with_hint("give a version such as `3.12` or `3.12.1`"),
                    )
                })?;
                let platform = settings.python_platform.as_deref().map(parse_platform).transpose()?;
                Some(TargetEnvironment { python_version, platform })
            }
            None => {
                if let Some(platform) = &settings.python_platform {
                    parse_platform(platform)?;
                    return Err(Failure::new(
                        Diagnostic::error(Code::Usage, "`--python-platform` needs `--python-version`")
                            .with_hint("add `--python-version 3.12` (or the version you target)"),
                    ));
                }
                None
            }
        };
        let options = ResolveOptions {
            resolution: settings.resolution,
            prerelease: settings.prerelease,
            exclude_newer,
            no_binary: settings.no_binary.iter().cloned().collect(),
            no_build: settings.no_build.iter().cloned().collect(),
            environment: environment.clone(),
        };

        let mut fingerprint = Fingerprint::default();
        fingerprint.add("lock-format", FORMAT_VERSION);
        fingerprint.add("requires-python", &requires_python);
        fingerprint.add_set("dependency", dependencies.iter().map(ToString::to_string));
        for (extra, list) in &project.optional_dependencies {
            fingerprint.add_set(&format!("extra:{extra}"), list.iter().map(|r| r.value.to_string()));
        }
        for (group, list) in &dependency_groups {
            fingerprint.add_set(&format!("group:{group}"), list.iter().map(ToString::to_string));
        }
        for url in index.index_urls() {
            fingerprint.add("index", url);
        }
        for link in &index.find_links {
            fingerprint.add("find-links", link);
        }
        fingerprint.add("resolution", resolution_name(settings.resolution));
        fingerprint.add("prerelease", prerelease_name(settings.prerelease));
        fingerprint.add("exclude-newer", settings.exclude_newer.as_deref().unwrap_or(""));
        fingerprint.add("python-version", settings.python_version.as_deref().unwrap_or(""));
        fingerprint.add("python-platform", settings.python_platform.as_deref().unwrap_or(""));
        fingerprint.add_set("no-binary", settings.no_binary.iter().cloned());
        fingerprint.add_set("no-build", settings.no_build.iter().cloned());

        let project_name = project.name.as_ref().map_or_else(|| "project".to_string(), |n| n.value.to_string());
        let lock_environment = settings.python_version.as_ref().map(|python_version| LockEnvironment {
            python_version: python_version.clone(),
            platform: settings.python_platform.clone(),
        });
        Ok(Self {
            resolve_request: ResolveRequest {
                project: project_name,
                dependencies,
                optional_dependencies,
                dependency_groups,
                requires_python: Some(requires_python.clone()),
                options,
                preferences: BTreeMap::new(),
                known_hashes: BTreeMap::new(),
            },
            requires_python: requires_python.to_string(),
            fingerprint: fingerprint.finish(),
            environment: lock_environment,
        })
    }
}

pub(crate) fn resolution_name(mode: ResolutionMode) -> &'static str {
    match mode {
        ResolutionMode::Highest => "highest",
        ResolutionMode::Lowest => "lowest",
        ResolutionMode::LowestDirect => "lowest-direct",
    }
}

pub(crate) fn prerelease_name(mode: PrereleaseMode) -> &'static str {
    match mode {
        PrereleaseMode::Allow => "allow",
        PrereleaseMode::IfNecessary => "if-necessary",
        PrereleaseMode::Explicit => "explicit",
        PrereleaseMode::Disallow => "disallow",
    }
}

fn internal(message: &str) -> Failure {
    Failure::new(Diagnostic::error(Code::Internal, message.to_string()))
}

fn parse_timestamp(text: &str) -> Result<jiff::Timestamp, Failure> {
    if let Ok(timestamp) = jiff::Timestamp::from_str(text) {
        return Ok(timestamp);
    }
    if let Ok(date) = jiff::civil::Date::from_str(text)
        && let Ok(zoned) = date.to_zoned(jiff::tz::TimeZone::UTC) {
            return Ok(zoned.timestamp());
        }
    Err(Failure::new(
        Diagnostic::error(Code::Usage, format!("invalid `--exclude-newer` value `{text}`"))
            .with_hint("give an RFC 3339 timestamp (`2024-05-01T00:00:00Z`) or a date (`2024-05-01`)"),
    ))
}

fn parse_platform(text: &str) -> Result<TargetPlatform, Failure> {
    TargetPlatform::parse(text).ok_or_else(|| {
        Failure::new(
            Diagnostic::error(Code::Usage, format!("unknown `--python-platform` `{text}`"))
                .with_hint("use `linux`, `macos`, `windows`, `x86_64-manylinux2014` or `aarch64-unknown-linux-gnu`"),
        )
    })
}

/// The resolution options recorded in a lock.
pub(crate) fn settings_from_lock(lock: &Lock) -> LockSettings {
    let resolution = match lock.options.resolution.as_str() {
        "lowest" => ResolutionMode::Lowest,
        "lowest-direct" => ResolutionMode::LowestDirect,
        _ => ResolutionMode::Highest,
    };
    let prerelease = match lock.options.prerelease.as_str() {
        "allow" => PrereleaseMode::Allow,
        "explicit" => PrereleaseMode::Explicit,
        "disallow" => PrereleaseMode::Disallow,
        _ => PrereleaseMode::IfNecessary,
    };
    LockSettings {
        resolution,
        prerelease,
        exclude_newer: lock.options.exclude_newer.clone(),
        python_version: lock.environment.as_ref().map(|e| e.python_version.clone()),
        python_platform: lock.environment.as_ref().and_then(|e| e.platform.clone()),
        no_binary: Vec::new(),
        no_build: Vec::new(),
    }
}

/// `FILE.py.lock` beside a script.
pub(crate) fn script_lock_path(script: &Path) -> PathBuf {
    let mut name = script.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    script.with_file_name(name)
}

pub(crate) fn read_script_lock(fs: &dyn FileSystem, path: &Path) -> Result<Option<(Lock, PathBuf)>, Failure> {
    match fs.read(path) {
        Ok(bytes) => {
            let lock = pybun_lockfile::detect_and_parse(&bytes, &path.display().to_string()).map_err(Failure::from_diagnostics)?;
            Ok(Some((lock, path.to_path_buf())))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Failure::io(path, &error, "read")),
    }
}

/// The path of the lock on disk (the text one first), without reading it.
pub(crate) fn existing_lock_path(fs: &dyn FileSystem, root: &Path) -> Option<PathBuf> {
    [LockFormat::Text, LockFormat::Binary].into_iter().map(|format| root.join(format.file_name())).find(|path| fs.exists(path))
}

/// The lock already on disk, in either encoding (the text one first).
pub(crate) fn read_existing(fs: &dyn FileSystem, root: &Path) -> Result<Option<(Lock, PathBuf)>, Failure> {
    for format in [LockFormat::Text, LockFormat::Binary] {
        let path = root.join(format.file_name());
        match fs.read(&path) {
            Ok(bytes) => {
                let file = path.display().to_string();
                let lock = pybun_lockfile::detect_and_parse(&bytes, &file).map_err(Failure::from_diagnostics)?;
                return Ok(Some((lock, path)));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(Failure::io(&path, &error, "read")),
        }
    }
    Ok(None)
}

/// `pybun lock --print`: the lock, whatever its encoding, as text.
#[derive(Debug, Clone)]
pub struct PrintOutcome {
    pub path: PathBuf,
    pub text: String,
    pub lock: Lock,
}

/// Read the project's lock (text or binary) and render it as text.
///
/// # Errors
/// No project, no lock, or an invalid lock.
pub fn print_lock(directory: &Path, fs: &dyn FileSystem) -> Result<PrintOutcome, Failure> {
    let root = crate::find_project_root(fs, directory).unwrap_or_else(|| directory.to_path_buf());
    match read_existing(fs, &root)? {
        Some((lock, path)) => Ok(PrintOutcome { text: pybun_lockfile::to_text(&lock), path, lock }),
        None => Err(Failure::new(
            Diagnostic::error(Code::LockMissing, format!("no `pybun.lock` or `pybun.lockb` in `{}`", root.display()))
                .with_hint("run `pybun lock` first"),
        )),
    }
}

fn locked_edge(edge: &Edge) -> LockedDependency {
    LockedDependency {
        name: edge.name.to_string(),
        extras: edge.extras.iter().map(ToString::to_string).collect(),
        marker: if edge.marker.is_true() { None } else { edge.marker.try_to_string() },
        version: edge.version.as_ref().map(ToString::to_string),
    }
}

fn build_lock(
    project: &Project,
    resolution: &Resolution,
    fingerprint: &str,
    requires_python: &str,
    settings: &LockSettings,
    index: &IndexSettings,
    environment: Option<LockEnvironment>,
) -> Lock {
    let project_name = project.name.as_ref().map_or_else(|| "project".to_string(), |n| n.value.to_string());
    let project_version = project.version.as_ref().map_or_else(|| "0".to_string(), |v| v.value.to_string());
    let mut packages = vec![LockedPackage {
        name: project_name,
        version: project_version,
        source: Source::Project,
        resolution_marker: None,
        dependencies: resolution.project_dependencies.iter().map(locked_edge).collect(),
        optional_dependencies: resolution
            .project_optional_dependencies
            .iter()
            .map(|(extra, edges)| (extra.to_string(), edges.iter().map(locked_edge).collect()))
            .collect(),
        dependency_groups: resolution
            .project_dependency_groups
            .iter()
            .map(|(group, edges)| (group.clone(), edges.iter().map(locked_edge).collect()))
            .collect(),
        files: Vec::new(),
    }];
    let find_links: BTreeSet<&str> = index.find_links.iter().map(String::as_str).collect();
    for package in &resolution.packages {
        let source_tree = package.files.iter().any(DistFile::is_source_tree);
        let source = if let Some(url) = &package.direct_url {
            if source_tree { Source::Directory(url.clone()) } else { Source::Url(url.clone()) }
        } else if find_links.contains(package.index.as_str()) {
            Source::FindLinks(package.index.clone())
        } else {
            Source::Registry(package.index.clone())
        };
        packages.push(LockedPackage {
            name: package.name.to_string(),
            version: package.version.to_string(),
            source,
            resolution_marker: package.python_marker.as_ref().and_then(pybun_pep::MarkerTree::try_to_string),
            dependencies: package.dependencies.iter().map(locked_edge).collect(),
            optional_dependencies: package
                .optional_dependencies
                .iter()
                .map(|(extra, edges)| (extra.to_string(), edges.iter().map(locked_edge).collect()))
                .collect(),
            dependency_groups: BTreeMap::new(),
            files: package
                .files
                .iter()
                .filter(|_| !source_tree)
                .map(|file| LockedFile {
                    filename: file.filename.clone(),
                    url: file.url.clone(),
                    size: file.size,
                    hash: file.sha256.as_ref().map(|h| format!("sha256:{h}")),
                    upload_time: file.upload_time.clone(),
                })
                .collect(),
        });
    }
    let mut lock = Lock {
        version: FORMAT_VERSION,
        requires_python: Some(requires_python.to_string()),
        fingerprint: fingerprint.to_string(),
        options: LockOptions {
            resolution: resolution_name(settings.resolution).to_string(),
            prerelease: prerelease_name(settings.prerelease).to_string(),
            exclude_newer: settings.exclude_newer.clone(),
        },
        environment,
        packages,
    };
    lock.canonicalize();
    lock
}

/// The span of the first root requirement on `name` in `pyproject.toml`.
fn requirement_span(project: &Project, name: &PackageName) -> Option<Span> {
    project
        .dependencies
        .iter()
        .chain(project.optional_dependencies.values().flatten())
        .chain(project.dependency_groups.values().flatten())
        .find(|r| &r.value.name == name)
        .map(|r| r.span)
}

fn at_requirement(diagnostic: Diagnostic, loaded: &LoadedProject, name: &PackageName) -> Diagnostic {
    let file = loaded.pyproject_path.display().to_string();
    match requirement_span(&loaded.project, name) {
        Some(span) => diagnostic.at(file, span),
        None => diagnostic.in_file(file),
    }
}

/// Close names that exist on the index, from common naming variants.
pub(crate) fn suggest_names(index: &dyn PackageIndex, name: &PackageName) -> Vec<String> {
    let base = name.to_string();
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    for prefix in ["python-", "py", "py-"] {
        candidates.insert(format!("{prefix}{base}"));
        if let Some(rest) = base.strip_prefix(prefix) {
            candidates.insert(rest.to_string());
        }
    }
    for suffix in ["-python", "2", "3", "4", "s"] {
        candidates.insert(format!("{base}{suffix}"));
        if let Some(rest) = base.strip_suffix(suffix) {
            candidates.insert(rest.to_string());
        }
    }
    candidates.insert(base.replace('-', ""));
    // Typos: two neighbouring characters swapped, or one character too many.
    let chars: Vec<char> = base.chars().collect();
    if chars.len() >= 4 {
        for i in 0..chars.len() {
            if i + 1 < chars.len() {
                let mut swapped = chars.clone();
                swapped.swap(i, i + 1);
                candidates.insert(swapped.into_iter().collect());
            }
            let mut fewer = chars.clone();
            fewer.remove(i);
            candidates.insert(fewer.into_iter().collect());
        }
    }
    candidates.remove(&base);
    let names: Vec<PackageName> = candidates.iter().filter_map(|c| PackageName::from_str(c).ok()).collect();
    for candidate in &names {
        index.prefetch_project(candidate);
    }
    let mut found: Vec<(usize, String)> = names
        .iter()
        .filter(|candidate| index.project(candidate).is_ok_and(|p| !p.files.is_empty()))
        .map(|candidate| (strsim::levenshtein(&base, candidate.as_ref()), candidate.to_string()))
        .collect();
    found.sort();
    found.into_iter().map(|(_, name)| name).take(3).collect()
}

pub(crate) fn index_failure(error: &IndexError) -> Diagnostic {
    match error {
        IndexError::NotFound { name } => Diagnostic::error(Code::PackageNotFound, format!("package `{name}` was not found on any configured index")),
        IndexError::Unreachable { url, reason } => Diagnostic::error(Code::IndexUnreachable, format!("could not reach `{url}`: {reason}"))
            .with_hint("check the index URL and your network; `--offline` works from the cache alone"),
        IndexError::HttpStatus { url, status } => Diagnostic::error(Code::IndexHttpStatus, format!("`{url}` answered HTTP {status}"))
            .with_hint("check the index URL and its credentials"),
        IndexError::InvalidResponse { url, reason } => Diagnostic::error(Code::IndexResponse, format!("`{url}` did not return a valid Simple API page: {reason}"))
            .with_hint("`--index-url` must point at a PEP 503/691 Simple API root such as `https://pypi.org/simple`"),
        IndexError::OfflineMiss { url } => Diagnostic::error(Code::OfflineCacheMiss, format!("`{url}` is not in the cache and `--offline` forbids the network"))
            .with_hint("run once without `--offline` to fill the cache"),
        IndexError::BuildFailed { filename, reason, .. } => Diagnostic::error(Code::DynamicSdistMetadata, format!("`{filename}` has dynamic dependencies and could not be built to read them"))
            .with_cause(reason.clone())
            .with_hint("fix the build, or require a version that has wheels"),
        IndexError::InvalidArchive { filename, reason } => Diagnostic::error(Code::InvalidMetadata, format!("could not read `{filename}`: {reason}"))
            .with_hint("the file on the index is damaged or not a valid distribution; try another version"),
    }
}

pub(crate) fn resolve_failure(error: ResolveError, loaded: &LoadedProject, request: &ResolveRequest, index: &dyn PackageIndex) -> Failure {
    match error {
        ResolveError::NoSolution(report) => {
            let mut diagnostic = Diagnostic::error(Code::NoSolution, "no set of versions satisfies the requirements");
            diagnostic.causes.clone_from(&report.explanation);
            diagnostic.hints.clone_from(&report.hints);
            let file = loaded.pyproject_path.display().to_string();
            diagnostic = diagnostic.in_file(file.clone());
            // The requirements no release matches, at their specifiers (what `pybun check` reports).
            let text = Some(loaded.text.as_str()).filter(|t| !t.is_empty());
            let related = crate::check::unmatched_requirements(&loaded.project, text, &file, index);
            Failure { diagnostic: Box::new(diagnostic), related, conflict: Some(report) }
        }
        ResolveError::NotFound { name, required_by } => {
            let direct = request.all_names().contains(&name);
            let mut diagnostic = Diagnostic::error(Code::PackageNotFound, format!("package `{name}` was not found on any configured index"));
            if !direct {
                for who in &required_by {
                    diagnostic = diagnostic.with_cause(format!("required by {who}"));
                }
            }
            let suggestions = suggest_names(index, &name);
            if suggestions.is_empty() {
                diagnostic = diagnostic.with_hint("check the spelling, and `--index-url` / `--extra-index-url` if the package lives on another index");
            } else {
                let list: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
                diagnostic = diagnostic.with_hint(format!("did you mean {}?", list.join(" or ")));
            }
            Failure::new(at_requirement(diagnostic, loaded, &name))
        }
        ResolveError::Index(IndexError::BuildFailed { name, filename, reason }) if filename.ends_with('/') => Failure::new(at_requirement(
            Diagnostic::error(Code::BuildFailed, format!("the source tree of `{name}` could not be built to read its metadata"))
                .with_cause(reason)
                .with_hint("fix the source tree's build (its output is shown with this error), or require a wheel or sdist of it"),
            loaded,
            &name,
        )),
        ResolveError::Index(IndexError::BuildFailed { name, filename, reason }) => Failure::new(at_requirement(
            Diagnostic::error(
                Code::DynamicSdistMetadata,
                format!("`{filename}` has dynamic dependencies and could not be built to read them"),
            )
            .with_cause(reason)
            .with_hint(format!("fix the build (its output is shown with this error), or require a version of `{name}` that has wheels")),
            loaded,
            &name,
        )),
        ResolveError::Index(error) => Failure::new(index_failure(&error)),
        ResolveError::InvalidMetadata { name, version, filename, reason } => Failure::new(
            Diagnostic::error(Code::InvalidMetadata, format!("invalid metadata in `{filename}` ({name} {version}): {reason}"))
                .with_hint(format!("exclude this version, e.g. `{name}!={version}`")),
        ),
        ResolveError::DynamicSdist { name, version, filename } => Failure::new(at_requirement(
            Diagnostic::error(Code::DynamicSdistMetadata, format!("`{name}` {version} is only available as the sdist `{filename}`, whose dependencies are dynamic"))
                .with_hint("building sdists to read their metadata is not supported yet; require a version that has wheels"),
            loaded,
            &name,
        )),
        ResolveError::DirectUrl { name, requirement, reason } => Failure::new(at_requirement(
            Diagnostic::error(Code::DirectUrl, format!("cannot use `{requirement}`"))
                .with_cause(reason)
                .with_hint(format!(
                    "require `{name}` by the http(s) or file URL of one of its wheels or sdists (e.g. `{name} @ https://host/path/{}-1.0-py3-none-any.whl`), or from an index",
                    name.as_ref().replace('-', "_")
                )),
            loaded,
            &name,
        )),
        ResolveError::SplitNeeded { package, requirements, required_by } => {
            let mut diagnostic = Diagnostic::error(Code::SplitNeeded, format!("`{package}` needs different versions on different platforms"));
            for requirement in &requirements {
                diagnostic = diagnostic.with_cause(format!("{required_by} requires `{requirement}`"));
            }
            diagnostic = diagnostic.with_hint(format!(
                "split (fork) resolution is not supported yet: give `{package}` one range that works under every marker, or lock for one platform with `--python-version` and `--python-platform`"
            ));
            Failure::new(at_requirement(diagnostic, loaded, &package))
        }
    }
}

/// Resolve bare requirements (a build environment's) for one interpreter:
/// a single-environment lock, not written anywhere.
///
/// # Errors
/// As [`lock`]'s resolution errors.
pub(crate) fn lock_requirements(
    label: &str,
    source_file: &Path,
    requirements: Vec<Req>,
    python_full_version: &str,
    index: &IndexSettings,
    open_index: IndexOpener<'_>,
    reporter: &dyn Reporter,
) -> Result<Lock, Failure> {
    let python_version = Version::from_str(python_full_version).map_err(|e| internal(&e.to_string()))?;
    let settings = LockSettings { python_version: Some(python_full_version.to_string()), ..LockSettings::default() };
    let request = ResolveRequest {
        project: label.to_string(),
        dependencies: requirements,
        optional_dependencies: BTreeMap::new(),
        dependency_groups: BTreeMap::new(),
        requires_python: None,
        options: ResolveOptions {
            resolution: settings.resolution,
            prerelease: settings.prerelease,
            exclude_newer: None,
            no_binary: BTreeSet::new(),
            no_build: BTreeSet::new(),
            environment: Some(TargetEnvironment { python_version, platform: None }),
        },
        preferences: BTreeMap::new(),
        known_hashes: BTreeMap::new(),
    };
    // PyPI unless the caller names an index.
    let index = &index.resolved(&Project::default());
    let index_handle = open_index(index)?;
    let loaded = LoadedProject {
        root: PathBuf::new(),
        pyproject_path: source_file.to_path_buf(),
        project: Project::default(),
        warnings: Vec::new(),
        text: String::new(),
    };
    let resolution = resolve(&request, index_handle.as_ref(), reporter).map_err(|error| {
        let mut failure = resolve_failure(error, &loaded, &request, index_handle.as_ref());
        failure.diagnostic.causes.push(format!("while resolving {label}"));
        failure
    })?;
    let environment = Some(LockEnvironment { python_version: python_full_version.to_string(), platform: None });
    Ok(build_lock(&loaded.project, &resolution, "", "", &settings, index, environment))
}
