//! The table of Python builds PyBun can install: python-build-standalone
//! `install_only` archives (`.tar.gz`), one entry per version, build flavour
//! and platform.
//!
//! The embedded table (`downloads.json`) is generated from uv's
//! `download-metadata.json` (shipped in uv's sdist on PyPI); its `source`
//! field names the uv version. Format (version 1):
//!
//! ```json
//! {
//!   "format": 1,
//!   "source": "where the data came from",
//!   "filter": "what was kept",
//!   "downloads": [
//!     { "name": "cpython-3.12.16-linux-x86_64-gnu", "implementation": "cpython",
//!       "version": "3.12.16", "free_threaded": false, "os": "linux",
//!       "arch": "x86_64", "libc": "gnu", "build": "20261110",
//!       "url": "https://github.com/astral-sh/python-build-standalone/releases/download/…tar.gz",
//!       "sha256": "<64 hex digits>" }
//!   ]
//! }
//! ```
//!
//! `os` is `linux` or `macos`; `libc` is `gnu`/`musl` on Linux and `none`
//! elsewhere; `name` is the directory the build is installed to
//! (`<implementation>-<version>[+freethreaded]-<os>-<arch>-<libc>`);
//! `build` is optional. A file in the same format may replace the embedded
//! table (`PYBUN_PYTHON_DOWNLOADS_JSON`).

use std::fmt;
use std::str::FromStr as _;

use pybun_env::PythonRequest;
use pybun_pep::Version;
use serde::{Deserialize, Serialize};

/// The embedded table.
pub const EMBEDDED_DOWNLOADS: &str = include_str!("downloads.json");

/// The URL prefix of python-build-standalone releases, replaced by a mirror
/// (`PYBUN_PYTHON_MIRROR`).
pub const GITHUB_RELEASES_PREFIX: &str = "https://github.com/astral-sh/python-build-standalone/releases/download";

/// One installable build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Download {
    /// The install directory's name, e.g. `cpython-3.12.16-linux-x86_64-gnu`.
    pub name: String,
    /// `cpython`.
    pub implementation: String,
    /// `3.12.16` (a prerelease like `3.14.0rc1` is allowed).
    pub version: String,
    #[serde(default)]
    pub free_threaded: bool,
    /// `linux` or `macos` (as `std::env::consts::OS`).
    pub os: String,
    /// `x86_64` or `aarch64` (as `std::env::consts::ARCH`).
    pub arch: String,
    /// `gnu`, `musl` or `none`.
    pub libc: String,
    /// The python-build-standalone release, e.g. `20261110`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    pub url: String,
    /// Lower-case hex.
    pub sha256: String,
}

impl Download {
    /// The version, parsed (`None` for a malformed table entry).
    #[must_use]
    pub fn parsed_version(&self) -> Option<Version> {
        Version::from_str(&self.version).ok()
    }

    /// The archive's file name: the URL's last segment, percent-decoded
    /// (`cpython-3.12.16+20261110-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz`).
    #[must_use]
    pub fn filename(&self) -> String {
        let last = self.url.rsplit('/').next().unwrap_or(&self.url);
        let last = last.split(['?', '#']).next().unwrap_or(last);
        percent_decode(last)
    }

    /// The URL to fetch: `mirror` replaces the python-build-standalone
    /// releases prefix (a URL that does not start with it is kept).
    #[must_use]
    pub fn url_with_mirror(&self, mirror: Option<&str>) -> String {
        match (mirror, self.url.strip_prefix(GITHUB_RELEASES_PREFIX)) {
            (Some(mirror), Some(rest)) => format!("{}{rest}", mirror.trim_end_matches('/')),
            _ => self.url.clone(),
        }
    }

    /// Whether the build fits `platform`.
    #[must_use]
    pub fn is_for(&self, platform: &Platform) -> bool {
        self.os == platform.os && self.arch == platform.arch && self.libc == platform.libc
    }

    /// Whether the build satisfies `request` (never for a path request).
    /// Prereleases match only a request naming one exactly (`3.14.0rc1`) or
    /// a range whose specifiers allow them.
    #[must_use]
    pub fn matches(&self, request: &PythonRequest) -> bool {
        facts_match(&self.implementation, &self.version, self.free_threaded, request)
    }
}

/// Whether (implementation, version, free-threading) satisfies `request`.
pub(crate) fn facts_match(implementation: &str, version: &str, free_threaded: bool, request: &PythonRequest) -> bool {
    let Ok(version) = Version::from_str(version) else { return false };
    let implementation_ok =
        |wanted: &Option<pybun_env::Implementation>| wanted.is_none_or(|i| i.name() == implementation);
    match request {
        PythonRequest::Version { implementation: wanted, major, minor, patch, prerelease, free_threaded: wants_t } => {
            if !implementation_ok(wanted) || *wants_t != free_threaded {
                return false;
            }
            let release = version.release();
            let at = |i: usize| release.get(i).copied().unwrap_or(0);
            if at(0) != *major || minor.is_some_and(|m| at(1) != m) || patch.is_some_and(|p| at(2) != p) {
                return false;
            }
            match prerelease {
                None => !version.any_prerelease(),
                Some(wanted) => version.pre().is_some_and(|pre| pre.to_string() == *wanted),
            }
        }
        PythonRequest::Range { implementation: wanted, specifiers } => {
            implementation_ok(wanted) && !free_threaded && specifiers.contains(&version)
        }
        PythonRequest::Path(_) => false,
    }
}

/// An operating system, architecture and libc, as in the table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub libc: String,
}

