//! In-memory fakes of every port.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use pybun_pep::PackageName;

use crate::{
    DistFile, Event, FileSystem, IndexError, MetadataOrigin, PackageIndex, ProcessOutput,
    ProcessRunner, ProcessSpec, ProjectFiles, RawMetadata, Reporter,
};

/// A filesystem held in memory.
#[derive(Debug, Default)]
pub struct MemoryFs {
    files: Mutex<BTreeMap<PathBuf, Vec<u8>>>,
}

impl MemoryFs {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a file.
    pub fn insert(&self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) {
        self.files.lock().unwrap_or_else(PoisonError::into_inner).insert(path.into(), contents.into());
    }

    /// A file's content, if present.
    #[must_use]
    pub fn get(&self, path: &Path) -> Option<Vec<u8>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner).get(path).cloned()
    }
}

impl FileSystem for MemoryFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.get(path).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, path.display().to_string()))
    }

    fn write_atomic(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        self.insert(path, contents);
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        files.keys().any(|p| p == path || p.starts_with(path))
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner).keys().any(|p| p != path && p.starts_with(path))
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|p, _| !p.starts_with(path));
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner).remove(path);
        Ok(())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let mut entries: Vec<PathBuf> = files
            .keys()
            .filter_map(|p| p.strip_prefix(path).ok().and_then(|rest| rest.components().next()))
            .map(|first| path.join(first))
            .collect();
        entries.dedup();
        Ok(entries)
    }
}

/// An index held in memory: projects with files, and metadata per filename.
#[derive(Debug, Default)]
pub struct FixtureIndex {
    projects: HashMap<PackageName, Arc<ProjectFiles>>,
    metadata: HashMap<String, Arc<RawMetadata>>,
    /// sha256 of direct URL files, by URL.
    hashes: HashMap<String, String>,
    /// Metadata of direct URL files (archives or source trees), by URL.
    by_url: HashMap<String, Arc<RawMetadata>>,
    requests: Mutex<Vec<String>>,
}

impl FixtureIndex {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a file of a project, with its metadata text (served as a PEP 658 file).
    pub fn add_file(&mut self, name: &PackageName, file: DistFile, metadata: &str) {
        self.add_file_from(name, file, metadata, MetadataOrigin::Pep658);
    }

    /// Add a file of a project, with its metadata text served as coming from `origin`.
    pub fn add_file_from(&mut self, name: &PackageName, file: DistFile, metadata: &str, origin: MetadataOrigin) {
        self.metadata
            .insert(file.filename.clone(), Arc::new(RawMetadata { bytes: metadata.as_bytes().to_vec(), origin }));
        let project = self
            .projects
            .entry(name.clone())
            .or_insert_with(|| Arc::new(ProjectFiles { name: name.clone(), files: Vec::new() }));
        Arc::make_mut(project).files.push(file);
    }

    /// A file (or source tree) reachable only by its URL (a direct URL
    /// requirement), with its metadata text and the sha256
    /// [`PackageIndex::file_sha256`] gives.
    pub fn add_url_file(&mut self, url: &str, metadata: &str, sha256: &str) {
        self.by_url
            .insert(url.to_string(), Arc::new(RawMetadata { bytes: metadata.as_bytes().to_vec(), origin: MetadataOrigin::WheelDownload }));
        self.hashes.insert(url.to_string(), sha256.to_string());
    }

    /// Every request seen, in order (`project:NAME` or `metadata:FILENAME`).
    #[must_use]
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl PackageIndex for FixtureIndex {
    fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, IndexError> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).push(format!("project:{name}"));
        self.projects.get(name).cloned().ok_or_else(|| IndexError::NotFound { name: name.clone() })
    }

    fn metadata(&self, _name: &PackageName, file: &DistFile) -> Result<Arc<RawMetadata>, IndexError> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("metadata:{}", file.filename));
        let known = self.by_url.get(&file.url).or_else(|| self.metadata.get(&file.filename));
        known.cloned().ok_or_else(|| IndexError::InvalidArchive {
            filename: file.filename.clone(),
            reason: "no metadata in the fixture".to_string(),
        })
    }

    fn file_sha256(&self, file: &DistFile) -> Result<String, IndexError> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).push(format!("hash:{}", file.url));
        self.hashes.get(&file.url).cloned().ok_or_else(|| IndexError::Unreachable {
            url: file.url.clone(),
            reason: "not in the fixture".to_string(),
        })
    }
}

/// Records every event.
#[derive(Debug, Default)]
pub struct RecordingReporter {
    events: Mutex<Vec<Event>>,
}

impl RecordingReporter {
    #[must_use]
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Reporter for RecordingReporter {
    fn report(&self, event: Event) {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).push(event);
    }
}

/// Answers every process with a scripted output, recording the specs.
#[derive(Debug, Default)]
pub struct ScriptedProcess {
    pub outputs: Mutex<Vec<ProcessOutput>>,
    pub seen: Mutex<Vec<ProcessSpec>>,
}

impl ProcessRunner for ScriptedProcess {
    fn run(&self, spec: &ProcessSpec) -> io::Result<ProcessOutput> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).push(spec.clone());
        let mut outputs = self.outputs.lock().unwrap_or_else(PoisonError::into_inner);
        if outputs.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no scripted output left"));
        }
        Ok(outputs.remove(0))
    }
}
