//! The PubGrub dependency provider: versions and dependencies from the index port.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::rc::Rc;
use std::str::FromStr;

use pubgrub::{
    DependencyProvider, DerivationTree, Dependencies, External,
    PackageResolutionStatistics, SelectedDependencies,
};
use pybun_pep::{
    CoreMetadata, ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, MarkerTree,
    PackageName, Ranges, Req, TargetTags, Version, VersionOrUrl, VersionSpecifiers,
    requires_python_floor, requires_python_upward, specifiers_to_ranges,
};
use pybun_ports::{DistFile, Event, IndexError, PackageIndex, Reporter};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::direct_url::DirectUrls;
use crate::candidate::{FileFilter, GuessContext, GuessSetup, Picker, metadata_file};
use crate::options::{PrereleaseMode, ResolutionMode};
use crate::package::Node;
use crate::fork::{ForkResult, PythonFork, RootEdges};
use crate::resolve::{Edge, ResolveError, ResolveRequest, exact_pin, names_pre_release};

/// The files of one version, split by yanked status.
#[derive(Debug, Default)]
struct VersionFiles {
    /// Indices into the project's file list.
    usable: Vec<u32>,
    yanked: Vec<u32>,
}

#[derive(Debug, Default)]
struct VersionMap {
    versions: BTreeMap<Version, VersionFiles>,
    index: String,
    project: Option<std::sync::Arc<pybun_ports::ProjectFiles>>,
}

/// Why a version was passed over, for hints.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SkipReason {
    Yanked,
    PreRelease,
    NoCompatibleFile,
}

type Deps = BTreeMap<Node, Ranges<Version>>;

/// What every fork of one resolution reads alike, computed once: the version
/// maps (they depend only on the index and the options, not on the fork's
/// Python range) and the parsed metadata.
#[derive(Default)]
pub(crate) struct SharedCache {
    /// `None`: on no index.
    versions: RefCell<FxHashMap<PackageName, Option<Rc<VersionMap>>>>,
    metadata: RefCell<FxHashMap<(PackageName, Version), Rc<CoreMetadata>>>,
    /// Packages whose likely candidate's metadata was already asked for in
    /// advance (by the resolver or by the index guessing further ahead).
    guessed: std::sync::Arc<std::sync::Mutex<FxHashSet<PackageName>>>,
}

/// A requirement as written, its edge marker, and who made it.
type SeenRequirement = (String, MarkerTree, String);

pub(crate) struct Provider<'a> {
    request: &'a ResolveRequest,
    shared: &'a SharedCache,
    index: &'a dyn PackageIndex,
    reporter: &'a dyn Reporter,
    /// The Python version every candidate is checked against: the target's,
    /// or the lowest the project supports.
    pub(crate) python: Version,
    /// The project's `requires-python` floor: edge markers are simplified against it.
    python_bounds: Option<Version>,
    /// The fork's upper Python bound (exclusive), when resolving one Python range of a split.
    python_upper: Option<Version>,
    /// Versions rejected because their `Requires-Python` starts above the fork's floor: (name, version, that lower bound).
    pub(crate) python_rejections: RefCell<Vec<(PackageName, Version, Version)>>,
    marker_env: Option<MarkerEnvironment>,
    tags: Option<TargetTags>,
    direct: FxHashSet<PackageName>,
    pinned: FxHashSet<(PackageName, Version)>,
    explicit_pre: RefCell<FxHashSet<PackageName>>,
    /// The version maps this fork used (a view of `shared`).
    versions: RefCell<FxHashMap<PackageName, Rc<VersionMap>>>,
    edges: RefCell<FxHashMap<(Node, Version), Vec<Edge>>>,
    /// Requirement strings seen per dependency name, with who required them (for split diagnostics).
    requirements_seen: RefCell<FxHashMap<PackageName, Vec<SeenRequirement>>>,
    pub(crate) skipped: RefCell<BTreeMap<PackageName, BTreeSet<(Version, SkipReason)>>>,
    pub(crate) not_found: RefCell<BTreeSet<PackageName>>,
    error: RefCell<Option<ResolveError>>,
    /// What the index needs to guess candidates ahead of the resolver.
    guess_context: std::sync::Arc<GuessContext>,
    /// The URL each root direct URL requirement pins (without fragment).
    root_urls: BTreeMap<PackageName, String>,
}

