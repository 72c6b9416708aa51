//! Running one PEP 517/660 hook through the embedded shim.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use pybun_ports::{BuildError, Hook, HookOutput, HookRequest};
use serde_json::Value;

use crate::io_error;

/// The shim, written to a temporary file and run as a script.
const SHIM: &str = include_str!("hook_shim.py");

/// PEP 517's backend when a project names none.
const DEFAULT_BACKEND: &str = "setuptools.build_meta:__legacy__";

/// At most this many bytes of output tail are reported, whatever the line count.
const MAX_TAIL_BYTES: usize = 32 * 1024;

pub(crate) fn call(request: &HookRequest, tail_lines: usize) -> Result<HookOutput, BuildError> {
    let backend = if request.backend.trim().is_empty() { DEFAULT_BACKEND } else { request.backend.trim() };
    let hook_name = request.hook.function();
    let failed = |output: String| BuildError::HookFailed {
        backend: backend.to_owned(),
        hook: hook_name.to_owned(),
        output,
    };

    let source_dir =
        fs::canonicalize(&request.source_dir).map_err(|e| io_error("open the source tree", &request.source_dir, &e))?;
    let backend_path = resolve_backend_path(&source_dir, &request.backend_path).map_err(failed)?;
    let output_dir =
        std::path::absolute(&request.output_dir).map_err(|e| io_error("resolve", &request.output_dir, &e))?;
    fs::create_dir_all(&output_dir).map_err(|e| io_error("create", &output_dir, &e))?;

    let scratch = tempfile::Builder::new()
        .prefix("pybun-hook-")
        .tempdir()
        .map_err(|e| io_error("create a temporary directory in", &std::env::temp_dir(), &e))?;
    let shim = scratch.path().join("pybun_build_hook.py");
    fs::write(&shim, SHIM).map_err(|e| io_error("write", &shim, &e))?;
    let result_file = scratch.path().join("result.json");
    let log_file = scratch.path().join("output.log");
    let log = File::create(&log_file).map_err(|e| io_error("create", &log_file, &e))?;
    let log_err = log.try_clone().map_err(|e| io_error("open", &log_file, &e))?;

    let mut command = Command::new(&request.python);
    command
        .arg(&shim)
        .arg(&result_file)
        .arg(backend)
        .arg(hook_name)
        .arg(&output_dir)
        .args(&backend_path)
        .current_dir(&source_dir)
        .stdin(Stdio::null())
        // Both streams share one file description: output stays interleaved in order.
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err));
    isolate_env(&mut command, &request.python);
    let status = command.status().map_err(|e| io_error("run", &request.python, &e))?;

    let output = read_tail(&log_file, tail_lines);
    let result = fs::read_to_string(&result_file).ok().and_then(|text| serde_json::from_str::<Value>(&text).ok());
    let Some(result) = result else {
        return Err(failed(join_output(&output, &no_result(status))));
    };
    if let Some(hook) = result.get("unsupported") {
        return Err(BuildError::Unsupported {
            backend: backend.to_owned(),
            hook: hook.as_str().unwrap_or(hook_name).to_owned(),
        });
    }
    if let Some(error) = result.get("error") {
        let traceback = result.get("traceback").and_then(Value::as_str).unwrap_or_default().trim_end();
        let error = error.as_str().unwrap_or_default();
        let detail = if traceback.is_empty() { error.to_owned() } else { traceback.to_owned() };
        return Err(failed(join_output(&output, &detail)));
    }
    let Some(value) = result.get("ok") else {
        return Err(failed(join_output(&output, &no_result(status))));
    };
    if !status.success() {
        let detail = format!("the hook returned but the interpreter then exited with {status}");
        return Err(failed(join_output(&output, &detail)));
    }
    match request.hook {
        Hook::GetRequiresForBuildWheel | Hook::GetRequiresForBuildEditable => {
            let requires = value.as_array().and_then(|items| {
                items.iter().map(|item| item.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
            });
            requires
                .map(HookOutput::Requires)
                .ok_or_else(|| failed(join_output(&output, &format!("the hook returned {value}, not a list of strings"))))
        }
        Hook::BuildWheel | Hook::BuildEditable => {
            let basename = value.as_str().unwrap_or_default();
            if !is_plain_file_name(basename) {
                return Err(failed(join_output(
                    &output,
                    &format!("the hook returned {value}, not the file name of a wheel in the output directory"),
                )));
            }
            let wheel = output_dir.join(basename);
            if !wheel.is_file() {
                return Err(failed(join_output(
                    &output,
                    &format!("the hook returned `{basename}` but `{}` does not exist", wheel.display()),
                )));
            }
            Ok(HookOutput::Wheel(wheel))
        }
    }
}

