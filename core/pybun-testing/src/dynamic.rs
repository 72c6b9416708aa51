//! Which test files have node ids static discovery cannot know, and why.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::TestConfig;
use crate::discover::ModuleTests;

/// Why a file's node ids are pytest's to tell: the file and line of the cause
/// (the test file itself or a conftest above it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicReason {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// The test files (relative paths, from `test_files`) whose node ids depend on
/// something the static reader cannot evaluate, with the reasons:
/// - the file's own [`ModuleTests::dynamic`] reasons;
/// - a conftest above it with collection hooks or `collect_ignore`
///   ([`ModuleTests::dynamic`] of a conftest);
/// - any conftest's [`ModuleTests::dynamic_everywhere`] (every file);
/// - a test requesting (directly, through `usefixtures`, through other
///   fixtures, or as an autouse fixture) a fixture parametrized with
///   `params=` defined in the file or a conftest above it. Fixtures are
///   matched by name (an override without `params=` still counts: the answer
///   errs towards asking pytest).
#[must_use]
pub fn dynamic_files(
    test_files: &[String],
    modules: &BTreeMap<String, ModuleTests>,
    config: &TestConfig,
) -> BTreeMap<String, Vec<DynamicReason>> {
    let conftests: Vec<(&str, &ModuleTests)> = modules
        .iter()
        .filter(|(_, m)| m.conftest)
        .map(|(rel, m)| (rel.strip_suffix("conftest.py").unwrap_or(rel), m))
        .collect();
    let conftest_path = |dir: &str| format!("{dir}conftest.py");
    let everywhere: Vec<DynamicReason> = conftests
        .iter()
        .flat_map(|(dir, m)| {
            m.dynamic_everywhere.iter().map(move |r| DynamicReason { file: conftest_path(dir), line: r.line, reason: r.reason.clone() })
        })
        .collect();
    let mut found = BTreeMap::new();
    for rel in test_files {
        let Some(module) = modules.get(rel) else { continue };
        let mut reasons: Vec<DynamicReason> = everywhere.clone();
        reasons.extend(module.dynamic.iter().map(|r| DynamicReason { file: rel.clone(), line: r.line, reason: r.reason.clone() }));
        // The conftests above the file, outermost first.
        let chain: Vec<(&str, &ModuleTests)> =
            conftests.iter().filter(|(dir, _)| rel.starts_with(dir) && rel.as_str() != conftest_path(dir)).copied().collect();
        for (dir, conftest) in &chain {
            reasons.extend(conftest.dynamic.iter().map(|r| DynamicReason { file: conftest_path(dir), line: r.line, reason: r.reason.clone() }));
        }
        if let Some(reason) = parametrized_fixture_use(rel, module, &chain, config, &conftest_path) {
            reasons.push(reason);
        }
        if !reasons.is_empty() {
            found.insert(rel.clone(), reasons);
        }
    }
    found
}

/// The test files under a conftest with a `pytest_ignore_collect` hook:
/// whether pytest collects them at all is the hook's answer (the ids within
/// a file do not depend on it).
#[must_use]
pub fn files_under_ignore_hooks(test_files: &[String], modules: &BTreeMap<String, ModuleTests>) -> Vec<String> {
    let dirs: Vec<&str> = modules
        .iter()
        .filter(|(_, m)| m.conftest && m.ignore_hook.is_some())
        .map(|(rel, _)| rel.strip_suffix("conftest.py").unwrap_or(rel))
        .collect();
    test_files.iter().filter(|rel| dirs.iter().any(|dir| rel.starts_with(dir))).cloned().collect()
}

/// The first parametrized fixture a test of `module` ends up requesting.
fn parametrized_fixture_use(
    rel: &str,
    module: &ModuleTests,
    chain: &[(&str, &ModuleTests)],
    config: &TestConfig,
    conftest_path: &dyn Fn(&str) -> String,
) -> Option<DynamicReason> {
    // Visible fixtures by name: (file, definition); the file's own last.
    let mut visible: Vec<(String, &crate::discover::FixtureDef)> = Vec::new();
    for (dir, conftest) in chain {
        visible.extend(conftest.fixtures.iter().map(|f| (conftest_path(dir), f)));
    }
    visible.extend(module.fixtures.iter().map(|f| (rel.to_owned(), f)));
    if !visible.iter().any(|(_, f)| f.parametrized) {
        return None;
    }
    // Fixtures whose value depends on a parametrized one (transitively).
    let mut parametrized: BTreeMap<&str, (String, usize)> =
        visible.iter().filter(|(_, f)| f.parametrized).map(|(file, f)| (f.name.as_str(), (file.clone(), f.line))).collect();
    loop {
        let before = parametrized.len();
        for (_, f) in &visible {
            if parametrized.contains_key(f.name.as_str()) {
                continue;
            }
            if let Some(cause) = f.requests.iter().find_map(|r| parametrized.get(r.as_str())) {
                parametrized.insert(f.name.as_str(), cause.clone());
            }
        }
        if parametrized.len() == before {
            break;
        }
    }
    let autouse: BTreeSet<&str> = visible.iter().filter(|(_, f)| f.autouse).map(|(_, f)| f.name.as_str()).collect();
    let reason = |name: &str, (file, line): &(String, usize)| DynamicReason {
        file: file.clone(),
        line: *line,
        reason: format!("fixture `{name}` is parametrized with `params=` (tests in `{rel}` use it)"),
    };
    for name in autouse.iter().chain(config.usefixtures.iter().map(String::as_str).collect::<Vec<_>>().iter()) {
        if let Some(cause) = parametrized.get(name) {
            return Some(reason(name, cause));
        }
    }
    for item in &module.items {
        let mut requested: Vec<String> = item.fixtures.clone();
        for mark in item.marks.iter().filter(|m| m.name == "usefixtures") {
            match string_literals(&mark.args_source) {
                Some(names) => requested.extend(names),
                // Names computed at runtime: any parametrized fixture may be among them.
                None => return parametrized.iter().next().map(|(name, cause)| reason(name, cause)),
            }
        }
        if let Some(name) = requested.iter().find(|n| parametrized.contains_key(n.as_str())) {
            return Some(reason(name, &parametrized[name.as_str()]));
        }
    }
    None
}

