//! `call_hook` against real interpreters and backends (setuptools, in-tree ones).
#![expect(clippy::print_stderr, reason = "tell why a test is skipped")]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use pybun_build::OsBuildFrontend;
use pybun_ports::{BuildError, BuildFrontend, Hook, HookOutput, HookRequest};

/// Interpreters to try, best first (`PYBUN_TEST_PYTHON` overrides).
fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(python) = std::env::var_os("PYBUN_TEST_PYTHON") {
        out.push(PathBuf::from(python));
    }
    if let Some(home) = std::env::var_os("HOME") {
        out.push(Path::new(&home).join(".pyenv/versions/3.11.7/bin/python3"));
    }
    out.push(PathBuf::from("/usr/bin/python3"));
    out.push(PathBuf::from("python3"));
    out
}

fn run(python: &Path, code: &str) -> Option<String> {
    let output = Command::new(python).args(["-c", code]).env("PYTHONNOUSERSITE", "1").output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Any working interpreter (for in-tree backends, which need nothing installed).
fn any_python() -> Option<PathBuf> {
    let found = candidates().into_iter().find(|python| run(python, "import sys").is_some());
    if found.is_none() {
        eprintln!("skipping: no working Python interpreter found (set PYBUN_TEST_PYTHON)");
    }
    found
}

/// Importable when setuptools can build wheels: `bdist_wheel` is setuptools'
/// own from 70.1, the `wheel` package's before (what `get_requires_for_build_wheel` asks for).
const PROBE_SETUPTOOLS: &str = "import setuptools
try:
    import setuptools.command.bdist_wheel
except ImportError:
    import wheel.bdist_wheel
print(setuptools.__version__)";

/// A build environment: a `--system-site-packages` venv over an interpreter
/// that has setuptools (and `wheel` if it needs it), with setuptools' major version.
fn setuptools_env(dir: &Path) -> Option<(PathBuf, u32)> {
    let Some((base, version)) =
        candidates().into_iter().find_map(|python| run(&python, PROBE_SETUPTOOLS).map(|v| (python, v)))
    else {
        eprintln!("skipping: no interpreter with setuptools (and wheel, for setuptools < 70.1) found; set PYBUN_TEST_PYTHON");
        return None;
    };
    let venv = dir.join("build-env");
    let status = Command::new(&base)
        .args(["-m", "venv", "--system-site-packages", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(status.success(), "creating a venv with {}", base.display());
    let python = if cfg!(windows) { venv.join("Scripts/python.exe") } else { venv.join("bin/python") };
    assert_eq!(run(&python, PROBE_SETUPTOOLS).as_deref(), Some(version.as_str()), "the venv sees setuptools");
    let major = version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((python, major))
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = root.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

fn request(python: &Path, source: &Path, backend: &str, backend_path: &[&str], hook: Hook) -> HookRequest {
    HookRequest {
        python: python.to_path_buf(),
        source_dir: source.to_path_buf(),
        backend: backend.to_owned(),
        backend_path: backend_path.iter().map(|p| (*p).to_owned()).collect(),
        hook,
        output_dir: source.parent().unwrap().join("dist"),
    }
}

fn wheel_names(wheel: &Path) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(fs::File::open(wheel).unwrap()).unwrap();
    (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().to_owned()).collect()
}

fn wheel_text(wheel: &Path, name: &str) -> String {
    let mut archive = zip::ZipArchive::new(fs::File::open(wheel).unwrap()).unwrap();
    let mut text = String::new();
    archive.by_name(name).unwrap().read_to_string(&mut text).unwrap();
    text
}

fn setuptools_project(root: &Path) {
    write(
        root,
        &[
            (
                "pyproject.toml",
                "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
                 [project]\nname = \"mypkg\"\nversion = \"0.1.0\"\n",
            ),
            ("mypkg/__init__.py", "VALUE = 42\n"),
        ],
    );
}

#[test]
fn setuptools_builds_a_wheel() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((python, _)) = setuptools_env(tmp.path()) else { return };
    let source = tmp.path().join("src");
    setuptools_project(&source);
    let frontend = OsBuildFrontend::new();

    let requires = frontend
        .call_hook(&request(&python, &source, "setuptools.build_meta", &[], Hook::GetRequiresForBuildWheel))
        .unwrap();
    assert!(matches!(requires, HookOutput::Requires(_)), "{requires:?}");

    let built = frontend.call_hook(&request(&python, &source, "setuptools.build_meta", &[], Hook::BuildWheel)).unwrap();
    let HookOutput::Wheel(wheel) = built else { panic!("{built:?}") };
    assert_eq!(wheel, tmp.path().join("dist").join("mypkg-0.1.0-py3-none-any.whl"));
    assert!(wheel.is_file());
    let names = wheel_names(&wheel);
    assert!(names.contains(&"mypkg/__init__.py".to_owned()), "{names:?}");
    assert_eq!(wheel_text(&wheel, "mypkg/__init__.py"), "VALUE = 42\n");
}

#[test]
fn setuptools_builds_an_editable_wheel() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((python, major)) = setuptools_env(tmp.path()) else { return };
    if major < 64 {
        eprintln!("skipping: setuptools {major} predates PEP 660 (needs >= 64)");
        return;
    }
    let source = tmp.path().join("src");
    setuptools_project(&source);
    let frontend = OsBuildFrontend::new();
    let requires = frontend
        .call_hook(&request(&python, &source, "setuptools.build_meta", &[], Hook::GetRequiresForBuildEditable))
        .unwrap();
    assert!(matches!(requires, HookOutput::Requires(_)), "{requires:?}");
    let built =
        frontend.call_hook(&request(&python, &source, "setuptools.build_meta", &[], Hook::BuildEditable)).unwrap();
    let HookOutput::Wheel(wheel) = built else { panic!("{built:?}") };
    assert!(wheel.is_file());
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("mypkg-0.1.0") && name.ends_with(".whl"), "{name}");
    let names = wheel_names(&wheel);
    assert!(
        names.iter().any(|n| n.ends_with(".pth") || n.contains("__editable__")),
        "no .pth or __editable__ finder in {names:?}"
    );
}

