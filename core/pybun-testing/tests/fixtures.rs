//! Data-driven discovery tests: each `fixtures/testing/<case>/` is a small
//! project whose `expected.txt` was produced by real pytest
//! (`fixtures/testing/regen.sh`): the node ids of `pytest --collect-only -q`
//! and an `ERROR <path>` line per collection error. A case with
//! `needs_pytest.txt` lists the reasons discovery must report instead
//! (`path:line: reason`); other cases must report none.

#![allow(
    clippy::disallowed_methods,
    clippy::print_stderr,
    reason = "tests read their fixtures"
)]

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use pybun_testing::{CONFIG_FILES, ModuleTests, TestConfig, discover_module, dynamic_files, walk};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/testing")
}

fn list(root: &Path, dir: &str) -> Vec<(String, bool)> {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return Vec::new();
    };
    entries
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                e.file_type().unwrap().is_dir(),
            )
        })
        .collect()
}

struct Outcome {
    lines: Vec<String>,
    reasons: Vec<String>,
    /// `path: reason` per file whose ids only pytest can tell.
    dynamic: Vec<String>,
}

fn run(case: &str) -> Outcome {
    let root = fixtures().join(case);
    let texts: Vec<(&str, String)> = CONFIG_FILES
        .iter()
        .filter_map(|name| Some((*name, std::fs::read_to_string(root.join(name)).ok()?)))
        .collect();
    let files: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let (config, _, diagnostics) = TestConfig::from_files(&files);
    assert!(diagnostics.is_empty(), "{case}: {diagnostics:?}");
    let found = walk("", &config, &|dir| list(&root, dir));
    let mut outcome = Outcome {
        lines: Vec::new(),
        reasons: Vec::new(),
        dynamic: Vec::new(),
    };
    let mut modules: BTreeMap<String, ModuleTests> = BTreeMap::new();
    for conftest in &found.conftests {
        let source = std::fs::read_to_string(root.join(conftest)).unwrap();
        let tests = discover_module(conftest, &source, &config);
        assert!(tests.conftest && tests.items.is_empty());
        outcome.reasons.extend(
            tests
                .needs_pytest
                .iter()
                .map(|r| format!("{conftest}:{}: {}", r.line, r.reason)),
        );
        modules.insert(conftest.clone(), tests);
    }
    let mut errors = Vec::new();
    for file in &found.test_files {
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        let tests = discover_module(file, &source, &config);
        outcome
            .lines
            .extend(tests.items.iter().map(|item| item.node_id.clone()));
        outcome.reasons.extend(
            tests
                .needs_pytest
                .iter()
                .map(|r| format!("{file}:{}: {}", r.line, r.reason)),
        );
        if !tests.errors.is_empty() {
            errors.push(format!("ERROR {file}"));
        }
        modules.insert(file.clone(), tests);
    }
    outcome.lines.extend(errors);
    for (file, reasons) in dynamic_files(&found.test_files, &modules, &config) {
        outcome.dynamic.extend(reasons.iter().map(|r| format!("{file}: {}:{}: {}", r.file, r.line, r.reason)));
    }
    outcome
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A case with `needs_pytest.txt` lists the reasons discovery must report;
/// one with `dynamic.txt` the files whose ids only pytest can tell (`file:
/// cause:line: reason`; `pybun test` asks pytest for those, and the e2e test
/// compares with `expected.txt`). Other cases report neither and list
/// exactly `expected.txt`.
fn check(case: &str) {
    let outcome = run(case);
    let dir = fixtures().join(case);
    let dynamic_file = dir.join("dynamic.txt");
    if dynamic_file.exists() {
        assert_eq!(outcome.dynamic, read_lines(&dynamic_file), "{case}: dynamic files");
    } else {
        assert!(outcome.dynamic.is_empty(), "{case}: unexpected dynamic files {:#?}", outcome.dynamic);
    }
    let reasons_file = dir.join("needs_pytest.txt");
    if reasons_file.exists() {
        assert_eq!(
            outcome.reasons,
            read_lines(&reasons_file),
            "{case}: reasons"
        );
    } else {
        assert!(
            outcome.reasons.is_empty(),
            "{case}: unexpected reasons {:#?}",
            outcome.reasons
        );
        assert_eq!(
            outcome.lines,
            read_lines(&dir.join("expected.txt")),
            "{case}: node ids"
        );
    }
}

#[test]
fn basic() {
    check("basic");
}

#[test]
fn parametrize() {
    check("parametrize");
}

#[test]
fn marks() {
    check("marks");
}

#[test]
fn modern_syntax() {
    check("modern");
}

#[test]
fn config_pytest_ini() {
    check("config_pytest_ini");
}

#[test]
fn config_pyproject() {
    check("config_pyproject");
}

#[test]
fn config_tox() {
    check("config_tox");
}

#[test]
fn config_setup_cfg() {
    check("config_setup_cfg");
}

#[test]
fn conftest_hooks() {
    check("conftest_hooks");
}

#[test]
fn dynamic_ids() {
    check("dynamic_ids");
}

#[test]
fn dynamic_global() {
    check("dynamic_global");
}

#[test]
fn syntax_error() {
    check("syntax_error");
    let source = std::fs::read_to_string(fixtures().join("syntax_error/test_bad.py")).unwrap();
    let tests = discover_module("test_bad.py", &source, &TestConfig::default());
    let span = tests.errors[0].location.as_ref().unwrap().span.unwrap();
    assert_eq!((span.line, span.column), (5, 17));
}

#[test]
fn every_case_is_tested() {
    let mut cases: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            e.ok()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().into_string().unwrap())
        })
        .collect();
    cases.sort();
    let source = include_str!("fixtures.rs");
    for case in cases {
        assert!(
            source.contains(&format!("check(\"{case}\")")),
            "fixture case {case} has no test"
        );
    }
}

