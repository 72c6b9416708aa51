//! End-to-end test of `pybun lsp` with a real editor: Neovim (`nvim
//! --headless`), configured by `tests/nvim/init.lua` to start the server for
//! `pyproject.toml`, opens a project file and writes the diagnostics it
//! received to a file this test checks. The index-based checks run against
//! the local test index.
//!
//! Neovim is found through `PYBUN_NVIM`, then `PATH`, then the cache
//! directory `scripts/fetch-nvim.sh` installs into. Without it the test
//! prints why and passes (this test only).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pybun_testkit::{DistSpec, IndexServer, PublishedVersion, TestContext, Universe};
use serde_json::Value;

fn find_nvim() -> Option<PathBuf> {
    let works = |path: &Path| Command::new(path).arg("--version").output().is_ok_and(|o| o.status.success());
    if let Some(path) = std::env::var_os("PYBUN_NVIM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path)).filter(|p| works(p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("nvim");
            if candidate.is_file() && works(&candidate) {
                return Some(candidate);
            }
        }
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let candidate = cache.join("pybun-nvim").join("bin").join("nvim");
    works(&candidate).then_some(candidate)
}

const PYPROJECT: &str = r#"[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = [
  "pyattrs",
  "attrs>=9",
  "bad req",
]
"#;

#[test]
#[expect(clippy::print_stderr, reason = "says why the test is skipped, and what Neovim received")]
fn neovim_shows_pybun_diagnostics() {
    let Some(nvim) = find_nvim() else {
        eprintln!("skipped: nvim not found (run scripts/fetch-nvim.sh)");
        return;
    };
    let server = IndexServer::start(
        Universe::default()
            .with(PublishedVersion::new(DistSpec::new("attrs", "1.0.0")))
            .with(PublishedVersion::new(DistSpec::new("attrs", "2.0.0"))),
    );
    let ctx = TestContext::new();
    ctx.write_pyproject(PYPROJECT);
    let out = ctx.temp.path().join("diagnostics.json");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nvim/init.lua");
    let server_command = serde_json::json!([
        env!("CARGO_BIN_EXE_pybun"),
        "--cache-dir",
        ctx.cache_dir,
        "--index-url",
        server.url(),
        "lsp",
    ]);
    let mut command = Command::new(&nvim);
    command
        .args(["--headless", "-n", "-i", "NONE", "-u"])
        .arg(&config)
        .arg(ctx.project_dir.join("pyproject.toml"))
        .current_dir(&ctx.project_dir)
        .env("PYBUN_LSP_CMD", server_command.to_string())
        .env("PYBUN_NVIM_OUT", &out)
        .env("PYBUN_NVIM_WANT", "PB0301")
        .env("XDG_CONFIG_HOME", ctx.temp.path().join("config"))
        .env("XDG_DATA_HOME", ctx.temp.path().join("data"))
        .env("XDG_STATE_HOME", ctx.temp.path().join("state"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PYBUN_") && key != "PYBUN_NVIM" {
            command.env_remove(&key);
        }
    }
    let mut child = command.stdin(std::process::Stdio::null()).spawn().expect("start nvim");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for nvim") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("nvim did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "nvim exited with {status}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).expect("nvim wrote the diagnostics")).expect("JSON");
    eprintln!("nvim {}: {report:#}", report["nvim"]);
    assert_eq!(report["waited"], true, "the index diagnostics arrived: {report:#}");
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    let find = |code: &str| {
        diagnostics.iter().find(|d| d["code"] == code).unwrap_or_else(|| panic!("no {code} in {report:#}"))
    };
    // 0-based lines and columns as Neovim stores them (from the LSP ranges).
    let unknown = find("PB0301");
    assert_eq!((unknown["lnum"].as_u64(), unknown["col"].as_u64(), unknown["end_col"].as_u64()), (Some(5), Some(2), Some(11)));
    assert_eq!(unknown["source"], "pybun");
    assert!(unknown["message"].as_str().unwrap().contains("did you mean `attrs`"), "{unknown:#}");
    let unmatched = find("PB0800");
    assert_eq!((unmatched["lnum"].as_u64(), unmatched["col"].as_u64()), (Some(6), Some(8)));
    let invalid = find("PB0103");
    assert_eq!((invalid["lnum"].as_u64(), invalid["col"].as_u64(), invalid["end_col"].as_u64()), (Some(7), Some(7), Some(8)));
    assert_eq!(invalid["severity"], 1, "error");
}
