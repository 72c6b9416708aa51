//! The artifact cache port: distribution files downloaded once, verified,
//! and unpacked once into a content-addressed cache.

use std::path::PathBuf;

/// A distribution file to make available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRequest {
    /// PEP 503 normalized project name.
    pub name: String,
    /// The version (for messages).
    pub version: String,
    pub filename: String,
    /// `https://`, `http://` or `file://` URL.
    pub url: String,
    /// The expected `sha256:<hex>` (from the lock); `None` when the index gave none.
    pub hash: Option<String>,
    pub size: Option<u64>,
}

/// A wheel ready to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedWheel {
    pub filename: String,
    /// The unpacked wheel in the cache (content-addressed by the archive's sha256).
    pub unpacked: PathBuf,
    /// The archive's sha256, hex.
    pub sha256: String,
    /// Whether this call downloaded it (false: it was cached).
    pub downloaded: bool,
}

/// Why a file could not be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    /// The downloaded bytes do not have the locked hash.
    #[error("hash mismatch for `{filename}`: expected `{expected}`, got `{actual}`")]
    HashMismatch { filename: String, expected: String, actual: String },
    /// The file could not be fetched.
    #[error("could not download `{url}`: {reason}")]
    Download { url: String, reason: String },
    /// `--offline` and the file is not cached.
    #[error("`{filename}` is not in the cache and network access is disabled (`--offline`)")]
    OfflineMiss { filename: String },
    /// The archive is not a valid, safe wheel.
    #[error("`{filename}` is not a valid wheel: {reason}")]
    InvalidWheel { filename: String, reason: String },
    /// A cache operation failed.
    #[error("cache error at `{path}`: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// The global cache of distribution files.
pub trait ArtifactCache: Send + Sync {
    /// Make each requested wheel available unpacked: reuse the cached copy,
    /// else download (concurrently), verify size and hash, and unpack
    /// atomically. One result per request, in order.
    fn prepare_wheels(&self, requests: &[ArtifactRequest]) -> Vec<Result<PreparedWheel, ArtifactError>>;

    /// [`ArtifactCache::prepare_wheels`], calling `ready(i, result)` for each
    /// request as soon as its result is known (from any thread, in no
    /// particular order), so the caller can use a wheel while others are
    /// still downloading.
    fn prepare_wheels_as_ready(
        &self,
        requests: &[ArtifactRequest],
        ready: &(dyn Fn(usize, &Result<PreparedWheel, ArtifactError>) + Sync),
    ) -> Vec<Result<PreparedWheel, ArtifactError>> {
        let results = self.prepare_wheels(requests);
        for (i, result) in results.iter().enumerate() {
            ready(i, result);
        }
        results
    }

    /// A hint, given before the files to install are known (the
    /// interpreter that decides is still being probed): archives of these
    /// projects, `(normalized name, the URL of one of its files)`, may be
    /// asked for soon. When it holds nothing of one of them, an
    /// implementation may get ready to download in the background (an HTTP
    /// client, a DNS answer); it downloads nothing. The default ignores it.
    fn expect_downloads(&self, projects: &[(&str, &str)]) {
        let _ = projects;
    }
}

/// The cache's side of building from source: sdist archives, wheels built
/// from them (keyed by the sdist's sha256), scratch space and build
/// environments.
pub trait BuildCache: Send + Sync {
    /// Download (or reuse) a source archive, verified like a wheel; the archive's path in the cache.
    ///
    /// # Errors
    /// As [`ArtifactCache::prepare_wheels`].
    fn fetch_archive(&self, request: &ArtifactRequest) -> Result<PathBuf, ArtifactError>;

    /// The wheel built earlier from the source archive with this sha256 (hex), unpacked.
    fn built_wheel(&self, source_sha256: &str) -> Option<PreparedWheel>;

    /// Take a freshly built wheel into the cache (unpacked, content-addressed)
    /// and, with `source_sha256`, remember it as built from that archive.
    ///
    /// # Errors
    /// An invalid wheel or a cache IO error.
    fn store_built_wheel(&self, source_sha256: Option<&str>, wheel: &std::path::Path) -> Result<PreparedWheel, ArtifactError>;

    /// A new, empty directory inside the cache for one build (removed by `cache prune` if left behind).
    ///
    /// # Errors
    /// A cache IO error.
    fn scratch_dir(&self) -> Result<PathBuf, ArtifactError>;

    /// Where the build environment with this key lives (it may not exist yet).
    fn build_env_dir(&self, key: &str) -> PathBuf;

    /// The directory of cached ephemeral environments (PEP 723 scripts, `pybun x`):
    /// `<cache>/environments-v1`.
    fn environments_dir(&self) -> PathBuf;

    /// The directory of cached per-file test discovery results (`pybun test`):
    /// `<cache>/test-discovery-v1` (one index per project rootdir, entries keyed by content hash).
    fn test_discovery_dir(&self) -> PathBuf {
        self.environments_dir().with_file_name("test-discovery-v1")
    }
}
