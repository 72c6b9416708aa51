//! End-to-end test context: a temporary project and cache, a preset
//! `pybun` command, output filters for snapshots, and where shared data lives.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use crate::scenario::{Scenario, check_scenario};
use crate::server::IndexServer;

/// The workspace root (`tests/pybun-testkit/../..`).
#[must_use]
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// The shared data directory: `$PYBUN_SHARED_DIR` if set, else
/// `<workspace root>/../shared` if it exists, else `None` (callers skip the
/// tests that need it, saying so).
#[must_use]
pub fn shared_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PYBUN_SHARED_DIR") {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    let dir = workspace_root().join("..").join("shared");
    dir.is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}

/// The directory an end-to-end test needs, named by the environment variable
/// `var` (a `just` recipe sets it up); without it, `None`, and a note on
/// stderr saying what the variable should name (`what`) and which `recipe`
/// makes it, so the skip is visible.
#[must_use]
#[expect(clippy::print_stderr, reason = "a skipped test says why")]
pub fn dir_from_env(var: &str, what: &str, recipe: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(var).map(PathBuf::from);
    if dir.is_none() {
        eprintln!("skipped: set {var} to {what} (`just {recipe}`)");
    }
    dir
}

/// `<workspace root>/fixtures/resolver`.
#[must_use]
pub fn fixtures_dir() -> PathBuf {
    workspace_root().join("fixtures").join("resolver")
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    // A directory that cannot be listed is a failure to see, not zero scenarios.
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries.map(|entry| entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))) {
        let path = entry.path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

/// Every `*.toml` scenario under `shared_dir()/packse/scenarios`, sorted;
/// `None` when the shared directory is absent.
#[must_use]
pub fn packse_scenario_files() -> Option<Vec<PathBuf>> {
    let dir = shared_dir()?.join("packse").join("scenarios");
    if !dir.is_dir() {
        return None;
    }
    let mut files = Vec::new();
    toml_files(&dir, &mut files);
    files.sort();
    Some(files)
}

/// Every `*.toml` scenario under `fixtures/resolver`, sorted.
#[must_use]
pub fn fixture_scenario_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    toml_files(&fixtures_dir(), &mut files);
    files.sort();
    files
}

/// A temporary project directory and cache directory for one test.
#[derive(Debug)]
pub struct TestContext {
    pub temp: tempfile::TempDir,
    pub project_dir: PathBuf,
    pub cache_dir: PathBuf,
    ports: Mutex<Vec<u16>>,
}

impl TestContext {
    /// Create `project/` and `cache/` in a new temporary directory.
    ///
    /// # Panics
    /// When the temporary directory cannot be created.
    #[must_use]
    pub fn new() -> Self {
        Self::new_in(&std::env::temp_dir())
    }

    /// [`TestContext::new`], with the temporary directory in `parent` (on
    /// another filesystem, say).
    ///
    /// # Panics
    /// When the temporary directory cannot be created.
    #[must_use]
    pub fn new_in(parent: &Path) -> Self {
        let temp =
            tempfile::Builder::new().prefix("pybun-test-").tempdir_in(parent).expect("create a temporary directory");
        let project_dir = temp.path().join("project");
        let cache_dir = temp.path().join("cache");
        std::fs::create_dir_all(&project_dir).expect("create the project directory");
        std::fs::create_dir_all(&cache_dir).expect("create the cache directory");
        Self { temp, project_dir, cache_dir, ports: Mutex::new(Vec::new()) }
    }

