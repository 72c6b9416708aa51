//! The files pytest leaves out of a collection: `--ignore` / `--ignore-glob`
//! (read here, from `addopts` and `PYTEST_ADDOPTS`), and a conftest's
//! `collect_ignore` / `collect_ignore_glob` (known only by running the
//! conftest: pytest, given the directory, answers). pytest never ignores
//! the paths it is given, only what it finds below them.

use std::collections::BTreeMap;

use pybun_testing::{CollectIgnore, ModuleTests, fnmatch};

/// `--ignore PATH` and `--ignore-glob GLOB`, relative to the rootdir.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IgnoreOptions {
    pub paths: Vec<String>,
    pub globs: Vec<String>,
}

impl IgnoreOptions {
    pub(crate) fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.globs.is_empty()
    }
}

/// Read `--ignore` / `--ignore-glob` (`=VALUE` or the next word) from
/// pytest's option words; `relative` turns a value (relative to the
/// invocation directory, as pytest's `absolutepath`) into a path relative to
/// the rootdir.
pub(crate) fn ignore_options(words: &[String], relative: &dyn Fn(&str) -> String) -> IgnoreOptions {
    let mut options = IgnoreOptions::default();
    let mut index = 0;
    while index < words.len() {
        let word = words[index].as_str();
        index += 1;
        for (option, list) in [("--ignore", &mut options.paths), ("--ignore-glob", &mut options.globs)] {
            let value = if word == option {
                index += 1;
                words.get(index - 1).map(String::as_str)
            } else {
                word.strip_prefix(option).and_then(|rest| rest.strip_prefix('='))
            };
            if let Some(value) = value {
                list.push(relative(value).trim_end_matches('/').to_string());
            }
        }
    }
    options
}

/// Whether pytest, collecting from the initial path `initial` (a directory
/// or the file itself, relative to the rootdir; empty for the rootdir), leaves
/// the test file `rel` out because of `options`: every directory below
/// `initial` on the way to the file, and the file, is checked (an ignored
/// directory is not entered).
pub(crate) fn ignored_by_options(rel: &str, initial: &str, options: &IgnoreOptions) -> bool {
    if options.is_empty() || rel == initial {
        return false;
    }
    let initial = initial.trim_end_matches('/');
    let parts: Vec<&str> = rel.split('/').collect();
    (1..=parts.len())
        .map(|n| parts[..n].join("/"))
        .filter(|candidate| candidate.len() > initial.len())
        .any(|candidate| options.paths.contains(&candidate) || options.globs.iter().any(|g| fnmatch(&candidate, g)))
}

/// The initial path pytest collects `rel` from: the deepest path argument
/// covering it (a node id counts as its file), else the `testpaths` entry
/// covering it, else the rootdir (empty).
pub(crate) fn initial_path<'a>(rel: &str, wanted: &'a [String], testpaths: &'a [String]) -> &'a str {
    let covers = |path: &str| {
        let path = path.trim_end_matches('/');
        path.is_empty() || rel == path || rel.starts_with(&format!("{path}/"))
    };
    wanted
        .iter()
        .map(|w| w.split_once("::").map_or(w.as_str(), |(file, _)| file))
        .filter(|w| covers(w))
        .max_by_key(|w| w.len())
        .or_else(|| testpaths.iter().map(String::as_str).filter(|t| covers(t)).max_by_key(|t| t.len()))
        .unwrap_or("")
}

/// The directories (`tests/`, or empty for the rootdir) of the conftests that
/// set `collect_ignore` / `collect_ignore_glob`, shallowest first.
pub(crate) fn collect_ignore_dirs(conftests: &[String], modules: &BTreeMap<String, ModuleTests>) -> Vec<String> {
    let mut dirs: Vec<String> = conftests
        .iter()
        .filter(|c| modules.get(*c).is_some_and(|m| m.collect_ignore.is_some()))
        .map(|c| c.trim_end_matches("conftest.py").to_string())
        .collect();
    dirs.sort_by_key(String::len);
    dirs
}

