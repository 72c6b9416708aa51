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
use std::sync::Arc;

use pybun_pep::{CoreMetadata, PackageName, Req, VersionOrUrl};
use pybun_ports::{CandidatePick, DistFile, IndexError, PackageIndex, ProjectFiles, RawMetadata};

use crate::ResolveRequest;
use crate::provider::file_version_text;
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

/// `url` without its fragment, and the fragment's `sha256=` value (lowercase), if any.
pub(crate) fn split_url(requirement: &Req) -> Option<(String, Option<String>)> {
    let Some(VersionOrUrl::Url(verbatim)) = &requirement.version_or_url else { return None };
    let mut url = verbatim.to_url();
    let sha256 = url.fragment().and_then(|fragment| {
        fragment.split('&').find_map(|pair| pair.strip_prefix("sha256=").map(str::to_ascii_lowercase))
    });
    url.set_fragment(None);
    Some((url.to_string(), sha256))
}

fn invalid(requirement: &Req, reason: impl Into<String>) -> ResolveError {
    ResolveError::DirectUrl { name: requirement.name.clone(), requirement: requirement.to_string(), reason: reason.into() }
}

impl DirectUrls {
    /// The URL (without fragment) each root requirement pins, without IO:
    /// what a package's own URL dependency is compared with.
    pub(crate) fn root_urls(request: &ResolveRequest) -> BTreeMap<PackageName, String> {
        request
            .all_requirements()
            .filter_map(|requirement| Some((requirement.name.clone(), split_url(requirement)?.0)))
            .collect()
    }

    /// Check the request's URL requirements and find each one's file and hash.
    ///
    /// # Errors
    /// [`ResolveError::DirectUrl`] for a URL PyBun cannot use, or two URLs
    /// for one package; index errors while hashing a file.
    pub(crate) fn collect(request: &ResolveRequest, index: &dyn PackageIndex) -> Result<Self, ResolveError> {
        let mut by_name: BTreeMap<PackageName, (String, DirectUrl)> = BTreeMap::new();
        for requirement in request.all_requirements() {
            let Some((url, sha256)) = split_url(requirement) else { continue };
            let name = &requirement.name;
            if let Some((first, known)) = by_name.get_mut(name) {
                if known.file.url != url {
                    return Err(invalid(requirement, format!("`{name}` is also required as `{first}`; a package can come from one URL only")));
                }
                if known.file.sha256.is_none() {
                    known.file.sha256 = sha256;
                } else if sha256.is_some() && sha256 != known.file.sha256 {
                    return Err(invalid(requirement, format!("`{first}` names another sha256 for the same URL")));
                }
                continue;
            }
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            if !matches!(scheme, "http" | "https" | "file") {
                return Err(invalid(requirement, format!("`{scheme}` URLs are not supported yet")));
            }
            let path = url.split(['?', '#']).next().unwrap_or(&url);
            let segment = path.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
            let filename = percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned();
            let is_archive = file_version_text(&filename, name).is_some();
            if !is_archive && scheme != "file" {
                return Err(invalid(
                    requirement,
                    format!("`{filename}` is not the filename of a wheel or sdist of `{name}`; archives without a versioned filename are not supported yet"),
                ));
            }
            let mut file = if is_archive {
                DistFile::new(filename, url.clone(), url.clone())
            } else {
                source_tree(requirement, &url, &filename, index)?
            };
            file.sha256 = sha256;
            by_name.insert(name.clone(), (requirement.to_string(), DirectUrl { file }));
        }
        let mut by_name: BTreeMap<PackageName, DirectUrl> = by_name.into_iter().map(|(name, (_, url))| (name, url)).collect();
        for url in by_name.values_mut() {
            if url.file.sha256.is_none() && !url.file.filename.ends_with('/') {
                let known = request.known_hashes.get(&url.file.url).cloned();
                url.file.sha256 = Some(match known {
                    Some(hash) => hash,
                    None => index.file_sha256(&url.file)?,
                });
            }
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
