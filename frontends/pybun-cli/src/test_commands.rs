//! `pybun test`: rendering of the run (progress, failures, summary), JSON,
//! JUnit XML, and exit codes as pytest's.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use pybun_engine::{
    Code, Diagnostic, EngineChoice, Failure, PytestVariables, TestOutcome, TestOutcomeKind, TestRequest, TestResult,
};
use serde_json::json;

use crate::cli::{Cli, OutputFormat, TestArgs, TestEngineArg};
use crate::commands::index_settings;
use crate::env_commands::data_dir;
use crate::{Rendered, Settings};

/// AI coding agents set one of these; then only failures and the summary are printed (as Bun's runner does).
const AGENT_VARIABLES: &[&str] = &["AGENT", "CLAUDECODE", "CURSOR_AGENT", "CODEX", "AIDER", "GEMINI_CLI", "OPENCODE"];

fn agent_detected() -> bool {
    AGENT_VARIABLES.iter().any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty() && x != "0"))
}

fn parse_shard(text: &str) -> Result<(usize, usize), Failure> {
    let invalid = || {
        Failure::new(
            Diagnostic::error(Code::Usage, format!("invalid `--shard {text}`")).with_hint("give `--shard I/N` with 1 <= I <= N, e.g. `--shard 2/4`"),
        )
    };
    let (i, n) = text.split_once('/').ok_or_else(invalid)?;
    let (i, n) = (i.trim().parse::<usize>().map_err(|_| invalid())?, n.trim().parse::<usize>().map_err(|_| invalid())?);
    if i == 0 || n == 0 || i > n {
        return Err(invalid());
    }
    Ok((i, n))
}

