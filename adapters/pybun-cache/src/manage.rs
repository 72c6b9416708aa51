//! Cache management: the default location, statistics, `clean`, `clean_package`, `prune`.
//!
//! `clean`, `clean_package` and `prune` take the exclusive lock on
//! `<cache>/.lock` and **refuse** (with [`CacheError::Busy`]) when another
//! PyBun process holds the cache, rather than wait for it: a `sync` can run
//! for minutes and a management command should say so at once.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use pybun_fs_os::FileLock;
use pybun_pep::{PackageName, SdistFilename, WheelFilename};

use crate::layout::{BY_NAME, BY_URL, HTTP_DIR, LOCK_FILE, Layout, OLD_WHEELS_DIR, SCRATCH_DIR, is_sha256_hex, is_temp};

/// Why a management operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Another PyBun process is using the cache.
    #[error(
        "the cache `{}` is in use by another pybun process (lock `{}`); try again when it has finished",
        dir.display(),
        lock.display()
    )]
    Busy { dir: PathBuf, lock: PathBuf },
    /// Not a valid package name.
    #[error("`{0}` is not a valid package name")]
    InvalidName(String),
    #[error("could not {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CacheError {
    let path = path.to_path_buf();
    move |source| CacheError::Io { action, path, source }
}

/// The environment's inputs to [`cache_dir_default`] (the frontend reads them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheDirEnv {
    /// `$XDG_CACHE_HOME`.
    pub xdg_cache_home: Option<PathBuf>,
    /// The user's home directory.
    pub home: Option<PathBuf>,
}

/// The cache directory when neither `--cache-dir` nor `PYBUN_CACHE_DIR` is
/// given: `$XDG_CACHE_HOME/pybun` (when set, non-empty and absolute, as the
/// XDG spec requires), else `~/.cache/pybun`; `None` without a home.
#[must_use]
pub fn cache_dir_default(env: &CacheDirEnv) -> Option<PathBuf> {
    if let Some(xdg) = env.xdg_cache_home.as_ref().filter(|p| p.is_absolute()) {
        return Some(xdg.join("pybun"));
    }
    env.home.as_ref().filter(|p| !p.as_os_str().is_empty()).map(|home| home.join(".cache").join("pybun"))
}

/// Files and bytes under one top-level directory of the cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SectionInfo {
    /// The directory name, e.g. `wheels-v2`.
    pub name: String,
    pub files: u64,
    pub bytes: u64,
}

/// What the cache holds (read without locking: a concurrent run may change it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheInfo {
    pub dir: PathBuf,
    /// Whether the directory exists at all.
    pub exists: bool,
    /// Unpacked wheels (`wheels-v2/<sha256>/`).
    pub wheels: u64,
    /// Source archive entries (`archives-v1/<sha256>/`).
    pub archives: u64,
    /// Every top-level directory, sorted by name (`.lock` excluded).
    pub sections: Vec<SectionInfo>,
    /// Files and bytes in all sections.
    pub files: u64,
    pub bytes: u64,
}

/// Size and counts of the cache at `cache_dir`.
///
/// # Errors
/// When the cache directory exists but cannot be listed.
pub fn cache_info(cache_dir: &Path) -> Result<CacheInfo, CacheError> {
    let mut info = CacheInfo { dir: cache_dir.to_path_buf(), ..CacheInfo::default() };
    if !cache_dir.is_dir() {
        return Ok(info);
    }
    info.exists = true;
    for entry in sorted_entries(cache_dir)? {
        let name = file_name(&entry);
        if name == LOCK_FILE {
            continue;
        }
        let mut tally = Tally::default();
        tally.add(&entry);
        info.files += tally.files;
        info.bytes += tally.bytes;
        info.sections.push(SectionInfo { name, files: tally.files, bytes: tally.bytes });
    }
    let count = |dir: PathBuf| -> u64 {
        let entries = fs::read_dir(dir).into_iter().flatten().flatten();
        entries.filter(|e| e.file_name().to_str().is_some_and(is_sha256_hex)).count() as u64
    };
    let layout = Layout::new(cache_dir);
    info.wheels = count(layout.wheels());
    info.archives = count(layout.archives());
    Ok(info)
}

