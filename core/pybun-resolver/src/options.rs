//! Resolution options.

use std::collections::BTreeSet;

use pybun_pep::{PackageName, TargetPlatform, Version};

/// Which version to prefer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolutionMode {
    /// The newest compatible version of everything.
    #[default]
    Highest,
    /// The oldest compatible version of everything.
    Lowest,
    /// The oldest for direct requirements, the newest for the rest.
    LowestDirect,
}

/// When pre-releases may be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrereleaseMode {
    /// Always.
    Allow,
    /// PEP 440's rule: when a requirement on the package names a pre-release
    /// (`>=2.0b1`), or when only pre-releases satisfy the range.
    #[default]
    IfNecessary,
    /// Only when a requirement on the package names a pre-release.
    Explicit,
    /// Never.
    Disallow,
}

/// One environment to resolve for, instead of universally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetEnvironment {
    pub python_version: Version,
    /// `None`: any platform (markers on platform are kept, tags not checked).
    pub platform: Option<TargetPlatform>,
}

/// How to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolveOptions {
    pub resolution: ResolutionMode,
    pub prerelease: PrereleaseMode,
    /// Ignore files uploaded after this instant.
    pub exclude_newer: Option<jiff::Timestamp>,
    /// Never use wheels of these packages (`:all:` = every package).
    pub no_binary: BTreeSet<String>,
    /// Never use sdists of these packages (`:all:` = every package).
    pub no_build: BTreeSet<String>,
    pub environment: Option<TargetEnvironment>,
}

impl ResolveOptions {
    pub(crate) fn no_binary(&self, name: &PackageName) -> bool {
        self.no_binary.contains(":all:") || self.no_binary.contains(name.as_ref() as &str)
    }

    pub(crate) fn no_build(&self, name: &PackageName) -> bool {
        self.no_build.contains(":all:") || self.no_build.contains(name.as_ref() as &str)
    }
}
