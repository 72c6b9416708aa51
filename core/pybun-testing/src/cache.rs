//! The discovery cache's format: one packed index per rootdir holding, per
//! file, its path, the [`Stamp`] it had when read, the [`DiscoverySettings::key`]
//! of its bytes and its [`ModuleTests`] (postcard), so a warm collection is
//! one read of the index plus one `stat` per file.
//!
//! Layout (little-endian): [`INDEX_MAGIC`], the 32-byte settings hash, the
//! entry count (u32), then per entry: path length (u32) and path, a flag
//! (u8: 1 when a stamp follows), the stamp (five 64-bit fields), the 32-byte
//! key, the result's length (u32) and the result. Anything else (another
//! format, other settings, truncation) reads as an empty index.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::config::TestConfig;
use crate::discover::ModuleTests;

/// The first bytes of an index; the trailing digit is the layout's version.
pub const INDEX_MAGIC: &[u8; 16] = b"pybun-tdindex-3\n";

/// How much older than the index a file's recorded times must be for an
/// equal stamp to stand for equal content: more than any filesystem's
/// timestamp granularity (ext4, XFS, Btrfs: a kernel tick; FAT: 2 s is
/// beyond the cases this guards), so a second write within the same tick
/// as the read that produced the entry cannot hide behind an equal stamp.
pub const STAMP_SETTLE_NS: i64 = 2_000_000_000;

/// A file's metadata as the cache records it (see `pybun_ports::FileStamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    pub size: u64,
    pub modified_ns: i64,
    pub changed_ns: i64,
    pub inode: u64,
    pub device: u64,
}

/// Whether a file whose stamp is `current` still has the content an entry
/// recorded with stamp `recorded` was made from, without reading it: the
/// stamps are equal and both recorded times are at least
/// [`STAMP_SETTLE_NS`] older than `index_written_ns` (the index file's
/// modification time). A file modified again within one clock tick of the
/// read keeps an equal stamp; such a recent entry is "racy" (git's term)
/// and the file is read and hashed instead.
#[must_use]
pub fn stamp_proves_content(recorded: Option<Stamp>, current: Option<Stamp>, index_written_ns: Option<i64>) -> bool {
    let (Some(recorded), Some(current), Some(written)) = (recorded, current, index_written_ns) else {
        return false;
    };
    let settled = written.saturating_sub(STAMP_SETTLE_NS);
    recorded == current && recorded.modified_ns < settled && recorded.changed_ns < settled
}

/// Whether an entry recorded with `recorded` would be racy in an index
/// written at `index_written_ns` (see [`stamp_proves_content`]).
#[must_use]
pub fn stamp_is_racy(recorded: Option<Stamp>, index_written_ns: Option<i64>) -> bool {
    !stamp_proves_content(recorded, recorded, index_written_ns)
}

/// What makes discovery results reusable: the cache version, the discovery
/// code's hash and the configuration. Computed once per collection.
#[derive(Clone)]
pub struct DiscoverySettings {
    prefix: Sha256,
    hash: [u8; 32],
}

impl DiscoverySettings {
    #[must_use]
    pub fn new(config: &TestConfig) -> Self {
        let mut prefix = Sha256::new();
        prefix.update(crate::DISCOVERY_CACHE_VERSION.as_bytes());
        prefix.update(crate::DISCOVERY_CODE_HASH.to_le_bytes());
        prefix.update([0]);
        prefix.update(format!("{config:?}").as_bytes());
        prefix.update([0]);
        let hash = prefix.clone().finalize().into();
        Self { prefix, hash }
    }

    /// The settings' own hash (an index made under other settings is not read).
    #[must_use]
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// The key of one file's result: SHA-256 of the settings, the path
    /// relative to the rootdir (node ids contain it) and the file's bytes.
    #[must_use]
    pub fn key(&self, relative_path: &str, source: &str) -> [u8; 32] {
        let mut hasher = self.prefix.clone();
        hasher.update(relative_path.as_bytes());
        hasher.update([0]);
        hasher.update(source.as_bytes());
        hasher.finalize().into()
    }
}

