//! End-to-end tests of `pybun check` through the real binary and a local
//! index (`pybun-testkit`): every layer (syntax, PEP 621, requirement
//! strings, the index, the resolver, the lock), offline mode, PEP 723
//! scripts, exit codes and the JSON document. Each test is hermetic.

use std::path::Path;
use std::process::Command;

use pybun_testkit::{CliRun, DistSpec, IndexServer, PublishedVersion, TestContext, Universe, filter_output};
use serde_json::Value;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pybun"))
}

/// `pybun --index-url SERVER ARGS…` in the context.
fn pybun(ctx: &TestContext, server: &IndexServer, args: &[&str]) -> CliRun {
    let mut command: Command = ctx.command_with_index(bin(), server);
    command.args(args);
    CliRun::of(command)
}

fn published(name: &str, version: &str) -> PublishedVersion {
    PublishedVersion::new(DistSpec::new(name, version))
}

/// `requests` 2.31.0 and 2.32.3, `rich` 13.7.1, `flask-login` 0.6.3; `a`
/// needs `b>=2`; `b` 1.0.0 and 2.0.0.
fn universe() -> Universe {
    Universe::default()
        .with(published("requests", "2.31.0"))
        .with(published("requests", "2.32.3"))
        .with(published("rich", "13.7.1"))
        .with(published("flask-login", "0.6.3"))
        .with(PublishedVersion::new(DistSpec::new("a", "1.0.0").requires(&["b>=2"])))
        .with(published("b", "1.0.0"))
        .with(published("b", "2.0.0"))
}

/// The diagnostics of a `--format json` run: (code, severity, line, column, end_line, end_column).
fn diagnostics(run: &CliRun) -> Vec<(String, String, u64, u64, u64, u64)> {
    let document = run.json();
    assert_eq!(document["command"], "check", "{run}");
    document["result"]["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("diagnostics in {run}"))
        .iter()
        .map(|d| {
            let n = |key: &str| d[key].as_u64().unwrap_or(0);
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["severity"].as_str().unwrap_or_default().to_string(),
                n("line"),
                n("column"),
                n("end_line"),
                n("end_column"),
            )
        })
        .collect()
}

fn diagnostic<'d>(document: &'d Value, code: &str) -> &'d Value {
    document["result"]["diagnostics"]
        .as_array()
        .and_then(|list| list.iter().find(|d| d["code"] == code))
        .unwrap_or_else(|| panic!("no {code} in {document:#}"))
}

fn d(code: &str, severity: &str, line: u64, column: u64, end_line: u64, end_column: u64) -> (String, String, u64, u64, u64, u64) {
    (code.to_string(), severity.to_string(), line, column, end_line, end_column)
}

#[test]
fn every_syntax_error_is_reported_with_the_rest_still_checked() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(
        "[project]\nname = \"demo\"\nversion = \"1.0\" x\nrequires-python = \">=3.9\"\ndependencies = [\n  \"requests>=2\",\n  \"rich\" \"click\",\n  \"requests>=2,<=x\",\n]\n[tool.pybun]\nlockfile = yaml\n",
    );
    let run = pybun(&ctx, &server, &["--format", "json", "check"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        diagnostics(&run),
        [
            d("PB0101", "error", 3, 17, 3, 18),
            d("PB0101", "error", 7, 10, 7, 11),
            d("PB0103", "error", 8, 16, 8, 19),
            d("PB0101", "error", 11, 12, 11, 16),
        ],
        "{run}"
    );
    // Text: each with its snippet, then the summary.
    let text = pybun(&ctx, &server, &["check"]);
    assert_eq!(text.code, 1);
    assert_eq!(text.stderr.matches("error[PB0101]").count(), 3, "{text}");
    assert!(text.stderr.contains("3 | version = \"1.0\" x"), "{text}");
    assert!(text.stderr.contains("Checked `") && text.stderr.contains("4 errors, 0 warnings, 0 info"), "{text}");
}

