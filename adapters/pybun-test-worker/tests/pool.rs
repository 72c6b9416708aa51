//! Runs the fixture suite in `tests/suite` through real interpreters: the
//! native engine with `python3` (no pytest: the built-in shim), the native
//! engine with pytest installed (real pytest decorators), and the pytest
//! engine. Outcomes are the ones pytest 9 reports on the same suite.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use pybun_test_worker::{Batch, Engine, Outcome, TestResult, WorkerConfig, WorkerPool};

const EXPECTED: &[(&str, &str)] = &[
    (r"pkg/test_inpkg.py::test_relative_import", "passed"),
    (r"test_basic.py::test_pass", "passed"),
    (r"test_basic.py::test_fail_compare", "failed"),
    (r"test_basic.py::test_fail_message", "failed"),
    (r"test_basic.py::test_raises_other", "failed"),
    (r"test_basic.py::test_fixture_error", "error"),
    (r"test_basic.py::test_skip_mark", "skipped"),
    (r"test_basic.py::test_skipif_true", "skipped"),
    (r"test_basic.py::test_skipif_string_false", "passed"),
    (r"test_basic.py::test_skip_inside", "skipped"),
    (r"test_basic.py::test_xfail", "xfailed"),
    (r"test_basic.py::test_xpass", "xpassed"),
    (r"test_basic.py::test_xpass_strict", "failed"),
    (r"test_basic.py::test_xfail_wrong_exception", "failed"),
    (r"test_basic.py::test_raises_and_approx", "passed"),
    (r"test_basic.py::test_did_not_raise", "failed"),
    (r"test_basic.py::test_custom_marker", "passed"),
    (r"test_basic.py::TestClass::test_method", "passed"),
    (r"test_basic.py::TestClass::test_method_fails", "failed"),
    (r"test_crash.py::test_before_crash", "passed"),
    (r"test_crash.py::test_crash", "error"),
    (r"test_crash.py::test_after_crash", "passed"),
    (r"test_fixtures.py::test_teardown_order_first", "passed"),
    (r"test_fixtures.py::test_teardown_order_check", "passed"),
    (r"test_fixtures.py::test_scopes_a", "passed"),
    (r"test_fixtures.py::test_scopes_b", "passed"),
    (r"test_fixtures.py::test_override", "passed"),
    (r"test_fixtures.py::test_tmp_path", "passed"),
    (r"test_fixtures.py::test_monkeypatch_set", "passed"),
    (r"test_fixtures.py::test_monkeypatch_undone", "passed"),
    (r"test_fixtures.py::test_capsys", "passed"),
    (r"test_fixtures.py::test_capfd", "passed"),
    (r"test_fixtures.py::test_request_finalizer", "passed"),
    (r"test_fixtures.py::test_finalizer_ran", "passed"),
    (r"test_output.py::test_prints", "passed"),
    (r"test_output.py::test_prints_and_fails", "failed"),
    (r"test_params.py::test_double[1-2]", "passed"),
    (r"test_params.py::test_double[2-4]", "passed"),
    (r"test_params.py::test_double[3-7]", "failed"),
    (r"test_params.py::test_literals[a]", "passed"),
    (r"test_params.py::test_literals[b c]", "passed"),
    (r"test_params.py::test_literals[\xfc]", "passed"),
    (r"test_params.py::test_literals[]", "passed"),
    (r"test_params.py::test_literals[None]", "passed"),
    (r"test_params.py::test_literals[1.5]", "passed"),
    (r"test_params.py::test_literals[True]", "passed"),
    (r"test_params.py::test_stacked[p-0]", "passed"),
    (r"test_params.py::test_stacked[p-1]", "passed"),
    (r"test_params.py::test_stacked[q-0]", "passed"),
    (r"test_params.py::test_stacked[q-1]", "passed"),
    (r"test_params.py::test_duplicates[1_0]", "passed"),
    (r"test_params.py::test_duplicates[1_1]", "passed"),
    (r"test_params.py::test_duplicates[2]", "passed"),
    (r"test_params.py::test_param_objects[one]", "passed"),
    (r"test_params.py::test_param_objects[2]", "xfailed"),
    (r"test_params.py::test_ids_list[ten]", "passed"),
    (r"test_params.py::test_ids_list[twenty]", "passed"),
    (r"test_params.py::test_object_value[v0]", "passed"),
    (r"test_params.py::test_fixture_param[1]", "passed"),
    (r"test_params.py::test_fixture_param[2]", "passed"),
    (r"test_unit.py::TestUnit::test_error", "failed"),
    (r"test_unit.py::TestUnit::test_expected_failure", "xfailed"),
    (r"test_unit.py::TestUnit::test_fail", "failed"),
    (r"test_unit.py::TestUnit::test_ok", "passed"),
    (r"test_unit.py::TestUnit::test_skip", "skipped"),
];

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite")
}

