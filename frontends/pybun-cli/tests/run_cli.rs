//! End-to-end tests of `pybun run`, `pybun x` and `pybun env` through the
//! real binary, a local index and real interpreters.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use pybun_testkit::{CliRun, DistSpec, IndexServer, PublishedVersion, TestContext, Universe};
use serde_json::Value;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pybun"))
}

fn finish(output: std::process::Output) -> CliRun {
    CliRun::from_output(&output, std::time::Duration::ZERO)
}

fn command(ctx: &TestContext, server: Option<&IndexServer>) -> Command {
    let mut command = match server {
        Some(server) => ctx.command_with_index(bin(), server),
        None => ctx.command(bin()),
    };
    command.env("PYBUN_DATA_DIR", ctx.temp.path().join("data")).env_remove("VIRTUAL_ENV");
    command
}

fn pybun(ctx: &TestContext, server: &IndexServer, args: &[&str]) -> CliRun {
    let mut command = command(ctx, Some(server));
    command.args(args);
    finish(command.output().unwrap())
}

fn universe() -> Universe {
    Universe::default()
        .with(PublishedVersion::new(DistSpec::new("app", "1.0.0").requires(&["lib>=1"]).console_script("app-hello", "app:main")))
        .with(PublishedVersion::new(DistSpec::new("lib", "1.0.0")))
        .with(PublishedVersion::new(DistSpec::new("lib", "2.0.0")))
        .with(PublishedVersion::new(DistSpec::new("extra-thing", "0.5")))
}

const SCRIPT: &str = r#"# /// script
# requires-python = ">=3.8"
# dependencies = ["app", "lib<2"]
# ///
import sys
import app, lib
print("script", app.__version__, lib.__version__, sys.argv[1:])
"#;

#[test]
fn a_scripts_tool_pybun_table_chooses_its_index() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.watch_server(&server);
    ctx.write_file(
        "tool.py",
        format!(
            "# /// script\n# dependencies = [\"app\"]\n# [tool.pybun]\n# index-url = \"{}\"\n# ///\nimport app\nprint(app.__version__)\n",
            server.url()
        ),
    );
    // No `--index-url`: the script's own `[tool.pybun] index-url` is the index.
    let mut command = command(&ctx, None);
    command.args(["run", "tool.py"]);
    let out = finish(command.output().unwrap());
    out.success();
    assert_eq!(out.stdout.trim(), "1.0.0", "{out}");
    assert!(server.requests().iter().any(|r| r.contains("/app/")), "{:?}", server.requests());
}

#[test]
fn a_pep_723_script_runs_in_a_cached_environment() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_file("hello.py", SCRIPT);
    let first = pybun(&ctx, &server, &["run", "hello.py", "a", "--flag"]);
    first.success();
    assert_eq!(first.stdout.trim(), "script 1.0.0 1.0.0 ['a', '--flag']", "{first}");

    // The second run resolves nothing and asks the index nothing.
    server.clear_requests();
    let second = pybun(&ctx, &server, &["--format", "json", "run", "hello.py"]);
    second.success();
    assert_eq!(second.stdout.trim(), "script 1.0.0 1.0.0 []", "stdout is the script's alone\n{second}");
    assert_eq!(server.request_count(), 0, "{:?}", server.requests());
    let report = CliRun::json_in(&second.stderr);
    assert_eq!(report["command"], "run");
    assert_eq!(report["result"]["prepared"], false, "{second}");

    // Even offline.
    let offline = pybun(&ctx, &server, &["--offline", "run", "hello.py"]);
    offline.success();

    // The bare form (`pybun run hello.py`, settings from the environment)
    // takes the fast path: same environment, same output, nothing asked.
    let mut bare = Command::new(bin());
    bare.current_dir(&ctx.project_dir)
        .env("PYBUN_CACHE_DIR", &ctx.cache_dir)
        .env("PYBUN_INDEX_URL", server.url())
        .env_remove("PYBUN_PYTHON")
        .env_remove("PYBUN_FORMAT")
        .env_remove("PYBUN_LOG")
        .args(["run", "hello.py", "fast"]);
    let bare = finish(bare.output().unwrap());
    bare.success();
    assert_eq!(bare.stdout.trim(), "script 1.0.0 1.0.0 ['fast']", "{bare}");
    assert_eq!(server.request_count(), 0);
}

