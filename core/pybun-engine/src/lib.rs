//! PyBun's use cases.
//!
//! Each use case takes a plain-data request and the ports it needs, reports
//! progress through the [`Reporter`](pybun_ports::Reporter) port and returns
//! an outcome or a [`Failure`]. None of them prints: the frontends (CLI, LSP,
//! later REST and MCP) render outcomes, events and failures.

mod build;
pub mod check;
mod edit;
pub mod editor;
mod failure;
mod interpreter;
mod fingerprint;
mod lock;
mod prefetch;
mod project;
mod python;
mod run;
mod sdist_metadata;
mod sync;
pub mod test_select;
mod test_ignore;
mod test_plugins;
mod test_discovery;
mod test_run;
mod test_snapshots;
mod tree;
mod venv;
mod export;

pub use edit::{EditOperation, EditOutcome, EditRequest, InitOutcome, InitRequest, edit_dependencies, init};
pub use pybun_project::DependencyTarget;
pub use export::{ExportFormat, ExportOutcome, ExportRequest, export};
pub use failure::Failure;
pub use lock::{
    IndexOpener, IndexSettings, LockFormat, LockOutcome, LockRequest, LockSettings, LockStatus, PrintOutcome, lock,
    print_lock,
};
pub use project::find_project_root;
pub use run::{
    EnvOutcome, ExecStep, Preparation, RunPlan, RunRequest, RunTarget, ToolRequest, cached_script_plan, cached_tool_plan,
    prepare_run, prepare_tool, show_environment,
};
pub use pybun_env::{EnvironmentChoice, EnvironmentInputs, EnvironmentRule};
pub use python::{ListedPython, PythonListOutcome, python_find, python_install, python_list, python_pin, python_uninstall};
pub use test_run::{CompatReason, DURATIONS_FILE, EngineChoice, LAST_FAILED_FILE, PlannedTest, PytestVariables, TestOutcome, TestRequest, run_tests};
pub use pybun_ports::{TestEngine, TestOutcomeKind, TestResult};
pub use sdist_metadata::{SdistMetadataBuilder, build_sdist_metadata, with_sdist_builds};
pub use sync::{ChangeKind, LockMode, PackageChange, SyncOutcome, SyncPorts, SyncRequest, sync};
pub use venv::{VenvOutcome, VenvRequest, create_venv};
pub use tree::{TreeNode, TreeOutcome, TreeRequest, tree};

/// Re-exported plain-data types that outcomes carry.
pub use pybun_diagnostics::{Code, Diagnostic, Fix, FixCommand, Location, Severity, Span, TextEdit};
pub use pybun_lockfile::{ExportSelection, Lock, LockedPackage, Source};
pub use pybun_ports::LinkMode;
pub use pybun_pep::{PackageName, TargetPlatform};
pub use pybun_resolver::{ConflictNode, ConflictReport, PrereleaseMode, ResolutionMode};
