//! Installed distributions: listing, uninstalling, stale staging cleanup.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use pybun_pep::{PackageName, Version};
use pybun_ports::{EnvironmentError, InstalledDist, Venv};

use crate::create::normalize;
use crate::io_error;

/// Prefix of a `.dist-info` directory renamed away by an uninstall in progress.
const UNINSTALL_PREFIX: &str = ".pybun-uninstall-";

/// Staging directories older than this are left-overs of a killed process.
const STALE_AFTER: Duration = Duration::from_secs(60 * 60);

/// `(normalized name, version)` of a `{name}-{version}.dist-info` directory
/// name: the first `-` after which a PEP 440 version follows.
pub(crate) fn parse_dist_info_name(dir_name: &str) -> Option<(String, String)> {
    let stem = dir_name.strip_suffix(".dist-info")?;
    stem.match_indices('-').find_map(|(at, _)| {
        let (name, version) = (&stem[..at], &stem[at + 1..]);
        if name.is_empty() || Version::from_str(version).is_err() {
            return None;
        }
        let name = PackageName::from_str(name).ok()?;
        Some((name.to_string(), version.to_string()))
    })
}

pub(crate) fn installed(venv: &Venv) -> Result<Vec<InstalledDist>, EnvironmentError> {
    let site = &venv.site_packages;
    let entries = match fs::read_dir(site) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("read directory", site)(e)),
    };
    let mut dists = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error("read directory", site))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else { continue };
        // Hidden: staging directories of installs and uninstalls.
        if name.starts_with('.') || !name.ends_with(".dist-info") {
            continue;
        }
        let path = entry.path();
        // `file_type` comes with the listing on Linux; follow a symlink only if there is one.
        let file_type = entry.file_type().map_err(io_error("read", &path))?;
        if !(file_type.is_dir() || (file_type.is_symlink() && path.is_dir())) {
            continue;
        }
        if let Some((name, version)) = parse_dist_info_name(name) {
            dists.push(InstalledDist { name, version, dist_info: path });
        }
    }
    dists.sort();
    Ok(dists)
}

/// Remove hidden staging directories in site-packages left by killed
/// installs (`.{dist-info}-XXXXXX`) or uninstalls (`.pybun-uninstall-*`)
/// that are older than an hour. Best effort: errors are ignored. Files an
/// interrupted uninstall had not removed yet stay (they may belong to a
/// distribution installed since).
pub(crate) fn remove_stale_staging(site_packages: &Path) {
    let Ok(entries) = fs::read_dir(site_packages) else { return };
    let now = SystemTime::now();
    for entry in entries.filter_map(Result::ok) {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else { continue };
        let staging = name.starts_with(UNINSTALL_PREFIX) || (name.starts_with('.') && name.contains(".dist-info-"));
        if !staging || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old {
            tracing::debug!(path = %entry.path().display(), "removing a stale staging directory");
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The first field of each CSV row of a `RECORD` (the path), leniently:
/// rows need not have three fields and hashes are not checked.
pub(crate) fn record_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let path = if let Some(rest) = line.strip_prefix('"') {
            let mut path = String::new();
            let mut chars = rest.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        path.push('"');
                    } else {
                        break;
                    }
                } else {
                    path.push(c);
                }
            }
            path
        } else {
            line.split(',').next().unwrap_or_default().to_string()
        };
        if !path.trim().is_empty() {
            paths.push(path);
        }
    }
    paths
}

/// Whether a `__pycache__` entry is a compiled form of the module `stem`:
/// `{stem}.{tag}.pyc` or `{stem}.{tag}.opt-N.pyc`.
fn is_pyc_of(entry: &str, stem: &str) -> bool {
    let Some(rest) = entry.strip_prefix(stem).and_then(|r| r.strip_prefix('.')) else { return false };
    let Some(middle) = rest.strip_suffix(".pyc") else { return false };
    let parts: Vec<&str> = middle.split('.').collect();
    match parts.as_slice() {
        [tag] => !tag.is_empty(),
        [tag, opt] => !tag.is_empty() && opt.starts_with("opt-"),
        _ => false,
    }
}

fn remove_file_if_present(path: &Path) -> Result<bool, EnvironmentError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error("remove", path)(e)),
    }
}

