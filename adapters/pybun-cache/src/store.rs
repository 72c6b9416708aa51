//! [`ArtifactStore`]: the [`ArtifactCache`] port over the OS.

use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use pybun_fs_os::{WheelInstallError, unpack_wheel, write_atomic};
use pybun_index_http::{DownloadError, DownloadSink, HttpIndex};
use pybun_pep::PackageName;
use pybun_ports::{ArtifactCache, ArtifactError, ArtifactRequest, BuildCache, IndexError, PreparedWheel};
use sha2::{Digest as _, Sha256};
use tracing::debug;

use crate::layout::{BUILD_ENVS_DIR, BUILT_DIR, Layout, SCRATCH_DIR, SharedLock, TEMP_PREFIX, is_sha256_hex};

/// Downloads running at once by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// The global, content-addressed wheel cache (see the crate documentation).
///
/// The first [`ArtifactCache::prepare_wheels`] call takes a shared lock on
/// `<cache>/.lock` and keeps it until the store is dropped, so the returned
/// unpacked directories stay valid while the caller installs from them
/// ([`crate::clean`] and [`crate::prune`] refuse to run meanwhile).
pub struct ArtifactStore {
    layout: Layout,
    http: Arc<HttpIndex>,
    offline: bool,
    concurrency: usize,
    lock: OnceLock<Result<SharedLock, String>>,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactStore")
            .field("cache_dir", &self.layout.root())
            .field("offline", &self.offline)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl ArtifactStore {
    /// A store in `cache_dir` downloading with `http`'s client (its TLS
    /// roots, proxy, user agent, timeouts, retries). With `offline`, only
    /// cached wheels and `file://` URLs are served; anything else is
    /// [`ArtifactError::OfflineMiss`]. Nothing is touched on disk until the
    /// first request.
    #[must_use]
    pub fn new(cache_dir: impl Into<PathBuf>, http: Arc<HttpIndex>, offline: bool) -> Self {
        Self { layout: Layout::new(cache_dir), http, offline, concurrency: DEFAULT_CONCURRENCY, lock: OnceLock::new() }
    }

    /// At most `downloads` downloads (or local reads) at once (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, downloads: usize) -> Self {
        self.concurrency = downloads.max(1);
        self
    }

    /// The cache root.
    #[must_use]
    pub fn cache_dir(&self) -> &Path {
        self.layout.root()
    }

    fn ensure_locked(&self) -> Result<(), ArtifactError> {
        let path = self.layout.lock_file();
        self.lock
            .get_or_init(|| SharedLock::acquire(&path).map_err(|e| e.to_string()))
            .as_ref()
            .map(|_| ())
            .map_err(|reason| ArtifactError::Io { path, reason: format!("cannot lock the cache: {reason}") })
    }

    /// A hit answered with a stat or two (`Some(Ok)`), an answer without any
    /// work (`Some(Err)`), or `None`: the file must be fetched.
    fn lookup(&self, request: &ArtifactRequest) -> Option<Result<PreparedWheel, ArtifactError>> {
        if let Err(e) = check_filename(&request.filename) {
            return Some(Err(e));
        }
        let expected = match expected_sha256(request) {
            Ok(expected) => expected,
            Err(e) => return Some(Err(e)),
        };
        let local = request.url.starts_with("file:");
        // A local file may change under the same URL: without a locked hash it is read and hashed.
        let known = expected.or_else(|| if local { None } else { self.hash_of_url(&request.url) });
        if let Some(hex) = known {
            let unpacked = self.layout.unpacked(&hex);
            let archive_ok = fs::metadata(self.layout.archive(&hex, &request.filename))
                .is_ok_and(|m| m.is_file() && request.size.is_none_or(|size| m.len() == size));
            // Offline, an unpacked wheel whose archive is gone still serves for installing.
            if (archive_ok || (self.offline && !local)) && unpacked.is_dir() {
                debug!(filename = %request.filename, cache = "hit", "wheel");
                return Some(Ok(PreparedWheel {
                    filename: request.filename.clone(),
                    unpacked,
                    sha256: hex,
                    downloaded: false,
                }));
            }
        }
        if self.offline && !local {
            debug!(filename = %request.filename, cache = "miss", "offline");
            return Some(Err(ArtifactError::OfflineMiss { filename: request.filename.clone() }));
        }
        None
    }

    fn hash_of_url(&self, url: &str) -> Option<String> {
        let text = fs::read_to_string(self.layout.by_url(url)).ok()?;
        let hex = text.trim();
        is_sha256_hex(hex).then(|| hex.to_string())
    }