#[test]
fn with_adds_requirements() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_file("hello.py", SCRIPT);
    let out = pybun(&ctx, &server, &["run", "--with", "extra-thing", "hello.py"]);
    out.success();
    let check = pybun(&ctx, &server, &["run", "--with", "extra-thing", "-c", "import extra_thing; print(extra_thing.__version__)"]);
    check.success();
    assert_eq!(check.stdout.trim(), "0.5", "{check}");
}

#[test]
fn malformed_script_metadata_names_the_line() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_file("bad.py", "import os\n# /// script\n# dependencies = [\"app\"\n# ///\nprint(1)\n");
    let out = pybun(&ctx, &server, &["run", "bad.py"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("bad.py:3"), "names the line\n{out}");
    let unclosed = {
        ctx.write_file("unclosed.py", "# /// script\n# dependencies = []\nprint(1)\n");
        pybun(&ctx, &server, &["--format", "json", "run", "unclosed.py"])
    };
    assert_eq!(unclosed.code, 1, "{unclosed}");
    let document: Value = serde_json::from_str(&unclosed.stdout).unwrap();
    assert_eq!(document["error"]["code"], "PB0112", "{unclosed}");
    assert_eq!(document["error"]["line"], 3, "the line that ends the block\n{unclosed}");
    assert!(document["error"]["message"].as_str().unwrap().contains("opened at line 1"), "{unclosed}");
}

#[test]
fn an_unsatisfiable_requires_python_is_pb0500() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_file("future.py", "# /// script\n# requires-python = \">=4.0\"\n# dependencies = []\n# ///\nprint(1)\n");
    let out = pybun(&ctx, &server, &["--format", "json", "run", "future.py"]);
    assert_eq!(out.code, 1, "{out}");
    let document: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(document["error"]["code"], "PB0500", "{out}");
}

fn env_json(ctx: &TestContext, envs: &[(&str, &Path)]) -> Value {
    let mut command = command(ctx, None);
    command.args(["--format", "json", "env"]);
    for (key, value) in envs {
        command.env(key, value);
    }
    let out = finish(command.output().unwrap());
    out.success();
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn environment_selection_follows_the_documented_order() {
    let ctx = TestContext::new();
    let explicit = ctx.temp.path().join("explicit-env");
    let active = ctx.temp.path().join("active-env");
    // No project here (the project dir has no pyproject.toml): VIRTUAL_ENV, else global.
    let global = env_json(&ctx, &[]);
    assert_eq!(global["result"]["rule"], "global");
    assert!(global["result"]["environment"].as_str().unwrap().starts_with(ctx.temp.path().join("data").to_str().unwrap()));
    let virtual_env = env_json(&ctx, &[("VIRTUAL_ENV", &active)]);
    assert_eq!(virtual_env["result"]["rule"], "virtual-env");
    assert_eq!(virtual_env["result"]["managed"], false);
    // A project beats VIRTUAL_ENV; PYBUN_ENV beats both.
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = []\n");
    let project = env_json(&ctx, &[("VIRTUAL_ENV", &active)]);
    assert_eq!(project["result"]["rule"], "project");
    assert_eq!(project["result"]["environment"], ctx.project_dir.join(".venv").display().to_string());
    let pybun_env = env_json(&ctx, &[("VIRTUAL_ENV", &active), ("PYBUN_ENV", &explicit)]);
    assert_eq!(pybun_env["result"]["rule"], "pybun-env");
    assert!(pybun_env["result"]["reason"].as_str().unwrap().contains("takes precedence"));
    assert_eq!(pybun_env["result"]["exists"], false);
    // Text mode says the same.
    let mut text = command(&ctx, None);
    text.arg("env").env("PYBUN_ENV", &explicit);
    let text = finish(text.output().unwrap());
    assert!(text.stdout.contains("rule: pybun-env"), "{text}");

    // PYBUN_ENV is used as it is: a missing one is an error, not created.
    let mut missing = command(&ctx, None);
    missing.args(["--format", "json", "run", "-c", "print(1)"]).env("PYBUN_ENV", &explicit);
    let missing = finish(missing.output().unwrap());
    assert_eq!(missing.code, 1);
    assert!(missing.stdout.contains("PB0601"), "{missing}");
    assert!(!explicit.exists());
}

#[test]
fn run_in_the_project_syncs_first_then_reuses() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"app\"]\n",
    );
    let out = pybun(&ctx, &server, &["run", "-c", "import app, lib, sys; print(lib.__version__, sys.prefix)"]);
    out.success();
    assert!(out.stdout.starts_with("2.0.0 "), "{out}");
    assert!(out.stdout.trim().ends_with(".venv"), "{out}");
    server.clear_requests();
    let again = pybun(&ctx, &server, &["--format", "json", "run", "app-hello"]);
    again.success();
    assert_eq!(again.stdout.trim(), "hello from app", "a console script of the environment\n{again}");
    assert_eq!(CliRun::json_in(&again.stderr)["result"]["prepared"], false);
    assert_eq!(server.request_count(), 0);
    // `-m` runs a module of the environment.
    let module = pybun(&ctx, &server, &["run", "-m", "platform"]);
    module.success();
    assert!(module.stdout.contains("Linux") || module.stdout.contains("macOS"), "{module}");
    // Everything after the module goes to it, options included (`python -m` rules).
    let help = pybun(&ctx, &server, &["run", "-m", "json.tool", "--help"]);
    help.success();
    assert!(help.stdout.contains("usage:") && help.stdout.contains("json.tool"), "{help}");
    let code = pybun(&ctx, &server, &["run", "-c", "import sys; print(sys.argv[1:])", "--help", "-x"]);
    code.success();
    assert_eq!(code.stdout.trim(), "['--help', '-x']", "{code}");
    // `--frozen` uses the environment as it is, even with a changed pyproject.
    ctx.write_pyproject(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = [\"app\", \"extra-thing\"]\n",
    );
    let frozen = pybun(&ctx, &server, &["run", "--frozen", "-c", "import importlib.util as u; print(u.find_spec('extra_thing') is None)"]);
    frozen.success();
    assert_eq!(frozen.stdout.trim(), "True", "not re-locked or synced\n{frozen}");
    let synced = pybun(&ctx, &server, &["run", "-c", "import extra_thing"]);
    synced.success();
    // An active VIRTUAL_ENV does not win over the project.
    let mut command = command(&ctx, Some(&server));
    command.args(["run", "-c", "import sys; print(sys.prefix)"]).env("VIRTUAL_ENV", "/nonexistent");
    let out = finish(command.output().unwrap());
    out.success();
    assert!(out.stdout.trim().ends_with(".venv"), "{out}");
}

