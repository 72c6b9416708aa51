//! Test support: a minimal `Interpreters` (one probe run per path, cached)
//! and helpers to find the machine's interpreters and build wheels.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use pybun_env::Interpreter;
use pybun_ports::{InterpreterError, Interpreters, WheelToInstall};
use pybun_testkit::{DistSpec, build_wheel};
use pybun_venv::OsEnvironments;

/// Prints the facts as `Interpreter`'s serde JSON.
const PROBE: &str = r#"
import json, os, platform, sys, sysconfig
p = sysconfig.get_paths()
v = sys.version_info
iv = sys.implementation.version
base = getattr(sys, "base_prefix", sys.prefix)
print(json.dumps({
    "path": sys.argv[1], "sys_executable": sys.executable, "prefix": sys.prefix,
    "base_prefix": base, "base_exec_prefix": getattr(sys, "base_exec_prefix", sys.exec_prefix),
    "implementation_name": sys.implementation.name, "python_full_version": platform.python_version(),
    "python_version": "%d.%d" % v[:2], "major": v[0], "minor": v[1],
    "abiflags": getattr(sys, "abiflags", ""), "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "os_name": os.name, "sys_platform": sys.platform, "platform_machine": platform.machine(),
    "platform_system": platform.system(), "platform_release": platform.release(),
    "platform_version": platform.version(), "platform_python_implementation": platform.python_implementation(),
    "implementation_version": "%d.%d.%d" % tuple(iv[:3]), "libc": None, "is_64bit": sys.maxsize > 2 ** 32,
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
    "purelib": p["purelib"], "platlib": p["platlib"], "scripts": p["scripts"], "include": p["include"],
    "data": p["data"], "is_virtualenv": sys.prefix != base,
}))
"#;

/// Runs the probe once per path.
#[derive(Default)]
pub struct ProbeInterpreters {
    cache: Mutex<HashMap<PathBuf, Interpreter>>,
    pub calls: Mutex<Vec<PathBuf>>,
}

impl Interpreters for ProbeInterpreters {
    fn discover(&self) -> Vec<Interpreter> {
        Vec::new()
    }

    fn inspect(&self, path: &Path) -> Result<Interpreter, InterpreterError> {
        self.calls.lock().unwrap().push(path.to_path_buf());
        if let Some(found) = self.cache.lock().unwrap().get(path) {
            return Ok(found.clone());
        }
        let output = Command::new(path)
            .args(["-I", "-S", "-c", PROBE])
            .arg(path)
            .output()
            .map_err(|e| InterpreterError::NotExecutable { path: path.to_path_buf(), reason: e.to_string() })?;
        if !output.status.success() {
            return Err(InterpreterError::ProbeFailed {
                path: path.to_path_buf(),
                reason: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        let facts: Interpreter = serde_json::from_slice(&output.stdout)
            .map_err(|e| InterpreterError::ProbeFailed { path: path.to_path_buf(), reason: e.to_string() })?;
        self.cache.lock().unwrap().insert(path.to_path_buf(), facts.clone());
        Ok(facts)
    }
}

pub fn environments() -> (OsEnvironments, Arc<ProbeInterpreters>) {
    let interpreters = Arc::new(ProbeInterpreters::default());
    (OsEnvironments::new(interpreters.clone()), interpreters)
}

pub fn pyenv(version: &str) -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    home.join(".pyenv/versions").join(version).join("bin").join(format!("python{minor}"))
}

/// The interpreters of this machine the tests use, those that exist.
pub fn interpreters() -> Vec<PathBuf> {
    let found: Vec<PathBuf> = [PathBuf::from("/usr/bin/python3"), pyenv("3.9.18"), pyenv("3.12.1"), pyenv("3.13.0")]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    assert!(!found.is_empty(), "no Python interpreter on this machine");
    found
}

/// pyenv's 3.12, or any interpreter when it is missing.
pub fn python312() -> PathBuf {
    let preferred = pyenv("3.12.1");
    if preferred.exists() { preferred } else { interpreters().remove(0) }
}

pub fn run(program: &Path, args: &[&str]) -> Output {
    let output = Command::new(program).args(args).env_remove("PYTHONHOME").env_remove("PYTHONPATH").output().unwrap();
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim_end().to_string()
}

/// Build `spec`'s wheel and unpack it under `cache`: the wheel to install.
pub fn unpacked_wheel(cache: &Path, spec: &DistSpec) -> WheelToInstall {
    let (filename, bytes) = build_wheel(spec, "py3-none-any");
    fs::create_dir_all(cache).unwrap();
    let wheel = cache.join(&filename);
    fs::write(&wheel, bytes).unwrap();
    let unpacked = cache.join(filename.trim_end_matches(".whl"));
    pybun_fs_os::unpack_wheel(&wheel, &unpacked).unwrap();
    WheelToInstall { filename, unpacked, direct_url: None }
}
