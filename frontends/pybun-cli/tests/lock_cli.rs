//! End-to-end tests of `pybun lock`, `tree` and `export` through the real
//! binary and a local index (`pybun-testkit`): output formats, freshness,
//! preferences, offline mode, error reporting, lockfile encodings and the
//! index options. Every test is hermetic: its own project, cache and server.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pybun_testkit::{
    CliRun, DistSpec, Flavor, IndexServer, PublishedVersion, ServerOptions, TestContext, Universe, build_wheel, filter_output,
};
use serde_json::Value;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pybun"))
}

type Run = CliRun;

fn run(command: Command) -> Run {
    CliRun::of(command)
}

/// `pybun --index-url SERVER ARGS…` in the context.
fn pybun(ctx: &TestContext, server: &IndexServer, args: &[&str]) -> Run {
    let mut command = ctx.command_with_index(bin(), server);
    command.args(args);
    run(command)
}

/// `pybun --index-url URL ARGS…` in the context.
fn pybun_at(ctx: &TestContext, index_url: &str, args: &[&str]) -> Run {
    let mut command = ctx.command(bin());
    command.arg("--index-url").arg(index_url).args(args);
    run(command)
}

/// `pybun ARGS…` in the context, without an index.
fn pybun_bare(ctx: &TestContext, args: &[&str]) -> Run {
    let mut command = ctx.command(bin());
    command.args(args);
    run(command)
}

fn version(name: &str, version: &str) -> DistSpec {
    DistSpec::new(name, version)
}

fn published(spec: DistSpec) -> PublishedVersion {
    PublishedVersion::new(spec)
}

/// `a` depends on `b` (and on `d` on Windows only), with an extra `fast` that adds `c`.
fn small_universe() -> Universe {
    Universe::default()
        .with(published(
            version("a", "1.0.0")
                .requires(&["b>=1", "d ; sys_platform == 'win32'"])
                .extra("fast", &["c"])
                .requires_python(">=3.8"),
        ))
        .with(published(version("b", "1.0.0")))
        .with(published(version("b", "2.0.0")))
        .with(published(version("c", "1.0.0")))
        .with(published(version("d", "1.0.0")))
}

const SMALL_PYPROJECT: &str = r#"[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["a>=1"]

[project.optional-dependencies]
speed = ["a[fast]"]
"#;

