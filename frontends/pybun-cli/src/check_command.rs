//! `pybun check [PATH]`: every diagnostic of the check use case, for CI.
//!
//! Text: each diagnostic as the other commands render theirs (source snippet,
//! causes, hints), then a `fix:` line per fix, on stderr (`--quiet`: errors
//! only), then a summary line.
//! JSON: `result` is `{ file, diagnostics: [...], summary: { errors, warnings, infos } }`.
//! Exit 1 when there is an error, else 0.

use pybun_engine::check::{CheckOutcome, CheckRequest};
use pybun_engine::{Diagnostic, Failure, Fix, Severity, Span};
use pybun_fs_os::OsFs;
use serde_json::{Value, json};

use crate::cli::{CheckArgs, Cli, OutputFormat};
use crate::progress::CliReporter;
use crate::{Rendered, Settings};

pub(crate) fn check(cli: &Cli, settings: &Settings, args: &CheckArgs) -> Result<Rendered, Failure> {
    let request = CheckRequest {
        directory: settings.directory.clone(),
        path: args.path.clone(),
        index: crate::commands::index_settings(cli),
        lock: None,
        offline: cli.global.offline,
    };
    let text_mode = settings.format == OutputFormat::Text;
    let reporter = CliReporter::new(text_mode && !settings.quiet);
    let opener = crate::commands::index_opener(cli);
    let result = pybun_engine::check::check(&request, &OsFs, &opener, &reporter);
    reporter.finish();
    let outcome = result?;
    let errors = outcome.count(Severity::Error);
    let warnings = outcome.count(Severity::Warning);
    let infos = outcome.count(Severity::Info);
    if text_mode {
        for diagnostic in &outcome.diagnostics {
            if !settings.quiet || diagnostic.is_error() {
                let mut text = crate::text::diagnostic(diagnostic);
                for fix in &diagnostic.fixes {
                    text.push_str(&format!("\n\nfix: {}", fix.title));
                }
                crate::print_stderr(&format!("{text}\n\n"));
            }
        }
    }
    let file = outcome.file.display().to_string();
    let summary = if outcome.diagnostics.is_empty() {
        format!("Checked `{file}`: no problems found")
    } else {
        format!("Checked `{file}`: {}, {}, {}", plural(errors, "error"), plural(warnings, "warning"), plural(infos, "info"))
    };
    Ok(Rendered {
        json: result_json(&outcome, errors, warnings, infos),
        stdout: String::new(),
        stderr: summary,
        warnings: Vec::new(),
        exit: u8::from(errors > 0),
    })
}

fn plural(n: usize, what: &str) -> String {
    match (n, what) {
        (1, _) | (_, "info") => format!("{n} {what}"),
        _ => format!("{n} {what}s"),
    }
}

fn result_json(outcome: &CheckOutcome, errors: usize, warnings: usize, infos: usize) -> Value {
    json!({
        "file": outcome.file,
        "diagnostics": outcome.diagnostics.iter().map(|d| diagnostic_json(&outcome.text, d)).collect::<Vec<_>>(),
        "summary": { "errors": errors, "warnings": warnings, "infos": infos },
    })
}

/// The common diagnostic JSON plus the end position, flat byte offsets and the fixes.
fn diagnostic_json(text: &str, diagnostic: &Diagnostic) -> Value {
    let mut value = crate::json::diagnostic(diagnostic);
    if let Some(span) = diagnostic.location.as_ref().and_then(|l| l.span) {
        let (end_line, end_column) = end_of(text, span);
        value["end_line"] = json!(end_line);
        value["end_column"] = json!(end_column);
        value["start"] = json!(span.start);
        value["end"] = json!(span.end);
    }
    value["fixes"] = json!(diagnostic.fixes.iter().map(|fix| fix_json(text, fix)).collect::<Vec<_>>());
    value
}

fn fix_json(text: &str, fix: &Fix) -> Value {
    let edits: Vec<Value> = fix
        .edits
        .iter()
        .map(|edit| {
            let (end_line, end_column) = end_of(text, edit.span);
            json!({
                "start": edit.span.start, "end": edit.span.end,
                "line": edit.span.line, "column": edit.span.column,
                "end_line": end_line, "end_column": end_column,
                "new_text": edit.new_text,
            })
        })
        .collect();
    json!({ "title": fix.title, "edits": edits, "command": fix.command.map(|c| c.as_str()) })
}

/// The 1-based line and column (in characters) of a span's end.
fn end_of(text: &str, span: Span) -> (usize, usize) {
    let end = Span::in_source(text, span.end, span.end);
    (end.line, end.column)
}
