//! The facts PyBun needs about a Python interpreter.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Facts read once from an interpreter (by running it with a small probe
/// script) and cached by its path and modification time.
///
/// Serializable because the adapter caches it on disk; this is a cache
/// format, not a wire format (the frontends convert it by hand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interpreter {
    /// The executable as found (may be a symlink, e.g. `/usr/bin/python3`).
    pub path: PathBuf,
    /// `sys.executable`.
    pub sys_executable: PathBuf,
    /// `sys.prefix`.
    pub prefix: PathBuf,
    /// `sys.base_prefix`: the installation a venv is created from.
    pub base_prefix: PathBuf,
    /// `sys.base_exec_prefix`.
    pub base_exec_prefix: PathBuf,
    /// `sys.implementation.name`, e.g. `cpython`.
    pub implementation_name: String,
    /// Full version, e.g. `3.12.1` (`platform.python_version()`).
    pub python_full_version: String,
    /// `major.minor`, e.g. `3.12`.
    pub python_version: String,
    /// `sys.version_info` major and minor.
    pub major: u64,
    pub minor: u64,
    /// `sys.abiflags` (`""`, `"t"` for free-threaded, `"d"`, `"m"` on old versions).
    pub abiflags: String,
    /// Free-threaded build (`Py_GIL_DISABLED`).
    pub gil_disabled: bool,
    /// Marker values (PEP 508).
    pub os_name: String,
    pub sys_platform: String,
    pub platform_machine: String,
    pub platform_system: String,
    pub platform_release: String,
    pub platform_version: String,
    pub platform_python_implementation: String,
    pub implementation_version: String,
    /// The libc on Linux, for manylinux/musllinux tags; `None` elsewhere.
    pub libc: Option<Libc>,
    /// 64-bit pointers.
    pub is_64bit: bool,
    /// `sysconfig.get_config_var("EXT_SUFFIX")`, e.g. `.cpython-312-x86_64-linux-gnu.so`.
    pub ext_suffix: Option<String>,
    /// `sysconfig` scheme paths of this interpreter's own prefix (`purelib`,
    /// `platlib`, `scripts`, `include`, `data`), as reported.
    pub purelib: PathBuf,
    pub platlib: PathBuf,
    pub scripts: PathBuf,
    pub include: PathBuf,
    pub data: PathBuf,
    /// Running inside a virtual environment (`sys.prefix != sys.base_prefix`).
    pub is_virtualenv: bool,
}

/// The C library an interpreter on Linux is linked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Libc {
    Glibc { major: u16, minor: u16 },
    Musl { major: u16, minor: u16 },
}