/// A context with `SMALL_PYPROJECT` locked against a fresh server.
fn locked_small() -> (TestContext, IndexServer) {
    let server = IndexServer::start(small_universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(SMALL_PYPROJECT);
    pybun(&ctx, &server, &["lock"]).success();
    assert!(ctx.read_file("pybun.lock").is_some(), "the lock was written");
    (ctx, server)
}

/// The fingerprint covers the index URL, whose port changes from run to run.
fn redact_fingerprint(text: &str) -> String {
    let mut out: String = text
        .lines()
        .map(|line| if line.starts_with("fingerprint = ") { "fingerprint = \"[FINGERPRINT]\"" } else { line })
        .collect::<Vec<_>>()
        .join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn pretty(ctx: &TestContext, value: &Value) -> String {
    filter_output(&serde_json::to_string_pretty(value).expect("serialize"), ctx)
}

fn lock_bytes(ctx: &TestContext, name: &str) -> Option<Vec<u8>> {
    std::fs::read(ctx.project_dir.join(name)).ok()
}

fn versions_of(document: &Value, name: &str) -> Vec<String> {
    document["result"]["packages"]
        .as_array()
        .expect("packages array")
        .iter()
        .filter(|p| p["name"] == name)
        .map(|p| p["version"].as_str().expect("version string").to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// 1. Golden output

#[test]
fn lock_json_document_and_lockfile_are_golden() {
    let server = IndexServer::start(small_universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(SMALL_PYPROJECT);

    let out = pybun(&ctx, &server, &["--format", "json", "lock"]);
    out.success();
    let document = out.json();
    assert!(!out.stdout.trim_end().contains('\n'), "one compact document on one line:\n{out}");
    assert_eq!(document["result"]["status"], "created");
    insta::assert_snapshot!("lock_json", pretty(&ctx, &document));

    let text = ctx.read_file("pybun.lock").expect("pybun.lock written");
    insta::assert_snapshot!("lock_text_file", filter_output(&redact_fingerprint(&text), &ctx));
}

#[test]
fn lock_text_mode_prints_a_summary_on_stderr_only() {
    let server = IndexServer::start(small_universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(SMALL_PYPROJECT);

    let out = pybun(&ctx, &server, &["lock"]);
    out.success();
    assert_eq!(out.stdout, "", "text mode prints nothing on stdout\n{out}");
    assert_eq!(filter_output(out.stderr.trim_end(), &ctx), "Resolved 4 packages in [TIME]; wrote `pybun.lock`");

    // Quiet: errors and results only (the summary is not a result).
    std::fs::remove_file(ctx.project_dir.join("pybun.lock")).expect("remove the lock");
    let out = pybun(&ctx, &server, &["-q", "lock"]);
    out.success();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""), "{out}");
    assert!(ctx.read_file("pybun.lock").is_some());
}

// ---------------------------------------------------------------------------
// 2. Freshness

#[test]
fn second_lock_is_up_to_date_without_any_request() {
    let (ctx, server) = locked_small();
    let before = lock_bytes(&ctx, "pybun.lock");
    server.clear_requests();

    let out = pybun(&ctx, &server, &["--format", "json", "lock"]);
    assert_eq!(out.json()["result"]["status"], "up-to-date", "{out}");
    assert_eq!(server.requests(), Vec::<String>::new(), "an up-to-date lock asks the index nothing");
    assert_eq!(lock_bytes(&ctx, "pybun.lock"), before);

    let out = pybun(&ctx, &server, &["lock"]);
    out.success();
    assert_eq!(out.stderr.trim_end(), "`pybun.lock` is up to date (4 packages); nothing to resolve");
    assert_eq!(server.request_count(), 0);
}

#[test]
fn lock_check_passes_when_fresh_and_fails_when_stale() {
    let (ctx, server) = locked_small();
    server.clear_requests();

    let out = pybun(&ctx, &server, &["lock", "--check"]);
    out.success();
    assert_eq!(out.stderr.trim_end(), "`pybun.lock` is up to date (4 packages)");
    let out = pybun(&ctx, &server, &["--format", "json", "lock", "--check"]);
    assert_eq!(out.json()["result"]["status"], "up-to-date");

    let before = lock_bytes(&ctx, "pybun.lock");
    ctx.write_pyproject(&SMALL_PYPROJECT.replace(r#"["a>=1"]"#, r#"["a>=1", "c"]"#));
    let out = pybun(&ctx, &server, &["lock", "--check"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("error[PB0403]"), "{out}");
    assert!(out.stderr.contains("out of date") && out.stderr.contains("hint: run `pybun lock`"), "{out}");

    let out = pybun(&ctx, &server, &["--format", "json", "lock", "--check"]);
    assert_eq!(out.code, 1, "{out}");
    let document = out.json();
    assert_eq!(document["ok"], false);
    assert_eq!(document["error"]["code"], "PB0403");
    assert_eq!(lock_bytes(&ctx, "pybun.lock"), before, "--check writes nothing");
    assert_eq!(server.request_count(), 0, "--check resolves nothing");
}

#[test]
fn lock_check_without_a_lock_is_pb0404() {
    let server = IndexServer::start(small_universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(SMALL_PYPROJECT);

    let out = pybun(&ctx, &server, &["--format", "json", "lock", "--check"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(out.json()["error"]["code"], "PB0404");
    let out = pybun(&ctx, &server, &["lock", "--check"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("error[PB0404]") && out.stderr.contains("does not exist"), "{out}");
    assert!(lock_bytes(&ctx, "pybun.lock").is_none() && lock_bytes(&ctx, "pybun.lockb").is_none());
    assert_eq!(server.request_count(), 0);
}

// ---------------------------------------------------------------------------
// 3. Preferences

#[test]
fn relock_keeps_locked_versions_until_upgrade() {
    let universe = Universe::default()
        .with(published(version("a", "1.0.0").requires(&["b"])))
        .with(published(version("b", "1.0.0")))
        .with(published(version("c", "1.0.0")));
    let server = IndexServer::start(universe);
    let ctx = TestContext::new();
    let pyproject = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"a\"]\n";
    ctx.write_pyproject(pyproject);
    let out = pybun(&ctx, &server, &["--format", "json", "lock"]);
    assert_eq!(versions_of(&out.json(), "b"), ["1.0.0"], "{out}");

    server.publish(&published(version("b", "2.0.0")));
    ctx.write_pyproject(&pyproject.replace(r#"["a"]"#, r#"["a", "c"]"#));
    let out = pybun(&ctx, &server, &["--format", "json", "lock"]);
    let document = out.json();
    assert_eq!(document["result"]["status"], "updated", "{out}");
    assert_eq!(versions_of(&document, "b"), ["1.0.0"], "the locked version is preferred\n{out}");
    assert_eq!(versions_of(&document, "c"), ["1.0.0"]);

    let out = pybun(&ctx, &server, &["--format", "json", "lock", "--upgrade"]);
    let document = out.json();
    assert_eq!(document["result"]["status"], "updated", "{out}");
    assert_eq!(versions_of(&document, "b"), ["2.0.0"], "--upgrade takes the newest\n{out}");
    let text = ctx.read_file("pybun.lock").expect("lock");
    assert!(text.contains("name = \"b\"\nversion = \"2.0.0\""), "{text}");
}

// ---------------------------------------------------------------------------
// 4. Offline

#[test]
fn offline_relock_from_the_cache_gives_the_same_lock() {
    let (ctx, server) = locked_small();
    let online = lock_bytes(&ctx, "pybun.lock").expect("lock");
    std::fs::remove_file(ctx.project_dir.join("pybun.lock")).expect("remove the lock");
    server.clear_requests();

    let out = pybun(&ctx, &server, &["--offline", "--format", "json", "lock"]);
    assert_eq!(out.json()["result"]["status"], "created", "{out}");
    assert_eq!(server.requests(), Vec::<String>::new(), "offline sends no request");
    assert_eq!(lock_bytes(&ctx, "pybun.lock").as_deref(), Some(online.as_slice()), "same lock offline");
}

#[test]
fn offline_with_an_empty_cache_fails_fast_with_pb0203() {
    let server = IndexServer::start(small_universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(SMALL_PYPROJECT);

    let out = pybun(&ctx, &server, &["--offline", "--format", "json", "lock"]);
    assert_eq!(out.code, 1, "{out}");
    let document = out.json();
    assert_eq!(document["error"]["code"], "PB0203", "{out}");
    assert!(document["error"]["hints"].to_string().contains("without `--offline`"), "{out}");
    assert!(out.elapsed < Duration::from_secs(5), "offline must not wait: {:?}", out.elapsed);
    assert_eq!(server.request_count(), 0);
    assert!(lock_bytes(&ctx, "pybun.lock").is_none());

    let out = pybun(&ctx, &server, &["--offline", "lock"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("error[PB0203]") && out.stderr.contains("/simple/a"), "{out}");
}

// ---------------------------------------------------------------------------
// 5. Bad input: the right code, a useful message, nothing written

/// Replace the locked project's `pyproject.toml` with `pyproject` (when
/// given), run `pybun ARGS…` in text and JSON mode, check the exit code and
/// error code, that the lock is untouched, and return (text run, JSON document).
fn check_failure(
    ctx: &TestContext,
    index_url: &str,
    pyproject: Option<&str>,
    args: &[&str],
    code: &str,
) -> (Run, Value) {
    let before = lock_bytes(ctx, "pybun.lock").expect("a lock exists before");
    if let Some(pyproject) = pyproject {
        ctx.write_pyproject(pyproject);
    }
    let text = pybun_at(ctx, index_url, args);
    assert_eq!(text.code, 1, "{text}");
    assert_eq!(text.stdout, "", "errors go to stderr\n{text}");
    assert!(text.stderr.contains(&format!("error[{code}]")), "expected {code}\n{text}");

    let mut json_args = vec!["--format", "json"];
    json_args.extend_from_slice(args);
    let json = pybun_at(ctx, index_url, &json_args);
    assert_eq!(json.code, 1, "{json}");
    let document = json.json();
    assert_eq!(document["ok"], false, "{json}");
    assert_eq!(document["error"]["code"], code, "{json}");
    assert_eq!(document["error"]["severity"], "error");
    assert!(document["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));

    assert_eq!(lock_bytes(ctx, "pybun.lock").as_deref(), Some(before.as_slice()), "the lock is untouched");
    assert!(lock_bytes(ctx, "pybun.lockb").is_none());
    (text, document)
}

#[test]
fn malformed_toml_is_pb0101_with_a_position() {
    let (ctx, server) = locked_small();
    let bad = "[project]\nname = \"demo\"\nversion = \"0.1.0\nrequires-python = \">=3.9\"\n";
    let (text, document) = check_failure(&ctx, &server.url(), Some(bad), &["lock"], "PB0101");
    let file = ctx.project_dir.join("pyproject.toml");
    assert!(text.stderr.contains(&format!("{}:3:", file.display())), "file:line:column\n{text}");
    assert_eq!(document["error"]["line"], 3, "{document}");
    assert!(document["error"]["column"].as_u64().is_some_and(|c| c >= 1), "{document}");
    assert_eq!(document["error"]["file"], file.display().to_string());
}

#[test]
fn invalid_requirement_is_pb0103_underlined() {
    let (ctx, server) = locked_small();
    let bad = SMALL_PYPROJECT.replace(r#"["a>=1"]"#, r#"["a>=1", "b >=< 2"]"#);
    let (text, document) = check_failure(&ctx, &server.url(), Some(&bad), &["lock"], "PB0103");
    assert_eq!(document["error"]["line"], 5, "{document}");
    insta::assert_snapshot!("invalid_requirement_text", filter_output(&text.stderr, &ctx));
}

#[test]
fn unknown_package_is_pb0301_with_a_suggestion() {
    let mut universe = small_universe();
    universe.add(published(version("python-foo", "1.0.0")));
    let server = IndexServer::start(universe);
    let ctx = TestContext::new();
    ctx.write_pyproject(SMALL_PYPROJECT);
    pybun(&ctx, &server, &["lock"]).success();

    let bad = SMALL_PYPROJECT.replace(r#"["a>=1"]"#, r#"["a>=1", "foo"]"#);
    let (text, document) = check_failure(&ctx, &server.url(), Some(&bad), &["lock"], "PB0301");
    assert!(text.stderr.contains("package `foo` was not found"), "{text}");
    assert!(text.stderr.contains("did you mean `python-foo`?"), "{text}");
    assert_eq!(document["error"]["line"], 5, "points at the requirement: {document}");
}

#[test]
fn unreachable_index_is_pb0200_naming_the_url() {
    let (ctx, server) = locked_small();
    server.clear_requests();
    ctx.write_pyproject(&SMALL_PYPROJECT.replace(r#"["a>=1"]"#, r#"["a>=1", "c"]"#));
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let url = format!("http://127.0.0.1:{closed}/simple");
    let (text, document) = check_failure(&ctx, &url, None, &["lock"], "PB0200");
    assert!(text.stderr.contains(&format!("127.0.0.1:{closed}/simple")), "names the URL\n{text}");
    assert!(text.stderr.contains("hint:") && text.stderr.contains("--offline"), "{text}");
    assert!(document["error"]["hints"].to_string().contains("--offline"), "{document}");
    assert_eq!(server.request_count(), 0, "`--index-url` replaced the working index");
}

#[test]
fn html_labelled_json_and_garbage_pages_are_pb0201() {
    let (ctx, server) = locked_small();
    ctx.write_pyproject(&SMALL_PYPROJECT.replace(r#"["a>=1"]"#, r#"["a>=1", "c"]"#));
    server.set_html_as_json("c");
    let (text, _) = check_failure(&ctx, &server.url(), None, &["lock"], "PB0201");
    assert!(text.stderr.contains("/simple/c/") && text.stderr.contains("not return a valid Simple API page"), "{text}");

    server.clear_faults();
    server.set_garbage("a");
    let (text, _) = check_failure(&ctx, &server.url(), None, &["lock"], "PB0201");
    assert!(text.stderr.contains("/simple/a/"), "{text}");

    server.clear_faults();
    pybun(&ctx, &server, &["lock"]).success();
}

#[test]
fn conflict_is_pb0300_explained_in_text_and_as_a_tree() {
    let (ctx, server) = locked_small();
    let bad = SMALL_PYPROJECT.replace(r#"["a>=1"]"#, r#"["a>=1", "b<1"]"#);
    let (text, document) = check_failure(&ctx, &server.url(), Some(&bad), &["lock"], "PB0300");
    assert!(text.stderr.contains("Because"), "{text}");
    assert!(text.stderr.contains("hint:"), "{text}");
    let conflict = &document["error"]["conflict"];
    assert!(conflict["kind"].is_string(), "{document}");
    fn kinds(node: &Value, out: &mut Vec<String>) {
        out.push(node["kind"].as_str().unwrap_or("?").to_string());
        for cause in node["causes"].as_array().into_iter().flatten() {
            kinds(cause, out);
        }
    }
    let mut all = Vec::new();
    kinds(conflict, &mut all);
    assert_eq!(all[0], "derived", "{document}");
    assert!(all.iter().any(|k| k == "dependency"), "{all:?}");
    assert!(all.iter().all(|k| ["derived", "dependency", "no-versions", "unavailable", "root"].contains(&k.as_str())), "{all:?}");
}

#[test]
fn usage_error_in_json_mode_is_one_document_with_exit_2() {
    let ctx = TestContext::new();
    let out = pybun_bare(&ctx, &["--format", "json", "lock", "--resolution", "nope"]);
    assert_eq!(out.code, 2, "{out}");
    let document = out.json();
    assert_eq!(document["ok"], false);
    assert_eq!(document["schema_version"], 1);
    assert_eq!(document["error"]["code"], "PB0001");
    assert_eq!(document["command"], "lock", "the rejected command line still names its command");
    assert!(document["error"]["causes"].to_string().contains("nope"), "{document}");

    let out = pybun_bare(&ctx, &["lock", "--resolution", "nope"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("nope"), "{out}");

    // An export-only format on another command is a usage error too.
    let out = pybun_bare(&ctx, &["--format", "pylock", "lock"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("error[PB0001]") && out.stderr.contains("`pybun export` only"), "{out}");
}

#[test]
fn http_errors_are_retried_then_pb0202() {
    let (ctx, server) = locked_small();
    ctx.write_pyproject(&SMALL_PYPROJECT.replace(r#"["a>=1"]"#, r#"["a>=1", "c"]"#));
    server.fail_times("/simple/c/", 403, 100);
    let (text, document) = check_failure(&ctx, &server.url(), None, &["lock"], "PB0202");
    assert!(text.stderr.contains("/simple/c/") && text.stderr.contains("HTTP 403"), "{text}");
    assert!(document["error"]["message"].as_str().is_some_and(|m| m.contains("403")), "{document}");

    // A transient 503 is retried.
    server.clear_faults();
    server.clear_requests();
    server.fail_next("/simple/c/", 503);
    let out = pybun(&ctx, &server, &["--format", "json", "lock"]);
    assert_eq!(out.json()["result"]["status"], "updated", "{out}");
    let pages = server.request_log().into_iter().filter(|r| r.path == "/simple/c/").map(|r| r.status).collect::<Vec<_>>();
    assert_eq!(pages, [503, 200]);
}

#[test]
fn sdist_with_dynamic_dependencies_that_cannot_be_built_names_the_file() {
    let mut universe = small_universe();
    let mut only_sdist = published(version("dyn", "1.0.0").requires(&["b"]));
    only_sdist.wheel_tags.clear();
    only_sdist.dynamic_requires = true;
    universe.add(only_sdist);
    let server = IndexServer::start(universe);
    let ctx = TestContext::new();
    ctx.write_pyproject(SMALL_PYPROJECT);
    pybun(&ctx, &server, &["lock"]).success();

    let bad = SMALL_PYPROJECT.replace(r#"["a>=1"]"#, r#"["a>=1", "dyn"]"#);
    // Its PKG-INFO cannot be trusted, so it is built for its metadata; the
    // build needs setuptools, which this index does not have.
    let (text, document) = check_failure(&ctx, &server.url(), Some(&bad), &["lock"], "PB0205");
    assert!(text.stderr.contains("dyn-1.0.0.tar.gz"), "names the file\n{text}");
    assert!(text.stderr.contains("could not be built") && text.stderr.contains("setuptools"), "says why\n{text}");
    assert_eq!(document["error"]["line"], 5, "points at the requirement: {document}");
}

// ---------------------------------------------------------------------------
// 6. Binary lockfile

#[test]
fn binary_lockfile_prints_as_the_text_lock_and_feeds_tree() {
    let server = IndexServer::start(small_universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(SMALL_PYPROJECT);
    let out = pybun(&ctx, &server, &["--format", "json", "lock", "--lockfile-format", "binary"]);
    let document = out.json();
    assert_eq!(document["result"]["status"], "created", "{out}");
    assert!(document["result"]["lockfile"].as_str().is_some_and(|p| p.ends_with("pybun.lockb")), "{out}");
    let binary = lock_bytes(&ctx, "pybun.lockb").expect("pybun.lockb written");
    assert!(binary.starts_with(b"PYBUNLKB"));
    assert!(lock_bytes(&ctx, "pybun.lock").is_none(), "no text lock");

    // The same project locked as text elsewhere, against the same index.
    let other = TestContext::new();
    other.write_pyproject(SMALL_PYPROJECT);
    pybun(&other, &server, &["lock"]).success();
    let text_lock = other.read_file("pybun.lock").expect("text lock");

    let out = pybun_bare(&ctx, &["lock", "--print"]);
    out.success();
    assert_eq!(out.stdout.trim_end(), text_lock.trim_end(), "--print renders the binary lock as the text lock");
    let out = pybun_bare(&ctx, &["--format", "json", "lock", "--print"]);
    assert_eq!(out.json()["result"]["text"], text_lock.as_str());

    // Still fresh, whatever the encoding.
    let out = pybun(&ctx, &server, &["--format", "json", "lock", "--check"]);
    assert_eq!(out.json()["result"]["status"], "up-to-date", "{out}");

    let tree_binary = pybun_bare(&ctx, &["tree"]);
    tree_binary.success();
    let tree_text = pybun_bare(&other, &["tree"]);
    assert_eq!(tree_binary.stdout, tree_text.stdout);
    assert!(tree_binary.stdout.contains("a v1.0.0"), "{tree_binary}");

    // One flipped bit: corrupt.
    let mut flipped = binary;
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    std::fs::write(ctx.project_dir.join("pybun.lockb"), &flipped).expect("write");
    let out = pybun_bare(&ctx, &["tree"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("error[PB0402]"), "{out}");
    let out = pybun_bare(&ctx, &["--format", "json", "tree"]);
    assert_eq!(out.json()["error"]["code"], "PB0402", "{out}");
}

// ---------------------------------------------------------------------------
// 7. tree and export

#[test]
fn tree_text_and_json() {
    let (ctx, _server) = locked_small();
    let out = pybun_bare(&ctx, &["tree"]);
    out.success();
    insta::assert_snapshot!("tree_text", out.stdout);

    let out = pybun_bare(&ctx, &["--format", "json", "tree"]);
    let document = out.json();
    assert_eq!(document["command"], "tree");
    let root = &document["result"];
    assert_eq!((root["name"].as_str(), root["version"].as_str()), (Some("demo"), Some("0.1.0")));
    let a = &root["dependencies"][0];
    assert_eq!(a["name"], "a");
    let names: Vec<&str> = a["dependencies"].as_array().expect("nested").iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(names, ["b", "d"], "{document}");
    assert_eq!(a["dependencies"][1]["marker"], "sys_platform == 'win32'");
    insta::assert_snapshot!("tree_json", pretty(&ctx, &document));

    let out = pybun_bare(&ctx, &["tree", "--depth", "1"]);
    assert!(!out.stdout.contains("b v"), "depth 1 stops at direct dependencies\n{out}");
}

#[test]
fn tree_marks_repeated_subtrees_and_groups() {
    let universe = Universe::default()
        .with(published(version("left", "1.0.0").requires(&["shared"])))
        .with(published(version("right", "1.0.0").requires(&["shared"])))
        .with(published(version("shared", "1.0.0").requires(&["leaf"])))
        .with(published(version("leaf", "1.0.0")))
        .with(published(version("pytest", "8.0.0")));
    let server = IndexServer::start(universe);
    let ctx = TestContext::new();
    ctx.write_pyproject(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"left\", \"right\"]\n\n[dependency-groups]\ndev = [\"pytest\"]\n",
    );
    pybun(&ctx, &server, &["lock"]).success();
    let out = pybun_bare(&ctx, &["tree"]);
    out.success();
    assert_eq!(
        out.stdout,
        "demo v0.1.0\n\
         ├── left v1.0.0\n\
         │   └── shared v1.0.0\n\
         │       └── leaf v1.0.0\n\
         ├── right v1.0.0\n\
         │   └── shared v1.0.0 (*)\n\
         └── pytest v8.0.0 (group:dev)\n",
        "{out}"
    );
    let out = pybun_bare(&ctx, &["--format", "json", "tree"]);
    let document = out.json();
    let shared_again = &document["result"]["dependencies"][1]["dependencies"][0];
    assert_eq!((shared_again["name"].as_str(), shared_again["repeated"].as_bool()), (Some("shared"), Some(true)), "{out}");
    assert_eq!(shared_again["dependencies"], serde_json::json!([]));
    assert_eq!(document["result"]["dependencies"][2]["via"], "group:dev");

    // `dev` is exported unless `--no-dev`.
    assert!(pybun_bare(&ctx, &["export"]).stdout.contains("pytest==8.0.0"));
    assert!(!pybun_bare(&ctx, &["export", "--no-dev"]).stdout.contains("pytest"));
}

#[test]
fn export_requirements_txt_has_every_hash() {
    let (ctx, server) = locked_small();
    let out = pybun_bare(&ctx, &["export", "--all-extras"]);
    out.success();
    let text = out.stdout;
    for (name, version) in [("a", "1.0.0"), ("b", "2.0.0"), ("c", "1.0.0"), ("d", "1.0.0")] {
        assert!(text.contains(&format!("{name}=={version}")), "{name}=={version}\n{text}");
        let files: Vec<String> = server.filenames().into_iter().filter(|f| f.starts_with(&format!("{name}-{version}"))).collect();
        assert_eq!(files.len(), 2, "a wheel and an sdist");
        for file in files {
            let hash = server.file_sha256(&file).expect("hash");
            assert!(text.contains(&format!("--hash=sha256:{hash}")), "{file}\n{text}");
        }
    }
    assert!(text.contains("d==1.0.0 ; sys_platform == 'win32'"), "{text}");
    assert!(!text.contains("b==1.0.0"), "{text}");
    insta::assert_snapshot!("export_requirements_txt", filter_output(&text, &ctx));

    // Without the extra, `c` is not needed.
    let out = pybun_bare(&ctx, &["export"]);
    assert!(!out.stdout.contains("c==1.0.0"), "{out}");

    let target = ctx.temp.path().join("requirements.txt");
    let out = pybun_bare(&ctx, &["export", "--all-extras", "-o", target.to_str().expect("utf-8 path")]);
    out.success();
    assert_eq!(out.stdout, "", "{out}");
    assert!(out.stderr.contains("Exported 4 packages"), "{out}");
    assert_eq!(std::fs::read_to_string(&target).expect("written"), text.trim_end().to_string() + "\n");
}

#[test]
fn export_pylock() {
    let (ctx, _server) = locked_small();
    let out = pybun_bare(&ctx, &["export", "--format", "pylock"]);
    out.success();
    assert!(out.stdout.contains("lock-version = \"1.0\""), "{out}");
    assert!(out.stdout.contains("[[packages]]\nname = \"a\""), "{out}");
    let out = pybun_bare(&ctx, &["--format", "json", "export", "--to", "pylock"]);
    let document = out.json();
    assert_eq!(document["result"]["format"], "pylock");
    assert_eq!(document["result"]["packages"], 3, "a, b and d (c is behind an extra)\n{out}");
    assert!(document["result"]["text"].as_str().is_some_and(|t| t.contains("lock-version")));
}

// ---------------------------------------------------------------------------
// 8. Index options

#[test]
fn extra_index_url_first_match() {
    let first = IndexServer::start(
        Universe::default()
            .with(published(version("shared", "1.0.0")))
            .with(published(version("onlyfirst", "1.0.0"))),
    );
    let second = IndexServer::start(
        Universe::default()
            .with(published(version("shared", "2.0.0")))
            .with(published(version("onlysecond", "1.0.0"))),
    );
    let ctx = TestContext::new();
    ctx.watch_server(&second);
    ctx.write_pyproject(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"shared\", \"onlyfirst\", \"onlysecond\"]\n",
    );
    let out = pybun(&ctx, &first, &["--extra-index-url", &second.url(), "--format", "json", "lock"]);
    let document = out.json();
    assert_eq!(document["ok"], true, "{out}");
    let packages: Vec<(String, String)> = document["result"]["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["source"] == "registry")
        .map(|p| (format!("{} {}", p["name"].as_str().unwrap_or(""), p["version"].as_str().unwrap_or("")), p["index"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        packages,
        [
            ("onlyfirst 1.0.0".to_string(), first.url()),
            ("onlysecond 1.0.0".to_string(), second.url()),
            ("shared 1.0.0".to_string(), first.url()),
        ],
        "the first index that knows a project supplies it"
    );
    assert!(
        !second.requests().iter().any(|p| p.starts_with("/simple/shared")),
        "later indexes are not asked: {:?}",
        second.requests()
    );
    let text = ctx.read_file("pybun.lock").expect("lock");
    assert!(text.contains(&format!("source = {{ registry = \"{}\" }}", second.url())), "{text}");
}

#[test]
fn find_links_directory_supplies_a_package_the_index_lacks() {
    let server = IndexServer::start(small_universe());
    let ctx = TestContext::new();
    let wheels = ctx.temp.path().join("wheels");
    std::fs::create_dir_all(&wheels).expect("mkdir");
    let (filename, bytes) = build_wheel(&version("local-pkg", "0.3.0").requires(&["b<2"]), "py3-none-any");
    std::fs::write(wheels.join(&filename), bytes).expect("write wheel");
    ctx.write_pyproject(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"local-pkg\"]\n",
    );
    let links = wheels.to_str().expect("utf-8 path");
    let out = pybun(&ctx, &server, &["--find-links", links, "--format", "json", "lock"]);
    let document = out.json();
    assert_eq!(document["ok"], true, "{out}");
    let local = document["result"]["packages"].as_array().expect("packages").iter().find(|p| p["name"] == "local-pkg").cloned();
    let local = local.unwrap_or_else(|| panic!("local-pkg locked\n{out}"));
    assert_eq!(local["version"], "0.3.0");
    assert_eq!(local["source"], "find-links");
    assert_eq!(local["index"], links);
    assert_eq!(versions_of(&document, "b"), ["1.0.0"], "its metadata was read from the local wheel");
    let text = ctx.read_file("pybun.lock").expect("lock");
    assert!(text.contains(&format!("source = {{ find-links = \"{links}\" }}")), "{text}");
    assert!(text.contains(&format!("filename = \"{filename}\"")), "{text}");
}

#[test]
fn html_index_without_metadata_files_or_ranges_gives_the_same_export() {
    let json_server = IndexServer::start(small_universe());
    let html_server = IndexServer::start_with(
        small_universe(),
        ServerOptions { flavor: Flavor::Html, metadata_files: false, range_requests: false, relative_urls: true },
    );
    let mut exports = Vec::new();
    for server in [&json_server, &html_server] {
        let ctx = TestContext::new();
        ctx.write_pyproject(SMALL_PYPROJECT);
        pybun(&ctx, server, &["lock"]).success();
        let out = pybun_bare(&ctx, &["export", "--all-extras"]);
        out.success();
        exports.push(filter_output(&out.stdout, &ctx));
    }
    assert_eq!(exports[0], exports[1]);
    assert!(
        html_server.requests().iter().any(|p| p.ends_with(".whl")) && !html_server.requests().iter().any(|p| p.ends_with(".metadata")),
        "metadata read from whole wheels: {:?}",
        html_server.requests()
    );
}

// ---------------------------------------------------------------------------
// 9. Logging

#[test]
fn verbose_logs_requests_on_stderr_and_json_stdout_stays_clean() {
    let server = IndexServer::start(small_universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(SMALL_PYPROJECT);
    let out = pybun(&ctx, &server, &["-v", "--format", "json", "lock"]);
    assert_eq!(out.json()["ok"], true, "{out}");
    assert!(out.stderr.contains(&format!("{}/a/", server.url())), "-v logs the project page requests\n{out}");
    assert!(out.stderr.contains("http request"), "{out}");

    // Without -v, JSON mode writes nothing to stderr either.
    std::fs::remove_file(ctx.project_dir.join("pybun.lock")).expect("remove");
    let out = pybun(&ctx, &server, &["--format", "json", "lock"]);
    assert_eq!(out.json()["ok"], true, "{out}");
    assert_eq!(out.stderr, "", "{out}");
}

// ---------------------------------------------------------------------------
// 10. Python forks

#[test]
fn python_fork_locks_both_versions() {
    let universe = Universe::default()
        .with(published(version("a", "1.0.0").requires_python(">=3.8")))
        .with(published(version("a", "2.0.0").requires_python(">=3.12")));
    let server = IndexServer::start(universe);
    let ctx = TestContext::new();
    ctx.write_pyproject(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"a\"]\n",
    );
    let out = pybun(&ctx, &server, &["--format", "json", "lock"]);
    assert_eq!(versions_of(&out.json(), "a"), ["1.0.0", "2.0.0"], "{out}");

    let text = ctx.read_file("pybun.lock").expect("lock");
    for needle in [
        "{ name = \"a\", version = \"1.0.0\", marker = \"python_full_version < '3.12'\" },",
        "{ name = \"a\", version = \"2.0.0\", marker = \"python_full_version >= '3.12'\" },",
        "version = \"1.0.0\"\nsource = { registry = ",
        "resolution-marker = \"python_full_version < '3.12'\"",
        "resolution-marker = \"python_full_version >= '3.12'\"",
    ] {
        assert!(text.contains(needle), "missing {needle:?}\n{text}");
    }

    let out = pybun_bare(&ctx, &["tree"]);
    out.success();
    assert_eq!(
        out.stdout,
        "demo v0.1.0\n├── a v1.0.0 ; python_full_version < '3.12'\n└── a v2.0.0 ; python_full_version >= '3.12'\n",
        "{out}"
    );

    let out = pybun_bare(&ctx, &["export"]);
    out.success();
    assert!(out.stdout.contains("a==1.0.0 ; python_full_version < '3.12'"), "{out}");
    assert!(out.stdout.contains("a==2.0.0 ; python_full_version >= '3.12'"), "{out}");
}

#[test]
fn missing_lock_for_tree_and_export_is_pb0404() {
    let ctx = TestContext::new();
    ctx.write_pyproject(SMALL_PYPROJECT);
    for command in ["tree", "export"] {
        let out = pybun_bare(&ctx, &["--format", "json", command]);
        assert_eq!(out.code, 1, "{out}");
        assert_eq!(out.json()["error"]["code"], "PB0404", "{out}");
    }
}

#[test]
fn damaged_binary_lock_is_regenerated_by_lock_but_fails_check() {
    let (ctx, server) = locked_small();
    let text_lock = lock_bytes(&ctx, "pybun.lock").expect("text lock");
    let out = pybun(&ctx, &server, &["lock", "--lockfile-format", "binary"]);
    out.success();
    assert!(lock_bytes(&ctx, "pybun.lock").is_none(), "switching encodings removes the other file\n{out}");
    let good = lock_bytes(&ctx, "pybun.lockb").expect("binary lock");
    let mut damaged = good.clone();
    damaged.truncate(damaged.len() - 3);
    std::fs::write(ctx.project_dir.join("pybun.lockb"), &damaged).expect("write");

    let out = pybun(&ctx, &server, &["--format", "json", "lock", "--check"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(out.json()["error"]["code"], "PB0402");

    // SPECS §6: a `pybun.lockb` that fails to decode is regenerated.
    let out = pybun(&ctx, &server, &["--format", "json", "lock", "--lockfile-format", "binary"]);
    let document = out.json();
    assert_eq!(document["ok"], true, "{out}");
    assert_eq!(document["warnings"][0]["code"], "PB0402", "{out}");
    assert_eq!(document["warnings"][0]["severity"], "warning", "{out}");
    assert_eq!(lock_bytes(&ctx, "pybun.lockb"), Some(good), "the same lock again");

    // Regenerating as text removes the damaged binary file.
    std::fs::write(ctx.project_dir.join("pybun.lockb"), &damaged).expect("write");
    let out = pybun(&ctx, &server, &["lock"]);
    out.success();
    assert!(out.stderr.contains("warning[PB0402]") && out.stderr.contains("regenerating"), "{out}");
    assert!(lock_bytes(&ctx, "pybun.lockb").is_none(), "{out}");
    assert_eq!(lock_bytes(&ctx, "pybun.lock"), Some(text_lock));
}

#[test]
fn the_project_is_found_from_a_subdirectory_and_with_directory() {
    let server = IndexServer::start(small_universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(SMALL_PYPROJECT);
    let nested = ctx.project_dir.join("src/pkg");
    std::fs::create_dir_all(&nested).expect("mkdir");
    let mut command = ctx.command_with_index(bin(), &server);
    command.current_dir(&nested).args(["--format", "json", "lock"]);
    let out = run(command);
    let document = out.json();
    assert_eq!(document["result"]["status"], "created", "{out}");
    assert_eq!(document["result"]["lockfile"], ctx.project_dir.join("pybun.lock").display().to_string());
    assert!(!nested.join("pybun.lock").exists());

    let mut command = ctx.command_with_index(bin(), &server);
    command.current_dir(ctx.temp.path()).arg("--directory").arg(&nested).args(["tree", "--depth", "1"]);
    let out = run(command);
    assert_eq!(out.stdout, "demo v0.1.0\n├── a v1.0.0\n└── a[fast] v1.0.0 (extra:speed)\n", "{out}");

    let out = pybun_bare(&ctx, &["--format", "json", "lock", "--print", "--directory", ctx.temp.path().to_str().expect("utf-8")]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(out.json()["error"]["code"], "PB0404", "{out}");
}