#[test]
fn pep621_type_error_and_bad_specifier_part() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(
        "[project]\nname = \"demo\"\nversion = \"1.0\"\nrequires-python = 3.9\ndependencies = [\"rich>=13,<=x.1\"]\n",
    );
    let run = pybun(&ctx, &server, &["--format", "json", "check"]);
    assert_eq!(run.code, 1, "{run}");
    let document = run.json();
    let wrong_type = diagnostic(&document, "PB0104");
    assert_eq!(wrong_type["message"], "`project.requires-python` must be a string, found a float");
    assert_eq!((wrong_type["line"].as_u64(), wrong_type["column"].as_u64()), (Some(4), Some(19)));
    // The underline is on the bad clause inside the string, not the whole string.
    let bad = diagnostic(&document, "PB0103");
    let (start, end) = (bad["start"].as_u64().unwrap() as usize, bad["end"].as_u64().unwrap() as usize);
    let text = ctx.read_file("pyproject.toml").unwrap();
    assert_eq!(&text[start..end], "<=x.1", "{document:#}");
}

#[test]
fn unknown_package_gets_did_you_mean_and_a_fix() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"reqeusts>=2\"]\n");
    let run = pybun(&ctx, &server, &["--format", "json", "check"]);
    assert_eq!(run.code, 1, "{run}");
    let document = run.json();
    let unknown = diagnostic(&document, "PB0301");
    assert_eq!(unknown["message"], "package `reqeusts` was not found on any configured index");
    assert_eq!(unknown["hints"][0], "did you mean `requests`?");
    assert_eq!(unknown["fixes"][0]["edits"][0]["new_text"], "requests");
    assert_eq!(unknown["fixes"][0]["edits"][0]["column"], 18);
    // `pybun lock` reports the same problem with the same code and message.
    let lock = pybun(&ctx, &server, &["--format", "json", "lock"]);
    assert_eq!(lock.json()["error"]["code"], "PB0301", "{lock}");
    assert_eq!(lock.json()["error"]["message"], unknown["message"]);
}

#[test]
fn specifier_matching_no_release() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"requests>=3\"]\n");
    let run = pybun(&ctx, &server, &["--format", "json", "check"]);
    assert_eq!(run.code, 1, "{run}");
    let document = run.json();
    let none = diagnostic(&document, "PB0800");
    assert_eq!(none["message"], "no release of `requests` matches `>=3`");
    assert_eq!((none["line"].as_u64(), none["column"].as_u64(), none["end_column"].as_u64()), (Some(5), Some(26), Some(29)));
    assert_eq!(none["fixes"][0]["title"], "Use the latest release: `requests>=2.32.3`");
    assert_eq!(none["fixes"][0]["edits"][0]["new_text"], ">=2.32.3");
    // `pybun lock` fails on the resolution (`PB0300`) and names the same problem, at the same place.
    let lock = pybun(&ctx, &server, &["--format", "json", "lock"]).json();
    assert_eq!(lock["error"]["code"], "PB0300", "{lock}");
    let related = &lock["related"][0];
    assert_eq!((&related["code"], &related["message"], &related["span"]), (&none["code"], &none["message"], &none["span"]), "{lock}");
}

#[test]
fn a_conflict_is_attached_to_both_requirements() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"a>=1\", \"b<2\", \"rich\"]\n");
    let run = pybun(&ctx, &server, &["--format", "json", "check"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(diagnostics(&run), [d("PB0300", "error", 5, 17, 5, 23), d("PB0300", "error", 5, 25, 5, 30)], "{run}");
    let document = run.json();
    let first = &document["result"]["diagnostics"][0];
    assert_eq!(first["label"], "conflicts with `b<2`");
    let causes: Vec<&str> = first["causes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(causes.iter().any(|c| c.contains("a>=1.0.0 depends on b>=2")), "{causes:?}");
    // `pybun lock` fails with the same code.
    assert_eq!(pybun(&ctx, &server, &["--format", "json", "lock"]).json()["error"]["code"], "PB0300");
}

#[test]
fn stale_lock_is_an_info_and_exit_stays_zero() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"rich>=13\"]\n");
    pybun(&ctx, &server, &["lock"]).success();
    let clean = pybun(&ctx, &server, &["--format", "json", "check"]);
    assert_eq!(clean.code, 0, "{clean}");
    assert_eq!(diagnostics(&clean), [], "{clean}");
    assert_eq!(clean.json()["result"]["summary"], serde_json::json!({ "errors": 0, "warnings": 0, "infos": 0 }));

    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"rich>=13\", \"requests>=2\"]\n");
    let stale = pybun(&ctx, &server, &["--format", "json", "check"]);
    assert_eq!(stale.code, 0, "an info does not fail the check: {stale}");
    assert_eq!(diagnostics(&stale), [d("PB0403", "info", 1, 1, 1, 10)], "{stale}");
    let document = stale.json();
    let info = diagnostic(&document, "PB0403");
    assert_eq!(info["fixes"][0]["command"], "lock");
    assert_eq!(info["fixes"][0]["title"], "Run `pybun lock`");
    // `pybun lock --check` agrees that the lock is stale.
    assert_eq!(pybun(&ctx, &server, &["--format", "json", "lock", "--check"]).json()["error"]["code"], "PB0403");
}

