//! Reading and discovering the test files through the discovery cache.
//!
//! One packed index per rootdir (`<cache>/test-discovery-v1/<hash>.idx`,
//! format in `pybun_testing::cache`): read in one go; per file, a `stat`
//! whose [`FileStamp`] equals the recorded one (and is settled, see
//! [`stamp_proves_content`]) reuses the stored result without reading the
//! file; otherwise the file is read and its key (settings, path, bytes)
//! looked up, and discovered on a miss. Files are handled in parallel (rayon).
//! The index is rewritten, atomically, only when something changed.

use std::collections::BTreeMap;
use std::path::Path;

use pybun_ports::{FileStamp, FileSystem};
use pybun_testing::{
    DiscoverySettings, IndexEntry, ModuleTests, Stamp, TestConfig, decode_index, decode_module, discover_module, encode_index, encode_module,
    stamp_is_racy, stamp_proves_content,
};

use crate::sync::SyncPorts;

fn stamp(file: FileStamp) -> Stamp {
    Stamp { size: file.size, modified_ns: file.modified_ns, changed_ns: file.changed_ns, inode: file.inode, device: file.device }
}

/// How a file's result was obtained.
enum Source<'a> {
    /// The stamp proved the content unchanged: the stored result as it was.
    Stamp(&'a [u8]),
    /// The file was read and its key found: the stored result, with the
    /// stamp seen now; `true` when that stamp is worth recording (it differs
    /// from the recorded one, or is racy: an index written later settles it).
    Verified(&'a [u8], bool),
    /// Discovered now.
    Discovered,
}

struct Found<'a> {
    rel: &'a str,
    module: ModuleTests,
    key: [u8; 32],
    stamp: Option<Stamp>,
    source: Source<'a>,
}

/// The discovery results of `files` (paths relative to `rootdir`), by path,
/// through the rootdir's index in the cache's `test-discovery-v1`.
/// A file that cannot be read is left out.
pub(crate) fn discover_files<'a>(
    ports: &SyncPorts<'_>,
    rootdir: &Path,
    config: &TestConfig,
    files: impl Iterator<Item = &'a String>,
) -> BTreeMap<String, ModuleTests> {
    let index_path = ports
        .build_cache
        .test_discovery_dir()
        .join(format!("{}.idx", &pybun_testing::cache_key(rootdir.to_string_lossy().as_bytes())[..32]));
    let files: Vec<&str> = files.map(String::as_str).collect();
    discover_with_index(ports.fs, &index_path, rootdir, config, &files)
}

