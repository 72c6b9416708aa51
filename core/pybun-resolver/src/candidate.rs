//! Which files the resolver may use, which file it reads a version's
//! metadata from, and a guess, made from a project's files alone, at the
//! version it will try first (so that an adapter can fetch that metadata as
//! soon as the project's page arrives, before the resolver asks).

use std::str::FromStr;

use pybun_pep::{PackageName, Ranges, TargetTags, Version, VersionSpecifiers, requires_python_upward};
use pybun_ports::{DistFile, ProjectFiles};
use rustc_hash::FxHashMap;

use crate::options::ResolveOptions;
use crate::provider::file_version_text;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(filename: &str) -> DistFile {
        DistFile {
            filename: filename.to_string(),
            url: format!("https://files.example/{filename}"),
            index: "https://index.example/simple".to_string(),
            sha256: None,
            size: None,
            requires_python: None,
            yanked: None,
            upload_time: None,
            has_metadata: false,
        }
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
