//! Which files pytest collects, in its order, with the caller doing the IO.

use std::collections::{BTreeSet, HashSet};

use crate::config::{TestConfig, is_virtualenv_dir};
use crate::glob::{fnmatch, has_glob};

/// The files a pytest run would collect from a rootdir.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walk {
    /// Test modules in collection order (paths relative to the rootdir, `/`-separated).
    pub test_files: Vec<String>,
    /// Every `conftest.py` pytest would load for them, parents first.
    pub conftests: Vec<String>,
    /// The directories listed on the way whose listing has a `__snapshots__`
    /// directory (`""`: the top): where the `snapshot` fixture's files may be,
    /// so they are looked for there only.
    pub snapshot_dirs: BTreeSet<String>,
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// Walks like `pytest` run without arguments in `root` (the rootdir; `""`
/// for the top of the listing): from `testpaths` when set (globs expanded,
/// falling back to `root` when they match nothing), recursing as pytest does
/// (entries sorted by name, `__init__.py` first in packages, `norecursedirs`,
/// `__pycache__` and virtual environments skipped). `list(dir)` returns the
/// `(name, is_dir)` entries of a directory relative to the rootdir (empty when
/// it does not exist or is a file).
#[must_use]
pub fn walk(root: &str, config: &TestConfig, list: &dyn Fn(&str) -> Vec<(String, bool)>) -> Walk {
    let mut out = Walker::default();
    let root = root.trim_end_matches('/');
    let mut starts: Vec<(String, bool)> = Vec::new();
    for testpath in &config.testpaths {
        let testpath = testpath.trim_end_matches('/').trim_start_matches("./");
        for path in expand(root, testpath, list) {
            starts.push(path);
        }
    }
    if starts.is_empty() {
        starts.push((root.to_owned(), true));
    }
    for (path, is_dir) in starts {
        // conftest.py files of the rootdir down to the start's directory
        let parent_end = if is_dir {
            path.len()
        } else {
            path.rfind('/').unwrap_or(0)
        };
        let mut dir = root.to_owned();
        let mut entries = list(&dir);
        out.add_conftest(&dir, &entries);
        let rest = path[..parent_end]
            .strip_prefix(root)
            .unwrap_or(&path[..parent_end])
            .trim_start_matches('/');
        for segment in rest.split('/').filter(|s| !s.is_empty()) {
            dir = join(&dir, segment);
            entries = list(&dir);
            out.add_conftest(&dir, &entries);
        }
        if is_dir {
            // `dir` is normally `path` here, and `entries` its listing.
            let entries = if dir == path { entries } else { list(&path) };
            walk_dir(&path, entries, config, list, &mut out);
        } else {
            out.add_test_file(path);
        }
    }
    out.walk
}

/// The walk so far, with sets to keep its lists free of duplicates in
/// constant time (a large suite has thousands of files).
#[derive(Default)]
struct Walker {
    walk: Walk,
    seen_files: HashSet<String>,
    seen_conftests: HashSet<String>,
}

impl Walker {
    /// The directory's `conftest.py`, if its listing has one (and whether it
    /// has a `__snapshots__` directory).
    fn add_conftest(&mut self, dir: &str, entries: &[(String, bool)]) {
        if entries.iter().any(|(n, d)| n == "__snapshots__" && *d) {
            self.walk.snapshot_dirs.insert(dir.to_owned());
        }
        if entries.iter().any(|(n, d)| n == "conftest.py" && !d) {
            let conftest = join(dir, "conftest.py");
            if self.seen_conftests.insert(conftest.clone()) {
                self.walk.conftests.push(conftest);
            }
        }
    }

    fn add_test_file(&mut self, path: String) {
        if self.seen_files.insert(path.clone()) {
            self.walk.test_files.push(path);
        }
    }
}

/// Walks `dir`, whose listing is `entries`.
fn walk_dir(
    dir: &str,
    mut entries: Vec<(String, bool)>,
    config: &TestConfig,
    list: &dyn Fn(&str) -> Vec<(String, bool)>,
    out: &mut Walker,
) {
    let package = entries.iter().any(|(n, d)| n == "__init__.py" && !d);
    entries.sort_by(|a, b| {
        let first = |e: &(String, bool)| package && e.0 != "__init__.py";
        first(a).cmp(&first(b)).then_with(|| a.0.cmp(&b.0))
    });
    out.add_conftest(dir, &entries);
    for (name, is_dir) in entries {
        let path = join(dir, &name);
        if is_dir {
            if !config.recurses_into(&path) {
                continue;
            }
            let sub = list(&path);
            if is_virtualenv_dir(&sub, || {
                list(&join(&path, "conda-meta"))
                    .iter()
                    .any(|(n, d)| n == "history" && !d)
            }) {
                continue;
            }
            walk_dir(&path, sub, config, list, out);
        } else if config.collects_file(&path) {
            out.add_test_file(path);
        }
    }
}

