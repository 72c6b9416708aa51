//! Creating, reusing, clearing and opening venvs.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use pybun_env::Interpreter;
use pybun_ports::{EnvironmentError, InterpreterError, Venv, VenvOptions};

use crate::cfg::{CfgContents, PyvenvCfg, render};
use crate::{OsEnvironments, absolute, activate, io_error};

/// Present while a venv is being created or cleared: a directory holding it
/// and no `pyvenv.cfg` is PyBun's own interrupted creation, safe to wipe.
const INCOMPLETE_MARKER: &str = ".pybun-venv-incomplete";

const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by PyBun.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// The `pyvenv.cfg` of the venv the interpreter's executable belongs to, as
/// CPython finds it: beside the executable or one directory up. (Probes run
/// with `-S` report `sys.prefix == sys.base_prefix` even inside a venv, so
/// the facts alone cannot tell.)
fn own_venv_cfg(interpreter: &Interpreter) -> Option<PyvenvCfg> {
    let mut dirs: Vec<&Path> = Vec::new();
    if let Some(exe_dir) = interpreter.sys_executable.parent() {
        dirs.push(exe_dir);
        dirs.extend(exe_dir.parent());
    }
    if interpreter.prefix != interpreter.base_prefix {
        dirs.push(&interpreter.prefix);
    }
    dirs.into_iter().find_map(|dir| fs::read_to_string(dir.join("pyvenv.cfg")).ok()).map(|text| PyvenvCfg::parse(&text))
}

/// Whether the interpreter runs inside a virtual environment.
fn in_venv(interpreter: &Interpreter) -> bool {
    interpreter.is_virtualenv || interpreter.prefix != interpreter.base_prefix || own_venv_cfg(interpreter).is_some()
}

/// `python3.12`, `python3.13t`, `pypy3.10`: the name of the `lib/` (and
/// `include/`) subdirectory of an environment of this interpreter.
fn lib_name(interpreter: &Interpreter) -> String {
    let (major, minor) = (interpreter.major, interpreter.minor);
    if interpreter.implementation_name.eq_ignore_ascii_case("pypy") {
        format!("pypy{major}.{minor}")
    } else if interpreter.gil_disabled {
        format!("python{major}.{minor}t")
    } else {
        format!("python{major}.{minor}")
    }
}

/// The executable names in `bin/`: `python` first (the link to the base
/// interpreter), then the ones linking to it.
fn executable_names(interpreter: &Interpreter) -> Vec<String> {
    let (major, minor) = (interpreter.major, interpreter.minor);
    let mut names = vec!["python".to_string(), format!("python{major}"), format!("python{major}.{minor}")];
    if interpreter.gil_disabled {
        names.push(format!("python{major}.{minor}t"));
    }
    if interpreter.implementation_name.eq_ignore_ascii_case("pypy") {
        names.extend(["pypy".to_string(), format!("pypy{major}"), format!("pypy{major}.{minor}")]);
    }
    names
}

/// `lib/pythonX.Y/site-packages` of a venv at `root` for `interpreter`.
#[must_use]
pub fn site_packages_dir(root: &Path, interpreter: &Interpreter) -> PathBuf {
    root.join("lib").join(lib_name(interpreter)).join("site-packages")
}

