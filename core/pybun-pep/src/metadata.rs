//! Core metadata (`METADATA`, `PKG-INFO`, PEP 658 `.metadata` files).
//!
//! The format is RFC 822-like headers; only the fields resolution needs are kept.

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{ExtraName, PackageName};

use crate::Req;

/// The fields of a distribution's core metadata that PyBun uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreMetadata {
    pub metadata_version: String,
    pub name: PackageName,
    pub version: Version,
    pub requires_dist: Vec<Req>,
    pub requires_python: Option<VersionSpecifiers>,
    pub provides_extras: Vec<ExtraName>,
    /// Fields declared `Dynamic` (Metadata 2.2+), lower-cased.
    pub dynamic: Vec<String>,
    pub summary: Option<String>,
}

/// Metadata that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("the metadata has no `{0}` field")]
    MissingField(&'static str),
    #[error("invalid `{field}` value `{value}`: {reason}")]
    InvalidField { field: &'static str, value: String, reason: String },
}

impl CoreMetadata {
    /// Parse `METADATA` / `PKG-INFO` text.
    ///
    /// Invalid `Requires-Dist` lines are an error: resolving with a silently
    /// dropped dependency would give a wrong lock.
    ///
    /// # Errors
    /// A missing `Name`/`Version` or an unparsable value.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        let text = String::from_utf8_lossy(bytes);
        let mut metadata_version = None;
        let mut name = None;
        let mut version = None;
        let mut requires_dist = Vec::new();
        let mut requires_python = None;
        let mut provides_extras = Vec::new();
        let mut dynamic = Vec::new();
        let mut summary = None;

        for (key, value) in headers(&text) {
            match key.to_ascii_lowercase().as_str() {
                "metadata-version" => metadata_version = Some(value),
                "name" => {
                    name = Some(PackageName::from_str(&value).map_err(|e| MetadataError::InvalidField {
                        field: "Name",
                        value: value.clone(),
                        reason: e.to_string(),
                    })?);
                }
                "version" => {
                    version = Some(Version::from_str(&value).map_err(|e| MetadataError::InvalidField {
                        field: "Version",
                        value: value.clone(),
                        reason: e.to_string(),
                    })?);
                }
                "requires-dist" => {
                    let requirement = Req::from_str(&value).map_err(|e| MetadataError::InvalidField {
                        field: "Requires-Dist",
                        value: value.clone(),
                        reason: e.message.to_string(),
                    })?;
                    requires_dist.push(requirement);
                }
                "requires-python" => {
                    // Some old uploads carry `Requires-Python` values that are
                    // not valid PEP 440 (e.g. `>=2.7.*`); like pip, treat them
                    // as absent rather than failing the whole resolution.
                    if let Ok(spec) = VersionSpecifiers::from_str(&value) {
                        requires_python = Some(spec);
                    }
                }
                "provides-extra" => {
                    if let Ok(extra) = ExtraName::from_str(&value) {
                        provides_extras.push(extra);
                    }
                }
                "dynamic" => dynamic.push(value.to_ascii_lowercase()),
                "summary" => summary = Some(value),
                _ => {}
            }
        }

        Ok(Self {
            metadata_version: metadata_version.unwrap_or_else(|| "1.0".to_string()),
            name: name.ok_or(MetadataError::MissingField("Name"))?,
            version: version.ok_or(MetadataError::MissingField("Version"))?,
            requires_dist,
            requires_python,
            provides_extras,
            dynamic,
            summary,
        })
    }

    /// Whether the dependency list can be trusted without building (sdist
    /// `PKG-INFO`): Metadata 2.2 or later with `Requires-Dist` not dynamic.
    #[must_use]
    pub fn has_static_dependencies(&self) -> bool {
        let mut parts = self.metadata_version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        (major, minor) >= (2, 2) && !self.dynamic.iter().any(|d| d == "requires-dist")
    }
}

/// Header lines until the first blank line, with continuation lines folded.
fn headers(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            out.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields() {
        let text = "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\nRequires-Python: >=3.8\nRequires-Dist: idna>=2 ; extra == 'x'\nProvides-Extra: x\nSummary: hi\n\nbody: ignored\n";
        let m = CoreMetadata::parse(text.as_bytes()).unwrap();
        assert_eq!(m.name.as_ref() as &str, "foo-bar");
        assert_eq!(m.requires_dist.len(), 1);
        assert_eq!(m.provides_extras.len(), 1);
        assert!(!m.has_static_dependencies());
    }

    #[test]
    fn static_pkg_info() {
        let text = "Metadata-Version: 2.2\nName: a\nVersion: 1\nDynamic: summary\n";
        assert!(CoreMetadata::parse(text.as_bytes()).unwrap().has_static_dependencies());
        let text = "Metadata-Version: 2.2\nName: a\nVersion: 1\nDynamic: Requires-Dist\n";
        assert!(!CoreMetadata::parse(text.as_bytes()).unwrap().has_static_dependencies());
    }

    #[test]
    fn missing_name() {
        assert_eq!(CoreMetadata::parse(b"Version: 1\n"), Err(MetadataError::MissingField("Name")));
    }
}
