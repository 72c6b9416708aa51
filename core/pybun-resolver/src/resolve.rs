//! The resolution entry point and its result types.

use std::collections::{BTreeMap, BTreeSet};

use pubgrub::PubGrubError;
use pybun_pep::{ExtraName, MarkerTree, PackageName, Req, Version, VersionSpecifiers};
use pybun_ports::{DistFile, Event, IndexError, PackageIndex, Reporter};

use crate::direct_url::{DirectUrls, WithDirectUrls};
use crate::fork::{self, ForkResult, PythonFork};
use crate::options::ResolveOptions;
use crate::package::Node;
use crate::provider::{Provider, SharedCache};
use crate::report::{ConflictReport, build_report};

/// What to resolve.
#[derive(Debug, Clone, Default)]
pub struct ResolveRequest {
    /// The project's name (the root of the graph), for messages.
    pub project: String,
    /// `[project].dependencies`.
    pub dependencies: Vec<Req>,
    /// `[project.optional-dependencies]`: all extras are resolved together.
    pub optional_dependencies: BTreeMap<ExtraName, Vec<Req>>,
    /// PEP 735 groups (include-group already expanded): all resolved together.
    pub dependency_groups: BTreeMap<String, Vec<Req>>,
    pub requires_python: Option<VersionSpecifiers>,
    pub options: ResolveOptions,
    /// Versions to keep when still allowed (from an existing lock).
    pub preferences: BTreeMap<PackageName, Version>,
    /// sha256 (hex) of direct URL files an existing lock already pins, by
    /// URL (without fragment): not fetched again to hash them.
    pub known_hashes: BTreeMap<String, String>,
}

impl ResolveRequest {
    /// The names of every root requirement.
    #[must_use]
    pub fn all_names(&self) -> Vec<PackageName> {
        self.all_requirements().map(|r| r.name.clone()).collect()
    }

    /// Every root requirement (dependencies, extras, groups).
    pub(crate) fn all_requirements(&self) -> impl Iterator<Item = &Req> {
        self.dependencies
            .iter()
            .chain(self.optional_dependencies.values().flatten())
            .chain(self.dependency_groups.values().flatten())
    }
}

/// A dependency edge of the result: `name[extras] ; marker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub name: PackageName,
    pub extras: Vec<ExtraName>,
    /// Always-true when unconditional. Simplified against `requires-python`.
    pub marker: MarkerTree,
    /// Set when the graph holds several versions of `name` (Python forks): the one this edge means.
    pub version: Option<Version>,
}

/// One chosen package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPackage {
    pub name: PackageName,
    pub version: Version,
    /// The index (or find-links location) the files came from.
    pub index: String,
    /// Every file of the version (yanked ones only when the version was pinned).
    pub files: Vec<DistFile>,
    pub dependencies: Vec<Edge>,
    /// Only the extras that something in the graph activates.
    pub optional_dependencies: BTreeMap<ExtraName, Vec<Edge>>,
    /// When the graph holds several versions of this package: the Pythons this one serves.
    pub python_marker: Option<MarkerTree>,
    /// The URL (without fragment) when a direct URL requirement pinned this
    /// package; its one file is that URL's.
    pub direct_url: Option<String>,
}

/// The resolved graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Sorted by name.
    pub packages: Vec<ResolvedPackage>,
    /// The project's own edges, per section (markers simplified like every other edge).
    pub project_dependencies: Vec<Edge>,
    pub project_optional_dependencies: BTreeMap<ExtraName, Vec<Edge>>,
    pub project_dependency_groups: BTreeMap<String, Vec<Edge>>,
    /// The Python ranges resolved separately (empty when there was one).
    pub python_forks: Vec<MarkerTree>,
}

/// Why resolution failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    /// No set of versions satisfies the requirements.
    #[error("no solution")]
    NoSolution(Box<ConflictReport>),
    /// A package that does not exist on any index.
    #[error("package `{name}` was not found")]
    NotFound { name: PackageName, required_by: Vec<String> },
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A distribution's metadata is invalid.
    #[error("invalid metadata for `{name}` {version} (`{filename}`): {reason}")]
    InvalidMetadata { name: PackageName, version: Version, filename: String, reason: String },
    /// Only an sdist with dynamic dependencies exists: a build would be needed.
    #[error("`{filename}` declares its dependencies as dynamic; building sdists is not supported yet")]
    DynamicSdist { name: PackageName, version: Version, filename: String },
    /// A direct URL requirement PyBun cannot use (see `direct_url`).
    #[error("cannot use `{requirement}`: {reason}")]
    DirectUrl { name: PackageName, requirement: String, reason: String },
    /// Different platforms need different versions of a package.
    #[error("`{package}` needs different versions on different platforms")]
    SplitNeeded { package: PackageName, requirements: Vec<String>, required_by: String },
}