#[test]
fn item_details() {
    let source = std::fs::read_to_string(fixtures().join("marks/test_marks.py")).unwrap();
    let tests = discover_module("test_marks.py", &source, &TestConfig::default());
    let names = |id: &str| -> Vec<String> {
        let item = tests.items.iter().find(|i| i.node_id == id).unwrap();
        item.marks
            .iter()
            .map(|m| format!("{}({})@{}", m.name, m.args_source, m.line))
            .collect()
    };
    assert_eq!(
        names("test_marks.py::test_skip"),
        [
            "skip(reason=\"not today\")@11",
            "db()@6",
            "filterwarnings(\"ignore\")@6"
        ]
    );
    assert_eq!(
        names("test_marks.py::test_alias"),
        ["slow()@26", "db()@6", "filterwarnings(\"ignore\")@6"]
    );
    assert_eq!(
        names("test_marks.py::TestMarkedClass::test_method_xfail"),
        [
            "xfail()@39",
            "db()@34",
            "usefixtures(\"tmp_path\")@32",
            "slow()@31",
            "db()@6",
            "filterwarnings(\"ignore\")@6"
        ]
    );

    let source = std::fs::read_to_string(fixtures().join("basic/test_functions.py")).unwrap();
    let tests = discover_module("test_functions.py", &source, &TestConfig::default());
    let item = tests
        .items
        .iter()
        .find(|i| i.name == "test_with_fixtures")
        .unwrap();
    assert_eq!(item.fixtures, ["number", "tmp_path", "kw"]);
    assert_eq!(
        (item.line, item.kind, item.class.as_deref()),
        (16, pybun_testing::TestKind::Function, None)
    );
    let redefined = tests
        .items
        .iter()
        .find(|i| i.name == "test_redefined")
        .unwrap();
    assert_eq!(
        (redefined.line, redefined.fixtures.as_slice()),
        (44, ["number".to_owned()].as_slice())
    );

    let source = std::fs::read_to_string(fixtures().join("basic/test_classes.py")).unwrap();
    let tests = discover_module("test_classes.py", &source, &TestConfig::default());
    let item = tests.items.iter().find(|i| i.name == "test_deep").unwrap();
    assert_eq!(
        item.class.as_deref(),
        Some("TestOuter::TestInner::TestDeepest")
    );
    let item = tests
        .items
        .iter()
        .find(|i| i.name == "test_static")
        .unwrap();
    assert_eq!(
        (item.kind, item.fixtures.as_slice()),
        (
            pybun_testing::TestKind::Method,
            ["number".to_owned()].as_slice()
        )
    );

    let source = std::fs::read_to_string(fixtures().join("parametrize/test_params.py")).unwrap();
    let tests = discover_module("test_params.py", &source, &TestConfig::default());
    let item = tests
        .items
        .iter()
        .find(|i| i.name == "test_param[3]")
        .unwrap();
    assert!(item.parametrized);
    assert_eq!(
        item.marks
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["skip", "slow", "parametrize"]
    );
    let item = tests
        .items
        .iter()
        .find(|i| i.name == "test_empty[NOTSET]")
        .unwrap();
    assert_eq!(item.marks[0].name, "skip");
}