/// The base interpreter's executable a venv for `interpreter` links to.
///
/// Outside a venv, `sys.executable` itself (unresolved, as CPython's `venv`
/// does: `~/.pyenv/versions/3.12.1/bin/python3.12`, `/usr/bin/python3`).
/// Inside one (a `pyvenv.cfg` beside `sys.executable` or one directory up,
/// or `prefix != base_prefix`): where the venv's symlinks lead out of its
/// `bin/`; else `pythonX.Y` (or the same name, `pythonX`, `python`) in the
/// venv's `home`, then in `base_prefix/bin`; else `sys.executable` with its
/// symlinks resolved.
#[must_use]
pub fn base_executable(interpreter: &Interpreter) -> PathBuf {
    let cfg = own_venv_cfg(interpreter);
    if cfg.is_none() && !in_venv(interpreter) {
        return interpreter.sys_executable.clone();
    }
    // A venv's `bin/python` links (possibly in a chain) to the base.
    if let Some(base) = follow_out_of_dir(&interpreter.sys_executable) {
        return base;
    }
    let mut names: Vec<String> = Vec::new();
    let (major, minor) = (interpreter.major, interpreter.minor);
    if interpreter.gil_disabled {
        names.push(format!("python{major}.{minor}t"));
    }
    names.push(format!("python{major}.{minor}"));
    names.extend(interpreter.sys_executable.file_name().map(|n| n.to_string_lossy().into_owned()));
    names.extend([format!("python{major}"), "python".to_string()]);
    let mut dirs: Vec<PathBuf> = cfg.and_then(|cfg| cfg.home).into_iter().collect();
    dirs.push(interpreter.base_prefix.join("bin"));
    for dir in &dirs {
        for name in &names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    fs::canonicalize(&interpreter.sys_executable).unwrap_or_else(|_| interpreter.sys_executable.clone())
}

/// `x.y.z` of a full version (`3.13.0rc1` gives `3.13.0`), as CPython writes it.
fn numeric_version(full: &str) -> String {
    full.split('.')
        .take(3)
        .map(|part| part.chars().take_while(char::is_ascii_digit).collect::<String>())
        .collect::<Vec<_>>()
        .join(".")
}

/// What is at a venv path.
enum Found {
    Missing,
    EmptyDir,
    Venv(PyvenvCfg),
    /// PyBun's own interrupted creation (marker, no `pyvenv.cfg`).
    Interrupted,
    OtherDir,
    NotADir,
}

fn inspect_path(root: &Path) -> Result<Found, EnvironmentError> {
    match fs::symlink_metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(io_error("read", root)(e)),
        Ok(_) if !root.is_dir() => return Ok(Found::NotADir),
        Ok(_) => {}
    }
    let cfg_path = root.join("pyvenv.cfg");
    match fs::read_to_string(&cfg_path) {
        Ok(text) => return Ok(Found::Venv(PyvenvCfg::parse(&text))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("read", &cfg_path)(e)),
    }
    if root.join(INCOMPLETE_MARKER).exists() {
        return Ok(Found::Interrupted);
    }
    let mut entries = fs::read_dir(root).map_err(io_error("read directory", root))?;
    Ok(if entries.next().is_none() { Found::EmptyDir } else { Found::OtherDir })
}

/// Whether the venv described by `cfg` at `root` is one of `base` (`facts`), and usable.
fn same_interpreter(cfg: &PyvenvCfg, root: &Path, base: &Path, facts: &Interpreter) -> bool {
    let version_matches = cfg
        .version
        .as_deref()
        .is_some_and(|v| v == facts.python_full_version || v == numeric_version(&facts.python_full_version));
    let canonical = |path: &Path| fs::canonicalize(path).ok();
    let base_resolved = canonical(base);
    let executable_matches =
        base_resolved.is_some() && cfg.executable.as_deref().and_then(canonical) == base_resolved;
    let home_matches = cfg.home.as_deref().and_then(canonical).is_some_and(|home| {
        base.parent().and_then(canonical).as_deref() == Some(home.as_path())
    });
    // `metadata` follows the link: a dangling `bin/python` fails.
    let python_works = fs::metadata(root.join("bin").join("python")).is_ok();
    version_matches && (executable_matches || home_matches) && python_works
}

fn venv_at(root: PathBuf, interpreter: Interpreter) -> Venv {
    let mut site_packages = site_packages_dir(&root, &interpreter);
    if !site_packages.is_dir()
        && let Some(found) = find_site_packages(&root)
    {
        site_packages = found;
    }
    let scripts = root.join("bin");
    Venv { python: scripts.join("python"), site_packages, scripts, root, interpreter }
}

/// The only `lib/*/site-packages` of a venv made by another tool with another naming.
fn find_site_packages(root: &Path) -> Option<PathBuf> {
    let mut found = fs::read_dir(root.join("lib"))
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("site-packages"))
        .filter(|path| path.is_dir());
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

