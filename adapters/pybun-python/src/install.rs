//! Managed Python runtimes: python-build-standalone `install_only` archives
//! unpacked into `<install_dir>/<name>` (`<data_dir>/python/<name>`), where
//! [`crate::PythonFinder`] looks first (`<name>/bin/python3`).
//!
//! Install: the newest build in the table matching the request for this
//! platform; reused when `<install_dir>/<name>` exists. Otherwise the archive
//! comes from `<cache_dir>/python-downloads-v1/<filename>` (re-hashed) or is
//! downloaded (`http(s)` with [`HttpIndex::download`], or `file://`) to a
//! temporary file in that directory while hashing it; a sha256 that differs
//! from the table's is [`PythonInstallError::HashMismatch`] and nothing is
//! kept. The verified archive is renamed into the cache, unpacked into a
//! temporary directory inside `install_dir` (absolute paths, `..`, links
//! leaving the archive and device files are refused), and its top `python/`
//! directory renamed to `<install_dir>/<name>`, so a half-unpacked build is
//! never seen. An exclusive lock on `<install_dir>/.lock` serializes
//! installs and uninstalls.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};

use pybun_env::PythonRequest;
use pybun_index_http::{DownloadError, DownloadSink, HttpIndex, IndexConfig};
use pybun_pep::Version;
use pybun_ports::IndexError;
use sha2::{Digest as _, Sha256};
use tracing::debug;

use crate::downloads::{Download, DownloadsTable, Platform, facts_match, percent_decode};

/// The archive cache inside the cache directory.
pub const DOWNLOADS_CACHE_DIR: &str = "python-downloads-v1";
/// The lock file inside the install directory.
pub const LOCK_FILE: &str = ".lock";
/// The prefix of temporary files and directories (skipped when listing).
const TEMP_PREFIX: &str = ".tmp-";

/// Where to install and cache, and where the table comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallerConfig {
    /// `<data_dir>/python`: one directory per installed build.
    pub install_dir: PathBuf,
    /// PyBun's cache directory; archives go to `<cache_dir>/python-downloads-v1/`.
    pub cache_dir: PathBuf,
    /// Replaces the URL prefix
    /// `https://github.com/astral-sh/python-build-standalone/releases/download`
    /// (`PYBUN_PYTHON_MIRROR`); `http(s)://` or `file://`.
    pub mirror: Option<String>,
    /// A table replacing the embedded one (`PYBUN_PYTHON_DOWNLOADS_JSON`).
    pub downloads_json: Option<PathBuf>,
    /// Never download: only cached archives (and `file://` URLs) install.
    pub offline: bool,
}

/// A build installed (or found installed) by [`PythonInstaller::install`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPython {
    /// `cpython-3.12.16-linux-x86_64-gnu`.
    pub name: String,
    /// `<install_dir>/<name>`.
    pub dir: PathBuf,
    /// `<dir>/bin/python3` (`<dir>/python.exe` on Windows).
    pub python: PathBuf,
    pub version: String,
    pub free_threaded: bool,
    /// It was there already: nothing was fetched or unpacked.
    pub already_installed: bool,
    /// The archive was downloaded (not taken from the cache).
    pub downloaded: bool,
}

/// A build in the install directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPython {
    pub name: String,
    pub dir: PathBuf,
    pub python: PathBuf,
    /// From the name: `cpython`.
    pub implementation: String,
    /// From the name: `3.12.16`.
    pub version: String,
    pub free_threaded: bool,
}

impl ManagedPython {
    /// Whether this build satisfies `request` (a path request matches the
    /// directory or its executable).
    #[must_use]
    pub fn matches(&self, request: &PythonRequest) -> bool {
        match request {
            PythonRequest::Path(path) => path == &self.dir || path == &self.python,
            _ => facts_match(&self.implementation, &self.version, self.free_threaded, request),
        }
    }
}

/// Why installing or uninstalling failed.
#[derive(Debug)]
pub enum PythonInstallError {
    /// No build in the table matches the request on this platform.
    NotAvailable { request: String, platform: String, available: Vec<String> },
    /// A path was given where a version is needed.
    NotAVersion { request: String },
    /// Offline and the archive is not cached.
    Offline { version: String, name: String, cache: PathBuf },
    /// The download failed (transport, HTTP status, unreadable `file://`).
    Download { url: String, reason: String },
    /// The archive's sha256 is not the table's.
    HashMismatch { url: String, expected: String, actual: String },
    /// The archive is not a python-build-standalone `install_only` archive,
    /// or an entry would land outside the install directory.
    InvalidArchive { url: String, reason: String },
    /// The replacement table cannot be read or parsed.
    InvalidTable { path: PathBuf, reason: String },
    Io { path: PathBuf, reason: String },
}

