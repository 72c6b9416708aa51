//! Which files the resolver may use, which file it reads a version's
//! metadata from, and a guess, made from a project's files alone, at the
//! version it will try first (so that an adapter can fetch that metadata as
//! soon as the project's page arrives, before the resolver asks).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use pybun_pep::{
    CoreMetadata, MarkerEnvironment, MarkerTree, PackageName, Ranges, TargetTags, Version, VersionOrUrl,
    VersionSpecifiers, requires_python_upward, specifiers_to_ranges,
};
use pybun_ports::{CandidatePick, CandidatePicker, DistFile, ProjectFiles, RawMetadata};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::options::{PrereleaseMode, ResolutionMode, ResolveOptions};
use crate::provider::file_version_text;
use crate::resolve::names_pre_release;

/// How many dependency levels the index may guess ahead of the resolver
/// (each from the guessed metadata of the level above).
const MAX_DEPTH: u8 = 3;

/// The per-package file rules of the options: upload cut-off, no-binary,
/// no-build, and the target's wheel tags.
#[derive(Debug, Clone)]
pub(crate) struct FileFilter {
    exclude_newer: Option<jiff::Timestamp>,
    no_binary: bool,
    no_build: bool,
    tags: Option<TargetTags>,
}

impl FileFilter {
    pub(crate) fn new(options: &ResolveOptions, name: &PackageName, tags: Option<&TargetTags>) -> Self {
        Self {
            exclude_newer: options.exclude_newer,
            no_binary: options.no_binary(name),
            no_build: options.no_build(name),
            tags: tags.cloned(),
        }
    }

    /// Whether a file (a wheel when `wheel`) of the package may be used, yanked or not.
    pub(crate) fn keeps(&self, file: &DistFile, wheel: bool) -> bool {
        if let (Some(cutoff), Some(uploaded)) = (self.exclude_newer, &file.upload_time)
            && let Ok(uploaded) = jiff::Timestamp::from_str(uploaded)
            && uploaded > cutoff
        {
            return false;
        }
        if wheel {
            if self.no_binary {
                return false;
            }
            if let Some(tags) = &self.tags {
                return pybun_pep::WheelFilename::from_str(&file.filename).is_ok_and(|w| tags.is_compatible(&w));
            }
            true
        } else {
            !self.no_build
        }
    }
}

/// The file to read a version's metadata from: a wheel with a PEP 658 file,
/// any wheel, an sdist with one, then any sdist; the first by name among equals.
pub(crate) fn metadata_file<'f>(files: impl Iterator<Item = &'f DistFile>) -> Option<&'f DistFile> {
    let rank = |file: &DistFile| {
        let wheel = file.filename.ends_with(".whl");
        match (wheel, file.has_metadata) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 3,
        }
    };
    files.min_by_key(|file| (rank(file), file.filename.as_str()))
}

/// What the resolver would choose for a package it has not looked at yet,
/// as far as the project's files and one requirement's range tell: the
/// preferred (locked) version when usable and in range, else the
/// highest (lowest) version in range with non-yanked usable files, not a
/// pre-release unless allowed, and whose files do not all announce a
/// `Requires-Python` above the Python resolved for. Only a guess: the
/// resolver may learn more constraints before it gets to the package.
#[derive(Debug, Clone)]
pub(crate) struct CandidateGuess {
    pub(crate) range: Ranges<Version>,
    pub(crate) filter: FileFilter,
    /// Pre-releases always allowed / allowed when nothing else is in range.
    pub(crate) pre_always: bool,
    pub(crate) pre_if_necessary: bool,
    pub(crate) lowest: bool,
    pub(crate) preferred: Option<Version>,
    pub(crate) python: Version,
}

