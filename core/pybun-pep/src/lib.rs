//! Python packaging vocabulary shared by every PyBun crate.
//!
//! Names (PEP 503), versions and specifiers (PEP 440), requirements and
//! markers (PEP 508) come from `pep440_rs` / `pep508_rs` and are re-exported
//! here so that every crate speaks about the same types. This crate adds what
//! those crates lack: distribution filenames and wheel tags (PEP 425/427) and
//! core metadata (`METADATA` / `PKG-INFO`) parsing.

mod direct_url;
mod filename;
mod metadata;
mod python;
mod tags;

pub use direct_url::{DirectUrl, direct_url, file_url_path, path_file_url};
pub use filename::{DistFilename, FilenameError, SdistFilename, WheelFilename};
pub use metadata::{CoreMetadata, MetadataError};
pub use tags::{TargetPlatform, TargetTags};
pub use python::{requires_python_floor, requires_python_upward};

pub use pep440_rs::{Operator, Version, VersionSpecifier, VersionSpecifiers};
pub use pep508_rs::{
    ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, MarkerTree, PackageName, Pep508Error,
    Requirement, VersionOrUrl,
};
pub use version_ranges::Ranges;

/// The requirement type PyBun uses everywhere (URLs kept verbatim).
pub type Req = pep508_rs::Requirement<pep508_rs::VerbatimUrl>;

/// Parse a PEP 508 requirement string.
///
/// # Errors
/// The `pep508_rs` error, which carries the byte span of the bad part.
pub fn parse_requirement(text: &str) -> Result<Req, Box<Pep508Error<pep508_rs::VerbatimUrl>>> {
    text.parse::<Req>().map_err(Box::new)
}

/// The version range a set of specifiers allows.
#[must_use]
pub fn specifiers_to_ranges(specifiers: &VersionSpecifiers) -> Ranges<Version> {
    let mut range = Ranges::full();
    for specifier in specifiers.iter() {
        range = range.intersection(&specifier_to_ranges(specifier));
    }
    range
}

/// The version range one specifier allows, with PEP 440's local-version rule:
/// a specifier without a local label (`==1.2.3`, `<=1.2.3`, `!=1.2.3`) matches
/// every local version of it (`1.2.3+foo`), which `pep440_rs`'s plain
/// conversion does not do.
#[must_use]
pub fn specifier_to_ranges(specifier: &VersionSpecifier) -> Ranges<Version> {
    let version = specifier.version();
    let has_local = version.clone().without_local() != *version;
    // The smallest public version after `version`: every `version+local` sorts below it.
    let after_locals = || version.clone().with_post(Some(0)).with_dev(Some(0));
    if !has_local && version.post().is_none() && version.dev().is_none() {
        match specifier.operator() {
            Operator::Equal => return Ranges::between(version.clone(), after_locals()),
            Operator::NotEqual => return Ranges::between(version.clone(), after_locals()).complement(),
            Operator::LessThanEqual => return Ranges::strictly_lower_than(after_locals()),
            _ => {}
        }
    }
    Ranges::from(specifier.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn allows(spec: &str, version: &str) -> bool {
        let specs = VersionSpecifiers::from_str(spec).unwrap();
        specifiers_to_ranges(&specs).contains(&Version::from_str(version).unwrap())
    }

    #[test]
    fn local_versions_follow_pep_440() {
        assert!(allows("==1.2.3", "1.2.3+foo"));
        assert!(allows("<=1.2.3", "1.2.3+foo"));
        assert!(!allows("!=1.2.3", "1.2.3+foo"));
        assert!(!allows(">1.2.3", "1.2.3+foo"));
        assert!(!allows("==1.2.3", "1.2.3.post1"));
        assert!(allows("==1.2.3+foo", "1.2.3+foo"));
        assert!(!allows("==1.2.3+foo", "1.2.3+bar"));
        assert!(!allows("<2.0", "2.0a1"));
        assert!(allows(">=1.2.3", "1.2.3+foo"));
    }
}