impl<'a> Provider<'a> {
    pub(crate) fn new(
        request: &'a ResolveRequest,
        shared: &'a SharedCache,
        index: &'a dyn PackageIndex,
        reporter: &'a dyn Reporter,
        fork: Option<&PythonFork>,
    ) -> Self {
        let options = &request.options;
        let (python, python_bounds, marker_env, tags) = match &options.environment {
            Some(env) => {
                let platform = env.platform.unwrap_or(pybun_pep::TargetPlatform::LinuxX86_64);
                let release = env.python_version.release();
                let (major, minor) = (release.first().copied().unwrap_or(3), release.get(1).copied().unwrap_or(0));
                let short = format!("{major}.{minor}");
                let full = if release.len() >= 3 { env.python_version.to_string() } else { format!("{short}.0") };
                let marker_env = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
                    implementation_name: "cpython",
                    implementation_version: &full,
                    os_name: platform.os_name(),
                    platform_machine: platform.platform_machine(),
                    platform_python_implementation: "CPython",
                    platform_release: "",
                    platform_system: platform.platform_system(),
                    platform_version: "",
                    python_full_version: &full,
                    python_version: &short,
                    sys_platform: platform.sys_platform(),
                })
                .ok();
                let tags = env.platform.map(|platform| TargetTags { major, minor, platform });
                (Version::from_str(&full).unwrap_or_else(|_| env.python_version.clone()), None, marker_env, tags)
            }
            None => {
                let floor = request.requires_python.as_ref().and_then(requires_python_floor);
                let python = fork.map_or_else(|| floor.clone().unwrap_or_else(|| Version::new([0])), |f| f.lower.clone());
                (python, floor, None, None)
            }
        };
        let python_upper = fork.and_then(|f| f.upper.clone());
        let mut direct = FxHashSet::default();
        let mut pinned = FxHashSet::default();
        let mut explicit_pre = FxHashSet::default();
        for requirement in request.all_requirements() {
            direct.insert(requirement.name.clone());
            if let Some(version) = exact_pin(requirement) {
                pinned.insert((requirement.name.clone(), version));
            }
            if names_pre_release(requirement) {
                explicit_pre.insert(requirement.name.clone());
            }
        }
        let guess_context = std::sync::Arc::new(GuessContext::new(&GuessSetup {
            options,
            tags: tags.as_ref(),
            direct: &direct,
            explicit_pre: &explicit_pre,
            preferences: &request.preferences,
            python: &python,
            python_floor: python_bounds.as_ref().map(|_| &python),
            marker_env: marker_env.as_ref(),
            guessed: &shared.guessed,
        }));
        let root_urls = DirectUrls::root_urls(request);
        // A URL-pinned package has one candidate: the index never guesses one of its own.
        for name in root_urls.keys() {
            guess_context.claim(name);
        }
        Self {
            guess_context,
            root_urls,
            request,
            shared,
            index,
            reporter,
            python,
            python_bounds,
            python_upper,
            python_rejections: RefCell::default(),
            marker_env,
            tags,
            direct,
            pinned,
            explicit_pre: RefCell::new(explicit_pre),
            versions: RefCell::default(),
            edges: RefCell::default(),
            requirements_seen: RefCell::default(),
            skipped: RefCell::default(),
            not_found: RefCell::default(),
            error: RefCell::default(),
        }
    }

    pub(crate) fn prefetch_roots(&self) {
        for requirement in self.request.all_requirements() {
            match &requirement.version_or_url {
                _ if self.applies(requirement, None).is_none() => self.index.prefetch_project(&requirement.name),
                None => self.prefetch_candidate(&requirement.name, &Ranges::full()),
                Some(VersionOrUrl::VersionSpecifier(specifiers)) => {
                    self.prefetch_candidate(&requirement.name, &specifiers_to_ranges(specifiers));
                }
                Some(VersionOrUrl::Url(_)) => self.index.prefetch_project(&requirement.name),
            }
        }
    }

    /// A package was just required with `range`: have its project fetched
    /// and, the first time, the metadata of the version it will most
    /// probably get (guessed from the project's files as soon as they
    /// arrive, by the adapter), so that reading it later does not wait.
    fn prefetch_candidate(&self, name: &PackageName, range: &Ranges<Version>) {
        let known = self.shared.versions.borrow().contains_key(name);
        if known || !self.guess_context.claim(name) {
            self.index.prefetch_project(name);
            return;
        }
        let guess = self.guess_context.guess(name, range.clone(), self.pre_allowed(name));
        let context = std::sync::Arc::clone(&self.guess_context);
        self.index.prefetch_candidate(name, Box::new(Picker { guess, context, depth: 0 }));
    }

    pub(crate) fn take_error(&self) -> Option<ResolveError> {
        self.error.borrow_mut().take()
    }

    /// The versions of a package, fetched once.
    fn version_map(&self, name: &PackageName) -> Result<Option<Rc<VersionMap>>, ResolveError> {
        if let Some(map) = self.versions.borrow().get(name) {
            return Ok(Some(map.clone()));
        }
        if self.not_found.borrow().contains(name) {
            return Ok(None);
        }
        let cached = self.shared.versions.borrow().get(name).cloned();
        if let Some(cached) = cached {
            match &cached {
                Some(map) => {
                    self.versions.borrow_mut().insert(name.clone(), map.clone());
                }
                None => {
                    self.not_found.borrow_mut().insert(name.clone());
                }
            }
            return Ok(cached);
        }
        let project = match self.index.project(name) {
            Ok(project) => project,
            Err(IndexError::NotFound { .. }) => {
                self.not_found.borrow_mut().insert(name.clone());
                self.shared.versions.borrow_mut().insert(name.clone(), None);
                return Ok(None);
            }
            Err(error) => return Err(error.into()),
        };
        self.reporter.report(Event::ProjectFetched { name: name.clone(), files: project.files.len() });
        let filter = FileFilter::new(&self.request.options, name, self.tags.as_ref());
        let mut map = VersionMap::default();
        // Files grouped by version. A project lists thousands of wheels for a
        // few hundred versions: each version text is parsed once, and the
        // groups go into the ordered map at the end.
        let mut groups: Vec<(Version, VersionFiles)> = Vec::new();
        let mut group_of_text: FxHashMap<&str, usize> = FxHashMap::default();
        // (group, position, yanked) of every file kept, so that each group's
        // lists get their exact size at once.
        let mut kept: Vec<(u32, u32, bool)> = Vec::with_capacity(project.files.len());
        let mut sizes: Vec<(u32, u32)> = Vec::new();
        for (position, file) in project.files.iter().enumerate() {
            let Some((text, wheel)) = file_version_text(&file.filename, name) else { continue };
            let group = match group_of_text.get(text) {
                Some(&group) => group,
                None => {
                    let Ok(version) = Version::from_str(text) else { continue };
                    groups.push((version, VersionFiles::default()));
                    sizes.push((0, 0));
                    group_of_text.insert(text, groups.len() - 1);
                    groups.len() - 1
                }
            };
            if !filter.keeps(file, wheel) {
                continue;
            }
            if map.index.is_empty() {
                map.index.clone_from(&file.index);
            }
            let yanked = file.yanked.is_some();
            let size = &mut sizes[group];
            if yanked {
                size.1 += 1;
            } else {
                size.0 += 1;
            }
            kept.push((u32::try_from(group).unwrap_or(u32::MAX), u32::try_from(position).unwrap_or(u32::MAX), yanked));
        }
        for ((_, files), &(usable, yanked)) in groups.iter_mut().zip(&sizes) {
            files.usable.reserve_exact(usable as usize);
            files.yanked.reserve_exact(yanked as usize);
        }
        for (group, position, yanked) in kept {
            let files = &mut groups[group as usize].1;
            if yanked {
                files.yanked.push(position);
            } else {
                files.usable.push(position);
            }
        }
        for (version, files) in groups {
            if files.usable.is_empty() && files.yanked.is_empty() {
                continue;
            }
            match map.versions.entry(version) {
                std::collections::btree_map::Entry::Vacant(entry) => {
                    entry.insert(files);
                }
                // Two spellings of one version (`1.0` and `1.0.0`): file order, as listed.
                std::collections::btree_map::Entry::Occupied(mut entry) => {
                    let entry = entry.get_mut();
                    entry.usable.extend(files.usable);
                    entry.usable.sort_unstable();
                    entry.yanked.extend(files.yanked);
                    entry.yanked.sort_unstable();
                }
            }
        }
        map.project = Some(project);
        let map = Rc::new(map);
        self.versions.borrow_mut().insert(name.clone(), map.clone());
        self.shared.versions.borrow_mut().insert(name.clone(), Some(map.clone()));
        Ok(Some(map))
    }

    fn files_of(&self, name: &PackageName, version: &Version) -> Vec<DistFile> {
        self.with_files(name, version, |files| files.cloned().collect())
    }

    /// Call `f` with the files of a version (the usable ones, or the yanked
    /// ones of an exact pin when none is usable), without copying them.
    fn with_files<R>(&self, name: &PackageName, version: &Version, f: impl FnOnce(&mut dyn Iterator<Item = &DistFile>) -> R) -> R {
        let versions = self.versions.borrow();
        let found = versions.get(name).and_then(|map| Some((map.versions.get(version)?, map.project.as_ref()?)));
        let Some((entry, project)) = found else { return f(&mut std::iter::empty()) };
        let positions = if entry.usable.is_empty() && self.pinned.contains(&(name.clone(), version.clone())) {
            &entry.yanked
        } else {
            &entry.usable
        };
        f(&mut positions.iter().filter_map(|&i| project.files.get(i as usize)))
    }

    fn pre_allowed(&self, name: &PackageName) -> (bool, bool) {
        // (always allowed, allowed if nothing else)
        let explicit = self.explicit_pre.borrow().contains(name);
        match self.request.options.prerelease {
            PrereleaseMode::Allow => (true, true),
            PrereleaseMode::IfNecessary => (explicit, true),
            PrereleaseMode::Explicit => (explicit, false),
            PrereleaseMode::Disallow => (false, false),
        }
    }

    fn prefer_lowest(&self, name: &PackageName) -> bool {
        match self.request.options.resolution {
            ResolutionMode::Highest => false,
            ResolutionMode::Lowest => true,
            ResolutionMode::LowestDirect => self.direct.contains(name),
        }
    }

    fn choose(&self, name: &PackageName, range: &Ranges<Version>) -> Result<Option<Version>, ResolveError> {
        let Some(map) = self.version_map(name)? else { return Ok(None) };
        let (pre_always, pre_if_necessary) = self.pre_allowed(name);
        let lowest = self.prefer_lowest(name);
        let ordered: Box<dyn Iterator<Item = (&Version, &VersionFiles)>> =
            if lowest { Box::new(map.versions.iter()) } else { Box::new(map.versions.iter().rev()) };
        if let Some(preferred) = self.request.preferences.get(name) {
            let usable = map.versions.get(preferred).is_some_and(|files| !files.usable.is_empty());
            if usable && range.contains(preferred) {
                self.reporter.report(Event::VersionChosen { name: name.clone(), version: preferred.clone() });
                if let Some(file) = self.metadata_file(name, preferred) {
                    self.index.prefetch_metadata(name, &file);
                }
                return Ok(Some(preferred.clone()));
            }
        }
        let mut fallback_pre = None;
        let mut skipped = Vec::new();
        let mut chosen = None;
        for (version, files) in ordered {
            if !range.contains(version) {
                continue;
            }
            if files.usable.is_empty() {
                let pinned = self.pinned.contains(&(name.clone(), version.clone()));
                if !pinned || files.yanked.is_empty() {
                    skipped.push((version.clone(), if files.yanked.is_empty() { SkipReason::NoCompatibleFile } else { SkipReason::Yanked }));
                    continue;
                }
            }
            if version.any_prerelease() && !pre_always {
                if pre_if_necessary && fallback_pre.is_none() {
                    fallback_pre = Some(version.clone());
                }
                skipped.push((version.clone(), SkipReason::PreRelease));
                continue;
            }
            chosen = Some(version.clone());
            break;
        }
        let chosen = chosen.or(fallback_pre);
        if chosen.is_none() && !skipped.is_empty() {
            self.skipped.borrow_mut().entry(name.clone()).or_default().extend(skipped);
        }
        if let Some(version) = &chosen {
            tracing::debug!("choose {name}=={version}");
            self.reporter.report(Event::VersionChosen { name: name.clone(), version: version.clone() });
            // Start fetching its metadata now: get_dependencies comes next.
            if let Some(file) = self.metadata_file(name, version) {
                self.index.prefetch_metadata(name, &file);
            }
        }
        Ok(chosen)
    }

    /// The file to read metadata from: a wheel with a PEP 658 file, any wheel, then an sdist.
    fn metadata_file(&self, name: &PackageName, version: &Version) -> Option<DistFile> {
        self.with_files(name, version, |files| metadata_file(files).cloned())
    }

    fn core_metadata(&self, name: &PackageName, version: &Version) -> Result<Option<Rc<CoreMetadata>>, ResolveError> {
        let key = (name.clone(), version.clone());
        if let Some(metadata) = self.shared.metadata.borrow().get(&key) {
            return Ok(Some(metadata.clone()));
        }
        let Some(file) = self.metadata_file(name, version) else { return Ok(None) };
        let raw = self.index.metadata(name, &file)?;
        let invalid = |reason: String| ResolveError::InvalidMetadata {
            name: name.clone(),
            version: version.clone(),
            filename: file.filename.clone(),
            reason,
        };
        let metadata = CoreMetadata::parse(&raw.bytes).map_err(|e| invalid(e.to_string()))?;
        // An sdist's PKG-INFO, from an index or a find-links directory, is only
        // trusted when its dependencies are static (Metadata 2.2+, no dynamic
        // `Requires-Dist`); metadata of a wheel built from it comes as a download.
        let sdist_pkg_info = matches!(raw.origin, pybun_ports::MetadataOrigin::SdistPkgInfo)
            || (raw.origin == pybun_ports::MetadataOrigin::Local && !file.filename.ends_with(".whl"));
        if sdist_pkg_info && !metadata.has_static_dependencies() {
            return Err(ResolveError::DynamicSdist { name: name.clone(), version: version.clone(), filename: file.filename.clone() });
        }
        if &metadata.name != name {
            return Err(invalid(format!("the metadata names package `{}`", metadata.name)));
        }
        self.reporter.report(Event::MetadataFetched { name: name.clone(), version: version.clone() });
        let metadata = Rc::new(metadata);
        self.shared.metadata.borrow_mut().insert(key, metadata.clone());
        Ok(Some(metadata))
    }

    fn record_python_rejection(&self, name: &PackageName, version: &Version, range: &Ranges<Version>) {
        if self.marker_env.is_some() {
            return;
        }
        if let Some((Bound::Included(lower) | Bound::Excluded(lower), _)) = range.bounding_range()
            && *lower > self.python {
                self.python_rejections.borrow_mut().push((name.clone(), version.clone(), lower.clone()));
            }
    }

    /// Whether a requirement applies, and its marker as kept on the edge.
    fn applies(&self, requirement: &Req, extra: Option<&ExtraName>) -> Option<MarkerTree> {
        let marker = &requirement.marker;
        match extra {
            None => {
                if !marker.evaluate_extras(&[]) {
                    return None;
                }
            }
            Some(extra) => {
                if marker.evaluate_extras(&[]) || !marker.evaluate_extras(std::slice::from_ref(extra)) {
                    return None;
                }
            }
        }
        let mut edge_marker = match extra {
            Some(extra) => marker.clone().simplify_extras(std::slice::from_ref(extra)),
            None => marker.clone(),
        };
        if let Some(env) = &self.marker_env {
            let extras: Vec<ExtraName> = extra.into_iter().cloned().collect();
            if !marker.evaluate(env, &extras) {
                return None;
            }
        } else if let Some(floor) = &self.python_bounds {
            let upper = self.python_upper.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
            let in_fork = edge_marker.clone().simplify_python_versions(Bound::Included(&self.python), upper);
            if in_fork.is_false() {
                return None;
            }
            edge_marker = edge_marker.simplify_python_versions(Bound::Included(floor), Bound::Unbounded);
            if edge_marker.is_false() {
                return None;
            }
        }
        Some(edge_marker)
    }

    /// Turn requirements into PubGrub constraints and edges.
    fn add_requirements<'r>(
        &self,
        who: &Node,
        version: &Version,
        requirements: impl Iterator<Item = &'r Req>,
        extra: Option<&ExtraName>,
        deps: &mut Deps,
        edges: &mut Vec<Edge>,
    ) -> Result<Option<String>, ResolveError> {
        let mut per_name: BTreeMap<PackageName, Vec<(Ranges<Version>, MarkerTree, String)>> = BTreeMap::new();
        for requirement in requirements {
            let Some(marker) = self.applies(requirement, extra) else { continue };
            let range = match &requirement.version_or_url {
                None => Ranges::full(),
                Some(VersionOrUrl::VersionSpecifier(specifiers)) => specifiers_to_ranges(specifiers),
                // The root's URLs were checked and pinned before resolving (the
                // index answers with the URL's one file); a package may name
                // one of them, but no URL of its own.
                Some(VersionOrUrl::Url(_)) => {
                    let url = pybun_pep::direct_url(requirement).and_then(Result::ok).map(|parsed| parsed.url);
                    if !matches!(who, Node::Root(_)) && url.as_ref() != self.root_urls.get(&requirement.name) {
                        return Err(ResolveError::DirectUrl {
                            name: requirement.name.clone(),
                            requirement: requirement.to_string(),
                            reason: format!(
                                "`{who}=={version}` depends on it by URL, and a package's URL dependency is used only when the project requires the same URL"
                            ),
                        });
                    }
                    Ranges::full()
                }
            };
            if names_pre_release(requirement) {
                self.explicit_pre.borrow_mut().insert(requirement.name.clone());
            }
            if who.name() == Some(&requirement.name) && extras_of(requirement).is_empty() {
                // A package that depends on itself (PubGrub cannot express
                // it): satisfied when its own version is in range, else unusable.
                if range.contains(version) {
                    continue;
                }
                return Ok(Some(format!("it depends on itself with `{requirement}`")));
            }
            let dep = Node::Package(requirement.name.clone());
            let mut extras = requirement.extras.clone();
            extras.sort();
            for extra in &extras {
                let node = Node::Extra(requirement.name.clone(), extra.clone());
                intersect(deps, node, range.clone());
            }
            intersect(deps, dep, range.clone());
            self.prefetch_candidate(&requirement.name, &range);
            per_name
                .entry(requirement.name.clone())
                .or_default()
                .push((range, marker.clone(), requirement.to_string()));
            edges.push(Edge { name: requirement.name.clone(), extras, marker, version: None });
        }
        let who_text = match who {
            Node::Root(_) => "your project".to_string(),
            other => format!("{other}=={version}"),
        };
        for (name, list) in per_name {
            // Two requirements on one package under disjoint markers whose
            // ranges do not overlap need a split (fork) resolution.
            for (i, (range_a, marker_a, text_a)) in list.iter().enumerate() {
                for (range_b, marker_b, text_b) in &list[i + 1..] {
                    if marker_a.is_disjoint(marker_b) && range_a.intersection(range_b) == Ranges::empty() {
                        return Err(ResolveError::SplitNeeded {
                            package: name.clone(),
                            requirements: vec![text_a.clone(), text_b.clone()],
                            required_by: who_text.clone(),
                        });
                    }
                }
            }
            let mut seen = self.requirements_seen.borrow_mut();
            let entry = seen.entry(name).or_default();
            for (_, marker, text) in list {
                entry.push((text, marker, who_text.clone()));
            }
        }
        Ok(None)
    }

    fn dependencies(&self, node: &Node, version: &Version) -> Result<Dependencies<Node, Ranges<Version>, String>, ResolveError> {
        let mut deps = Deps::default();
        let mut edges = Vec::new();
        match node {
            Node::Root(_) => {
                let request = self.request;
                if let Some(reason) = self.add_requirements(node, version, request.all_requirements(), None, &mut deps, &mut edges)? {
                    return Ok(Dependencies::Unavailable(reason));
                }
            }
            Node::Python => {}
            Node::Package(name) | Node::Extra(name, _) => {
                let extra = match node {
                    Node::Extra(_, extra) => Some(extra),
                    _ => None,
                };
                // Files announce Requires-Python: when none of them fits, say so without fetching metadata.
                let (file_count, file_python) = self.with_files(name, version, |files| {
                    let mut count = 0;
                    let python: Vec<VersionSpecifiers> = files
                        .inspect(|_| count += 1)
                        .filter_map(|f| f.requires_python.as_deref().and_then(|s| VersionSpecifiers::from_str(s).ok()))
                        .collect();
                    (count, python)
                });
                if file_count != 0 && file_python.len() == file_count {
                    let fits = file_python.iter().any(|spec| requires_python_upward(spec).contains(&self.python));
                    if !fits {
                        let range = requires_python_upward(&file_python[0]);
                        self.record_python_rejection(name, version, &range);
                        deps.insert(Node::Python, range);
                        return Ok(Dependencies::Available(deps.into_iter().collect()));
                    }
                }
                let Some(metadata) = self.core_metadata(name, version)? else {
                    return Ok(Dependencies::Unavailable("it has no usable distribution file".to_string()));
                };
                if let Some(requires_python) = &metadata.requires_python {
                    let range = requires_python_upward(requires_python);
                    if !range.contains(&self.python) {
                        self.record_python_rejection(name, version, &range);
                        deps.insert(Node::Python, range);
                        return Ok(Dependencies::Available(deps.into_iter().collect()));
                    }
                }
                if let Some(extra) = extra {
                    deps.insert(Node::Package(name.clone()), Ranges::singleton(version.clone()));
                    if !metadata.provides_extras.is_empty() && !metadata.provides_extras.contains(extra) {
                        self.reporter.report(Event::Warning(
                            pybun_ports::diagnostics::Diagnostic::warning(
                                pybun_ports::diagnostics::Code::InvalidMetadata,
                                format!("`{name}` {version} does not have an extra named `{extra}`"),
                            ),
                        ));
                    }
                }
                if let Some(reason) = self.add_requirements(node, version, metadata.requires_dist.iter(), extra, &mut deps, &mut edges)? {
                    return Ok(Dependencies::Unavailable(reason));
                }
            }
        }
        self.edges.borrow_mut().insert((node.clone(), version.clone()), edges);
        Ok(Dependencies::Available(deps.into_iter().collect()))
    }

    /// The selected versions, edges and files of this (fork's) resolution.
    pub(crate) fn into_fork(self, selection: &SelectedDependencies<Node, Version>, fork: PythonFork) -> ForkResult {
        let mut versions = BTreeMap::new();
        let mut extras = BTreeSet::new();
        let mut files = BTreeMap::new();
        for (node, version) in selection.iter() {
            match node {
                Node::Package(name) => {
                    let index = self.versions.borrow().get(name).map(|m| m.index.clone()).unwrap_or_default();
                    files.insert(name.clone(), (index, self.files_of(name, version)));
                    versions.insert(name.clone(), version.clone());
                }
                Node::Extra(name, extra) => {
                    extras.insert((name.clone(), extra.clone()));
                }
                Node::Root(_) | Node::Python => {}
            }
        }
        let section = |requirements: &[Req]| -> Vec<Edge> {
            requirements
                .iter()
                .filter_map(|requirement| {
                    let marker = self.applies(requirement, None)?;
                    let mut extras = requirement.extras.clone();
                    extras.sort();
                    Some(Edge { name: requirement.name.clone(), extras, marker, version: None })
                })
                .collect()
        };
        let request = self.request;
        let root = RootEdges {
            dependencies: section(&request.dependencies),
            optional_dependencies: request.optional_dependencies.iter().map(|(e, l)| (e.clone(), section(l))).collect(),
            dependency_groups: request.dependency_groups.iter().map(|(g, l)| (g.clone(), section(l))).collect(),
        };
        ForkResult {
            fork,
            versions,
            extras,
            files,
            edges: self.edges.take(),
            root,
            rejections: self.python_rejections.take(),
        }
    }

    /// A package that exists on no index and is needed: report it directly.
    pub(crate) fn missing_package(&self, tree: &DerivationTree<Node, Ranges<Version>, String>) -> Option<ResolveError> {
        let not_found = self.not_found.borrow();
        let found = tree.packages().into_iter().find_map(|node| match node {
            Node::Package(name) | Node::Extra(name, _) if not_found.contains(name) => Some(name.clone()),
            _ => None,
        });
        let name = found?;
        let required_by = self
            .requirements_seen
            .borrow()
            .get(&name)
            .map(|list| list.iter().map(|(_, _, who)| who.clone()).collect())
            .unwrap_or_default();
        Some(ResolveError::NotFound { name, required_by })
    }

    /// A conflict between requirements on one package made under disjoint markers.
    pub(crate) fn split_needed(&self, tree: &DerivationTree<Node, Ranges<Version>, String>) -> Option<ResolveError> {
        let seen = self.requirements_seen.borrow();
        let mut result = None;
        for node in tree.packages() {
            let Node::Package(name) = node else { continue };
            let Some(list) = seen.get(name) else { continue };
            for (i, (text_a, marker_a, who_a)) in list.iter().enumerate() {
                for (text_b, marker_b, _) in &list[i + 1..] {
                    if !marker_a.is_true() && !marker_b.is_true() && marker_a.is_disjoint(marker_b) && result.is_none() {
                        result = Some(ResolveError::SplitNeeded {
                            package: name.clone(),
                            requirements: vec![text_a.clone(), text_b.clone()],
                            required_by: who_a.clone(),
                        });
                    }
                }
            }
        }
        result
    }
}