impl Platform {
    /// The machine PyBun runs on (the libc of PyBun's own build: `musl` for a
    /// musl binary, `gnu` otherwise on Linux; `none` elsewhere).
    #[must_use]
    pub fn current() -> Self {
        let os = std::env::consts::OS;
        let libc = if os == "linux" {
            if cfg!(target_env = "musl") { "musl" } else { "gnu" }
        } else {
            "none"
        };
        Self { os: os.to_string(), arch: std::env::consts::ARCH.to_string(), libc: libc.to_string() }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.os, self.arch, self.libc)
    }
}

/// A parsed table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadsTable {
    pub format: u32,
    /// Where the data came from (e.g. the uv version).
    #[serde(default)]
    pub source: String,
    /// What was kept from the source.
    #[serde(default)]
    pub filter: String,
    pub downloads: Vec<Download>,
}

impl DownloadsTable {
    /// The embedded table.
    ///
    /// # Panics
    /// Never: a test checks that it parses.
    #[must_use]
    pub fn embedded() -> Self {
        Self::parse(EMBEDDED_DOWNLOADS).expect("the embedded downloads.json parses")
    }

    /// Parse and check a table (format 1; names, hashes and versions well formed).
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let table: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if table.format != 1 {
            return Err(format!("unsupported format {} (expected 1)", table.format));
        }
        for download in &table.downloads {
            let is_hex = download.sha256.len() == 64 && download.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_hex {
                return Err(format!("`{}`: sha256 is not 64 hex digits", download.name));
            }
            if download.parsed_version().is_none() {
                return Err(format!("`{}`: `{}` is not a version", download.name, download.version));
            }
            let name_ok = !download.name.is_empty()
                && !download.name.starts_with('.')
                && !download.name.contains(['/', '\\'])
                && download.name != "..";
            if !name_ok {
                return Err(format!("`{}` is not a directory name", download.name));
            }
            if !download.filename().ends_with(".tar.gz") && !download.filename().ends_with(".tgz") {
                return Err(format!("`{}`: only .tar.gz archives are supported ({})", download.name, download.url));
            }
        }
        Ok(table)
    }
}

/// `%XX` escapes decoded (invalid escapes kept as they are).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses_and_has_3_12_on_linux_x86_64() {
        let table = DownloadsTable::embedded();
        assert!(table.source.contains("uv"), "{}", table.source);
        let linux = Platform { os: "linux".into(), arch: "x86_64".into(), libc: "gnu".into() };
        let request: PythonRequest = "3.12".parse().unwrap();
        let found: Vec<_> = table.downloads.iter().filter(|d| d.is_for(&linux) && d.matches(&request)).collect();
        assert!(!found.is_empty());
        for download in &found {
            assert!(download.url.starts_with(GITHUB_RELEASES_PREFIX), "{}", download.url);
            assert!(download.name.starts_with("cpython-3.12."), "{}", download.name);
            assert!(!download.free_threaded);
        }
        for minor in 9..=13 {
            for (os, arch, libc) in
                [("linux", "x86_64", "gnu"), ("linux", "aarch64", "gnu"), ("macos", "x86_64", "none"), ("macos", "aarch64", "none")]
            {
                let platform = Platform { os: os.into(), arch: arch.into(), libc: libc.into() };
                let request: PythonRequest = format!("3.{minor}").parse().unwrap();
                assert!(
                    table.downloads.iter().any(|d| d.is_for(&platform) && d.matches(&request)),
                    "3.{minor} on {platform}"
                );
            }
        }
        let names: std::collections::HashSet<_> = table.downloads.iter().map(|d| &d.name).collect();
        assert_eq!(names.len(), table.downloads.len(), "names are unique");
    }

    #[test]
    fn filename_mirror_and_matching() {
        let download = Download {
            name: "cpython-3.13.1+freethreaded-linux-x86_64-gnu".into(),
            implementation: "cpython".into(),
            version: "3.13.1".into(),
            free_threaded: true,
            os: "linux".into(),
            arch: "x86_64".into(),
            libc: "gnu".into(),
            build: None,
            url: format!("{GITHUB_RELEASES_PREFIX}/20250101/cpython-3.13.1%2B20250101-x86_64-unknown-linux-gnu-freethreaded-install_only.tar.gz"),
            sha256: "0".repeat(64),
        };
        assert_eq!(download.filename(), "cpython-3.13.1+20250101-x86_64-unknown-linux-gnu-freethreaded-install_only.tar.gz");
        assert_eq!(
            download.url_with_mirror(Some("http://mirror.local/pbs/")),
            "http://mirror.local/pbs/20250101/cpython-3.13.1%2B20250101-x86_64-unknown-linux-gnu-freethreaded-install_only.tar.gz"
        );
        assert!(download.matches(&"3.13t".parse().unwrap()));
        assert!(download.matches(&"cpython3.13.1t".parse().unwrap()));
        assert!(!download.matches(&"3.13".parse().unwrap()));
        assert!(!download.matches(&">=3.12".parse().unwrap()));
        assert!(!download.matches(&"pypy3.13t".parse().unwrap()));
        let stable = Download { free_threaded: false, ..download.clone() };
        assert!(stable.matches(&">=3.12,<3.14".parse().unwrap()));
        assert!(stable.matches(&"313".parse().unwrap()));
        let pre = Download { version: "3.14.0rc1".into(), ..stable };
        assert!(!pre.matches(&"3.14".parse().unwrap()));
        assert!(pre.matches(&"3.14.0rc1".parse().unwrap()));
    }
}
