//! `BuildFrontend` port over subprocesses and the filesystem.
//!
//! * [`OsBuildFrontend::call_hook`] runs one PEP 517/660 hook of a build
//!   backend in a subprocess of the build environment's interpreter, through
//!   a small embedded Python shim (`hook_shim.py`, Python 3.7+). The shim
//!   writes the hook's result as JSON to a result file (never stdout: backends
//!   print freely); the backend's combined stdout/stderr is captured into a
//!   file and its tail is reported when the hook fails.
//! * [`OsBuildFrontend::unpack_sdist`] extracts a `.tar.gz` or `.zip` sdist
//!   safely (no absolute paths, `..`, escaping links or device files) into a
//!   temporary directory beside the destination, then renames it into place.

use std::path::{Path, PathBuf};

use pybun_ports::{BuildError, BuildFrontend, HookOutput, HookRequest};

mod hook;
mod sdist;

/// How many trailing lines of the backend's output a [`BuildError::HookFailed`] carries.
pub const DEFAULT_OUTPUT_TAIL_LINES: usize = 60;

/// Runs build backends in subprocesses and unpacks sdists on the local filesystem.
#[derive(Debug, Clone)]
pub struct OsBuildFrontend {
    tail_lines: usize,
}

impl OsBuildFrontend {
    /// A frontend reporting the last [`DEFAULT_OUTPUT_TAIL_LINES`] lines of a failed hook's output.
    #[must_use]
    pub fn new() -> Self {
        Self { tail_lines: DEFAULT_OUTPUT_TAIL_LINES }
    }

    /// Report the last `lines` lines of a failed hook's output instead.
    #[must_use]
    pub fn with_output_tail(mut self, lines: usize) -> Self {
        self.tail_lines = lines;
        self
    }
}

impl Default for OsBuildFrontend {
    fn default() -> Self {
        Self::new()
    }
}

impl BuildFrontend for OsBuildFrontend {
    fn unpack_sdist(&self, archive: &Path, dest: &Path) -> Result<PathBuf, BuildError> {
        sdist::unpack(archive, dest)
    }

    fn call_hook(&self, request: &HookRequest) -> Result<HookOutput, BuildError> {
        hook::call(request, self.tail_lines)
    }
}

pub(crate) fn io_error(action: &str, path: &Path, error: &std::io::Error) -> BuildError {
    BuildError::Io { action: action.to_owned(), path: path.to_path_buf(), reason: error.to_string() }
}
