//! `pybun lsp`: the language server on stdin/stdout, with the CLI's adapters.

use std::process::ExitCode;
use std::sync::Arc;

use pybun_engine::{Code, Diagnostic, Failure};
use pybun_fs_os::OsFs;

use crate::cli::Cli;
use crate::commands::{index_opener, index_settings};

/// Serve until the client sends `exit`. stdout belongs to the protocol:
/// nothing else is printed there (logs go to stderr).
pub(crate) fn lsp(cli: &'static Cli) -> Result<ExitCode, Failure> {
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