/// What [`clean`] or [`clean_package`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanOutcome {
    pub removed_files: u64,
    pub removed_bytes: u64,
}

/// What [`prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneOutcome {
    pub removed_files: u64,
    pub removed_bytes: u64,
    /// Each removed entry (a file or a whole directory), in removal order.
    pub removed: Vec<PathBuf>,
}

/// Remove everything in the cache but the directory itself (and its lock file).
/// A missing cache is already clean.
///
/// # Errors
/// [`CacheError::Busy`] when another process uses the cache (nothing is
/// removed then), or an IO error.
pub fn clean(cache_dir: &Path) -> Result<CleanOutcome, CacheError> {
    if !cache_dir.is_dir() {
        return Ok(CleanOutcome::default());
    }
    let _lock = lock_exclusive(cache_dir)?;
    let mut tally = Tally::default();
    for entry in sorted_entries(cache_dir)? {
        if file_name(&entry) != LOCK_FILE {
            tally.remove(&entry)?;
        }
    }
    Ok(CleanOutcome { removed_files: tally.files, removed_bytes: tally.bytes })
}

/// Remove one project's entries: its unpacked wheels, its archives (wheels
/// and source archives), their index entries, and the index client's cached
/// project pages (`http-v1/simple*`) and metadata (`http-v1/metadata`).
///
/// Entries are found through `wheels-v2/by-name/<name>/` and by the names of
/// the archives in `archives-v1/`; HTTP entries by the URL in their header
/// (a page `…/<name>/`, a metadata entry for a file of the project).
///
/// # Errors
/// [`CacheError::InvalidName`], [`CacheError::Busy`], or an IO error.
pub fn clean_package(cache_dir: &Path, name: &str) -> Result<CleanOutcome, CacheError> {
    let name = PackageName::from_str(name).map_err(|_| CacheError::InvalidName(name.to_string()))?;
    if !cache_dir.is_dir() {
        return Ok(CleanOutcome::default());
    }
    let _lock = lock_exclusive(cache_dir)?;
    let layout = Layout::new(cache_dir);
    let mut tally = Tally::default();

    let mut hashes = BTreeSet::new();
    let by_name = layout.by_name(name.as_ref());
    for entry in entries_or_empty(&by_name)? {
        if let Some(hex) = entry.file_name().and_then(OsStr::to_str).filter(|h| is_sha256_hex(h)) {
            hashes.insert(hex.to_string());
        }
    }
    for dir in entries_or_empty(&layout.archives())? {
        let Some(hex) = dir.file_name().and_then(OsStr::to_str).filter(|h| is_sha256_hex(h)) else { continue };
        let belongs = entries_or_empty(&dir)?.iter().any(|file| is_file_of(&file_name(file), &name));
        if belongs {
            hashes.insert(hex.to_string());
        }
    }
    for hex in &hashes {
        tally.remove(&layout.unpacked(hex))?;
        tally.remove(&layout.archive_dir(hex))?;
    }
    tally.remove(&by_name)?;
    for entry in entries_or_empty(&layout.by_url_dir())? {
        let target = read_small(&entry);
        if target.as_deref().is_some_and(|t| hashes.contains(t.trim())) {
            tally.remove(&entry)?;
        }
    }

    let http = cache_dir.join(HTTP_DIR);
    for (bucket, is_ours) in [
        ("simple", page_is_of as fn(&str, &PackageName) -> bool),
        ("metadata", file_url_is_of as fn(&str, &PackageName) -> bool),
    ] {
        for shard in entries_or_empty(&http.join(bucket))? {
            for entry in entries_or_empty(&shard)? {
                if header_url(&entry).is_some_and(|url| is_ours(&url, &name)) {
                    tally.remove(&entry)?;
                    if bucket == "simple" {
                        // The parsed page has the same key.
                        let parsed = http.join("simple-parsed").join(file_name(&shard)).join(file_name(&entry));
                        tally.remove(&parsed)?;
                    }
                }
            }
        }
    }
    Ok(CleanOutcome { removed_files: tally.files, removed_bytes: tally.bytes })
}

