//! End-to-end tests of `pybun sync`, `install`, `add`, `remove`, `init`,
//! `venv` and `cache` through the real binary, a local index
//! (`pybun-testkit`) and real interpreters and venvs on this machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use pybun_testkit::{CliRun, DistSpec, IndexServer, PublishedVersion, TestContext, Universe, build_wheel, dir_from_env};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pybun"))
}

type Run = CliRun;

fn run(command: Command) -> Run {
    CliRun::of(command)
}

fn pybun(ctx: &TestContext, server: &IndexServer, args: &[&str]) -> Run {
    let mut command = ctx.command_with_index(bin(), server);
    command.args(args);
    run(command)
}

fn pybun_bare(ctx: &TestContext, args: &[&str]) -> Run {
    let mut command = ctx.command(bin());
    command.args(args);
    run(command)
}

fn published(spec: DistSpec) -> PublishedVersion {
    PublishedVersion::new(spec)
}

/// `app` (with a console script `app-hello`) depends on `lib`; `other` is unrelated.
fn universe() -> Universe {
    Universe::default()
        .with(published(DistSpec::new("app", "1.0.0").requires(&["lib>=1"]).console_script("app-hello", "app:main")))
        .with(published(DistSpec::new("lib", "1.0.0")))
        .with(published(DistSpec::new("lib", "2.0.0")))
        .with(published(DistSpec::new("other", "1.0.0")))
        .with(published(DistSpec::new("winonly", "1.0.0")))
}

const PYPROJECT: &str = r#"[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.8"
dependencies = ["app", "winonly ; sys_platform == 'win32'"]
"#;

fn project() -> (TestContext, IndexServer) {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(PYPROJECT);
    (ctx, server)
}

fn venv_python(ctx: &TestContext) -> PathBuf {
    ctx.project_dir.join(".venv/bin/python")
}

fn python_run(ctx: &TestContext, code: &str) -> Run {
    let mut command = Command::new(venv_python(ctx));
    command.arg("-c").arg(code).current_dir(&ctx.project_dir);
    run(command)
}

fn site_packages(ctx: &TestContext) -> PathBuf {
    let lib = ctx.project_dir.join(".venv/lib");
    let entry = std::fs::read_dir(&lib).unwrap().next().unwrap().unwrap();
    entry.path().join("site-packages")
}

/// `name==version` of every visible `.dist-info` in the venv.
fn installed(ctx: &TestContext) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(site_packages(ctx))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".dist-info")?;
            if stem.starts_with('.') {
                return None;
            }
            let (n, v) = stem.rsplit_once('-')?;
            Some(format!("{}=={v}", n.to_lowercase().replace('_', "-")))
        })
        .collect();
    out.sort();
    out
}

/// Every file of every installed distribution matches its `RECORD` (hash and size).
fn verify_records(ctx: &TestContext) {
    let site = site_packages(ctx);
    for entry in std::fs::read_dir(&site).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".dist-info") || name.starts_with('.') {
            continue;
        }
        let record = std::fs::read_to_string(path.join("RECORD")).unwrap();
        for line in record.lines().filter(|l| !l.trim().is_empty()) {
            let mut fields = line.rsplitn(3, ',');
            let size = fields.next().unwrap();
            let hash = fields.next().unwrap();
            let file = fields.next().unwrap();
            if hash.is_empty() {
                continue;
            }
            let bytes = std::fs::read(site.join(file)).unwrap_or_else(|e| panic!("{file} of {name}: {e}"));
            let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&bytes));
            assert_eq!(hash, format!("sha256={digest}"), "hash of {file} in {name}");
            assert_eq!(size, bytes.len().to_string(), "size of {file} in {name}");
        }
    }
}

fn changes(json: &Value) -> BTreeMap<String, String> {
    json["result"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let action = c["action"].as_str().unwrap().to_string();
            (c["name"].as_str().unwrap().to_string(), format!("{action} {}", c["version"].as_str().unwrap()))
        })
        .collect()
}

#[test]
fn fresh_sync_installs_the_locked_packages_for_this_interpreter() {
    let (ctx, server) = project();
    let out = pybun(&ctx, &server, &["--format", "json", "sync"]);
    out.success();
    let json = out.json();
    assert_eq!(json["command"], "sync");
    assert_eq!(json["ok"], true);
    assert_eq!(json["result"]["venv_created"], true, "{out}");
    let expected: BTreeMap<String, String> =
        [("app", "installed 1.0.0"), ("lib", "installed 2.0.0")].into_iter().map(|(a, b)| (a.into(), b.into())).collect();
    assert_eq!(changes(&json), expected, "winonly's marker is false here\n{out}");
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0"]);
    verify_records(&ctx);
    assert!(ctx.read_file("pybun.lock").is_some(), "sync locked first");

    // Importable, and the entry point runs with the venv's interpreter.
    let imported = python_run(&ctx, "import app, lib, sys; print(app.__version__, lib.__version__, sys.prefix)");
    imported.success();
    assert!(imported.stdout.starts_with("1.0.0 2.0.0 "), "{imported}");
    let script = ctx.project_dir.join(".venv/bin/app-hello");
    let hello = run(Command::new(&script));
    hello.success();
    assert!(hello.stdout.contains("hello from app"), "{hello}");
    // The launcher names the venv's interpreter.
    let launcher = std::fs::read_to_string(&script).unwrap();
    assert!(launcher.starts_with(&format!("#!{}", ctx.project_dir.join(".venv/bin/python").display())), "{launcher}");
}

#[test]
fn text_output_lists_changes() {
    let (ctx, server) = project();
    let out = pybun(&ctx, &server, &["sync"]);
    out.success();
    assert!(out.stderr.contains("+ app==1.0.0"), "{out}");
    assert!(out.stderr.contains("+ lib==2.0.0"), "{out}");
    let again = pybun(&ctx, &server, &["sync"]);
    again.success();
    assert!(again.stderr.contains("already in sync"), "{again}");
}

#[test]
fn a_no_op_sync_changes_nothing_and_downloads_nothing() {
    let (ctx, server) = project();
    pybun(&ctx, &server, &["sync"]).success();
    let dist_info = site_packages(&ctx).join("app-1.0.0.dist-info");
    let before = std::fs::metadata(dist_info.join("RECORD")).unwrap().modified().unwrap();
    server.clear_requests();
    let out = pybun(&ctx, &server, &["--format", "json", "sync"]);
    out.success();
    let json = out.json();
    assert!(changes(&json).is_empty(), "{out}");
    assert_eq!(json["result"]["unchanged"], 2);
    assert_eq!(json["result"]["venv_created"], false);
    assert_eq!(server.request_count(), 0, "an up-to-date lock and env need no index: {:?}", server.requests());
    assert_eq!(std::fs::metadata(dist_info.join("RECORD")).unwrap().modified().unwrap(), before);
}

#[test]
fn a_second_environment_comes_from_the_cache_without_downloads() {
    let (ctx, server) = project();
    pybun(&ctx, &server, &["sync"]).success();
    std::fs::remove_dir_all(ctx.project_dir.join(".venv")).unwrap();
    server.clear_requests();
    let out = pybun(&ctx, &server, &["--format", "json", "sync"]);
    out.success();
    assert_eq!(out.json()["result"]["downloaded"], 0, "{out}");
    assert_eq!(server.request_count(), 0, "{:?}", server.requests());
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0"]);
    verify_records(&ctx);
}

/// The cache is told of likely downloads (and warms the HTTP client up)
/// only for a new venv with a locked project it holds nothing of: not for an
/// existing venv's sync, nor for a new venv the cache can fill (`winonly`,
/// locked behind a marker and never downloaded here, does not count).
#[test]
fn the_http_client_is_warmed_up_only_for_a_new_venv_needing_downloads() {
    let (ctx, server) = project();
    let sync = || {
        let mut command = ctx.command_with_index(bin(), &server);
        command.env("PYBUN_LOG", "pybun_cache=debug").arg("sync");
        let out = run(command);
        out.success();
        out.stderr.contains("warming the HTTP client up")
    };
    assert!(sync(), "a new venv, nothing cached");
    assert!(!sync(), "an existing venv");
    std::fs::remove_dir_all(ctx.project_dir.join(".venv")).unwrap();
    assert!(!sync(), "a new venv, everything cached");
}

