//! Opt-in: run every scenario through a built `pybun` binary.
//!
//! `PYBUN_TESTKIT_BIN=target/debug/pybun cargo test -p pybun-testkit --test cli_smoke -- --nocapture`
//!
//! Fixture scenarios must all pass; packse scenarios are only summarised
//! (set `PYBUN_TESTKIT_STRICT=1` to fail on those too). Without the variable
//! the tests do nothing: the real end-to-end suite lives with the CLI.

use std::path::PathBuf;

use pybun_testkit::{fixture_scenario_files, packse_scenario_files, run_and_check_scenario, try_load_scenario};

fn binary() -> Option<PathBuf> {
    let bin = PathBuf::from(std::env::var_os("PYBUN_TESTKIT_BIN")?);
    if bin.is_absolute() { Some(bin) } else { Some(pybun_testkit::workspace_root().join(bin)) }
}

#[expect(clippy::print_stderr, reason = "an opt-in report")]
fn failures_slow(name: &str, elapsed: std::time::Duration) {
    eprintln!("slow: `{name}` took {elapsed:?}");
}

fn run_all(files: &[PathBuf], bin: &std::path::Path) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let scenario = match try_load_scenario(file) {
            Ok(s) => s,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let start = std::time::Instant::now();
        if let Err(e) = run_and_check_scenario(bin, &scenario) {
            failures.push(e);
        }
        let elapsed = start.elapsed();
        if elapsed > std::time::Duration::from_secs(1) {
            failures_slow(&scenario.name, elapsed);
        }
    }
    failures
}

#[test]
#[expect(clippy::print_stderr, reason = "an opt-in report")]
fn fixtures_through_the_cli() {
    let Some(bin) = binary() else {
        eprintln!("skipping: set PYBUN_TESTKIT_BIN to a pybun binary");
        return;
    };
    let files = fixture_scenario_files();
    let failures = run_all(&files, &bin);
    for failure in &failures {
        eprintln!("{failure}\n");
    }
    eprintln!("fixtures: {}/{} pass", files.len() - failures.len(), files.len());
    assert!(failures.is_empty());
}

#[test]
#[expect(clippy::print_stderr, reason = "an opt-in report")]
fn packse_through_the_cli() {
    let Some(bin) = binary() else {
        eprintln!("skipping: set PYBUN_TESTKIT_BIN to a pybun binary");
        return;
    };
    let Some(files) = packse_scenario_files() else {
        eprintln!("skipping: ../shared not found (set PYBUN_SHARED_DIR)");
        return;
    };
    let failures = run_all(&files, &bin);
    for failure in &failures {
        eprintln!("{failure}\n");
    }
    eprintln!("packse: {}/{} pass", files.len() - failures.len(), files.len());
    if std::env::var_os("PYBUN_TESTKIT_STRICT").is_some() {
        assert!(failures.is_empty());
    }
}

#[test]
#[expect(clippy::print_stderr, reason = "an opt-in report")]
fn metadata_paths_through_the_cli() {
    let Some(bin) = binary() else {
        eprintln!("skipping: set PYBUN_TESTKIT_BIN to a pybun binary");
        return;
    };
    let dir = pybun_testkit::fixtures_dir();

    // HTML, no PEP 658 files: wheel metadata comes from range requests.
    let scenario = pybun_testkit::load_scenario(dir.join("html-no-metadata-files.toml"));
    let (run, _ctx, server) = pybun_testkit::run_scenario(&bin, &scenario).unwrap();
    assert_eq!(run.json["ok"], true, "{}", run.json_stdout);
    let log = server.request_log();
    assert!(log.iter().all(|r| !r.path.ends_with(".metadata")), "{log:#?}");
    assert!(log.iter().any(|r| r.status == 206), "{log:#?}");

    // Ranges ignored: the client falls back to whole downloads.
    let scenario = pybun_testkit::load_scenario(dir.join("no-range-requests.toml"));
    let (run, _ctx, server) = pybun_testkit::run_scenario(&bin, &scenario).unwrap();
    assert_eq!(run.json["ok"], true, "{}", run.json_stdout);
    let log = server.request_log();
    assert!(log.iter().all(|r| r.status != 206), "{log:#?}");
    assert!(log.iter().any(|r| r.path.ends_with(".whl") && r.status == 200), "{log:#?}");

    // Defaults: PEP 658 files, no archive downloads at all.
    let scenario = pybun_testkit::load_scenario(dir.join("simple-transitive.toml"));
    let (run, _ctx, server) = pybun_testkit::run_scenario(&bin, &scenario).unwrap();
    assert_eq!(run.json["ok"], true, "{}", run.json_stdout);
    let log = server.request_log();
    assert!(log.iter().any(|r| r.path.ends_with(".whl.metadata")), "{log:#?}");
    assert!(log.iter().all(|r| !r.path.ends_with(".whl")), "{log:#?}");
}
