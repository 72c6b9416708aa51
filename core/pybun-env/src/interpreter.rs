//! The facts PyBun needs about a Python interpreter.

use std::path::PathBuf;
use std::str::FromStr;

use pybun_pep::{MarkerEnvironment, MarkerEnvironmentBuilder, Version};
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

impl Interpreter {
    /// The PEP 508 marker environment of this interpreter.
    ///
    /// Versions that do not parse as PEP 440 (a vendor's odd build string)
    /// fall back to `major.minor`, so this never fails.
    #[must_use]
    pub fn marker_environment(&self) -> MarkerEnvironment {
        let short = format!("{}.{}", self.major, self.minor);
        let valid = |text: &str| -> bool { Version::from_str(text).is_ok() };
        let pick = |text: &str| -> String {
            if valid(text) { text.to_string() } else { short.clone() }
        };
        let implementation_version = pick(&self.implementation_version);
        let python_full_version = pick(&self.python_full_version);
        let python_version = pick(&self.python_version);
        let build = |implementation_version: &str, python_full_version: &str, python_version: &str| {
            MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
                implementation_name: &self.implementation_name,
                implementation_version,
                os_name: &self.os_name,
                platform_machine: &self.platform_machine,
                platform_python_implementation: &self.platform_python_implementation,
                platform_release: &self.platform_release,
                platform_system: &self.platform_system,
                platform_version: &self.platform_version,
                python_full_version,
                python_version,
                sys_platform: &self.sys_platform,
            })
        };
        build(&implementation_version, &python_full_version, &python_version)
            .or_else(|_| build(&short, &short, &short))
            .unwrap_or_else(|_| unreachable!("`{short}` is a PEP 440 version"))
    }

    /// The full version as a PEP 440 version (`3.12.1`, `3.13.0rc1`), or
    /// `major.minor` when the reported text does not parse.
    #[must_use]
    pub fn version(&self) -> Version {
        Version::from_str(&self.python_full_version)
            .unwrap_or_else(|_| Version::new([self.major, self.minor]))
    }

    /// The libc kind for display: `glibc 2.36`, `musl 1.2`, or `None`.
    #[must_use]
    pub fn libc_display(&self) -> Option<String> {
        self.libc.map(|libc| match libc {
            Libc::Glibc { major, minor } => format!("glibc {major}.{minor}"),
            Libc::Musl { major, minor } => format!("musl {major}.{minor}"),
        })
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A realistic CPython on x86_64 glibc Linux.
    pub(crate) fn cpython(full: &str) -> Interpreter {
        let mut parts = full.split('.');
        let major: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(3);
        let minor: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(12);
        let prefix = PathBuf::from(format!("/opt/python/{full}"));
        Interpreter {
            path: prefix.join("bin/python3"),
            sys_executable: prefix.join("bin/python3"),
            prefix: prefix.clone(),
            base_prefix: prefix.clone(),
            base_exec_prefix: prefix.clone(),
            implementation_name: "cpython".into(),
            python_full_version: full.into(),
            python_version: format!("{major}.{minor}"),
            major,
            minor,
            abiflags: if minor < 8 { "m".into() } else { String::new() },
            gil_disabled: false,
            os_name: "posix".into(),
            sys_platform: "linux".into(),
            platform_machine: "x86_64".into(),
            platform_system: "Linux".into(),
            platform_release: "6.1.0".into(),
            platform_version: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.0".into(),
            platform_python_implementation: "CPython".into(),
            implementation_version: full.into(),
            libc: Some(Libc::Glibc { major: 2, minor: 36 }),
            is_64bit: true,
            ext_suffix: Some(format!(".cpython-{major}{minor}-x86_64-linux-gnu.so")),
            purelib: prefix.join(format!("lib/python{major}.{minor}/site-packages")),
            platlib: prefix.join(format!("lib/python{major}.{minor}/site-packages")),
            scripts: prefix.join("bin"),
            include: prefix.join(format!("include/python{major}.{minor}")),
            data: prefix,
            is_virtualenv: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::cpython;
    use pybun_pep::MarkerTree;
    use std::str::FromStr;

    #[test]
    fn markers_evaluate_against_the_interpreter() {
        let python = cpython("3.12.1");
        let env = python.marker_environment();
        let yes = MarkerTree::from_str("python_version >= '3.10' and sys_platform == 'linux' and platform_machine == 'x86_64'").unwrap();
        let no = MarkerTree::from_str("python_full_version < '3.12.1' or os_name == 'nt'").unwrap();
        assert!(yes.evaluate(&env, &[]));
        assert!(!no.evaluate(&env, &[]));
    }

    #[test]
    fn odd_versions_fall_back_to_major_minor() {
        let mut python = cpython("3.12.1");
        python.python_full_version = "3.12.1+vendor build".into();
        python.implementation_version = "garbage".into();
        let env = python.marker_environment();
        let marker = MarkerTree::from_str("python_full_version == '3.12'").unwrap();
        assert!(marker.evaluate(&env, &[]));
        assert_eq!(python.version().to_string(), "3.12");
    }

    #[test]
    fn prereleases_parse() {
        let python = cpython("3.13.0rc1");
        assert_eq!(python.version().to_string(), "3.13.0rc1");
        let env = python.marker_environment();
        assert_eq!(env.python_full_version().version.to_string(), "3.13.0rc1");
        assert_eq!(env.python_version().version.to_string(), "3.13");
    }
}
