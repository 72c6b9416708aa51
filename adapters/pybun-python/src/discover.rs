//! Which executables to inspect, in which order.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::FinderConfig;

/// The executables to inspect, in discovery order:
/// 1. `<managed_dir>/<name>/bin/python3`, newest-looking name first;
/// 2. every directory on `PATH`, in order: `python3`, `python3.N` (highest N
///    first), `python` — directories named `shims` (pyenv, asdf) and pyenv
///    shim scripts are skipped, they are not interpreters;
/// 3. the same names in `/usr/bin`;
/// 4. `<home>/.pyenv/versions/<version>/bin/python3`, newest first.
///
/// The same file reached twice (e.g. `/bin` → `/usr/bin`) is listed once.
pub(crate) fn candidates(config: &FinderConfig) -> Vec<PathBuf> {
    let mut list = Vec::new();
    if let Some(managed) = &config.managed_dir {
        for dir in sorted_dirs_newest_first(managed) {
            if cfg!(windows) {
                list.push(dir.join("python.exe"));
            } else {
                list.push(dir.join("bin").join("python3"));
            }
        }
    }
    if let Some(search_path) = &config.search_path {
        for dir in std::env::split_paths(search_path) {
            if dir.as_os_str().is_empty() || is_shim_dir(&dir) {
                continue;
            }
            list.extend(pythons_in(&dir));
        }
    }
    if cfg!(unix) {
        list.extend(pythons_in(Path::new("/usr/bin")));
    }
    if let Some(home) = &config.home {
        for dir in sorted_dirs_newest_first(&home.join(".pyenv").join("versions")) {
            list.push(dir.join("bin").join(if cfg!(windows) { "python.exe" } else { "python3" }));
        }
    }

    let mut seen = HashSet::new();
    list.into_iter()
        .filter(|path| is_executable_file(path) && !is_pyenv_shim(path))
        .filter(|path| seen.insert(identity(path)))
        .collect()
}

/// The same file through a symlinked directory is the same candidate; the
/// file name's own symlink is kept (a venv's `python` differs from its base).
fn identity(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf()).join(name),
        _ => path.to_path_buf(),
    }
}

/// `python3`, `python3.N` (highest N first), `python` in `dir`.
fn pythons_in(dir: &Path) -> Vec<PathBuf> {
    let mut versioned: Vec<(u64, PathBuf)> = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let name = name.strip_suffix(".exe").unwrap_or(name);
            if let Some(minor) = name.strip_prefix("python3.")
                && !minor.is_empty()
                && minor.bytes().all(|b| b.is_ascii_digit())
                && let Ok(minor) = minor.parse()
            {
                versioned.push((minor, entry.path()));
            }
        }
    }
    versioned.sort_by_key(|(minor, _)| std::cmp::Reverse(*minor));
    let exe = if cfg!(windows) { ".exe" } else { "" };
    let mut list = vec![dir.join(format!("python3{exe}"))];
    list.extend(versioned.into_iter().map(|(_, path)| path));
    list.push(dir.join(format!("python{exe}")));
    list
}

fn is_shim_dir(dir: &Path) -> bool {
    dir.file_name().is_some_and(|name| name == "shims")
}

/// Whether `path` is a version-manager shim (a script that re-dispatches to
/// `pyenv exec` / `asdf exec`) rather than an interpreter.
#[must_use]
pub fn is_pyenv_shim(path: &Path) -> bool {
    if path.parent().is_some_and(is_shim_dir) {
        return true;
    }
    let Ok(file) = fs::File::open(path) else { return false };
    let mut head = Vec::with_capacity(1024);
    if file.take(1024).read_to_end(&mut head).is_err() || !head.starts_with(b"#!") {
        return false;
    }
    let contains = |needle: &[u8]| head.windows(needle.len()).any(|window| window == needle);
    contains(b"pyenv\" exec") || contains(b"pyenv exec") || contains(b"asdf exec") || contains(b"PYENV_ROOT")
}

fn is_executable_file(path: &Path) -> bool {
    let Ok(metadata) = fs::metadata(path) else { return false };
    if !metadata.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// Subdirectories of `dir`, the highest version-looking name first
/// (`3.13.0` before `3.9.18`: digit runs compare as numbers).
fn sorted_dirs_newest_first(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).filter(|path| path.is_dir()).collect();
    dirs.sort_by_cached_key(|path| std::cmp::Reverse(natural_key(&path.file_name().unwrap_or_default().to_string_lossy())));
    dirs
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Chunk {
    Number(u64),
    Text(String),
}

fn natural_key(name: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut rest = name;
    while let Some(first) = rest.chars().next() {
        let digit = first.is_ascii_digit();
        let end = rest.find(|c: char| c.is_ascii_digit() != digit).unwrap_or(rest.len());
        let (chunk, tail) = rest.split_at(end);
        chunks.push(if digit { Chunk::Number(chunk.parse().unwrap_or(u64::MAX)) } else { Chunk::Text(chunk.to_string()) });
        rest = tail;
    }
    chunks
}

/// `f` over `items` on a few threads, results in the items' order.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = thread::available_parallelism().map_or(4, |n| n.get()).clamp(2, 8).min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    let result = f(item);
                    if let Ok(mut results) = results.lock() {
                        results[index] = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|result| result.unwrap_or_else(|| unreachable!("every index is visited once")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut names = vec!["3.9.18", "3.13.0", "2.7.18", "3.10.13", "pypy3.10-7.3.12"];
        names.sort_by_key(|name| std::cmp::Reverse(natural_key(name)));
        assert_eq!(names, ["pypy3.10-7.3.12", "3.13.0", "3.10.13", "3.9.18", "2.7.18"]);
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u32> = (0..50).collect();
        assert_eq!(parallel_map(&items, |x| x * 2), items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(parallel_map(&[] as &[u32], |x| *x), Vec::<u32>::new());
    }
}