impl fmt::Display for PythonInstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAvailable { request, platform, available } => {
                write!(f, "no Python build matching `{request}` is available for {platform}")?;
                if available.is_empty() {
                    write!(f, " (none are available for this platform)")
                } else {
                    write!(f, "; available: {}", available.join(", "))
                }
            }
            Self::NotAVersion { request } => {
                write!(f, "`{request}` is a path; installing needs a version like `3.12` or `3.13.1`")
            }
            Self::Offline { version, name, cache } => write!(
                f,
                "cannot download Python {version} (`{name}`) while offline: its archive is not in `{}`; \
                 install it once online",
                cache.display()
            ),
            Self::Download { url, reason } => write!(f, "could not download `{url}`: {reason}"),
            Self::HashMismatch { url, expected, actual } => write!(
                f,
                "the download of `{url}` has sha256 {actual}, but {expected} was expected; nothing was installed"
            ),
            Self::InvalidArchive { url, reason } => write!(f, "`{url}` is not a usable Python archive: {reason}"),
            Self::InvalidTable { path, reason } => {
                write!(f, "cannot read the Python downloads table `{}`: {reason}", path.display())
            }
            Self::Io { path, reason } => write!(f, "`{}`: {reason}", path.display()),
        }
    }
}

impl std::error::Error for PythonInstallError {}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PythonInstallError + '_ {
    move |e| PythonInstallError::Io { path: path.to_path_buf(), reason: e.to_string() }
}

/// Installs, lists and removes managed Python builds.
pub struct PythonInstaller {
    config: InstallerConfig,
    table: DownloadsTable,
    platform: Platform,
    http: Option<Arc<HttpIndex>>,
    lazy_http: OnceLock<Result<Arc<HttpIndex>, String>>,
}

impl fmt::Debug for PythonInstaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PythonInstaller")
            .field("config", &self.config)
            .field("platform", &self.platform)
            .field("downloads", &self.table.downloads.len())
            .finish_non_exhaustive()
    }
}

impl PythonInstaller {
    /// An installer with the embedded table (or `config.downloads_json`),
    /// downloading with `http` (its TLS roots, proxy, retries); without one,
    /// an [`HttpIndex`] over `cache_dir` is made on the first download.
    ///
    /// # Errors
    /// [`PythonInstallError::InvalidTable`] when `downloads_json` cannot be read or parsed.
    pub fn new(config: InstallerConfig, http: Option<Arc<HttpIndex>>) -> Result<Self, PythonInstallError> {
        let table = match &config.downloads_json {
            None => DownloadsTable::embedded(),
            Some(path) => {
                let invalid = |reason: String| PythonInstallError::InvalidTable { path: path.clone(), reason };
                let text = fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
                DownloadsTable::parse(&text).map_err(invalid)?
            }
        };
        Ok(Self { config, table, platform: Platform::current(), http, lazy_http: OnceLock::new() })
    }

    /// Install builds for `platform` instead of this machine's.
    #[must_use]
    pub fn with_platform(mut self, platform: Platform) -> Self {
        self.platform = platform;
        self
    }

    #[must_use]
    pub fn config(&self) -> &InstallerConfig {
        &self.config
    }

    /// The table in use (its `source` says where it came from).
    #[must_use]
    pub fn table(&self) -> &DownloadsTable {
        &self.table
    }

    #[must_use]
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The builds for this platform, newest first.
    #[must_use]
    pub fn available(&self) -> Vec<Download> {
        let mut list: Vec<Download> = self.table.downloads.iter().filter(|d| d.is_for(&self.platform)).cloned().collect();
        list.sort_by(|a, b| b.parsed_version().cmp(&a.parsed_version()).then(a.free_threaded.cmp(&b.free_threaded)));
        list
    }

    /// The newest build for this platform satisfying `request`.
    #[must_use]
    pub fn find_download(&self, request: &PythonRequest) -> Option<Download> {
        self.available().into_iter().find(|d| d.matches(request))
    }

    /// `<cache_dir>/python-downloads-v1`.
    #[must_use]
    pub fn downloads_cache(&self) -> PathBuf {
        self.config.cache_dir.join(DOWNLOADS_CACHE_DIR)
    }