fn python3() -> PathBuf {
    PathBuf::from(std::env::var_os("PYBUN_TEST_PYTHON").unwrap_or_else(|| "python3".into()))
}

/// An interpreter with pytest, or `None` (the test is then skipped, saying why).
#[allow(clippy::print_stderr)]
fn pytest_python() -> Option<PathBuf> {
    let candidate = std::env::var_os("PYBUN_TEST_PYTEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/peers/bin/python"));
    let ok = Command::new(&candidate)
        .args(["-c", "import pytest"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "SKIPPED: no Python with pytest at {} (create it with `python3 -m venv /tmp/peers && /tmp/peers/bin/pip install pytest`, or set PYBUN_TEST_PYTEST_PYTHON)",
            candidate.display()
        );
        return None;
    }
    Some(candidate)
}

fn outcome(name: &str) -> Outcome {
    match name {
        "passed" => Outcome::Passed,
        "failed" => Outcome::Failed,
        "skipped" => Outcome::Skipped,
        "xfailed" => Outcome::XFailed,
        "xpassed" => Outcome::XPassed,
        "error" => Outcome::Error,
        other => panic!("unknown outcome {other}"),
    }
}

/// One batch per file, largest first (as the scheduler orders them).
fn batches(ids: &[&str], engine: Engine) -> Vec<Batch> {
    let mut by_file: Vec<(String, Vec<String>)> = Vec::new();
    for id in ids {
        let file = id.split("::").next().unwrap().to_string();
        match by_file.iter_mut().find(|(f, _)| *f == file) {
            Some((_, v)) => v.push((*id).to_string()),
            None => by_file.push((file, vec![(*id).to_string()])),
        }
    }
    by_file.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    by_file
        .into_iter()
        .map(|(_, ids)| Batch { ids, engine })
        .collect()
}

fn run(python: PathBuf, batches: Vec<Batch>) -> HashMap<String, TestResult> {
    let mut pool = WorkerPool::start(WorkerConfig {
        python,
        rootdir: suite(),
        workers: 2,
        env: vec![("PYBUN_SUITE_MARKER".into(), "1".into())],
    })
    .expect("start workers");
    assert_eq!(pool.size(), 2);
    let results: Mutex<Vec<TestResult>> = Mutex::new(Vec::new());
    pool.run(batches, &|r| results.lock().unwrap().push(r))
        .expect("run");
    pool.shutdown();
    let mut map = HashMap::new();
    for r in results.into_inner().unwrap() {
        let id = r.id.clone();
        assert!(map.insert(id.clone(), r).is_none(), "{id} reported twice");
    }
    map
}

