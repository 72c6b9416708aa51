//! The execution side of `pybun test`: a pool of long-lived Python worker
//! processes fed batches of pytest node ids.
//!
//! Each worker runs `worker.py` (embedded in the binary, written to a private
//! temp directory) and speaks JSON lines over its stdin/stdout. The worker keeps
//! a private duplicate of its original stdout for the protocol and points fds
//! 1 and 2 at per-worker capture files, so nothing a test prints (even from C
//! or a subprocess) can corrupt the protocol.
//!
//! ```text
//! <- {"ready": true, "python": "3.11.7", "pytest": "8.3.1" | null, "pid": 123}
//! -> {"run": ["tests/test_a.py::test_x", ...], "engine": "native" | "pytest"}
//! <- {"start": "tests/test_a.py::test_x"}
//! <- {"id": ..., "outcome": "passed|failed|skipped|xfailed|xpassed|error",
//!     "duration": 0.001, "stdout": "", "stderr": "", "longrepr": "", "message": ""}
//! <- {"done": true}
//! -> {"shutdown": true}
//! ```
//!
//! Two engines: `native` (a small harness for the common subset of pytest:
//! functions, classes, unittest, conftest fixtures, parametrize, marks,
//! tmp_path/monkeypatch/capsys/capfd, readable assertion failures) and
//! `pytest` (pytest driven in-process with explicit node ids). When the native
//! engine meets something it cannot run the same way pytest would, it reports
//! outcome `error` with a message starting with `native-engine: `
//! ([`TestResult::needs_fallback`]); the caller reruns those ids with
//! [`Engine::Pytest`].

use std::collections::{HashSet, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

pub use pybun_ports::{Collected, CollectedTest};

pub mod watch;

/// The worker script, written next to nothing else in a private temp dir.
pub const WORKER_PY: &str = include_str!("worker.py");

/// The script the interpreter runs: it loads `WORKER_PY` (written next to it
/// as `pybun_test_worker_main.py`) from bytecode cached in
/// `$PYBUN_TEST_BYTECODE_DIR` when set, compiling it once per version.
pub const WORKER_BOOT_PY: &str = include_str!("boot.py");

/// Message prefix of results the native engine could not run (rerun them with pytest).
pub const NATIVE_FALLBACK_PREFIX: &str = "native-engine: ";

/// How a batch is executed inside the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// PyBun's own harness (no pytest needed).
    Native,
    /// `pytest.main([...ids])` in-process.
    Pytest,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Native => "native",
            Engine::Pytest => "pytest",
        }
    }
}

/// Node ids run together, in order, on one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub ids: Vec<String>,
    pub engine: Engine,
}

/// A test's outcome, named as pytest's short summary names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Outcome {
    #[serde(rename = "passed")]
    Passed,
    #[serde(rename = "failed")]
    Failed,
    #[serde(rename = "skipped")]
    Skipped,
    #[serde(rename = "xfailed")]
    XFailed,
    #[serde(rename = "xpassed")]
    XPassed,
    #[serde(rename = "error")]
    Error,
    /// Not a test pytest would collect (a conftest's `pytest_ignore_collect`
    /// ignores its file): the port runner drops it from the results.
    #[serde(rename = "uncollected")]
    Uncollected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::XFailed => "xfailed",
            Outcome::XPassed => "xpassed",
            Outcome::Error => "error",
            Outcome::Uncollected => "uncollected",
        }
    }
}

/// One test's result, as the worker reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TestResult {
    /// The pytest node id.
    pub id: String,
    pub outcome: Outcome,
    /// Seconds spent in setup + call + teardown.
    #[serde(default)]
    pub duration: f64,
    /// Output captured while the test ran (fd level).
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    /// The failure text (traceback and `E   ...` lines), empty when passed.
    #[serde(default)]
    pub longrepr: String,
    /// One line: the assertion (`assert 1 == 2`), the skip/xfail reason, or the error.
    #[serde(default)]
    pub message: String,
}