/// The version text of a distribution file of package `name`, not yet
/// parsed, and whether it is a wheel; `None` for a file of another package
/// or a malformed name. Read without allocating (this runs for every file of
/// every project); `SdistFilename::parse` and `Version::from_str` on the text
/// give the same files and versions.
pub(crate) fn file_version_text<'f>(filename: &'f str, name: &PackageName) -> Option<(&'f str, bool)> {
    let Some(stem) = filename.strip_suffix(".whl") else {
        // A source tree (`name-1.0/`, see `DistFile`) reads like an sdist.
        let stem = filename.strip_suffix('/').or_else(|| SDIST_EXTENSIONS.iter().find_map(|ext| filename.strip_suffix(ext)))?;
        // Sdist names are ambiguous (`a-b-1.0`): the dash after the package's
        // name, which at most one dash can be (a name never ends with one).
        let (dash, _) = stem.match_indices('-').find(|&(dash, _)| same_name(&stem[..dash], name.as_ref()))?;
        return Some((&stem[dash + 1..], false));
    };
    // name-version-[build-]python-abi-platform: 4 or 5 dashes.
    let dashes = stem.bytes().filter(|&b| b == b'-').count();
    if !(4..=5).contains(&dashes) {
        return None;
    }
    let (project, rest) = stem.split_once('-')?;
    let (version, _) = rest.split_once('-')?;
    if !same_name(project, name.as_ref()) {
        return None;
    }
    Some((version, true))
}

