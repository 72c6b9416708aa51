//! The test runner port: Python worker processes that run test ids.

use std::path::PathBuf;

/// Which engine runs a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestEngine {
    /// PyBun's own harness (no pytest needed) for the common subset.
    Native,
    /// pytest, driven in-process with explicit node ids.
    Pytest,
}

/// Tests a worker runs together (one module's, so its fixtures are set up once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBatch {
    pub ids: Vec<String>,
    pub engine: TestEngine,
}

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOutcomeKind {
    Passed,
    Failed,
    Skipped,
    Xfailed,
    Xpassed,
    Error,
}

impl TestOutcomeKind {
    /// pytest's word: `passed`, `failed`, `skipped`, `xfailed`, `xpassed`, `error`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Xfailed => "xfailed",
            Self::Xpassed => "xpassed",
            Self::Error => "error",
        }
    }

    /// Whether this outcome fails the run.
    #[must_use]
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Error)
    }
}

/// One test's result.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub id: String,
    pub outcome: TestOutcomeKind,
    /// Seconds.
    pub duration: f64,
    pub stdout: String,
    pub stderr: String,
    /// The failure text (traceback, assertion values).
    pub longrepr: String,
    /// A one-line reason (skip reason, short error).
    pub message: String,
}

/// Where and how to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    pub python: PathBuf,
    pub rootdir: PathBuf,
    pub workers: usize,
    pub env: Vec<(String, String)>,
}

/// Runs tests in worker processes.
pub trait TestRunner: Send + Sync {
    /// Run the batches (in the given order, as workers free up), calling
    /// `on_result` for every test as it finishes. `on_result` returning
    /// `false` stops the run (fail fast): batches not started are dropped.
    ///
    /// # Errors
    /// When the workers cannot be started.
    fn run(
        &self,
        config: &RunnerConfig,
        batches: Vec<TestBatch>,
        on_result: &(dyn Fn(TestResult) -> bool + Sync),
    ) -> std::io::Result<()>;
}