pub(crate) fn uninstall(venv: &Venv, dist: &InstalledDist) -> Result<(), EnvironmentError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let root = normalize(&venv.root);
    let dist_info = normalize(&dist.dist_info);
    let parent = dist_info.parent().unwrap_or(&venv.site_packages).to_path_buf();
    let dir_name = dist_info.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let hidden = parent.join(format!(
        "{UNINSTALL_PREFIX}{dir_name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    // First: the distribution stops looking installed.
    match fs::rename(&dist_info, &hidden) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("rename away", &dist_info)(e)),
    }
    let record_path = hidden.join("RECORD");
    let record = match fs::read_to_string(&record_path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io_error("read", &record_path)(e)),
    };

    let site = normalize(&venv.site_packages);
    let mut touched_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut pycache_listings: HashMap<PathBuf, Vec<OsString>> = HashMap::new();
    for entry in record_paths(&record) {
        let path = normalize(&site.join(&entry));
        if !path.starts_with(&root) || path == root {
            tracing::warn!(path = %entry, dist = %dist.name, "RECORD names a path outside the environment; not removing it");
            continue;
        }
        if path.starts_with(&dist_info) {
            continue; // In the renamed directory, removed below.
        }
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => {
                remove_file_if_present(&path)?;
            }
            Err(_) => {}
        }
        let Some(dir) = path.parent() else { continue };
        touched_dirs.insert(dir.to_path_buf());
        if path.extension().is_some_and(|ext| ext == "py")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            let pycache = dir.join("__pycache__");
            let listing = pycache_listings.entry(pycache.clone()).or_insert_with(|| {
                fs::read_dir(&pycache)
                    .map(|entries| entries.filter_map(Result::ok).map(|e| e.file_name()).collect())
                    .unwrap_or_default()
            });
            for name in listing.iter() {
                if name.to_str().is_some_and(|name| is_pyc_of(name, stem)) {
                    remove_file_if_present(&pycache.join(name))?;
                }
            }
            if !listing.is_empty() {
                touched_dirs.insert(pycache);
            }
        }
    }
    fs::remove_dir_all(&hidden).map_err(io_error("remove", &hidden))?;
    remove_empty_dirs(touched_dirs, &root, &site, venv);
    Ok(())
}

/// Remove the directories left empty, deepest first, and their parents up
/// to (not including) site-packages, `bin`, `include` and the venv root.
fn remove_empty_dirs(dirs: BTreeSet<PathBuf>, root: &Path, site: &Path, venv: &Venv) {
    let mut keep: HashSet<PathBuf> = site.ancestors().map(Path::to_path_buf).collect();
    keep.insert(normalize(&venv.scripts));
    keep.insert(root.join("include"));
    keep.insert(root.join("include").join("site"));
    let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
    dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
    for dir in dirs {
        let mut current = dir.as_path();
        while current.starts_with(root) && current != root && !keep.contains(current) {
            if fs::remove_dir(current).is_err() {
                break;
            }
            let Some(parent) = current.parent() else { break };
            current = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_info_names_parse() {
        assert_eq!(parse_dist_info_name("Foo_Bar-1.0.dist-info"), Some(("foo-bar".into(), "1.0".into())));
        assert_eq!(parse_dist_info_name("demo-2.0rc1.dist-info"), Some(("demo".into(), "2.0rc1".into())));
        assert_eq!(parse_dist_info_name("demo.dist-info"), None);
        assert_eq!(parse_dist_info_name("demo-1.0.egg-info"), None);
        assert_eq!(parse_dist_info_name("-1.0.dist-info"), None);
    }

    #[test]
    fn record_paths_are_read_leniently() {
        let text = "demo/__init__.py,sha256=abc,12\n\"odd,name.py\",,\n\"q\"\"uote.py\",sha256=x,1\n../../../bin/hello,,\n\ndemo-1.0.dist-info/RECORD,,\r\n";
        assert_eq!(
            record_paths(text),
            ["demo/__init__.py", "odd,name.py", "q\"uote.py", "../../../bin/hello", "demo-1.0.dist-info/RECORD"]
        );
    }

    #[test]
    fn pyc_names_match_their_module_only() {
        assert!(is_pyc_of("mod.cpython-312.pyc", "mod"));
        assert!(is_pyc_of("mod.cpython-312.opt-1.pyc", "mod"));
        assert!(!is_pyc_of("mod2.cpython-312.pyc", "mod"));
        assert!(!is_pyc_of("mod.sub.cpython-312.pyc", "mod"));
        assert!(!is_pyc_of("mod.py", "mod"));
    }
}