/// As `SdistFilename::parse` accepts them, in its order.
pub(crate) const SDIST_EXTENSIONS: [&str; 6] = [".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar"];

/// The version in a distribution filename of package `name`, and whether it is a
/// wheel; `None` for files of another package or names that do not parse.
#[cfg(test)]
fn file_version(filename: &str, name: &PackageName) -> Option<(Version, bool)> {
    let (text, wheel) = file_version_text(filename, name)?;
    Some((Version::from_str(text).ok()?, wheel))
}

/// Whether `text` normalizes (PEP 503) to the already normalized `normalized`.
fn same_name(text: &str, normalized: &str) -> bool {
    let mut expected = normalized.bytes();
    let mut bytes = text.bytes().peekable();
    while let Some(byte) = bytes.next() {
        let byte = if matches!(byte, b'-' | b'_' | b'.') {
            while bytes.peek().is_some_and(|b| matches!(b, b'-' | b'_' | b'.')) {
                bytes.next();
            }
            b'-'
        } else {
            byte.to_ascii_lowercase()
        };
        if expected.next() != Some(byte) {
            return false;
        }
    }
    expected.next().is_none()
}

fn extras_of(requirement: &Req) -> &[ExtraName] {
    &requirement.extras
}

fn intersect(deps: &mut Deps, node: Node, range: Ranges<Version>) {
    match deps.get_mut(&node) {
        Some(existing) => *existing = existing.intersection(&range),
        None => {
            deps.insert(node, range);
        }
    }
}