impl TestResult {
    /// The native engine could not run this test as pytest would: rerun it with [`Engine::Pytest`].
    pub fn needs_fallback(&self) -> bool {
        self.outcome == Outcome::Error && self.message.starts_with(NATIVE_FALLBACK_PREFIX)
    }
}

/// How to start the workers.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The environment's interpreter.
    pub python: PathBuf,
    /// pytest's rootdir: the workers' working directory; node ids are relative to it.
    pub rootdir: PathBuf,
    /// Number of worker processes (0 is taken as 1).
    pub workers: usize,
    /// Extra environment variables for the workers.
    pub env: Vec<(String, String)>,
}

/// What the first worker reported at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    pub python_version: String,
    /// `None` when pytest is not importable (the native engine then uses its own `pytest` shim).
    pub pytest_version: Option<String>,
}

struct Launcher {
    config: WorkerConfig,
    script: PathBuf,
    dir: PathBuf,
    /// Run each batch sequence in a forked session child ([`WorkerPool::start_warm`]).
    sessions: bool,
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    capture_prefix: PathBuf,
    /// A forked session child is serving this worker's requests.
    in_session: bool,
}

enum Message {
    Ready(WorkerInfo),
    Start(String),
    Result(TestResult),
    Done,
    SessionBegun,
    SessionEnded,
    /// The answer to `{"collect": [paths]}` or `{"ignored": [paths]}`.
    Collected(serde_json::Value),
    Other,
}

impl Launcher {
    fn spawn(&self, index: usize) -> io::Result<(Worker, WorkerInfo)> {
        let capture_prefix = self.dir.join(format!("w{index}"));
        let mut cmd = Command::new(&self.config.python);
        cmd.arg(&self.script)
            .arg("--rootdir")
            .arg(&self.config.rootdir)
            .arg("--capture-prefix")
            .arg(&capture_prefix)
            .current_dir(&self.config.rootdir)
            .env("PYBUN_TEST_WORKER", format!("gw{index}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.config.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot start test worker {}: {e}",
                    self.config.python.display()
                ),
            )
        })?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(
            child
                .stdout
                .take()
                .ok_or_else(|| io::Error::other("no stdout"))?,
        );
        // Before the worker redirects fd 2, startup errors go to this pipe; afterwards it is closed.
        let mut stderr = child.stderr.take();
        let mut worker = Worker {
            child,
            stdin,
            stdout,
            capture_prefix,
            in_session: false,
        };
        match worker.read_message() {
            Ok(Some(Message::Ready(info))) => Ok((worker, info)),
            other => {
                let _ = worker.child.kill();
                let status = worker.child.wait().ok();
                let mut err = String::new();
                if let Some(s) = stderr.as_mut() {
                    let _ = s.read_to_string(&mut err);
                }
                let what = match other {
                    Err(e) => e.to_string(),
                    Ok(_) => "no ready message".to_string(),
                };
                Err(io::Error::other(format!(
                    "test worker failed to start ({what}; {}): {}",
                    status.map(describe_status).unwrap_or_default(),
                    err.trim()
                )))
            }
        }
    }
}

