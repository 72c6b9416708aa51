//! The on-disk facts cache: `<cache_dir>/interpreter-v1/<sha256>.json`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use pybun_env::Interpreter;
use pybun_ports::InterpreterError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cache's directory name; bump the version when the entry or the probe changes meaning.
pub(crate) const DIR: &str = "interpreter-v1";

/// What identifies an executable's current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    /// The absolute path with its directory canonicalized and its file name
    /// kept: a venv's `bin/python` (a symlink to the base interpreter's
    /// binary) is a different interpreter, so the last symlink is not followed.
    pub(crate) key: PathBuf,
    /// Every symlink followed: when a symlink is repointed, this changes.
    pub(crate) target: PathBuf,
    /// Modification time of the target, nanoseconds since the epoch.
    pub(crate) mtime_ns: u64,
    /// Size of the target in bytes.
    pub(crate) size: u64,
}

impl Stamp {
    /// The stamp of the executable at `path`, or why it is not one.
    pub(crate) fn of(path: &Path) -> Result<Self, InterpreterError> {
        let not_executable =
            |reason: String| InterpreterError::NotExecutable { path: path.to_path_buf(), reason };
        let metadata = fs::metadata(path).map_err(|e| not_executable(describe_io(&e)))?;
        if metadata.is_dir() {
            return Err(not_executable("it is a directory".into()));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if metadata.permissions().mode() & 0o111 == 0 {
                return Err(not_executable("it is not executable (no `x` permission)".into()));
            }
        }
        let absolute = std::path::absolute(path).map_err(|e| not_executable(describe_io(&e)))?;
        let key = match (absolute.parent(), absolute.file_name()) {
            (Some(parent), Some(name)) => {
                fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf()).join(name)
            }
            _ => absolute.clone(),
        };
        let target = fs::canonicalize(path).map_err(|e| not_executable(describe_io(&e)))?;
        let mtime_ns = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        Ok(Self { key, target, mtime_ns, size: metadata.len() })
    }
}

fn describe_io(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => error.to_string(),
    }
}

/// One cached answer.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    path: PathBuf,
    target: PathBuf,
    mtime_ns: u64,
    size: u64,
    interpreter: Interpreter,
}

/// `<sha256 of the key path>.json`.
pub(crate) fn file_name(key: &Path) -> String {
    let digest = Sha256::digest(key.as_os_str().as_encoded_bytes());
    format!("{}.json", hex::encode(digest))
}

/// The cached facts, if the entry exists, reads, and still describes the executable.
pub(crate) fn read(entry_path: &Path, stamp: &Stamp) -> Option<Interpreter> {
    let bytes = fs::read(entry_path).ok()?;
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    let fresh = entry.path == stamp.key
        && entry.target == stamp.target
        && entry.mtime_ns == stamp.mtime_ns
        && entry.size == stamp.size;
    fresh.then_some(entry.interpreter)
}

/// Store the facts (atomically: a temporary file renamed into place).
pub(crate) fn write(entry_path: &Path, stamp: &Stamp, interpreter: &Interpreter) -> io::Result<()> {
    let entry = Entry {
        path: stamp.key.clone(),
        target: stamp.target.clone(),
        mtime_ns: stamp.mtime_ns,
        size: stamp.size,
        interpreter: interpreter.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&entry).map_err(io::Error::other)?;
    write_atomic(entry_path, &bytes)
}

/// Temp file in the same directory, then rename: readers see the old entry or the new one.
fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(contents)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