fn check_suite(results: &HashMap<String, TestResult>, engine: &str) {
    let mut problems = Vec::new();
    for (id, want) in EXPECTED {
        match results.get(*id) {
            None => problems.push(format!("{id}: no result")),
            Some(r) if r.outcome != outcome(want) => problems.push(format!(
                "{id}: expected {want}, got {} ({})\n{}",
                r.outcome.as_str(),
                r.message,
                r.longrepr
            )),
            Some(_) => {}
        }
    }
    assert_eq!(
        results.len(),
        EXPECTED.len(),
        "[{engine}] extra results: {:?}",
        results.keys()
    );
    assert!(
        problems.is_empty(),
        "[{engine}] outcome mismatches:\n{}",
        problems.join("\n")
    );

    let get = |id: &str| &results[id];
    // readable assertion failures: both values
    let r = get("test_basic.py::test_fail_compare");
    assert_eq!(r.message, "assert 1 == 2", "[{engine}]");
    assert!(
        r.longrepr.contains("E       assert 1 == 2") || r.longrepr.contains("E   assert 1 == 2"),
        "[{engine}] {}",
        r.longrepr
    );
    assert!(
        r.longrepr.contains("assert a == b"),
        "[{engine}] source line: {}",
        r.longrepr
    );
    assert!(
        get("test_basic.py::TestClass::test_method_fails")
            .message
            .starts_with("assert 41 == 0")
    );
    assert!(
        get("test_basic.py::test_fail_message")
            .message
            .contains("lists differ")
    );
    assert!(
        get("test_basic.py::test_fixture_error")
            .message
            .contains("RuntimeError: fixture exploded")
    );
    assert_eq!(
        get("test_basic.py::test_did_not_raise").message,
        "Failed: DID NOT RAISE ValueError"
    );
    assert_eq!(get("test_basic.py::test_skip_mark").message, "not today");
    assert_eq!(get("test_basic.py::test_xfail").message, "known bug");
    assert!(
        get("test_basic.py::test_xpass_strict")
            .message
            .contains("[XPASS(strict)] strict")
    );
    assert!(
        get("test_unit.py::TestUnit::test_fail")
            .message
            .contains("1 != 2"),
        "[{engine}]"
    );
    // output is captured per test and never corrupts the protocol
    let p = get("test_output.py::test_prints");
    assert!(
        p.stdout.contains("{\"done\": true}\n"),
        "[{engine}] {:?}",
        p.stdout
    );
    assert!(
        p.stdout.contains("raw fd write"),
        "[{engine}] {:?}",
        p.stdout
    );
    assert!(
        p.stdout.contains("from a child"),
        "[{engine}] {:?}",
        p.stdout
    );
    assert_eq!(p.stderr, "some stderr\n", "[{engine}]");
    assert!(
        get("test_output.py::test_prints_and_fails")
            .stdout
            .contains("context for the failure")
    );
    // capsys swallowed what it read
    assert!(
        !get("test_fixtures.py::test_capsys")
            .stdout
            .contains("to stdout"),
        "[{engine}]"
    );
    // the crash: reported with its exit status, the worker restarted, the rest of the batch run
    let c = get("test_crash.py::test_crash");
    assert!(
        c.message.contains("exit code 3"),
        "[{engine}] {}",
        c.message
    );
    if engine.starts_with("native") {
        assert!(
            c.stdout.contains("about to die"),
            "[{engine}] {:?}",
            c.stdout
        );
    }
    assert!(results.values().all(|r| r.duration >= 0.0));
}

#[test]
fn native_engine_without_pytest() {
    let ids: Vec<&str> = EXPECTED.iter().map(|(id, _)| *id).collect();
    let results = run(python3(), batches(&ids, Engine::Native));
    check_suite(&results, "native/shim");
}

#[test]
fn native_engine_with_real_pytest_decorators() {
    let Some(python) = pytest_python() else {
        return;
    };
    let ids: Vec<&str> = EXPECTED.iter().map(|(id, _)| *id).collect();
    let results = run(python, batches(&ids, Engine::Native));
    check_suite(&results, "native/pytest");
}

#[test]
fn pytest_engine() {
    let Some(python) = pytest_python() else {
        return;
    };
    let ids: Vec<&str> = EXPECTED.iter().map(|(id, _)| *id).collect();
    let results = run(python, batches(&ids, Engine::Pytest));
    check_suite(&results, "pytest");
}

#[test]
fn unmatched_ids_ask_for_the_pytest_engine() {
    let ids = [
        "test_params.py::test_double[9-9]",
        "test_basic.py::test_does_not_exist",
        "test_basic.py::test_pass",
    ];
    let results = run(python3(), batches(&ids, Engine::Native));
    let r = &results["test_params.py::test_double[9-9]"];
    assert_eq!(r.outcome, Outcome::Error);
    assert_eq!(r.message, "native-engine: cannot match id");
    assert!(r.needs_fallback());
    assert!(results["test_basic.py::test_does_not_exist"].needs_fallback());
    assert_eq!(results["test_basic.py::test_pass"].outcome, Outcome::Passed);
    assert!(!results["test_basic.py::test_pass"].needs_fallback());
}

#[test]
fn pytest_engine_without_pytest_reports_errors() {
    let results = run(
        python3(),
        vec![Batch {
            ids: vec!["test_basic.py::test_pass".into()],
            engine: Engine::Pytest,
        }],
    );
    let r = &results["test_basic.py::test_pass"];
    assert_eq!(r.outcome, Outcome::Error);
    assert!(
        r.message.contains("pytest is not installed"),
        "{}",
        r.message
    );
}