#[test]
fn tasks_run_with_arguments_and_chains() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject(
        r#"[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.8"
dependencies = []

[tool.pybun.scripts]
greet = "python -c 'import sys; print(\"hi\", *sys.argv[1:])'"
prepare = { cmd = ["python", "-c", "import os; print('prepare', os.environ['STAGE'])"], env = { STAGE = "one" } }
all = { cmd = "python -c 'print(\"all done\")'", depends = ["prepare"] }
fail = "python -c 'import sys; sys.exit(7)'"
"#,
    );
    let greet = pybun(&ctx, &server, &["run", "greet", "world", "--loud"]);
    greet.success();
    assert_eq!(greet.stdout.trim(), "hi world --loud", "{greet}");
    let all = pybun(&ctx, &server, &["run", "all"]);
    all.success();
    assert_eq!(all.stdout, "prepare one\nall done\n", "dependencies first, once\n{all}");
    let fail = pybun(&ctx, &server, &["run", "fail"]);
    assert_eq!(fail.code, 7, "{fail}");
}

#[test]
fn exit_codes_signals_and_stdin_pass_through() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    let code = pybun(&ctx, &server, &["run", "-c", "import sys; sys.exit(3)"]);
    assert_eq!(code.code, 3, "{code}");
    #[cfg(unix)]
    {
        let killed = pybun(&ctx, &server, &["run", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"]);
        assert_eq!(killed.signal, Some(15), "the process is the program: it dies of the signal itself\n{killed}");
    }
    let mut child = command(&ctx, Some(&server))
        .args(["run", "-c", "import sys; print(sys.stdin.read().upper(), end='')"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"piped in").unwrap();
    let out = finish(child.wait_with_output().unwrap());
    out.success();
    assert_eq!(out.stdout, "PIPED IN");
    // Unknown commands are clear errors.
    let missing = pybun(&ctx, &server, &["run", "no-such-command-xyz"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(missing.stderr.contains("PB0600"), "{missing}");
}

#[test]
fn x_runs_a_package_command_from_a_cached_environment() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    let first = pybun(&ctx, &server, &["x", "--from", "app", "app-hello"]);
    first.success();
    assert_eq!(first.stdout.trim(), "hello from app", "{first}");
    server.clear_requests();
    let again = pybun(&ctx, &server, &["x", "--from", "app@1.0.0", "app-hello"]);
    again.success();
    let warm = pybun(&ctx, &server, &["x", "--from", "app", "app-hello"]);
    warm.success();
    let requests_after_warm = server.request_count();
    let third = pybun(&ctx, &server, &["x", "--from", "app", "app-hello"]);
    third.success();
    assert_eq!(server.request_count(), requests_after_warm, "a warm `x` asks the index nothing");
    // A package without that command says which it has.
    let wrong = pybun(&ctx, &server, &["x", "app"]);
    assert_eq!(wrong.code, 1, "{wrong}");
    assert!(wrong.stderr.contains("app-hello"), "{wrong}");
}

#[test]
fn lock_script_writes_a_lock_beside_it() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_file("hello.py", SCRIPT);
    let out = pybun(&ctx, &server, &["lock", "--script", "hello.py"]);
    out.success();
    let lock = std::fs::read_to_string(ctx.project_dir.join("hello.py.lock")).unwrap();
    assert!(lock.contains("name = \"lib\"") && lock.contains("version = \"1.0.0\""), "{lock}");
}

/// A python-build-standalone-like archive: `python/bin/python3` runs the system's python.
fn fake_python_archive() -> Vec<u8> {
    let system = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
    let script = format!("#!/bin/sh\nexec {system} \"$@\"\n");
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    let mut add = |path: &str, kind: tar::EntryType, data: &[u8], mode: u32, link: Option<&str>| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        builder.append_data(&mut header, path, data).unwrap();
    };
    add("python/", tar::EntryType::Directory, b"", 0o755, None);
    add("python/bin/", tar::EntryType::Directory, b"", 0o755, None);
    add("python/bin/python3.12", tar::EntryType::Regular, script.as_bytes(), 0o755, None);
    add("python/bin/python3", tar::EntryType::Symlink, b"", 0o777, Some("python3.12"));
    builder.into_inner().unwrap().finish().unwrap()
}

/// Serve `files` (path → bytes) on 127.0.0.1 until the test ends; the request count.
fn serve(files: Vec<(String, Vec<u8>)>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = files.iter().find(|(path, _)| *path == request.url()).map(|(_, bytes)| bytes.clone());
            let _ = match body {
                Some(bytes) => request.respond(tiny_http::Response::from_data(bytes)),
                None => request.respond(tiny_http::Response::empty(404)),
            };
        }
    });
    (url, count)
}