/// A new venv's sync fetches the wheels every interpreter would take (a
/// package needed without a marker, whose only wheel is `py3-none-any`)
/// while the interpreter is still being chosen: even when no interpreter is
/// found, those were fetched, and only those. Each wheel is downloaded once.
#[test]
fn wheels_for_every_interpreter_are_fetched_while_the_interpreter_is_chosen() {
    let mut universe = universe();
    let mut two_wheels = published(DistSpec::new("twowheels", "1.0.0"));
    two_wheels.wheel_tags = vec!["py3-none-any".to_string(), "py2.py3-none-any".to_string()];
    universe.add(two_wheels);
    let server = IndexServer::start(universe);
    let ctx = TestContext::new();
    ctx.write_pyproject(&PYPROJECT.replace(r#"["app","#, r#"["app", "twowheels","#));
    pybun(&ctx, &server, &["lock"]).success();
    let wheel_gets = |server: &IndexServer| {
        let mut gets: Vec<String> = server
            .request_log()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(".whl"))
            .map(|r| r.path.rsplit('/').next().unwrap_or_default().to_string())
            .collect();
        gets.sort();
        gets
    };

    server.clear_requests();
    let no_python = pybun(&ctx, &server, &["--format", "json", "sync", "--python", "2.99"]);
    no_python.failure();
    assert_eq!(no_python.json()["error"]["code"], "PB0500", "{no_python}");
    assert_eq!(wheel_gets(&server), ["app-1.0.0-py3-none-any.whl", "lib-2.0.0-py3-none-any.whl"]);

    // The next sync takes those from the cache and downloads the rest.
    server.clear_requests();
    pybun(&ctx, &server, &["sync"]).success();
    assert_eq!(wheel_gets(&server), ["twowheels-1.0.0-py2.py3-none-any.whl"]);
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0", "twowheels==1.0.0"]);

    // With nothing cached, nothing is downloaded twice.
    std::fs::remove_dir_all(&ctx.cache_dir).unwrap();
    std::fs::remove_dir_all(ctx.project_dir.join(".venv")).unwrap();
    server.clear_requests();
    let out = pybun(&ctx, &server, &["--format", "json", "sync"]);
    out.success();
    assert_eq!(
        wheel_gets(&server),
        ["app-1.0.0-py3-none-any.whl", "lib-2.0.0-py3-none-any.whl", "twowheels-1.0.0-py2.py3-none-any.whl"]
    );
    assert_eq!(changes(&out.json()).len(), 3, "{out}");
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0", "twowheels==1.0.0"]);
    verify_records(&ctx);
    python_run(&ctx, "import app, lib, twowheels").success();
}

#[test]
fn upgrade_and_removal_of_extraneous_packages() {
    let (ctx, server) = project();
    // Start with lib pinned to 1.0.0 and an extra package.
    ctx.write_pyproject(&PYPROJECT.replace(r#"["app","#, r#"["app", "lib==1.0.0", "other","#));
    pybun(&ctx, &server, &["sync"]).success();
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==1.0.0", "other==1.0.0"]);

    // A newer lib is required; `other` is no longer wanted; `app` stays as it is.
    let app_record = site_packages(&ctx).join("app-1.0.0.dist-info/RECORD");
    let app_before = std::fs::metadata(&app_record).unwrap().modified().unwrap();
    ctx.write_pyproject(&PYPROJECT.replace(r#"["app","#, r#"["app", "lib>=2","#));
    let out = pybun(&ctx, &server, &["--format", "json", "sync"]);
    out.success();
    let json = out.json();
    let changes = changes(&json);
    assert_eq!(changes.len(), 2, "only lib and other change: {out}");
    assert_eq!(json["result"]["unchanged"], 1, "{out}");
    assert_eq!(std::fs::metadata(&app_record).unwrap().modified().unwrap(), app_before, "app untouched");
    assert_eq!(changes.get("lib").map(String::as_str), Some("updated 2.0.0"), "{out}");
    assert_eq!(changes.get("other").map(String::as_str), Some("removed 1.0.0"), "{out}");
    let lib_change = json["result"]["changes"].as_array().unwrap().iter().find(|c| c["name"] == "lib").unwrap().clone();
    assert_eq!(lib_change["from"], "1.0.0");
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0"]);
    assert!(!site_packages(&ctx).join("other").exists(), "the removed package's files are gone");
    verify_records(&ctx);
}

#[test]
fn locked_and_frozen() {
    let (ctx, server) = project();
    pybun(&ctx, &server, &["lock"]).success();
    ctx.write_pyproject(&PYPROJECT.replace(r#"["app","#, r#"["app", "other","#));
    let stale = pybun(&ctx, &server, &["--format", "json", "sync", "--locked"]);
    stale.failure();
    assert_eq!(stale.json()["error"]["code"], "PB0403", "{stale}");
    assert!(!ctx.project_dir.join(".venv").exists(), "nothing was created");

    // `--frozen` installs the lock as it is.
    pybun(&ctx, &server, &["sync", "--frozen"]).success();
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0"]);

    // Without a lock, `--frozen` is an error.
    std::fs::remove_file(ctx.project_dir.join("pybun.lock")).unwrap();
    let missing = pybun(&ctx, &server, &["--format", "json", "sync", "--frozen"]);
    missing.failure();
    assert_eq!(missing.json()["error"]["code"], "PB0404", "{missing}");
}

#[test]
fn a_hash_mismatch_is_refused_and_nothing_is_installed() {
    let (ctx, server) = project();
    pybun(&ctx, &server, &["lock"]).success();
    let lock = ctx.read_file("pybun.lock").unwrap();
    let real = server.file_sha256("lib-2.0.0-py3-none-any.whl").unwrap();
    let fake = "0".repeat(64);
    assert!(lock.contains(&real));
    ctx.write_file("pybun.lock", lock.replace(&real, &fake));
    let out = pybun(&ctx, &server, &["--format", "json", "sync", "--frozen"]);
    out.failure();
    let json = out.json();
    assert_eq!(json["error"]["code"], "PB0503", "{out}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("lib-2.0.0-py3-none-any.whl"), "{message}");
    assert!(message.contains(&fake) && message.contains(&real), "names expected and actual: {message}");
    if ctx.project_dir.join(".venv").exists() {
        // `app` may have been installed while `lib` downloaded: it is gone again, script included.
        assert!(installed(&ctx).is_empty(), "nothing installed: {:?}", installed(&ctx));
        let left: Vec<_> = std::fs::read_dir(site_packages(&ctx)).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "left in site-packages: {left:?}");
        assert!(!ctx.project_dir.join(".venv/bin/app-hello").exists());
    }
    // Text mode says the same with a hint.
    let text = pybun(&ctx, &server, &["sync", "--frozen"]);
    text.failure();
    assert!(text.stderr.contains("error[PB0503]") && text.stderr.contains("hint:"), "{text}");
}

/// A wheel whose archive writes outside its target (`../`).
fn evil_wheel() -> (String, Vec<u8>) {
    use std::io::Write as _;
    let (filename, good) = build_wheel(&DistSpec::new("evil", "1.0"), "py3-none-any");
    let mut reader = zip::ZipArchive::new(std::io::Cursor::new(good)).unwrap();
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let mut record = String::new();
    for i in 0..reader.len() {
        let mut file = reader.by_index(i).unwrap();
        let name = file.name().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
        if name.ends_with("RECORD") {
            record = String::from_utf8(bytes).unwrap();
            continue;
        }
        writer.start_file(name, options).unwrap();
        writer.write_all(&bytes).unwrap();
    }
    let payload = b"pwned\n";
    writer.start_file("../../evil.txt", options).unwrap();
    writer.write_all(payload).unwrap();
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(payload));
    record.push_str(&format!("../../evil.txt,sha256={digest},{}\n", payload.len()));
    writer.start_file("evil-1.0.dist-info/RECORD", options).unwrap();
    writer.write_all(record.as_bytes()).unwrap();
    (filename, writer.finish().unwrap().into_inner())
}

#[test]
fn a_zip_slip_wheel_is_refused() {
    let ctx = TestContext::new();
    let links = ctx.temp.path().join("links");
    std::fs::create_dir_all(&links).unwrap();
    let (filename, bytes) = evil_wheel();
    std::fs::write(links.join(&filename), bytes).unwrap();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"evil\"]\n");
    let empty = IndexServer::start(Universe::default());
    let out = pybun(&ctx, &empty, &["--format", "json", "--find-links", links.to_str().unwrap(), "sync"]);
    out.failure();
    assert_eq!(out.json()["error"]["code"], "PB0507", "{out}");
    assert!(!ctx.temp.path().join("evil.txt").exists());
    assert!(!ctx.project_dir.join("evil.txt").exists());
    if ctx.project_dir.join(".venv").exists() {
        assert!(installed(&ctx).is_empty());
    }
}

#[test]
fn two_concurrent_syncs_share_one_cache() {
    let server = IndexServer::start(universe());
    let first = TestContext::new();
    let second = TestContext::new();
    first.write_pyproject(PYPROJECT);
    second.write_pyproject(PYPROJECT);
    let spawn = |ctx: &TestContext| {
        // Both use the first context's cache.
        let mut command = Command::new(bin());
        command
            .current_dir(&ctx.project_dir)
            .env("PYBUN_NO_PROGRESS", "1")
            .arg("--cache-dir")
            .arg(&first.cache_dir)
            .arg("--index-url")
            .arg(server.url())
            .arg("sync");
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        command.spawn().unwrap()
    };
    let a = spawn(&first);
    let b = spawn(&second);
    for child in [a, b] {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(installed(&first), ["app==1.0.0", "lib==2.0.0"]);
    assert_eq!(installed(&second), ["app==1.0.0", "lib==2.0.0"]);
    verify_records(&first);
    verify_records(&second);
}

#[test]
fn an_interrupted_sync_is_repaired_by_the_next() {
    let (ctx, server) = project();
    pybun(&ctx, &server, &["lock"]).success();
    // Kill sync at several points; each next sync must leave a complete env.
    for delay_ms in [5_u64, 20, 60, 120, 250] {
        let _ = std::fs::remove_dir_all(ctx.project_dir.join(".venv"));
        let mut command = ctx.command_with_index(bin(), &server);
        command.arg("sync").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut child = command.spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        pybun(&ctx, &server, &["sync"]).success();
        assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0"], "after a kill at {delay_ms} ms");
        verify_records(&ctx);
        python_run(&ctx, "import app, lib").success();
    }

    // A half-installed distribution (files placed, `.dist-info` never renamed
    // into place) does not look installed, and sync completes it.
    let site = site_packages(&ctx);
    std::fs::remove_dir_all(site.join("lib-2.0.0.dist-info")).unwrap();
    // (Replaced, not written through: installed files may be hard links into the cache.)
    std::fs::remove_file(site.join("lib/__init__.py")).unwrap();
    std::fs::write(site.join("lib/__init__.py"), "raise ImportError('half-written')\n").unwrap();
    std::fs::create_dir_all(site.join(".lib-2.0.0.dist-info-XXXX")).unwrap();
    assert_eq!(installed(&ctx), ["app==1.0.0"]);
    pybun(&ctx, &server, &["sync"]).success();
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0"]);
    verify_records(&ctx);
    python_run(&ctx, "import lib").success();
}

/// A find-links directory holding the test build backend's wheel.
fn backend_links(ctx: &TestContext) -> PathBuf {
    let links = ctx.temp.path().join("backend-links");
    std::fs::create_dir_all(&links).unwrap();
    let (filename, bytes) = pybun_testkit::test_backend_wheel();
    std::fs::write(links.join(filename), bytes).unwrap();
    links
}

/// A project `demo` (depending on `lib`) built by the test backend.
fn backend_project() -> String {
    format!(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"lib\"]\n\n\
         [build-system]\nrequires = [\"{}\"]\nbuild-backend = \"{}\"\n",
        pybun_testkit::TEST_BACKEND_NAME,
        pybun_testkit::TEST_BACKEND
    )
}

#[test]
fn the_project_is_installed_editable_through_its_build_backend() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    let links = backend_links(&ctx);
    ctx.write_pyproject(&backend_project());
    ctx.write_file("src/demo/__init__.py", "VALUE = 1\n");
    let links = links.to_str().unwrap();
    let out = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "sync"]);
    out.success();
    assert_eq!(changes(&out.json()).get("demo").map(String::as_str), Some("installed 0.1.0"), "{out}");
    python_run(&ctx, "import demo; assert demo.VALUE == 1").success();
    // Editable: a change to the sources shows without reinstalling.
    ctx.write_file("src/demo/__init__.py", "VALUE = 2\n");
    python_run(&ctx, "import demo; assert demo.VALUE == 2").success();
    let direct_url = std::fs::read_to_string(site_packages(&ctx).join("demo-0.1.0.dist-info/direct_url.json")).unwrap();
    let direct_url: Value = serde_json::from_str(&direct_url).unwrap();
    assert_eq!(direct_url["dir_info"]["editable"], true);
    assert!(direct_url["url"].as_str().unwrap().starts_with("file:///"), "{direct_url}");
    verify_records(&ctx);

    // A no-op sync does not rebuild (and reuses the build environment next time it is needed).
    let again = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "sync"]);
    again.success();
    assert!(changes(&again.json()).is_empty(), "{again}");
    let build_envs = std::fs::read_dir(ctx.cache_dir.join("build-envs-v1")).unwrap().count();
    assert_eq!(build_envs, 1, "one cached build environment");
}

#[test]
fn an_sdist_only_dependency_is_built_once_and_cached() {
    let mut universe = universe();
    let mut only_sdist = PublishedVersion::new(DistSpec::new("fromsrc", "1.5").with_test_backend());
    only_sdist.wheel_tags.clear();
    universe.add(only_sdist);
    let server = IndexServer::start(universe);
    let ctx = TestContext::new();
    let links = backend_links(&ctx);
    let links = links.to_str().unwrap();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"fromsrc\"]\n");
    let out = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "sync"]);
    out.success();
    assert_eq!(changes(&out.json()).get("fromsrc").map(String::as_str), Some("installed 1.5"), "{out}");
    python_run(&ctx, "import fromsrc; assert fromsrc.__version__ == '1.5'").success();
    verify_records(&ctx);
    assert_eq!(std::fs::read_dir(ctx.cache_dir.join("built-v1")).unwrap().count(), 1);

    // A fresh environment takes the built wheel from the cache: no build, no download
    // (the sdist is gone from the cache, so a rebuild would have to download it).
    std::fs::remove_dir_all(ctx.project_dir.join(".venv")).unwrap();
    std::fs::remove_dir_all(ctx.cache_dir.join("archives-v1")).unwrap();
    server.clear_requests();
    let again = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "sync"]);
    again.success();
    assert_eq!(server.request_count(), 0, "{:?}", server.requests());
    python_run(&ctx, "import fromsrc").success();
    assert_eq!(std::fs::read_dir(ctx.cache_dir.join("scratch-v1")).unwrap().count(), 0, "scratch space is cleaned up");
}