/// Resolve a project's requirements against the index.
///
/// # Errors
/// See [`ResolveError`].
pub fn resolve(
    request: &ResolveRequest,
    index: &dyn PackageIndex,
    reporter: &dyn Reporter,
) -> Result<Resolution, ResolveError> {
    let requirements = request.all_requirements().count();
    reporter.report(Event::ResolveStarted { requirements });
    let urls = DirectUrls::collect(request, index)?;
    let mut resolution = if urls.is_empty() {
        resolve_universe(request, index, reporter)?
    } else {
        resolve_universe(request, &WithDirectUrls { inner: index, urls: &urls }, reporter)?
    };
    for package in &mut resolution.packages {
        package.direct_url = urls.get(&package.name).map(|url| url.file.url.clone());
    }
    Ok(resolution)
}

fn resolve_universe(
    request: &ResolveRequest,
    index: &dyn PackageIndex,
    reporter: &dyn Reporter,
) -> Result<Resolution, ResolveError> {
    let shared = SharedCache::default();
    if request.options.environment.is_some() {
        let result = resolve_fork(request, &shared, index, reporter, None)?;
        return Ok(fork::merge(&[result], None));
    }
    let floor = request.requires_python.as_ref().and_then(pybun_pep::requires_python_floor);
    // An upper bound in `requires-python` (`<3.12`) caps the range: nothing above it needs serving.
    let ceiling = request.requires_python.as_ref().and_then(|spec| {
        match pybun_pep::specifiers_to_ranges(spec).bounding_range()?.1 {
            std::ops::Bound::Excluded(v) | std::ops::Bound::Included(v) => Some(v.clone()),
            std::ops::Bound::Unbounded => None,
        }
    });
    let mut forks = vec![PythonFork { lower: floor.clone().unwrap_or_else(|| Version::new([0])), upper: ceiling }];
    let mut results = vec![resolve_fork(request, &shared, index, reporter, forks.first())?];
    // Split where a newer version needs a newer Python, a few rounds at most.
    for _ in 0..4 {
        let points: BTreeSet<Version> = results.iter().flat_map(fork::split_points).collect();
        if points.is_empty() || forks.len() >= MAX_FORKS {
            break;
        }
        let split = fork::split(&forks, &points);
        let attempt: Result<Vec<ForkResult>, ResolveError> =
            split.iter().map(|f| resolve_fork(request, &shared, index, reporter, Some(f))).collect();
        match attempt {
            Ok(split_results) => {
                tracing::debug!(forks = split.len(), "split resolution by Python version");
                forks = split;
                results = split_results;
            }
            // A split that cannot be resolved: keep the lock that serves every Python.
            Err(_) => break,
        }
    }
    Ok(fork::merge(&results, floor.as_ref()))
}

/// At most this many Python ranges.
const MAX_FORKS: usize = 8;

fn resolve_fork(
    request: &ResolveRequest,
    shared: &SharedCache,
    index: &dyn PackageIndex,
    reporter: &dyn Reporter,
    fork: Option<&PythonFork>,
) -> Result<ForkResult, ResolveError> {
    let provider = Provider::new(request, shared, index, reporter, fork);
    provider.prefetch_roots();
    let root = Node::Root(request.project.clone());
    match pubgrub::resolve(&provider, root, Version::new([0])) {
        Ok(selection) => {
            let fork = fork.cloned().unwrap_or(PythonFork { lower: provider.python.clone(), upper: None });
            Ok(provider.into_fork(&selection, fork))
        }
        Err(PubGrubError::NoSolution(mut tree)) => {
            if let Some(error) = provider.take_error() {
                return Err(error);
            }
            tree.collapse_no_versions();
            if let Some(not_found) = provider.missing_package(&tree) {
                return Err(not_found);
            }
            if let Some(split) = provider.split_needed(&tree) {
                return Err(split);
            }
            let report = build_report(&tree, &provider);
            Err(ResolveError::NoSolution(Box::new(report)))
        }
        Err(PubGrubError::ErrorChoosingVersion { source, .. })
        | Err(PubGrubError::ErrorRetrievingDependencies { source, .. })
        | Err(PubGrubError::ErrorInShouldCancel(source)) => Err(source),
    }
}

/// Names with a pre-release in any of the requirement's specifiers.
pub(crate) fn names_pre_release(requirement: &Req) -> bool {
    match &requirement.version_or_url {
        Some(pybun_pep::VersionOrUrl::VersionSpecifier(specifiers)) => {
            specifiers.iter().any(|s| s.version().any_prerelease())
        }
        _ => false,
    }
}

/// Exact pins (`==V` / `===V`) of a requirement.
pub(crate) fn exact_pin(requirement: &Req) -> Option<Version> {
    match &requirement.version_or_url {
        Some(pybun_pep::VersionOrUrl::VersionSpecifier(specifiers)) => specifiers.iter().find_map(|s| {
            matches!(s.operator(), pybun_pep::Operator::Equal | pybun_pep::Operator::ExactEqual)
                .then(|| s.version().clone())
        }),
        _ => None,
    }
}

