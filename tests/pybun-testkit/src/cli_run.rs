//! Running the `pybun` binary in tests and checking what it printed.

use std::process::Command;
use std::time::{Duration, Instant};

/// What one command run gave.
#[derive(Debug)]
pub struct CliRun {
    /// The exit code; `-1` when killed by a signal.
    pub code: i32,
    /// The signal that killed the process, if one did (Unix).
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl CliRun {
    /// Run `command` to completion.
    ///
    /// # Panics
    /// When the program cannot be started.
    #[must_use]
    pub fn of(mut command: Command) -> Self {
        let started = Instant::now();
        let output = command.output().expect("run the command");
        Self::from_output(&output, started.elapsed())
    }

    /// What a finished process (e.g. from `Child::wait_with_output`) gave.
    #[must_use]
    pub fn from_output(output: &std::process::Output, elapsed: Duration) -> Self {
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&output.status);
        #[cfg(not(unix))]
        let signal = None;
        Self {
            code: output.status.code().unwrap_or(-1),
            signal,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed,
        }
    }

    /// The first JSON document in `text` (e.g. the report `pybun run` writes
    /// on stderr before the program's own output).
    ///
    /// # Panics
    /// When `text` holds no JSON document.
    #[must_use]
    pub fn json_in(text: &str) -> serde_json::Value {
        let start = text.find('{').unwrap_or_else(|| panic!("no JSON in {text}"));
        let mut documents = serde_json::Deserializer::from_str(&text[start..]).into_iter::<serde_json::Value>();
        documents.next().and_then(Result::ok).unwrap_or_else(|| panic!("no JSON document in {text}"))
    }

    /// stdout as exactly one JSON document (nothing before or after it but whitespace).
    ///
    /// # Panics
    /// When stdout is not exactly one JSON document.
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        let mut documents = serde_json::Deserializer::from_str(&self.stdout).into_iter::<serde_json::Value>();
        let first = documents
            .next()
            .unwrap_or_else(|| panic!("no JSON document on stdout\n{self}"))
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{self}"));
        assert!(documents.next().is_none(), "more than one JSON document on stdout\n{self}");
        first
    }

    /// Assert exit code 0.
    ///
    /// # Panics
    /// When the run failed.
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success\n{self}");
        self
    }

    /// Assert a non-zero exit.
    ///
    /// # Panics
    /// When the run succeeded.
    pub fn failure(&self) -> &Self {
        assert_ne!(self.code, 0, "expected failure\n{self}");
        self
    }
}

impl std::fmt::Display for CliRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {} signal {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.signal, self.stdout, self.stderr)
    }
}
