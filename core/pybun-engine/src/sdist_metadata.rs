//! Metadata of source distributions whose `PKG-INFO` cannot be trusted.
//!
//! An sdist's `PKG-INFO` states its dependencies reliably only from Metadata
//! 2.2 on, and only when `Requires-Dist` is not listed as dynamic. For any
//! other sdist the resolver needs the metadata a build produces. Like uv,
//! PyBun then builds the sdist (PEP 517, in a cached isolated build
//! environment, with an interpreter that satisfies the file's
//! `Requires-Python`) and reads `METADATA` from the wheel. The wheel stays in
//! the cache keyed by the sdist's sha256 and the interpreter, so a later
//! `sync` installs it without building again, and a later lock (even
//! `--offline`) reads its metadata without building.
//!
//! [`with_sdist_builds`] wraps a [`PackageIndex`]: every use case that
//! resolves (lock, sync, add, remove, run) sees built metadata where the
//! index alone would give untrustworthy metadata. The frontend provides the
//! [`SdistMetadataBuilder`] (usually through [`build_sdist_metadata`]) because
//! it owns the adapters a build needs.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use pybun_diagnostics::{Code, Diagnostic};
use pybun_pep::{CoreMetadata, PackageName, SdistFilename, VersionSpecifiers};
use pybun_ports::{ArtifactRequest, DistFile, IndexError, MetadataOrigin, PackageIndex, ProjectFiles, RawMetadata};

use crate::Failure;
use crate::build::Builder;
use crate::interpreter::choose_interpreter;
use crate::lock::IndexSettings;
use crate::sync::SyncPorts;

/// Builds an sdist and returns the built wheel's `METADATA` bytes.
pub trait SdistMetadataBuilder: Send + Sync {
    /// # Errors
    /// When the sdist cannot be fetched or built.
    fn build_metadata(&self, name: &PackageName, file: &DistFile) -> Result<Vec<u8>, Failure>;
}

/// `inner`, with the metadata of sdists that need a build taken from `builder`.
#[must_use]
pub fn with_sdist_builds(inner: Arc<dyn PackageIndex>, builder: Arc<dyn SdistMetadataBuilder>) -> Arc<dyn PackageIndex> {
    Arc::new(BuildingIndex { inner, builder, built: Mutex::new(HashMap::new()) })
}

struct BuildingIndex {
    inner: Arc<dyn PackageIndex>,
    builder: Arc<dyn SdistMetadataBuilder>,
    /// Built metadata by file URL, so a file is built at most once per index.
    built: Mutex<HashMap<String, Arc<RawMetadata>>>,
}

/// Whether metadata read from `file` needs a build to be trusted.
fn needs_build(file: &DistFile, raw: &RawMetadata) -> bool {
    let is_wheel = file.filename.to_ascii_lowercase().ends_with(".whl");
    if is_wheel || matches!(raw.origin, MetadataOrigin::Pep658 | MetadataOrigin::WheelRange | MetadataOrigin::WheelDownload) {
        return false;
    }
    // Unparsable metadata is the resolver's to report, with its own message.
    CoreMetadata::parse(&raw.bytes).is_ok_and(|metadata| !metadata.has_static_dependencies())
}

impl PackageIndex for BuildingIndex {
    fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, IndexError> {
        self.inner.project(name)
    }

    fn metadata(&self, name: &PackageName, file: &DistFile) -> Result<Arc<RawMetadata>, IndexError> {
        if !file.is_source_tree() {
            let raw = self.inner.metadata(name, file)?;
            if !needs_build(file, &raw) {
                return Ok(raw);
            }
        }
        let built = || self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = built().get(&file.url) {
            return Ok(known.clone());
        }
        let bytes = self.builder.build_metadata(name, file).map_err(|failure| IndexError::BuildFailed {
            name: name.clone(),
            filename: file.filename.clone(),
            reason: build_reason(&failure),
        })?;
        let metadata = Arc::new(RawMetadata { bytes, origin: MetadataOrigin::WheelDownload });
        built().insert(file.url.clone(), metadata.clone());
        Ok(metadata)
    }

    fn file_sha256(&self, file: &DistFile) -> Result<String, IndexError> {
        self.inner.file_sha256(file)
    }

    fn prefetch_project(&self, name: &PackageName) {
        self.inner.prefetch_project(name);
    }

    fn prefetch_metadata(&self, name: &PackageName, file: &DistFile) {
        // A source tree is built when asked for, not read ahead by the index.
        if !file.is_source_tree() {
            self.inner.prefetch_metadata(name, file);
        }
    }

    fn prefetch_candidate(&self, name: &PackageName, pick: pybun_ports::CandidatePick) {
        self.inner.prefetch_candidate(name, pick);
    }

    fn known_projects(&self) -> Vec<PackageName> {
        self.inner.known_projects()
    }
}

/// The port error has room for one reason: the failure's message and causes.
fn build_reason(failure: &Failure) -> String {
    let mut reason = failure.diagnostic.message.clone();
    for cause in &failure.diagnostic.causes {
        reason.push_str("\n  ");
        reason.push_str(cause);
    }
    reason
}

