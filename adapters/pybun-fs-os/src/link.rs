//! Placing a file from the cache into an environment: reflink, hardlink, copy or symlink.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// How a file is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkMode {
    /// A copy-on-write clone (`FICLONE` on Linux: btrfs, XFS, bcachefs): a
    /// copy that costs no space until written.
    Clone,
    /// A hard link: no copy at all, but the cache and the environment share
    /// the inode, so editing an installed file edits the cached one.
    Hardlink,
    /// A plain copy: works everywhere.
    Copy,
    /// A symbolic link to the cache (never chosen by [`detect_link_mode`]).
    Symlink,
}

/// Remove `path` if it is a file or symlink; absent is fine.
fn remove_existing(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Place `src` at `dst` with `mode`, replacing a file already at `dst` (never
/// writing through it: a hard-linked `dst` would change the cache). The
/// parent of `dst` must exist. Permissions follow `src`.
///
/// # Errors
/// The OS error, e.g. `EXDEV` for a hard link across filesystems or
/// `EOPNOTSUPP` for a clone where the filesystem cannot; nothing is left at
/// `dst` then.
pub fn link_file(src: &Path, dst: &Path, mode: LinkMode) -> io::Result<()> {
    let place = || match mode {
        LinkMode::Clone => reflink(src, dst),
        LinkMode::Hardlink => fs::hard_link(src, dst),
        // A copy writes through an existing file: always remove first.
        LinkMode::Copy => remove_existing(dst).and_then(|()| fs::copy(src, dst).map(|_| ())),
        LinkMode::Symlink => symlink(&std::path::absolute(src)?, dst),
    };
    // The common case (a fresh environment) has nothing at `dst`: try first,
    // and only on `AlreadyExists` remove the old file and try again.
    match place() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            remove_existing(dst)?;
            place()
        }
        other => other,
    }
}

/// Hard links from one directory tree into others, by directory handles:
/// `linkat(source root, relative path, destination directory, name)` walks
/// a few path components instead of two absolute paths per file (installs
/// link thousands of files). Same result and errors as [`link_file`] with
/// [`LinkMode::Hardlink`].
#[cfg(target_os = "linux")]
pub(crate) struct DirLinker {
    source_root: std::os::fd::OwnedFd,
    /// The source directory of the previous file (relative to the root), open.
    source: Option<(String, std::os::fd::OwnedFd)>,
    /// The destination directory of the previous file, open.
    destination: Option<(std::path::PathBuf, std::os::fd::OwnedFd)>,
}

#[cfg(target_os = "linux")]
impl DirLinker {
    /// A linker for hard links out of `source_root`; `None` for other modes
    /// (or when the directory cannot be opened: [`link_file`] then reports).
    pub(crate) fn new(source_root: &Path, mode: LinkMode) -> Option<Self> {
        if mode != LinkMode::Hardlink {
            return None;
        }
        let source_root = open_dir(source_root).ok()?;
        Some(Self { source_root, source: None, destination: None })
    }

    /// Hard-link `source_root/relative` to `dst`, replacing a file there.
    pub(crate) fn link(&mut self, relative: &str, dst: &Path) -> io::Result<()> {
        let (Some(parent), Some(name)) = (dst.parent(), dst.file_name()) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no file name"));
        };
        // Compared as bytes: `Path` equality goes component by component.
        let reuse = self
            .destination
            .as_ref()
            .is_some_and(|(open, _)| open.as_os_str().as_encoded_bytes() == parent.as_os_str().as_encoded_bytes());
        if !reuse {
            self.destination = Some((parent.to_path_buf(), open_dir(parent)?));
        }
        let Some((_, directory)) = &self.destination else { unreachable!("just opened") };
        // The source by its directory too (consecutive files share it): the
        // kernel then looks up one name on each side, not a path.
        let (source_dir, source_name) = match relative.rsplit_once('/') {
            Some((dir, file)) => {
                if self.source.as_ref().is_none_or(|(open, _)| open != dir) {
                    let fd = rustix::fs::openat(
                        &self.source_root,
                        dir,
                        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
                        rustix::fs::Mode::empty(),
                    )?;
                    self.source = Some((dir.to_string(), fd));
                }
                let Some((_, fd)) = &self.source else { unreachable!("just opened") };
                (fd, file)
            }
            None => (&self.source_root, relative),
        };
        let link = || rustix::fs::linkat(source_dir, source_name, directory, name, rustix::fs::AtFlags::empty());
        match link() {
            Err(rustix::io::Errno::EXIST) => {
                match rustix::fs::unlinkat(directory, name, rustix::fs::AtFlags::empty()) {
                    Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                    Err(e) => return Err(e.into()),
                }
                link().map_err(Into::into)
            }
            other => other.map_err(Into::into),
        }
    }
}