    /// Install the newest build matching `request` (see the module documentation).
    ///
    /// # Errors
    /// See [`PythonInstallError`].
    pub fn install(&self, request: &PythonRequest) -> Result<InstalledPython, PythonInstallError> {
        if matches!(request, PythonRequest::Path(_)) {
            return Err(PythonInstallError::NotAVersion { request: request.to_string() });
        }
        let download = self.find_download(request).ok_or_else(|| self.not_available(request))?;
        let install_dir = &self.config.install_dir;
        fs::create_dir_all(install_dir).map_err(io_error(install_dir))?;
        let _lock = self.lock()?;

        let dir = install_dir.join(&download.name);
        let python = executable_in(&dir);
        let installed = |already_installed, downloaded| InstalledPython {
            name: download.name.clone(),
            dir: dir.clone(),
            python: python.clone(),
            version: download.version.clone(),
            free_threaded: download.free_threaded,
            already_installed,
            downloaded,
        };
        if dir.is_dir() {
            if python.is_file() {
                debug!(name = %download.name, "python already installed");
                return Ok(installed(true, false));
            }
            // Not ours, or damaged: replaced.
            debug!(dir = %dir.display(), "python install without an interpreter: replacing it");
            remove_dir_atomically(install_dir, &download.name, &dir)?;
        }

        let (archive, downloaded) = self.fetch(&download)?;
        let url = download.url_with_mirror(self.config.mirror.as_deref());
        let temp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempdir_in(install_dir).map_err(io_error(install_dir))?;
        unpack_tar_gz(&archive, temp.path()).map_err(|e| match e {
            Unpack::Io(path, e) => PythonInstallError::Io { path, reason: e.to_string() },
            Unpack::Invalid(reason) => PythonInstallError::InvalidArchive { url: url.clone(), reason },
        })?;
        let top = temp.path().join("python");
        if !executable_in(&top).is_file() {
            let inside = if cfg!(windows) { "python/python.exe" } else { "python/bin/python3" };
            return Err(PythonInstallError::InvalidArchive { url, reason: format!("it has no `{inside}`") });
        }
        fs::rename(&top, &dir).map_err(io_error(&dir))?;
        drop(temp);
        debug!(name = %download.name, dir = %dir.display(), "python installed");
        Ok(installed(false, downloaded))
    }

