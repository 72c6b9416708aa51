//! `FileSystem` port over the operating system: atomic writes, file locks.
//!
//! * [`OsFs`] implements [`pybun_ports::FileSystem`]. Writes go to a temporary
//!   file in the destination's directory, then are renamed over the
//!   destination, so readers (in this process or another) see the old content
//!   or the new one, never a half-written file. A file replacing another is
//!   flushed to disk before the rename (a crash must not turn good content
//!   into an empty file); a new file is not.
//! * [`FileLock`] is an advisory, exclusive, whole-file lock for sharing a
//!   directory (a cache) between several PyBun processes.
//! * Wheels: [`unpack_wheel`] extracts and verifies a wheel into a cache
//!   directory atomically; [`plan_unpacked`] + [`install_planned`] place it
//!   into an environment with a [`LinkMode`] ([`detect_link_mode`]), writing
//!   launchers, `INSTALLER` and the new `RECORD`, the `.dist-info` last.
//!   The decisions are `pybun-install`'s (core); this crate does the IO.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use pybun_ports::FileSystem;

mod link;
mod member;
mod wheel;
mod wheel_stream;

pub use link::{LinkMode, detect_link_mode, link_file};
pub use wheel::{
    InstallOptions, Installed, MANIFEST, RECIPES_DIR, RecipeInstalled, Unpacked, WheelInstallError, install_from_recipe,
    install_planned, install_wheel, plan_unpacked, unpack_wheel, unpack_wheel_bytes,
};
pub use wheel_stream::{ArchiveStream, HAND_OVER_AT_LEAST, StreamedWheel};

/// The operating system's filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

impl FileSystem for OsFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn write_atomic(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        write_atomic(path, contents)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        match fs::remove_dir_all(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut entries = fs::read_dir(path)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()?;
        entries.sort();
        Ok(entries)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<(String, bool)>> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            // The listing's own type (`d_type`): no `stat` but for symlinks
            // (followed, as `is_dir` does) and filesystems that give none.
            let is_dir = match entry.file_type() {
                Ok(kind) if !kind.is_symlink() => kind.is_dir(),
                _ => entry.path().is_dir(),
            };
            entries.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
        }
        entries.sort();
        Ok(entries)
    }

    #[cfg(unix)]
    fn stamp(&self, path: &Path) -> Option<pybun_ports::FileStamp> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = fs::metadata(path).ok()?;
        let nanos = |seconds: i64, nanos: i64| seconds.saturating_mul(1_000_000_000).saturating_add(nanos);
        Some(pybun_ports::FileStamp {
            size: meta.size(),
            modified_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            changed_ns: nanos(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
            device: meta.dev(),
        })
    }
}

/// Replace `path`'s content atomically: temporary file in the same directory,
/// renamed over `path`. Parent directories are created.
///
/// When `path` exists, the temporary file is flushed to disk (`fsync`) before
/// the rename, so a crash leaves the old content or the new one. A new file
/// is renamed into place without the flush: there is no old content to lose,
/// and the flush waited for the disk (1-26 ms measured with other IO going
/// on) on the critical path of, e.g., every fresh-venv sync's stamp file.
///
/// # Errors
/// The OS error; the old file is then untouched.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(contents)?;
    // A new file: renamed into place only if still nothing is there.
    let temp = match temp.persist_noclobber(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => e.file,
        Err(e) => return Err(e.error),
    };
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// An advisory exclusive lock on a file, released when dropped.
///
/// The lock file is created if missing (with its parent directories) and is
/// left in place afterwards. Locks are advisory: they only exclude other
/// `FileLock` holders (in this or another process), not plain readers.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Wait until the lock on `path` is ours.
    ///
    /// # Errors
    /// When the lock file cannot be created or locked.
    pub fn acquire(path: impl AsRef<Path>) -> io::Result<Self> {
        let (file, path) = open_lock_file(path.as_ref())?;
        file.lock()?;
        Ok(Self { file, path })
    }

    /// Take the lock if nobody holds it; `Ok(None)` when it is held elsewhere.
    ///
    /// # Errors
    /// When the lock file cannot be created or locked for another reason.
    pub fn try_acquire(path: impl AsRef<Path>) -> io::Result<Option<Self>> {
        let (file, path) = open_lock_file(path.as_ref())?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { file, path })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// The locked file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes it prompt.
        let _ = self.file.unlock();
    }
}

fn open_lock_file(path: &Path) -> io::Result<(File, PathBuf)> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    Ok((file, path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn atomic_write_creates_parents_and_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/file.txt");
        OsFs.write_atomic(&path, b"old").unwrap();
        assert_eq!(OsFs.read(&path).unwrap(), b"old");
        OsFs.write_atomic(&path, b"new content").unwrap();
        assert_eq!(OsFs.read_to_string(&path).unwrap(), "new content");
        // No temporary files are left beside it.
        assert_eq!(OsFs.read_dir(&dir.path().join("a/b")).unwrap(), vec![path.clone()]);
        assert!(OsFs.exists(&path));
    }

    #[test]
    fn read_dir_is_sorted_and_remove_ignores_missing() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["c", "a", "b"] {
            OsFs.write_atomic(&dir.path().join(name), name.as_bytes()).unwrap();
        }
        let names: Vec<_> = OsFs
            .read_dir(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        OsFs.remove_file(&dir.path().join("a")).unwrap();
        OsFs.remove_file(&dir.path().join("a")).unwrap();
        assert!(!OsFs.exists(&dir.path().join("a")));
        assert_eq!(OsFs.read(&dir.path().join("a")).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn lock_excludes_a_second_locker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/cache.lock");
        let held = FileLock::acquire(&path).unwrap();
        assert_eq!(held.path(), path);

        let other = path.clone();
        let attempt = thread::spawn(move || FileLock::try_acquire(&other).unwrap().is_some());
        assert!(!attempt.join().unwrap(), "a second locker must not get a held lock");

        // A blocking acquirer gets it once the first is dropped.
        let (tx, rx) = mpsc::channel();
        let other = path.clone();
        let waiter = thread::spawn(move || {
            let lock = FileLock::acquire(&other).unwrap();
            tx.send(()).unwrap();
            drop(lock);
        });
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "acquire must wait");
        drop(held);
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        waiter.join().unwrap();
        assert!(FileLock::try_acquire(&path).unwrap().is_some());
    }
}