/// One file's entry, borrowing from the index's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry<'a> {
    pub path: &'a str,
    pub stamp: Option<Stamp>,
    pub key: [u8; 32],
    /// The [`ModuleTests`], encoded ([`encode_module`]).
    pub module: &'a [u8],
}

/// The entries of an index by path; empty when `bytes` is not an index
/// made under `settings` (or is damaged).
#[must_use]
pub fn decode_index<'a>(bytes: &'a [u8], settings: &DiscoverySettings) -> HashMap<&'a str, IndexEntry<'a>> {
    read_index(bytes, settings).unwrap_or_default()
}

fn read_index<'a>(bytes: &'a [u8], settings: &DiscoverySettings) -> Option<HashMap<&'a str, IndexEntry<'a>>> {
    let mut input = Reader { bytes, at: 0 };
    if input.take(INDEX_MAGIC.len())? != INDEX_MAGIC || input.take(32)? != settings.hash() {
        return None;
    }
    let count = input.u32()? as usize;
    let mut entries = HashMap::with_capacity(count.min(bytes.len() / 64));
    for _ in 0..count {
        let length = input.u32()? as usize;
        let path = std::str::from_utf8(input.take(length)?).ok()?;
        let stamp = match input.take(1)?[0] {
            0 => None,
            1 => Some(Stamp {
                size: input.u64()?,
                modified_ns: input.u64()?.cast_signed(),
                changed_ns: input.u64()?.cast_signed(),
                inode: input.u64()?,
                device: input.u64()?,
            }),
            _ => return None,
        };
        let key = input.take(32)?.try_into().ok()?;
        let length = input.u32()? as usize;
        let module = input.take(length)?;
        entries.insert(path, IndexEntry { path, stamp, key, module });
    }
    (input.at == bytes.len()).then_some(entries)
}

