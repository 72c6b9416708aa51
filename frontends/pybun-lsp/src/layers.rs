//! The diagnostic layers: what is checked per keystroke (no IO) and what
//! runs in the background (index, resolver, lock), all from the engine's
//! check use cases (`pybun_engine::check`), the code `pybun check` and
//! `pybun lock` run.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pybun_diagnostics::{Code, Diagnostic};
use pybun_engine::check::{self, StaticCheck};
use pybun_engine::editor::{self, DocumentKind};
use pybun_engine::{Failure, IndexSettings};
use pybun_pep::PackageName;
use pybun_ports::{CandidatePick, DistFile, FileSystem, IndexError, NullReporter, PackageIndex, ProjectFiles, RawMetadata};
use pybun_project::Project;

use crate::LspConfig;

/// The static layer: syntax, `[project]` (PEP 621), requirement strings (PEP 508). No IO.
///
/// A Python file without a `# /// script` block is not a script: nothing to report.
#[must_use]
pub fn static_layer(text: &str, file: &str, kind: DocumentKind) -> StaticCheck {
    match kind {
        DocumentKind::Pyproject => check::check_static(text, file),
        DocumentKind::Script if !has_script_block(text) => StaticCheck { project: None, diagnostics: Vec::new() },
        DocumentKind::Script => check::check_script_static(text, file),
    }
}

fn has_script_block(text: &str) -> bool {
    text.lines().any(|line| line.trim_end() == "# /// script")
}

/// An open index handle and when it was last used.
type OpenIndex = (Arc<dyn PackageIndex>, Instant);

/// Index handles by settings, opened once and kept while they are used:
/// their in-memory memo (project pages, metadata) makes the next checks fast
/// (a warm re-resolution needs no IO). A handle unused for a while is
/// released ([`Indexes::release_idle`]) to give its memory back; the next
/// check reads the on-disk cache again.
pub(crate) struct Indexes {
    config: Arc<LspConfig>,
    open: Mutex<HashMap<String, OpenIndex>>,
}

impl Indexes {
    pub(crate) fn new(config: Arc<LspConfig>) -> Self {
        Self { config, open: Mutex::new(HashMap::new()) }
    }

    /// The index for a project's settings (the configured options win over `[tool.pybun]`).
    pub(crate) fn for_project(&self, project: &Project) -> Result<Arc<dyn PackageIndex>, Failure> {
        self.open(&self.config.index.resolved(project))
    }

    /// An index handle for one background run, dropped at its end: its
    /// adapter's threads go with it, and so does the memory they used (a
    /// run allocates and frees tens of megabytes: every file of every
    /// project page the resolution reads; threads that live on keep much
    /// of it). The long-lived handle of the same settings is opened too:
    /// what the adapter shares between the handles of one configuration
    /// (the HTTP index's compact project pages) lives while it does.
    /// Blocking.
    pub(crate) fn for_run(&self, project: &Project) -> Result<Arc<dyn PackageIndex>, Failure> {
        let settings = self.config.index.resolved(project);
        self.open(&settings)?;
        (self.config.open_index)(&settings)
    }

    /// The index for resolved settings. Blocking (the adapter may start its own runtime).
    pub(crate) fn open(&self, settings: &IndexSettings) -> Result<Arc<dyn PackageIndex>, Failure> {
        let key = format!("{settings:?}");
        if let Some((index, used)) = self.open.lock().unwrap_or_else(PoisonError::into_inner).get_mut(&key) {
            *used = Instant::now();
            return Ok(index.clone());
        }
        let index = (self.config.open_index)(settings)?;
        self.open.lock().unwrap_or_else(PoisonError::into_inner).insert(key, (index.clone(), Instant::now()));
        Ok(index)
    }

    /// Release the handles not used for `idle`; how many were released. Blocking (drops adapters).
    pub(crate) fn release_idle(&self, idle: Duration) -> usize {
        let released: Vec<Arc<dyn PackageIndex>> = {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            let stale: Vec<String> = open.iter().filter(|(_, (_, used))| used.elapsed() >= idle).map(|(key, _)| key.clone()).collect();
            stale.iter().filter_map(|key| open.remove(key)).map(|(index, _)| index).collect()
        };
        released.len()
    }
}

/// The index of one background run: it holds every project's files it
/// handed out until the run ends, so that the index check and the
/// resolution share them (an index may keep pages in a compact form and
/// decode them for each caller that does not already hold them).
struct RunIndex {
    index: Arc<dyn PackageIndex>,
    held: Mutex<Vec<Arc<ProjectFiles>>>,
}

