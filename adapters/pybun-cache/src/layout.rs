//! The cache's on-disk layout and its lock.
//!
//! ```text
//! <cache>/.lock                               shared by users, exclusive for clean / prune
//! <cache>/wheels-v2/<sha256>/                 an unpacked wheel (the archive's sha256, hex; the archive is not kept)
//! <cache>/wheels-v2/by-url/<sha256 of url>    the archive's sha256 for an http(s) URL
//! <cache>/wheels-v2/by-name/<name>/<sha256>   which entries belong to a project (JSON origin)
//! <cache>/archives-v1/<sha256>/<filename>     a verified source archive (sdists, for builds)
//! <cache>/archives-v1/.tmp-*/                 downloads too large for memory, in progress
//! <cache>/scratch-v1/                         scratch space of builds
//! <cache>/built-v1/<key>                      `<sha256> <filename>` of the wheel built from a source archive
//! <cache>/build-envs-v1/<key>/                a build environment (venv)
//! <cache>/http-v1/                            the index client's HTTP cache (pybun-index-http)
//! ```

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// Unpacked wheels. `v2`: complete without their archive (`wheels-v1`
/// entries needed `archives-v1/<sha256>/<filename>` beside them).
pub const WHEELS_DIR: &str = "wheels-v2";
/// The previous wheel directory, removed by `prune`.
pub(crate) const OLD_WHEELS_DIR: &str = "wheels-v1";
/// Verified source archives for builds (before `wheels-v2`, wheel archives too).
pub const ARCHIVES_DIR: &str = "archives-v1";
/// The index client's HTTP cache.
pub const HTTP_DIR: &str = "http-v1";
/// Scratch space of builds (anything left there is removed by `prune`).
pub const SCRATCH_DIR: &str = "scratch-v1";
/// Wheels built from source archives: `built-v1/<key>` names the built wheel's sha256.
pub const BUILT_DIR: &str = "built-v1";
/// Build environments (`build-envs-v1/<key>/`, complete once their marker file exists).
pub const BUILD_ENVS_DIR: &str = "build-envs-v1";
/// Cached ephemeral environments (PEP 723 scripts, `pybun x`) and their pointers.
pub const ENVIRONMENTS_DIR: &str = "environments-v1";
/// Per-file test discovery results of `pybun test` (`test-discovery-v1/<rootdir hash>.idx`, a line per file keyed by content hash).
pub const TEST_DISCOVERY_DIR: &str = "test-discovery-v1";
/// The lock file at the cache root.
pub const LOCK_FILE: &str = ".lock";
/// `wheels-v2/by-url/`.
pub(crate) const BY_URL: &str = "by-url";
/// `wheels-v2/by-name/`.
pub(crate) const BY_NAME: &str = "by-name";
/// Prefix of every temporary file or directory in the cache.
pub(crate) const TEMP_PREFIX: &str = ".tmp";

/// Paths inside one cache directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn lock_file(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    pub(crate) fn wheels(&self) -> PathBuf {
        self.root.join(WHEELS_DIR)
    }

    pub(crate) fn archives(&self) -> PathBuf {
        self.root.join(ARCHIVES_DIR)
    }

    pub(crate) fn unpacked(&self, hex: &str) -> PathBuf {
        self.wheels().join(hex)
    }

    pub(crate) fn archive_dir(&self, hex: &str) -> PathBuf {
        self.archives().join(hex)
    }

    pub(crate) fn archive(&self, hex: &str, filename: &str) -> PathBuf {
        self.archive_dir(hex).join(filename)
    }

    pub(crate) fn by_url_dir(&self) -> PathBuf {
        self.wheels().join(BY_URL)
    }

    pub(crate) fn by_url(&self, url: &str) -> PathBuf {
        self.by_url_dir().join(sha256_hex(url.as_bytes()))
    }

    pub(crate) fn by_name_dir(&self) -> PathBuf {
        self.wheels().join(BY_NAME)
    }

    pub(crate) fn by_name(&self, name: &str) -> PathBuf {
        self.by_name_dir().join(name)
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// 64 lower-case hex digits: a sha256 key.
pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(crate) fn is_temp(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// A shared lock on `<cache>/.lock`, held by every user of the cache (see
/// [`pybun_fs_os::FileLock`] for the exclusive side). Released when dropped.
#[derive(Debug)]
pub(crate) struct SharedLock {
    file: File,
}

impl SharedLock {
    /// Wait for a shared lock (only an exclusive holder — `clean`, `prune` — makes this wait).
    pub(crate) fn acquire(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        file.lock_shared()?;
        Ok(Self { file })
    }
}

impl Drop for SharedLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