impl CandidateGuess {
    /// The file whose metadata the resolver will probably read first.
    pub(crate) fn pick<'p>(&self, project: &'p ProjectFiles) -> Option<&'p DistFile> {
        // Each distinct version text parsed once; `None`: unparsable or out of range.
        let mut group_of_text: FxHashMap<&str, Option<usize>> = FxHashMap::default();
        let mut groups: Vec<(Version, Vec<&DistFile>)> = Vec::new();
        for file in &project.files {
            let Some((text, wheel)) = file_version_text(&file.filename, &project.name) else { continue };
            if file.yanked.is_some() || !self.filter.keeps(file, wheel) {
                continue;
            }
            let group = *group_of_text.entry(text).or_insert_with(|| {
                let version = Version::from_str(text).ok().filter(|v| self.range.contains(v))?;
                groups.push((version, Vec::new()));
                Some(groups.len() - 1)
            });
            if let Some(group) = group {
                groups[group].1.push(file);
            }
        }
        // Two spellings of one version (`1.0`, `1.0.0`) are one candidate.
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        let mut candidates: Vec<(Version, Vec<&DistFile>)> = Vec::with_capacity(groups.len());
        for (version, files) in groups {
            match candidates.last_mut() {
                Some((last, existing)) if *last == version => existing.extend(files),
                _ => candidates.push((version, files)),
            }
        }
        if let Some(preferred) = &self.preferred
            && let Some((_, files)) = candidates.iter().find(|(version, _)| version == preferred)
        {
            return metadata_file(files.iter().copied());
        }
        let ordered: Box<dyn Iterator<Item = &(Version, Vec<&DistFile>)>> =
            if self.lowest { Box::new(candidates.iter()) } else { Box::new(candidates.iter().rev()) };
        let mut fallback_pre = None;
        for (version, files) in ordered {
            if version.any_prerelease() && !self.pre_always {
                if self.pre_if_necessary && fallback_pre.is_none() {
                    fallback_pre = Some(files);
                }
                continue;
            }
            if !self.python_fits(files) {
                continue;
            }
            return metadata_file(files.iter().copied());
        }
        fallback_pre.and_then(|files| metadata_file(files.iter().copied()))
    }

    /// False when every file announces a `Requires-Python` that excludes the
    /// Python resolved for (the resolver then passes the version over
    /// without reading its metadata).
    fn python_fits(&self, files: &[&DistFile]) -> bool {
        let announced: Vec<VersionSpecifiers> = files
            .iter()
            .filter_map(|f| f.requires_python.as_deref().and_then(|s| VersionSpecifiers::from_str(s).ok()))
            .collect();
        files.is_empty()
            || announced.len() != files.len()
            || announced.iter().any(|spec| requires_python_upward(spec).contains(&self.python))
    }
}

/// What guesses need from a resolution, shareable with the index's threads.
pub(crate) struct GuessContext {
    options: ResolveOptions,
    tags: Option<TargetTags>,
    direct: FxHashSet<PackageName>,
    /// Packages some requirement names a pre-release of (as known when the context was made).
    explicit_pre: FxHashSet<PackageName>,
    preferences: BTreeMap<PackageName, Version>,
    /// The Python candidates are checked against.
    python: Version,
    /// Universal resolution: edge markers false from this Python upward are dropped.
    python_floor: Option<Version>,
    /// Single-environment resolution: markers are evaluated.
    marker_env: Option<MarkerEnvironment>,
    /// Packages already guessed (shared by the forks of one resolution).
    guessed: Arc<Mutex<FxHashSet<PackageName>>>,
}

/// The parts of a provider a [`GuessContext`] is made of.
pub(crate) struct GuessSetup<'a> {
    pub(crate) options: &'a ResolveOptions,
    pub(crate) tags: Option<&'a TargetTags>,
    pub(crate) direct: &'a FxHashSet<PackageName>,
    pub(crate) explicit_pre: &'a FxHashSet<PackageName>,
    pub(crate) preferences: &'a BTreeMap<PackageName, Version>,
    pub(crate) python: &'a Version,
    pub(crate) python_floor: Option<&'a Version>,
    pub(crate) marker_env: Option<&'a MarkerEnvironment>,
    pub(crate) guessed: &'a Arc<Mutex<FxHashSet<PackageName>>>,
}

impl GuessContext {
    pub(crate) fn new(setup: &GuessSetup<'_>) -> Self {
        Self {
            options: setup.options.clone(),
            tags: setup.tags.cloned(),
            direct: setup.direct.clone(),
            explicit_pre: setup.explicit_pre.clone(),
            preferences: setup.preferences.clone(),
            python: setup.python.clone(),
            python_floor: setup.python_floor.cloned(),
            marker_env: setup.marker_env.cloned(),
            guessed: Arc::clone(setup.guessed),
        }
    }

    /// True the first time a package is claimed for a guess.
    pub(crate) fn claim(&self, name: &PackageName) -> bool {
        self.guessed.lock().unwrap_or_else(PoisonError::into_inner).insert(name.clone())
    }