/// An in-tree backend (`backend-path`) writing a minimal wheel with zipfile;
/// it checks the isolation the frontend promises and has no other hooks.
const IN_TREE_BACKEND: &str = r#"
import os
import sys
import zipfile

NAME = "intree-1.0-py3-none-any.whl"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    print("building the wheel (backends print to stdout)")
    sys.stderr.write("and to stderr\n")
    assert os.path.isfile("pyproject.toml"), "cwd is the source tree"
    cwd = os.getcwd()
    assert not any((p or cwd) == cwd for p in sys.path), "the source tree is not on sys.path: %r" % sys.path
    assert os.environ.get("PYTHONNOUSERSITE") == "1"
    assert "PYTHONPATH" not in os.environ and "PYTHONHOME" not in os.environ
    assert config_settings is None and metadata_directory is None
    with zipfile.ZipFile(os.path.join(wheel_directory, NAME), "w") as z:
        z.writestr("intree/__init__.py", "")
        z.writestr("intree-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: intree\nVersion: 1.0\n")
        z.writestr(
            "intree-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        z.writestr("intree-1.0.dist-info/RECORD", "")
    return NAME
"#;

fn in_tree_project(root: &Path) {
    write(
        root,
        &[
            (
                "pyproject.toml",
                "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\"_backend\"]\n",
            ),
            ("_backend/backend.py", IN_TREE_BACKEND),
            (
                "_backend/failing.py",
                "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n\
                 \x20   for i in range(1, 201):\n\
                 \x20       print('noise line %d' % i)\n\
                 \x20   raise RuntimeError('kaboom: the compiler is on fire')\n",
            ),
            (
                "_backend/objects.py",
                "class _Backend:\n\
                 \x20   def get_requires_for_build_wheel(self, config_settings=None):\n\
                 \x20       return ['wheel>=0.40', 'cython; python_version >= \"3\"']\n\
                 \x20   def build_editable(self, wheel_directory, config_settings=None, metadata_directory=None):\n\
                 \x20       return 'missing-1.0-py3-none-any.whl'\n\
                 class Holder:\n\
                 \x20   backend = _Backend()\n",
            ),
        ],
    );
}

fn in_tree_wheel(python: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("src");
    in_tree_project(&source);
    let frontend = OsBuildFrontend::new();

    let requires =
        frontend.call_hook(&request(python, &source, "backend", &["_backend"], Hook::GetRequiresForBuildWheel)).unwrap();
    assert_eq!(requires, HookOutput::Requires(Vec::new()));

    let built = frontend.call_hook(&request(python, &source, "backend", &["_backend"], Hook::BuildWheel)).unwrap();
    assert_eq!(built, HookOutput::Wheel(tmp.path().join("dist").join("intree-1.0-py3-none-any.whl")));
    let HookOutput::Wheel(wheel) = built else { unreachable!() };
    assert!(wheel_names(&wheel).contains(&"intree/__init__.py".to_owned()));
}

#[test]
fn in_tree_backend_without_get_requires() {
    let Some(python) = any_python() else { return };
    in_tree_wheel(&python);
}

#[test]
fn the_shim_runs_on_python_3_7() {
    let Some(home) = std::env::var_os("HOME") else { return };
    let python = Path::new(&home).join(".pyenv/versions/3.7.16/bin/python3");
    if !python.is_file() {
        eprintln!("skipping: no Python 3.7 at {}", python.display());
        return;
    }
    in_tree_wheel(&python);
}

#[test]
fn a_raising_backend_fails_with_its_output_and_traceback() {
    let Some(python) = any_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("src");
    in_tree_project(&source);
    let err = OsBuildFrontend::new()
        .call_hook(&request(&python, &source, "failing", &["_backend"], Hook::BuildWheel))
        .unwrap_err();
    let BuildError::HookFailed { backend, hook, output } = &err else { panic!("{err:?}") };
    assert_eq!((backend.as_str(), hook.as_str()), ("failing", "build_wheel"));
    assert!(output.contains("kaboom: the compiler is on fire"), "{output}");
    assert!(output.contains("Traceback") && output.contains("RuntimeError"), "{output}");
    assert!(output.contains("noise line 200"), "{output}");
    assert!(!output.contains("noise line 100\n"), "only the tail is kept: {output}");
    assert!(output.contains("earlier lines omitted"), "{output}");
}

#[test]
fn a_backend_without_build_editable_is_unsupported() {
    let Some(python) = any_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("src");
    in_tree_project(&source);
    let frontend = OsBuildFrontend::new();
    for hook in [Hook::BuildEditable, Hook::GetRequiresForBuildEditable] {
        let err = frontend.call_hook(&request(&python, &source, "backend", &["_backend"], hook)).unwrap_err();
        assert_eq!(
            err,
            BuildError::Unsupported { backend: "backend".to_owned(), hook: hook.function().to_owned() }
        );
    }
}

#[test]
fn object_backends_and_requires_lists() {
    let Some(python) = any_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("src");
    in_tree_project(&source);
    let frontend = OsBuildFrontend::new();
    let spec = "objects:Holder.backend";
    let requires =
        frontend.call_hook(&request(&python, &source, spec, &["_backend"], Hook::GetRequiresForBuildWheel)).unwrap();
    assert_eq!(
        requires,
        HookOutput::Requires(vec!["wheel>=0.40".to_owned(), "cython; python_version >= \"3\"".to_owned()])
    );
    // The backend has `build_editable`, so its `get_requires_for_build_editable` defaults to [].
    let requires =
        frontend.call_hook(&request(&python, &source, spec, &["_backend"], Hook::GetRequiresForBuildEditable)).unwrap();
    assert_eq!(requires, HookOutput::Requires(Vec::new()));
    // It claims a wheel it did not write.
    let err = frontend.call_hook(&request(&python, &source, spec, &["_backend"], Hook::BuildEditable)).unwrap_err();
    let BuildError::HookFailed { output, .. } = &err else { panic!("{err:?}") };
    assert!(output.contains("does not exist"), "{output}");
    // No `build_wheel` at all (a broken backend: PEP 517 makes it mandatory).
    let err = frontend.call_hook(&request(&python, &source, spec, &["_backend"], Hook::BuildWheel)).unwrap_err();
    assert!(matches!(err, BuildError::Unsupported { .. }), "{err:?}");
}

#[test]
fn backend_path_must_stay_in_the_tree_and_be_used() {
    let Some(python) = any_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("src");
    in_tree_project(&source);
    fs::create_dir_all(tmp.path().join("outside")).unwrap();
    let frontend = OsBuildFrontend::new();

    let err = frontend.call_hook(&request(&python, &source, "backend", &["../outside"], Hook::BuildWheel)).unwrap_err();
    let BuildError::HookFailed { output, .. } = &err else { panic!("{err:?}") };
    assert!(output.contains("outside the source tree"), "{output}");

    // `json` is the stdlib's, not the in-tree directory's.
    let err = frontend.call_hook(&request(&python, &source, "json", &["_backend"], Hook::BuildWheel)).unwrap_err();
    let BuildError::HookFailed { output, .. } = &err else { panic!("{err:?}") };
    assert!(output.contains("not loaded from backend-path"), "{output}");
}

#[test]
fn missing_backends_and_interpreters() {
    let Some(python) = any_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("src");
    in_tree_project(&source);
    let frontend = OsBuildFrontend::new();

    // Not importable: the source tree itself is not on sys.path, so `_backend.backend` is not found either.
    let err = frontend.call_hook(&request(&python, &source, "_backend.backend", &[], Hook::BuildWheel)).unwrap_err();
    let BuildError::HookFailed { output, .. } = &err else { panic!("{err:?}") };
    assert!(output.contains("ModuleNotFoundError") || output.contains("ImportError"), "{output}");

    let err = frontend
        .call_hook(&request(&tmp.path().join("no-such-python"), &source, "backend", &["_backend"], Hook::BuildWheel))
        .unwrap_err();
    assert!(matches!(err, BuildError::Io { .. }), "{err:?}");
}