/// `backend-path` entries resolved against the (canonical) source tree; PEP 517
/// requires them to stay inside it.
fn resolve_backend_path(source_dir: &Path, entries: &[String]) -> Result<Vec<PathBuf>, String> {
    entries
        .iter()
        .map(|entry| {
            let joined = source_dir.join(entry);
            let resolved = fs::canonicalize(&joined)
                .map_err(|e| format!("backend-path entry `{entry}` cannot be resolved in the source tree: {e}"))?;
            if resolved.starts_with(source_dir) {
                Ok(resolved)
            } else {
                Err(format!(
                    "backend-path entry `{entry}` resolves to `{}`, outside the source tree `{}`",
                    resolved.display(),
                    source_dir.display()
                ))
            }
        })
        .collect()
}

/// The hook's environment: inherited, minus what would leak the user's
/// packages into the build (`PYTHONPATH`, `PYTHONHOME`, user site-packages),
/// with the build environment (a venv) activated on `PATH`/`VIRTUAL_ENV`.
fn isolate_env(command: &mut Command, python: &Path) {
    command
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env("PYTHONNOUSERSITE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let scripts = python.parent().filter(|dir| !dir.as_os_str().is_empty());
    let venv = scripts.and_then(Path::parent).filter(|root| root.join("pyvenv.cfg").is_file());
    match (venv, scripts) {
        (Some(venv), Some(scripts)) => {
            let mut paths = vec![scripts.to_path_buf()];
            if let Some(path) = std::env::var_os("PATH") {
                paths.extend(std::env::split_paths(&path));
            }
            if let Ok(path) = std::env::join_paths(paths) {
                command.env("PATH", path);
            }
            command.env("VIRTUAL_ENV", venv);
        }
        _ => {
            command.env_remove("VIRTUAL_ENV");
        }
    }
}

fn no_result(status: ExitStatus) -> String {
    format!("the hook exited ({status}) without reporting a result")
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// The last `lines` lines of the captured output (at most [`MAX_TAIL_BYTES`]).
fn read_tail(log_file: &Path, lines: usize) -> String {
    let bytes = fs::read(log_file).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_end();
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    let mut tail = all[skip..].join("\n");
    let mut omitted = skip;
    if tail.len() > MAX_TAIL_BYTES {
        let mut cut = tail.len() - MAX_TAIL_BYTES;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        omitted += tail[..cut].matches('\n').count();
        tail = tail[cut..].to_owned();
    }
    if omitted > 0 { format!("[... {omitted} earlier lines omitted]\n{tail}") } else { tail }
}

fn join_output(output: &str, detail: &str) -> String {
    match (output.is_empty(), detail.is_empty()) {
        (true, _) => detail.to_owned(),
        (false, true) => output.to_owned(),
        (false, false) => format!("{output}\n{detail}"),
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_file_names() {
        assert!(is_plain_file_name("a-1.0-py3-none-any.whl"));
        assert!(!is_plain_file_name("../a.whl"));
        assert!(!is_plain_file_name("sub/a.whl"));
        assert!(!is_plain_file_name(".."));
        assert!(!is_plain_file_name(""));
    }

    #[test]
    fn tail_keeps_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        fs::write(&log, text).unwrap();
        let tail = read_tail(&log, 60);
        assert!(tail.starts_with("[... 40 earlier lines omitted]\nline 41\n"), "{tail}");
        assert!(tail.ends_with("line 100"));
        assert_eq!(read_tail(&dir.path().join("missing"), 60), "");
    }
}
