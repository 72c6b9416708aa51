//! `pybun lsp`: the language server on stdin/stdout, with the CLI's adapters.

use std::process::ExitCode;
use std::sync::Arc;

use pybun_engine::{Code, Diagnostic, Failure};
use pybun_fs_os::OsFs;

use crate::cli::Cli;
use crate::commands::{index_opener, index_settings};

/// mimalloc keeps freed pages until the heap that freed them allocates
/// again; a server that idles between bursts of checks would hold its peak
/// for hours. With a purge delay of 0 freed memory goes back to the OS at
/// once (idle RSS ~20 MiB instead of ~90 MiB on a 60-dependency project).
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

/// Serve until the client sends `exit`. stdout belongs to the protocol:
/// nothing else is printed there (logs go to stderr).
pub(crate) fn lsp(cli: &'static Cli) -> Result<ExitCode, Failure> {
    // mimalloc reads its options at start-up: re-execute once with the option set.
    #[cfg(unix)]
    if std::env::var_os(PURGE_DELAY).is_none()
        && let Ok(exe) = std::env::current_exe()
    {
        use std::os::unix::process::CommandExt as _;
        let error = std::process::Command::new(exe).args(std::env::args_os().skip(1)).env(PURGE_DELAY, "0").exec();
        tracing::debug!(%error, "could not re-execute with {PURGE_DELAY}=0; serving with the default allocator options");
    }
    // Every check asks the index for the same project pages again: keep them compact between checks.
    pybun_index_http::compact_project_pages();
    let config = pybun_lsp::LspConfig {
        fs: Arc::new(OsFs),
        open_index: Box::new(index_opener(cli)),
        index: index_settings(cli),
        offline: cli.global.offline,
        debounce: pybun_lsp::DEFAULT_DEBOUNCE,
    };
    pybun_lsp::run_stdio(config).map_err(|error| {
        Failure::new(Diagnostic::error(Code::Internal, format!("could not start the language server: {error}")))
    })?;
    Ok(ExitCode::SUCCESS)
}
