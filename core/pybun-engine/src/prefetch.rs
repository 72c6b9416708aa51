//! Wheels fetched while the interpreter is still being chosen.
//!
//! Which wheel of a package a sync installs depends on the interpreter's
//! tags and markers, known only once it is probed (a subprocess, 10-20 ms,
//! the first time). Some wheels are the same for every interpreter: a
//! package needed without any marker whose only wheel is `py3-none-any`
//! (or `py2.py3-none-any`). A new venv's sync fetches those into the cache
//! during the probe, so the connection is open and part of the unpacking
//! done when the rest is asked for; [`crate::sync::prepare`] then takes
//! their results from here instead of asking the cache again.

use std::str::FromStr;
use std::sync::{Condvar, Mutex, PoisonError};

use pybun_lockfile::LockedPackage;
use pybun_pep::WheelFilename;
use pybun_ports::{ArtifactCache, ArtifactError, ArtifactRequest, PreparedWheel};

use crate::sync::file_request;

/// The archives every interpreter would install from, of `needed` (the
/// packages needed without a marker): see the module docs.
pub(crate) fn interpreter_independent_wheels(needed: &[&LockedPackage]) -> Vec<ArtifactRequest> {
    needed
        .iter()
        .filter_map(|package| {
            let mut wheels = package.files.iter().filter(|f| f.filename.ends_with(".whl"));
            let (Some(wheel), None) = (wheels.next(), wheels.next()) else { return None };
            is_for_every_interpreter(&wheel.filename).then(|| file_request(package, &wheel.filename))
        })
        .collect()
}

/// Whether every Python 3 interpreter takes this wheel: python tag `py3`,
/// abi `none`, platform `any`.
fn is_for_every_interpreter(filename: &str) -> bool {
    WheelFilename::from_str(filename).is_ok_and(|wheel| {
        wheel.python_tags.iter().any(|tag| tag == "py3") && wheel.abi_tags == ["none"] && wheel.platform_tags == ["any"]
    })
}

/// Requests being prepared on another thread ([`Prefetch::run`]) and their
/// results as they come.
#[derive(Debug)]
pub(crate) struct Prefetch {
    requests: Vec<ArtifactRequest>,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    results: Vec<Option<Result<PreparedWheel, ArtifactError>>>,
    /// [`Prefetch::run`] returned (or never will run): a result still missing never comes.
    finished: bool,
}

impl Prefetch {
    pub(crate) fn new(requests: Vec<ArtifactRequest>) -> Self {
        let results = requests.iter().map(|_| None).collect();
        Self { requests, state: Mutex::new(State { results, finished: false }), changed: Condvar::new() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Prepare every request through `artifacts`, publishing each result as
    /// soon as it is known. Waiters are released even if this panics.
    pub(crate) fn run(&self, artifacts: &dyn ArtifactCache) {
        struct Finish<'a>(&'a Prefetch);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.0.state().finished = true;
                self.0.changed.notify_all();
            }
        }
        let _finish = Finish(self);
        let publish = |i: usize, result: &Result<PreparedWheel, ArtifactError>| {
            let mut state = self.state();
            if state.results[i].is_none() {
                state.results[i] = Some(result.clone());
                self.changed.notify_all();
            }
        };
        let results = artifacts.prepare_wheels_as_ready(&self.requests, &publish);
        for (i, result) in results.iter().enumerate() {
            publish(i, result);
        }
    }

    /// The prefetched request the same as `request` (same file, URL and hash).
    pub(crate) fn position(&self, request: &ArtifactRequest) -> Option<usize> {
        self.requests.iter().position(|r| r == request)
    }

    /// The result of prefetched request `i`, waiting for it if needed.
    pub(crate) fn wait(&self, i: usize) -> Result<PreparedWheel, ArtifactError> {
        let mut state = self.state();
        loop {
            if let Some(result) = &state.results[i] {
                return result.clone();
            }
            if state.finished {
                return Err(ArtifactError::Io {
                    path: self.requests[i].filename.clone().into(),
                    reason: "the download worker stopped".to_string(),
                });
            }
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pure_python_3_wheels_are_for_every_interpreter() {
        for (filename, expected) in [
            ("six-1.17.0-py2.py3-none-any.whl", true),
            ("idna-3.10-py3-none-any.whl", true),
            ("futures-3.0.5-py2-none-any.whl", false),
            ("tomli-2.2.1-cp311-none-any.whl", false),
            ("numpy-2.3.0-cp311-cp311-manylinux_2_28_x86_64.whl", false),
            ("black-25.1.0-py3-none-macosx_11_0_arm64.whl", false),
            ("not a wheel.whl", false),
        ] {
            assert_eq!(is_for_every_interpreter(filename), expected, "{filename}");
        }
    }
}