/// [`discover_files`] with the index at `index_path`.
fn discover_with_index(fs: &dyn FileSystem, index_path: &Path, rootdir: &Path, config: &TestConfig, files: &[&str]) -> BTreeMap<String, ModuleTests> {
    use rayon::prelude::*;
    let settings = DiscoverySettings::new(config);
    let index_bytes = fs.read(index_path).unwrap_or_default();
    let written = fs.stamp(index_path).map(|s| s.modified_ns);
    let index = decode_index(&index_bytes, &settings);
    let found: Vec<Found<'_>> = files
        .par_iter()
        .filter_map(|rel| {
            let rel: &str = rel;
            let path = rootdir.join(rel);
            let entry = index.get(rel);
            // The stamp is taken before any read: a change after it shows next time.
            let current = fs.stamp(&path).map(stamp);
            if let Some(entry) = entry
                && stamp_proves_content(entry.stamp, current, written)
                && let Some(module) = decode_module(entry.module)
            {
                return Some(Found { rel, module, key: entry.key, stamp: entry.stamp, source: Source::Stamp(entry.module) });
            }
            let text = fs.read_to_string(&path).ok()?;
            let key = settings.key(rel, &text);
            if let Some(entry) = entry.filter(|e| e.key == key)
                && let Some(module) = decode_module(entry.module)
            {
                let record = current.is_some() && (current != entry.stamp || stamp_is_racy(current, written));
                return Some(Found { rel, module, key, stamp: current, source: Source::Verified(entry.module, record) });
            }
            Some(Found { rel, module: discover_module(rel, &text, config), key, stamp: current, source: Source::Discovered })
        })
        .collect();
    // Rewrite when a result was discovered (and is cacheable: results with
    // collection errors are not stored), a stamp was recorded anew (changed,
    // or racy and verified: a rewrite moves the index's time past it), or
    // files came or went.
    let cacheable = found.iter().filter(|f| f.module.errors.is_empty()).count();
    let stale = found.iter().any(|f| match f.source {
        Source::Stamp(_) => false,
        Source::Verified(_, record) => record,
        Source::Discovered => f.module.errors.is_empty(),
    });
    if stale || cacheable != index.len() {
        let encoded: Vec<Option<Vec<u8>>> = found
            .par_iter()
            .map(|f| match f.source {
                Source::Discovered => encode_module(&f.module),
                Source::Stamp(_) | Source::Verified(..) => None,
            })
            .collect();
        let entries: Vec<IndexEntry<'_>> = found
            .iter()
            .zip(&encoded)
            .filter_map(|(f, fresh)| {
                let module = match f.source {
                    Source::Stamp(bytes) | Source::Verified(bytes, _) => bytes,
                    Source::Discovered => fresh.as_deref()?,
                };
                Some(IndexEntry { path: f.rel, stamp: f.stamp, key: f.key, module })
            })
            .collect();
        let _ = fs.write_atomic(index_path, &encode_index(&settings, &entries));
    }
    found.into_iter().map(|f| (f.rel.to_owned(), f.module)).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io;
    use std::path::PathBuf;
    use std::sync::Mutex;

    use pybun_ports::testing::MemoryFs;
    use pybun_testing::STAMP_SETTLE_NS;

    use super::*;

    const SECOND: i64 = 1_000_000_000;

    /// Files in memory with stamps the test sets; the index's stamp is the
    /// clock's time when written. Counts reads of test files and index writes.
    #[derive(Default)]
    struct StampedFs {
        files: MemoryFs,
        stamps: Mutex<HashMap<PathBuf, FileStamp>>,
        clock: Mutex<i64>,
        reads: Mutex<Vec<String>>,
        writes: Mutex<usize>,
        without_stamps: bool,
    }

    impl StampedFs {
        fn write(&self, rel: &str, text: &str, stamp: FileStamp) {
            self.files.insert(Path::new("/p").join(rel), text);
            self.stamps.lock().unwrap().insert(Path::new("/p").join(rel), stamp);
        }

        fn set_clock(&self, time: i64) {
            *self.clock.lock().unwrap() = time;
        }

        fn take_reads(&self) -> Vec<String> {
            let mut reads = std::mem::take(&mut *self.reads.lock().unwrap());
            reads.sort();
            reads
        }

        fn take_writes(&self) -> usize {
            std::mem::take(&mut *self.writes.lock().unwrap())
        }
    }

    impl FileSystem for StampedFs {
        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            if let Ok(rel) = path.strip_prefix("/p") {
                self.reads.lock().unwrap().push(rel.to_string_lossy().into_owned());
            }
            self.files.read(path)
        }
        fn write_atomic(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
            *self.writes.lock().unwrap() += 1;
            let now = *self.clock.lock().unwrap();
            self.stamps.lock().unwrap().insert(path.to_path_buf(), FileStamp { size: contents.len() as u64, modified_ns: now, changed_ns: now, inode: 1, device: 1 });
            self.files.write_atomic(path, contents)
        }
        fn exists(&self, path: &Path) -> bool {
            self.files.exists(path)
        }
        fn is_dir(&self, path: &Path) -> bool {
            self.files.is_dir(path)
        }
        fn remove_file(&self, path: &Path) -> io::Result<()> {
            self.files.remove_file(path)
        }
        fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
            self.files.remove_dir_all(path)
        }
        fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
            self.files.read_dir(path)
        }
        fn stamp(&self, path: &Path) -> Option<FileStamp> {
            if self.without_stamps {
                return None;
            }
            self.stamps.lock().unwrap().get(path).copied()
        }
    }

    fn stamp_at(time: i64, size: usize, inode: u64) -> FileStamp {
        FileStamp { size: size as u64, modified_ns: time, changed_ns: time, inode, device: 1 }
    }

    fn ids(found: &BTreeMap<String, ModuleTests>) -> Vec<String> {
        found.values().flat_map(|m| m.items.iter().map(|i| i.node_id.clone())).collect()
    }

    const INDEX: &str = "/cache/test-discovery-v1/root.idx";
    const A1: &str = "def test_one():\n    pass\n";
    // Same size as A1.
    const A2: &str = "def test_two():\n    pass\n";
    const B: &str = "def test_b():\n    pass\n";

    fn collect(fs: &StampedFs, files: &[&str]) -> BTreeMap<String, ModuleTests> {
        discover_with_index(fs, Path::new(INDEX), Path::new("/p"), &TestConfig::default(), files)
    }

    #[test]
    fn settled_stamps_skip_reading_and_changes_are_read() {
        let fs = StampedFs::default();
        fs.write("test_a.py", A1, stamp_at(10 * SECOND, A1.len(), 1));
        fs.write("test_b.py", B, stamp_at(10 * SECOND, B.len(), 2));
        let files = ["test_a.py", "test_b.py"];
        // Cold: every file read and discovered, the index written.
        fs.set_clock(100 * SECOND);
        let cold = collect(&fs, &files);
        assert_eq!(ids(&cold), ["test_a.py::test_one", "test_b.py::test_b"]);
        assert_eq!(fs.take_reads(), ["test_a.py", "test_b.py"]);
        assert_eq!(fs.take_writes(), 1);
        // Warm: the stamps prove the contents: no file read, no write, same results.
        assert_eq!(collect(&fs, &files), cold);
        assert_eq!(fs.take_reads(), Vec::<String>::new());
        assert_eq!(fs.take_writes(), 0);
        // An edit that keeps the size and restores the modification time still
        // moves the status-change time: the file is read again.
        let edited = FileStamp { changed_ns: 200 * SECOND, ..stamp_at(10 * SECOND, A2.len(), 1) };
        fs.write("test_a.py", A2, edited);
        fs.set_clock(300 * SECOND);
        assert_eq!(ids(&collect(&fs, &files)), ["test_a.py::test_two", "test_b.py::test_b"]);
        assert_eq!(fs.take_reads(), ["test_a.py"]);
        assert_eq!(fs.take_writes(), 1);
        assert_eq!(collect(&fs, &files).len(), 2);
        assert_eq!(fs.take_reads(), Vec::<String>::new());
        // A file gone: the index is rewritten without it.
        assert_eq!(ids(&collect(&fs, &files[1..])), ["test_b.py::test_b"]);
        assert_eq!(fs.take_writes(), 1);
        // Back again: read and discovered anew, the entry recorded again.
        assert_eq!(ids(&collect(&fs, &files)), ["test_a.py::test_two", "test_b.py::test_b"]);
        assert_eq!(fs.take_reads(), ["test_a.py"]);
        assert_eq!(fs.take_writes(), 1);
    }

    #[test]
    fn racy_entries_are_read_until_the_index_is_written_after_them() {
        let fs = StampedFs::default();
        // Written, then collected within the settle time (the same clock tick
        // might hold a second write that keeps the stamp).
        fs.write("test_a.py", A1, stamp_at(100 * SECOND, A1.len(), 1));
        fs.set_clock(100 * SECOND + 1);
        assert_eq!(ids(&collect(&fs, &["test_a.py"])), ["test_a.py::test_one"]);
        fs.take_reads();
        fs.take_writes();
        // Rewritten with the same size and the same stamp (within one tick):
        // the racy entry is not trusted, the file is read and rediscovered.
        fs.write("test_a.py", A2, stamp_at(100 * SECOND, A2.len(), 1));
        fs.set_clock(100 * SECOND + STAMP_SETTLE_NS / 2);
        assert_eq!(ids(&collect(&fs, &["test_a.py"])), ["test_a.py::test_two"]);
        assert_eq!(fs.take_reads(), ["test_a.py"]);
        assert_eq!(fs.take_writes(), 1);
        // Still racy against that index: read and verified by its key, the index
        // rewritten (later), after which the stamp settles and proves the content.
        fs.set_clock(100 * SECOND + 2 * STAMP_SETTLE_NS);
        assert_eq!(ids(&collect(&fs, &["test_a.py"])), ["test_a.py::test_two"]);
        assert_eq!(fs.take_reads(), ["test_a.py"]);
        assert_eq!(fs.take_writes(), 1);
        assert_eq!(ids(&collect(&fs, &["test_a.py"])), ["test_a.py::test_two"]);
        assert_eq!(fs.take_reads(), Vec::<String>::new());
        assert_eq!(fs.take_writes(), 0);
    }

    #[test]
    fn without_stamps_every_file_is_read_and_matched_by_content() {
        let fs = StampedFs { without_stamps: true, ..StampedFs::default() };
        fs.write("test_a.py", A1, FileStamp::default());
        let first = collect(&fs, &["test_a.py"]);
        assert_eq!(fs.take_writes(), 1);
        assert_eq!(collect(&fs, &["test_a.py"]), first);
        assert_eq!(fs.take_reads(), ["test_a.py", "test_a.py"]);
        assert_eq!(fs.take_writes(), 0, "a hit by content rewrites nothing");
        fs.write("test_a.py", A2, FileStamp::default());
        assert_eq!(ids(&collect(&fs, &["test_a.py"])), ["test_a.py::test_two"]);
        assert_eq!(fs.take_writes(), 1);
    }

    #[test]
    fn collection_errors_are_not_cached_and_a_damaged_index_is_ignored() {
        let fs = StampedFs::default();
        fs.write("test_bad.py", "def (", stamp_at(SECOND, 5, 1));
        fs.set_clock(100 * SECOND);
        assert!(!collect(&fs, &["test_bad.py"])["test_bad.py"].errors.is_empty());
        assert!(!collect(&fs, &["test_bad.py"])["test_bad.py"].errors.is_empty(), "rediscovered, errors and all");
        fs.take_reads();
        fs.files.insert(INDEX, "not an index");
        fs.write("test_a.py", A1, stamp_at(SECOND, A1.len(), 2));
        assert_eq!(ids(&collect(&fs, &["test_a.py"])), ["test_a.py::test_one"]);
        assert_eq!(fs.take_reads(), ["test_a.py"]);
    }
}