    /// A guess for `name` in `range`; `pre` = (pre-releases always allowed, allowed if nothing else).
    pub(crate) fn guess(&self, name: &PackageName, range: Ranges<Version>, pre: (bool, bool)) -> CandidateGuess {
        CandidateGuess {
            range,
            filter: FileFilter::new(&self.options, name, self.tags.as_ref()),
            pre_always: pre.0,
            pre_if_necessary: pre.1,
            lowest: match self.options.resolution {
                ResolutionMode::Highest => false,
                ResolutionMode::Lowest => true,
                ResolutionMode::LowestDirect => self.direct.contains(name),
            },
            preferred: self.preferences.get(name).cloned(),
            python: self.python.clone(),
        }
    }

    /// As the provider's pre-release rule, with what this context knows.
    fn pre_allowed(&self, name: &PackageName, named_here: bool) -> (bool, bool) {
        let explicit = named_here || self.explicit_pre.contains(name);
        match self.options.prerelease {
            PrereleaseMode::Allow => (true, true),
            PrereleaseMode::IfNecessary => (explicit, true),
            PrereleaseMode::Explicit => (explicit, false),
            PrereleaseMode::Disallow => (false, false),
        }
    }

    /// Whether a dependency edge (no extra active) probably applies, as the
    /// provider decides it (without a fork's upper Python bound).
    fn edge_applies(&self, marker: &MarkerTree) -> bool {
        if !marker.evaluate_extras(&[]) {
            return false;
        }
        if let Some(env) = &self.marker_env {
            return marker.evaluate(env, &[]);
        }
        match &self.python_floor {
            Some(floor) => !marker.clone().simplify_python_versions(Bound::Included(floor), Bound::Unbounded).is_false(),
            None => true,
        }
    }
}

/// A [`CandidateGuess`] handed to the index, which may also guess, from the
/// picked file's metadata, the packages it leads to.
pub(crate) struct Picker {
    pub(crate) guess: CandidateGuess,
    pub(crate) context: Arc<GuessContext>,
    pub(crate) depth: u8,
}

impl CandidatePicker for Picker {
    fn pick(&self, project: &ProjectFiles) -> Option<DistFile> {
        self.guess.pick(project).cloned()
    }

    fn next(self: Box<Self>, metadata: &RawMetadata) -> Vec<(PackageName, CandidatePick)> {
        if self.depth >= MAX_DEPTH {
            return Vec::new();
        }
        let Ok(metadata) = CoreMetadata::parse(&metadata.bytes) else { return Vec::new() };
        if let Some(requires_python) = &metadata.requires_python
            && !requires_python_upward(requires_python).contains(&self.context.python)
        {
            return Vec::new();
        }
        let mut next: Vec<(PackageName, CandidatePick)> = Vec::new();
        for requirement in &metadata.requires_dist {
            let Some(VersionOrUrl::VersionSpecifier(specifiers)) = &requirement.version_or_url else {
                if requirement.version_or_url.is_some() {
                    continue;
                }
                if self.context.edge_applies(&requirement.marker) && self.context.claim(&requirement.name) {
                    let pre = self.context.pre_allowed(&requirement.name, false);
                    next.push((requirement.name.clone(), self.follow(&requirement.name, Ranges::full(), pre)));
                }
                continue;
            };
            if !self.context.edge_applies(&requirement.marker) || !self.context.claim(&requirement.name) {
                continue;
            }
            let pre = self.context.pre_allowed(&requirement.name, names_pre_release(requirement));
            next.push((requirement.name.clone(), self.follow(&requirement.name, specifiers_to_ranges(specifiers), pre)));
        }
        next
    }
}

