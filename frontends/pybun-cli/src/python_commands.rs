//! `pybun python list|find|install|pin|uninstall`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use pybun_engine::Failure;
use pybun_fs_os::OsFs;
use serde_json::json;

use crate::cli::{Cli, PythonArgs, PythonCommand};
use crate::commands::cache_dir;
use crate::env_commands::{EnvAdapters, data_dir};
use crate::{Rendered, Settings};

fn installer(cli: &Cli) -> Result<pybun_python::PythonInstaller, Failure> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    pybun_python::PythonInstaller::new(
        pybun_python::InstallerConfig {
            install_dir: data_dir().join("python"),
            cache_dir: cache_dir(cli),
            mirror: var("PYBUN_PYTHON_MIRROR").map(|v| v.to_string_lossy().into_owned()),
            downloads_json: var("PYBUN_PYTHON_DOWNLOADS_JSON").map(PathBuf::from),
            offline: cli.global.offline,
        },
        None::<Arc<pybun_index_http::HttpIndex>>,
    )
    .map_err(|e| {
        Failure::new(
            pybun_engine::Diagnostic::error(pybun_engine::Code::PythonInstallFailed, e.to_string())
                .with_hint("check `PYBUN_PYTHON_DOWNLOADS_JSON`"),
        )
    })
}

fn rendered(json: serde_json::Value, stdout: String, stderr: String, warnings: Vec<pybun_engine::Diagnostic>) -> Rendered {
    Rendered { json, stdout, stderr, warnings, exit: 0 }
}

pub(crate) fn python(cli: &Cli, settings: &Settings, args: &PythonArgs) -> Result<Rendered, Failure> {
    let adapters = EnvAdapters::new(cli)?;
    let interpreters = adapters.interpreters.as_ref();
    match &args.command {
        PythonCommand::List { downloads } => {
            let runtimes = installer(cli)?;
            let outcome = pybun_engine::python_list(interpreters, &runtimes, *downloads);
            let mut text = String::new();
            for python in &outcome.installed {
                let managed = if python.managed { "  (managed)" } else { "" };
                let t = if python.free_threaded { "t" } else { "" };
                let _ = writeln!(text, "{}-{}{t}  {}{managed}", python.implementation, python.version, python.path.display());
            }
            for download in &outcome.downloads {
                let _ = writeln!(text, "{}  <download available: `pybun python install {}`>", download.name, download.version);
            }
            Ok(rendered(
                json!({
                    "installed": outcome.installed.iter().map(|p| json!({
                        "implementation": p.implementation, "version": p.version, "path": p.path,
                        "free_threaded": p.free_threaded, "managed": p.managed,
                    })).collect::<Vec<_>>(),
                    "downloads": outcome.downloads.iter().map(|d| json!({
                        "name": d.name, "version": d.version, "free_threaded": d.free_threaded, "url": d.url,
                    })).collect::<Vec<_>>(),
                }),
                text.trim_end().to_string(),
                String::new(),
                Vec::new(),
            ))
        }
        PythonCommand::Find { request } => {
            let (interpreter, reason) = pybun_engine::python_find(&OsFs, interpreters, &settings.directory, request.as_deref())?;
            Ok(rendered(
                json!({ "path": interpreter.path, "version": interpreter.python_full_version, "reason": reason }),
                interpreter.path.display().to_string(),
                reason,
                Vec::new(),
            ))
        }
        PythonCommand::Install { request } => {
            let runtimes = installer(cli)?;
            let (installed, warnings) =
                pybun_engine::python_install(&OsFs, interpreters, &runtimes, &settings.directory, request)?;
            let what = if installed.already_installed {
                "is already installed"
            } else if installed.downloaded {
                "installed (downloaded)"
            } else {
                "installed (from the cache)"
            };
            Ok(rendered(
                json!({
                    "name": installed.runtime.name, "version": installed.runtime.version,
                    "python": installed.runtime.python, "already_installed": installed.already_installed,
                    "downloaded": installed.downloaded,
                }),
                String::new(),
                format!("Python {} {what}: `{}`", installed.runtime.version, installed.runtime.python.display()),
                warnings,
            ))
        }
        PythonCommand::Pin { request } => {
            let (path, interpreter, warnings) = pybun_engine::python_pin(&OsFs, interpreters, &settings.directory, request)?;
            Ok(rendered(
                json!({ "file": path, "request": request, "python": interpreter.path, "version": interpreter.python_full_version }),
                String::new(),
                format!("Pinned `{request}` in `{}` (Python {} at `{}`)", path.display(), interpreter.python_full_version, interpreter.path.display()),
                warnings,
            ))
        }
        PythonCommand::Uninstall { request } => {
            let runtimes = installer(cli)?;
            let removed = pybun_engine::python_uninstall(&runtimes, request)?;
            let list: Vec<String> = removed.iter().map(|p| format!("`{}`", p.display())).collect();
            Ok(rendered(json!({ "removed": removed }), String::new(), format!("Removed {}", list.join(", ")), Vec::new()))
        }
    }
}
