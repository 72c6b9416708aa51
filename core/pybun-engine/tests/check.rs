//! The check layers as data: every `fixtures/check/NAME.toml` is a scenario
//! (the file's text, an index, options) run through `pybun_engine::check::check`
//! with the in-memory fakes, and its `expected` diagnostics compared.
//!
//! Scenario keys: `text` (the file), `file` (`pyproject.toml` or `NAME.py`),
//! `offline`, `locked_text` (lock this text first with the lock use case,
//! then check `text` against that lock), `[packages.NAME]` (`"VERSION" =
//! { requires = [...], requires_python = "...", yanked = true }`, or a list
//! of versions), `expected`: one line per diagnostic,
//! `CODE severity L:C-L:C [underlined] message | cause: … | hint: … | fix: title => L:C-L:C "new text"`,
//! then one line per code action of the index layer (`action L:C-L:C title => edit`).
//! `UPDATE_CHECK_FIXTURES=1` rewrites `expected` (review the diff).
#![expect(clippy::disallowed_methods, reason = "the test reads its fixture files")]

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;

use pybun_engine::check::{CheckRequest, check, check_index, check_script_static, check_static};
use pybun_engine::{Diagnostic, Failure, IndexSettings, LockRequest, Span};
use pybun_pep::PackageName;
use pybun_ports::testing::{FixtureIndex, MemoryFs};
use pybun_ports::{DistFile, NullReporter, PackageIndex};

const ROOT: &str = "/project";

fn index_of(scenario: &toml::Table) -> FixtureIndex {
    let mut index = FixtureIndex::new();
    let Some(packages) = scenario.get("packages").and_then(toml::Value::as_table) else { return index };
    for (name, versions) in packages {
        let entries: Vec<(String, toml::Table)> = match versions {
            toml::Value::Array(list) => {
                list.iter().map(|v| (v.as_str().expect("a version").to_string(), toml::Table::new())).collect()
            }
            toml::Value::Table(table) => {
                table.iter().map(|(v, spec)| (v.clone(), spec.as_table().cloned().unwrap_or_default())).collect()
            }
            other => panic!("packages.{name}: {other:?}"),
        };
        for (version, spec) in entries {
            let package = PackageName::from_str(name).expect("a package name");
            let filename = format!("{}-{version}-py3-none-any.whl", package.as_dist_info_name());
            let requires_python = spec.get("requires_python").and_then(toml::Value::as_str);
            let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
            if let Some(rp) = requires_python {
                metadata.push_str(&format!("Requires-Python: {rp}\n"));
            }
            for requirement in spec.get("requires").and_then(toml::Value::as_array).into_iter().flatten() {
                metadata.push_str(&format!("Requires-Dist: {}\n", requirement.as_str().expect("a requirement")));
            }
            let yanked = spec.get("yanked").and_then(toml::Value::as_bool).unwrap_or(false);
            let file = DistFile {
                filename: filename.clone(),
                url: format!("https://example.invalid/files/{filename}"),
                index: IndexSettings::PYPI.to_string(),
                sha256: Some("00".repeat(32)),
                size: Some(1),
                requires_python: requires_python.map(str::to_string),
                yanked: yanked.then(String::new),
                upload_time: None,
                has_metadata: true,
            };
            index.add_file(&package, file, &metadata);
        }
    }
    index
}

fn render_span(text: &str, span: Span) -> String {
    let end = Span::in_source(text, span.end, span.end);
    format!("{}:{}-{}:{}", span.line, span.column, end.line, end.column)
}

