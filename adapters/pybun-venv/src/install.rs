//! Installing unpacked wheels into a venv, and compiling their bytecode.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use pybun_fs_os::{
    InstallOptions, WheelInstallError, detect_link_mode, install_from_recipe, install_planned, plan_unpacked,
};
use pybun_install::SchemePaths;
use pybun_pep::{PackageName, WheelFilename};
use pybun_ports::{EnvironmentError, InstalledDist, LinkMode, Venv, WheelToInstall};
use rayon::prelude::*;

use crate::dists::{parse_dist_info_name, remove_stale_staging};
use crate::io_error;

fn link_mode(mode: LinkMode) -> pybun_fs_os::LinkMode {
    match mode {
        LinkMode::Clone => pybun_fs_os::LinkMode::Clone,
        LinkMode::Hardlink => pybun_fs_os::LinkMode::Hardlink,
        LinkMode::Copy => pybun_fs_os::LinkMode::Copy,
        LinkMode::Symlink => pybun_fs_os::LinkMode::Symlink,
    }
}

/// The install scheme of a distribution in a venv, as pip's venv scheme:
/// purelib = platlib = site-packages, scripts = `bin`, headers =
/// `include/site/pythonX.Y/<name>`, data = the venv root.
#[must_use]
pub(crate) fn scheme_paths(venv: &Venv, name: &PackageName) -> SchemePaths {
    let interpreter = &venv.interpreter;
    SchemePaths {
        purelib: venv.site_packages.clone(),
        platlib: venv.site_packages.clone(),
        scripts: venv.scripts.clone(),
        headers: venv
            .root
            .join("include")
            .join("site")
            .join(format!("python{}.{}", interpreter.major, interpreter.minor))
            .join(name.to_string()),
        data: venv.root.clone(),
    }
}

fn convert(wheel: &str, error: WheelInstallError) -> EnvironmentError {
    match error {
        WheelInstallError::Io { action, path, source } => {
            EnvironmentError::Io { action: action.to_string(), path, reason: source.to_string() }
        }
        other => EnvironmentError::Install { wheel: wheel.to_string(), reason: other.to_string() },
    }
}

/// Install one wheel; the installed distribution and its `.py` files in site-packages.
fn install_one(
    venv: &Venv,
    wheel: &WheelToInstall,
    mode: pybun_fs_os::LinkMode,
) -> Result<(InstalledDist, Vec<PathBuf>), EnvironmentError> {
    let filename = WheelFilename::from_str(&wheel.filename).map_err(|e| EnvironmentError::Install {
        wheel: wheel.filename.clone(),
        reason: e.to_string(),
    })?;
    let scheme = scheme_paths(venv, &filename.name);
    let options = InstallOptions { interpreter: venv.python.clone(), direct_url: wheel.direct_url.clone() };
    let is_source = |dest: &Path| dest.extension().is_some_and(|e| e == "py") && dest.starts_with(&venv.site_packages);
    // Installed before into an environment of this layout: link what that install prepared.
    let (installed, sources) = match install_from_recipe(&wheel.unpacked, &scheme, mode, &options)
        .map_err(|e| convert(&wheel.filename, e))?
    {
        Some(done) => {
            let sources = done.placed.into_iter().filter(|dest| is_source(dest)).collect();
            (done.installed, sources)
        }
        None => {
            let plan = plan_unpacked(&wheel.unpacked, &filename, &scheme).map_err(|e| convert(&wheel.filename, e))?;
            let installed =
                install_planned(&wheel.unpacked, &plan, mode, &options).map_err(|e| convert(&wheel.filename, e))?;
            let sources =
                plan.files.iter().filter(|f| !f.in_dist_info && is_source(&f.dest)).map(|f| f.dest.clone()).collect();
            (installed, sources)
        }
    };
    for warning in &installed.warnings {
        tracing::warn!(wheel = %wheel.filename, "{warning}");
    }
    let (name, version) = installed
        .dist_info
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_dist_info_name)
        .unwrap_or_else(|| (filename.name.to_string(), filename.version.to_string()));
    Ok((InstalledDist { name, version, dist_info: installed.dist_info }, sources))
}

pub(crate) fn install(
    venv: &Venv,
    wheels: &[WheelToInstall],
    mode: Option<LinkMode>,
    compile_bytecode: bool,
) -> Vec<Result<InstalledDist, EnvironmentError>> {
    let Some(first) = wheels.first() else { return Vec::new() };
    if let Err(e) = fs::create_dir_all(&venv.site_packages) {
        let error = io_error("create directory", &venv.site_packages)(e);
        return wheels.iter().map(|_| Err(error.clone())).collect();
    }
    remove_stale_staging(&venv.site_packages);
    let mode = match mode {
        Some(mode) => link_mode(mode),
        None => detect_link_mode(&first.unpacked, &venv.site_packages),
    };
    tracing::debug!(?mode, "placing files");
    // Largest first (by the size of the unpacked wheel's file list), one wheel
    // per task: the biggest wheel starts at once instead of ending up last
    // in one thread's half of the list.
    let mut order: Vec<(usize, u64)> = wheels
        .iter()
        .enumerate()
        .map(|(i, wheel)| {
            let weight = fs::metadata(wheel.unpacked.join(pybun_fs_os::MANIFEST)).map_or(0, |m| m.len());
            (i, weight)
        })
        .collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut indexed: Vec<(usize, Result<_, _>)> = order
        .par_iter()
        .with_max_len(1)
        .map(|&(i, _)| {
            #[cfg(test)]
            tests::rendezvous();
            (i, install_one(venv, &wheels[i], mode))
        })
        .collect();
    indexed.sort_by_key(|(i, _)| *i);
    let results: Vec<_> = indexed.into_iter().map(|(_, result)| result).collect();
    if compile_bytecode {
        let sources: Vec<&Path> =
            results.iter().flatten().flat_map(|(_, sources)| sources.iter().map(PathBuf::as_path)).collect();
        compile(&venv.python, &sources);
    }
    results.into_iter().map(|result| result.map(|(dist, _)| dist)).collect()
}