/// What to give pytest to collect the `dynamic` files: each file itself,
/// but a file under a `collect_ignore` conftest is reached through that
/// conftest's (shallowest such) directory, or through the user's own deeper
/// path argument, so that pytest applies the ignore lists as it would.
/// Unique, in order.
pub(crate) fn collection_args(dynamic: &[String], ignore_dirs: &[String], wanted: &[String]) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    for rel in dynamic {
        let arg = match ignore_dirs.iter().find(|dir| rel.starts_with(dir.as_str())) {
            None => rel.clone(),
            Some(dir) => {
                let dir = dir.trim_end_matches('/');
                let initial = initial_path(rel, wanted, &[]);
                if initial.len() > dir.len() {
                    initial.to_string()
                } else if dir.is_empty() {
                    ".".to_string()
                } else {
                    dir.to_string()
                }
            }
        };
        if !args.contains(&arg) {
            args.push(arg);
        }
    }
    args
}

/// The conftests that set `collect_ignore` / `collect_ignore_glob`: their
/// directory (`tests/`, or empty for the rootdir) and their lists when read
/// statically (`None`: only pytest can tell).
pub(crate) fn conftest_ignore_lists<'a>(conftests: &[String], modules: &'a BTreeMap<String, ModuleTests>) -> Vec<(String, Option<&'a CollectIgnore>)> {
    conftests
        .iter()
        .filter_map(|c| {
            let module = modules.get(c)?;
            let dir = c.trim_end_matches("conftest.py").to_string();
            match (&module.collect_ignore_lists, module.collect_ignore) {
                (Some(lists), _) => Some((dir, Some(lists))),
                (None, Some(_)) => Some((dir, None)),
                (None, None) => None,
            }
        })
        .collect()
}

/// Whether the statically read lists of `conftests` leave the test file `rel`
/// out when pytest collects from `initial`: each directory below `initial`
/// on the way, and the file, is checked against the lists of the closest
/// conftest (above it) that sets each one, as pytest does. A closest
/// conftest whose lists only pytest can tell decides nothing here (pytest
/// is asked for those files).
pub(crate) fn ignored_by_conftests(rel: &str, initial: &str, conftests: &[(String, Option<&CollectIgnore>)]) -> bool {
    if rel == initial || !conftests.iter().any(|(_, lists)| lists.is_some()) {
        return false;
    }
    let initial = initial.trim_end_matches('/');
    let parts: Vec<&str> = rel.split('/').collect();
    for n in 1..=parts.len() {
        let candidate = parts[..n].join("/");
        if candidate.len() <= initial.len() {
            continue;
        }
        let parent = parts[..n - 1].join("/");
        let mut chain: Vec<&(String, Option<&CollectIgnore>)> =
            conftests.iter().filter(|(dir, _)| dir.is_empty() || format!("{parent}/").starts_with(dir.as_str())).collect();
        chain.sort_by_key(|(dir, _)| std::cmp::Reverse(dir.len()));
        for list in [0, 1] {
            // The closest conftest that sets the list (an unknown one sets both, as far as we know).
            let closest = chain.iter().find_map(|(dir, lists)| match lists {
                None => Some((dir, None)),
                Some(l) => (if list == 0 { l.paths.as_ref() } else { l.globs.as_ref() }).map(|values| (dir, Some(values))),
            });
            let Some((dir, Some(values))) = closest else { continue };
            let hit = values.iter().any(|value| {
                let entry = normalize(&format!("{dir}{value}"));
                if list == 0 { entry == candidate } else { fnmatch(&candidate, &entry) }
            });
            if hit {
                return true;
            }
        }
    }
    false
}

