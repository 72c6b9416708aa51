//! The filesystem port.

use std::io;
use std::path::{Path, PathBuf};

/// Files as the use cases need them. Every write is atomic: readers see the
/// old content or the new, never a half-written file.
pub trait FileSystem: Send + Sync {
    /// Read a whole file.
    ///
    /// # Errors
    /// The OS error (`NotFound` when absent).
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// Read a whole UTF-8 file.
    ///
    /// # Errors
    /// The OS error, or `InvalidData` when not UTF-8.
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        let bytes = self.read(path)?;
        String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Replace a file's content atomically (temporary file + rename), creating parent directories.
    ///
    /// # Errors
    /// The OS error; the old file is then untouched.
    fn write_atomic(&self, path: &Path, contents: &[u8]) -> io::Result<()>;

    /// Whether a file or directory exists.
    fn exists(&self, path: &Path) -> bool;

    /// Whether `path` is a directory (following symlinks).
    fn is_dir(&self, path: &Path) -> bool;

    /// Remove a file; removing an absent file is not an error.
    ///
    /// # Errors
    /// The OS error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Remove a directory and everything in it; an absent one is not an error.
    ///
    /// # Errors
    /// The OS error.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;

    /// The entries of a directory (full paths), sorted.
    ///
    /// # Errors
    /// The OS error.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;

    /// The entries of a directory as `(name, is_dir)` (symlinks followed),
    /// sorted by name. Adapters answer from the directory listing itself where
    /// they can (no `stat` per entry); the default asks [`Self::is_dir`].
    ///
    /// # Errors
    /// The OS error.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<(String, bool)>> {
        Ok(self
            .read_dir(path)?
            .into_iter()
            .filter_map(|p| Some((p.file_name()?.to_string_lossy().into_owned(), self.is_dir(&p))))
            .collect())
    }

    /// The file's [`FileStamp`]; `None` when unknown (absent, or an adapter
    /// without one: callers then read the file).
    fn stamp(&self, path: &Path) -> Option<FileStamp> {
        let _ = path;
        None
    }
}

/// A file's metadata that changes whenever its content may have changed:
/// size, modification and status-change times (nanoseconds since the epoch),
/// inode and device. An edit that keeps size and modification time (a tool
/// restoring the time) still moves the status-change time, which no user can
/// set. Equal stamps mean unchanged content unless two writes fell within one
/// tick of the filesystem's clock: callers treat a stamp as proof only when
/// its times are older than a reference (see the test-discovery cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileStamp {
    pub size: u64,
    pub modified_ns: i64,
    pub changed_ns: i64,
    pub inode: u64,
    pub device: u64,
}