impl Worker {
    fn send(&mut self, value: &serde_json::Value) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "worker stdin closed"))?;
        let mut line = serde_json::to_string(value).map_err(io::Error::other)?;
        line.push('\n');
        stdin.write_all(line.as_bytes())?;
        stdin.flush()
    }

    /// `Ok(None)` at EOF (the worker exited).
    fn read_message(&mut self) -> io::Result<Option<Message>> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.stdout.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            if !line.trim().is_empty() {
                break;
            }
        }
        // Results, the bulk of the traffic, parse straight into their type.
        if line.starts_with("{\"id\"") {
            let result: TestResult = serde_json::from_str(&line).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("worker protocol error: {e}: {line}"),
                )
            })?;
            return Ok(Some(Message::Result(result)));
        }
        let value: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("worker protocol error: {e}: {line}"),
            )
        })?;
        if value.get("ready").is_some() {
            return Ok(Some(Message::Ready(WorkerInfo {
                python_version: value["python"].as_str().unwrap_or_default().to_string(),
                pytest_version: value["pytest"].as_str().map(str::to_string),
            })));
        }
        if let Some(id) = value.get("start").and_then(|v| v.as_str()) {
            return Ok(Some(Message::Start(id.to_string())));
        }
        if value.get("done").is_some() {
            return Ok(Some(Message::Done));
        }
        if value.get("collected").is_some() || value.get("ignored").is_some() {
            return Ok(Some(Message::Collected(value)));
        }
        match value.get("session").and_then(|v| v.as_str()) {
            Some("begun") => return Ok(Some(Message::SessionBegun)),
            Some("ended") => return Ok(Some(Message::SessionEnded)),
            _ => {}
        }
        if value.get("id").is_some() {
            let result: TestResult = serde_json::from_value(value).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("worker protocol error: {e}"),
                )
            })?;
            return Ok(Some(Message::Result(result)));
        }
        Ok(Some(Message::Other))
    }

    /// Asks the worker to fork a session child and waits until it serves.
    fn begin_session(&mut self) -> io::Result<()> {
        self.send(&serde_json::json!({"session": "begin"}))?;
        self.wait_for(|message| matches!(message, Message::SessionBegun))?;
        self.in_session = true;
        Ok(())
    }

    /// Ends the session: the child tears its fixtures down and exits; the worker stays.
    fn end_session(&mut self) -> io::Result<()> {
        if !self.in_session {
            return Ok(());
        }
        self.send(&serde_json::json!({"session": "end"}))?;
        self.wait_for(|message| matches!(message, Message::SessionEnded))?;
        self.in_session = false;
        Ok(())
    }

    /// Reads messages until one that `wanted` accepts (others are skipped).
    fn wait_for(&mut self, wanted: impl Fn(&Message) -> bool) -> io::Result<()> {
        loop {
            match self.read_message()? {
                Some(message) if wanted(&message) => return Ok(()),
                Some(_) => {}
                None => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "worker exited")),
            }
        }
    }

    fn kill(&mut self) -> Option<ExitStatus> {
        self.stdin = None;
        // The worker may still be exiting on its own (EOF on stdout): give it a moment.
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => break,
            }
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }

    fn captured(&self) -> (String, String) {
        let read = |ext: &str| {
            let mut p = self.capture_prefix.clone().into_os_string();
            p.push(ext);
            std::fs::read(PathBuf::from(p))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        (read(".out"), read(".err"))
    }

    fn shutdown(mut self, timeout: Duration) {
        let _ = self.send(&serde_json::json!({"shutdown": true}));
        self.stdin = None;
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                _ => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// "exit code 3" or "killed by signal 11 (SIGSEGV)".
fn describe_status(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            let name = match sig {
                4 => " (SIGILL)",
                6 => " (SIGABRT)",
                7 => " (SIGBUS)",
                8 => " (SIGFPE)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("killed by signal {sig}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => "unknown exit status".to_string(),
    }
}

/// A pool of long-lived Python test workers.
pub struct WorkerPool {
    launcher: Launcher,
    workers: Vec<Option<Worker>>,
    info: WorkerInfo,
    // Holds worker.py and the capture files; removed on drop.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("config", &self.launcher.config)
            .field("workers", &self.workers.len())
            .field("info", &self.info)
            .finish()
    }
}

impl WorkerPool {
    /// Starts `config.workers` processes (in parallel) and waits until each is ready.
    pub fn start(config: WorkerConfig) -> io::Result<WorkerPool> {
        Self::start_with(config, false)
    }

    /// Like [`WorkerPool::start`], for a pool kept across runs (`--watch`):
    /// each worker becomes a zygote that never imports project code; a run's
    /// batches go to a child it forks (the project's modules imported afresh,
    /// so an edit is what runs) until [`WorkerPool::end_sessions`]. Unix only:
    /// elsewhere this is a plain pool.
    pub fn start_warm(config: WorkerConfig) -> io::Result<WorkerPool> {
        Self::start_with(config, cfg!(unix))
    }

    /// Ends every worker's session (fixtures torn down, children exited); the
    /// workers stay for the next run. A worker that fails to end is dropped and
    /// restarted on demand.
    pub fn end_sessions(&mut self) {
        std::thread::scope(|s| {
            for slot in &mut self.workers {
                s.spawn(move || {
                    let failed = slot.as_mut().is_some_and(|w| w.end_session().is_err());
                    if failed && let Some(mut w) = slot.take() {
                        w.kill();
                    }
                });
            }
        });
    }

    fn start_with(config: WorkerConfig, sessions: bool) -> io::Result<WorkerPool> {
        let dir = tempfile::Builder::new().prefix("pybun-test-").tempdir()?;
        let script = dir.path().join("pybun_test_worker.py");
        std::fs::write(&script, WORKER_BOOT_PY)?;
        std::fs::write(dir.path().join("pybun_test_worker_main.py"), WORKER_PY)?;
        let rootdir = std::path::absolute(&config.rootdir)?;
        let n = config.workers.max(1);
        let launcher = Launcher {
            config: WorkerConfig { rootdir, ..config },
            script,
            dir: dir.path().to_path_buf(),
            sessions,
        };
        let started: Vec<io::Result<(Worker, WorkerInfo)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    s.spawn({
                        let launcher = &launcher;
                        move || launcher.spawn(i)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("worker start panicked")))
                })
                .collect()
        });
        let mut workers = Vec::with_capacity(n);
        let mut info = None;
        let mut error = None;
        for r in started {
            match r {
                Ok((w, i)) => {
                    info.get_or_insert(i);
                    workers.push(Some(w));
                }
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = error {
            for w in workers.into_iter().flatten() {
                w.shutdown(Duration::from_secs(1));
            }
            return Err(e);
        }
        let info = info.ok_or_else(|| io::Error::other("no worker started"))?;
        Ok(WorkerPool {
            launcher,
            workers,
            info,
            _dir: dir,
        })
    }

    /// Python and pytest versions of the workers.
    pub fn info(&self) -> &WorkerInfo {
        &self.info
    }

    /// Number of worker processes.
    pub fn size(&self) -> usize {
        self.workers.len()
    }

    /// The configuration the pool was started with.
    pub fn config(&self) -> &WorkerConfig {
        &self.launcher.config
    }

    /// Runs the batches (a work queue, taken front to back: order them
    /// longest-first), calling `on_result` from the worker threads as results
    /// stream in. A worker that dies mid-batch has its in-flight test reported
    /// as `error` with the exit status, is restarted, and runs the rest of the
    /// batch. Every requested id gets exactly one result unless an `Err` is
    /// returned (a worker could not be restarted).
    pub fn run(
        &mut self,
        batches: Vec<Batch>,
        on_result: &(dyn Fn(TestResult) + Sync),
    ) -> io::Result<()> {
        self.run_until(batches, &|r| {
            on_result(r);
            true
        })
    }

    /// Like [`WorkerPool::run`], but `on_result` returning `false` stops the
    /// run (fail fast): batches not yet started are dropped; batches in flight
    /// finish and their results are still delivered.
    pub fn run_until(
        &mut self,
        batches: Vec<Batch>,
        on_result: &(dyn Fn(TestResult) -> bool + Sync),
    ) -> io::Result<()> {
        let queue = Mutex::new(VecDeque::from(batches));
        let errors: Mutex<Vec<io::Error>> = Mutex::new(Vec::new());
        let stop = AtomicBool::new(false);
        let launcher = &self.launcher;
        let deliver = |r: TestResult| {
            if !on_result(r) {
                stop.store(true, Ordering::SeqCst);
            }
        };
        std::thread::scope(|s| {
            for (index, slot) in self.workers.iter_mut().enumerate() {
                let queue = &queue;
                let errors = &errors;
                let stop = &stop;
                let deliver = &deliver;
                s.spawn(move || {
                    loop {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                        let Some(batch) = next else { break };
                        if let Err(e) = run_batch(launcher, index, slot, batch, deliver) {
                            errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                            break;
                        }
                    }
                });
            }
        });
        let mut errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
        let left = queue.into_inner().unwrap_or_else(|p| p.into_inner());
        if !errors.is_empty() {
            return Err(errors.remove(0));
        }
        if !left.is_empty() && !stop.load(Ordering::SeqCst) {
            return Err(io::Error::other(format!(
                "{} batches were not run",
                left.len()
            )));
        }
        Ok(())
    }

    /// pytest's own collection of `paths` (relative to the rootdir; none:
    /// pytest's default arguments) on the first worker, in a session of its
    /// own for a warm pool (the project's modules stay out of the zygote).
    /// A plain pool's worker has imported the collected modules afterwards:
    /// collect on a pool of its own.
    ///
    /// # Errors
    /// The worker could not be started or died, or pytest is not installed.
    pub fn collect(&mut self, paths: &[String]) -> io::Result<Collected> {
        let value = self.ask(&serde_json::json!({ "collect": paths }))?;
        if value["collected"].is_null() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                value["error"].as_str().unwrap_or("pytest could not collect").to_string(),
            ));
        }
        let tests = value["collected"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| {
                        Some(CollectedTest {
                            id: item["id"].as_str()?.to_string(),
                            marks: item["marks"]
                                .as_array()
                                .map(|m| m.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())
                                .unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let errors = value["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| (e["id"].as_str().unwrap_or_default().to_string(), e["text"].as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Collected { tests, errors })
    }

    /// Which test files (relative) a conftest's `pytest_ignore_collect`
    /// ignores, asked by the native harness (no pytest) on the first worker.
    ///
    /// # Errors
    /// The worker could not be started or died, or a hook needs pytest (`Unsupported`).
    pub fn ignored(&mut self, paths: &[String]) -> io::Result<Vec<String>> {
        let value = self.ask(&serde_json::json!({ "ignored": paths }))?;
        match value["ignored"].as_array() {
            Some(files) => Ok(files.iter().filter_map(|f| f.as_str().map(str::to_string)).collect()),
            None => Err(io::Error::new(io::ErrorKind::Unsupported, value["error"].as_str().unwrap_or("the hook cannot be asked").to_string())),
        }
    }

    /// One request to the first worker and its answer (in a session of its own for a warm pool).
    fn ask(&mut self, request: &serde_json::Value) -> io::Result<serde_json::Value> {
        let slot = self.workers.first_mut().ok_or_else(|| io::Error::other("no worker"))?;
        if slot.is_none() {
            *slot = Some(self.launcher.spawn(0)?.0);
        }
        let Some(worker) = slot.as_mut() else {
            return Err(io::Error::other("no worker"));
        };
        let answer = (|| {
            if self.launcher.sessions && !worker.in_session {
                worker.begin_session()?;
            }
            worker.send(request)?;
            loop {
                match worker.read_message()? {
                    Some(Message::Collected(value)) => return Ok(value),
                    Some(_) => {}
                    None => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the worker exited while collecting")),
                }
            }
        })();
        let ended = if self.launcher.sessions { worker.end_session() } else { Ok(()) };
        if (answer.is_err() || ended.is_err())
            && let Some(mut w) = slot.take()
        {
            w.kill();
        }
        answer
    }

    /// Asks every worker to finish (session fixtures are torn down) and waits for them.
    pub fn shutdown(mut self) {
        let workers: Vec<Worker> = self.workers.iter_mut().filter_map(Option::take).collect();
        std::thread::scope(|s| {
            for w in workers {
                s.spawn(move || w.shutdown(Duration::from_secs(10)));
            }
        });
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        for w in self.workers.iter_mut().filter_map(Option::take) {
            w.shutdown(Duration::from_millis(200));
        }
    }
}

fn run_batch(
    launcher: &Launcher,
    index: usize,
    slot: &mut Option<Worker>,
    batch: Batch,
    on_result: &(dyn Fn(TestResult) + Sync),
) -> io::Result<()> {
    let mut remaining = batch.ids;
    let mut send_retries = 0;
    // The native engine sends results in groups; after a crash the unreported
    // ids run again with each result sent as it comes (`stream`), so the
    // test that crashes is known.
    let mut stream = false;
    while !remaining.is_empty() {
        if slot.is_none() {
            *slot = Some(launcher.spawn(index)?.0);
        }
        let Some(worker) = slot.as_mut() else {
            continue;
        };
        let begun = if launcher.sessions && !worker.in_session {
            worker.begin_session()
        } else {
            Ok(())
        };
        if let Err(e) = begun {
            if let Some(mut w) = slot.take() {
                w.kill();
            }
            send_retries += 1;
            if send_retries > 1 {
                return Err(e);
            }
            continue;
        }
        let request = serde_json::json!({"run": remaining, "engine": batch.engine.as_str(), "stream": stream});
        if let Err(e) = worker.send(&request) {
            // The worker died between batches: restart it (once) and resend.
            if let Some(w) = slot.take() {
                let mut w = w;
                w.kill();
            }
            send_retries += 1;
            if send_retries > 1 {
                return Err(e);
            }
            continue;
        }
        let mut pending: HashSet<String> = remaining.iter().cloned().collect();
        let mut in_flight: Option<String> = None;
        let crash = loop {
            match worker.read_message() {
                Ok(Some(Message::Start(id))) => in_flight = Some(id),
                Ok(Some(Message::Result(result))) => {
                    pending.remove(&result.id);
                    // pytest expanded a test parametrized by a fixture's `params=` (`test_x` -> `test_x[a]`).
                    if let Some((base, _)) = result.id.split_once('[') {
                        pending.remove(base);
                    }
                    // A module's path was sent (pytest collects it itself).
                    if let Some((file, _)) = result.id.split_once("::") {
                        pending.remove(file);
                    }
                    if in_flight.as_deref() == Some(result.id.as_str()) {
                        in_flight = None;
                    }
                    on_result(result);
                }
                Ok(Some(Message::Done)) => break None,
                Ok(Some(
                    Message::Ready(_)
                    | Message::Collected(_)
                    | Message::Other
                    | Message::SessionBegun
                    | Message::SessionEnded,
                )) => {}
                Ok(None) => break Some(String::new()),
                Err(e) => break Some(e.to_string()),
            }
        };
        match crash {
            None => {
                // Anything the worker did not report (should not happen) is an error, not a silent pass.
                for id in remaining.iter().filter(|id| pending.contains(*id)) {
                    on_result(TestResult {
                        id: id.clone(),
                        outcome: Outcome::Error,
                        duration: 0.0,
                        stdout: String::new(),
                        stderr: String::new(),
                        longrepr: "the worker finished the batch without reporting this test"
                            .into(),
                        message: "worker did not report this test".into(),
                    });
                }
                return Ok(());
            }
            Some(protocol_error) => {
                let Some(mut dead) = slot.take() else {
                    return Ok(());
                };
                let status = dead.kill();
                if !stream && batch.engine == Engine::Native && in_flight.is_none() && protocol_error.is_empty() {
                    // Some results may not have been sent yet: rerun the unreported ids one result at a time.
                    stream = true;
                    remaining.retain(|id| pending.contains(id));
                    send_retries = 0;
                    continue;
                }
                let (stdout, stderr) = dead.captured();
                let culprit = in_flight
                    .filter(|id| pending.contains(id))
                    .or_else(|| remaining.iter().find(|id| pending.contains(*id)).cloned());
                let status_text = status
                    .map(describe_status)
                    .unwrap_or_else(|| "unknown exit status".into());
                if let Some(id) = &culprit {
                    let message = if protocol_error.is_empty() {
                        format!("worker crashed while running this test ({status_text})")
                    } else {
                        format!("worker protocol error while running this test: {protocol_error}")
                    };
                    let mut longrepr = message.clone();
                    if !stderr.trim().is_empty() {
                        longrepr.push_str("\n\n");
                        longrepr.push_str(stderr.trim_end());
                    }
                    on_result(TestResult {
                        id: id.clone(),
                        outcome: Outcome::Error,
                        duration: 0.0,
                        stdout,
                        stderr,
                        longrepr,
                        message,
                    });
                    pending.remove(id);
                }
                remaining.retain(|id| pending.contains(id));
                send_retries = 0;
            }
        }
    }
    Ok(())
}

/// The [`pybun_ports::TestRunner`] port over a [`WorkerPool`] started per run.
///
/// Native-engine results that ask for pytest ([`TestResult::needs_fallback`])
/// are held back and rerun with the pytest engine at the end of the run when
/// the environment has pytest; otherwise they are reported as they are.
///
/// [`pybun_ports::TestRunner::prestart`] starts the pool on a background
/// thread (the interpreters start while the engine discovers); the next run
/// with the same configuration takes it.
#[derive(Debug, Default)]
pub struct PoolTestRunner {
    prestarted: Mutex<Option<Prestarted>>,
}

/// A pool being started for the run that follows, and its configuration.
type Prestarted = (pybun_ports::RunnerConfig, std::thread::JoinHandle<io::Result<WorkerPool>>);

impl PoolTestRunner {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The prestarted pool if it was started for `config`; else a new one of `workers` workers.
    fn pool_for(&self, config: &pybun_ports::RunnerConfig, workers: usize) -> io::Result<WorkerPool> {
        let prestarted = self.prestarted.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((started_for, handle)) = prestarted {
            let started = handle.join().unwrap_or_else(|_| Err(io::Error::other("worker start panicked")));
            match started {
                Ok(pool) if &started_for == config => return Ok(pool),
                Ok(pool) => pool.shutdown(),
                // Started afresh below: the error, if it is real, comes again.
                Err(_) => {}
            }
        }
        let mut worker_config = worker_config(config);
        worker_config.workers = workers;
        WorkerPool::start(worker_config)
    }
}

impl Drop for PoolTestRunner {
    fn drop(&mut self) {
        let prestarted = self.prestarted.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((_, handle)) = prestarted
            && let Ok(Ok(pool)) = handle.join()
        {
            pool.shutdown();
        }
    }
}

fn to_port(r: TestResult) -> pybun_ports::TestResult {
    use pybun_ports::TestOutcomeKind as K;
    pybun_ports::TestResult {
        outcome: match r.outcome {
            Outcome::Passed => K::Passed,
            Outcome::Failed => K::Failed,
            Outcome::Skipped => K::Skipped,
            Outcome::XFailed => K::Xfailed,
            Outcome::XPassed => K::Xpassed,
            Outcome::Error | Outcome::Uncollected => K::Error,
        },
        id: r.id,
        duration: r.duration,
        stdout: r.stdout,
        stderr: r.stderr,
        longrepr: r.longrepr,
        message: r.message,
    }
}

fn worker_config(config: &pybun_ports::RunnerConfig) -> WorkerConfig {
    WorkerConfig {
        python: config.python.clone(),
        rootdir: config.rootdir.clone(),
        workers: config.workers,
        env: config.env.clone(),
    }
}

/// Runs the batches on `pool`, then the native engine's fallbacks with pytest.
fn run_on_pool(
    pool: &mut WorkerPool,
    batches: Vec<pybun_ports::TestBatch>,
    on_result: &(dyn Fn(pybun_ports::TestResult) -> bool + Sync),
) -> io::Result<()> {
    let can_fallback = pool.info().pytest_version.is_some();
    let batches = batches
        .into_iter()
        .map(|b| Batch {
            ids: b.ids,
            engine: match b.engine {
                pybun_ports::TestEngine::Native => Engine::Native,
                pybun_ports::TestEngine::Pytest => Engine::Pytest,
            },
        })
        .collect();
    let fallback: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let stopped = AtomicBool::new(false);
    let result = pool.run_until(batches, &|r| {
        if r.outcome == Outcome::Uncollected {
            return true;
        }
        if can_fallback && r.needs_fallback() {
            fallback
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(r.id);
            return true;
        }
        let go_on = on_result(to_port(r));
        if !go_on {
            stopped.store(true, Ordering::SeqCst);
        }
        go_on
    });
    let fallback = fallback.into_inner().unwrap_or_else(|p| p.into_inner());
    result.and_then(|()| {
        if fallback.is_empty() || stopped.load(Ordering::SeqCst) {
            return Ok(());
        }
        pool.run_until(
            vec![Batch {
                ids: fallback,
                engine: Engine::Pytest,
            }],
            &|r| on_result(to_port(r)),
        )
    })
}

/// Runs `ask` on a pool of one worker started for it, then shuts the pool down.
fn with_one_worker<T>(
    config: &pybun_ports::RunnerConfig,
    ask: impl FnOnce(&mut WorkerPool) -> io::Result<T>,
) -> io::Result<T> {
    let mut config = worker_config(config);
    config.workers = 1;
    let mut pool = WorkerPool::start(config)?;
    let result = ask(&mut pool);
    pool.shutdown();
    result
}

impl pybun_ports::TestRunner for PoolTestRunner {
    fn prestart(&self, config: &pybun_ports::RunnerConfig) {
        let mut prestarted = self.prestarted.lock().unwrap_or_else(|p| p.into_inner());
        if prestarted.is_some() {
            return;
        }
        let worker_config = worker_config(config);
        let handle = std::thread::Builder::new()
            .name("pybun-test-prestart".to_string())
            .spawn(move || WorkerPool::start(worker_config));
        if let Ok(handle) = handle {
            *prestarted = Some((config.clone(), handle));
        }
    }

    fn collect(&self, config: &pybun_ports::RunnerConfig, paths: Vec<String>) -> io::Result<Collected> {
        with_one_worker(config, |pool| pool.collect(&paths))
    }

    fn ignored(&self, config: &pybun_ports::RunnerConfig, paths: Vec<String>) -> io::Result<Vec<String>> {
        with_one_worker(config, |pool| pool.ignored(&paths))
    }

    fn run(
        &self,
        config: &pybun_ports::RunnerConfig,
        batches: Vec<pybun_ports::TestBatch>,
        on_result: &(dyn Fn(pybun_ports::TestResult) -> bool + Sync),
    ) -> io::Result<()> {
        // No more workers than batches (each worker imports pytest when installed),
        // unless they were started already.
        let mut pool = self.pool_for(config, config.workers.min(batches.len().max(1)))?;
        let result = run_on_pool(&mut pool, batches, on_result);
        pool.shutdown();
        result
    }
}

/// The [`pybun_ports::TestRunner`] port over one pool kept warm across runs
/// (`pybun test --watch`): started on the first run (again when the
/// configuration changes), each run in forked session children
/// ([`WorkerPool::start_warm`]).
#[derive(Debug, Default)]
pub struct WarmTestRunner {
    pool: Mutex<Option<(pybun_ports::RunnerConfig, WorkerPool)>>,
}

impl WarmTestRunner {
    pub fn new() -> Self {
        Self::default()
    }
}

impl WarmTestRunner {
    fn with_pool<T>(&self, config: &pybun_ports::RunnerConfig, f: impl FnOnce(&mut WorkerPool) -> io::Result<T>) -> io::Result<T> {
        let mut guard = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_some_and(|(c, _)| c != config)
            && let Some((_, pool)) = guard.take()
        {
            pool.shutdown();
        }
        if guard.is_none() {
            *guard = Some((
                config.clone(),
                WorkerPool::start_warm(worker_config(config))?,
            ));
        }
        let Some((_, pool)) = guard.as_mut() else {
            return Err(io::Error::other("no worker pool"));
        };
        f(pool)
    }
}

impl pybun_ports::TestRunner for WarmTestRunner {
    fn collect(&self, config: &pybun_ports::RunnerConfig, paths: Vec<String>) -> io::Result<Collected> {
        self.with_pool(config, |pool| pool.collect(&paths))
    }

    fn ignored(&self, config: &pybun_ports::RunnerConfig, paths: Vec<String>) -> io::Result<Vec<String>> {
        self.with_pool(config, |pool| pool.ignored(&paths))
    }

    fn run(
        &self,
        config: &pybun_ports::RunnerConfig,
        batches: Vec<pybun_ports::TestBatch>,
        on_result: &(dyn Fn(pybun_ports::TestResult) -> bool + Sync),
    ) -> io::Result<()> {
        self.with_pool(config, |pool| {
        let result = run_on_pool(pool, batches, on_result);
        pool.end_sessions();
        result
        })
    }
}
