//! Port traits: the only way core crates reach the outside world.
//!
//! Adapters implement them (`adapters/*`); the `testing` feature provides
//! in-memory fakes beside each port so a trait and its fake change together.

mod artifacts;
mod build;
mod environment;
mod events;
mod fs;
mod index;
mod process;
mod python;
mod runtimes;
mod tests_runner;
#[cfg(feature = "testing")]
pub mod testing;

/// Re-exported so port users name the same diagnostic types.
pub use pybun_diagnostics as diagnostics;
pub use events::{Event, NullReporter, Reporter};
pub use fs::{FileStamp, FileSystem};
pub use index::{CandidatePick, CandidatePicker, DistFile, IndexError, MetadataOrigin, PackageIndex, ProjectFiles, RawMetadata};
pub use process::{ProcessOutput, ProcessRunner, ProcessSpec};
pub use build::{BuildError, BuildFrontend, Hook, HookOutput, HookRequest};
pub use artifacts::{ArtifactCache, ArtifactError, ArtifactRequest, BuildCache, PreparedWheel};
pub use environment::{EntryPointsFile, EnvironmentError, Environments, InstalledDist, LinkMode, Venv, VenvOptions, WheelToInstall};
pub use python::{InterpreterError, Interpreters};
pub use tests_runner::{Collected, CollectedTest, RunnerConfig, TestBatch, TestEngine, TestOutcomeKind, TestResult, TestRunner};
pub use runtimes::{InstalledRuntime, ManagedRuntime, PythonRuntimes, RuntimeDownload, RuntimeError};
pub use pybun_env as env;