    /// Download (or read) into a temporary file and verify hash and size:
    /// the archive's sha256 (hex), the temporary directory and the file in it.
    fn download_verified(&self, request: &ArtifactRequest) -> Result<(String, tempfile::TempDir, PathBuf, u64), ArtifactError> {
        let filename = &request.filename;
        let expected = expected_sha256(request)?;
        let archives = self.layout.archives();
        fs::create_dir_all(&archives).map_err(io_error(&archives))?;
        // A directory, so that the file inside carries its real name (the unpacker reads it).
        let temp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempdir_in(&archives).map_err(io_error(&archives))?;
        let temp_path = temp.path().join(filename);
        let file = File::create(&temp_path).map_err(io_error(&temp_path))?;
        let mut sink = HashingSink { file, hasher: Sha256::new(), bytes: 0, limit: request.size, overflow: false };
        let fetched = if request.url.starts_with("file:") {
            read_local(&request.url, &mut sink)
        } else {
            debug!(url = %request.url, "downloading");
            self.http.download(&request.url, &mut sink).map(|_| ()).map_err(|e| match e {
                DownloadError::Index(IndexError::OfflineMiss { .. }) => {
                    ArtifactError::OfflineMiss { filename: filename.clone() }
                }
                DownloadError::Index(e) => ArtifactError::Download { url: request.url.clone(), reason: e.to_string() },
                DownloadError::Sink { source, .. } => {
                    ArtifactError::Io { path: temp_path.clone(), reason: source.to_string() }
                }
            })
        };
        if sink.overflow {
            let size = request.size.unwrap_or_default();
            return Err(ArtifactError::HashMismatch {
                filename: filename.clone(),
                expected: format!("{size} bytes"),
                actual: format!("more than {size} bytes"),
            });
        }
        fetched?;
        sink.file.flush().map_err(io_error(&temp_path))?;
        drop(sink.file);
        let hex = hex::encode(sink.hasher.finalize());
        if let Some(expected) = expected
            && expected != hex
        {
            return Err(ArtifactError::HashMismatch {
                filename: filename.clone(),
                expected: format!("sha256:{expected}"),
                actual: format!("sha256:{hex}"),
            });
        }
        if let Some(size) = request.size
            && size != sink.bytes
        {
            return Err(ArtifactError::HashMismatch {
                filename: filename.clone(),
                expected: format!("{size} bytes"),
                actual: format!("{} bytes", sink.bytes),
            });
        }

        Ok((hex, temp, temp_path, sink.bytes))
    }

    /// Download (or read), verify, keep the archive, unpack.
    fn fetch(&self, request: &ArtifactRequest) -> Result<PreparedWheel, ArtifactError> {
        let filename = &request.filename;
        let (hex, temp, temp_path, bytes) = self.download_verified(request)?;
        let unpacked = self.layout.unpacked(&hex);
        let archive = self.layout.archive(&hex, filename);
        if unpacked.is_dir() && archive.is_file() {
            // Already complete (a local file read again, or a lost URL index entry).
            drop(temp);
            self.remember(request, &hex);
            return Ok(PreparedWheel { filename: filename.clone(), unpacked, sha256: hex, downloaded: false });
        }
        // The archive first, the unpacked directory last: an unpacked wheel means a complete entry.
        let archive_dir = self.layout.archive_dir(&hex);
        fs::create_dir_all(&archive_dir).map_err(io_error(&archive_dir))?;
        if !archive.is_file()
            && let Err(e) = fs::rename(&temp_path, &archive)
            && !archive.is_file()
        {
            return Err(io_error(&archive)(e));
        }
        drop(temp);
        if let Err(e) = unpack_wheel(&archive, &unpacked) {
            let error = match e {
                WheelInstallError::Io { action, path, source } => {
                    ArtifactError::Io { path, reason: format!("could not {action}: {source}") }
                }
                invalid => {
                    // Keep nothing of a wheel we refuse.
                    let _ = fs::remove_file(&archive);
                    let _ = fs::remove_dir(&archive_dir);
                    ArtifactError::InvalidWheel {
                        filename: filename.clone(),
                        reason: invalid_reason(&invalid, filename),
                    }
                }
            };
            return Err(error);
        }
        self.remember(request, &hex);
        debug!(filename, sha256 = %hex, bytes, "wheel cached");
        Ok(PreparedWheel { filename: filename.clone(), unpacked, sha256: hex, downloaded: true })
    }