/// Build `file` (an sdist of `name`) with an interpreter that satisfies its
/// `Requires-Python` (and `directory`'s `.python-version`, if any) and return
/// the `METADATA` of the wheel it gives.
///
/// # Errors
/// No suitable interpreter, a failed download or build, or a wheel without `METADATA`.
pub fn build_sdist_metadata(
    ports: &SyncPorts<'_>,
    index: &IndexSettings,
    directory: &Path,
    name: &PackageName,
    file: &DistFile,
) -> Result<Vec<u8>, Failure> {
    let requires_python = file.requires_python.as_deref().and_then(|text| VersionSpecifiers::from_str(text).ok());
    let interpreter = choose_interpreter(ports.fs, ports.interpreters, directory, None, requires_python.as_ref(), None)?
        .interpreter()
        .clone();
    let builder = Builder { ports, index, interpreter: &interpreter };
    if file.is_source_tree() {
        let tree = source_tree_path(&file.url)?;
        let wheel = builder.wheel_from_directory(&tree, &format!("{name} @ {}", file.url))?;
        return wheel_metadata(ports, &wheel.unpacked, &file.url);
    }
    let version = SdistFilename::parse(&file.filename, name).map(|f| f.version.to_string()).unwrap_or_default();
    let request = ArtifactRequest {
        name: name.to_string(),
        version,
        filename: file.filename.clone(),
        url: file.url.clone(),
        hash: file.sha256.as_ref().map(|hex| format!("sha256:{hex}")),
        size: file.size,
    };
    let wheel = builder.wheel_from_archive(&request)?;
    wheel_metadata(ports, &wheel.unpacked, &file.filename)
}

/// The local path of a source tree's `file://` URL.
pub(crate) fn source_tree_path(url: &str) -> Result<std::path::PathBuf, Failure> {
    pybun_pep::file_url_path(url).ok_or_else(|| {
        Failure::new(Diagnostic::error(Code::DirectUrl, format!("`{url}` is not a local file URL")).with_hint("name a source tree by its `file://` URL"))
    })
}

/// `METADATA` of an unpacked wheel built from `source` (for messages).
fn wheel_metadata(ports: &SyncPorts<'_>, unpacked: &Path, source: &str) -> Result<Vec<u8>, Failure> {
    let entries = ports.fs.read_dir(unpacked).map_err(|e| Failure::io(unpacked, &e, "read"))?;
    let metadata = entries
        .iter()
        .find(|entry| entry.extension().is_some_and(|ext| ext == "dist-info"))
        .map(|dist_info| dist_info.join("METADATA"))
        .ok_or_else(|| {
            Failure::new(
                Diagnostic::error(Code::InvalidWheel, format!("the wheel built from `{source}` has no `.dist-info` directory"))
                    .with_hint("report this to the package's maintainers"),
            )
        })?;
    ports.fs.read(&metadata).map_err(|e| Failure::io(&metadata, &e, "read"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pybun_ports::testing::FixtureIndex;

    struct CountingBuilder {
        calls: Mutex<Vec<String>>,
    }

    impl SdistMetadataBuilder for CountingBuilder {
        fn build_metadata(&self, _name: &PackageName, file: &DistFile) -> Result<Vec<u8>, Failure> {
            self.calls.lock().unwrap().push(file.filename.clone());
            Ok(b"Metadata-Version: 2.1\nName: old\nVersion: 1.0\nRequires-Dist: dep>=2\n".to_vec())
        }
    }

    fn file(filename: &str) -> DistFile {
        DistFile::new(filename, format!("https://example.test/{filename}"), "https://example.test/simple")
    }

    fn check(filename: &str, pkg_info: &str, origin: MetadataOrigin, expect_build: bool) {
        let name = PackageName::from_str("old").unwrap();
        let mut fixture = FixtureIndex::new();
        fixture.add_file(&name, file(filename), pkg_info);
        let inner = Arc::new(PassOrigin { inner: fixture, origin });
        let builder = Arc::new(CountingBuilder { calls: Mutex::new(Vec::new()) });
        let index = with_sdist_builds(inner, builder.clone());
        for _ in 0..2 {
            let metadata = index.metadata(&name, &file(filename)).unwrap();
            let text = String::from_utf8_lossy(&metadata.bytes).into_owned();
            assert_eq!(text.contains("Requires-Dist: dep>=2"), expect_build, "{filename}: {text}");
        }
        let calls = builder.calls.lock().unwrap().len();
        assert_eq!(calls, usize::from(expect_build), "{filename}: built once at most");
    }

    /// The fixture index, reporting metadata as coming from `origin`.
    struct PassOrigin {
        inner: FixtureIndex,
        origin: MetadataOrigin,
    }

    impl PackageIndex for PassOrigin {
        fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, IndexError> {
            self.inner.project(name)
        }
        fn metadata(&self, name: &PackageName, file: &DistFile) -> Result<Arc<RawMetadata>, IndexError> {
            let raw = self.inner.metadata(name, file)?;
            Ok(Arc::new(RawMetadata { bytes: raw.bytes.clone(), origin: self.origin }))
        }
    }

    const DYNAMIC: &str = "Metadata-Version: 2.1\nName: old\nVersion: 1.0\n";
    const STATIC: &str = "Metadata-Version: 2.2\nName: old\nVersion: 1.0\n";
    const DYNAMIC_22: &str = "Metadata-Version: 2.2\nName: old\nVersion: 1.0\nDynamic: Requires-Dist\n";

    #[test]
    fn sdists_with_untrusted_dependencies_are_built_once() {
        check("old-1.0.tar.gz", DYNAMIC, MetadataOrigin::SdistPkgInfo, true);
        check("old-1.0.tar.gz", DYNAMIC_22, MetadataOrigin::SdistPkgInfo, true);
        // A find-links sdist's PKG-INFO is no more trustworthy than an index's.
        check("old-1.0.zip", DYNAMIC, MetadataOrigin::Local, true);
    }

    #[test]
    fn trusted_metadata_is_passed_through() {
        check("old-1.0.tar.gz", STATIC, MetadataOrigin::SdistPkgInfo, false);
        check("old-1.0-py3-none-any.whl", DYNAMIC, MetadataOrigin::Local, false);
        check("old-1.0-py3-none-any.whl", DYNAMIC, MetadataOrigin::WheelRange, false);
    }
}
