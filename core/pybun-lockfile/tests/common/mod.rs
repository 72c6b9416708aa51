//! Shared helpers: reading the fixtures under `fixtures/lockfile/`.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset"
)]

use std::path::PathBuf;

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lockfile")
}

#[expect(
    clippy::disallowed_methods,
    reason = "tests read their fixtures; the crate itself does no IO"
)]
pub fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn read_text(name: &str) -> String {
    String::from_utf8(read(&fixtures_dir().join(name))).expect("fixture is UTF-8")
}

/// Every file of a fixture directory, sorted by name.
#[expect(
    clippy::disallowed_methods,
    reason = "tests list their fixtures; the crate itself does no IO"
)]
pub fn list(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fixtures_dir().join(dir);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let bytes = read(&dir.join(&name));
            (name, bytes)
        })
        .collect()
}

pub fn render(diagnostics: &[pybun_diagnostics::Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| {
            let mut s = d.to_string();
            if let Some(label) = &d.label {
                s.push_str(&format!("\n  label: {label}"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}