/// A testpath, with glob segments expanded against the listing (sorted).
fn expand(
    root: &str,
    testpath: &str,
    list: &dyn Fn(&str) -> Vec<(String, bool)>,
) -> Vec<(String, bool)> {
    let mut current: Vec<(String, bool)> = vec![(root.to_owned(), true)];
    for segment in testpath.split('/').filter(|s| !s.is_empty() && *s != ".") {
        let mut next = Vec::new();
        for (dir, is_dir) in &current {
            if !is_dir {
                continue;
            }
            let mut entries = list(dir);
            entries.sort();
            for (name, child_is_dir) in entries {
                let matched = if has_glob(segment) {
                    !name.starts_with('.') && fnmatch(&name, segment)
                } else {
                    name == segment
                };
                if matched {
                    next.push((join(dir, &name), child_is_dir));
                }
            }
        }
        current = next;
    }
    if current.len() == 1 && current[0].0 == root {
        Vec::new()
    } else {
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn tree(paths: &[&str]) -> BTreeMap<String, Vec<(String, bool)>> {
        let mut map: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
        for path in paths {
            let parts: Vec<&str> = path.split('/').collect();
            for i in 0..parts.len() {
                let dir = parts[..i].join("/");
                let entry = (parts[i].to_owned(), i + 1 < parts.len());
                let list = map.entry(dir).or_default();
                if !list.contains(&entry) {
                    list.push(entry);
                }
            }
        }
        map
    }

    #[test]
    fn directories_with_snapshots_are_noted() {
        let map = tree(&["test_a.py", "__snapshots__/test_a.py.snap", "sub/test_b.py", "other/test_c.py", "other/__snapshots__/x.snap"]);
        let list = |dir: &str| map.get(dir).cloned().unwrap_or_default();
        let walk = walk("", &TestConfig::default(), &list);
        assert_eq!(walk.snapshot_dirs.iter().map(String::as_str).collect::<Vec<_>>(), ["", "other"]);
    }

    #[test]
    fn walks_like_pytest() {
        let map = tree(&[
            "conftest.py",
            "test_z.py",
            "b/test_b.py",
            "a_test.py",
            "c/conftest.py",
            "c/test_c.py",
            "c/helper.py",
            ".venv/lib/test_x.py",
            "env/pyvenv.cfg",
            "env/test_e.py",
            "build/test_b.py",
            "node_modules/test_n.py",
            "pkg/__init__.py",
            "pkg/test_p.py",
            "__pycache__/test_q.py",
        ]);
        let list = |dir: &str| map.get(dir).cloned().unwrap_or_default();
        let walk = walk("", &TestConfig::default(), &list);
        assert_eq!(
            walk.test_files,
            [
                "a_test.py",
                "b/test_b.py",
                "c/test_c.py",
                "pkg/test_p.py",
                "test_z.py"
            ]
        );
        assert_eq!(walk.conftests, ["conftest.py", "c/conftest.py"]);
    }

    #[test]
    fn testpaths() {
        let map = tree(&[
            "tests/unit/test_a.py",
            "tests/conftest.py",
            "other/test_o.py",
            "tests/check.py",
        ]);
        let list = |dir: &str| map.get(dir).cloned().unwrap_or_default();
        let config = TestConfig {
            testpaths: vec!["tests".into(), "tests/check.py".into()],
            ..TestConfig::default()
        };
        let walk = walk("", &config, &list);
        assert_eq!(walk.test_files, ["tests/unit/test_a.py", "tests/check.py"]);
        assert_eq!(walk.conftests, ["tests/conftest.py"]);
        let config = TestConfig {
            testpaths: vec!["t*".into()],
            ..TestConfig::default()
        };
        assert_eq!(
            super::walk("", &config, &list).test_files,
            ["tests/unit/test_a.py"]
        );
        let config = TestConfig {
            testpaths: vec!["missing".into()],
            ..TestConfig::default()
        };
        assert_eq!(
            super::walk("", &config, &list).test_files,
            ["other/test_o.py", "tests/unit/test_a.py"]
        );
    }
}
