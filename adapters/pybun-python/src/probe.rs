//! Running the probe script and reading its answer.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use pybun_env::{Interpreter, Libc};
use pybun_ports::InterpreterError;
use serde::Deserialize;

use crate::PROBE_SCRIPT;

/// What `probe.py` prints.
#[derive(Debug, Deserialize)]
struct ProbeOutput {
    sys_executable: PathBuf,
    prefix: PathBuf,
    base_prefix: PathBuf,
    base_exec_prefix: PathBuf,
    implementation_name: String,
    python_full_version: String,
    major: u64,
    minor: u64,
    abiflags: String,
    gil_disabled: bool,
    os_name: String,
    sys_platform: String,
    platform_machine: String,
    platform_system: String,
    platform_release: String,
    platform_version: String,
    platform_python_implementation: String,
    implementation_version: String,
    libc: Option<ProbeLibc>,
    is_64bit: bool,
    ext_suffix: Option<String>,
    purelib: PathBuf,
    platlib: PathBuf,
    scripts: PathBuf,
    include: PathBuf,
    data: PathBuf,
}

#[derive(Debug, Deserialize)]
struct ProbeLibc {
    name: String,
    version: String,
}

impl ProbeLibc {
    fn parse(&self) -> Option<Libc> {
        let mut parts = self.version.split('.');
        let major = parts.next()?.trim().parse().ok()?;
        let minor = parts.next().map_or(Some(0), |minor| {
            let digits: String = minor.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })?;
        match self.name.as_str() {
            "glibc" => Some(Libc::Glibc { major, minor }),
            "musl" => Some(Libc::Musl { major, minor }),
            _ => None,
        }
    }
}

/// Run the probe with `path` and turn its answer into facts.
pub(crate) fn run(path: &Path, timeout: Duration) -> Result<Interpreter, InterpreterError> {
    let failed = |reason: String| InterpreterError::ProbeFailed { path: path.to_path_buf(), reason };
    let (status, stdout, stderr) = run_with_timeout(path, timeout).map_err(|error| match error {
        RunError::Spawn(error) => InterpreterError::NotExecutable { path: path.to_path_buf(), reason: spawn_reason(&error) },
        RunError::Io(error) => failed(format!("reading its output failed: {error}")),
        RunError::Timeout => failed(format!("it did not answer within {} s", timeout.as_secs_f32())),
    })?;
    let stderr = String::from_utf8_lossy(&stderr);
    if !status.success() {
        if stderr.contains("Unknown option: -I") || stderr.contains("Unknown option -I") {
            return Err(failed("it does not accept `-I`: Python 2 and Python 3 before 3.4 are not supported".into()));
        }
        let status = status.code().map_or_else(|| "was killed by a signal".to_string(), |code| format!("exited with status {code}"));
        return Err(failed(format!("the probe {status}{}", tail(&stderr))));
    }
    let output: ProbeOutput = serde_json::from_slice(&stdout).map_err(|error| {
        let text = String::from_utf8_lossy(&stdout);
        let shown: String = text.chars().take(200).collect();
        failed(format!("its answer is not the probe's JSON ({error}): `{shown}`{}", tail(&stderr)))
    })?;
    if output.major < 3 {
        return Err(failed(format!("Python {} is not supported", output.python_full_version)));
    }
    Ok(into_interpreter(path, output))
}

fn into_interpreter(path: &Path, output: ProbeOutput) -> Interpreter {
    let libc = output.libc.as_ref().and_then(ProbeLibc::parse);
    Interpreter {
        path: path.to_path_buf(),
        is_virtualenv: output.prefix != output.base_prefix,
        sys_executable: output.sys_executable,
        prefix: output.prefix,
        base_prefix: output.base_prefix,
        base_exec_prefix: output.base_exec_prefix,
        implementation_name: output.implementation_name,
        python_version: format!("{}.{}", output.major, output.minor),
        python_full_version: output.python_full_version,
        major: output.major,
        minor: output.minor,
        abiflags: output.abiflags,
        gil_disabled: output.gil_disabled,
        os_name: output.os_name,
        sys_platform: output.sys_platform,
        platform_machine: output.platform_machine,
        platform_system: output.platform_system,
        platform_release: output.platform_release,
        platform_version: output.platform_version,
        platform_python_implementation: output.platform_python_implementation,
        implementation_version: output.implementation_version,
        libc,
        is_64bit: output.is_64bit,
        ext_suffix: output.ext_suffix,
        purelib: output.purelib,
        platlib: output.platlib,
        scripts: output.scripts,
        include: output.include,
        data: output.data,
    }
}