/// Remove what interrupted runs left and what no longer makes sense, keeping
/// every valid entry:
///
/// * temporary files and directories (`.tmp*`) anywhere in `wheels-v2/`,
///   `archives-v1/`, `wheels-v2/by-*/` and `http-v1/`, and everything in `scratch-v1/`;
/// * the previous layout's `wheels-v1/`, and wheel archives in `archives-v1/`
///   (only source archives are kept there now), empty archive entries;
/// * index entries (`by-url`, `by-name`) pointing at nothing, or unreadable;
/// * anything else in `wheels-v2/` and `archives-v1/` that is not a valid
///   entry (a file where a directory belongs, a name that is not a sha256);
/// * unfinished install recipes (`wheels-v2/<h>/.pybun-installed/.tmp*` or
///   without their `recipe` file).
///
/// # Errors
/// [`CacheError::Busy`], or an IO error.
pub fn prune(cache_dir: &Path) -> Result<PruneOutcome, CacheError> {
    if !cache_dir.is_dir() {
        return Ok(PruneOutcome::default());
    }
    let _lock = lock_exclusive(cache_dir)?;
    let layout = Layout::new(cache_dir);
    let mut pruner = Pruner::default();

    // The previous layout's wheels (complete only with their archives, which go below).
    pruner.remove(&cache_dir.join(OLD_WHEELS_DIR))?;
    // Which unpacked wheels exist: an unpacked wheel is complete by itself.
    let mut unpacked = HashSet::new();
    for entry in entries_or_empty(&layout.wheels())? {
        let name = file_name(&entry);
        if is_sha256_hex(&name) && entry.is_dir() {
            unpacked.insert(name);
        }
    }
    let mut sources = HashSet::new();
    for dir in entries_or_empty(&layout.archives())? {
        let hex = file_name(&dir);
        if !is_sha256_hex(&hex) || !dir.is_dir() {
            pruner.remove(&dir)?;
            continue;
        }
        for file in entries_or_empty(&dir)? {
            let name = file_name(&file);
            // Wheel archives are the previous layout's: only source archives are kept.
            if is_temp(&name) || !file.is_file() || name.ends_with(".whl") {
                pruner.remove(&file)?;
            } else {
                sources.insert(hex.clone());
            }
        }
        if entries_or_empty(&dir)?.is_empty() {
            pruner.remove(&dir)?;
        }
    }
    for entry in entries_or_empty(&layout.wheels())? {
        let name = file_name(&entry);
        if name == BY_URL || name == BY_NAME {
            if !entry.is_dir() {
                pruner.remove(&entry)?;
            }
            continue;
        }
        if !(is_sha256_hex(&name) && entry.is_dir()) {
            pruner.remove(&entry)?;
            continue;
        }
        // Install recipes an interrupted install left unfinished (no `recipe` file yet).
        for recipe in entries_or_empty(&entry.join(pybun_fs_os::RECIPES_DIR))? {
            if is_temp(&file_name(&recipe)) || !recipe.join("recipe").is_file() {
                pruner.remove(&recipe)?;
            }
        }
    }
    // Only complete wheels remain now.
    let kept_wheel = |hex: &str| unpacked.contains(hex);
    for entry in entries_or_empty(&layout.by_url_dir())? {
        let target = read_small(&entry).map(|t| t.trim().to_string());
        let valid = is_sha256_hex(&file_name(&entry)) && target.is_some_and(|t| kept_wheel(&t));
        if !valid {
            pruner.remove(&entry)?;
        }
    }
    for dir in entries_or_empty(&layout.by_name_dir())? {
        let valid_name = PackageName::from_str(&file_name(&dir)).is_ok_and(|n| n.as_ref() == file_name(&dir));
        if !valid_name || !dir.is_dir() {
            pruner.remove(&dir)?;
            continue;
        }
        for entry in entries_or_empty(&dir)? {
            let hex = file_name(&entry);
            if !(kept_wheel(&hex) || sources.contains(&hex)) || !entry.is_file() {
                pruner.remove(&entry)?;
            }
        }
        if entries_or_empty(&dir)?.is_empty() {
            pruner.remove(&dir)?;
        }
    }
    // The index client writes its entries through temporary files too.
    let http = cache_dir.join(HTTP_DIR);
    for bucket in entries_or_empty(&http)? {
        for shard in entries_or_empty(&bucket)? {
            if is_temp(&file_name(&shard)) {
                pruner.remove(&shard)?;
                continue;
            }
            for entry in entries_or_empty(&shard)? {
                if is_temp(&file_name(&entry)) {
                    pruner.remove(&entry)?;
                }
            }
        }
    }
    for entry in entries_or_empty(&cache_dir.join(SCRATCH_DIR))? {
        pruner.remove(&entry)?;
    }
    Ok(PruneOutcome { removed_files: pruner.tally.files, removed_bytes: pruner.tally.bytes, removed: pruner.removed })
}