    /// The builds in the install directory, newest first.
    #[must_use]
    pub fn installed(&self) -> Vec<ManagedPython> {
        let Ok(entries) = fs::read_dir(&self.config.install_dir) else { return Vec::new() };
        let mut list: Vec<ManagedPython> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                if name.starts_with('.') || !entry.path().is_dir() {
                    return None;
                }
                let dir = entry.path();
                let python = executable_in(&dir);
                let (implementation, version, free_threaded) = parse_name(&name)?;
                Some(ManagedPython { name, dir, python, implementation, version, free_threaded })
            })
            .collect();
        list.sort_by(|a, b| {
            let version = |m: &ManagedPython| m.version.parse::<Version>().ok();
            version(b).cmp(&version(a)).then_with(|| a.name.cmp(&b.name))
        });
        list
    }

    /// Remove every installed build matching `request`; the directories
    /// removed (none when nothing matched). Each directory is first renamed
    /// away, so discovery never sees half of one.
    ///
    /// # Errors
    /// [`PythonInstallError::Io`] when a directory cannot be removed.
    pub fn uninstall(&self, request: &PythonRequest) -> Result<Vec<PathBuf>, PythonInstallError> {
        let matching: Vec<ManagedPython> = self.installed().into_iter().filter(|m| m.matches(request)).collect();
        if matching.is_empty() {
            return Ok(Vec::new());
        }
        let _lock = self.lock()?;
        let mut removed = Vec::new();
        for managed in matching {
            if !remove_dir_atomically(&self.config.install_dir, &managed.name, &managed.dir)? {
                continue;
            }
            debug!(dir = %managed.dir.display(), "python uninstalled");
            removed.push(managed.dir);
        }
        Ok(removed)
    }

    fn not_available(&self, request: &PythonRequest) -> PythonInstallError {
        let mut available: Vec<String> = Vec::new();
        for download in self.available() {
            let label = format!("{}{}", download.version, if download.free_threaded { "t" } else { "" });
            if !available.contains(&label) {
                available.push(label);
            }
        }
        PythonInstallError::NotAvailable { request: request.to_string(), platform: self.platform.to_string(), available }
    }

    fn lock(&self) -> Result<File, PythonInstallError> {
        let path = self.config.install_dir.join(LOCK_FILE);
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        Ok(file)
    }

    fn http(&self) -> Result<Arc<HttpIndex>, String> {
        if let Some(http) = &self.http {
            return Ok(Arc::clone(http));
        }
        self.lazy_http
            .get_or_init(|| {
                let config = IndexConfig { offline: self.config.offline, ..IndexConfig::new(&self.config.cache_dir) };
                HttpIndex::new(config).map(Arc::new).map_err(|e| e.to_string())
            })
            .clone()
    }

    /// The verified archive in the cache, and whether it was downloaded now.
    fn fetch(&self, download: &Download) -> Result<(PathBuf, bool), PythonInstallError> {
        let url = download.url_with_mirror(self.config.mirror.as_deref());
        let filename = download.filename();
        if filename.is_empty() || filename.starts_with('.') || filename.contains(['/', '\\']) {
            return Err(PythonInstallError::InvalidArchive { url, reason: "its URL does not end in a file name".into() });
        }
        let cache = self.downloads_cache();
        let cached = cache.join(&filename);
        if cached.is_file() {
            match hash_file(&cached) {
                Ok(hex) if hex.eq_ignore_ascii_case(&download.sha256) => {
                    debug!(path = %cached.display(), "python archive: cache hit");
                    return Ok((cached, false));
                }
                Ok(hex) => {
                    debug!(path = %cached.display(), actual = %hex, "python archive: cached file has the wrong hash, dropped");
                    let _ = fs::remove_file(&cached);
                }
                Err(e) => debug!(path = %cached.display(), error = %e, "python archive: unreadable cached file"),
            }
        }
        let local = url.starts_with("file:");
        if self.config.offline && !local {
            return Err(PythonInstallError::Offline {
                version: format!("{}{}", download.version, if download.free_threaded { "t" } else { "" }),
                name: download.name.clone(),
                cache: cached,
            });
        }
        fs::create_dir_all(&cache).map_err(io_error(&cache))?;
        let temp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(&cache).map_err(io_error(&cache))?;
        let temp_path = temp.path().to_path_buf();
        let mut sink = HashingSink { file: temp.reopen().map_err(io_error(&temp_path))?, hasher: Sha256::new() };
        if local {
            read_local(&url, &mut sink)?;
        } else {
            debug!(%url, "downloading python");
            let http = self.http().map_err(|reason| PythonInstallError::Download { url: url.clone(), reason })?;
            http.download(&url, &mut sink).map_err(|e| match e {
                DownloadError::Index(IndexError::OfflineMiss { .. }) => PythonInstallError::Offline {
                    version: download.version.clone(),
                    name: download.name.clone(),
                    cache: cached.clone(),
                },
                DownloadError::Index(e) => PythonInstallError::Download { url: url.clone(), reason: e.to_string() },
                DownloadError::Sink { source, .. } => PythonInstallError::Io { path: temp_path.clone(), reason: source.to_string() },
            })?;
        }
        sink.file.flush().map_err(io_error(&temp_path))?;
        sink.file.sync_all().map_err(io_error(&temp_path))?;
        let actual = hex::encode(sink.hasher.finalize());
        drop(sink.file);
        if !actual.eq_ignore_ascii_case(&download.sha256) {
            // `temp` is removed when dropped: nothing is kept.
            return Err(PythonInstallError::HashMismatch {
                url,
                expected: format!("sha256:{}", download.sha256.to_ascii_lowercase()),
                actual: format!("sha256:{actual}"),
            });
        }
        temp.persist(&cached).map_err(|e| io_error(&cached)(e.error))?;
        Ok((cached, !local))
    }
}

/// Rename `dir` (named `name` in `install_dir`) away, then delete it;
/// `false` if it was already gone.
fn remove_dir_atomically(install_dir: &Path, name: &str, dir: &Path) -> Result<bool, PythonInstallError> {
    let trash = install_dir.join(format!("{TEMP_PREFIX}remove-{name}"));
    if trash.exists() {
        fs::remove_dir_all(&trash).map_err(io_error(&trash))?;
    }
    match fs::rename(dir, &trash) {
        Ok(()) => fs::remove_dir_all(&trash).map_err(io_error(&trash)).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(dir)(e)),
    }
}

/// `<dir>/bin/python3` (`<dir>/python.exe` on Windows).
fn executable_in(dir: &Path) -> PathBuf {
    if cfg!(windows) { dir.join("python.exe") } else { dir.join("bin").join("python3") }
}

