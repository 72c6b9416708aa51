//! A tiny registry builder over the in-memory `FixtureIndex`.
#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;

use pybun_pep::{PackageName, Req, VersionSpecifiers};
use pybun_resolver::ResolveRequest;
use pybun_ports::DistFile;
use pybun_ports::testing::FixtureIndex;

/// A request of the project `root` (`requires-python >=3.9`) with these dependencies.
pub fn request(requirements: &[&str]) -> ResolveRequest {
    ResolveRequest {
        project: "root".to_string(),
        dependencies: requirements.iter().map(|r| Req::from_str(r).unwrap()).collect(),
        requires_python: Some(VersionSpecifiers::from_str(">=3.9").unwrap()),
        ..ResolveRequest::default()
    }
}

/// Add `name==version` with the given `Requires-Dist` lines.
pub fn add(index: &mut FixtureIndex, name: &str, version: &str, requires: &[&str]) {
    add_full(index, name, version, requires, None, None);
}

pub fn add_full(
    index: &mut FixtureIndex,
    name: &str,
    version: &str,
    requires: &[&str],
    requires_python: Option<&str>,
    yanked: Option<&str>,
) {
    let package = PackageName::from_str(name).unwrap();
    let filename = format!("{}-{version}-py3-none-any.whl", name.replace('-', "_"));
    let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    if let Some(rp) = requires_python {
        metadata.push_str(&format!("Requires-Python: {rp}\n"));
    }
    for requirement in requires {
        metadata.push_str(&format!("Requires-Dist: {requirement}\n"));
        if let Some(extra) = requirement.split("extra == '").nth(1) {
            let extra = extra.trim_end_matches('\'');
            metadata.push_str(&format!("Provides-Extra: {extra}\n"));
        }
    }
    let file = DistFile {
        filename: filename.clone(),
        url: format!("https://example.invalid/files/{filename}"),
        index: "https://example.invalid/simple".to_string(),
        sha256: Some("00".repeat(32)),
        size: Some(1),
        requires_python: requires_python.map(str::to_string),
        yanked: yanked.map(str::to_string),
        upload_time: None,
        has_metadata: true,
    };
    index.add_file(&package, file, &metadata);
}