#[test]
fn an_sdist_with_dynamic_dependencies_is_built_to_lock_it() {
    let mut universe = universe();
    let mut dynamic = PublishedVersion::new(DistSpec::new("oldstyle", "2.0").requires(&["lib>=1"]).with_test_backend());
    dynamic.wheel_tags.clear();
    dynamic.dynamic_requires = true;
    universe.add(dynamic);
    let server = IndexServer::start(universe);
    let ctx = TestContext::new();
    let links = backend_links(&ctx);
    let links = links.to_str().unwrap();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"oldstyle\"]\n");
    // PKG-INFO says the dependencies are dynamic: the lock builds the sdist
    // and takes them from the built wheel's METADATA.
    let out = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "lock"]);
    out.success();
    let lock = ctx.read_file("pybun.lock").unwrap();
    assert!(lock.contains("name = \"lib\""), "the built metadata's dependency is locked\n{lock}");
    assert_eq!(std::fs::read_dir(ctx.cache_dir.join("built-v1")).unwrap().count(), 1);
    // Sync installs the wheel built for the lock: no second build.
    let synced = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "sync"]);
    synced.success();
    let changes = changes(&synced.json());
    assert_eq!(changes.get("oldstyle").map(String::as_str), Some("installed 2.0"), "{synced}");
    assert!(changes.contains_key("lib"), "{synced}");
    assert_eq!(std::fs::read_dir(ctx.cache_dir.join("built-v1")).unwrap().count(), 1);
    python_run(&ctx, "import oldstyle, lib").success();
    // A re-lock from scratch, offline, reads the built metadata from the cache.
    std::fs::remove_file(ctx.project_dir.join("pybun.lock")).unwrap();
    let offline = pybun(&ctx, &server, &["--offline", "--find-links", links, "lock"]);
    offline.success();
    assert_eq!(ctx.read_file("pybun.lock").unwrap(), lock, "{offline}");
}