#[derive(Default)]
struct Pruner {
    tally: Tally,
    removed: Vec<PathBuf>,
}

impl Pruner {
    fn remove(&mut self, path: &Path) -> Result<(), CacheError> {
        if self.tally.remove(path)? {
            self.removed.push(path.to_path_buf());
        }
        Ok(())
    }
}

fn lock_exclusive(cache_dir: &Path) -> Result<FileLock, CacheError> {
    let path = Layout::new(cache_dir).lock_file();
    match FileLock::try_acquire(&path) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(CacheError::Busy { dir: cache_dir.to_path_buf(), lock: path }),
        Err(e) => Err(io_error("lock", &path)(e)),
    }
}

/// Files and bytes counted while removing.
#[derive(Debug, Default)]
struct Tally {
    files: u64,
    bytes: u64,
}

impl Tally {
    /// Count the files under `path` (not following symlinks).
    fn add(&mut self, path: &Path) {
        let Ok(metadata) = fs::symlink_metadata(path) else { return };
        if metadata.is_dir() {
            for entry in fs::read_dir(path).into_iter().flatten().flatten() {
                self.add(&entry.path());
            }
        } else {
            self.files += 1;
            self.bytes += metadata.len();
        }
    }

    /// Remove a file or a whole directory, counting what it held; `false` when it was not there.
    fn remove(&mut self, path: &Path) -> Result<bool, CacheError> {
        let metadata = match fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_error("read", path)(e)),
        };
        self.add(path);
        let result = if metadata.is_dir() { remove_dir_all_writable(path) } else { fs::remove_file(path) };
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(io_error("remove", path)(e)),
        }
    }
}

/// `remove_dir_all`, first making read-only directories writable (an
/// interrupted unpack or a build may leave some).
fn remove_dir_all_writable(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            make_writable(path);
            fs::remove_dir_all(path)
        }
        other => other,
    }
}

