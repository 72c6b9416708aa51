//! The fingerprint of a lock's inputs: equal inputs, equal fingerprint.

use sha2::{Digest, Sha256};

/// Builds a canonical text of the inputs and hashes it.
#[derive(Default)]
pub(crate) struct Fingerprint {
    lines: Vec<String>,
}

impl Fingerprint {
    pub(crate) fn add(&mut self, key: &str, value: impl std::fmt::Display) {
        self.lines.push(format!("{key}={value}"));
    }

    /// Add an unordered list: sorted first so that order in `pyproject.toml` does not matter.
    pub(crate) fn add_set<I: IntoIterator<Item = String>>(&mut self, key: &str, values: I) {
        let mut values: Vec<String> = values.into_iter().collect();
        values.sort();
        for value in values {
            self.add(key, value);
        }
    }

    pub(crate) fn finish(self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"pybun-lock-inputs-v1\n");
        for line in &self.lines {
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
        format!("sha256:{}", hex::encode(hasher.finalize()))
    }
}