#[test]
fn a_failing_build_changes_nothing_and_shows_the_backend_output() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    let links = backend_links(&ctx);
    ctx.write_pyproject(&backend_project());
    // No `src/demo`: the backend raises.
    let out = pybun(&ctx, &server, &["--format", "json", "--find-links", links.to_str().unwrap(), "sync"]);
    out.failure();
    let json = out.json();
    assert_eq!(json["error"]["code"], "PB0508", "{out}");
    assert!(json["error"]["message"].as_str().unwrap().contains("no package directory for demo"), "{out}");
    assert!(installed(&ctx).is_empty(), "lib was not installed either: {:?}", installed(&ctx));
}

#[test]
fn add_then_remove_returns_pyproject_byte_identical() {
    let (ctx, server) = project();
    let original = "[project]\n# the demo project\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\n    \"app\",  # the app\n]\n\n[tool.other]\nkeep = true\n";
    ctx.write_pyproject(original);
    let added = pybun(&ctx, &server, &["--format", "json", "add", "other>=1"]);
    added.success();
    let json = added.json();
    assert_eq!(json["result"]["entries"], serde_json::json!(["other>=1"]));
    assert!(ctx.read_file("pyproject.toml").unwrap().contains("\"other>=1\""));
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0", "other==1.0.0"]);

    let dev = pybun(&ctx, &server, &["add", "--dev", "winonly"]);
    dev.success();
    assert!(ctx.read_file("pyproject.toml").unwrap().contains("[dependency-groups]"), "{dev}");

    pybun(&ctx, &server, &["remove", "--dev", "winonly"]).success();
    let removed = pybun(&ctx, &server, &["--format", "json", "remove", "other"]);
    removed.success();
    let json = removed.json();
    assert_eq!(json["command"], "remove", "{removed}");
    assert_eq!(json["result"]["entries"], serde_json::json!(["other>=1"]), "{removed}");
    assert_eq!(json["result"]["target"], "`[project] dependencies`", "{removed}");
    let sync = &json["result"]["sync"];
    assert_eq!(sync["changes"], serde_json::json!([{"action": "removed", "from": null, "name": "other", "version": "1.0.0"}]));
    assert_eq!(sync["unchanged"], 2, "{removed}");
    assert_eq!(ctx.read_file("pyproject.toml").unwrap(), original, "byte-identical");
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0"]);
}

#[test]
fn a_failed_add_leaves_pyproject_and_lock_untouched() {
    let (ctx, server) = project();
    pybun(&ctx, &server, &["lock"]).success();
    let pyproject = ctx.read_file("pyproject.toml").unwrap();
    let lock = ctx.read_file("pybun.lock").unwrap();
    // No such package.
    let missing = pybun(&ctx, &server, &["--format", "json", "add", "no-such-package"]);
    missing.failure();
    assert_eq!(missing.json()["error"]["code"], "PB0301", "{missing}");
    // Unsatisfiable.
    let conflict = pybun(&ctx, &server, &["--format", "json", "add", "lib<1"]);
    conflict.failure();
    assert_eq!(conflict.json()["error"]["code"], "PB0300", "{conflict}");
    // Invalid requirement.
    let invalid = pybun(&ctx, &server, &["--format", "json", "add", "lib>>1"]);
    invalid.failure();
    assert_eq!(invalid.json()["error"]["code"], "PB0103", "{invalid}");
    assert_eq!(ctx.read_file("pyproject.toml").unwrap(), pyproject);
    assert_eq!(ctx.read_file("pybun.lock").unwrap(), lock);
    // Removing what is not there names what is.
    let absent = pybun(&ctx, &server, &["remove", "nope"]);
    absent.failure();
    assert!(absent.stderr.contains("error[PB0111]") && absent.stderr.contains("app"), "{absent}");
}

#[test]
fn init_creates_a_project_that_syncs() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    let dir = ctx.project_dir.join("my-app");
    let out = pybun_bare(&ctx, &["--format", "json", "init", "my-app"]);
    out.success();
    let json = out.json();
    assert_eq!(json["result"]["name"], "my-app");
    let version = json["result"]["python_version"].as_str().unwrap().to_string();
    assert_eq!(std::fs::read_to_string(dir.join(".python-version")).unwrap().trim(), version);
    assert!(std::fs::read_to_string(dir.join(".gitignore")).unwrap().contains(".venv"));
    let pyproject = std::fs::read_to_string(dir.join("pyproject.toml")).unwrap();
    assert!(pyproject.contains("name = \"my-app\"") && pyproject.contains(&format!("requires-python = \">={version}\"")), "{pyproject}");
    // A second init refuses to overwrite.
    let again = pybun_bare(&ctx, &["init", "my-app"]);
    again.failure();
    assert!(again.stderr.contains("already exists"), "{again}");
    // It syncs, with the pinned interpreter.
    let mut command = ctx.command_with_index(bin(), &server);
    command.arg("--directory").arg(&dir).args(["--format", "json", "add", "app"]);
    let added = run(command);
    added.success();
    assert!(added.json()["result"]["sync"]["python_version"].as_str().unwrap().starts_with(&version), "{added}");
}

#[test]
fn venv_command_creates_an_environment() {
    let ctx = TestContext::new();
    let out = pybun_bare(&ctx, &["--format", "json", "venv", "env1", "--prompt", "hello"]);
    out.success();
    let json = out.json();
    let root = ctx.project_dir.join("env1");
    assert_eq!(json["result"]["venv"], root.display().to_string());
    assert!(root.join("pyvenv.cfg").is_file());
    assert!(std::fs::read_to_string(root.join("pyvenv.cfg")).unwrap().contains("prompt = hello"));
    let prefix = run({
        let mut c = Command::new(root.join("bin/python"));
        c.args(["-c", "import sys; print(sys.prefix)"]);
        c
    });
    assert_eq!(prefix.stdout.trim(), root.display().to_string());
    // A directory that is not a venv is refused.
    std::fs::create_dir_all(ctx.project_dir.join("notavenv")).unwrap();
    std::fs::write(ctx.project_dir.join("notavenv/data.txt"), "keep me").unwrap();
    let refused = pybun_bare(&ctx, &["--format", "json", "venv", "notavenv", "--clear"]);
    refused.failure();
    assert_eq!(refused.json()["error"]["code"], "PB0502", "{refused}");
    assert!(ctx.project_dir.join("notavenv/data.txt").exists());
    // A bad --python is a clear error.
    let bad = pybun_bare(&ctx, &["--format", "json", "venv", "env2", "--python", "2.99"]);
    bad.failure();
    assert_eq!(bad.json()["error"]["code"], "PB0500", "{bad}");
}