/// `a/./b/../c/` as `a/c`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// The file part of a node id.
pub(crate) fn file_of(id: &str) -> &str {
    id.split("::").next().unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn ignore_options_are_read_in_both_spellings() {
        let options = ignore_options(&words("-ra --ignore=tests/legacy --ignore tests/x.py/ --ignore-glob=*_py2.py --ignore-glob tests/*/old -q"), &|v| v.to_string());
        assert_eq!(options.paths, ["tests/legacy", "tests/x.py"]);
        assert_eq!(options.globs, ["*_py2.py", "tests/*/old"]);
        assert!(ignore_options(&words("--ignored-thing --ignore"), &|v| v.to_string()).is_empty());
    }

    #[test]
    fn files_are_ignored_below_the_initial_path_only() {
        let options = IgnoreOptions { paths: vec!["tests/legacy".into(), "tests/test_x.py".into()], globs: vec!["*_py2.py".into()] };
        let check = |rel: &str, initial: &str, expected: bool| assert_eq!(ignored_by_options(rel, initial, &options), expected, "{rel} from `{initial}`");
        check("tests/legacy/test_a.py", "", true);
        check("tests/legacy/test_a.py", "tests", true);
        // Given as an argument: not ignored, but what is below it is checked.
        check("tests/legacy/test_a.py", "tests/legacy", false);
        check("tests/legacy/test_a.py", "tests/legacy/test_a.py", false);
        check("tests/test_x.py", "", true);
        check("tests/test_x.py", "tests/test_x.py", false);
        check("tests/deep/test_b_py2.py", "", true);
        check("tests/deep/test_b_py2.py", "tests/deep/test_b_py2.py", false);
        check("tests/test_y.py", "", false);
        check("tests/legacy_more/test_c.py", "", false);
    }

    #[test]
    fn the_initial_path_is_the_deepest_covering_argument() {
        let wanted = vec!["tests".to_string(), "tests/unit/test_a.py::test_x".to_string(), "other".to_string()];
        assert_eq!(initial_path("tests/unit/test_a.py", &wanted, &[]), "tests/unit/test_a.py");
        assert_eq!(initial_path("tests/unit/test_b.py", &wanted, &[]), "tests");
        assert_eq!(initial_path("docs/test_c.py", &wanted, &[]), "");
        assert_eq!(initial_path("docs/test_c.py", &[], &["docs".to_string()]), "docs");
    }

    #[test]
    fn static_collect_ignore_lists_follow_the_closest_conftest() {
        let root = CollectIgnore { paths: Some(vec!["test_setup.py".into(), "docs/legacy".into(), "tests/legacy".into()]), globs: Some(vec!["*_py2.py".into()]) };
        let tests = CollectIgnore { paths: Some(vec!["./test_x.py".into(), "../docs/test_d.py".into()]), globs: None };
        let conftests = vec![(String::new(), Some(&root)), ("tests/".to_string(), Some(&tests))];
        let check = |rel: &str, initial: &str, expected: bool| assert_eq!(ignored_by_conftests(rel, initial, &conftests), expected, "{rel} from `{initial}`");
        check("test_setup.py", "", true);
        check("docs/legacy/test_a.py", "", true);
        check("docs/legacy/test_a.py", "docs/legacy", false);
        // `tests/conftest.py` sets its own `collect_ignore`: for what is in
        // `tests/` (its directory included), the rootdir's no longer applies…
        check("tests/legacy/test_a.py", "", false);
        check("tests/test_x.py", "", true);
        check("tests/test_x.py", "tests/test_x.py", false);
        check("docs/test_d.py", "", false);
        // …but its glob list does (tests/ sets none).
        check("tests/deep/test_b_py2.py", "", true);
        check("test_top_py2.py", "", true);
        check("tests/test_y.py", "", false);
        // An unknown list closer to the file decides nothing here.
        let conftests = vec![(String::new(), Some(&root)), ("tests/".to_string(), None)];
        assert!(!ignored_by_conftests("tests/deep/test_b_py2.py", "", &conftests));
        assert!(ignored_by_conftests("test_top_py2.py", "", &conftests));
    }

    #[test]
    fn files_under_collect_ignore_are_collected_through_the_directory() {
        let dynamic: Vec<String> = ["tests/test_a.py", "tests/sub/test_b.py", "other/test_c.py", "test_root.py"].iter().map(|s| (*s).to_string()).collect();
        let dirs = vec!["tests/".to_string()];
        assert_eq!(collection_args(&dynamic, &dirs, &[]), ["tests", "other/test_c.py", "test_root.py"]);
        // The user's own deeper path (pytest would not ignore it): that path.
        let wanted = vec!["tests/sub".to_string()];
        assert_eq!(collection_args(&dynamic[1..2], &dirs, &wanted), ["tests/sub"]);
        // A conftest at the rootdir.
        assert_eq!(collection_args(&dynamic, &[String::new()], &[]), ["."]);
    }
}
