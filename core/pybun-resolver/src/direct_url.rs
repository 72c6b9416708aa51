//! Direct URL requirements: `name @ https://host/name-1.0-py3-none-any.whl`,
//! `name @ file:///abs/path/name-1.0.tar.gz`, `name @ file:///abs/path/name`
//! (a source tree).
//!
//! A URL pins its package for the whole resolution, as with uv and pip: the
//! package has exactly one candidate, the URL's file, whose version is read
//! from its filename (a wheel's or sdist's) and whose dependencies come from
//! its metadata like any index file's. A `file:` URL that does not end in a
//! distribution filename is taken as a source tree: its metadata (asked of
//! the index port for a [`DistFile`] named `dir/`, which a building index
//! answers by building it) gives the version, and its file is then named
//! `name-version/`. Only the project's own requirements
//! may name URLs; a package's URL dependency is accepted when the project
//! requires the same URL. An archive's sha256 is taken from the URL's
//! `#sha256=` fragment, else from the index port (which fetches the file),
//! so the lock always pins the bytes; a source tree has none.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use pybun_pep::{CoreMetadata, PackageName, Req, Version, direct_url};
use pybun_ports::{CandidatePick, DistFile, IndexError, PackageIndex, ProjectFiles, RawMetadata};

use crate::ResolveRequest;
use crate::provider::{SDIST_EXTENSIONS, file_version_text};
use crate::resolve::ResolveError;

/// One direct URL requirement, as resolved to a file.
#[derive(Debug, Clone)]
pub(crate) struct DirectUrl {
    /// The distribution file; its `url` and `index` are the URL without fragment.
    pub(crate) file: DistFile,
}

/// The direct URL requirements of a request, by package name.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirectUrls {
    by_name: BTreeMap<PackageName, DirectUrl>,
}

fn invalid(requirement: &Req, reason: impl Into<String>) -> ResolveError {
    ResolveError::DirectUrl { name: requirement.name.clone(), requirement: requirement.to_string(), reason: reason.into() }
}

/// Whether `filename` has a wheel's or an sdist's extension.
fn looks_like_archive(filename: &str) -> bool {
    let lower = filename.to_ascii_lowercase();
    std::iter::once(&".whl").chain(&SDIST_EXTENSIONS).any(|ext| lower.ends_with(ext))
}

impl DirectUrls {
    /// The URL (without fragment) each root requirement pins, without IO:
    /// what a package's own URL dependency is compared with.
    pub(crate) fn root_urls(request: &ResolveRequest) -> BTreeMap<PackageName, String> {
        request
            .all_requirements()
            .filter_map(|requirement| Some((requirement.name.clone(), direct_url(requirement)?.ok()?.url)))
            .collect()
    }