/// An index of `entries` (sorted by path, so equal contents give equal bytes).
#[must_use]
pub fn encode_index(settings: &DiscoverySettings, entries: &[IndexEntry<'_>]) -> Vec<u8> {
    let mut sorted: Vec<&IndexEntry<'_>> = entries.iter().collect();
    sorted.sort_by_key(|e| e.path);
    sorted.dedup_by_key(|e| e.path);
    let size: usize = sorted.iter().map(|e| e.path.len() + e.module.len() + 90).sum();
    let mut out = Vec::with_capacity(INDEX_MAGIC.len() + 36 + size);
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&settings.hash());
    out.extend_from_slice(&u32::try_from(sorted.len()).unwrap_or(u32::MAX).to_le_bytes());
    for entry in sorted {
        out.extend_from_slice(&u32::try_from(entry.path.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(entry.path.as_bytes());
        match entry.stamp {
            None => out.push(0),
            Some(stamp) => {
                out.push(1);
                for field in [stamp.size, stamp.modified_ns.cast_unsigned(), stamp.changed_ns.cast_unsigned(), stamp.inode, stamp.device] {
                    out.extend_from_slice(&field.to_le_bytes());
                }
            }
        }
        out.extend_from_slice(&entry.key);
        out.extend_from_slice(&u32::try_from(entry.module.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(entry.module);
    }
    out
}

/// A discovery result as the index stores it (postcard); `None` for results
/// with collection errors, which are never cached (their diagnostics carry
/// source spans).
#[must_use]
pub fn encode_module(module: &ModuleTests) -> Option<Vec<u8>> {
    if !module.errors.is_empty() {
        return None;
    }
    postcard::to_allocvec(module).ok()
}

/// A stored discovery result; `None` when the bytes are not one (then discover again).
#[must_use]
pub fn decode_module(bytes: &[u8]) -> Option<ModuleTests> {
    postcard::from_bytes(bytes).ok()
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover_module;

    const SOURCE: &str = "import pytest\n\n@pytest.mark.parametrize('x', [1, 2])\ndef test_a(x, tmp_path):\n    pass\n\nclass TestB:\n    def test_c(self):\n        pass\n";

    fn stamp(time: i64) -> Stamp {
        Stamp { size: 10, modified_ns: time, changed_ns: time, inode: 7, device: 1 }
    }

    #[test]
    fn index_round_trips_and_rejects_other_settings_and_damage() {
        let config = TestConfig::default();
        let settings = DiscoverySettings::new(&config);
        let module = discover_module("tests/test_a.py", SOURCE, &config);
        let encoded = encode_module(&module).unwrap();
        assert_eq!(decode_module(&encoded).unwrap(), module);
        let entries = [
            IndexEntry { path: "tests/test_b.py", stamp: None, key: [2; 32], module: b"" },
            IndexEntry { path: "tests/test_a.py", stamp: Some(stamp(-5)), key: settings.key("tests/test_a.py", SOURCE), module: &encoded },
        ];
        let bytes = encode_index(&settings, &entries);
        let index = decode_index(&bytes, &settings);
        assert_eq!(index.len(), 2);
        assert_eq!(index["tests/test_a.py"], entries[1]);
        assert_eq!(index["tests/test_b.py"], entries[0]);
        // Equal contents, equal bytes (sorted by path).
        assert_eq!(bytes, encode_index(&settings, &[entries[1], entries[0]]));
        let other = DiscoverySettings::new(&TestConfig { python_functions: vec!["check".into()], ..TestConfig::default() });
        assert!(decode_index(&bytes, &other).is_empty());
        for cut in [0, 10, 60, bytes.len() - 1] {
            assert!(decode_index(&bytes[..cut], &settings).is_empty(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_index(&longer, &settings).is_empty());
        assert!(decode_module(b"\xff\xff").is_none());
        let broken = discover_module("tests/test_x.py", "def (", &config);
        assert!(encode_module(&broken).is_none());
    }

    #[test]
    fn keys_change_with_path_content_and_configuration() {
        let config = TestConfig::default();
        let settings = DiscoverySettings::new(&config);
        let key = settings.key("tests/test_a.py", SOURCE);
        assert_eq!(key, DiscoverySettings::new(&config).key("tests/test_a.py", SOURCE));
        assert_ne!(key, settings.key("tests/test_b.py", SOURCE));
        assert_ne!(key, settings.key("tests/test_a.py", ""));
        let other = DiscoverySettings::new(&TestConfig { python_functions: vec!["check".into()], ..TestConfig::default() });
        assert_ne!(key, other.key("tests/test_a.py", SOURCE));
        assert_ne!(settings.hash(), other.hash());
    }

    #[test]
    fn a_stamp_proves_content_only_when_equal_and_settled() {
        let second = 1_000_000_000;
        let written = Some(100 * second);
        let old = stamp(50 * second);
        assert!(stamp_proves_content(Some(old), Some(old), written));
        // Any field differs: read the file.
        for changed in [
            Stamp { size: 11, ..old },
            Stamp { modified_ns: old.modified_ns + 1, ..old },
            // Content changed, size and modification time restored by a tool: the status-change time moved.
            Stamp { changed_ns: 99 * second, ..old },
            Stamp { inode: 8, ..old },
            Stamp { device: 2, ..old },
        ] {
            assert!(!stamp_proves_content(Some(old), Some(changed), written), "{changed:?}");
        }
        // Racy: recorded within the settle time of the index's write (a second
        // write in the same clock tick would keep the stamp).
        let recent = stamp(99 * second);
        assert!(!stamp_proves_content(Some(recent), Some(recent), written));
        assert!(stamp_is_racy(Some(recent), written));
        assert!(!stamp_is_racy(Some(old), written));
        let future = stamp(200 * second);
        assert!(!stamp_proves_content(Some(future), Some(future), written));
        // Unknown stamps or index time: never proof.
        assert!(!stamp_proves_content(None, Some(old), written));
        assert!(!stamp_proves_content(Some(old), None, written));
        assert!(!stamp_proves_content(Some(old), Some(old), None));
    }
}