#[test]
fn repeated_crashes_each_cost_one_test() {
    let ids = vec![
        "test_crash.py::test_crash".to_string(),
        "test_crash.py::test_crash".to_string(),
        "test_crash.py::test_after_crash".to_string(),
    ];
    // Same id twice in one batch: the first crash is reported, the duplicate is dropped with it,
    // and the remaining test still runs on the restarted worker.
    let results = run(
        python3(),
        vec![Batch {
            ids,
            engine: Engine::Native,
        }],
    );
    assert_eq!(results["test_crash.py::test_crash"].outcome, Outcome::Error);
    assert_eq!(
        results["test_crash.py::test_after_crash"].outcome,
        Outcome::Passed
    );
}

#[test]
fn bad_interpreter_is_an_error() {
    let err = WorkerPool::start(WorkerConfig {
        python: PathBuf::from("/nonexistent/python3"),
        rootdir: suite(),
        workers: 1,
        env: vec![],
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("cannot start test worker"),
        "{err}"
    );
}

#[test]
fn worker_info_reports_versions() {
    let pool = WorkerPool::start(WorkerConfig {
        python: python3(),
        rootdir: suite(),
        workers: 1,
        env: vec![],
    })
    .unwrap();
    assert!(pool.info().python_version.starts_with("3."));
    pool.shutdown();
}

#[test]
fn port_runner_falls_back_to_pytest_and_stops_early() {
    use pybun_ports::{RunnerConfig, TestBatch, TestEngine, TestOutcomeKind, TestRunner};
    use pybun_test_worker::PoolTestRunner;
    let Some(python) = pytest_python() else {
        return;
    };
    let config = RunnerConfig {
        python,
        rootdir: suite(),
        workers: 2,
        env: vec![],
    };
    // `test_double[9-9]` does not exist: the native engine cannot match it and asks for
    // pytest, which then reports it (not found) itself.
    let seen: Mutex<Vec<pybun_ports::TestResult>> = Mutex::new(Vec::new());
    let batches = vec![TestBatch {
        ids: vec![
            "test_params.py::test_double[9-9]".into(),
            "test_basic.py::test_pass".into(),
        ],
        engine: TestEngine::Native,
    }];
    PoolTestRunner::new()
        .run(&config, batches, &|r| {
            seen.lock().unwrap().push(r);
            true
        })
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let bad = seen.iter().find(|r| r.id.contains("9-9")).unwrap();
    assert_eq!(bad.outcome, TestOutcomeKind::Error);
    assert!(
        bad.message.starts_with("pytest engine"),
        "fell back to pytest: {}",
        bad.message
    );

    // fail fast: stop after the first failure, later batches are not started
    let count = Mutex::new(0usize);
    let batches: Vec<TestBatch> = [
        "test_basic.py::test_fail_compare",
        "test_basic.py::test_pass",
        "test_unit.py::TestUnit::test_ok",
    ]
    .iter()
    .map(|id| TestBatch {
        ids: vec![(*id).to_string()],
        engine: TestEngine::Native,
    })
    .collect();
    let config = RunnerConfig {
        workers: 1,
        ..config
    };
    PoolTestRunner::new()
        .run(&config, batches, &|r| {
            *count.lock().unwrap() += 1;
            !r.outcome.is_failure()
        })
        .unwrap();
    assert_eq!(*count.lock().unwrap(), 1);
}

/// `--watch`'s warm pool: each run is a forked session of the same worker, an
/// edited module's new code is what runs, session fixtures are torn down at
/// the end of each run, and a crash in a session costs one test and a restart.
#[test]
fn warm_pool_runs_edits_in_fresh_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("helper.py"), "VALUE = 1\n").unwrap();
    std::fs::write(
        root.join("test_warm.py"),
        "import os\nimport helper\n\ndef test_value():\n    assert helper.VALUE == 1\n\ndef test_pid():\n    print(os.getpid())\n\ndef test_crash():\n    os._exit(3)\n",
    )
    .unwrap();
    // Bytecode kept in a cache (as `pybun test` does): the edit below keeps
    // the file's size and lands within the same second, which a pyc checked
    // by mtime and size would miss.
    let bytecode = dir.path().join(".bytecode");
    let mut pool = WorkerPool::start_warm(WorkerConfig {
        python: python3(),
        rootdir: root.to_path_buf(),
        workers: 1,
        env: vec![("PYBUN_TEST_BYTECODE_DIR".into(), bytecode.display().to_string())],
    })
    .expect("start workers");
    let run_once = |pool: &mut WorkerPool, ids: &[&str]| {
        let results: Mutex<Vec<TestResult>> = Mutex::new(Vec::new());
        pool.run(
            vec![Batch {
                ids: ids.iter().map(|s| (*s).to_string()).collect(),
                engine: Engine::Native,
            }],
            &|r| results.lock().unwrap().push(r),
        )
        .expect("run");
        pool.end_sessions();
        results
            .into_inner()
            .unwrap()
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect::<HashMap<_, _>>()
    };
    let first = run_once(
        &mut pool,
        &["test_warm.py::test_value", "test_warm.py::test_pid"],
    );
    assert_eq!(first["test_warm.py::test_value"].outcome, Outcome::Passed);
    std::fs::write(root.join("helper.py"), "VALUE = 2\n").unwrap();
    let second = run_once(
        &mut pool,
        &["test_warm.py::test_value", "test_warm.py::test_pid"],
    );
    assert_eq!(
        second["test_warm.py::test_value"].outcome,
        Outcome::Failed,
        "the edited module runs"
    );
    assert!(
        second["test_warm.py::test_value"]
            .longrepr
            .contains("assert 2 == 1"),
        "{:?}",
        second["test_warm.py::test_value"]
    );
    // Each run is its own forked process.
    assert_ne!(
        first["test_warm.py::test_pid"].stdout,
        second["test_warm.py::test_pid"].stdout
    );
    let third = run_once(
        &mut pool,
        &["test_warm.py::test_crash", "test_warm.py::test_pid"],
    );
    assert_eq!(third["test_warm.py::test_crash"].outcome, Outcome::Error);
    assert!(
        third["test_warm.py::test_crash"]
            .message
            .contains("exit code 3"),
        "{:?}",
        third["test_warm.py::test_crash"]
    );
    assert_eq!(third["test_warm.py::test_pid"].outcome, Outcome::Passed);
    std::fs::write(root.join("helper.py"), "VALUE = 1\n").unwrap();
    let fourth = run_once(&mut pool, &["test_warm.py::test_value"]);
    assert_eq!(fourth["test_warm.py::test_value"].outcome, Outcome::Passed);
    pool.shutdown();
}

