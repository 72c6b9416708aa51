//! Python packaging vocabulary shared by every PyBun crate.
//!
//! Names (PEP 503), versions and specifiers (PEP 440), requirements and
//! markers (PEP 508) come from `pep440_rs` / `pep508_rs` and are re-exported
//! here so that every crate speaks about the same types. This crate adds what
//! those crates lack: distribution filenames and wheel tags (PEP 425/427) and
//! core metadata (`METADATA` / `PKG-INFO`) parsing.

mod filename;
mod metadata;
mod python;

pub use filename::{DistFilename, FilenameError, SdistFilename, WheelFilename};
pub use metadata::{CoreMetadata, MetadataError};
pub use python::{requires_python_allows_floor, requires_python_floor};

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
        range = range.intersection(&Ranges::from(specifier.clone()));
    }
    range
}
