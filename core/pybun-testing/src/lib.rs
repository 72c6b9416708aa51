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
//! - [`cache_key`]: a content hash; [`DiscoverySettings`], [`decode_index`],
//!   [`encode_index`], [`stamp_proves_content`]: the discovery cache's packed
//!   per-rootdir index (one read per collection, one `stat` per file).

mod cache;
mod config;
mod discover;
mod dynamic;
mod glob;
mod ids;
mod walk;

pub use cache::{
    DiscoverySettings, INDEX_MAGIC, IndexEntry, STAMP_SETTLE_NS, Stamp, decode_index, decode_module, encode_index, encode_module,
    stamp_is_racy, stamp_proves_content,
};
pub use config::{CONFIG_FILES, DEFAULT_NORECURSEDIRS, TestConfig, is_virtualenv_dir, shlex_split};
pub use discover::{CollectIgnore, FixtureDef, Mark, ModuleTests, PytestReason, TestItem, TestKind, discover_module};
pub use dynamic::{DynamicReason, dynamic_files, files_under_ignore_hooks};
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

/// Changes whenever discovery's output for the same input may change: the
/// crate version, the parser's, and the cache format.
pub const DISCOVERY_CACHE_VERSION: &str = concat!("pybun-testing ", env!("CARGO_PKG_VERSION"), "; ruff_python_parser 0.0.10; format 3");

/// A hash of the discovery code itself (computed at compile time), so a
/// build whose discovery logic changed never reads results of another.
pub const DISCOVERY_CODE_HASH: u64 = fnv1a(include_bytes!("discover.rs"))
    ^ fnv1a(include_bytes!("ids.rs")).rotate_left(21)
    ^ fnv1a(include_bytes!("config.rs")).rotate_left(42);

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    #[test]
    fn standard_library_bases_of_non_test_classes_need_no_pytest() {
        use super::*;
        let config = TestConfig::default();
        let reasons = |source: &str| discover_module("test_x.py", source, &config).needs_pytest.len();
        assert_eq!(reasons("from collections.abc import Set\n\nclass _Frozen(Set):\n    pass\n"), 0);
        assert_eq!(reasons("import io\n\nclass _FakeStdin(io.StringIO):\n    pass\n"), 0);
        assert_eq!(reasons("from collections import defaultdict as _dd\n\nclass dd(_dd):\n    pass\n"), 0);
        assert_eq!(reasons("class Error(ValueError):\n    pass\n"), 0);
        // Could be collected (a `Test*` name): pytest decides.
        assert_eq!(reasons("from collections.abc import Set\n\nclass TestSet(Set):\n    pass\n"), 1);
        // Not the standard library: may be a TestCase.
        assert_eq!(reasons("from helpers import Base\n\nclass _Frozen(Base):\n    pass\n"), 1);
    }

    #[test]
    fn cache_key_is_sha256() {
        assert_eq!(
            super::cache_key(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