fn make_writable(path: &Path) {
    let Ok(metadata) = fs::symlink_metadata(path) else { return };
    if metadata.is_dir() {
        let mut permissions = metadata.permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        let _ = fs::set_permissions(path, permissions);
        for entry in fs::read_dir(path).into_iter().flatten().flatten() {
            make_writable(&entry.path());
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, CacheError> {
    let mut entries = fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect::<io::Result<Vec<_>>>())
        .map_err(io_error("list", dir))?;
    entries.sort();
    Ok(entries)
}

/// The entries of a directory; none when it does not exist or is not a directory.
fn entries_or_empty(dir: &Path) -> Result<Vec<PathBuf>, CacheError> {
    match fs::symlink_metadata(dir) {
        Ok(metadata) if metadata.is_dir() => sorted_entries(dir),
        Ok(_) => Ok(Vec::new()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error("read", dir)(e)),
    }
}

/// A small index file's text (`None` when unreadable or large).
fn read_small(path: &Path) -> Option<String> {
    let mut text = String::new();
    fs::File::open(path).ok()?.take(4096).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Whether `filename` is a distribution file (wheel or sdist) of `name`.
fn is_file_of(filename: &str, name: &PackageName) -> bool {
    if filename.ends_with(".whl") {
        WheelFilename::from_str(filename).is_ok_and(|w| &w.name == name)
    } else {
        SdistFilename::parse(filename, name).is_ok()
    }
}

/// The `url` in an HTTP cache entry's one-line JSON header.
fn header_url(entry: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Header {
        url: String,
    }
    let file = fs::File::open(entry).ok()?;
    let mut line = Vec::new();
    BufReader::new(file).take(64 * 1024).read_until(b'\n', &mut line).ok()?;
    serde_json::from_slice::<Header>(&line).ok().map(|h| h.url)
}

/// Whether a project page URL (`{index}/{name}/`) is `name`'s.
fn page_is_of(url: &str, name: &PackageName) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
    path.rsplit('/').next().and_then(|segment| PackageName::from_str(segment).ok()).is_some_and(|n| &n == name)
}

/// Whether a distribution file URL names one of `name`'s files.
fn file_url_is_of(url: &str, name: &PackageName) -> bool {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let decoded = url::form_urlencoded::parse(last.as_bytes()).next().map(|(k, _)| k.into_owned());
    let filename = decoded.unwrap_or_else(|| last.to_string());
    is_file_of(filename.strip_suffix(".metadata").unwrap_or(&filename), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cache_dir() {
        let env = |xdg: Option<&str>, home: Option<&str>| CacheDirEnv {
            xdg_cache_home: xdg.map(PathBuf::from),
            home: home.map(PathBuf::from),
        };
        assert_eq!(cache_dir_default(&env(Some("/x/cache"), Some("/home/u"))), Some(PathBuf::from("/x/cache/pybun")));
        assert_eq!(
            cache_dir_default(&env(Some("relative"), Some("/home/u"))),
            Some(PathBuf::from("/home/u/.cache/pybun"))
        );
        assert_eq!(cache_dir_default(&env(Some(""), Some("/home/u"))), Some(PathBuf::from("/home/u/.cache/pybun")));
        assert_eq!(cache_dir_default(&env(None, None)), None);
        assert_eq!(cache_dir_default(&env(None, Some(""))), None);
    }

    #[test]
    fn urls_of_a_project() {
        let demo = PackageName::from_str("demo-pkg").unwrap();
        assert!(page_is_of("https://pypi.org/simple/demo-pkg/", &demo));
        assert!(page_is_of("https://pypi.org/simple/Demo_Pkg/", &demo));
        assert!(!page_is_of("https://pypi.org/simple/demo/", &demo));
        assert!(file_url_is_of("https://x/files/demo_pkg-1.0-py3-none-any.whl", &demo));
        assert!(file_url_is_of("https://x/files/demo_pkg-1.0-py3-none-any.whl.metadata", &demo));
        assert!(file_url_is_of("https://x/files/demo-pkg-1.0.tar.gz#sha256=00", &demo));
        assert!(!file_url_is_of("https://x/files/demo-1.0.tar.gz", &demo));
        assert!(!file_url_is_of("https://x/files/other-1.0-py3-none-any.whl", &demo));
    }
}