/// The last lines of stderr, for an error message.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(3);
    format!(": {}", lines[start..].join(" / "))
}

fn spawn_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file (or its `#!` interpreter is missing)".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => match error.raw_os_error() {
            Some(8) => "not a program this system can run (exec format error)".into(),
            _ => error.to_string(),
        },
    }
}

enum RunError {
    Spawn(io::Error),
    Io(io::Error),
    Timeout,
}

/// Run the probe, reading stdout and stderr on threads, killing it after `timeout`.
fn run_with_timeout(path: &Path, timeout: Duration) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), RunError> {
    let spawn = || {
        Command::new(path)
            .args(["-I", "-S", "-c", PROBE_SCRIPT])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    // "Text file busy": the executable was just written, and a process another
    // thread forked meanwhile still holds it open for writing until it execs.
    // That passes in moments: try again a few times.
    let mut attempt = 0;
    let mut child = loop {
        match spawn() {
            Err(error) if error.kind() == io::ErrorKind::ExecutableFileBusy && attempt < 20 => {
                attempt += 1;
                thread::sleep(Duration::from_millis(5 * attempt));
            }
            other => break other.map_err(RunError::Spawn)?,
        }
    };
    let reader = |pipe: Option<Box<dyn Read + Send>>, done: Option<mpsc::Sender<()>>| {
        thread::spawn(move || {
            let mut buffer = Vec::new();
            let read = if let Some(mut pipe) = pipe { pipe.read_to_end(&mut buffer).map(|_| buffer) } else { Ok(buffer) };
            if let Some(done) = done {
                let _ = done.send(());
            }
            read
        })
    };
    // The end of stdout is the end of the probe: waited for, not polled (a
    // poll every few milliseconds cost up to 10 ms on every cold command).
    let (done, stdout_closed) = mpsc::channel();
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>), Some(done));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>), None);
    let started = Instant::now();
    let kill = |child: &mut std::process::Child| {
        let _ = child.kill();
        let _ = child.wait();
        RunError::Timeout
    };
    if let Err(mpsc::RecvTimeoutError::Timeout) = stdout_closed.recv_timeout(timeout) {
        return Err(kill(&mut child));
    }
    // Closed at exit: the process is gone, or about to be.
    let status = loop {
        if let Some(status) = child.try_wait().map_err(RunError::Io)? {
            break status;
        }
        if started.elapsed() > timeout {
            return Err(kill(&mut child));
        }
        thread::sleep(Duration::from_micros(200));
    };
    let join = |handle: thread::JoinHandle<io::Result<Vec<u8>>>| {
        handle.join().unwrap_or_else(|_| Err(io::Error::other("reader thread panicked"))).map_err(RunError::Io)
    };
    let stdout = join(stdout)?;
    let stderr = join(stderr)?;
    Ok((status, stdout, stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libc_versions() {
        let parse = |name: &str, version: &str| ProbeLibc { name: name.into(), version: version.into() }.parse();
        assert_eq!(parse("glibc", "2.36"), Some(Libc::Glibc { major: 2, minor: 36 }));
        assert_eq!(parse("glibc", "2.17"), Some(Libc::Glibc { major: 2, minor: 17 }));
        assert_eq!(parse("musl", "1.2.4"), Some(Libc::Musl { major: 1, minor: 2 }));
        assert_eq!(parse("musl", "1.2.4_git20230717"), Some(Libc::Musl { major: 1, minor: 2 }));
        assert_eq!(parse("glibc", "garbage"), None);
        assert_eq!(parse("bionic", "1.0"), None);
    }

    #[test]
    fn stderr_tail() {
        assert_eq!(tail(""), "");
        assert_eq!(tail("a\n\nb\nc\nd\n"), ": b / c / d");
    }
}