fn render(text: &str, diagnostic: &Diagnostic) -> String {
    let mut out = format!("{} {}", diagnostic.code.as_str(), diagnostic.severity.as_str());
    match diagnostic.location.as_ref().and_then(|l| l.span) {
        Some(span) => {
            let under: String = text[span.start..span.end].lines().next().unwrap_or("").chars().take(40).collect();
            out.push_str(&format!(" {} [{under}]", render_span(text, span)));
        }
        None => out.push_str(" -"),
    }
    out.push(' ');
    out.push_str(&diagnostic.message);
    for cause in &diagnostic.causes {
        out.push_str(&format!(" | cause: {cause}"));
    }
    for hint in &diagnostic.hints {
        out.push_str(&format!(" | hint: {hint}"));
    }
    for fix in &diagnostic.fixes {
        out.push_str(&format!(" | fix: {}", fix.title));
        for edit in &fix.edits {
            out.push_str(&format!(" => {} {:?}", render_span(text, edit.span), edit.new_text));
        }
        if let Some(command) = fix.command {
            out.push_str(&format!(" => run {}", command.as_str()));
        }
    }
    out
}

/// Run the scenario; the rendered diagnostics and actions.
fn run(scenario: &toml::Table) -> String {
    let text = scenario["text"].as_str().expect("`text`");
    let file = scenario.get("file").and_then(toml::Value::as_str).unwrap_or("pyproject.toml");
    let offline = scenario.get("offline").and_then(toml::Value::as_bool).unwrap_or(false);
    let index: Arc<dyn PackageIndex> = Arc::new(index_of(scenario));
    let opener = |_: &IndexSettings| -> Result<Arc<dyn PackageIndex>, Failure> { Ok(index.clone()) };
    let fs = MemoryFs::new();
    let path = Path::new(ROOT).join(file);
    let is_script = file.ends_with(".py");
    if let Some(locked) = scenario.get("locked_text").and_then(toml::Value::as_str) {
        fs.insert(&path, locked);
        let request = LockRequest {
            directory: PathBuf::from(ROOT),
            script: is_script.then(|| PathBuf::from(file)),
            ..LockRequest::default()
        };
        pybun_engine::lock(&request, &fs, &opener, &NullReporter).unwrap_or_else(|f| panic!("locking `locked_text`: {f}"));
    }
    fs.insert(&path, text);
    let request =
        CheckRequest { directory: PathBuf::from(ROOT), path: Some(PathBuf::from(file)), offline, ..CheckRequest::default() };
    let outcome = check(&request, &fs, &opener, &NullReporter).unwrap_or_else(|f| panic!("check failed: {f}"));
    let mut lines: Vec<String> = outcome.diagnostics.iter().map(|d| render(text, d)).collect();
    if !offline {
        let file_name = path.display().to_string();
        let checked = if is_script { check_script_static(text, &file_name) } else { check_static(text, &file_name) };
        if let Some(project) = &checked.project {
            for action in check_index(text, project, &file_name, index.as_ref()).actions {
                let mut line = format!("action {} {}", render_span(text, action.span), action.fix.title);
                for edit in &action.fix.edits {
                    line.push_str(&format!(" => {} {:?}", render_span(text, edit.span), edit.new_text));
                }
                lines.push(line);
            }
        }
    }
    lines.join("\n")
}

#[test]
fn scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/check");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/check")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "scenarios in {}", dir.display());
    let update = std::env::var_os("UPDATE_CHECK_FIXTURES").is_some();
    let mut failures = Vec::new();
    for path in paths {
        let source = std::fs::read_to_string(&path).expect("a scenario");
        let scenario: toml::Table = toml::from_str(&source).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let actual = run(&scenario);
        let expected = scenario.get("expected").and_then(toml::Value::as_str).unwrap_or("").trim_end();
        if actual.trim_end() != expected {
            if update {
                // `expected = '''…'''` is replaced in place (every scenario has one).
                let marker = "expected = '''";
                let start = source.find(marker).expect("an `expected` key");
                let end = source[start + marker.len()..].find("'''").map(|i| start + marker.len() + i + 3).expect("closed");
                let updated = format!("{}{marker}\n{}\n'''{}", &source[..start], actual.trim_end(), &source[end..]);
                std::fs::write(&path, updated).expect("write the scenario");
            }
            failures.push(format!("{}:\n--- expected ---\n{expected}\n--- actual ---\n{actual}\n", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(set UPDATE_CHECK_FIXTURES=1 to rewrite `expected`, then review the diff)",
        failures.join("\n")
    );
}