#[test]
fn python_install_from_a_local_mirror_checks_the_hash() {
    let ctx = TestContext::new();
    let archive = fake_python_archive();
    let os = if cfg!(target_os = "macos") { "macos" } else { "linux" };
    let arch = std::env::consts::ARCH;
    let libc = if cfg!(target_os = "macos") { "none" } else { "gnu" };
    let filename = format!("cpython-3.12.99+20990101-{arch}-unknown-linux-gnu-install_only.tar.gz");
    let (mirror, requests) = serve(vec![(format!("/20990101/{filename}"), archive.clone())]);
    let write_table = |sha256: &str| {
        let table = serde_json::json!({
            "format": 1, "source": "test",
            "downloads": [{
                "name": format!("cpython-3.12.99-{os}-{arch}-{libc}"), "implementation": "cpython", "version": "3.12.99",
                "free_threaded": false, "os": os, "arch": arch, "libc": libc, "build": "20990101",
                "url": format!("https://github.com/astral-sh/python-build-standalone/releases/download/20990101/{filename}"),
                "sha256": sha256,
            }]
        });
        let path = ctx.temp.path().join("downloads.json");
        std::fs::write(&path, table.to_string()).unwrap();
        path
    };
    let python = |args: &[&str], table: &Path| {
        let mut command = command(&ctx, None);
        command.env("PYBUN_PYTHON_MIRROR", &mirror).env("PYBUN_PYTHON_DOWNLOADS_JSON", table).args(args);
        finish(command.output().unwrap())
    };
    use sha2::Digest as _;
    let good = hex::encode(sha2::Sha256::digest(&archive));

    // A tampered archive (the table says otherwise) is refused; nothing installed.
    let tampered = python(&["--format", "json", "python", "install", "3.12.99"], &write_table(&"0".repeat(64)));
    assert_eq!(tampered.code, 1, "{tampered}");
    let document: Value = serde_json::from_str(&tampered.stdout).unwrap();
    assert_eq!(document["error"]["code"], "PB0602", "{tampered}");
    assert!(document["error"]["message"].as_str().unwrap().contains(&good), "names the actual hash: {tampered}");
    assert!(!ctx.temp.path().join("data/python").join(format!("cpython-3.12.99-{os}-{arch}-{libc}")).exists());

    // The right archive installs, and discovery finds it (managed first).
    let table = write_table(&good);
    let installed = python(&["--format", "json", "python", "install", "3.12.99"], &table);
    installed.success();
    let document: Value = serde_json::from_str(&installed.stdout).unwrap();
    assert_eq!(document["result"]["downloaded"], true, "{installed}");
    let listed = python(&["--format", "json", "python", "list"], &table);
    listed.success();
    let document: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert!(document["result"]["installed"].as_array().unwrap().iter().any(|p| p["managed"] == true), "{listed}");
    // Again: reused, no download.
    let before = requests.load(std::sync::atomic::Ordering::SeqCst);
    let again = python(&["--format", "json", "python", "install", "3.12.99"], &table);
    again.success();
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), before);
    // Offline with nothing cached is a clear error.
    let other = ctx.temp.path().join("other-cache");
    let mut offline = Command::new(bin());
    offline
        .current_dir(&ctx.project_dir)
        .env("PYBUN_PYTHON_MIRROR", &mirror)
        .env("PYBUN_PYTHON_DOWNLOADS_JSON", &table)
        .env("PYBUN_DATA_DIR", ctx.temp.path().join("other-data"))
        .env("PYBUN_NO_PROGRESS", "1")
        .args(["--offline", "--cache-dir", other.to_str().unwrap(), "python", "install", "3.12.99"]);
    let offline = finish(offline.output().unwrap());
    assert_eq!(offline.code, 1, "{offline}");
    assert!(offline.stderr.contains("error[PB0602]") && offline.stderr.contains("offline"), "a clear error: {offline}");
    // Uninstall removes it.
    let removed = python(&["python", "uninstall", "3.12.99"], &table);
    removed.success();
    let missing = python(&["python", "uninstall", "3.12.99"], &table);
    assert_eq!(missing.code, 1, "{missing}");
}