impl Picker {
    fn follow(&self, name: &PackageName, range: Ranges<Version>, pre: (bool, bool)) -> CandidatePick {
        Box::new(Picker { guess: self.context.guess(name, range, pre), context: Arc::clone(&self.context), depth: self.depth + 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(filename: &str) -> DistFile {
        DistFile::new(filename, format!("https://files.example/{filename}"), "https://index.example/simple")
    }

    fn guess(range: Ranges<Version>) -> CandidateGuess {
        let name = PackageName::from_str("demo").unwrap();
        CandidateGuess {
            range,
            filter: FileFilter::new(&ResolveOptions::default(), &name, None),
            pre_always: false,
            pre_if_necessary: true,
            lowest: false,
            preferred: None,
            python: Version::from_str("3.11").unwrap(),
        }
    }

    fn picked(guess: &CandidateGuess, files: Vec<DistFile>) -> Option<String> {
        let project = ProjectFiles { name: PackageName::from_str("demo").unwrap(), files };
        guess.pick(&project).map(|f| f.filename.clone())
    }

    fn v(text: &str) -> Version {
        Version::from_str(text).unwrap()
    }

    #[test]
    fn guessed_metadata_leads_to_the_dependencies_the_resolver_would_add() {
        let guessed = Arc::new(Mutex::new(FxHashSet::default()));
        let python = v("3.11");
        let (options, direct, preferences) = (ResolveOptions::default(), FxHashSet::default(), BTreeMap::new());
        let context = Arc::new(GuessContext::new(&GuessSetup {
            options: &options,
            tags: None,
            direct: &direct,
            explicit_pre: &FxHashSet::default(),
            preferences: &preferences,
            python: &python,
            python_floor: Some(&python),
            marker_env: None,
            guessed: &guessed,
        }));
        let metadata = RawMetadata {
            bytes: b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: a>=1\nRequires-Dist: b; extra == 'x'\n\
Requires-Dist: c; python_version < '3.8'\nRequires-Dist: d[e]==2.0rc1; sys_platform == 'win32'\nRequires-Dist: a>=2\n"
                .to_vec(),
            origin: pybun_ports::MetadataOrigin::Pep658,
        };
        let picker = |depth| Box::new(Picker { guess: guess(Ranges::full()), context: Arc::clone(&context), depth });
        let next = picker(0).next(&metadata);
        let names: Vec<String> = next.iter().map(|(name, _)| name.to_string()).collect();
        assert_eq!(names, ["a", "d"], "extra-only and old-Python edges skipped, each package once");
        // `d` names a pre-release: its guess allows one.
        let project = ProjectFiles {
            name: PackageName::from_str("d").unwrap(),
            files: vec![file("d-2.0rc1-py3-none-any.whl")],
        };
        assert_eq!(next[1].1.pick(&project).map(|f| f.filename), Some("d-2.0rc1-py3-none-any.whl".to_string()));
        // Already guessed, or too deep: nothing more.
        assert!(picker(0).next(&metadata).is_empty());
        guessed.lock().unwrap().clear();
        assert!(picker(MAX_DEPTH).next(&metadata).is_empty());
    }

    #[test]
    fn the_guess_follows_the_resolvers_rules() {
        let mut yanked = file("demo-3.0-py3-none-any.whl");
        yanked.yanked = Some(String::new());
        let mut too_new = file("demo-2.5-py3-none-any.whl");
        too_new.requires_python = Some(">=3.12".to_string());
        let files = vec![
            file("demo-1.0.tar.gz"),
            file("demo-1.0-py3-none-any.whl"),
            file("demo-2.0-py3-none-any.whl"),
            file("demo-2.0.tar.gz"),
            too_new,
            yanked,
            file("demo-4.0b1-py3-none-any.whl"),
        ];
        let all = guess(Ranges::full());
        assert_eq!(picked(&all, files.clone()), Some("demo-2.0-py3-none-any.whl".to_string()));
        // Lowest first; a wheel over an sdist.
        let lowest = CandidateGuess { lowest: true, ..all.clone() };
        assert_eq!(picked(&lowest, files.clone()), Some("demo-1.0-py3-none-any.whl".to_string()));
        // Within the range only; a pre-release when nothing else fits.
        assert_eq!(picked(&guess(Ranges::strictly_lower_than(v("2.0"))), files.clone()), Some("demo-1.0-py3-none-any.whl".to_string()));
        assert_eq!(picked(&guess(Ranges::higher_than(v("3.5"))), files.clone()), Some("demo-4.0b1-py3-none-any.whl".to_string()));
        let explicit = CandidateGuess { pre_if_necessary: false, ..guess(Ranges::higher_than(v("3.5"))) };
        assert_eq!(picked(&explicit, files.clone()), None);
        // A usable preferred version wins.
        let preferred = CandidateGuess { preferred: Some(v("1.0")), ..all.clone() };
        assert_eq!(picked(&preferred, files.clone()), Some("demo-1.0-py3-none-any.whl".to_string()));
        // A PEP 658 file first.
        let mut with_metadata = file("demo-2.0.zip");
        with_metadata.has_metadata = true;
        let mut wheel_with_metadata = file("demo-2.0-py2.py3-none-any.whl");
        wheel_with_metadata.has_metadata = true;
        let mut more = files;
        more.push(with_metadata);
        more.push(wheel_with_metadata);
        assert_eq!(picked(&all, more), Some("demo-2.0-py2.py3-none-any.whl".to_string()));
    }
}
