//! `pybun test --watch`'s file watcher: `notify` (inotify on Linux) on the
//! project's directories, debounced.
//!
//! Directories are watched one by one (not recursively), skipping hidden
//! directories, `__pycache__`, `node_modules` and virtual environments, so a
//! project's `.venv` does not use up the inotify watch limit; directories
//! created later are added as they appear. Only Python files and pytest's
//! configuration files count as changes.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher as _};

/// Configuration files whose change reruns everything.
pub const CONFIG_NAMES: &[&str] = &["pyproject.toml", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml", "tox.ini", "setup.cfg"];

/// A batch of changes: the files, and when the first was seen.
#[derive(Debug, Clone)]
pub struct Changes {
    pub paths: Vec<PathBuf>,
    pub first_seen: Instant,
}

/// Watches a project tree for changes to Python and configuration files.
pub struct FileWatcher {
    watcher: notify::RecommendedWatcher,
    events: Receiver<notify::Result<notify::Event>>,
    watched: BTreeSet<PathBuf>,
}

impl std::fmt::Debug for FileWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatcher").field("watched", &self.watched.len()).finish()
    }
}

fn skipped_dir(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    name.starts_with('.') || name == "__pycache__" || name == "node_modules" || path.join("pyvenv.cfg").exists()
}

/// A file whose change matters: a Python file or a configuration file, not inside a skipped directory.
fn relevant(root: &Path, path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    if !(name.ends_with(".py") || CONFIG_NAMES.contains(&name.as_ref())) {
        return false;
    }
    let Ok(relative) = path.strip_prefix(root) else { return false };
    relative.parent().is_none_or(|dir| {
        dir.components().all(|c| {
            let c = c.as_os_str().to_string_lossy();
            !c.starts_with('.') && c != "__pycache__" && c != "node_modules"
        })
    })
}

impl FileWatcher {
    /// Starts watching `root` and its directories.
    ///
    /// # Errors
    /// When the platform's watcher cannot be created.
    pub fn new(root: &Path) -> io::Result<Self> {
        let (sender, events) = channel();
        let watcher = notify::recommended_watcher(move |event| {
            let _ = sender.send(event);
        })
        .map_err(io::Error::other)?;
        let mut this = FileWatcher { watcher, events, watched: BTreeSet::new() };
        this.add_tree(root);
        Ok(this)
    }

    fn add_tree(&mut self, dir: &Path) {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if self.watched.contains(&dir) || self.watcher.watch(&dir, RecursiveMode::NonRecursive).is_err() {
                continue;
            }
            self.watched.insert(dir.clone());
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) && !skipped_dir(&path) {
                    stack.push(path);
                }
            }
        }
    }

    /// Blocks until a relevant file changes, then collects changes until
    /// none arrives for `quiet` (an editor's save is several events).
    ///
    /// # Errors
    /// When the watcher stopped.
    pub fn next_changes(&mut self, root: &Path, quiet: Duration) -> io::Result<Changes> {
        let mut paths: BTreeSet<PathBuf> = BTreeSet::new();
        let mut first_seen = None;
        loop {
            let event = if first_seen.is_none() {
                self.events.recv().map_err(|_| io::Error::other("the file watcher stopped"))?
            } else {
                match self.events.recv_timeout(quiet) {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return Err(io::Error::other("the file watcher stopped")),
                }
            };
            let Ok(event) = event else { continue };
            if matches!(event.kind, EventKind::Access(_)) {
                continue;
            }
            for path in event.paths {
                if matches!(event.kind, EventKind::Create(_)) && path.is_dir() && !skipped_dir(&path) {
                    self.add_tree(&path);
                    continue;
                }
                if relevant(root, &path) {
                    first_seen.get_or_insert_with(Instant::now);
                    paths.insert(path);
                }
            }
        }
        Ok(Changes { paths: paths.into_iter().collect(), first_seen: first_seen.unwrap_or_else(Instant::now) })
    }
}