/// `python -I -m compileall -q -j0 -i -` over `sources` (listed on stdin, so
/// any number fits): one process, all cores. Failures (a file with Python 2
/// syntax, no `compileall`) are logged, never fatal: bytecode is a cache.
fn compile(python: &Path, sources: &[&Path]) {
    let list: String = sources
        .iter()
        .filter_map(|path| path.to_str())
        .filter(|path| !path.contains(['\n', '\r']))
        .map(|path| format!("{path}\n"))
        .collect();
    if list.is_empty() {
        return;
    }
    let child = Command::new(python)
        .args(["-I", "-m", "compileall", "-q", "-j0", "-i", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(python = %python.display(), "could not run compileall: {e}");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // compileall reads the whole list before compiling (and writing).
        let _ = stdin.write_all(list.as_bytes());
    }
    match child.wait_with_output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => tracing::warn!(
            python = %python.display(),
            "compileall failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => tracing::warn!(python = %python.display(), "compileall did not finish: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex, PoisonError};
    use std::time::{Duration, Instant};

    use pybun_testkit::{DistSpec, build_wheel};

    use super::*;

    /// How many wheel installations should meet (0: none is held), how many
    /// are waiting for the others, and whether they met.
    static GATE: Mutex<(usize, usize, bool)> = Mutex::new((0, 0, false));
    static MET: Condvar = Condvar::new();

    /// Each wheel's installation waits here (up to 5 s, then gives up and
    /// goes on) until as many as the test asked for wait at once: they can
    /// only meet if the wheels are installed in parallel.
    pub(super) fn rendezvous() {
        let mut gate = GATE.lock().unwrap_or_else(PoisonError::into_inner);
        if gate.0 == 0 || gate.2 {
            return;
        }
        gate.1 += 1;
        if gate.1 >= gate.0 {
            gate.2 = true;
            MET.notify_all();
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !gate.2 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                gate.1 -= 1;
                break;
            };
            gate = MET.wait_timeout(gate, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    fn venv(root: &Path) -> Venv {
        let interpreter = serde_json::from_value(serde_json::json!({
            "path": "/usr/bin/python3", "sys_executable": "/usr/bin/python3", "prefix": "/usr",
            "base_prefix": "/usr", "base_exec_prefix": "/usr", "implementation_name": "cpython",
            "python_full_version": "3.12.1", "python_version": "3.12", "major": 3, "minor": 12,
            "abiflags": "", "gil_disabled": false, "os_name": "posix", "sys_platform": "linux",
            "platform_machine": "x86_64", "platform_system": "Linux", "platform_release": "6.1",
            "platform_version": "#1", "platform_python_implementation": "CPython",
            "implementation_version": "3.12.1", "libc": null, "is_64bit": true, "ext_suffix": ".cpython-312-x86_64-linux-gnu.so",
            "purelib": "/usr/lib/python3.12/site-packages", "platlib": "/usr/lib/python3.12/site-packages",
            "scripts": "/usr/bin", "include": "/usr/include/python3.12", "data": "/usr", "is_virtualenv": false,
        }))
        .unwrap();
        Venv {
            root: root.to_path_buf(),
            python: root.join("bin/python"),
            site_packages: root.join("lib/python3.12/site-packages"),
            scripts: root.join("bin"),
            interpreter,
        }
    }

    /// Several wheels are installed at the same time (rayon), not one after another.
    #[test]
    #[expect(clippy::print_stderr, reason = "a test says why it skips")]
    fn wheels_are_installed_in_parallel() {
        if rayon::current_num_threads() < 2 {
            eprintln!("skipping: rayon has one thread here, so nothing runs in parallel");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let wheels: Vec<WheelToInstall> = ["alpha", "beta", "gamma", "delta"]
            .iter()
            .map(|name| {
                let (filename, bytes) = build_wheel(&DistSpec::new(name, "1.0"), "py3-none-any");
                let archive = dir.path().join(&filename);
                fs::write(&archive, bytes).unwrap();
                let unpacked = dir.path().join("cache").join(name);
                pybun_fs_os::unpack_wheel(&archive, &unpacked).unwrap();
                WheelToInstall { filename, unpacked, direct_url: None }
            })
            .collect();
        let venv = venv(&dir.path().join("venv"));
        *GATE.lock().unwrap() = (2, 0, false);
        let results = install(&venv, &wheels, None, false);
        let met = GATE.lock().unwrap().2;
        *GATE.lock().unwrap() = (0, 0, false);
        assert!(met, "no two wheels were ever installed at the same time");
        let names: Vec<String> = results.into_iter().map(|result| result.unwrap().name).collect();
        assert_eq!(names, ["alpha", "beta", "gamma", "delta"]);
    }
}
