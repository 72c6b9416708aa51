//! End-to-end tests of `pybun test` through the real binary: collection
//! against pytest's own output, outcomes, selection, sharding, fail-fast,
//! reports and exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use pybun_testkit::{TestContext, workspace_root};
use serde_json::Value;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pybun"))
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// `pybun` in `dir`, outside any agent or virtual environment.
fn pybun_command(ctx: &TestContext, dir: &Path) -> Command {
    let mut command: Command = ctx.command(bin());
    command.current_dir(dir).env("PYBUN_DATA_DIR", ctx.temp.path().join("data")).env_remove("VIRTUAL_ENV");
    for variable in ["AGENT", "CLAUDECODE", "CURSOR_AGENT", "CODEX", "AIDER", "GEMINI_CLI", "OPENCODE"] {
        command.env_remove(variable);
    }
    command
}

fn pybun(ctx: &TestContext, dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut command = pybun_command(ctx, dir);
    command.envs(envs.iter().copied()).args(args);
    output(&mut command)
}

fn output(command: &mut Command) -> Run {
    let output = command.output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `--collect-only` prints exactly the node ids `pytest --collect-only -q`
/// printed for each fixture project: statically known ones without any
/// Python; files whose ids only pytest can tell (fixture `params=`, computed
/// parameters and ids, `pytest_generate_tests`, collection hooks) collected
/// by pytest in a worker (`/tmp/peers`' pytest), merged in pytest's order.
#[test]
#[expect(clippy::print_stderr, reason = "says why the dynamic cases are skipped")]
fn collect_only_matches_pytest() {
    let ctx = TestContext::new();
    let static_cases = ["basic", "parametrize", "marks", "config_pyproject", "config_pytest_ini", "config_tox", "config_setup_cfg"];
    let peers = Path::new("/tmp/peers");
    let dynamic_cases: &[&str] = if peers.join("bin/pytest").exists() {
        &["dynamic_ids", "dynamic_global", "conftest_hooks"]
    } else {
        eprintln!("dynamic cases skipped: no pytest at /tmp/peers (`python3 -m venv /tmp/peers && /tmp/peers/bin/pip install pytest`)");
        &[]
    };
    for (case, envs) in static_cases.iter().map(|c| (c, vec![])).chain(dynamic_cases.iter().map(|c| (c, vec![("PYBUN_ENV", "/tmp/peers")]))) {
        let dir = case_dir(&ctx, case);
        let expected = expected_ids(case);
        let out = pybun(&ctx, &dir, &["test", "--collect-only"], &envs);
        assert_eq!(out.code, Some(0), "{case}\n{out}");
        let got: Vec<String> = out.stdout.lines().take_while(|l| !l.trim().is_empty()).map(str::to_string).collect();
        assert_eq!(got, expected, "{case}");
    }
}

fn case_dir(ctx: &TestContext, case: &str) -> PathBuf {
    let dir = ctx.temp.path().join("cases").join(case);
    if !dir.exists() {
        copy_dir(&workspace_root().join("fixtures").join("testing").join(case), &dir);
    }
    dir
}

/// A fixture case's `expected.txt`: `pytest --collect-only -q`'s node ids.
fn expected_ids(case: &str) -> Vec<String> {
    std::fs::read_to_string(workspace_root().join("fixtures").join("testing").join(case).join("expected.txt"))
        .unwrap()
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The discovery cache (one index per rootdir, entries proven by file
/// stamps) follows edits, also one that keeps the file's size and restores
/// its modification time: right after the first collection (the entry is
/// then "racy": read and hashed) and once the entry has settled (more than
/// two seconds older than the index: only the stamp is checked, and the
/// status-change time moved).
#[test]
fn discovery_cache_sees_edits_that_keep_size_and_modification_time() {
    let ctx = TestContext::new();
    let dir = ctx.temp.path().join("edits");
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(dir.join("pytest.ini"), "[pytest]\ntestpaths = tests\n").unwrap();
    let file = dir.join("tests").join("test_a.py");
    let collect = || -> Vec<String> {
        let out = pybun(&ctx, &dir, &["test", "--collect-only"], &[]);
        assert_eq!(out.code, Some(0), "{out}");
        out.stdout.lines().take_while(|l| !l.trim().is_empty()).map(str::to_string).collect()
    };
    let rewrite = |name: &str| {
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, format!("def {name}():\n    pass\n")).unwrap();
        std::fs::File::options().write(true).open(&file).unwrap().set_modified(modified).unwrap();
    };
    std::fs::write(&file, "def test_one():\n    pass\n").unwrap();
    assert_eq!(collect(), ["tests/test_a.py::test_one"]);
    let index_dir = ctx.cache_dir.join("test-discovery-v1");
    assert_eq!(std::fs::read_dir(&index_dir).unwrap().count(), 1, "one index for the rootdir");
    rewrite("test_two");
    assert_eq!(collect(), ["tests/test_a.py::test_two"]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    // Verified by content and recorded again, then proven by its stamp alone.
    assert_eq!(collect(), ["tests/test_a.py::test_two"]);
    assert_eq!(collect(), ["tests/test_a.py::test_two"]);
    rewrite("test_six");
    assert_eq!(collect(), ["tests/test_a.py::test_six"]);
}

/// A conftest's `pytest_ignore_collect` is asked (by the native harness, no
/// pytest needed) which files `--collect-only` leaves out, as pytest does.
#[test]
fn collect_only_asks_ignore_hooks() {
    let Some(peers) = peers_with_pytest() else { return };
    let ctx = TestContext::new();
    let dir = ctx.temp.path().join("ignore_hook");
    copy_dir(&workspace_root().join("adapters/pybun-test-worker/tests/ignore_hook"), &dir);
    let pytest = Command::new(peers.join("bin/python"))
        .args(["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let expected: Vec<String> = String::from_utf8_lossy(&pytest.stdout).lines().filter(|l| l.contains("::")).map(str::to_string).collect();
    assert!(!expected.is_empty());
    // The native harness answers without pytest: the project's own environment has none.
    let out = pybun(&ctx, &dir, &["test", "--collect-only"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let got: Vec<String> = out.stdout.lines().take_while(|l| !l.trim().is_empty()).map(str::to_string).collect();
    assert_eq!(got, expected, "{out}");
}

/// The ids pytest collects for dynamic files are the ones `-k`, `--shard`
/// and `--last-failed` work on.
#[test]
fn dynamic_ids_drive_selection_shards_and_last_failed() {
    if peers_with_pytest().is_none() {
        return;
    }
    let ctx = TestContext::new();
    let dir = case_dir(&ctx, "dynamic_ids");
    let env = [("PYBUN_ENV", "/tmp/peers")];
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["test", "--collect-only"];
        all.extend_from_slice(args);
        let out = pybun(&ctx, &dir, &all, &env);
        assert_eq!(out.code, Some(0), "{args:?}\n{out}");
        out.stdout.lines().take_while(|l| !l.trim().is_empty()).map(str::to_string).collect()
    };
    let expected = expected_ids("dynamic_ids");
    let chocolate: Vec<String> = expected.iter().filter(|id| id.contains("chocolate")).cloned().collect();
    assert_eq!(chocolate.len(), 5);
    assert_eq!(ids(&["-k", "chocolate"]), chocolate);
    let mut shards: Vec<String> = ids(&["--shard", "1/2"]);
    let second = ids(&["--shard", "2/2"]);
    assert!(!shards.is_empty() && !second.is_empty());
    assert!(second.iter().all(|id| !shards.contains(id)), "shards overlap");
    shards.extend(second);
    shards.sort();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(shards, sorted, "the shards' union is the whole suite");
    // A failure of a test parametrized by a hook, rerun alone by --last-failed.
    let generate = dir.join("test_generate.py");
    let source = std::fs::read_to_string(&generate).unwrap();
    std::fs::write(&generate, source.replace("    assert word\n", "    assert word != \"beta\"\n")).unwrap();
    let out = pybun(&ctx, &dir, &["--format", "json", "test"], &env);
    assert_eq!(out.code, Some(1), "{out}");
    let failed: Vec<String> = json(&out)["result"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["outcome"] == "failed")
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(failed, ["test_generate.py::test_word[beta]"], "{out}");
    let rerun = pybun(&ctx, &dir, &["--format", "json", "test", "--last-failed"], &env);
    let ran: Vec<String> = json(&rerun)["result"]["tests"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ran, ["test_generate.py::test_word[beta]"], "{rerun}");
    std::fs::write(&generate, source).unwrap();
}

const SUITE_PYPROJECT: &str = "[project]\nname = \"suite\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = []\n\n[tool.pytest.ini_options]\nmarkers = [\"slow: slow tests\"]\n";

const SUITE: &str = r#"import pytest

def test_ok():
    assert 1 + 1 == 2

def test_fails():
    a, b = 3, 4
    assert a == b

@pytest.mark.slow
def test_slow_ok():
    pass

@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n < 3

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

class TestGroup:
    def test_in_class(self):
        print("hello from the class")

def test_tmp(tmp_path):
    (tmp_path / "f").write_text("x")
    assert (tmp_path / "f").read_text() == "x"
"#;

fn suite(ctx: &TestContext) -> PathBuf {
    ctx.write_pyproject(SUITE_PYPROJECT);
    ctx.write_file("tests/test_suite.py", SUITE);
    ctx.write_file("tests/test_more.py", "def test_more_one():\n    pass\n\ndef test_more_two():\n    pass\n");
    ctx.project_dir.clone()
}

fn json(out: &Run) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"))
}

#[test]
fn a_run_reports_outcomes_values_and_exit_codes() {
    let ctx = TestContext::new();
    let dir = suite(&ctx);
    let out = pybun(&ctx, &dir, &["--format", "json", "test"], &[]);
    assert_eq!(out.code, Some(1), "failures exit 1\n{out}");
    let document = json(&out);
    let summary = &document["result"]["summary"];
    assert_eq!(summary["passed"], 8, "{out}");
    assert_eq!(summary["failed"], 2, "{out}");
    assert_eq!(summary["skipped"], 1, "{out}");
    let tests = document["result"]["tests"].as_array().unwrap();
    let failed = tests.iter().find(|t| t["id"] == "tests/test_suite.py::test_fails").unwrap();
    assert!(failed["longrepr"].as_str().unwrap().contains("assert 3 == 4"), "both values shown: {failed}");
    let class = tests.iter().find(|t| t["id"] == "tests/test_suite.py::TestGroup::test_in_class").unwrap();
    assert_eq!(class["stdout"].as_str().unwrap().trim(), "hello from the class");
    // Durations are recorded in a committable file.
    let durations = std::fs::read_to_string(dir.join(".pybun/test-durations.json")).unwrap();
    assert!(durations.contains("\"tests/test_suite.py::test_ok\": "), "{durations}");

    // Text: failures with their values, a pytest-like summary.
    let text = pybun(&ctx, &dir, &["test"], &[]);
    assert_eq!(text.code, Some(1));
    assert!(text.stderr.contains("FAILED tests/test_suite.py::test_fails"), "{text}");
    assert!(text.stderr.contains("2 failed, 8 passed, 1 skipped"), "{text}");

    // An agent sees only failures and the summary: no progress dots.
    let agent = pybun(&ctx, &dir, &["test"], &[("CLAUDECODE", "1")]);
    assert!(!agent.stderr.contains(".."), "{agent}");
    assert!(agent.stderr.contains("FAILED") && agent.stderr.contains("2 failed"), "{agent}");
    // So does `--quiet`.
    let quiet = pybun(&ctx, &dir, &["--quiet", "test"], &[]);
    assert!(!quiet.stderr.contains(".."), "{quiet}");
    assert!(quiet.stderr.contains("FAILED") && quiet.stderr.contains("2 failed, 8 passed, 1 skipped"), "{quiet}");
}

#[test]
fn selection_bail_shards_and_last_failed() {
    let ctx = TestContext::new();
    let dir = suite(&ctx);
    let count = |args: &[&str]| -> (Option<i32>, u64, u64) {
        let mut all = vec!["--format", "json", "test"];
        all.extend_from_slice(args);
        let out = pybun(&ctx, &dir, &all, &[]);
        let document = json(&out);
        let summary = &document["result"]["summary"];
        (out.code, summary["passed"].as_u64().unwrap(), summary["failed"].as_u64().unwrap())
    };
    assert_eq!(count(&["-k", "more"]), (Some(0), 2, 0));
    assert_eq!(count(&["-k", "param and not 3"]), (Some(0), 2, 0));
    assert_eq!(count(&["-m", "slow"]), (Some(0), 1, 0));
    assert_eq!(count(&["tests/test_more.py::test_more_two"]), (Some(0), 1, 0));
    // Fail fast: one failure, then stop.
    let (code, _, failed) = count(&["--bail", "-n", "1"]);
    assert_eq!((code, failed), (Some(1), 1));
    // Shards: every test in exactly one.
    let mut seen = Vec::new();
    for i in 1..=3 {
        let shard = format!("{i}/3");
        let out = pybun(&ctx, &dir, &["--format", "json", "test", "--shard", &shard, "--collect-only"], &[]);
        for test in json(&out)["result"]["planned"].as_array().unwrap() {
            seen.push(test["id"].as_str().unwrap().to_string());
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len(), 11);
    assert_eq!(unique.len(), 11);
    // Last failed: only the two failures run.
    pybun(&ctx, &dir, &["test"], &[]);
    assert_eq!(count(&["--last-failed"]), (Some(1), 0, 2));
    // No tests: exit 5.
    let none = pybun(&ctx, &dir, &["test", "-k", "nothing_matches_this"], &[]);
    assert_eq!(none.code, Some(5), "{none}");
    // Usage errors: exit 2.
    let bad = pybun(&ctx, &dir, &["test", "-k", "a and"], &[]);
    assert_eq!(bad.code, Some(2), "{bad}");
}

#[test]
fn junit_xml_and_durations() {
    let ctx = TestContext::new();
    let dir = suite(&ctx);
    let out = pybun(&ctx, &dir, &["test", "--junit-xml", "report.xml", "--durations", "3"], &[]);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("slowest 3 durations"), "{out}");
    let xml = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    assert!(xml.contains("<testsuite name=\"pybun\" tests=\"11\" failures=\"2\""), "{xml}");
    assert!(xml.contains("classname=\"tests.test_suite.TestGroup\" name=\"test_in_class\""), "{xml}");
}

/// A fast suite whose recorded durations are all 0.000 (as earlier versions
/// wrote them for sub-millisecond tests) is still spread over the workers
/// (each module's test says which worker ran it) and over the shards.
#[test]
fn a_suite_recorded_at_zero_seconds_uses_every_worker() {
    let ctx = TestContext::new();
    ctx.write_pyproject(SUITE_PYPROJECT);
    let mut durations = Vec::new();
    for i in 0..8 {
        ctx.write_file(
            &format!("tests/test_fast_{i}.py"),
            "import os, time\n\ndef test_where():\n    time.sleep(0.05)\n    print(os.environ['PYBUN_TEST_WORKER'])\n",
        );
        durations.push(format!("  \"tests/test_fast_{i}.py::test_where\": 0.000"));
    }
    ctx.write_file(".pybun/test-durations.json", format!("{{\n{}\n}}\n", durations.join(",\n")));
    let out = pybun(&ctx, &ctx.project_dir, &["--format", "json", "test", "--workers", "2"], &[]);
    let document = json(&out);
    let workers: std::collections::BTreeSet<String> = document["result"]["tests"]
        .as_array()
        .unwrap_or_else(|| panic!("{out}"))
        .iter()
        .map(|t| t["stdout"].as_str().unwrap_or_default().trim().to_string())
        .collect();
    assert_eq!(workers.into_iter().collect::<Vec<_>>(), ["gw0", "gw1"], "{out}");
    // The shards too (every test went to the first shard: the least loaded
    // stayed at 0 s). The run above recorded its durations: zero them again.
    ctx.write_file(".pybun/test-durations.json", format!("{{\n{}\n}}\n", durations.join(",\n")));
    for shard in ["1/2", "2/2"] {
        let out = pybun(&ctx, &ctx.project_dir, &["test", "--collect-only", "--shard", shard], &[]);
        assert_eq!(out.stdout.lines().filter(|line| line.contains("::")).count(), 4, "{out}");
    }
}

/// With pytest installed in the environment (`/tmp/peers`, as the benchmarks
/// use), the pytest engine gives the same outcomes.
#[test]
fn the_pytest_engine_agrees() {
    let Some(peers) = peers_with_pytest() else { return };
    let ctx = TestContext::new();
    let dir = suite(&ctx);
    let peers_env = peers.to_str().unwrap();
    let out = pybun(&ctx, &dir, &["--format", "json", "test", "--engine", "pytest"], &[("PYBUN_ENV", peers_env)]);
    let document = json(&out);
    let summary = &document["result"]["summary"];
    assert_eq!((summary["passed"].as_u64(), summary["failed"].as_u64(), summary["skipped"].as_u64()), (Some(8), Some(2), Some(1)), "{out}");
}

/// Modules static discovery cannot list exactly (a fixture with `params=`, a
/// test inside an `if`) go to pytest whole: the ids and outcomes are pytest's own.
#[test]
fn modules_pytest_must_collect_run_whole_with_pytest_ids() {
    let Some(peers) = peers_with_pytest() else { return };
    let ctx = TestContext::new();
    ctx.write_pyproject(SUITE_PYPROJECT);
    ctx.write_file(
        "tests/test_params.py",
        "import pytest\n\n@pytest.fixture(params=[1, 2, 3])\ndef n(request):\n    return request.param\n\ndef test_n(n):\n    assert n != 3\n\ndef test_plain():\n    pass\n",
    );
    ctx.write_file("tests/test_compound.py", "import sys\n\nif sys.version_info >= (3,):\n    def test_inside():\n        pass\n");
    ctx.write_file("tests/test_native.py", "def test_native():\n    pass\n");
    let peers_env = peers.to_str().unwrap();
    let out = pybun(&ctx, &ctx.project_dir, &["--format", "json", "test"], &[("PYBUN_ENV", peers_env)]);
    let document = json(&out);
    let mut got: Vec<(String, String)> = document["result"]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t["outcome"].as_str().unwrap().to_string()))
        .collect();
    got.sort();
    let expected: Vec<(String, String)> = [
        ("tests/test_compound.py::test_inside", "passed"),
        ("tests/test_native.py::test_native", "passed"),
        ("tests/test_params.py::test_n[1]", "passed"),
        ("tests/test_params.py::test_n[2]", "passed"),
        ("tests/test_params.py::test_n[3]", "failed"),
        ("tests/test_params.py::test_plain", "passed"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
    .collect();
    assert_eq!(got, expected, "{out}");
    assert_eq!(out.code, Some(1), "{out}");
}

#[test]
fn a_suite_with_a_hook_runs_under_pytest_with_the_reason_shown() {
    let ctx = TestContext::new();
    let dir = suite(&ctx);
    ctx.write_file("tests/conftest.py", "def pytest_collection_modifyitems(items):\n    pass\n");
    let out = pybun(&ctx, &dir, &["--format", "json", "test", "--collect-only", "--pytest-compat"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let document = json(&out);
    let compat = document["result"]["pytest_compat"].as_array().unwrap();
    assert!(
        compat.iter().any(|c| c["file"] == "tests/conftest.py" && c["line"] == 1),
        "the hook's file and line: {out}"
    );
    assert!(document["result"]["planned"].as_array().unwrap().iter().all(|t| t["engine"] == "pytest"), "{out}");
    let text = pybun(&ctx, &dir, &["test", "--collect-only", "--pytest-compat"], &[]);
    assert!(text.stderr.contains("tests/conftest.py:1: runs under pytest"), "{text}");
}

/// `--watch` on warm workers: an edited test file reruns its tests, an edited
/// helper module the tests that import it (with its new code), a conftest
/// everything under it; each rerun prints its timing line.
#[test]
fn watch_reruns_the_affected_tests() {
    use std::io::BufRead as _;
    let ctx = TestContext::new();
    ctx.write_pyproject(SUITE_PYPROJECT);
    ctx.write_file("tests/helper.py", "def value():\n    return 1\n");
    ctx.write_file("tests/test_uses.py", "from helper import value\n\ndef test_value():\n    assert value() == 1\n");
    ctx.write_file("tests/test_other.py", "def test_other_one():\n    pass\n\ndef test_other_two():\n    pass\n");
    ctx.write_file("tests/conftest.py", "");
    let mut command = pybun_command(&ctx, &ctx.project_dir);
    command.args(["test", "--watch"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut seen = String::new();
        while std::time::Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(needle) {
                    return seen;
                }
            }
        }
        panic!("`{needle}` never appeared:\n{seen}");
    };
    let first = wait_for("Watching for changes");
    assert!(first.contains("3 passed"), "{first}");
    // A helper module: only the test file importing it reruns, with the new code.
    ctx.write_file("tests/helper.py", "def value():\n    return 2\n");
    let second = wait_for("Watching for changes");
    assert!(second.contains("1 failed, 2 deselected"), "{second}");
    assert!(second.contains("assert 2 == 1"), "{second}");
    assert!(second.contains("re-ran 1 test in "), "{second}");
    // A test file: its tests.
    ctx.write_file("tests/test_other.py", "def test_other_one():\n    assert 1 == 2\n");
    let third = wait_for("Watching for changes");
    assert!(third.contains("1 failed, 1 deselected"), "{third}");
    assert!(third.contains("test_other.py::test_other_one"), "{third}");
    // A conftest: everything under it.
    ctx.write_file("tests/conftest.py", "# changed\n");
    let fourth = wait_for("Watching for changes");
    assert!(fourth.contains("2 failed in"), "{fourth}");
    assert!(fourth.contains("re-ran 2 tests in "), "{fourth}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A pytest plugin writing each test's outcome, named as pybun names them, to `$PYBUN_OUTCOMES`.
const OUTCOME_PLUGIN: &str = r#"
import json, os
_outcomes = {}
def pytest_runtest_logreport(report):
    if type(report).__name__ != "TestReport":
        return
    wasxfail = getattr(report, "wasxfail", None)
    current = _outcomes.get(report.nodeid, "passed")
    if report.when == "setup":
        if report.failed:
            current = "error"
        elif report.skipped:
            current = "xfailed" if wasxfail is not None else "skipped"
    elif report.when == "call":
        if report.passed:
            current = "xpassed" if wasxfail is not None else current
        elif report.skipped:
            current = "xfailed" if wasxfail is not None else "skipped"
        else:
            current = "failed"
    elif report.when == "teardown" and report.failed and current in ("passed", "skipped", "xfailed", "xpassed"):
        current = "error"
    _outcomes[report.nodeid] = current
def pytest_sessionfinish(session):
    with open(os.environ["PYBUN_OUTCOMES"], "w") as f:
        json.dump(_outcomes, f)
"#;

/// Every fixture suite gives the same per-test outcomes under `pybun test`
/// (engine auto) as under real pytest (the worker's suite without its
/// crashing module, which would kill pytest itself; the discovery cases).
#[test]
fn fixture_suites_give_pytests_outcomes() {
    let Some(peers) = peers_with_pytest() else { return };
    let ctx = TestContext::new();
    let plugin_dir = ctx.temp.path().join("plugin");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::fs::write(plugin_dir.join("pybun_outcomes.py"), OUTCOME_PLUGIN).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cases: Vec<(String, PathBuf)> = vec![("worker suite".into(), root.join("adapters/pybun-test-worker/tests/suite"))];
    // (`modern` needs Python 3.12+ syntax; the pytest here runs on 3.11.)
    for case in ["basic", "parametrize", "marks", "conftest_hooks", "config_pytest_ini", "dynamic_ids", "dynamic_global"] {
        cases.push((case.into(), root.join("fixtures/testing").join(case)));
    }
    // A conftest `pytest_ignore_collect`, which the native engine asks.
    cases.push(("ignore hook".into(), root.join("adapters/pybun-test-worker/tests/ignore_hook")));
    for (name, source) in cases {
        assert!(source.is_dir(), "{}", source.display());
        let dir = ctx.temp.path().join("outcomes").join(name.replace(' ', "_"));
        copy_dir(&source, &dir);
        let _ = std::fs::remove_file(dir.join("test_crash.py"));
        let _ = std::fs::remove_file(dir.join("expected.txt"));
        let ours = pybun(&ctx, &dir, &["--format", "json", "test"], &[("PYBUN_ENV", peers.to_str().unwrap())]);
        let document = json(&ours);
        let got: std::collections::BTreeMap<String, String> = document["result"]["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_str().unwrap().to_string(), t["outcome"].as_str().unwrap().to_string()))
            .collect();
        let outcomes = dir.join(".outcomes.json");
        let status = Command::new(peers.join("bin/python"))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pybun_outcomes"])
            .current_dir(&dir)
            .env("PYTHONPATH", &plugin_dir)
            .env("PYBUN_OUTCOMES", &outcomes)
            .env("PYBUN_SUITE_MARKER", "1")
            .output()
            .unwrap();
        let expected: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&std::fs::read_to_string(&outcomes).unwrap_or_else(|e| panic!("{name}: {e}: {status:?}"))).unwrap();
        assert_eq!(got, expected, "{name}: pybun (left) vs pytest (right)\n{ours}");
    }
}

/// pytest installed into the project's own environment from a local
/// wheelhouse (`just e2e-test-pytest` downloads pytest's wheels once; the
/// local test index serves nothing else): `pybun test` syncs the environment,
/// finds pytest there, and runs a suite with a conftest hook under the pytest
/// engine with pytest's outcomes. Skipped (saying so) without the wheelhouse.
#[test]
fn pytest_from_a_wheelhouse_in_the_project_environment() {
    let Some(wheelhouse) = pybun_testkit::dir_from_env(
        "PYBUN_TEST_PYTEST_WHEELHOUSE",
        "a directory with pytest's wheels",
        "e2e-test-pytest",
    ) else {
        return;
    };
    let server = pybun_testkit::IndexServer::start(pybun_testkit::Universe::default());
    let ctx = TestContext::new();
    ctx.write_pyproject("[project]\nname = \"suite\"\nversion = \"0.1.0\"\nrequires-python = \">=3.10\"\ndependencies = [\"pytest\"]\n");
    ctx.write_file("tests/conftest.py", "def pytest_collection_modifyitems(items):\n    pass\n");
    ctx.write_file("tests/test_a.py", "import pytest\n\ndef test_ok():\n    pass\n\ndef test_bad():\n    with pytest.raises(ValueError):\n        pass\n");
    let links = wheelhouse.to_str().unwrap().to_string();
    let index = server.url();
    let out = pybun(
        &ctx,
        &ctx.project_dir,
        &["--format", "json", "--index-url", &index, "--find-links", &links, "test", "--pytest-compat"],
        &[],
    );
    let document = json(&out);
    let result = &document["result"];
    assert!(result["planned"].as_array().is_some_and(|p| p.iter().all(|t| t["engine"] == "pytest")), "{out}");
    let outcomes: Vec<(String, String)> = result["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t["outcome"].as_str().unwrap().to_string()))
        .collect();
    assert!(outcomes.contains(&("tests/test_a.py::test_ok".into(), "passed".into())), "{out}");
    assert!(outcomes.contains(&("tests/test_a.py::test_bad".into(), "failed".into())), "{out}");
    assert!(ctx.project_dir.join(".venv/lib").read_dir().unwrap().any(|lib| lib.unwrap().path().join("site-packages/pytest").is_dir()), "pytest is in the project's .venv");
}

/// `--watch --format json`: one `pybun test --format json` document per run,
/// one per line; reruns carry a `watch` object (changed files, milliseconds).
#[test]
fn watch_in_json_prints_one_document_per_run() {
    use std::io::BufRead as _;
    let ctx = TestContext::new();
    ctx.write_pyproject(SUITE_PYPROJECT);
    ctx.write_file("tests/test_one.py", "def test_one():\n    pass\n");
    let mut command = pybun_command(&ctx, &ctx.project_dir);
    command.args(["--format", "json", "test", "--watch"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || -> Value {
        let line = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("a JSON line");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let first = next();
    assert_eq!(first["command"], "test", "{first}");
    assert_eq!(first["result"]["summary"]["passed"], 1, "{first}");
    assert!(first["result"].get("watch").is_none(), "{first}");
    ctx.write_file("tests/test_one.py", "def test_one():\n    assert 1 == 2\n");
    let second = next();
    assert_eq!(second["result"]["summary"]["failed"], 1, "{second}");
    let changed = second["result"]["watch"]["changed"].as_array().unwrap();
    assert!(changed.iter().any(|p| p.as_str().unwrap().ends_with("tests/test_one.py")), "{second}");
    assert!(second["result"]["watch"]["milliseconds"].as_u64().is_some(), "{second}");
    let _ = child.kill();
    let _ = child.wait();
}

/// The bytecode of the project's modules is kept in PyBun's cache, never
/// beside the sources, and honours `PYTHONDONTWRITEBYTECODE` as Python's
/// import system does; the cached bytecode is checked against the source's
/// hash, so an edit that keeps the file's size within the same second runs.
#[test]
fn project_bytecode_is_cached_unless_python_is_told_not_to() {
    let ctx = TestContext::new();
    ctx.write_pyproject(SUITE_PYPROJECT);
    ctx.write_file("tests/test_bc.py", "def test_value():\n    assert 1 == 1\n");
    let dir = ctx.project_dir.clone();
    let bytecode_dir = ctx.cache_dir.join("test-bytecode-v1");
    let cached = || -> Vec<PathBuf> {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.to_string_lossy().contains("test_bc.py") {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&bytecode_dir, &mut found);
        found
    };
    let run = |write_bytecode: bool| -> Run {
        let mut command = pybun_command(&ctx, &dir);
        if write_bytecode {
            command.env_remove("PYTHONDONTWRITEBYTECODE");
        } else {
            command.env("PYTHONDONTWRITEBYTECODE", "1");
        }
        output(command.args(["test", "-q"]))
    };

    let out = run(false);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(cached().is_empty(), "nothing written under PYTHONDONTWRITEBYTECODE: {:?}", cached());

    let out = run(true);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(cached().len(), 1, "the module's bytecode is kept in the cache: {:?}", cached());
    assert!(!dir.join("tests/__pycache__").exists(), "nothing beside the sources");

    // Same size, same second: the hash check still sees the edit.
    ctx.write_file("tests/test_bc.py", "def test_value():\n    assert 1 == 2\n");
    let out = run(true);
    assert_eq!(out.code, Some(1), "the edited test runs, not stale bytecode\n{out}");
    let out = run(false);
    assert_eq!(out.code, Some(1), "{out}");
}

/// `/tmp/peers` when it has pytest (the competitors' venv the benches use);
/// else says why the calling test is skipped.
#[expect(clippy::print_stderr, reason = "says why the test is skipped")]
fn peers_with_pytest() -> Option<&'static Path> {
    let peers = Path::new("/tmp/peers");
    if peers.join("bin/pytest").exists() {
        return Some(peers);
    }
    eprintln!("skipped: no pytest at /tmp/peers (`python3 -m venv /tmp/peers && /tmp/peers/bin/pip install pytest`)");
    None
}

/// A test environment with `/tmp/peers`' packages (pytest, pytest-xdist…)
/// linked into its own site-packages, as if installed there. Returns the
/// environment and its site-packages, or `None` (saying why) without pytest.
#[expect(clippy::print_stderr, reason = "says why the test is skipped")]
fn environment_with_peers_pytest(ctx: &TestContext) -> Option<(PathBuf, PathBuf)> {
    let peers = Path::new("/tmp/peers");
    let peers_site = std::fs::read_dir(peers.join("lib")).ok()?.flatten().map(|e| e.path().join("site-packages")).find(|p| p.join("pytest").is_dir());
    let Some(peers_site) = peers_site else {
        eprintln!("skipped: no pytest at /tmp/peers (`python3 -m venv /tmp/peers && /tmp/peers/bin/pip install pytest pytest-xdist`)");
        return None;
    };
    let env = ctx.temp.path().join("env");
    let status = Command::new(peers.join("bin/python")).args(["-m", "venv", "--without-pip"]).arg(&env).status().unwrap();
    assert!(status.success());
    let site = env.join("lib").join(peers_site.parent().unwrap().file_name().unwrap()).join("site-packages");
    for entry in std::fs::read_dir(&peers_site).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if ["pip", "setuptools", "_distutils_hack", "distutils-precedence.pth", "__pycache__", "pkg_resources"].iter().any(|skip| name.starts_with(skip)) {
            continue;
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(entry.path(), site.join(&name)).unwrap();
    }
    Some((env, site))
}

/// pytest's own per-test outcomes (through [`OUTCOME_PLUGIN`]) in `dir`
/// with the environment's interpreter.
fn pytest_outcomes(ctx: &TestContext, env: &Path, dir: &Path, envs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    let plugin_dir = ctx.temp.path().join("outcome-plugin");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::fs::write(plugin_dir.join("pybun_outcomes.py"), OUTCOME_PLUGIN).unwrap();
    let outcomes = ctx.temp.path().join("outcomes.json");
    let status = Command::new(env.join("bin/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pybun_outcomes"])
        .current_dir(dir)
        .env("PYTHONPATH", &plugin_dir)
        .env("PYBUN_OUTCOMES", &outcomes)
        .env_remove("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        .env_remove("PYTEST_ADDOPTS")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    serde_json::from_str(&std::fs::read_to_string(&outcomes).unwrap_or_else(|e| panic!("{e}: {status:?}"))).unwrap()
}

/// `pybun test --format json`'s outcomes and engines: `(id → outcome, engines used)`.
fn outcomes_and_engines(out: &Run) -> (std::collections::BTreeMap<String, String>, std::collections::BTreeSet<String>) {
    let document = json(out);
    let outcomes = document["result"]["tests"]
        .as_array()
        .unwrap_or_else(|| panic!("{out}"))
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t["outcome"].as_str().unwrap().to_string()))
        .collect();
    let engines = document["result"]["planned"].as_array().unwrap().iter().map(|t| t["engine"].as_str().unwrap().to_string()).collect();
    (outcomes, engines)
}

/// A pytest plugin installed in the environment (a distribution with a
/// `[pytest11]` entry point, which pytest loads by itself) sends the suite
/// to the pytest engine, with the entry point's file and line as the reason
/// (`--pytest-compat`, text and JSON), and the outcomes are pytest's; a
/// plugin known to change nothing (pytest-xdist) does not;
/// `PYTEST_DISABLE_PLUGIN_AUTOLOAD` and `-p no:NAME` in addopts bring the
/// native engine back, with pytest's outcomes under the same setting.
#[test]
fn an_installed_pytest_plugin_sends_the_suite_to_the_pytest_engine() {
    let ctx = TestContext::new();
    let Some((env, site)) = environment_with_peers_pytest(&ctx) else { return };
    assert!(site.join("xdist").exists(), "pytest-xdist is installed at /tmp/peers");
    ctx.write_pyproject(SUITE_PYPROJECT);
    ctx.write_file("tests/test_a.py", "def test_fast():\n    pass\n\ndef test_slow():\n    assert False\n");
    let dir = ctx.project_dir.clone();
    let env_var = [("PYBUN_ENV", env.to_str().unwrap())];
    let engines = |names: &[&str]| names.iter().map(|s| (*s).to_string()).collect::<std::collections::BTreeSet<String>>();

    // pytest and pytest-xdist: the native engine, nothing to explain.
    let out = pybun(&ctx, &dir, &["--format", "json", "test", "--pytest-compat"], &env_var);
    let (outcomes, used) = outcomes_and_engines(&out);
    assert_eq!(used, engines(&["native"]), "{out}");
    assert_eq!(json(&out)["result"]["pytest_compat"], serde_json::json!([]), "{out}");
    assert_eq!(outcomes, pytest_outcomes(&ctx, &env, &dir, &[]), "{out}");

    // A plugin that skips the slow tests.
    let dist_info = site.join("pytest_skipper-1.0.dist-info");
    std::fs::create_dir_all(&dist_info).unwrap();
    std::fs::write(dist_info.join("METADATA"), "Metadata-Version: 2.1\nName: pytest-skipper\nVersion: 1.0\n").unwrap();
    std::fs::write(dist_info.join("entry_points.txt"), "[pytest11]\nskipper = pybun_skipper\n").unwrap();
    std::fs::write(
        site.join("pybun_skipper.py"),
        "import pytest\n\ndef pytest_runtest_setup(item):\n    if 'slow' in item.name:\n        pytest.skip('skipped by the plugin')\n",
    )
    .unwrap();
    let out = pybun(&ctx, &dir, &["--format", "json", "test", "--pytest-compat"], &env_var);
    let (outcomes, used) = outcomes_and_engines(&out);
    assert_eq!(used, engines(&["pytest"]), "{out}");
    let expected = pytest_outcomes(&ctx, &env, &dir, &[]);
    assert_eq!(expected.get("tests/test_a.py::test_slow").map(String::as_str), Some("skipped"), "the plugin acts under pytest");
    assert_eq!(outcomes, expected, "{out}");
    let document = json(&out);
    let compat = document["result"]["pytest_compat"].as_array().unwrap();
    let entry_points = dist_info.join("entry_points.txt");
    assert!(
        compat.iter().any(|c| c["file"] == entry_points.to_str().unwrap()
            && c["line"] == 2
            && c["reason"].as_str().unwrap().contains("`skipper` (`pybun_skipper`) of pytest-skipper 1.0")),
        "{out}"
    );
    let text = pybun(&ctx, &dir, &["test", "--pytest-compat"], &env_var);
    assert_eq!(text.code, Some(0), "{text}");
    assert!(text.stderr.contains(&format!("{}:2: runs under pytest: pytest autoloads the plugin `skipper`", entry_points.display())), "{text}");
    assert!(text.stderr.contains("1 passed, 1 skipped"), "{text}");

    // Autoloading off: native again, as pytest's outcomes are then.
    let off = [("PYBUN_ENV", env.to_str().unwrap()), ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")];
    let out = pybun(&ctx, &dir, &["--format", "json", "test", "--pytest-compat"], &off);
    let (outcomes, used) = outcomes_and_engines(&out);
    assert_eq!(used, engines(&["native"]), "{out}");
    assert_eq!(json(&out)["result"]["pytest_compat"], serde_json::json!([]), "{out}");
    assert_eq!(outcomes, pytest_outcomes(&ctx, &env, &dir, &off[1..]), "{out}");
    assert_eq!(outcomes.get("tests/test_a.py::test_slow").map(String::as_str), Some("failed"), "{out}");

    // `-p no:skipper` in addopts: the plugin is blocked, native again.
    ctx.write_pyproject(&format!("{SUITE_PYPROJECT}addopts = \"-p no:skipper\"\n"));
    let out = pybun(&ctx, &dir, &["--format", "json", "test"], &env_var);
    let (outcomes, used) = outcomes_and_engines(&out);
    assert_eq!(used, engines(&["native"]), "{out}");
    assert_eq!(outcomes, pytest_outcomes(&ctx, &env, &dir, &[]), "{out}");

    // An entry_points.txt pytest cannot read: a warning at its line (the run goes on).
    let broken = site.join("broken-1.0.dist-info");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("entry_points.txt"), "[pytest11]\nno equals sign\n").unwrap();
    let text = pybun(&ctx, &dir, &["test"], &env_var);
    assert!(text.stderr.contains("PB0703"), "{text}");
    assert!(text.stderr.contains(&format!("{}:2: `no equals sign` is not `name = value`", broken.join("entry_points.txt").display())), "{text}");
}

/// Files pytest leaves out (a conftest's `collect_ignore` and
/// `collect_ignore_glob`, literal or computed, `--ignore` / `--ignore-glob` in addopts, a
/// conftest's `pytest_ignore_collect`, also for a module that runs under
/// pytest) are neither run nor counted in a plain run, as under pytest; a
/// path naming an ignored file runs it, as pytest does.
#[test]
fn files_pytest_ignores_are_not_run_or_counted() {
    let Some(peers) = peers_with_pytest() else { return };
    let ctx = TestContext::new();
    ctx.write_pyproject(&format!("{SUITE_PYPROJECT}addopts = \"--ignore=tests/skipped_dir --ignore-glob=*_old.py\"\n"));
    ctx.write_file("tests/conftest.py", "collect_ignore = [\"test_listed.py\"]\ncollect_ignore_glob = [\"*_glob.py\"]\n");
    ctx.write_file("tests/test_kept.py", "def test_kept():\n    pass\n");
    for file in ["tests/test_listed.py", "tests/test_by_glob.py", "tests/skipped_dir/test_a.py", "tests/deep/test_b_old.py"] {
        ctx.write_file(file, "def test_ignored():\n    assert False\n");
    }
    ctx.write_file("tests/deep/test_c.py", "def test_c():\n    pass\n");
    // A list only pytest can tell (built at import time): pytest collects the directory.
    ctx.write_file(
        "computed/conftest.py",
        "import sys\n\ncollect_ignore = []\nif sys.version_info >= (3,):\n    collect_ignore.append('test_computed.py')\n",
    );
    ctx.write_file("computed/test_computed.py", "def test_ignored():\n    assert False\n");
    ctx.write_file("computed/test_d.py", "def test_d():\n    pass\n");
    // A hook that ignores `*_py2.py`, on a native module and on one pytest runs.
    ctx.write_file(
        "hooked/conftest.py",
        "def pytest_ignore_collect(collection_path, config):\n    return True if collection_path.name.endswith('_py2.py') else None\n",
    );
    ctx.write_file("hooked/test_native_py2.py", "def test_n():\n    assert False\n");
    ctx.write_file("hooked/test_generated_py2.py", "def pytest_generate_tests(metafunc):\n    pass\n\ndef test_g():\n    assert False\n");
    ctx.write_file("hooked/test_ok_py3.py", "def test_ok():\n    pass\n");
    let dir = ctx.project_dir.clone();
    let env_var = [("PYBUN_ENV", peers.to_str().unwrap())];
    let expected = pytest_outcomes(&ctx, peers, &dir, &[]);
    assert_eq!(expected.len(), 4, "{expected:?}");

    let out = pybun(&ctx, &dir, &["--format", "json", "test"], &env_var);
    let (outcomes, _) = outcomes_and_engines(&out);
    assert_eq!(outcomes, expected, "{out}");
    let document = json(&out);
    let result = &document["result"];
    assert_eq!((result["collected"].as_u64(), result["selected"].as_u64(), result["deselected"].as_u64()), (Some(4), Some(4), Some(0)), "{out}");
    assert_eq!(result["summary"]["stopped_early"], false, "{out}");
    assert_eq!(out.code, Some(0), "{out}");
    let listed = pybun(&ctx, &dir, &["test", "--collect-only"], &env_var);
    let mut ids: Vec<&str> = listed.stdout.lines().filter(|l| l.contains("::")).collect();
    ids.sort_unstable();
    assert_eq!(ids, expected.keys().map(String::as_str).collect::<Vec<_>>(), "{listed}");

    // Named on the command line, an ignored file runs (pytest never ignores its arguments).
    let out = pybun(&ctx, &dir, &["--format", "json", "test", "tests/test_listed.py", "tests/skipped_dir"], &env_var);
    let (outcomes, _) = outcomes_and_engines(&out);
    let named: Vec<&str> = outcomes.keys().map(String::as_str).collect();
    assert_eq!(named, ["tests/skipped_dir/test_a.py::test_ignored", "tests/test_listed.py::test_ignored"], "{out}");
}

/// `pybun test` without `CI` (the snapshot fixture writes missing entries only then).
fn pybun_outside_ci(ctx: &TestContext, dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut command = pybun_command(ctx, dir);
    command.env_remove("CI").envs(envs.iter().copied()).args(args);
    output(&mut command)
}

const SNAPSHOT_TESTS: &str = "def test_values(snapshot):\n    assert {'b': [1, 2], 'a': 'x'} == snapshot\n    assert 'hello' == snapshot\n\n\ndef test_other(snapshot):\n    assert 42 == snapshot\n";

/// The `snapshot` fixture: the file is written on the first run (exact
/// format), compared on the next, a change fails showing both sides,
/// `--update-snapshots` accepts it and removes obsolete entries (reported
/// without it), and under `CI` a missing snapshot fails.
#[test]
fn snapshots_are_written_compared_updated_and_pruned() {
    let ctx = TestContext::new();
    ctx.write_pyproject(SUITE_PYPROJECT);
    ctx.write_file("tests/test_snap.py", SNAPSHOT_TESTS);
    let dir = ctx.project_dir.clone();
    let snap = dir.join("tests/__snapshots__/test_snap.py.snap");

    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let first = "# pybun snapshot v1\n# name: tests/test_snap.py::test_other\n  42\n# ---\n# name: tests/test_snap.py::test_values\n  {'a': 'x', 'b': [1, 2]}\n# ---\n# name: tests/test_snap.py::test_values [1]\n  'hello'\n# ---\n";
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), first);
    assert_eq!(std::fs::read_dir(snap.parent().unwrap()).unwrap().count(), 1, "nothing but the .snap beside it");

    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(json(&out)["result"]["summary"]["passed"], 2, "{out}");

    // A changed value fails with both sides shown, and the file is kept.
    ctx.write_file("tests/test_snap.py", SNAPSHOT_TESTS.replace("'hello'", "'hellx'"));
    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test"], &[]);
    assert_eq!(out.code, Some(1), "{out}");
    let document = json(&out);
    let tests = document["result"]["tests"].as_array().unwrap();
    let failed = tests.iter().find(|t| t["id"] == "tests/test_snap.py::test_values").unwrap();
    assert!(failed["longrepr"].as_str().unwrap().contains("assert 'hellx' == 'hello'"), "{failed}");
    assert!(failed["longrepr"].as_str().unwrap().contains("Snapshot diff (- stored, + new):\nE     @@ -1 +1 @@\nE     -'hello'\nE     +'hellx'"), "{failed}");
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), first);

    // `--update-snapshots` accepts it.
    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test", "--update-snapshots"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let updated = first.replace("'hello'", "'hellx'");
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), updated);

    // A removed test's snapshot is obsolete: reported, then removed with `--update-snapshots`.
    ctx.write_file("tests/test_snap.py", "def test_values(snapshot):\n    assert {'b': [1, 2], 'a': 'x'} == snapshot\n    assert 'hellx' == snapshot\n");
    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let warnings = json(&out)["warnings"].clone();
    let obsolete: Vec<&Value> = warnings.as_array().unwrap().iter().filter(|w| w["code"] == "PB0704").collect();
    assert_eq!(obsolete.len(), 1, "{out}");
    assert!(obsolete[0]["message"].as_str().unwrap().contains("`tests/test_snap.py::test_other`"), "{out}");
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), updated);
    let text = pybun_outside_ci(&ctx, &dir, &["test"], &[]);
    assert!(text.stderr.contains("obsolete snapshot `tests/test_snap.py::test_other`"), "{text}");
    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test", "--update-snapshots"], &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(json(&out)["warnings"][0]["message"].as_str().unwrap().contains("removed"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&snap).unwrap(),
        "# pybun snapshot v1\n# name: tests/test_snap.py::test_values\n  {'a': 'x', 'b': [1, 2]}\n# ---\n# name: tests/test_snap.py::test_values [1]\n  'hellx'\n# ---\n"
    );

    // Under CI a missing snapshot fails and nothing is written.
    ctx.write_file("tests/test_new.py", "def test_new(snapshot):\n    assert [1] == snapshot\n");
    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test"], &[("CI", "1")]);
    assert_eq!(out.code, Some(1), "{out}");
    let document = json(&out);
    let failed = document["result"]["tests"].as_array().unwrap().iter().find(|t| t["id"] == "tests/test_new.py::test_new").unwrap().clone();
    assert!(failed["longrepr"].as_str().unwrap().contains("no snapshot `tests/test_new.py::test_new`"), "{failed}");
    assert!(!dir.join("tests/__snapshots__/test_new.py.snap").exists());

    // A malformed file: every problem a `PB0705` warning with its line, the
    // tests comparing against it fail, and it is left as it is.
    let malformed = "# pybun snapshot v1\n# name: tests/test_new.py::test_new\n[1]\n# ---\nstray\n";
    ctx.write_file("tests/__snapshots__/test_new.py.snap", malformed);
    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test", "--update-snapshots"], &[]);
    assert_eq!(out.code, Some(1), "{out}");
    let document = json(&out);
    let problems: Vec<&str> =
        document["warnings"].as_array().unwrap().iter().filter(|w| w["code"] == "PB0705").map(|w| w["message"].as_str().unwrap()).collect();
    assert_eq!(
        problems,
        [
            "tests/__snapshots__/test_new.py.snap:3: a value line is not indented by two spaces",
            "tests/__snapshots__/test_new.py.snap:5: a line outside any entry"
        ],
        "{out}"
    );
    let failed = document["result"]["tests"].as_array().unwrap().iter().find(|t| t["id"] == "tests/test_new.py::test_new").unwrap().clone();
    assert!(failed["longrepr"].as_str().unwrap().contains("test_new.py.snap:3: a value line is not indented by two spaces"), "{failed}");
    assert_eq!(std::fs::read_to_string(dir.join("tests/__snapshots__/test_new.py.snap")).unwrap(), malformed);
}

/// The pytest engine has the same `snapshot` fixture (same file, same keys).
#[test]
fn snapshots_under_the_pytest_engine() {
    let Some(peers) = peers_with_pytest() else { return };
    let ctx = TestContext::new();
    ctx.write_pyproject(SUITE_PYPROJECT);
    ctx.write_file("tests/test_snap.py", SNAPSHOT_TESTS);
    let dir = ctx.project_dir.clone();
    let snap = dir.join("tests/__snapshots__/test_snap.py.snap");
    let env_var = [("PYBUN_ENV", peers.to_str().unwrap())];
    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test", "--engine", "pytest"], &env_var);
    assert_eq!(out.code, Some(0), "{out}");
    let written = std::fs::read_to_string(&snap).unwrap();
    // The native engine agrees with what pytest's run wrote.
    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test", "--engine", "native"], &env_var);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), written);
    assert!(written.contains("# name: tests/test_snap.py::test_values [1]\n  'hello'\n"), "{written}");
    ctx.write_file("tests/test_snap.py", SNAPSHOT_TESTS.replace("42", "43"));
    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test", "--engine", "pytest"], &env_var);
    assert_eq!(out.code, Some(1), "{out}");
    let document = json(&out);
    let failed = document["result"]["tests"].as_array().unwrap().iter().find(|t| t["id"] == "tests/test_snap.py::test_other").unwrap().clone();
    assert!(failed["longrepr"].as_str().unwrap().contains("43 == 42"), "{failed}");
    let out = pybun_outside_ci(&ctx, &dir, &["--format", "json", "test", "--engine", "pytest", "--update-snapshots"], &env_var);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), written.replace("  42\n", "  43\n"));
}