/// Seconds since boot (`/proc/uptime`), the clock of a process's start time in `/proc/<pid>/stat`.
#[cfg(target_os = "linux")]
fn uptime() -> f64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// `prestart` starts the workers in the background; the next run with the
/// same configuration uses them (they started before the run was asked for),
/// one with another configuration starts its own.
#[cfg(target_os = "linux")]
#[test]
fn prestarted_workers_serve_the_next_run() {
    use pybun_ports::{RunnerConfig, TestBatch, TestEngine, TestRunner};
    use pybun_test_worker::PoolTestRunner;
    let dir = tempfile::tempdir().unwrap();
    // The worker prints when its process started (seconds since boot).
    std::fs::write(
        dir.path().join("test_started.py"),
        "import os\n\ndef test_started():\n    ticks = int(open(f'/proc/{os.getpid()}/stat').read().rsplit(')', 1)[1].split()[19])\n    print('STARTED', ticks / os.sysconf('SC_CLK_TCK'))\n",
    )
    .unwrap();
    let config = RunnerConfig { python: PathBuf::from("python3"), rootdir: dir.path().to_path_buf(), workers: 2, env: vec![] };
    let batches = || vec![TestBatch { ids: vec!["test_started.py::test_started".into()], engine: TestEngine::Native }];
    let started_at = |runner: &PoolTestRunner, config: &RunnerConfig| -> f64 {
        let out = Mutex::new(String::new());
        runner.run(config, batches(), &|r| {
            out.lock().unwrap().push_str(&r.stdout);
            true
        })
        .unwrap();
        let text = out.into_inner().unwrap();
        text.split_whitespace().nth(1).unwrap_or_else(|| panic!("{text:?}")).parse().unwrap()
    };

    let runner = PoolTestRunner::new();
    runner.prestart(&config);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let asked = uptime();
    assert!(started_at(&runner, &config) < asked - 0.2, "the prestarted pool ran the test");

    // Prestarted for another configuration: not used, a pool of its own runs.
    runner.prestart(&config);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let other = RunnerConfig { workers: 1, ..config.clone() };
    let asked = uptime();
    assert!(started_at(&runner, &other) >= asked - 0.02, "a new pool ran the test");

    // Prestarted and never used: dropping the runner stops the workers.
    runner.prestart(&config);
    drop(runner);
}