pub(crate) fn visit_externals(
    tree: &DerivationTree<Node, Ranges<Version>, String>,
    f: &mut impl FnMut(&External<Node, Ranges<Version>, String>),
) {
    match tree {
        DerivationTree::External(external) => f(external),
        DerivationTree::Derived(derived) => {
            visit_externals(&derived.cause1, f);
            visit_externals(&derived.cause2, f);
        }
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Node;
    type V = Version;
    type VS = Ranges<Version>;
    type M = String;
    type Priority = (u32, std::cmp::Reverse<u32>, u8);
    type Err = ResolveError;

    fn prioritize(&self, package: &Node, range: &Ranges<Version>, stats: &PackageResolutionStatistics) -> Self::Priority {
        // Python and exact pins first, then the most conflicting, then direct requirements.
        let kind = match package {
            Node::Root(_) | Node::Python => 3,
            _ if range.as_singleton().is_some() => 2,
            Node::Package(name) | Node::Extra(name, _) if self.direct.contains(name) => 1,
            _ => 0,
        };
        (stats.conflict_count(), std::cmp::Reverse(0), kind)
    }

    fn choose_version(&self, package: &Node, range: &Ranges<Version>) -> Result<Option<Version>, ResolveError> {
        match package {
            Node::Root(_) => Ok(Some(Version::new([0]))),
            Node::Python => Ok(range.contains(&self.python).then(|| self.python.clone())),
            Node::Package(name) | Node::Extra(name, _) => {
                let result = self.choose(name, range);
                if let Err(error) = &result {
                    *self.error.borrow_mut() = Some(error.clone());
                }
                result
            }
        }
    }

    fn get_dependencies(&self, package: &Node, version: &Version) -> Result<Dependencies<Node, Ranges<Version>, String>, ResolveError> {
        self.dependencies(package, version)
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_matched_to_their_package() {
        let name = PackageName::from_str("zope-interface").unwrap();
        let check = |filename: &str| file_version(filename, &name).map(|(v, wheel)| (v.to_string(), wheel));
        assert_eq!(check("zope.interface-6.0-cp312-cp312-manylinux_2_17_x86_64.whl"), Some(("6.0".into(), true)));
        assert_eq!(check("Zope_Interface-6.1-1-py3-none-any.whl"), Some(("6.1".into(), true)));
        assert_eq!(check("zope.interface-6.0.tar.gz"), Some(("6.0".into(), false)));
        assert_eq!(check("zope-interfaces-6.0-py3-none-any.whl"), None);
        assert_eq!(check("zope_interface-6.0-py3-none.whl"), None);
        assert_eq!(check("zope_interface-notaversion-py3-none-any.whl"), None);
        assert!(same_name("A__b.-C", "a-b-c"));
        assert!(!same_name("ab", "a-b"));
    }

    #[test]
    fn sdist_versions_are_read_as_sdist_filename_parse_reads_them() {
        let filenames = [
            "a-b-1.0.tar.gz", "a-1.0.tar.gz", "A_B-1.0.zip", "a.b-2.0.tar.bz2", "a-b-1.0-2.tar.xz", "a--b-1.0.tgz",
            "a-b-.tar.gz", "-a-b-1.0.tar", "a-b-1.0.txt", "a-b-c-1.0.tar.gz", "a-b_1.0.tar.gz", "a-b-1.0.tar.gz.tar",
            "a-b-v1.tar.gz", "a-b-1!2.0.post1.tar.gz", "a-b-1.0+local.zip", "é-1.0.tar.gz", "a-b", ".tar.gz",
        ];
        for package in ["a", "a-b", "a-b-c", "b"] {
            let name = PackageName::from_str(package).unwrap();
            for filename in filenames {
                let expected = pybun_pep::SdistFilename::parse(filename, &name).ok().map(|s| (s.version, false));
                assert_eq!(file_version(filename, &name), expected, "{filename} as {package}");
            }
        }
    }
}