    /// The by-URL and by-name indexes (best effort: a failure only costs a later lookup).
    fn remember(&self, request: &ArtifactRequest, hex: &str) {
        if !request.url.starts_with("file:") {
            let path = self.layout.by_url(&request.url);
            if let Err(e) = write_atomic(&path, hex.as_bytes()) {
                debug!(path = %path.display(), error = %e, "could not write the URL index");
            }
        }
        if let Ok(name) = PackageName::from_str(&request.name) {
            let path = self.layout.by_name(name.as_ref()).join(hex);
            let origin = serde_json::json!({
                "name": name.as_ref(),
                "version": request.version,
                "filename": request.filename,
                "url": request.url,
            });
            if let Err(e) = write_atomic(&path, origin.to_string().as_bytes()) {
                debug!(path = %path.display(), error = %e, "could not write the name index");
            }
        }
    }
}

impl ArtifactCache for ArtifactStore {
    fn prepare_wheels(&self, requests: &[ArtifactRequest]) -> Vec<Result<PreparedWheel, ArtifactError>> {
        if requests.is_empty() {
            return Vec::new();
        }
        if let Err(e) = self.ensure_locked() {
            return requests.iter().map(|_| Err(e.clone())).collect();
        }
        let mut results: Vec<Option<Result<PreparedWheel, ArtifactError>>> =
            requests.iter().map(|request| self.lookup(request)).collect();
        let pending: Vec<usize> = (0..requests.len()).filter(|&i| results[i].is_none()).collect();
        let workers = self.concurrency.min(pending.len());
        if workers == 1 {
            for &i in &pending {
                results[i] = Some(self.fetch(&requests[i]));
            }
        } else if workers > 1 {
            let next = AtomicUsize::new(0);
            let done = Mutex::new(Vec::with_capacity(pending.len()));
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| {
                        while let Some(&i) = pending.get(next.fetch_add(1, Ordering::Relaxed)) {
                            let result = self.fetch(&requests[i]);
                            done.lock().unwrap_or_else(PoisonError::into_inner).push((i, result));
                        }
                    });
                }
            });
            for (i, result) in done.into_inner().unwrap_or_else(PoisonError::into_inner) {
                results[i] = Some(result);
            }
        }
        results
            .into_iter()
            .zip(requests)
            .map(|(result, request)| {
                result.unwrap_or_else(|| {
                    Err(ArtifactError::Io {
                        path: PathBuf::from(&request.filename),
                        reason: "the download worker stopped".to_string(),
                    })
                })
            })
            .collect()
    }
}

/// Writes to the temporary archive while hashing and counting; refuses bytes past `limit`.
struct HashingSink {
    file: File,
    hasher: Sha256,
    bytes: u64,
    limit: Option<u64>,
    overflow: bool,
}

impl DownloadSink for HashingSink {
    fn restart(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.hasher = Sha256::new();
        self.bytes = 0;
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.bytes += chunk.len() as u64;
        if self.limit.is_some_and(|limit| self.bytes > limit) {
            self.overflow = true;
            return Err(io::Error::other("more bytes than the expected size"));
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk)
    }
}

fn read_local(url: &str, sink: &mut HashingSink) -> Result<(), ArtifactError> {
    let download = |reason: String| ArtifactError::Download { url: url.to_string(), reason };
    let path = url::Url::parse(url)
        .ok()
        .and_then(|u| u.to_file_path().ok())
        .ok_or_else(|| download("not a local file URL".to_string()))?;
    let mut file = File::open(&path).map_err(|e| download(format!("{}: {e}", path.display())))?;
    let mut buffer = vec![0_u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(|e| download(format!("{}: {e}", path.display())))?;
        if n == 0 {
            return Ok(());
        }
        if let Err(e) = sink.write(&buffer[..n]) {
            return Err(if sink.overflow {
                download(e.to_string())
            } else {
                ArtifactError::Io { path: path.clone(), reason: e.to_string() }
            });
        }
    }
}

/// The request's `sha256:<hex>` as lower-case hex.
fn expected_sha256(request: &ArtifactRequest) -> Result<Option<String>, ArtifactError> {
    let Some(hash) = &request.hash else { return Ok(None) };
    let hex = hash
        .split_once(':')
        .filter(|(algorithm, _)| algorithm.eq_ignore_ascii_case("sha256"))
        .map(|(_, hex)| hex.to_ascii_lowercase())
        .filter(|hex| is_sha256_hex(hex));
    hex.map(Some).ok_or_else(|| ArtifactError::Download {
        url: request.url.clone(),
        reason: format!("cannot check hash `{hash}`: expected `sha256:` and 64 hex digits"),
    })
}