#[test]
fn offline_skips_the_index_checks_with_one_note() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"nonexistent>=1\"]\n");
    let run = pybun(&ctx, &server, &["--offline", "--format", "json", "check"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(diagnostics(&run), [d("PB0801", "info", 0, 0, 0, 0)], "{run}");
    assert_eq!(server.request_count(), 0, "offline asks nothing");
    // The subcommand takes `--offline` after its name too (a global option).
    let after = pybun(&ctx, &server, &["check", "--offline"]);
    assert_eq!(after.code, 0, "{after}");
    assert!(after.stderr.contains("info[PB0801]: offline: the index and resolution checks were skipped"), "{after}");
}

#[test]
fn a_pep723_script_is_checked_with_spans_in_the_py_file() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_file(
        "tool.py",
        "#!/usr/bin/env python3\n# /// script\n# requires-python = \">=3.9\"\n# dependencies = [\n#   \"requests>=2,<=x\",\n#   \"ritch\",\n# ]\n# ///\nprint('hi')\n",
    );
    let run = pybun(&ctx, &server, &["--format", "json", "check", "tool.py"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(diagnostics(&run), [d("PB0103", "error", 5, 18, 5, 21), d("PB0301", "error", 6, 5, 6, 12)], "{run}");
    assert_eq!(diagnostic(&run.json(), "PB0301")["hints"][0], "did you mean `rich`?");
}

#[test]
fn usage_errors_and_missing_project() {
    let ctx = TestContext::new();
    let bare = |args: &[&str]| {
        let mut command = ctx.command(bin());
        command.args(args);
        CliRun::of(command)
    };
    let usage = bare(&["--format", "json", "check", "--no-such-flag"]);
    assert_eq!(usage.code, 2, "{usage}");
    assert_eq!(usage.json()["error"]["code"], "PB0001");
    let missing = bare(&["--format", "json", "check"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert_eq!(missing.json()["error"]["code"], "PB0100");
}

#[test]
fn json_document_is_golden() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(
        "[project]\nname = \"demo\"\nversion = \"1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\n  \"requests>=3\",\n  \"Flask_Login\",\n  \"rich>=13\" \"x\",\n]\n",
    );
    let run = pybun(&ctx, &server, &["--format", "json", "check"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(!run.stdout.trim_end().contains('\n'), "one compact document on one line:\n{run}");
    let pretty = serde_json::to_string_pretty(&run.json()).expect("serialize");
    insta::assert_snapshot!("check_json", filter_output(&pretty, &ctx));
}

#[test]
fn text_output_is_golden() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"a>=1\", \"b<2\", \"reqeusts\"]\n");
    let run = pybun(&ctx, &server, &["check"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.is_empty(), "{run}");
    insta::assert_snapshot!("check_text", filter_output(&run.stderr, &ctx));
    // Fix the name: the conflict is found next, on both requirements.
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"a>=1\", \"b<2\", \"requests\"]\n");
    let run = pybun(&ctx, &server, &["check"]);
    assert_eq!(run.code, 1, "{run}");
    insta::assert_snapshot!("check_text_conflict", filter_output(&run.stderr, &ctx));
}

#[test]
fn a_script_is_checked_against_the_index_its_block_names() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.watch_server(&server);
    ctx.write_file(
        "tool.py",
        format!("# /// script\n# dependencies = [\"rich>=99\"]\n# [tool.pybun]\n# index-url = \"{}\"\n# ///\n", server.url()),
    );
    // No `--index-url`: the block's index is asked (PyPI would not be reachable here).
    let mut command = ctx.command(bin());
    command.args(["--format", "json", "check", "tool.py"]);
    let run = CliRun::of(command);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(diagnostic(&run.json(), "PB0800")["message"], "no release of `rich` matches `>=99`", "{run}");
}
