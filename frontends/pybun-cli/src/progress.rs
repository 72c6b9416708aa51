//! The Reporter the CLI hands to use cases: a spinner on a terminal in text
//! mode, `tracing` lines with `-v`, nothing in JSON mode.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use pybun_ports::{Event, Reporter};

pub(crate) struct CliReporter {
    bar: Option<ProgressBar>,
    fetched: AtomicUsize,
    pub(crate) warnings: std::sync::Mutex<Vec<pybun_engine::Diagnostic>>,
}

impl CliReporter {
    pub(crate) fn new(show_progress: bool) -> Self {
        let enabled = show_progress && std::io::stderr().is_terminal() && std::env::var_os("PYBUN_NO_PROGRESS").is_none();
        let bar = enabled.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            bar.enable_steady_tick(Duration::from_millis(80));
            bar
        });
        Self { bar, fetched: AtomicUsize::new(0), warnings: std::sync::Mutex::default() }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    pub(crate) fn take_warnings(&self) -> Vec<pybun_engine::Diagnostic> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl Reporter for CliReporter {
    fn report(&self, event: Event) {
        match event {
            Event::ResolveStarted { requirements } => {
                tracing::debug!(requirements, "resolution started");
                if let Some(bar) = &self.bar {
                    bar.set_message("Resolving dependencies…");
                }
            }
            Event::ProjectFetched { name, files } => {
                tracing::debug!(%name, files, "index page read");
                let count = self.fetched.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("Resolving dependencies… {count} packages read ({name})"));
                }
            }
            Event::MetadataFetched { name, version } => tracing::debug!(%name, %version, "metadata read"),
            Event::VersionChosen { name, version } => tracing::debug!(%name, %version, "version chosen"),
            Event::ResolveFinished { packages } => tracing::debug!(packages, "resolution finished"),
            Event::VenvCreated { path, python } => {
                tracing::debug!(path = %path.display(), %python, "environment created");
            }
            Event::SyncPlanned { install, remove } => {
                tracing::debug!(install, remove, "sync planned");
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("Preparing {install} packages…"));
                }
            }
            Event::Downloaded { name, version, filename } => {
                tracing::debug!(%name, %version, %filename, "downloaded");
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("Downloaded {name}=={version}"));
                }
            }
            Event::Installed { name, version } => {
                tracing::debug!(%name, %version, "installed");
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("Installed {name}=={version}"));
                }
            }
            Event::Removed { name, version } => tracing::debug!(%name, %version, "removed"),
            Event::Warning(diagnostic) => {
                self.warnings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(diagnostic);
            }
        }
    }
}
