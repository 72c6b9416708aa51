//! The package index port.
//!
//! The resolver is synchronous (PubGrub), so this port is blocking. To keep
//! fetches concurrent, callers announce what they will need soon with the
//! `prefetch_*` hints; an adapter starts those fetches in the background and
//! the blocking calls then find them done or in flight. An adapter without
//! concurrency may ignore the hints.

use std::sync::Arc;

use pybun_pep::PackageName;

/// One distribution file an index lists for a project.
///
/// A `filename` ending in `/` (`name-1.0/`) is a local source tree at the
/// `file://` `url`, not an archive (a direct URL requirement naming a
/// directory): only an index that can build one answers for its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DistFile {
    pub filename: String,
    /// Absolute URL (or `file://` URL for find-links directories).
    pub url: String,
    /// The index (or find-links location) that listed the file.
    pub index: String,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    /// The raw `data-requires-python` / `requires-python` value.
    pub requires_python: Option<String>,
    /// `Some(reason)` when yanked (PEP 592); the reason may be empty.
    pub yanked: Option<String>,
    /// RFC 3339 upload time when the index gives one (PEP 700).
    pub upload_time: Option<String>,
    /// Whether a PEP 658/714 `.metadata` file is offered.
    pub has_metadata: bool,
}

impl DistFile {
    /// A file known only by its name, URL and the index that listed it (no
    /// hash, size, `Requires-Python`, yank, upload time or metadata file).
    #[must_use]
    pub fn new(filename: impl Into<String>, url: impl Into<String>, index: impl Into<String>) -> Self {
        Self {
            filename: filename.into(),
            url: url.into(),
            index: index.into(),
            sha256: None,
            size: None,
            requires_python: None,
            yanked: None,
            upload_time: None,
            has_metadata: false,
        }
    }

    /// Whether this is a local source tree (`filename` ends in `/`), not an archive.
    #[must_use]
    pub fn is_source_tree(&self) -> bool {
        self.filename.ends_with('/')
    }
}

/// The files of one project, from the first index that knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFiles {
    pub name: PackageName,
    pub files: Vec<DistFile>,
}

/// Where metadata bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataOrigin {
    /// A PEP 658/714 `.metadata` file.
    Pep658,
    /// `METADATA` read from a remote wheel with HTTP range requests.
    WheelRange,
    /// `METADATA` read from a fully downloaded wheel.
    WheelDownload,
    /// `PKG-INFO` read from an sdist (trust it only when static).
    SdistPkgInfo,
    /// A local file (find-links).
    Local,
}

/// Metadata bytes (`METADATA` / `PKG-INFO` text), not yet parsed: parsing is core's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMetadata {
    pub bytes: Vec<u8>,
    pub origin: MetadataOrigin,
}

/// Why the index could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// No configured index knows the project.
    #[error("package `{name}` was not found on any configured index")]
    NotFound { name: PackageName },
    /// Connection-level failure (DNS, refused, TLS, timeout) after retries.
    #[error("could not reach `{url}`: {reason}")]
    Unreachable { url: String, reason: String },
    /// An HTTP error status other than 404.
    #[error("`{url}` answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },
    /// The response was not what the Simple API promises.
    #[error("`{url}` returned an invalid response: {reason}")]
    InvalidResponse { url: String, reason: String },
    /// `--offline` and nothing cached for this request.
    #[error("`{url}` is not in the cache and network access is disabled (`--offline`)")]
    OfflineMiss { url: String },
    /// A distribution archive could not be read (bad zip, no METADATA, ...).
    #[error("could not read `{filename}`: {reason}")]
    InvalidArchive { filename: String, reason: String },
    /// An sdist whose metadata needs a build could not be built.
    #[error("`{filename}` has dynamic dependencies and could not be built to read them: {reason}")]
    BuildFailed { name: PackageName, filename: String, reason: String },
}

/// A resolver's guess about one package (see
/// [`PackageIndex::prefetch_candidate`]). Pure computation: it may run on any
/// thread.
pub trait CandidatePicker: Send {
    /// Among the project's files, the one whose metadata will probably be
    /// asked for first.
    fn pick(&self, project: &ProjectFiles) -> Option<DistFile>;

    /// The picked file's metadata is known: the packages it will probably
    /// lead to, each with its own guess. None by default.
    fn next(self: Box<Self>, _metadata: &RawMetadata) -> Vec<(PackageName, CandidatePick)> {
        Vec::new()
    }
}

/// A boxed [`CandidatePicker`].
pub type CandidatePick = Box<dyn CandidatePicker>;

/// A function of the project's files is a picker that leads nowhere.
impl<F: Fn(&ProjectFiles) -> Option<DistFile> + Send> CandidatePicker for F {
    fn pick(&self, project: &ProjectFiles) -> Option<DistFile> {
        self(project)
    }
}

/// A Simple-API package index (or several, or a find-links directory).
pub trait PackageIndex: Send + Sync {
    /// The project's files. Blocks until known.
    ///
    /// # Errors
    /// [`IndexError::NotFound`] when no index has the project; others on failure.
    fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, IndexError>;

    /// The core metadata of one distribution file. Blocks until known.
    ///
    /// # Errors
    /// On network failure or when the file has no readable metadata.
    fn metadata(&self, name: &PackageName, file: &DistFile) -> Result<Arc<RawMetadata>, IndexError>;

    /// The sha256 (lowercase hex) of a file's bytes. The lock asks it for a
    /// direct URL requirement that names no `#sha256=` itself: the adapter
    /// downloads (or reads) the whole file. By default no file can be hashed.
    ///
    /// # Errors
    /// On network failure, or when this index cannot fetch files.
    fn file_sha256(&self, file: &DistFile) -> Result<String, IndexError> {
        Err(IndexError::InvalidArchive { filename: file.filename.clone(), reason: "this index cannot fetch files to hash them".to_string() })
    }

    /// Hint: `project(name)` will be asked soon.
    fn prefetch_project(&self, _name: &PackageName) {}

    /// Hint: `metadata(name, file)` will be asked soon.
    fn prefetch_metadata(&self, _name: &PackageName, _file: &DistFile) {}

    /// Hint: `project(name)` will be asked soon, and then probably the
    /// metadata of the file `pick` chooses among its files (the resolver's
    /// guess at the version it will try first). An adapter with concurrency
    /// runs `pick` as soon as the project's files are known and starts that
    /// metadata fetch, without waiting for the caller, then does the same for
    /// the packages `next` names once that metadata is known; a wrong guess
    /// only costs a fetch. By default, only the project is prefetched.
    fn prefetch_candidate(&self, name: &PackageName, pick: CandidatePick) {
        drop(pick);
        self.prefetch_project(name);
    }

    /// Names of the projects this index has seen (asked in this process, or
    /// in its on-disk cache), for an editor's completion. May be incomplete;
    /// by default none.
    fn known_projects(&self) -> Vec<PackageName> {
        Vec::new()
    }
}