/// `cpython-3.12.16[+freethreaded]-linux-x86_64-gnu` → (`cpython`, `3.12.16`, free-threaded).
fn parse_name(name: &str) -> Option<(String, String, bool)> {
    let mut parts = name.splitn(3, '-');
    let implementation = parts.next()?;
    let version = parts.next()?;
    let (version, free_threaded) = match version.split_once('+') {
        Some((version, flavour)) => (version, flavour.split('+').any(|f| f == "freethreaded")),
        None => (version, false),
    };
    version.parse::<Version>().ok()?;
    Some((implementation.to_string(), version.to_string(), free_threaded))
}

struct HashingSink {
    file: File,
    hasher: Sha256,
}

impl DownloadSink for HashingSink {
    fn restart(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.hasher = Sha256::new();
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.file.write_all(chunk)
    }
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

/// A `file://` URL's path (`file:///a/b`, `file://localhost/a/b`, `file:/a/b`), percent-decoded.
fn file_url_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("file:")?;
    let rest = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let (host, path) = authority_and_path.split_at(authority_and_path.find('/')?);
            if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                return None;
            }
            path
        }
        None => rest,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    Some(PathBuf::from(percent_decode(rest)))
}

fn read_local(url: &str, sink: &mut HashingSink) -> Result<(), PythonInstallError> {
    let download = |reason: String| PythonInstallError::Download { url: url.to_string(), reason };
    let path = file_url_path(url).ok_or_else(|| download("not a local file URL".into()))?;
    let mut file = File::open(&path).map_err(|e| download(format!("{}: {e}", path.display())))?;
    let mut buffer = vec![0_u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(|e| download(format!("{}: {e}", path.display())))?;
        if n == 0 {
            return Ok(());
        }
        sink.write(&buffer[..n]).map_err(io_error(&path))?;
    }
}

enum Unpack {
    Io(PathBuf, io::Error),
    Invalid(String),
}