#[test]
fn cache_commands() {
    let (ctx, server) = project();
    pybun(&ctx, &server, &["sync"]).success();
    let dir = pybun_bare(&ctx, &["cache", "dir"]);
    dir.success();
    assert_eq!(dir.stdout.trim(), ctx.cache_dir.display().to_string());
    let clean_lib = pybun_bare(&ctx, &["--format", "json", "cache", "clean", "lib"]);
    clean_lib.success();
    assert!(clean_lib.json()["result"]["removed_files"].as_u64().unwrap() > 0, "{clean_lib}");
    let prune = pybun_bare(&ctx, &["--format", "json", "cache", "prune"]);
    prune.success();
    let clean = pybun_bare(&ctx, &["--format", "json", "cache", "clean"]);
    clean.success();
    assert!(std::fs::read_dir(&ctx.cache_dir).unwrap().all(|e| e.unwrap().file_name() == ".lock"));
    // The environment still works, and the next sync of a new venv downloads again.
    python_run(&ctx, "import app, lib").success();
    std::fs::remove_dir_all(ctx.project_dir.join(".venv")).unwrap();
    let out = pybun(&ctx, &server, &["--format", "json", "sync"]);
    out.success();
    assert_eq!(out.json()["result"]["downloaded"], 2, "{out}");
}

/// Output of `python3 -c CODE`, if it succeeds.
fn python3_says(python: &str, code: &str) -> Option<String> {
    let output = Command::new(python).args(["-c", code]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// A find-links directory with setuptools (the wheel `ensurepip` bundles) and
/// `wheel` (repacked from an installed copy: setuptools < 70.1 needs it to
/// build), from this machine; `None` when either is missing.
fn setuptools_wheelhouse(dir: &Path) -> Option<PathBuf> {
    let mut setuptools = None;
    for python in ["python3", "/usr/bin/python3"] {
        let bundled = python3_says(python, "import ensurepip, os; print(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled'))");
        if let Some(found) = bundled.and_then(|d| {
            std::fs::read_dir(d).ok()?.filter_map(Result::ok).map(|e| e.path()).find(|p| {
                p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("setuptools-") && n.to_string_lossy().ends_with(".whl"))
            })
        }) {
            setuptools = Some(found);
            break;
        }
    }
    let setuptools = setuptools?;
    let (wheel_dir, wheel_version) = ["/usr/bin/python3", "python3"].iter().find_map(|python| {
        let out = python3_says(python, "import os, wheel; print(os.path.dirname(wheel.__file__)); print(wheel.__version__)")?;
        let mut lines = out.lines();
        Some((PathBuf::from(lines.next()?), lines.next()?.to_string()))
    })?;
    let links = dir.join("setuptools-links");
    std::fs::create_dir_all(&links).ok()?;
    std::fs::copy(&setuptools, links.join(setuptools.file_name()?)).ok()?;
    let mut files = Vec::new();
    let mut stack = vec![wheel_dir.clone()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).ok()? {
            let path = entry.ok()?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "__pycache__") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "py") {
                let relative = path.strip_prefix(wheel_dir.parent()?).ok()?.to_string_lossy().replace('\\', "/");
                files.push((relative, std::fs::read(&path).ok()?));
            }
        }
    }
    files.sort();
    // setuptools finds `bdist_wheel` through this entry point.
    files.push((
        format!("wheel-{wheel_version}.dist-info/entry_points.txt"),
        b"[distutils.commands]\nbdist_wheel = wheel.bdist_wheel:bdist_wheel\n".to_vec(),
    ));
    let (filename, bytes) = pybun_testkit::wheel_from_files("wheel", &wheel_version, &files);
    std::fs::write(links.join(filename), bytes).ok()?;
    Some(links)
}

#[test]
#[expect(clippy::print_stderr, reason = "says why the test is skipped on machines without setuptools")]
fn a_setuptools_project_is_installed_editable() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    let Some(links) = setuptools_wheelhouse(ctx.temp.path()) else {
        eprintln!("skipped: this machine has no bundled setuptools wheel or installed `wheel` package to serve");
        return;
    };
    ctx.write_pyproject(
        "[project]\nname = \"stdemo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"lib\"]\n\n\
         [build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n",
    );
    ctx.write_file("src/stdemo/__init__.py", "VALUE = 'setuptools'\n");
    let out = pybun(&ctx, &server, &["--format", "json", "--find-links", links.to_str().unwrap(), "sync"]);
    out.success();
    assert_eq!(changes(&out.json()).get("stdemo").map(String::as_str), Some("installed 0.1.0"), "{out}");
    python_run(&ctx, "import stdemo; assert stdemo.VALUE == 'setuptools'").success();
    ctx.write_file("src/stdemo/__init__.py", "VALUE = 'edited'\n");
    python_run(&ctx, "import stdemo; assert stdemo.VALUE == 'edited', stdemo.VALUE").success();
    verify_records(&ctx);
}

/// Hatchling and its dependencies are not on this machine: this test runs
/// when `PYBUN_TEST_WHEELHOUSE` names a directory of their wheels
/// (`just e2e-hatchling` downloads them), and says it skipped otherwise.
#[test]
fn a_hatchling_project_is_installed_editable() {
    let Some(wheelhouse) =
        dir_from_env("PYBUN_TEST_WHEELHOUSE", "a directory with hatchling's wheels", "e2e-hatchling")
    else {
        return;
    };
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(
        "[project]\nname = \"hdemo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"lib\"]\n\n\
         [build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n",
    );
    ctx.write_file("src/hdemo/__init__.py", "VALUE = 'hatch'\n");
    let links = wheelhouse;
    let out = pybun(&ctx, &server, &["--format", "json", "--find-links", links.to_str().unwrap(), "sync"]);
    out.success();
    assert_eq!(changes(&out.json()).get("hdemo").map(String::as_str), Some("installed 0.1.0"), "{out}");
    python_run(&ctx, "import hdemo; assert hdemo.VALUE == 'hatch'").success();
    verify_records(&ctx);
    ctx.write_file("src/hdemo/__init__.py", "VALUE = 'edited'\n");
    python_run(&ctx, "import hdemo; assert hdemo.VALUE == 'edited'").success();
}

#[test]
fn sync_and_add_keep_the_options_the_lock_was_made_with() {
    let (ctx, server) = project();
    pybun(&ctx, &server, &["lock", "--resolution", "lowest"]).success();
    let out = pybun(&ctx, &server, &["--format", "json", "sync"]);
    out.success();
    assert_eq!(out.json()["result"]["lock_status"], "up-to-date", "{out}");
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==1.0.0"]);
    // A re-lock after an edit still resolves lowest.
    pybun(&ctx, &server, &["add", "other"]).success();
    assert!(ctx.read_file("pybun.lock").unwrap().contains("resolution = \"lowest\""));
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==1.0.0", "other==1.0.0"]);
}

/// `pybun install`: locks when there is no lock, then syncs.
#[test]
fn install_locks_when_needed_then_syncs() {
    let (ctx, server) = project();
    assert!(ctx.read_file("pybun.lock").is_none());
    let out = pybun(&ctx, &server, &["--format", "json", "install"]);
    out.success();
    let json = out.json();
    assert_eq!(json["command"], "install", "{out}");
    assert!(ctx.read_file("pybun.lock").is_some(), "locked first");
    let expected: BTreeMap<String, String> =
        [("app", "installed 1.0.0"), ("lib", "installed 2.0.0")].into_iter().map(|(a, b)| (a.into(), b.into())).collect();
    assert_eq!(changes(&json), expected, "{out}");
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0"]);
    verify_records(&ctx);
    let again = pybun(&ctx, &server, &["--format", "json", "install"]);
    again.success();
    assert!(changes(&again.json()).is_empty(), "{again}");
}