#[test]
fn python_pin_writes_python_version_and_find_follows_it() {
    let ctx = TestContext::new();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = []\n");
    let mut pin = command(&ctx, None);
    pin.args(["python", "pin", "3.12"]);
    let pin = finish(pin.output().unwrap());
    if pin.code != 0 {
        assert!(pin.stderr.contains("PB0500"), "only a missing 3.12 may fail: {pin}");
        return;
    }
    assert_eq!(std::fs::read_to_string(ctx.project_dir.join(".python-version")).unwrap(), "3.12\n");
    let mut find = command(&ctx, None);
    find.args(["--format", "json", "python", "find"]);
    let find = finish(find.output().unwrap());
    find.success();
    let document: Value = serde_json::from_str(&find.stdout).unwrap();
    assert!(document["result"]["version"].as_str().unwrap().starts_with("3.12"), "{find}");
    assert!(document["result"]["reason"].as_str().unwrap().contains(".python-version"), "{find}");
}

#[test]
fn pinning_an_interpreter_without_wheels_for_the_lock_warns() {
    let mut universe = universe();
    let mut native = PublishedVersion::new(DistSpec::new("natv", "1.0"));
    // Only a wheel for an ABI no interpreter here has, and the sdist.
    native.wheel_tags = vec!["cp36-cp36m-manylinux1_x86_64".to_string()];
    universe.add(native);
    let server = IndexServer::start(universe);
    let ctx = TestContext::new();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.7\"\ndependencies = [\"natv\"]\n");
    pybun(&ctx, &server, &["lock"]).success();
    let out = pybun(&ctx, &server, &["--format", "json", "python", "pin", "3"]);
    out.success();
    let document: Value = serde_json::from_str(&out.stdout).unwrap();
    let warnings = document["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["code"] == "PB0505" && w["message"].as_str().unwrap().contains("natv==1.0")),
        "{out}"
    );
}

#[test]
fn a_changed_python_version_recreates_the_project_environment_on_run() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    ctx.write_pyproject("[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\ndependencies = []\n");
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    let versions: Vec<&str> = ["3.12", "3.13", "3.10", "3.9"]
        .into_iter()
        .filter(|v| {
            std::fs::read_dir(home.join(".pyenv/versions"))
                .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with(&format!("{v}."))))
                .unwrap_or(false)
        })
        .collect();
    let [first, second, ..] = versions.as_slice() else { return };
    for version in [first, second] {
        ctx.write_file(".python-version", format!("{version}\n"));
        let out = pybun(&ctx, &server, &["run", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]);
        out.success();
        assert_eq!(out.stdout.trim(), *version, "{out}");
    }
}
