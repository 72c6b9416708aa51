//! Install errors: each names the wheel and, where there is one, the path.

use std::fmt;

/// A text file of the wheel (`WHEEL`, `RECORD`, `entry_points.txt`) that does
/// not follow its format. Parsers return this; [`FormatError::in_wheel`] turns
/// it into an [`InstallError`] naming the wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// `WHEEL`, `RECORD` or `entry_points.txt`.
    pub file: &'static str,
    /// 1-based line, when the problem is on one line.
    pub line: Option<usize>,
    pub reason: String,
}

impl FormatError {
    pub(crate) fn new(file: &'static str, line: Option<usize>, reason: impl Into<String>) -> Self {
        Self { file, line, reason: reason.into() }
    }

    /// The same problem, as an error about `wheel`.
    #[must_use]
    pub fn in_wheel(self, wheel: impl fmt::Display) -> InstallError {
        InstallError::Format { wheel: wheel.to_string(), error: self }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "invalid {} (line {line}): {}", self.file, self.reason),
            None => write!(f, "invalid {}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for FormatError {}

/// Why a wheel cannot be installed. `wheel` is the wheel's filename.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// A path that could land outside its target directory, or that is not portable.
    #[error("`{wheel}`: refusing unsafe path `{path}`: {reason}")]
    UnsafePath { wheel: String, path: String, reason: String },
    /// A symbolic link (or other non-regular file) in the archive.
    #[error("`{wheel}`: `{path}` is a symbolic link or special file; wheels hold regular files only")]
    NotRegularFile { wheel: String, path: String },
    /// Two files of the wheel (or a file and a generated script) would land on the same path.
    #[error("`{wheel}`: `{path}` and `{other}` would both be installed as `{dest}`")]
    DuplicateDestination { wheel: String, path: String, other: String, dest: String },
    /// A file of the archive that `RECORD` does not list.
    #[error("`{wheel}`: `{path}` is in the archive but not listed in RECORD")]
    NotInRecord { wheel: String, path: String },
    /// A `RECORD` entry without a file in the archive.
    #[error("`{wheel}`: RECORD lists `{path}`, which is not in the archive")]
    MissingFromArchive { wheel: String, path: String },
    /// A `RECORD` entry without a hash (only RECORD and its signatures may lack one).
    #[error("`{wheel}`: RECORD gives no hash for `{path}`")]
    MissingHash { wheel: String, path: String },
    /// A file's content does not match its `RECORD` hash.
    #[error("`{wheel}`: hash mismatch for `{path}`: RECORD says `{expected}`, the file has `{actual}`")]
    HashMismatch { wheel: String, path: String, expected: String, actual: String },
    /// A file's size does not match its `RECORD` size.
    #[error("`{wheel}`: size mismatch for `{path}`: RECORD says {expected} bytes, the file has {actual}")]
    SizeMismatch { wheel: String, path: String, expected: u64, actual: u64 },
    /// `WHEEL`, `RECORD` or `entry_points.txt` is malformed.
    #[error("`{wheel}`: {error}")]
    Format { wheel: String, error: FormatError },
    /// A `Wheel-Version` whose major version is not 1.
    #[error("`{wheel}`: unsupported Wheel-Version {version} (PyBun installs wheel format 1.x)")]
    UnsupportedWheelVersion { wheel: String, version: String },
    /// No `.dist-info` directory, several, or one naming another project or version.
    #[error("`{wheel}`: {reason}")]
    DistInfo { wheel: String, reason: String },
    /// `{name}-{version}.data/{key}/…` with a key other than purelib, platlib, scripts, headers, data.
    #[error(
        "`{wheel}`: `{path}` is in unknown data directory `{key}` (expected purelib, platlib, scripts, headers or data)"
    )]
    UnknownDataKey { wheel: String, path: String, key: String },
    /// A console or GUI entry point that cannot become a launcher.
    #[error("`{wheel}`: invalid entry point `{name}` in [{group}]: {reason}")]
    InvalidEntryPoint { wheel: String, group: String, name: String, reason: String },
}
