//! The PyBun language server (`pybun lsp`): diagnostics, hover, completion
//! and code actions for `pyproject.toml` files and PEP 723 script blocks.
//!
//! A frontend beside the CLI: it calls the same use cases (`pybun_engine`'s
//! check, editor and lock use cases) and names no adapter. The CLI's
//! composition root injects the ports ([`LspConfig`]): the filesystem and an
//! index opener sharing the on-disk cache.
//!
//! Built on `tower-lsp-server` (the maintained fork of `tower-lsp`) over
//! tokio. Diagnostics come in two layers: the static one (TOML syntax,
//! PEP 621, PEP 508; no IO) is published on every change at once; the
//! background one (index, resolver, lock) runs on a worker thread after a
//! short debounce, and its result is dropped when the document changed
//! meanwhile.

pub mod convert;
pub mod layers;
pub mod position;
mod server;

use std::sync::Arc;
use std::time::Duration;

use pybun_engine::{Failure, IndexSettings};
use pybun_ports::{FileSystem, PackageIndex};
use tower_lsp_server::{LspService, Server};

pub use server::{Backend, LOCK_COMMAND};
/// The LSP types (`ls-types`), for clients and tests.
pub use tower_lsp_server::ls_types;

/// Opens the package index for resolved settings (the CLI's composition root provides it).
pub type OpenIndex = dyn Fn(&IndexSettings) -> Result<Arc<dyn PackageIndex>, Failure> + Send + Sync;

/// What the server needs from its frontend: the ports and the options.
pub struct LspConfig {
    pub fs: Arc<dyn FileSystem>,
    pub open_index: Box<OpenIndex>,
    /// `--index-url` / `--extra-index-url` / `--find-links` (they win over `[tool.pybun]`).
    pub index: IndexSettings,
    /// `--offline`: the index-based checks are skipped (with one note).
    pub offline: bool,
    /// How long a document must stay unchanged before the background checks run.
    pub debounce: Duration,
}

impl std::fmt::Debug for LspConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LspConfig")
            .field("index", &self.index)
            .field("offline", &self.offline)
            .field("debounce", &self.debounce)
            .finish_non_exhaustive()
    }
}

/// The default debounce of the background checks.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(15);

/// Serve LSP on `input`/`output` until the client sends `exit`.
pub async fn serve<I, O>(config: LspConfig, input: I, output: O)
where
    I: tokio::io::AsyncRead + Unpin,
    O: tokio::io::AsyncWrite,
{
    let config = Arc::new(config);
    let (service, socket) = LspService::new(move |client| Backend::new(client, config));
    Server::new(input, output, socket).serve(service).await;
}

/// Serve LSP over stdin/stdout (`pybun lsp`) on a runtime of its own.
///
/// # Errors
/// When the runtime cannot be started.
pub fn run_stdio(config: LspConfig) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build()?;
    runtime.block_on(serve(config, tokio::io::stdin(), tokio::io::stdout()));
    // Background checks still running are abandoned: the client is gone.
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}