/// `"a", 'b'` as `["a", "b"]`; `None` when an argument is not a plain string literal.
fn string_literals(source: &str) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for part in source.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let inner = part
            .strip_prefix('"')
            .and_then(|p| p.strip_suffix('"'))
            .or_else(|| part.strip_prefix('\'').and_then(|p| p.strip_suffix('\'')))?;
        if inner.contains(['"', '\'', '\\']) {
            return None;
        }
        names.push(inner.to_owned());
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover_module;

    fn dynamic(files: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let config = TestConfig::default();
        let modules: BTreeMap<String, ModuleTests> =
            files.iter().map(|(rel, source)| ((*rel).to_owned(), discover_module(rel, source, &config))).collect();
        let tests: Vec<String> = files.iter().map(|(rel, _)| (*rel).to_owned()).filter(|r| !r.ends_with("conftest.py")).collect();
        dynamic_files(&tests, &modules, &config)
            .into_iter()
            .map(|(file, reasons)| (file, reasons.into_iter().map(|r| format!("{}:{}: {}", r.file, r.line, r.reason)).collect()))
            .collect()
    }

    fn names(map: &BTreeMap<String, Vec<String>>) -> Vec<&str> {
        map.keys().map(String::as_str).collect()
    }

    #[test]
    fn static_files_are_not_dynamic() {
        let found = dynamic(&[
            ("tests/conftest.py", "import pytest\n\n@pytest.fixture\ndef base():\n    return 1\n\ndef pytest_configure(config):\n    pass\n"),
            ("tests/test_a.py", "import pytest\n\n@pytest.mark.parametrize('n', [1, 2])\ndef test_a(n, base):\n    pass\n"),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn parametrized_fixtures_count_where_they_are_used() {
        let conftest = "import pytest\n\n@pytest.fixture(params=[1, 2])\ndef num(request):\n    return request.param\n\n@pytest.fixture\ndef doubled(num):\n    return num * 2\n\n@pytest.fixture\ndef plain():\n    return 0\n";
        let found = dynamic(&[
            ("tests/conftest.py", conftest),
            ("tests/test_direct.py", "def test_a(num):\n    pass\n"),
            ("tests/test_indirect.py", "def test_a(doubled):\n    pass\n"),
            ("tests/test_use.py", "import pytest\n\n@pytest.mark.usefixtures('num')\ndef test_a():\n    pass\n"),
            ("tests/test_plain.py", "def test_a(plain):\n    pass\n"),
            ("other/test_outside.py", "def test_a(num):\n    pass\n"),
        ]);
        assert_eq!(names(&found), ["tests/test_direct.py", "tests/test_indirect.py", "tests/test_use.py"]);
        assert_eq!(found["tests/test_indirect.py"], ["tests/conftest.py:3: fixture `doubled` is parametrized with `params=` (tests in `tests/test_indirect.py` use it)"]);
        let autouse = dynamic(&[
            ("conftest.py", "import pytest\n\n@pytest.fixture(autouse=True, params=['a', 'b'])\ndef each(request):\n    pass\n"),
            ("test_x.py", "def test_x():\n    pass\n"),
        ]);
        assert_eq!(names(&autouse), ["test_x.py"]);
    }

    #[test]
    fn hooks_and_runtime_parameters() {
        let found = dynamic(&[
            ("a/conftest.py", "def pytest_generate_tests(metafunc):\n    pass\n"),
            ("a/test_a.py", "def test_a():\n    pass\n"),
            ("b/test_values.py", "import pytest\n\nVALUES = list(range(3))\n\n@pytest.mark.parametrize('n', VALUES)\ndef test_b(n):\n    pass\n"),
            ("b/test_ids.py", "import pytest\n\n@pytest.mark.parametrize('n', [1, 2], ids=str)\ndef test_b(n):\n    pass\n"),
            ("b/test_hook.py", "def pytest_generate_tests(metafunc):\n    pass\n\ndef test_b(x):\n    pass\n"),
            ("b/test_plain.py", "def test_b():\n    pass\n"),
        ]);
        assert_eq!(names(&found), ["a/test_a.py", "b/test_hook.py", "b/test_ids.py", "b/test_values.py"]);
        let everywhere = dynamic(&[
            ("sub/conftest.py", "def pytest_collection_modifyitems(items):\n    items.reverse()\n"),
            ("test_top.py", "def test_top():\n    pass\n"),
        ]);
        assert_eq!(names(&everywhere), ["test_top.py"]);
    }
}