pub(crate) fn create_venv(
    envs: &OsEnvironments,
    path: &Path,
    interpreter: &Interpreter,
    options: &VenvOptions,
) -> Result<Venv, EnvironmentError> {
    let root = absolute(path)?;
    let base = base_executable(interpreter);
    let facts = if in_venv(interpreter) { envs.inspect(&base)? } else { interpreter.clone() };
    let not_a_venv = |reason: String| EnvironmentError::NotAVenv { path: root.clone(), reason };
    match inspect_path(&root)? {
        Found::Missing | Found::EmptyDir => {}
        Found::Venv(cfg) => {
            if same_interpreter(&cfg, &root, &base, &facts) {
                let _ = fs::remove_file(root.join(INCOMPLETE_MARKER));
                return Ok(venv_at(root, facts));
            }
            if !options.clear {
                let of = match (&cfg.version, &cfg.home) {
                    (Some(version), Some(home)) => format!("Python {version} from `{}`", home.display()),
                    (Some(version), None) => format!("Python {version}"),
                    _ => "an unknown interpreter".to_string(),
                };
                return Err(not_a_venv(format!(
                    "it is a virtual environment of {of}, not of Python {} at `{}` (or its interpreter is gone); clear it to replace it",
                    facts.python_full_version,
                    base.display()
                )));
            }
            clear_contents(&root)?;
        }
        Found::Interrupted => clear_contents(&root)?,
        Found::OtherDir => {
            return Err(not_a_venv(format!(
                "the directory `{}` is not empty and has no `pyvenv.cfg`; PyBun will not delete it, even to clear it",
                root.display()
            )));
        }
        Found::NotADir => return Err(not_a_venv("it is not a directory".to_string())),
    }
    populate(&root, &base, &facts, options)?;
    Ok(venv_at(root, facts))
}

/// Empty the directory of a venv being replaced, keeping the directory (a
/// shell may be in it). The marker goes first and `pyvenv.cfg` next, so an
/// interruption leaves something recognizably PyBun's.
fn clear_contents(root: &Path) -> Result<(), EnvironmentError> {
    let marker = root.join(INCOMPLETE_MARKER);
    fs::write(&marker, b"").map_err(io_error("write", &marker))?;
    let cfg = root.join("pyvenv.cfg");
    match fs::remove_file(&cfg) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error("remove", &cfg)(e)),
        _ => {}
    }
    for entry in fs::read_dir(root).map_err(io_error("read directory", root))? {
        let entry = entry.map_err(io_error("read directory", root))?;
        if entry.file_name() == INCOMPLETE_MARKER {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().map_err(io_error("read", &path))?.is_dir();
        let removed = if is_dir { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        removed.map_err(io_error("remove", &path))?;
    }
    Ok(())
}

/// Replace whatever is at `link` by a symlink to `target`.
fn symlink(target: &Path, link: &Path) -> Result<(), EnvironmentError> {
    match fs::remove_file(link) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error("replace", link)(e)),
        _ => {}
    }
    #[cfg(unix)]
    let made = std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    let made = std::os::windows::fs::symlink_file(target, link);
    made.map_err(io_error("create symlink", link))
}

fn create_dir(path: &Path) -> Result<(), EnvironmentError> {
    fs::create_dir_all(path).map_err(io_error("create directory", path))
}

fn write(path: &Path, contents: &[u8]) -> Result<(), EnvironmentError> {
    fs::write(path, contents).map_err(io_error("write", path))
}

