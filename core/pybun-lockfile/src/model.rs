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
    /// Unconditional and marker-guarded dependencies, sorted by (name, marker).
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
}

/// An edge: `name[extras] ; marker`. The version is the locked one of `name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LockedDependency {
    pub name: String,
    /// Sorted, normalized.
    pub extras: Vec<String>,
    /// `None` when unconditional.
    pub marker: Option<String>,
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
    /// The package of this name (and the first one, if several versions).
    #[must_use]
    pub fn package(&self, name: &str) -> Option<&LockedPackage> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// The project's own entry.
    #[must_use]
    pub fn project(&self) -> Option<&LockedPackage> {
        self.packages.iter().find(|p| p.source == Source::Project)
    }

    /// Put every list in canonical order, so equal content gives equal bytes.
    pub fn canonicalize(&mut self) {
        for package in &mut self.packages {
            // Extras first: the lists are ordered by (name, extras, marker).
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
