//! Pure, pytest-compatible test discovery.
//!
//! No IO: callers read files and list directories and pass the text in.
//! - [`TestConfig`]: pytest's configuration files, the first found wins
//!   (`pytest.toml`, `.pytest.toml`, `pytest.ini`, `.pytest.ini`,
//!   `pyproject.toml`, `tox.ini`, `setup.cfg`), and the collection predicates.
//! - [`discover_module`]: the test items of one file (node ids as
//!   `pytest --collect-only -q` prints them), parsed with `ruff_python_parser`,
//!   and the reasons the static answer may differ from pytest's.
//! - [`walk`]: which files pytest would collect, in pytest's order, through a
//!   directory-listing callback.
//! - [`cache_key`]: a content hash to cache per-file results.

mod config;
mod discover;
mod glob;
mod ids;
mod walk;

pub use config::{CONFIG_FILES, DEFAULT_NORECURSEDIRS, TestConfig, is_virtualenv_dir, shlex_split};
pub use discover::{Mark, ModuleTests, PytestReason, TestItem, TestKind, discover_module};
pub use glob::{fnmatch, fnmatch_ex};
pub use walk::{Walk, walk};

use sha2::{Digest, Sha256};

/// The diagnostic codes this crate uses. The registry has no test-discovery
/// codes yet, so the nearest existing ones stand in.
pub mod codes {
    use pybun_diagnostics::Code;

    /// A test file is not valid Python (pytest: a collection error).
    pub const PYTHON_SYNTAX: Code = Code::TestSyntax;
    /// A pytest configuration file is not valid TOML.
    pub const TOML_SYNTAX: Code = Code::TomlSyntax;
    /// A pytest configuration value or INI file is invalid.
    pub const CONFIG_INVALID: Code = Code::TestConfigInvalid;
}

/// The SHA-256 of a file's bytes, lowercase hex: the key to cache a file's
/// discovery result under (together with the [`TestConfig`] used).
#[must_use]
pub fn cache_key(source: &[u8]) -> String {
    hex::encode(Sha256::digest(source))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cache_key_is_sha256() {
        assert_eq!(
            super::cache_key(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