    /// Check the request's URL requirements and find each one's file and hash.
    ///
    /// # Errors
    /// [`ResolveError::DirectUrl`] for a URL PyBun cannot use, or two URLs
    /// for one package; index errors while hashing a file or building a tree.
    pub(crate) fn collect(request: &ResolveRequest, index: &dyn PackageIndex) -> Result<Self, ResolveError> {
        let mut by_name: BTreeMap<PackageName, (String, DirectUrl)> = BTreeMap::new();
        for requirement in request.all_requirements() {
            let Some(parsed) = direct_url(requirement) else { continue };
            let parsed = parsed.map_err(|reason| invalid(requirement, reason))?;
            let name = &requirement.name;
            if let Some((first, known)) = by_name.get_mut(name) {
                if known.file.url != parsed.url {
                    return Err(invalid(requirement, format!("`{name}` is also required as `{first}`; a package can come from one URL only")));
                }
                if known.file.sha256.is_none() {
                    known.file.sha256 = parsed.sha256;
                } else if parsed.sha256.is_some() && parsed.sha256 != known.file.sha256 {
                    return Err(invalid(requirement, format!("`{first}` names another sha256 for the same URL")));
                }
                continue;
            }
            let filename = &parsed.filename;
            let mut file = if let Some((version, _)) = file_version_text(filename, name) {
                if Version::from_str(version).is_err() {
                    return Err(invalid(requirement, format!("`{filename}` does not name a valid version (`{version}`)")));
                }
                DistFile::new(filename.clone(), parsed.url.clone(), parsed.url.clone())
            } else if parsed.scheme == "file" && !looks_like_archive(filename) {
                if parsed.sha256.is_some() {
                    return Err(invalid(requirement, "a source tree has no sha256 to check; remove the `#sha256=`"));
                }
                source_tree(requirement, &parsed.url, filename, index)?
            } else {
                return Err(invalid(
                    requirement,
                    format!("`{filename}` is not the filename of a wheel or sdist of `{name}` (archives without a versioned filename are not supported yet)"),
                ));
            };
            file.sha256 = parsed.sha256;
            by_name.insert(name.clone(), (requirement.to_string(), DirectUrl { file }));
        }
        let mut by_name: BTreeMap<PackageName, DirectUrl> = by_name.into_iter().map(|(name, (_, url))| (name, url)).collect();
        for url in by_name.values_mut() {
            if url.file.sha256.is_some() || url.file.is_source_tree() {
                continue;
            }
            // A local file is hashed again (cheap, and it may have been rebuilt in
            // place); a remote one keeps the hash the lock pins.
            let known = request.known_hashes.get(&url.file.url).filter(|_| !url.file.url.starts_with("file:"));
            url.file.sha256 = Some(match known {
                Some(hash) => hash.clone(),
                None => index.file_sha256(&url.file)?,
            });
        }
        Ok(Self { by_name })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub(crate) fn get(&self, name: &PackageName) -> Option<&DirectUrl> {
        self.by_name.get(name)
    }
}

/// The file of a source tree at `url`: its metadata (built by the index)
/// names the version, and the file is named `name-version/`.
fn source_tree(requirement: &Req, url: &str, dirname: &str, index: &dyn PackageIndex) -> Result<DistFile, ResolveError> {
    let name = &requirement.name;
    let probe = DistFile::new(format!("{dirname}/"), url, url);
    let raw = index.metadata(name, &probe)?;
    let metadata = CoreMetadata::parse(&raw.bytes)
        .map_err(|e| invalid(requirement, format!("the metadata of the source tree `{url}` is invalid: {e}")))?;
    if metadata.name != *name {
        return Err(invalid(requirement, format!("the source tree `{url}` is the package `{}`, not `{name}`", metadata.name)));
    }
    let filename = format!("{}-{}/", name.as_ref().replace('-', "_"), metadata.version);
    Ok(DistFile::new(filename, url, url))
}

/// An index that answers for URL-pinned packages with their one file.
pub(crate) struct WithDirectUrls<'a> {
    pub(crate) inner: &'a dyn PackageIndex,
    pub(crate) urls: &'a DirectUrls,
}

impl PackageIndex for WithDirectUrls<'_> {
    fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, IndexError> {
        match self.urls.get(name) {
            Some(url) => Ok(Arc::new(ProjectFiles { name: name.clone(), files: vec![url.file.clone()] })),
            None => self.inner.project(name),
        }
    }

    fn metadata(&self, name: &PackageName, file: &DistFile) -> Result<Arc<RawMetadata>, IndexError> {
        self.inner.metadata(name, file)
    }

    fn file_sha256(&self, file: &DistFile) -> Result<String, IndexError> {
        self.inner.file_sha256(file)
    }

    fn prefetch_project(&self, name: &PackageName) {
        match self.urls.get(name) {
            Some(url) => self.inner.prefetch_metadata(name, &url.file),
            None => self.inner.prefetch_project(name),
        }
    }

    fn prefetch_metadata(&self, name: &PackageName, file: &DistFile) {
        self.inner.prefetch_metadata(name, file);
    }

    fn prefetch_candidate(&self, name: &PackageName, pick: CandidatePick) {
        match self.urls.get(name) {
            Some(url) => self.inner.prefetch_metadata(name, &url.file),
            None => self.inner.prefetch_candidate(name, pick),
        }
    }

    fn known_projects(&self) -> Vec<PackageName> {
        self.inner.known_projects()
    }
}
