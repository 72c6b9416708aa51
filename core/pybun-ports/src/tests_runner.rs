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

/// One test as pytest collected it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedTest {
    /// pytest's node id.
    pub id: String,
    /// The names of its marks (`item.iter_markers()`).
    pub marks: Vec<String>,
}

/// What pytest collected from some paths (`pytest --collect-only`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// In pytest's order.
    pub tests: Vec<CollectedTest>,
    /// Collection errors: `(node id of the collector, e.g. the file's path; the error text)`.
    pub errors: Vec<(String, String)>,
}

/// Runs tests in worker processes.
pub trait TestRunner: Send + Sync {
    /// Collect `paths` (files relative to the rootdir; none: pytest's own
    /// default arguments) with pytest in a worker, for node ids static
    /// discovery cannot know.
    ///
    /// # Errors
    /// When the worker cannot be started or pytest is missing (`Unsupported` by default).
    fn collect(&self, config: &RunnerConfig, paths: Vec<String>) -> std::io::Result<Collected> {
        let _ = (config, paths);
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "this runner cannot collect with pytest"))
    }

    /// Which of the test files `paths` (relative to the rootdir) a conftest's
    /// `pytest_ignore_collect` ignores (asked of the files and the directories
    /// above them, as pytest does), without pytest.
    ///
    /// # Errors
    /// The worker could not be started, or a hook needs pytest to answer
    /// (`Unsupported` by default).
    fn ignored(&self, config: &RunnerConfig, paths: Vec<String>) -> std::io::Result<Vec<String>> {
        let _ = (config, paths);
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "this runner cannot ask pytest_ignore_collect hooks"))
    }


    /// A hint: a [`TestRunner::run`] with `config` follows soon, so the
    /// runner may start its workers now, in the background (interpreter
    /// start-up then overlaps discovery). Nothing by default.
    fn prestart(&self, config: &RunnerConfig) {
        let _ = config;
    }

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