/// The file name is used as a path component in the cache.
fn check_filename(filename: &str) -> Result<(), ArtifactError> {
    let plain = !filename.is_empty()
        && !filename.contains(['/', '\\', '\0'])
        && filename != "."
        && filename != ".."
        && !filename.starts_with(TEMP_PREFIX);
    if plain {
        Ok(())
    } else {
        Err(ArtifactError::InvalidWheel { filename: filename.to_string(), reason: "not a plain file name".to_string() })
    }
}

/// The unpacker's reason, without repeating the wheel's name.
fn invalid_reason(error: &WheelInstallError, filename: &str) -> String {
    match error {
        WheelInstallError::InvalidArchive { reason, .. } => reason.clone(),
        other => {
            let text = other.to_string();
            text.strip_prefix(&format!("`{filename}`: ")).map_or(text.clone(), str::to_string)
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ArtifactError {
    let path = path.to_path_buf();
    move |e| ArtifactError::Io { path, reason: e.to_string() }
}

impl BuildCache for ArtifactStore {
    fn fetch_archive(&self, request: &ArtifactRequest) -> Result<PathBuf, ArtifactError> {
        self.ensure_locked()?;
        check_filename(&request.filename)?;
        if let Some(hex) = expected_sha256(request)? {
            let archive = self.layout.archive(&hex, &request.filename);
            if archive.is_file() {
                return Ok(archive);
            }
        }
        if self.offline && !request.url.starts_with("file:") {
            return Err(ArtifactError::OfflineMiss { filename: request.filename.clone() });
        }
        let (hex, temp, temp_path, _) = self.download_verified(request)?;
        let archive = self.layout.archive(&hex, &request.filename);
        let archive_dir = self.layout.archive_dir(&hex);
        fs::create_dir_all(&archive_dir).map_err(io_error(&archive_dir))?;
        if !archive.is_file()
            && let Err(e) = fs::rename(&temp_path, &archive)
            && !archive.is_file()
        {
            return Err(io_error(&archive)(e));
        }
        drop(temp);
        self.remember(request, &hex);
        Ok(archive)
    }

    fn built_wheel(&self, source_sha256: &str) -> Option<PreparedWheel> {
        let text = fs::read_to_string(self.layout.root().join(BUILT_DIR).join(source_sha256)).ok()?;
        let (hex, filename) = text.trim().split_once(' ')?;
        let unpacked = self.layout.unpacked(hex);
        unpacked.is_dir().then(|| PreparedWheel {
            filename: filename.to_string(),
            unpacked,
            sha256: hex.to_string(),
            downloaded: false,
        })
    }

    fn store_built_wheel(&self, source_sha256: Option<&str>, wheel: &Path) -> Result<PreparedWheel, ArtifactError> {
        self.ensure_locked()?;
        let filename = wheel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        check_filename(&filename)?;
        let bytes = fs::read(wheel).map_err(io_error(wheel))?;
        let hex = hex::encode(Sha256::digest(&bytes));
        let archive = self.layout.archive(&hex, &filename);
        let archive_dir = self.layout.archive_dir(&hex);
        fs::create_dir_all(&archive_dir).map_err(io_error(&archive_dir))?;
        if !archive.is_file() {
            write_atomic(&archive, &bytes).map_err(io_error(&archive))?;
        }
        let unpacked = self.layout.unpacked(&hex);
        if let Err(e) = unpack_wheel(&archive, &unpacked) {
            let _ = fs::remove_file(&archive);
            return Err(ArtifactError::InvalidWheel { filename: filename.clone(), reason: invalid_reason(&e, &filename) });
        }
        if let Some(key) = source_sha256 {
            let path = self.layout.root().join(BUILT_DIR).join(key);
            write_atomic(&path, format!("{hex} {filename}\n").as_bytes()).map_err(io_error(&path))?;
        }
        Ok(PreparedWheel { filename, unpacked, sha256: hex, downloaded: false })
    }

    fn scratch_dir(&self) -> Result<PathBuf, ArtifactError> {
        self.ensure_locked()?;
        let dir = self.layout.root().join(SCRATCH_DIR);
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let temp = tempfile::Builder::new().prefix("build-").tempdir_in(&dir).map_err(io_error(&dir))?;
        Ok(temp.keep())
    }

    fn build_env_dir(&self, key: &str) -> PathBuf {
        self.layout.root().join(BUILD_ENVS_DIR).join(key)
    }

    fn environments_dir(&self) -> PathBuf {
        self.layout.root().join(crate::layout::ENVIRONMENTS_DIR)
    }

    fn test_discovery_dir(&self) -> PathBuf {
        self.layout.root().join(crate::layout::TEST_DISCOVERY_DIR)
    }
}