/// Lay out a venv in `root` (missing, empty, or cleared); `pyvenv.cfg` last.
fn populate(root: &Path, base: &Path, facts: &Interpreter, options: &VenvOptions) -> Result<(), EnvironmentError> {
    create_dir(root)?;
    let marker = root.join(INCOMPLETE_MARKER);
    write(&marker, b"")?;

    let bin = root.join("bin");
    create_dir(&bin)?;
    create_dir(&site_packages_dir(root, facts))?;
    // CPython 3.11+ creates `include/pythonX.Y`; earlier versions `include`.
    if (facts.major, facts.minor) >= (3, 11) && facts.implementation_name.eq_ignore_ascii_case("cpython") {
        create_dir(&root.join("include").join(format!("python{}.{}{}", facts.major, facts.minor, facts.abiflags)))?;
    } else {
        create_dir(&root.join("include"))?;
    }
    // CPython's venv: `lib64 -> lib` on 64-bit POSIX other than macOS (bpo-21197).
    let lib64 = root.join("lib64");
    if facts.is_64bit
        && facts.os_name == "posix"
        && facts.sys_platform != "darwin"
        && fs::symlink_metadata(&lib64).is_err()
    {
        symlink(Path::new("lib"), &lib64)?;
    }

    let names = executable_names(facts);
    symlink(base, &bin.join(&names[0]))?;
    for name in &names[1..] {
        symlink(Path::new(&names[0]), &bin.join(name))?;
    }

    let prompt = match &options.prompt {
        Some(prompt) => prompt.clone(),
        None => root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    for (name, text) in activate::scripts(&root.to_string_lossy(), "bin", &prompt) {
        write(&bin.join(name), text.as_bytes())?;
    }
    write(&root.join(".gitignore"), b"# Created by PyBun automatically.\n*\n")?;
    write(&root.join("CACHEDIR.TAG"), CACHEDIR_TAG.as_bytes())?;

    let home = base.parent().unwrap_or(Path::new("/"));
    let executable = fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    let cfg = render(&CfgContents {
        home,
        implementation: &facts.platform_python_implementation,
        system_site_packages: options.system_site_packages,
        version: &facts.python_full_version,
        executable: &executable,
        prompt: options.prompt.as_deref(),
    });
    // Written under another name and renamed: never seen half-written. Not
    // flushed to disk (`fsync` waited for other processes' IO, 0.5-5 ms
    // measured, on the critical path of every fresh sync), as uv and
    // CPython's `venv` do not: after a power cut the file may be empty, like
    // any other file of the venv just written.
    let cfg_path = root.join("pyvenv.cfg");
    let temp = root.join(".pyvenv.cfg.pybun-tmp");
    write(&temp, cfg.as_bytes())?;
    fs::rename(&temp, &cfg_path).map_err(io_error("write", &cfg_path))?;
    fs::remove_file(&marker).map_err(io_error("remove", &marker))?;
    Ok(())
}

/// `path` with `.` and `..` resolved lexically.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Follow the symlinks from `path` until one leads out of its directory;
/// `None` when `path` is not a symlink or the chain stays in the directory.
fn follow_out_of_dir(path: &Path) -> Option<PathBuf> {
    let path = normalize(path);
    let dir = path.parent()?.to_path_buf();
    let mut current = path;
    for _ in 0..32 {
        let target = fs::read_link(&current).ok()?;
        let next = normalize(&dir.join(target));
        if next.parent() != Some(dir.as_path()) {
            return Some(next);
        }
        current = next;
    }
    None
}

/// The base executable a venv's `bin/python` leads to: its chain of symlinks
/// followed until it leaves `bin/` (CPython: `python -> python3.12 ->
/// /usr/bin/python3.12`; PyBun, uv: `python -> /usr/bin/python3.12`), or for
/// copies, `home` joined with `pythonX.Y`, `pythonX` or `python`.
fn venv_base_executable(root: &Path, cfg: &PyvenvCfg) -> Option<PathBuf> {
    if let Some(base) = follow_out_of_dir(&root.join("bin").join("python")) {
        return Some(base);
    }
    let home = cfg.home.as_ref()?;
    let version = cfg.version.as_deref().unwrap_or_default();
    let short: Vec<&str> = version.split('.').take(2).collect();
    let mut names = Vec::new();
    if short.len() == 2 {
        names.push(format!("python{}.{}", short[0], short[1]));
        names.push(format!("python{}", short[0]));
    }
    names.push("python".to_string());
    names.into_iter().map(|name| home.join(name)).find(|path| path.is_file())
}

pub(crate) fn open_venv(envs: &OsEnvironments, path: &Path) -> Result<Option<Venv>, EnvironmentError> {
    let root = absolute(path)?;
    let cfg_path = root.join("pyvenv.cfg");
    let cfg = match fs::read_to_string(&cfg_path) {
        Ok(text) => PyvenvCfg::parse(&text),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => return Ok(None),
        Err(e) => return Err(io_error("read", &cfg_path)(e)),
    };
    // Dangling (the base interpreter was removed) or missing.
    if fs::metadata(root.join("bin").join("python")).is_err() {
        return Ok(None);
    }
    let Some(base) = venv_base_executable(&root, &cfg) else { return Ok(None) };
    let facts = match envs.interpreters.inspect(&base) {
        Ok(facts) => facts,
        Err(InterpreterError::NotExecutable { .. }) => return Ok(None),
        Err(e) => {
            return Err(EnvironmentError::Io {
                action: "inspect the interpreter".to_string(),
                path: base,
                reason: e.to_string(),
            });
        }
    };
    Ok(Some(venv_at(root, facts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_paths_normalize() {
        assert_eq!(numeric_version("3.13.0rc1"), "3.13.0");
        assert_eq!(numeric_version("3.12.1"), "3.12.1");
        assert_eq!(
            normalize(Path::new("/v/lib/python3.12/site-packages/../../../bin/foo")),
            PathBuf::from("/v/bin/foo")
        );
        assert_eq!(normalize(Path::new("/v/./a/../../..")), PathBuf::from("/"));
    }
}
