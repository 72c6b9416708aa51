//! Resolver scenarios through the real `pybun` binary and a local index:
//! our fixtures (`fixtures/resolver/*.toml`) must all pass; the packse
//! conformance scenarios (`../shared/packse`) must pass or be listed, with a
//! reason, in `fixtures/packse-deviations.toml`, and universal (fork)
//! scenarios may instead fail with a clear error, never with a wrong lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pybun_testkit::{
    Scenario, check_scenario, fixture_scenario_files, packse_scenario_files, run_scenario, try_load_scenario,
    workspace_root,
};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pybun"))
}

/// `[[deviation]] scenario = "…" reason = "…"`.
fn deviations() -> BTreeMap<String, String> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        deviation: Vec<Deviation>,
    }
    #[derive(serde::Deserialize)]
    struct Deviation {
        scenario: String,
        reason: String,
    }
    let path = workspace_root().join("fixtures/packse-deviations.toml");
    let text = std::fs::read_to_string(&path).expect("fixtures/packse-deviations.toml exists");
    let file: File = toml::from_str(&text).expect("valid deviations file");
    file.deviation.into_iter().map(|d| (d.scenario, d.reason)).collect()
}

/// Run scenarios on both cores; results in file order.
fn run_all(files: &[PathBuf]) -> Vec<(Scenario, Result<(), String>, Option<String>)> {
    let chunks: Vec<&[PathBuf]> = files.chunks(files.len().div_ceil(2).max(1)).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|file| {
                            let scenario = try_load_scenario(file).unwrap_or_else(|e| panic!("{e}"));
                            match run_scenario(bin(), &scenario) {
                                Ok((run, _ctx, _server)) => {
                                    let code = run.json.pointer("/error/code").and_then(|c| c.as_str()).map(str::to_string);
                                    let verdict = check_scenario(&scenario, &run.json, &run.text_output)
                                        .map_err(|e| format!("{e}\n  command: {}\n  stdout: {}", run.command_line, run.json_stdout));
                                    (scenario, verdict, code)
                                }
                                Err(error) => (scenario, Err(error), None),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn fixture_scenarios() {
    let files = fixture_scenario_files();
    assert!(files.len() >= 20, "expected the resolver fixtures, found {}", files.len());
    let failures: Vec<String> = run_all(&files)
        .into_iter()
        .filter_map(|(scenario, verdict, _)| verdict.err().map(|e| format!("{}: {e}", scenario.name)))
        .collect();
    assert!(failures.is_empty(), "{} of {} fixtures failed:\n\n{}", failures.len(), files.len(), failures.join("\n\n"));
}

#[test]
#[expect(clippy::print_stderr, reason = "says why the packse group is skipped, and the tally")]
fn packse_conformance() {
    let Some(files) = packse_scenario_files() else {
        eprintln!("skipping packse conformance: ../shared/packse not found (set PYBUN_SHARED_DIR)");
        return;
    };
    let deviations = deviations();
    let mut problems = Vec::new();
    let mut passed = 0;
    let mut clear_errors = 0;
    let mut listed = 0;
    for (scenario, verdict, code) in run_all(&files) {
        let universal = scenario.resolver_options.universal;
        match (verdict, deviations.get(&scenario.name)) {
            (Ok(()), None) => passed += 1,
            (Ok(()), Some(_)) => problems.push(format!("{}: passes now; remove it from fixtures/packse-deviations.toml", scenario.name)),
            (Err(_), Some(_)) => listed += 1,
            // A fork scenario we cannot serve yet must say so clearly, never lock something wrong.
            (Err(_), None) if universal && code.as_deref() == Some("PB0302") => clear_errors += 1,
            (Err(error), None) => problems.push(format!("{}: {error}", scenario.name)),
        }
    }
    eprintln!(
        "packse: {passed} pass, {clear_errors} universal scenarios refused with PB0302 (split needed), {listed} listed deviations, {} problems, of {}",
        problems.len(),
        files.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
