//! The lock model.

use std::collections::BTreeMap;

/// The lock format version this PyBun writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// A resolved, cross-platform set of packages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lock {
    /// Format version (see [`FORMAT_VERSION`]).
    pub version: u32,
    /// The project's `requires-python`, normalized, if any.
    pub requires_python: Option<String>,
    /// `sha256:<hex>` of the resolution inputs (requirements, groups, extras,
    /// requires-python, indexes, options): a lock whose fingerprint differs
    /// from the project's is stale.
    pub fingerprint: String,
    pub options: LockOptions,
    /// Set when the lock was made for one environment (`--python-version` /
    /// `--python-platform`) instead of universally.
    pub environment: Option<TargetEnvironment>,
    /// Sorted by (name, version). The project itself comes first among equals
    /// only by its name; it is the package whose source is [`Source::Project`].
    /// A name appears several times when the resolution forked on the Python
    /// version (each entry then has a [`LockedPackage::resolution_marker`]);
    /// a (name, version) pair appears at most once.
    pub packages: Vec<LockedPackage>,
}

/// Resolution options that shaped the lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockOptions {
    /// `highest`, `lowest` or `lowest-direct`.
    pub resolution: String,
    /// `allow`, `if-necessary` or `explicit`.
    pub prerelease: String,
    /// RFC 3339 timestamp, if `--exclude-newer` was given.
    pub exclude_newer: Option<String>,
}

/// The single environment a non-universal lock targets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetEnvironment {
    /// e.g. `3.12` or `3.12.1`.
    pub python_version: String,
    /// e.g. `linux`, `macos`, `windows`, or a platform tag; `None` for any.
    pub platform: Option<String>,
}

/// One package at one version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockedPackage {
    /// PEP 503 normalized name.
    pub name: String,
    /// PEP 440 normalized version.
    pub version: String,
    pub source: Source,
    /// For a package locked at several versions (a fork on the Python
    /// version), the marker of the Python range this version serves, e.g.
    /// `python_full_version >= '3.12'`; `None` otherwise.
    pub resolution_marker: Option<String>,
    /// Unconditional and marker-guarded dependencies, sorted by
    /// (name, extras, marker, version).
    pub dependencies: Vec<LockedDependency>,
    /// Dependencies enabled by an extra, per extra (only extras someone uses,
    /// or all of the project's own), each list sorted.
    pub optional_dependencies: BTreeMap<String, Vec<LockedDependency>>,
    /// PEP 735 dependency groups (the project only).
    pub dependency_groups: BTreeMap<String, Vec<LockedDependency>>,
    /// Every file of this version on its index, sorted by filename.
    pub files: Vec<LockedFile>,
}

/// Where a package comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Source {
    /// The project being locked (path `.`).
    #[default]
    Project,
    /// A Simple API index, by URL.
    Registry(String),
    /// A find-links directory or URL.
    FindLinks(String),
    /// A direct URL requirement (`name @ https://…/name-1.0-py3-none-any.whl`
    /// or `name @ file:///…`): the URL as written, without its `#sha256=…`
    /// fragment. The package's one file has this URL.
    Url(String),
    /// A direct URL requirement naming a local source tree
    /// (`name @ file:///abs/path/name`), built at install time: its `file://`
    /// URL. The package has no files.
    Directory(String),
}

/// An edge: `name[extras] ; marker`. It leads to the locked version of
/// `name`, or, when the lock holds several versions of `name`, to the one
/// named by `version`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LockedDependency {
    pub name: String,
    /// Sorted, normalized.
    pub extras: Vec<String>,
    /// `None` when unconditional. An edge with a `version` always has one (the
    /// fork's Python range, possibly combined with the edge's own marker).
    pub marker: Option<String>,
    /// Set only when the lock holds several versions of `name`: the one this
    /// edge leads to.
    pub version: Option<String>,
}

/// A distribution file of a locked version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LockedFile {
    pub filename: String,
    pub url: String,
    pub size: Option<u64>,
    /// `sha256:<hex>`, when the index gave one.
    pub hash: Option<String>,
    /// RFC 3339, when the index gave one.
    pub upload_time: Option<String>,
}

impl Lock {
    /// The package of this name (the first one, if several versions).
    #[must_use]
    pub fn package(&self, name: &str) -> Option<&LockedPackage> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// Every locked version of this name, in the order of [`Lock::packages`]
    /// (one, or several after a fork on the Python version).
    pub fn packages_named(&self, name: &str) -> impl Iterator<Item = &LockedPackage> {
        self.packages.iter().filter(move |p| p.name == name)
    }

    /// The package an edge leads to: the one with the edge's `version` when
    /// it has one, else the (first) package of its name.
    #[must_use]
    pub fn target(&self, dependency: &LockedDependency) -> Option<&LockedPackage> {
        match &dependency.version {
            Some(version) => self
                .packages
                .iter()
                .find(|p| p.name == dependency.name && &p.version == version),
            None => self.package(&dependency.name),
        }
    }

    /// The project's own entry.
    #[must_use]
    pub fn project(&self) -> Option<&LockedPackage> {
        self.packages.iter().find(|p| p.source == Source::Project)
    }

    /// Whether [`Lock::canonicalize`] would change nothing.
    #[must_use]
    pub fn is_canonical(&self) -> bool {
        fn strictly_increasing<T: Ord>(list: &[T]) -> bool {
            list.windows(2).all(|pair| pair[0] < pair[1])
        }
        self.packages.windows(2).all(|pair| (&pair[0].name, &pair[0].version) <= (&pair[1].name, &pair[1].version))
            && self.packages.iter().all(|package| {
                let lists = || {
                    std::iter::once(&package.dependencies)
                        .chain(package.optional_dependencies.values())
                        .chain(package.dependency_groups.values())
                };
                lists().all(|list| strictly_increasing(list) && list.iter().all(|dep| strictly_increasing(&dep.extras)))
                    && package.files.is_sorted()
            })
    }

    /// The lock in canonical order: itself when it already is, else a sorted copy.
    #[must_use]
    pub fn canonical(&self) -> std::borrow::Cow<'_, Lock> {
        if self.is_canonical() {
            std::borrow::Cow::Borrowed(self)
        } else {
            let mut copy = self.clone();
            copy.canonicalize();
            std::borrow::Cow::Owned(copy)
        }
    }

    /// Put every list in canonical order, so equal content gives equal bytes.
    pub fn canonicalize(&mut self) {
        for package in &mut self.packages {
            // Extras first: the lists are ordered by (name, extras, marker, version).
            for dep in package
                .dependencies
                .iter_mut()
                .chain(package.optional_dependencies.values_mut().flatten())
                .chain(package.dependency_groups.values_mut().flatten())
            {
                dep.extras.sort();
                dep.extras.dedup();
            }
            package.dependencies.sort();
            package.dependencies.dedup();
            for list in package
                .optional_dependencies
                .values_mut()
                .chain(package.dependency_groups.values_mut())
            {
                list.sort();
                list.dedup();
            }
            package.files.sort();
        }
        self.packages
            .sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    }
}