/// `--python` takes a path or a version; another interpreter recreates the venv.
#[test]
#[expect(clippy::print_stderr, reason = "says why the test is skipped on machines without pyenv's 3.12.1")]
fn python_selects_the_interpreter_by_path_or_version() {
    let pyenv = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv/versions/3.12.1/bin/python3"));
    let Some(other) = pyenv.filter(|path| path.is_file()) else {
        eprintln!("skipped: no ~/.pyenv/versions/3.12.1 on this machine");
        return;
    };
    let (ctx, server) = project();
    let by_path = pybun(&ctx, &server, &["--format", "json", "sync", "--python", other.to_str().unwrap()]);
    by_path.success();
    assert!(by_path.json()["result"]["python_version"].as_str().unwrap().starts_with("3.12"), "{by_path}");
    let version = python_run(&ctx, "import sys; print(sys.version_info[:2])");
    assert_eq!(version.stdout.trim(), "(3, 12)", "{version}");
    // The venv's interpreter is kept while it satisfies the request; another version recreates it.
    let by_version = pybun(&ctx, &server, &["--format", "json", "sync", "--python", "3.13"]);
    by_version.success();
    let json = by_version.json();
    assert!(json["result"]["python_version"].as_str().unwrap().starts_with("3.13"), "{by_version}");
    assert_eq!(json["result"]["venv_created"], true, "{by_version}");
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0"]);
    verify_records(&ctx);
}

/// `--link-mode copy` places independent copies; `hardlink` links to the cache.
#[test]
fn link_modes_place_files_as_asked() {
    use std::os::unix::fs::MetadataExt as _;
    let (ctx, server) = project();
    let module = || site_packages(&ctx).join("app/__init__.py");
    pybun(&ctx, &server, &["sync", "--link-mode", "copy"]).success();
    assert_eq!(std::fs::metadata(module()).unwrap().nlink(), 1, "a copy");
    verify_records(&ctx);
    std::fs::remove_dir_all(ctx.project_dir.join(".venv")).unwrap();
    pybun(&ctx, &server, &["sync", "--link-mode", "hardlink"]).success();
    assert!(std::fs::metadata(module()).unwrap().nlink() >= 2, "linked to the cache's copy");
    verify_records(&ctx);
    let bad = pybun(&ctx, &server, &["sync", "--link-mode", "teleport"]);
    bad.failure();
}