pub(crate) fn test(cli: &Cli, settings: &Settings, args: &TestArgs) -> Result<Rendered, Failure> {
    if !args.watch {
        return test_once(cli, settings, args, &pybun_test_worker::PoolTestRunner::new(), None);
    }
    // JSON: one document per run, one per line (JSON lines), each the document
    // `pybun test --format json` prints, with a `watch` object on reruns.
    let json_mode = settings.format == OutputFormat::Json;
    // Run, then wait for a change to a Python file or a configuration file
    // under the directory and run the tests it affects, on workers kept warm
    // between runs. Ctrl-C ends it.
    let root = std::path::absolute(&settings.directory).unwrap_or_else(|_| settings.directory.clone());
    let mut watcher = pybun_test_worker::watch::FileWatcher::new(&root).map_err(|e| {
        Failure::new(Diagnostic::error(Code::Io, format!("cannot watch `{}`: {e}", root.display())))
    })?;
    let runner = pybun_test_worker::WarmTestRunner::new();
    let mut changed: Option<Vec<PathBuf>> = None;
    let mut first_seen: Option<Instant> = None;
    loop {
        let outcome = test_once(cli, settings, args, &runner, changed.clone());
        if json_mode {
            let document = match outcome {
                Ok(mut rendered) => {
                    if let Some(seen) = first_seen {
                        let changed_paths: Vec<String> = changed.iter().flatten().map(|p| p.display().to_string()).collect();
                        rendered.json["watch"] =
                            serde_json::json!({ "changed": changed_paths, "milliseconds": seen.elapsed().as_millis() as u64 });
                    }
                    crate::json::success_document("test", &rendered.json, &rendered.warnings)
                }
                Err(failure) => crate::json::failure_document("test", &failure, &[]),
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{document}");
            let _ = out.flush();
        } else {
            print_run(outcome, first_seen);
            crate::print_stderr("Watching for changes (Ctrl-C to stop)…");
        }
        let changes = watcher.next_changes(&root, std::time::Duration::from_millis(10)).map_err(|e| {
            Failure::new(Diagnostic::error(Code::Io, format!("watching `{}` stopped: {e}", root.display())))
        })?;
        first_seen = Some(changes.first_seen);
        changed = Some(changes.paths);
    }
}

/// A `--watch` run in text mode: warnings, the report, the timing line.
fn print_run(outcome: Result<Rendered, Failure>, first_seen: Option<Instant>) {
    match outcome {
        Ok(rendered) => {
            for warning in &rendered.warnings {
                crate::print_stderr(&crate::text::diagnostic(warning));
            }
            if !rendered.stderr.is_empty() {
                crate::print_stderr(&rendered.stderr);
            }
            if let Some(seen) = first_seen {
                let ran = rendered.json["tests"].as_array().map_or(0, Vec::len);
                crate::print_stderr(&format!(
                    "re-ran {ran} test{} in {} ms (from the change seen to the results)",
                    if ran == 1 { "" } else { "s" },
                    seen.elapsed().as_millis()
                ));
            }
        }
        Err(failure) => crate::print_stderr(&crate::text::failure(&failure)),
    }
}

fn test_once(
    cli: &Cli,
    settings: &Settings,
    args: &TestArgs,
    runner: &dyn pybun_ports::TestRunner,
    changed: Option<Vec<PathBuf>>,
) -> Result<Rendered, Failure> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let request = TestRequest {
        directory: settings.directory.clone(),
        paths: args.paths.clone(),
        keyword: args.keyword.clone(),
        marker: args.marker.clone(),
        bail: args.bail,
        shard: args.shard.as_deref().map(parse_shard).transpose()?,
        last_failed: args.last_failed,
        failed_first: args.failed_first,
        collect_only: args.collect_only,
        workers: args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get)),
        engine: match args.engine {
            TestEngineArg::Auto => EngineChoice::Auto,
            TestEngineArg::Native => EngineChoice::Native,
            TestEngineArg::Pytest => EngineChoice::Pytest,
        },
        python: args.python.clone(),
        frozen: args.frozen,
        index: index_settings(cli),
        environment: pybun_engine::EnvironmentInputs {
            pybun_env: var("PYBUN_ENV").map(|p| if p.is_absolute() { p } else { settings.directory.join(p) }),
            project_root: None,
            virtual_env: var("VIRTUAL_ENV"),
            global_env: data_dir().join("environments").join("default"),
        },
        changed,
        no_bytecode_cache: std::env::var_os("PYBUN_TEST_NO_BYTECODE_CACHE").is_some_and(|v| !v.is_empty() && v != "0"),
        pytest_variables: PytestVariables {
            // pytest checks only that it is set and non-empty (even `0` disables).
            disable_plugin_autoload: std::env::var_os("PYTEST_DISABLE_PLUGIN_AUTOLOAD").is_some_and(|v| !v.is_empty()),
            addopts: std::env::var("PYTEST_ADDOPTS").ok().filter(|v| !v.trim().is_empty()),
            plugins: std::env::var("PYTEST_PLUGINS").ok().filter(|v| !v.trim().is_empty()),
        },
        update_snapshots: args.update_snapshots,
    };
    let text_mode = settings.format == OutputFormat::Text;
    let terse = settings.quiet || agent_detected();
    let started = Instant::now();
    let progress = |result: &TestResult| {
        if !text_mode || terse {
            return;
        }
        let mark = match result.outcome {
            TestOutcomeKind::Passed => ".",
            TestOutcomeKind::Failed => "F",
            TestOutcomeKind::Error => "E",
            TestOutcomeKind::Skipped => "s",
            TestOutcomeKind::Xfailed => "x",
            TestOutcomeKind::Xpassed => "X",
        };
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(mark.as_bytes());
        let _ = err.flush();
    };
    let (outcome, reported) = crate::env_commands::with_ports(cli, settings, |ports| {
        pybun_engine::run_tests(&request, ports, runner, &progress)
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    if text_mode && !terse && !outcome.results.is_empty() {
        crate::print_stderr("");
    }
    if let Some(path) = &args.junit_xml {
        let path = if path.is_absolute() { path.clone() } else { settings.directory.join(path) };
        pybun_fs_os::write_atomic(&path, junit_xml(&outcome, elapsed).as_bytes())
            .map_err(|e| Failure::new(Diagnostic::error(Code::Io, format!("could not write `{}`: {e}", path.display()))))?;
    }
    let mut warnings: Vec<Diagnostic> = outcome.collection_errors.clone();
    warnings.extend(outcome.warnings.iter().cloned());
    warnings.extend(reported);
    if args.pytest_compat {
        for reason in &outcome.compat {
            // (Line 0: not a file's line, e.g. `$PYTEST_PLUGINS`.)
            let place = if reason.line == 0 { reason.file.clone() } else { format!("{}:{}", reason.file, reason.line) };
            warnings.push(
                Diagnostic::info(Code::NotImplemented, format!("{place}: runs under pytest: {}", reason.reason))
                    .with_hint("the native engine is used for modules without these; see `pybun test --engine`"),
            );
        }
    }
    let (stdout, stderr) = if args.collect_only {
        // Sized up front: a large suite prints megabytes of node ids.
        let mut out = String::with_capacity(outcome.tests.iter().map(|t| t.node_id.len() + 1).sum::<usize>() + 64);
        for test in &outcome.tests {
            out.push_str(&test.node_id);
            out.push('\n');
        }
        let _ = write!(out, "\n{} tests collected in {elapsed:.2}s", outcome.tests.len());
        (out, String::new())
    } else {
        let report = text_report(&outcome, elapsed, args.durations, terse);
        if settings.quiet && text_mode && !args.watch {
            // The global `--quiet` hides a command's stderr summary; for tests it
            // means "only failures and the summary", which still print.
            crate::print_stderr(&report);
            (String::new(), String::new())
        } else {
            (String::new(), report)
        }
    };
    // Text mode prints no JSON: building it (an entry per test, 81k on a large
    // suite) cost more than the rest of a warm `--collect-only`. `--watch`
    // counts the re-run tests from it.
    let json = if text_mode && !args.watch { serde_json::Value::Null } else { json_report(&outcome, elapsed) };
    Ok(Rendered { json, stdout, stderr, warnings, exit: outcome.exit_code })
}

fn count(outcome: &TestOutcome, kind: TestOutcomeKind) -> usize {
    outcome.results.iter().filter(|r| r.outcome == kind).count()
}

fn summary_line(outcome: &TestOutcome, elapsed: f64) -> String {
    let mut parts = Vec::new();
    for (kind, word) in [
        (TestOutcomeKind::Failed, "failed"),
        (TestOutcomeKind::Passed, "passed"),
        (TestOutcomeKind::Skipped, "skipped"),
        (TestOutcomeKind::Xfailed, "xfailed"),
        (TestOutcomeKind::Xpassed, "xpassed"),
        (TestOutcomeKind::Error, "errors"),
    ] {
        let n = count(outcome, kind);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    if outcome.deselected > 0 {
        parts.push(format!("{} deselected", outcome.deselected));
    }
    if !outcome.collection_errors.is_empty() {
        parts.push(format!("{} collection errors", outcome.collection_errors.len()));
    }
    if parts.is_empty() {
        parts.push("no tests ran".to_string());
    }
    let stopped = if outcome.stopped_early { " (stopped early)" } else { "" };
    format!("{} in {elapsed:.2}s{stopped}", parts.join(", "))
}

fn text_report(outcome: &TestOutcome, elapsed: f64, durations: Option<usize>, terse: bool) -> String {
    let mut text = String::new();
    let failures: Vec<&TestResult> = outcome.results.iter().filter(|r| r.outcome.is_failure()).collect();
    for result in &failures {
        let _ = writeln!(text, "___ {} ___", result.id);
        if !result.longrepr.is_empty() {
            let _ = writeln!(text, "{}", result.longrepr.trim_end());
        } else if !result.message.is_empty() {
            let _ = writeln!(text, "{}", result.message);
        }
        if !result.stdout.is_empty() {
            let _ = writeln!(text, "--- captured stdout ---\n{}", result.stdout.trim_end());
        }
        if !result.stderr.is_empty() {
            let _ = writeln!(text, "--- captured stderr ---\n{}", result.stderr.trim_end());
        }
    }
    if let Some(n) = durations {
        let mut slowest: Vec<&TestResult> = outcome.results.iter().collect();
        slowest.sort_by(|a, b| b.duration.total_cmp(&a.duration));
        let _ = writeln!(text, "slowest {n} durations:");
        for result in slowest.into_iter().take(n) {
            let _ = writeln!(text, "{:>8.3}s {}", result.duration, result.id);
        }
    }
    if !terse || !failures.is_empty() {
        for result in &failures {
            let _ = writeln!(text, "FAILED {}{}", result.id, if result.message.is_empty() { String::new() } else { format!(" - {}", result.message.lines().next().unwrap_or_default()) });
        }
    }
    text.push_str(&summary_line(outcome, elapsed));
    text
}

fn json_report(outcome: &TestOutcome, elapsed: f64) -> serde_json::Value {
    json!({
        "rootdir": outcome.rootdir,
        "config_file": outcome.config_file,
        "collected": outcome.collected,
        "selected": outcome.tests.len(),
        "deselected": outcome.deselected,
        "tests": outcome.results.iter().map(|r| json!({
            "event": "test",
            "id": r.id,
            "outcome": r.outcome.as_str(),
            "duration": r.duration,
            "stdout": r.stdout,
            "stderr": r.stderr,
            "longrepr": r.longrepr,
            "message": r.message,
        })).collect::<Vec<_>>(),
        "planned": outcome.tests.iter().map(|t| json!({
            "id": t.node_id,
            "engine": match t.engine { pybun_engine::TestEngine::Native => "native", pybun_engine::TestEngine::Pytest => "pytest" },
        })).collect::<Vec<_>>(),
        "pytest_compat": outcome.compat.iter().map(|c| json!({ "file": c.file, "line": c.line, "reason": c.reason })).collect::<Vec<_>>(),
        "summary": {
            "passed": count(outcome, TestOutcomeKind::Passed),
            "failed": count(outcome, TestOutcomeKind::Failed),
            "errors": count(outcome, TestOutcomeKind::Error),
            "skipped": count(outcome, TestOutcomeKind::Skipped),
            "xfailed": count(outcome, TestOutcomeKind::Xfailed),
            "xpassed": count(outcome, TestOutcomeKind::Xpassed),
            "collection_errors": outcome.collection_errors.len(),
            "duration": elapsed,
            "exit_code": outcome.exit_code,
            "stopped_early": outcome.stopped_early,
        },
    })
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn junit_xml(outcome: &TestOutcome, elapsed: f64) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites><testsuite name=\"pybun\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{elapsed:.3}\">",
        outcome.results.len(),
        count(outcome, TestOutcomeKind::Failed),
        count(outcome, TestOutcomeKind::Error),
        count(outcome, TestOutcomeKind::Skipped) + count(outcome, TestOutcomeKind::Xfailed),
    );
    for result in &outcome.results {
        let (file, rest) = result.id.split_once("::").unwrap_or((&result.id, ""));
        let (class, name) = rest.rsplit_once("::").map_or_else(|| (file.trim_end_matches(".py").replace('/', "."), rest.to_string()), |(c, n)| {
            (format!("{}.{}", file.trim_end_matches(".py").replace('/', "."), c.replace("::", ".")), n.to_string())
        });
        let _ = write!(xml, "<testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"", xml_escape(&class), xml_escape(&name), result.duration);
        let body = match result.outcome {
            TestOutcomeKind::Failed => format!("<failure message=\"{}\">{}</failure>", xml_escape(&result.message), xml_escape(&result.longrepr)),
            TestOutcomeKind::Error => format!("<error message=\"{}\">{}</error>", xml_escape(&result.message), xml_escape(&result.longrepr)),
            TestOutcomeKind::Skipped | TestOutcomeKind::Xfailed => format!("<skipped message=\"{}\"/>", xml_escape(&result.message)),
            _ => String::new(),
        };
        let _ = writeln!(xml, ">{body}</testcase>");
    }
    xml.push_str("</testsuite></testsuites>\n");
    xml
}
