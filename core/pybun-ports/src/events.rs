//! Progress events: use cases report through the [`Reporter`] port and never print.

use pybun_diagnostics::Diagnostic;
use pybun_pep::{PackageName, Version};

/// Something a use case wants a frontend to know while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Resolution started for this many root requirements.
    ResolveStarted { requirements: usize },
    /// An index page listing a project's files was read.
    ProjectFetched { name: PackageName, files: usize },
    /// A distribution's metadata was read.
    MetadataFetched { name: PackageName, version: Version },
    /// The resolver picked a version (shown with `-v`).
    VersionChosen { name: PackageName, version: Version },
    /// Resolution finished with this many packages.
    ResolveFinished { packages: usize },
    /// A virtual environment was created.
    VenvCreated { path: std::path::PathBuf, python: String },
    /// Sync knows its work: this many distributions to install and to remove.
    SyncPlanned { install: usize, remove: usize },
    /// A distribution file was downloaded (and verified) into the cache.
    Downloaded { name: String, version: String, filename: String },
    /// A distribution was installed into the environment.
    Installed { name: String, version: String },
    /// A distribution was removed from the environment.
    Removed { name: String, version: String },
    /// A non-fatal problem.
    Warning(Diagnostic),
}

/// Receives events. Implementations must be cheap: events come from hot loops.
pub trait Reporter: Send + Sync {
    fn report(&self, event: Event);
}

/// Drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullReporter;

impl Reporter for NullReporter {
    fn report(&self, _event: Event) {}
}