#[cfg(target_os = "linux")]
fn open_dir(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    Ok(rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

/// Elsewhere: no handles, [`link_file`] is used.
#[cfg(not(target_os = "linux"))]
pub(crate) struct DirLinker;

#[cfg(not(target_os = "linux"))]
impl DirLinker {
    pub(crate) fn new(_source_root: &Path, _mode: LinkMode) -> Option<Self> {
        None
    }

    pub(crate) fn link(&mut self, _relative: &str, _dst: &Path) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "no directory handles here"))
    }
}

#[cfg(target_os = "linux")]
fn reflink(src: &Path, dst: &Path) -> io::Result<()> {
    let from = fs::File::open(src)?;
    let to = fs::OpenOptions::new().write(true).create_new(true).open(dst)?;
    let cloned = rustix::fs::ioctl_ficlone(&to, &from)
        .map_err(io::Error::from)
        .and_then(|()| to.set_permissions(from.metadata()?.permissions()));
    if let Err(e) = cloned {
        drop(to);
        let _ = fs::remove_file(dst);
        return Err(e);
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn reflink(_src: &Path, _dst: &Path) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "PyBun clones files on Linux only"))
}

#[cfg(unix)]
fn symlink(src: &Path, dst: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(src, dst)
}

#[cfg(windows)]
fn symlink(src: &Path, dst: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_file(src, dst)
}

#[cfg(unix)]
fn device(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt as _;
    fs::metadata(path).ok().map(|m| m.dev())
}

#[cfg(not(unix))]
fn device(_path: &Path) -> Option<u64> {
    None
}

/// The best mode for placing files of `from_dir` into `to_dir`: a clone if
/// the filesystem can, else a hard link, else a copy. Probed with a small
/// file (created in `from_dir`, linked into `to_dir`, both removed) once per
/// pair of filesystems (device ids) per process. Both directories must exist;
/// when probing fails, [`LinkMode::Copy`].
#[must_use]
pub fn detect_link_mode(from_dir: &Path, to_dir: &Path) -> LinkMode {
    static DETECTED: OnceLock<Mutex<HashMap<(u64, u64), LinkMode>>> = OnceLock::new();
    let key = device(from_dir).zip(device(to_dir));
    let cache = DETECTED.get_or_init(Mutex::default);
    if let Some(key) = key
        && let Some(mode) = cache.lock().unwrap_or_else(PoisonError::into_inner).get(&key)
    {
        return *mode;
    }
    let mode = probe(from_dir, to_dir);
    if let Some(key) = key {
        cache.lock().unwrap_or_else(PoisonError::into_inner).insert(key, mode);
    }
    mode
}

fn probe(from_dir: &Path, to_dir: &Path) -> LinkMode {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let Ok(mut source) = tempfile::Builder::new().prefix(".pybun-link-probe-").tempfile_in(from_dir) else {
        return LinkMode::Copy;
    };
    if source.write_all(b"pybun link probe\n").and_then(|()| source.flush()).is_err() {
        return LinkMode::Copy;
    }
    let target = to_dir.join(format!(
        ".pybun-link-probe-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    for mode in [LinkMode::Clone, LinkMode::Hardlink] {
        if link_file(source.path(), &target, mode).is_ok() {
            let _ = fs::remove_file(&target);
            return mode;
        }
    }
    LinkMode::Copy
}