/// On a filesystem that can clone files (btrfs, xfs), the default link mode
/// is a clone: an installed file is not a hard link of the cache's (one
/// link), yet shares its extents with it (`filefrag` says `shared`). Runs
/// when `PYBUN_TEST_REFLINK_DIR` names a directory on such a filesystem
/// (`just e2e-reflink` makes one on a loop-mounted btrfs image); this
/// machine's temp directory is ext4, which cannot.
#[test]
fn the_default_link_mode_is_a_clone_where_the_filesystem_can() {
    use std::os::unix::fs::MetadataExt as _;
    let Some(dir) = dir_from_env("PYBUN_TEST_REFLINK_DIR", "a directory on btrfs or xfs", "e2e-reflink") else {
        return;
    };
    let server = IndexServer::start(universe());
    let ctx = TestContext::new_in(&dir);
    // A file too large for btrfs to keep inline in its metadata: it has extents to share.
    let data: Vec<u8> = (0..64 * 1024).map(|i| u8::try_from(i % 251).unwrap()).collect();
    let (filename, wheel) = pybun_testkit::wheel_from_files("big", "1.0", &[("big/data.bin".to_string(), data.clone())]);
    let wheel_path = ctx.temp.path().join(&filename);
    std::fs::write(&wheel_path, wheel).unwrap();
    ctx.write_pyproject(&PYPROJECT.replace(r#"["app","#, &format!(r#"["app", "big @ {}","#, file_url(&wheel_path))));
    let mut command = ctx.command_with_index(bin(), &server);
    command.env("PYBUN_LOG", "pybun_venv=debug").arg("sync");
    let out = run(command);
    out.success();
    // A copy (`copy_file_range`) shares extents on btrfs too: the mode itself must be a clone.
    assert!(out.stderr.contains("mode=Clone"), "{}", out.stderr);
    verify_records(&ctx);
    let installed_file = site_packages(&ctx).join("big/data.bin");
    assert_eq!(std::fs::metadata(&installed_file).unwrap().nlink(), 1, "not a hard link");
    let cached: Vec<PathBuf> = walk(&ctx.cache_dir).into_iter().filter(|p| p.ends_with("big/data.bin")).collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert_eq!(std::fs::read(&cached[0]).unwrap(), data);
    assert_eq!(std::fs::read(&installed_file).unwrap(), data);
    let extents = Command::new("filefrag").arg("-v").arg(&installed_file).output().unwrap();
    assert!(extents.status.success(), "{extents:?}");
    let extents = String::from_utf8_lossy(&extents.stdout);
    // The flags are the last column of each extent's line (`0: 0.. 15: 3376.. 3391: 16: last,shared,eof`).
    let flags: Vec<&str> = extents.lines().filter(|line| line.trim_start().starts_with("0:")).collect();
    assert!(
        flags.len() == 1 && flags[0].split_whitespace().last().is_some_and(|f| f.split(',').any(|f| f == "shared")),
        "the installed file's extent is the cache's: {extents}"
    );
}

/// Every file under `root`.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out
}

/// `add` with extras, into a dependency group and into an optional dependency.
#[test]
fn add_with_extras_to_groups_and_to_optional_dependencies() {
    let server = IndexServer::start(
        universe().with(published(DistSpec::new("tool", "1.0.0").extra("fast", &["other>=1"]))),
    );
    let ctx = TestContext::new();
    ctx.write_pyproject(PYPROJECT);
    let extras = pybun(&ctx, &server, &["--format", "json", "add", "tool[fast]>=1"]);
    extras.success();
    assert!(ctx.read_file("pyproject.toml").unwrap().contains("\"tool[fast]>=1\""), "{extras}");
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==2.0.0", "other==1.0.0", "tool==1.0.0"], "the extra's dependency too");

    let group = pybun(&ctx, &server, &["--format", "json", "add", "--group", "lint", "winonly"]);
    group.success();
    let pyproject = ctx.read_file("pyproject.toml").unwrap();
    let flat: String = pyproject.split_whitespace().collect();
    assert!(flat.contains("[dependency-groups]lint=[\"winonly\",]"), "{pyproject}");

    let optional = pybun(&ctx, &server, &["--format", "json", "add", "--optional", "speed", "lib>=2"]);
    optional.success();
    let pyproject = ctx.read_file("pyproject.toml").unwrap();
    let flat: String = pyproject.split_whitespace().collect();
    assert!(flat.contains("[project.optional-dependencies]speed=[\"lib>=2\",]"), "{pyproject}");
    let lock = ctx.read_file("pybun.lock").unwrap();
    assert!(lock.contains("winonly"), "the group is locked");

    let removed = pybun(&ctx, &server, &["--format", "json", "remove", "--optional", "speed", "lib"]);
    removed.success();
    assert_eq!(removed.json()["command"], "remove", "{removed}");
    assert!(!ctx.read_file("pyproject.toml").unwrap().contains("speed = "), "{removed}");
}

/// `{site-packages}/{name}-{version}.dist-info/direct_url.json`, parsed, if present.
fn direct_url_json(ctx: &TestContext, dist_info: &str) -> Option<Value> {
    let text = std::fs::read_to_string(site_packages(ctx).join(dist_info).join("direct_url.json")).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[test]
fn direct_url_requirements_are_locked_with_their_hash_and_installed_with_direct_url_json() {
    let (ctx, server) = project();
    // `lib` from the server by URL (1.0.0, though the index has 2.0.0) and
    // `private`, on no index, from a file URL; `app` (needs lib>=1) from the index.
    let lib_url = server.file_url("lib-1.0.0-py3-none-any.whl");
    let lib_sha = server.file_sha256("lib-1.0.0-py3-none-any.whl").unwrap();
    let wheels = ctx.temp.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let (private_name, private_bytes) = build_wheel(&DistSpec::new("private", "3.1").requires(&["other"]), "py3-none-any");
    std::fs::write(wheels.join(&private_name), &private_bytes).unwrap();
    let private_url = file_url(&wheels.join(&private_name));
    let private_sha = pybun_testkit::sha256_hex(&private_bytes);
    ctx.write_pyproject(&format!(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"app\", \"lib @ {lib_url}\", \"private @ {private_url}\"]\n"
    ));

    let locked = pybun(&ctx, &server, &["--format", "json", "lock"]);
    locked.success();
    let packages = locked.json()["result"]["packages"].clone();
    let entry = |name: &str| packages.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(entry("lib")["source"], "url", "{locked}");
    assert_eq!(entry("lib")["version"], "1.0.0", "{locked}");
    assert_eq!(entry("lib")["index"], lib_url.as_str(), "{locked}");
    assert_eq!(entry("private")["source"], "url", "{locked}");
    assert_eq!(entry("app")["source"], "registry", "{locked}");
    let lock = ctx.read_file("pybun.lock").unwrap();
    assert!(lock.contains(&format!("source = {{ url = \"{lib_url}\" }}")), "{lock}");
    assert!(lock.contains(&format!("hash = \"sha256:{lib_sha}\"")), "{lock}");
    assert!(lock.contains(&format!("source = {{ url = \"{private_url}\" }}")), "{lock}");
    assert!(lock.contains(&format!("hash = \"sha256:{private_sha}\"")), "{lock}");
    // `private`'s dependency comes from the index.
    assert!(lock.contains("name = \"other\""), "{lock}");

    let synced = pybun(&ctx, &server, &["--format", "json", "sync"]);
    synced.success();
    assert_eq!(installed(&ctx), ["app==1.0.0", "lib==1.0.0", "other==1.0.0", "private==3.1"], "{synced}");
    verify_records(&ctx);
    python_run(&ctx, "import private, lib; assert private.__version__ == '3.1'").success();
    let lib = direct_url_json(&ctx, "lib-1.0.0.dist-info").expect("lib has direct_url.json");
    assert_eq!(lib["url"], lib_url.as_str());
    assert_eq!(lib["archive_info"]["hash"], format!("sha256={lib_sha}").as_str());
    assert_eq!(lib["archive_info"]["hashes"]["sha256"], lib_sha.as_str());
    let private = direct_url_json(&ctx, "private-3.1.dist-info").expect("private has direct_url.json");
    assert_eq!(private["url"], private_url.as_str());
    assert!(direct_url_json(&ctx, "app-1.0.0.dist-info").is_none(), "index packages have none");
    // `direct_url.json` is listed in RECORD like every other file.
    let record = std::fs::read_to_string(site_packages(&ctx).join("lib-1.0.0.dist-info/RECORD")).unwrap();
    assert!(record.contains("lib-1.0.0.dist-info/direct_url.json,sha256="), "{record}");

    // A no-op sync, then an export naming the URLs.
    let again = pybun(&ctx, &server, &["--format", "json", "sync"]);
    again.success();
    assert!(changes(&again.json()).is_empty(), "{again}");
    let exported = pybun(&ctx, &server, &["export", "--format", "requirements-txt"]);
    exported.success();
    assert!(exported.stdout.contains(&format!("lib @ {lib_url}")), "{exported}");
    assert!(exported.stdout.contains(&format!("--hash=sha256:{lib_sha}")), "{exported}");

    // A re-lock (another dependency added) keeps the pinned hash and does
    // not fetch the URL's file again (nor guess the index's `lib` 1.0.0,
    // whose file has the same URL here, through `app`'s `lib>=1`).
    ctx.write_pyproject(&format!(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"app\", \"lib @ {lib_url}\", \"private @ {private_url}\", \"winonly\"]\n"
    ));
    server.clear_requests();
    pybun(&ctx, &server, &["lock"]).success();
    let fetched: Vec<String> = server.request_log().into_iter().filter(|r| r.path.contains("lib-1.0.0")).map(|r| format!("{r:?}")).collect();
    assert!(fetched.is_empty(), "{fetched:?}");
    assert!(ctx.read_file("pybun.lock").unwrap().contains(&format!("hash = \"sha256:{lib_sha}\"")));
}

#[test]
fn a_direct_url_whose_bytes_do_not_match_its_sha256_fragment_is_refused() {
    let (ctx, server) = project();
    let lib_url = server.file_url("lib-1.0.0-py3-none-any.whl");
    let wrong = "0".repeat(64);
    ctx.write_pyproject(&format!(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"lib @ {lib_url}#sha256={wrong}\"]\n"
    ));
    let out = pybun(&ctx, &server, &["--format", "json", "sync"]);
    out.failure();
    assert_eq!(out.json()["error"]["code"], "PB0503", "{out}");
    assert!(out.stdout.contains(&wrong), "the expected hash is named\n{out}");
    assert!(!ctx.project_dir.join(".venv").exists() || installed(&ctx).is_empty(), "nothing is installed");
}

#[test]
fn a_direct_url_sdist_is_built_and_installed_with_the_sdist_url() {
    let (ctx, server) = project();
    let links = backend_links(&ctx);
    let links = links.to_str().unwrap();
    let (sdist_name, sdist_bytes) = pybun_testkit::build_sdist(&DistSpec::new("fromsrc", "1.5").requires(&["lib<2"]).with_test_backend(), false);
    let sdists = ctx.temp.path().join("sdists");
    std::fs::create_dir_all(&sdists).unwrap();
    std::fs::write(sdists.join(&sdist_name), &sdist_bytes).unwrap();
    let sdist_url = file_url(&sdists.join(&sdist_name));
    ctx.write_pyproject(&format!(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"fromsrc @ {sdist_url}\"]\n"
    ));
    let out = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "sync"]);
    out.success();
    assert_eq!(installed(&ctx), ["fromsrc==1.5", "lib==1.0.0"], "{out}");
    python_run(&ctx, "import fromsrc; assert fromsrc.__version__ == '1.5'").success();
    verify_records(&ctx);
    let json = direct_url_json(&ctx, "fromsrc-1.5.dist-info").expect("direct_url.json");
    assert_eq!(json["url"], sdist_url.as_str());
    let sha = pybun_testkit::sha256_hex(&sdist_bytes);
    assert_eq!(json["archive_info"]["hashes"]["sha256"], sha.as_str());
}

#[test]
fn an_unusable_direct_url_is_refused_at_the_requirement() {
    let (ctx, server) = project();
    ctx.write_pyproject(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"lib @ git+https://example.com/lib.git\"]\n",
    );
    let out = pybun(&ctx, &server, &["--format", "json", "lock"]);
    out.failure();
    let error = &out.json()["error"];
    assert_eq!(error["code"], "PB0303", "{out}");
    assert!(error["causes"][0].as_str().unwrap().contains("`git+https` URLs are not supported"), "{out}");
    assert!(error["hints"][0].as_str().unwrap().contains("lib @ https://"), "{out}");
    assert_eq!(error["line"], 5, "the requirement's line\n{out}");
    assert!(ctx.read_file("pybun.lock").is_none());
    let text = pybun(&ctx, &server, &["lock"]);
    text.failure();
    assert!(text.stderr.contains("error[PB0303]: cannot use `lib @ git+https://example.com/lib.git`"), "{text}");
}

#[test]
fn switching_a_package_between_its_index_and_a_url_at_the_same_version_reinstalls_it() {
    let (ctx, server) = project();
    let pyproject = |lib: &str| {
        format!("[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"{lib}\"]\n")
    };
    ctx.write_pyproject(&pyproject("lib==1.0.0"));
    pybun(&ctx, &server, &["sync"]).success();
    assert!(direct_url_json(&ctx, "lib-1.0.0.dist-info").is_none());
    let lib_url = server.file_url("lib-1.0.0-py3-none-any.whl");
    ctx.write_pyproject(&pyproject(&format!("lib @ {lib_url}")));
    let out = pybun(&ctx, &server, &["--format", "json", "sync"]);
    out.success();
    assert!(changes(&out.json()).contains_key("lib"), "same version, other source: reinstalled\n{out}");
    assert_eq!(direct_url_json(&ctx, "lib-1.0.0.dist-info").unwrap()["url"], lib_url.as_str());
    verify_records(&ctx);
    // And back to the index: reinstalled again, without `direct_url.json`.
    ctx.write_pyproject(&pyproject("lib==1.0.0"));
    let back = pybun(&ctx, &server, &["--format", "json", "sync"]);
    back.success();
    assert!(changes(&back.json()).contains_key("lib"), "{back}");
    assert!(direct_url_json(&ctx, "lib-1.0.0.dist-info").is_none());
    let again = pybun(&ctx, &server, &["--format", "json", "sync"]);
    assert!(changes(&again.json()).is_empty(), "{again}");
}