impl PackageIndex for RunIndex {
    fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, IndexError> {
        let files = self.index.project(name)?;
        self.held.lock().unwrap_or_else(PoisonError::into_inner).push(files.clone());
        Ok(files)
    }

    fn metadata(&self, name: &PackageName, file: &DistFile) -> Result<Arc<RawMetadata>, IndexError> {
        self.index.metadata(name, file)
    }

    fn file_sha256(&self, file: &DistFile) -> Result<String, IndexError> {
        self.index.file_sha256(file)
    }

    fn prefetch_project(&self, name: &PackageName) {
        self.index.prefetch_project(name);
    }

    fn prefetch_metadata(&self, name: &PackageName, file: &DistFile) {
        self.index.prefetch_metadata(name, file);
    }

    fn prefetch_candidate(&self, name: &PackageName, pick: CandidatePick) {
        self.index.prefetch_candidate(name, pick);
    }

    fn known_projects(&self) -> Vec<PackageName> {
        self.index.known_projects()
    }
}

/// Codes meaning the index could not answer at all (rather than answering "no").
fn is_index_failure(code: Code) -> bool {
    matches!(code, Code::IndexUnreachable | Code::IndexHttpStatus | Code::IndexResponse | Code::OfflineCacheMiss)
}

/// One informational note in place of the index-based checks.
fn skipped(file: &str, why: &str) -> Diagnostic {
    Diagnostic::info(Code::ChecksSkipped, format!("index checks skipped: {why}"))
        .in_file(file.to_string())
        .with_hint("unknown packages, versions that match no release and conflicts are checked when the index can be reached")
}

/// What the background layer found.
#[derive(Debug, Default)]
pub struct Background {
    pub diagnostics: Vec<Diagnostic>,
    /// Refactorings on requirements (bump to the latest release, …).
    pub actions: Vec<check::RequirementAction>,
}

/// The background layer: index look-ups (unknown names, specifiers matching
/// no release), the resolver (conflicts), the lock (stale). Blocking. The
/// same rules as `pybun check`: offline, the index and resolution checks are
/// skipped with one note (so is an index that cannot be reached); the
/// resolution runs only when nothing else found an error; the lock check
/// only when the text has no error.
pub(crate) fn background_layer(indexes: &Indexes, fs: &dyn FileSystem, text: &str, path: &Path, kind: DocumentKind) -> Background {
    let file = path.display().to_string();
    let checked = static_layer(text, &file, kind);
    let Some(project) = &checked.project else {
        return Background::default();
    };
    let static_errors = checked.has_errors();
    let mut out = Background::default();
    if indexes.config.offline {
        out.diagnostics.push(skipped(&file, "offline (`--offline`)"));
    } else {
        match indexes.for_run(project) {
            Err(failure) => out.diagnostics.push(skipped(&file, &failure.diagnostic.message)),
            Ok(index) => {
                let index = RunIndex { index, held: Mutex::new(Vec::new()) };
                let started = std::time::Instant::now();
                let found = check::check_index(text, project, &file, &index);
                tracing::debug!(elapsed = ?started.elapsed(), "index layer");
                if let Some(failure) = found.diagnostics.iter().find(|d| is_index_failure(d.code)) {
                    out.diagnostics.push(skipped(&file, &failure.message));
                } else {
                    let index_errors = found.diagnostics.iter().any(Diagnostic::is_error);
                    out.diagnostics.extend(found.diagnostics);
                    out.actions = found.actions;
                    if !static_errors && !index_errors {
                        let lock = editor::recorded_lock_settings(fs, path, kind);
                        let settings = check::ResolutionSettings { index: indexes.config.index.clone(), lock };
                        let started = std::time::Instant::now();
                        let resolved = check::check_resolution(project, path, &index, &settings, &NullReporter);
                        tracing::debug!(elapsed = ?started.elapsed(), "resolution layer");
                        match resolved.iter().find(|d| is_index_failure(d.code)) {
                            Some(failure) => out.diagnostics.push(skipped(&file, &failure.message)),
                            None => out.diagnostics.extend(resolved),
                        }
                    }
                }
            }
        }
    }
    if !static_errors && let Some(stale) = check::check_lock(text, path, fs, &indexes.config.index) {
        out.diagnostics.push(stale);
    }
    out
}
