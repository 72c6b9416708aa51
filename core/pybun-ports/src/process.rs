//! The process port (interpreters, build backends; used from the sync issue on).

use std::io;
use std::path::PathBuf;

/// A process to run to completion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub current_dir: Option<PathBuf>,
    pub stdin: Option<Vec<u8>>,
}

/// What a finished process left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessOutput {
    /// `None` when killed by a signal.
    pub exit_code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs processes.
pub trait ProcessRunner: Send + Sync {
    /// Run and wait.
    ///
    /// # Errors
    /// When the program cannot be started.
    fn run(&self, spec: &ProcessSpec) -> io::Result<ProcessOutput>;
}
