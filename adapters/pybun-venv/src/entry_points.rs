//! The `entry_points.txt` of an environment's distributions, found as
//! `importlib.metadata` finds them (what pytest's plugin autoloading reads):
//! one listing of each site-packages directory, of the directories its
//! `.pth` files add to `sys.path`, and a read of each small file.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pybun_pep::PackageName;
use pybun_ports::{EntryPointsFile, EnvironmentError};

use crate::dists::parse_dist_info_name;
use crate::io_error;

/// `entry_points.txt` files larger than this are not read (real ones are a
/// few kilobytes; pytest reads every one at start-up).
const MAX_ENTRY_POINTS_BYTES: u64 = 1 << 20;

pub(crate) fn entry_point_files(root: &Path) -> Result<Vec<EntryPointsFile>, EnvironmentError> {
    // Each directory with its listing (made once).
    let mut directories: Vec<(PathBuf, Vec<String>)> = Vec::new();
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    for site in site_packages_dirs(root)? {
        // (`lib64` is usually a link to `lib`: one listing.)
        let key = fs::canonicalize(&site).unwrap_or_else(|_| site.clone());
        if !seen.insert(key) {
            continue;
        }
        let listing = list(&site)?;
        let pth_dirs: Vec<PathBuf> = listing
            .iter()
            .filter(|name| name.ends_with(".pth") && !name.starts_with('.'))
            .flat_map(|name| pth_directories(&site, &site.join(name)))
            .collect();
        directories.push((site, listing));
        for dir in pth_dirs {
            let key = fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
            if seen.insert(key) {
                let listing = list(&dir)?;
                directories.push((dir, listing));
            }
        }
    }
    let mut files = Vec::new();
    for (dir, listing) in directories {
        for name in listing {
            if name.starts_with('.') {
                continue;
            }
            let Some((dist, version)) = metadata_dir_name(&name) else { continue };
            let path = dir.join(&name).join("entry_points.txt");
            let metadata = match fs::metadata(&path) {
                Ok(metadata) if metadata.is_file() => metadata,
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => continue,
                Err(e) => return Err(io_error("read", &path)(e)),
            };
            if metadata.len() > MAX_ENTRY_POINTS_BYTES {
                tracing::warn!(path = %path.display(), bytes = metadata.len(), "entry_points.txt too large: not read");
                continue;
            }
            let bytes = fs::read(&path).map_err(io_error("read", &path))?;
            files.push(EntryPointsFile { name: dist, version, path, text: String::from_utf8_lossy(&bytes).into_owned() });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// `lib/python*/site-packages` (and `lib64`'s, the same directory in a venv
/// but a distinct one in some layouts), or `Lib/site-packages` on Windows.
fn site_packages_dirs(root: &Path) -> Result<Vec<PathBuf>, EnvironmentError> {
    let mut found = Vec::new();
    for lib in ["lib", "lib64"] {
        let lib = root.join(lib);
        for name in list(&lib)? {
            let site = lib.join(&name).join("site-packages");
            if name.starts_with("python") && site.is_dir() {
                found.push(site);
            }
        }
    }
    let windows = root.join("Lib").join("site-packages");
    if windows.is_dir() {
        found.push(windows);
    }
    Ok(found)
}

/// The names in a directory (none when it does not exist).
fn list(dir: &Path) -> Result<Vec<String>, EnvironmentError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => return Ok(Vec::new()),
        Err(e) => return Err(io_error("read directory", dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error("read directory", dir))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// The directories a `.pth` file adds to `sys.path`, as `site.addpackage`
/// reads it: lines that are not comments nor `import` statements, relative
/// to site-packages, kept when they exist. An unreadable file adds nothing
/// (Python skips it too).
fn pth_directories(site: &Path, pth: &Path) -> Vec<PathBuf> {
    let Ok(bytes) = fs::read(pth) else { return Vec::new() };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with("import ") && !line.starts_with("import\t"))
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .map(|line| site.join(line))
        .filter(|dir| dir.is_dir())
        .collect()
}

/// `(normalized name, version)` of a `name-version.dist-info` or an
/// `name[-version[-pyX.Y]].egg-info` directory name.
fn metadata_dir_name(name: &str) -> Option<(String, String)> {
    if name.ends_with(".dist-info") {
        return parse_dist_info_name(name);
    }
    let stem = name.strip_suffix(".egg-info")?;
    let mut parts = stem.splitn(3, '-');
    let dist = PackageName::from_str(parts.next()?).ok()?;
    Some((dist.to_string(), parts.next().unwrap_or_default().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_entry_points_in_site_packages_and_pth_directories() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("env");
        let site = root.join("lib/python3.11/site-packages");
        let extra = temp.path().join("src");
        for dir in [
            site.join("pytest_a-1.0.dist-info"),
            site.join("Other_Pkg-2.0.dist-info"),
            site.join("no_entry_points-1.0.dist-info"),
            site.join(".hidden-1.0.dist-info"),
            extra.join("legacy.egg-info"),
        ] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::write(site.join("pytest_a-1.0.dist-info/entry_points.txt"), "[pytest11]\na = pytest_a\n").unwrap();
        fs::write(site.join("Other_Pkg-2.0.dist-info/entry_points.txt"), "[console_scripts]\nx = y:z\n").unwrap();
        fs::write(site.join(".hidden-1.0.dist-info/entry_points.txt"), "[pytest11]\nh = h\n").unwrap();
        fs::write(extra.join("legacy.egg-info/entry_points.txt"), "[pytest11]\nlegacy = legacy.plugin\n").unwrap();
        fs::write(site.join("extra.pth"), format!("# comment\nimport sys\n{}\n/does/not/exist\n", extra.display())).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("lib", root.join("lib64")).unwrap();
        let found = entry_point_files(&root).unwrap();
        let rows: Vec<(&str, &str, bool)> =
            found.iter().map(|f| (f.name.as_str(), f.version.as_str(), f.text.contains("[pytest11]"))).collect();
        // Sorted by path: `env/lib/...` (`O` before `p`), then `src/`; `lib64`, a link to `lib`, adds nothing.
        assert_eq!(rows, [("other-pkg", "2.0", false), ("pytest-a", "1.0", true), ("legacy", "", true)]);
        assert!(entry_point_files(&temp.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn metadata_directory_names() {
        assert_eq!(metadata_dir_name("pytest_xdist-3.8.0.dist-info"), Some(("pytest-xdist".into(), "3.8.0".into())));
        assert_eq!(metadata_dir_name("Foo-1.2-py3.11.egg-info"), Some(("foo".into(), "1.2".into())));
        assert_eq!(metadata_dir_name("foo.egg-info"), Some(("foo".into(), String::new())));
        assert_eq!(metadata_dir_name("foo"), None);
    }
}