    /// Write `pyproject.toml` in the project directory.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn write_pyproject(&self, text: &str) {
        self.write_file("pyproject.toml", text);
    }

    /// Write a file (relative to the project directory), creating parents.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn write_file(&self, relative: &str, contents: impl AsRef<[u8]>) {
        let path = self.project_dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directories");
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Read a file relative to the project directory, if it exists.
    #[must_use]
    pub fn read_file(&self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.project_dir.join(relative)).ok()
    }

    /// Make `filter_output` replace this server's port with `[PORT]`.
    pub fn watch_server(&self, server: &IndexServer) {
        self.ports.lock().unwrap_or_else(PoisonError::into_inner).push(server.port());
    }

    /// `bin` preset for this context: `--cache-dir`, run in the project
    /// directory, every inherited `PYBUN_*` variable removed, then
    /// `PYBUN_NO_PROGRESS=1` and `NO_COLOR=1`.
    #[must_use]
    pub fn command(&self, bin: &Path) -> Command {
        let mut command = Command::new(bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PYBUN_") {
                command.env_remove(&key);
            }
        }
        command
            .env("PYBUN_NO_PROGRESS", "1")
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("FORCE_COLOR")
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .current_dir(&self.project_dir);
        command
    }

    /// [`TestContext::command`] plus `--index-url` of `server` (whose port is then filtered).
    #[must_use]
    pub fn command_with_index(&self, bin: &Path, server: &IndexServer) -> Command {
        self.watch_server(server);
        let mut command = self.command(bin);
        command.arg("--index-url").arg(server.url());
        command
    }

    fn ports(&self) -> Vec<u16> {
        self.ports.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Default for TestContext {
    fn default() -> Self {
        Self::new()
    }
}

/// Make output stable for snapshots: temporary paths become `[TEMP]`, watched
/// server ports `[PORT]`, and durations such as `in 12ms` / `in 1.5s` become `in [TIME]`.
#[must_use]
pub fn filter_output(text: &str, ctx: &TestContext) -> String {
    let mut out = text.replace("\r\n", "\n");
    let temp = ctx.temp.path();
    let mut paths = vec![temp.to_path_buf()];
    if let Ok(canonical) = temp.canonicalize()
        && canonical != temp {
            paths.push(canonical);
        }
    // Longest first, so a canonical path containing the other is replaced whole.
    paths.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for path in paths {
        let display = path.to_string_lossy().into_owned();
        out = out.replace(&display, "[TEMP]");
        // JSON output escapes backslashes (Windows paths).
        if display.contains('\\') {
            out = out.replace(&display.replace('\\', "\\\\"), "[TEMP]");
        }
    }
    for port in ctx.ports() {
        for host in ["127.0.0.1", "localhost"] {
            out = out.replace(&format!("{host}:{port}"), &format!("{host}:[PORT]"));
        }
    }
    filter_durations(&out)
}

/// `in 12ms`, `in 1.5s`, `in 300µs`, `in 2m 3s` → `in [TIME]`.
#[must_use]
pub fn filter_durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find("in ") {
        let at_boundary = index == 0 || !rest[..index].chars().next_back().is_some_and(char::is_alphanumeric);
        let after = &rest[index + 3..];
        let len = if at_boundary { duration_len(after) } else { 0 };
        if len > 0 {
            out.push_str(&rest[..index]);
            out.push_str("in [TIME]");
            rest = &after[len..];
        } else {
            out.push_str(&rest[..index + 3]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The length of a duration (one or more `<number><unit>` parts separated by
/// single spaces) at the start of `text`, or 0.
fn duration_len(text: &str) -> usize {
    let mut total = duration_part_len(text);
    if total == 0 {
        return 0;
    }
    while text[total..].starts_with(' ') {
        let next = duration_part_len(&text[total + 1..]);
        if next == 0 {
            break;
        }
        total += 1 + next;
    }
    total
}

/// The length of one `<number><unit>` at the start of `text`, or 0.
fn duration_part_len(text: &str) -> usize {
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return 0;
    }
    let digits = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let unit_part = &text[digits..];
    ["ms", "µs", "us", "ns", "s", "m", "h"]
        .iter()
        .find(|u| unit_part.starts_with(**u) && !unit_part[u.len()..].starts_with(|c: char| c.is_alphanumeric()))
        .map_or(0, |u| digits + u.len())
}

/// What one `pybun lock` run of a scenario gave.
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    /// The JSON document of the `--format json` run.
    pub json: serde_json::Value,
    /// stdout / stderr of the `--format json` run.
    pub json_stdout: String,
    pub json_stderr: String,
    /// stderr then stdout of a second, text-mode run (only made when the JSON
    /// run did not succeed): what `error_contains` is checked against.
    pub text_output: String,
    /// The command line of the JSON run (for messages).
    pub command_line: String,
}

/// Run a scenario end to end: serve its universe, write its
/// `pyproject.toml`, run `pybun --format json --index-url URL lock ARGS`
/// (plus a text-mode run when that fails, for `error_contains`).
///
/// # Errors
/// When `pybun` cannot be started or its stdout is not one JSON document.
pub fn run_scenario(bin: &Path, scenario: &Scenario) -> Result<(ScenarioRun, TestContext, IndexServer), String> {
    let server = scenario.start_server();
    let ctx = TestContext::new();
    ctx.write_pyproject(&scenario.pyproject_toml());
    let args = scenario.lock_args();

    let mut command = ctx.command_with_index(bin, &server);
    command.args(["--format", "json", "lock"]).args(&args);
    let command_line = format!("pybun --format json --index-url {} lock {}", server.url(), args.join(" "));
    let output = command.output().map_err(|e| format!("could not run {}: {e}", bin.display()))?;
    let json_stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let json_stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json: serde_json::Value = serde_json::from_str(json_stdout.trim()).map_err(|e| {
        format!("`{command_line}` did not print one JSON document ({e}):\nstdout:\n{json_stdout}\nstderr:\n{json_stderr}")
    })?;

    let mut text_output = String::new();
    if json.get("ok").and_then(serde_json::Value::as_bool) != Some(true) {
        let mut command = ctx.command_with_index(bin, &server);
        command.args(["--format", "text", "lock"]).args(&args);
        let output = command.output().map_err(|e| format!("could not run {}: {e}", bin.display()))?;
        text_output = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
    }
    Ok((ScenarioRun { json, json_stdout, json_stderr, text_output, command_line }, ctx, server))
}

/// [`run_scenario`] then [`check_scenario`]: `Ok` when the outcome matches `[expected]`.
///
/// # Errors
/// Every mismatch, with the command line and outputs.
pub fn run_and_check_scenario(bin: &Path, scenario: &Scenario) -> Result<(), String> {
    let (run, _ctx, _server) = run_scenario(bin, scenario)?;
    check_scenario(scenario, &run.json, &run.text_output).map_err(|e| {
        format!("{e}\n  command: {}\n  stdout: {}\n  stderr: {}", run.command_line, run.json_stdout.trim(), run.json_stderr.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(filter_durations("Resolved 3 packages in 12ms"), "Resolved 3 packages in [TIME]");
        assert_eq!(filter_durations("in 1.52s."), "in [TIME].");
        assert_eq!(filter_durations("done in 2m 3s!"), "done in [TIME]!");
        assert_eq!(filter_durations("in 3 packages"), "in 3 packages");
        assert_eq!(filter_durations("within 3ms"), "within 3ms");
        assert_eq!(filter_durations("in 10ms and in 5µs"), "in [TIME] and in [TIME]");
        assert_eq!(filter_durations("in 5 seconds"), "in 5 seconds");
    }

    #[test]
    fn filters_paths_and_ports() {
        let ctx = TestContext::new();
        let text = format!("wrote {}/pybun.lock", ctx.project_dir.display());
        assert_eq!(filter_output(&text, &ctx), "wrote [TEMP]/project/pybun.lock");
        let server = IndexServer::start(crate::server::Universe::default());
        ctx.watch_server(&server);
        let text = format!("GET {}/a/ in 3ms", server.url());
        assert_eq!(filter_output(&text, &ctx), "GET http://127.0.0.1:[PORT]/simple/a/ in [TIME]");
    }
}