/// Unpack a `.tar.gz` into `dest` (an existing, empty directory), refusing
/// entries that would land outside it: absolute paths, `..`, symbolic links
/// whose target leaves the archive (only leading `..` are allowed in a
/// target, and never above the root), hard links to outside paths, devices.
fn unpack_tar_gz(archive: &Path, dest: &Path) -> Result<(), Unpack> {
    let file = File::open(archive).map_err(|e| Unpack::Io(archive.to_path_buf(), e))?;
    let root = fs::canonicalize(dest).map_err(|e| Unpack::Io(dest.to_path_buf(), e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
    tar.set_preserve_permissions(false);
    tar.set_overwrite(true);
    let invalid_tar = |e: io::Error| Unpack::Invalid(format!("not a .tar.gz archive: {e}"));
    for entry in tar.entries().map_err(invalid_tar)? {
        let mut entry = entry.map_err(invalid_tar)?;
        let path = entry.path().map_err(invalid_tar)?.into_owned();
        let Some(relative) = safe_relative(&path) else {
            return Err(Unpack::Invalid(format!("the entry `{}` would land outside the install directory", path.display())));
        };
        if relative.as_os_str().is_empty() {
            continue;
        }
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Directory => {}
            tar::EntryType::Symlink => {
                let target = entry.link_name().map_err(invalid_tar)?.unwrap_or_default().into_owned();
                let parent = relative.parent().unwrap_or(Path::new(""));
                let real_parent = root.join(parent);
                fs::create_dir_all(&real_parent).map_err(|e| Unpack::Io(real_parent.clone(), e))?;
                let real_parent = fs::canonicalize(&real_parent).map_err(|e| Unpack::Io(real_parent.clone(), e))?;
                let depth = real_parent.strip_prefix(&root).ok().map(|p| p.components().count());
                if depth.is_none_or(|depth| !symlink_target_inside(&target, depth)) {
                    return Err(Unpack::Invalid(format!(
                        "the link `{}` -> `{}` points outside the archive",
                        path.display(),
                        target.display()
                    )));
                }
            }
            tar::EntryType::Link => {
                let target = entry.link_name().map_err(invalid_tar)?.unwrap_or_default().into_owned();
                if safe_relative(&target).is_none_or(|t| t.as_os_str().is_empty()) {
                    return Err(Unpack::Invalid(format!(
                        "the hard link `{}` -> `{}` points outside the archive",
                        path.display(),
                        target.display()
                    )));
                }
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            other => {
                return Err(Unpack::Invalid(format!("the entry `{}` has an unsupported type ({other:?})", path.display())));
            }
        }
        match entry.unpack_in(&root) {
            Ok(true) => {}
            Ok(false) => {
                return Err(Unpack::Invalid(format!("the entry `{}` would land outside the install directory", path.display())));
            }
            Err(e) if e.kind() == io::ErrorKind::Other || e.kind() == io::ErrorKind::InvalidData => {
                return Err(Unpack::Invalid(format!("cannot unpack `{}`: {e}", path.display())));
            }
            Err(e) => return Err(Unpack::Io(root.join(&relative), e)),
        }
    }
    Ok(())
}

/// `path` without `.` components, or `None` if it is absolute or has `..`.
fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether a link target, resolved from a directory `depth` levels below
/// the root, stays inside: relative, its `..` only at the start and at most
/// `depth` of them.
fn symlink_target_inside(target: &Path, depth: usize) -> bool {
    let mut ups = 0;
    let mut seen_name = false;
    for component in target.components() {
        match component {
            Component::ParentDir if !seen_name => ups += 1,
            Component::Normal(_) => seen_name = true,
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    ups <= depth && !target.as_os_str().is_empty()
}

impl From<PythonInstallError> for pybun_ports::RuntimeError {
    fn from(error: PythonInstallError) -> Self {
        match error {
            PythonInstallError::NotAvailable { request, platform, available } => {
                Self::NotAvailable { request, platform, available }
            }
            PythonInstallError::HashMismatch { url, expected, actual } => Self::HashMismatch { url, expected, actual },
            PythonInstallError::Offline { version, .. } => Self::Offline { version },
            other => Self::Other(other.to_string()),
        }
    }
}

fn runtime_of(managed: &ManagedPython) -> pybun_ports::ManagedRuntime {
    pybun_ports::ManagedRuntime {
        name: managed.name.clone(),
        version: managed.version.clone(),
        free_threaded: managed.free_threaded,
        python: managed.python.clone(),
    }
}

impl pybun_ports::PythonRuntimes for PythonInstaller {
    fn available(&self) -> Vec<pybun_ports::RuntimeDownload> {
        PythonInstaller::available(self)
            .into_iter()
            .map(|d| pybun_ports::RuntimeDownload {
                url: d.url_with_mirror(self.config().mirror.as_deref()),
                name: d.name,
                version: d.version,
                free_threaded: d.free_threaded,
            })
            .collect()
    }

    fn installed(&self) -> Vec<pybun_ports::ManagedRuntime> {
        PythonInstaller::installed(self).iter().map(runtime_of).collect()
    }

    fn install(&self, request: &PythonRequest) -> Result<pybun_ports::InstalledRuntime, pybun_ports::RuntimeError> {
        let installed = PythonInstaller::install(self, request)?;
        Ok(pybun_ports::InstalledRuntime {
            runtime: pybun_ports::ManagedRuntime {
                name: installed.name,
                version: installed.version,
                free_threaded: installed.free_threaded,
                python: installed.python,
            },
            already_installed: installed.already_installed,
            downloaded: installed.downloaded,
        })
    }

    fn uninstall(&self, request: &PythonRequest) -> Result<Vec<PathBuf>, pybun_ports::RuntimeError> {
        Ok(PythonInstaller::uninstall(self, request)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert_eq!(parse_name("cpython-3.12.16-linux-x86_64-gnu"), Some(("cpython".into(), "3.12.16".into(), false)));
        assert_eq!(
            parse_name("cpython-3.13.1+freethreaded-macos-aarch64-none"),
            Some(("cpython".into(), "3.13.1".into(), true))
        );
        assert_eq!(parse_name("junk"), None);
        assert_eq!(file_url_path("file:///tmp/a%2Bb.tar.gz"), Some(PathBuf::from("/tmp/a+b.tar.gz")));
        assert_eq!(file_url_path("file://localhost/tmp/x"), Some(PathBuf::from("/tmp/x")));
        assert_eq!(file_url_path("file://host/tmp/x"), None);
    }

    #[test]
    fn link_targets() {
        assert!(symlink_target_inside(Path::new("python3.12"), 0));
        assert!(symlink_target_inside(Path::new("../lib/libpython3.so"), 1));
        assert!(!symlink_target_inside(Path::new("../../etc"), 1));
        assert!(!symlink_target_inside(Path::new("/usr/bin/python3"), 5));
        assert!(!symlink_target_inside(Path::new("a/../../x"), 5));
        assert!(safe_relative(Path::new("./python/bin")).is_some());
        assert!(safe_relative(Path::new("python/../../x")).is_none());
    }
}