/// A local package `vendored` 0.3.0 at `tree` (needs `lib<2` from the index), built by the test backend.
fn write_source_tree(tree: &Path) {
    std::fs::create_dir_all(tree.join("vendored")).unwrap();
    std::fs::write(
        tree.join("pyproject.toml"),
        format!(
            "[project]\nname = \"vendored\"\nversion = \"0.3.0\"\ndependencies = [\"lib<2\"]\n\n[build-system]\nrequires = [\"{}\"]\nbuild-backend = \"{}\"\n",
            pybun_testkit::TEST_BACKEND_NAME,
            pybun_testkit::TEST_BACKEND
        ),
    )
    .unwrap();
    std::fs::write(tree.join("vendored/__init__.py"), "VALUE = 'built'\n").unwrap();
}

#[test]
fn a_source_tree_requirement_is_built_locked_without_files_and_installed_with_dir_info() {
    let (ctx, server) = project();
    let links = backend_links(&ctx);
    let links = links.to_str().unwrap();
    let tree = ctx.temp.path().join("src tree/vendored");
    write_source_tree(&tree);
    let tree_url = format!("file://{}", tree.display()).replace(' ', "%20");
    ctx.write_pyproject(&format!(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"vendored @ {tree_url}\"]\n"
    ));

    let locked = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "lock"]);
    locked.success();
    let lock = ctx.read_file("pybun.lock").unwrap();
    let entry = lock.split("[[package]]").find(|p| p.contains("\nname = \"vendored\"")).unwrap();
    assert!(entry.contains("version = \"0.3.0\""), "the version comes from the built metadata\n{lock}");
    assert!(entry.contains(&format!("source = {{ directory = \"{tree_url}\" }}")), "{lock}");
    assert!(!entry.contains("files"), "a source tree has no files\n{lock}");
    assert!(lock.contains("name = \"lib\"\nversion = \"1.0.0\""), "its dependency is resolved\n{lock}");
    let packages = locked.json()["result"]["packages"].clone();
    let vendored = packages.as_array().unwrap().iter().find(|p| p["name"] == "vendored").unwrap();
    assert_eq!(vendored["source"], "directory", "{locked}");

    let synced = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "sync"]);
    synced.success();
    assert_eq!(installed(&ctx), ["lib==1.0.0", "vendored==0.3.0"], "{synced}");
    python_run(&ctx, "import vendored; assert vendored.VALUE == 'built'").success();
    verify_records(&ctx);
    let json = direct_url_json(&ctx, "vendored-0.3.0.dist-info").expect("direct_url.json");
    assert_eq!(json["url"], tree_url.as_str());
    assert_eq!(json["dir_info"], serde_json::json!({}), "not editable");
    // Not editable: the installed copy does not follow the tree.
    std::fs::write(tree.join("vendored/__init__.py"), "VALUE = 'changed'\n").unwrap();
    python_run(&ctx, "import vendored; assert vendored.VALUE == 'built'").success();
    let again = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "sync"]);
    again.success();
    assert!(changes(&again.json()).is_empty(), "{again}");
}

#[test]
fn a_directory_that_is_not_a_source_tree_is_refused() {
    let (ctx, server) = project();
    let links = backend_links(&ctx);
    let links = links.to_str().unwrap();
    let empty = ctx.temp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    ctx.write_pyproject(&format!(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"thing @ file://{}\"]\n",
        empty.display()
    ));
    let out = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "lock"]);
    out.failure();
    let error = &out.json()["error"];
    assert_eq!(error["code"], "PB0508", "{out}");
    assert!(error["message"].as_str().unwrap().contains("the source tree of `thing`"), "{out}");
    assert!(error["causes"][0].as_str().unwrap().contains("is not a Python source tree"), "{out}");
    assert!(ctx.read_file("pybun.lock").is_none());
}

#[test]
fn a_local_wheel_rebuilt_in_place_makes_the_lock_stale_and_is_reinstalled() {
    let (ctx, server) = project();
    let wheels = ctx.temp.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let (name, first) = build_wheel(&DistSpec::new("private", "3.1"), "py3-none-any");
    std::fs::write(wheels.join(&name), &first).unwrap();
    let url = file_url(&wheels.join(&name));
    ctx.write_pyproject(&format!(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"private @ {url}\"]\n"
    ));
    pybun(&ctx, &server, &["sync"]).success();
    // The same filename, other bytes (a console script now).
    let (_, second) = build_wheel(&DistSpec::new("private", "3.1").console_script("private-hello", "private:main"), "py3-none-any");
    assert_ne!(first, second);
    std::fs::write(wheels.join(&name), &second).unwrap();
    // `--locked` names the file that changed.
    let locked = pybun(&ctx, &server, &["--format", "json", "sync", "--locked"]);
    locked.failure();
    assert_eq!(locked.json()["error"]["code"], "PB0403", "{locked}");
    assert!(locked.json()["error"]["causes"][0].as_str().unwrap().contains(&url), "{locked}");
    // A plain sync re-locks (the file hashed again) and reinstalls it.
    let out = pybun(&ctx, &server, &["--format", "json", "sync"]);
    out.success();
    let lock = ctx.read_file("pybun.lock").unwrap();
    assert!(lock.contains(&pybun_testkit::sha256_hex(&second)), "{lock}");
    assert!(changes(&out.json()).contains_key("private"), "other bytes, same version: reinstalled\n{out}");
    assert!(ctx.project_dir.join(".venv/bin/private-hello").exists());
    verify_records(&ctx);
    // Then all is fresh again.
    pybun(&ctx, &server, &["sync", "--locked"]).success();
}

#[test]
fn add_turns_paths_and_urls_of_distributions_and_source_trees_into_direct_url_requirements() {
    let (ctx, server) = project();
    let links = backend_links(&ctx);
    let links = links.to_str().unwrap();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = []\n");
    let wheels = ctx.temp.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let (name, bytes) = build_wheel(&DistSpec::new("private", "3.1"), "py3-none-any");
    std::fs::write(wheels.join(&name), bytes).unwrap();
    write_source_tree(&ctx.temp.path().join("trees/vendored"));
    let lib_url = server.file_url("lib-1.0.0-py3-none-any.whl");
    // Paths relative to the working directory (the project), and a URL.
    let wheel_path = format!("../wheels/{name}");
    let out = pybun(&ctx, &server, &["--format", "json", "--find-links", links, "add", &wheel_path, "../trees/./vendored", &lib_url]);
    out.success();
    let pyproject = ctx.read_file("pyproject.toml").unwrap();
    let wheel_url = file_url(&wheels.join(&name));
    let tree_url = file_url(&ctx.temp.path().join("trees/vendored"));
    for entry in [format!("private @ {wheel_url}"), format!("vendored @ {tree_url}"), format!("lib @ {lib_url}")] {
        assert!(pyproject.contains(&format!("\"{entry}\"")), "{entry}\n{pyproject}");
    }
    assert_eq!(installed(&ctx), ["lib==1.0.0", "private==3.1", "vendored==0.3.0"], "{out}");
    // A path to nothing is still reported as a requirement that does not parse.
    let missing = pybun(&ctx, &server, &["--format", "json", "add", "../wheels/absent-1.0-py3-none-any.whl"]);
    missing.failure();
    assert_eq!(missing.json()["error"]["code"], "PB0103", "{missing}");
}
