//! Wheels on disk: verified, atomic unpacking into a cache, and installation
//! from the unpacked copy into an environment. The decisions (where each file
//! goes, what is unsafe, what `RECORD` says) are `pybun-install`'s; this
//! module only does the IO.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rustc_hash::FxHashSet;

use pybun_install::{
    ArchiveEntry, EntryPoints, GeneratedFile, HashAlgorithm, INSTALLER, InstallError, InstallPlan, PlannedFile, Recipe,
    Record, RecordHash, RecordHasher, SchemePaths, WheelMeta, check_archive, destinations, find_dist_info, generated_files, path_bytes,
    plan_install, recipe_key, rewrite_record, rewrite_shebang, scheme_layout,
};
use pybun_pep::WheelFilename;

use crate::link::{LinkMode, link_file};
use crate::member::{Buffer, Inflater, fits_whole, local_header_differs, method_code, read_into, write_hashed};

/// `RECORD`, `WHEEL` and `entry_points.txt` larger than this are refused.
pub(crate) const MAX_METADATA_FILE: u64 = 64 * 1024 * 1024;

/// Why a wheel could not be unpacked or installed.
#[derive(Debug, thiserror::Error)]
pub enum WheelInstallError {
    /// The wheel is unsafe or inconsistent (see [`InstallError`]).
    #[error(transparent)]
    Install(#[from] InstallError),
    /// Not a readable zip archive, or no valid wheel filename.
    #[error("`{wheel}` is not a valid wheel: {reason}")]
    InvalidArchive { wheel: String, reason: String },
    /// A filesystem operation failed.
    #[error("could not {action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

pub(crate) fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WheelInstallError {
    let path = path.to_path_buf();
    move |source| WheelInstallError::Io { action, path, source }
}

/// What [`unpack_wheel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpacked {
    /// This call unpacked the wheel to the destination.
    Fresh,
    /// The destination already existed (another process won); ours was discarded.
    AlreadyPresent,
}

/// `/`-separated archive path without empty or `.` components (the planner's normal form).
pub(crate) fn normalize(path: &str) -> String {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/")
}

/// Unpack `wheel` to the directory `dest` (typically in the cache), verifying it.
///
/// The archive is checked with [`check_archive`] before anything is written
/// (unsafe paths, symlinks, RECORD consistency). Files are extracted into a
/// temporary directory beside `dest`, each hashed while written and compared
/// with `RECORD` (size and hash); executables get mode `0o755`, other files
/// `0o644`. Only then is the temporary directory renamed to `dest`, so `dest`
/// never holds a partial unpack. When `dest` exists, before or at the
/// rename (a concurrent unpacker won), ours is discarded and
/// [`Unpacked::AlreadyPresent`] returned.
///
/// # Errors
/// An invalid filename or zip, an [`InstallError`] (unsafe wheel, hash or size
/// mismatch), or an IO error. Nothing is left at `dest` or beside it then.
pub fn unpack_wheel(wheel: &Path, dest: &Path) -> Result<Unpacked, WheelInstallError> {
    if dest.exists() {
        return Ok(Unpacked::AlreadyPresent);
    }
    let filename = wheel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let file = fs::File::open(wheel).map_err(io_error("open", wheel))?;
    let second = file.try_clone().map_err(io_error("open", wheel))?;
    let temp = unpack_to_temp(&filename, (BlockReader::new(file), BlockReader::new(second)), dest)?;
    commit(temp, dest)
}

/// [`unpack_wheel`] for a wheel held in memory (a download that was never
/// written to disk): `filename` is its name, `bytes` the whole archive.
///
/// # Errors
/// As [`unpack_wheel`].
pub fn unpack_wheel_bytes(filename: &str, bytes: &[u8], dest: &Path) -> Result<Unpacked, WheelInstallError> {
    if dest.exists() {
        return Ok(Unpacked::AlreadyPresent);
    }
    let temp = unpack_to_temp(filename, (io::Cursor::new(bytes), io::Cursor::new(bytes)), dest)?;
    commit(temp, dest)
}

/// `headers` is a second reader of the same archive, for its local headers.
fn unpack_to_temp(
    filename: &str,
    (source, mut headers): (impl Read + io::Seek, impl Read + io::Seek),
    dest: &Path,
) -> Result<tempfile::TempDir, WheelInstallError> {
    let filename = filename.to_string();
    let invalid = |reason: String| WheelInstallError::InvalidArchive { wheel: filename.clone(), reason };
    let wheel_name = WheelFilename::from_str(&filename).map_err(|e| invalid(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(source).map_err(|e| invalid(e.to_string()))?;

    let mut entries = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let member = archive.by_index_raw(index).map_err(|e| invalid(e.to_string()))?;
        entries.push(archive_entry(&member));
    }
    let plan = plan_archive(&mut archive, &wheel_name, &filename, &entries)?;
    let planned: HashMap<&str, &PlannedFile> = plan.files.iter().map(|f| (f.archive_path.as_str(), f)).collect();

    let temp = unpack_dir_beside(dest)?;
    let mut made_dirs = HashSet::new();
    let mut manifest: Vec<(String, u64, bool)> = Vec::with_capacity(archive.len());
    let mut scratch = Scratch::default();
    for index in 0..archive.len() {
        let (path, is_dir) = {
            let member = archive.by_index_raw(index).map_err(|e| invalid(e.to_string()))?;
            (normalize(member.name()), member.is_dir())
        };
        if is_dir {
            continue;
        }
        if is_reserved(&path) {
            return Err(invalid(format!("`{path}` is a name PyBun's cache uses for itself")));
        }
        let target = temp.path().join(&path);
        if let Some(dir) = target.parent()
            && made_dirs.insert(dir.to_path_buf())
        {
            fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
        }
        let planned_file = planned.get(path.as_str());
        let mut out = create_with_mode(&target, planned_file.is_some_and(|f| f.executable))
            .map_err(io_error("create", &target))?;
        let Some(file) = planned_file else {
            // RECORD and its signatures: not hashed.
            let member = archive.by_index(index).map_err(|e| invalid(e.to_string()))?;
            let size = io::copy(&mut member.take(MAX_METADATA_FILE), &mut out).map_err(io_error("write", &target))?;
            manifest.push((path, size, false));
            continue;
        };
        let (written, actual) =
            extract_member(
                &mut archive,
                index,
                (&mut out, &target),
                file.hash.algorithm,
                (&mut scratch, &mut headers),
                |reason| invalid(format!("cannot extract `{path}`: {reason}")),
            )?;
        if written != file.size {
            return Err(InstallError::SizeMismatch { wheel: filename, path, expected: file.size, actual: written }.into());
        }
        if actual != file.hash {
            return Err(InstallError::HashMismatch {
                wheel: filename,
                path,
                expected: file.hash.to_string(),
                actual: actual.to_string(),
            }
            .into());
        }
        drop(out);
        manifest.push((path, file.size, file.executable));
    }
    write_manifest(temp.path(), &manifest)?;
    Ok(temp)
}

/// Inflate `member` (which should have `expected` bytes) into `out`, hashing
/// what it writes: one write for a small member, 256 KiB writes for a large
/// one. Reads one byte past `expected`, so a longer member shows; the count
/// written is returned for the caller to compare. Reading to the end makes
/// the zip reader check the CRC.
/// `invalid` names a read (inflate) error; write errors name `target`.
pub(crate) fn copy_member(
    member: &mut impl Read,
    expected: u64,
    (out, target): (&mut fs::File, &Path),
    hasher: &mut RecordHasher,
    buffer: &mut Vec<u8>,
    invalid: impl Fn(io::Error) -> WheelInstallError,
) -> Result<u64, WheelInstallError> {
    let mut limited = member.take(expected.saturating_add(1));
    if expected <= WHOLE_MEMBER_LIMIT {
        // One write per file (most files): the member inflated into one buffer.
        buffer.clear();
        limited.read_to_end(buffer).map_err(&invalid)?;
        hasher.update(buffer);
        out.write_all(buffer).map_err(io_error("write", target))?;
        return Ok(buffer.len() as u64);
    }
    buffer.resize(usize::try_from(WHOLE_MEMBER_LIMIT).unwrap_or(usize::MAX), 0);
    let mut written = 0_u64;
    loop {
        // Inflate returns a few kilobytes per read: fill the buffer, then write it once.
        let n = read_full(&mut limited, buffer).map_err(&invalid)?;
        if n == 0 {
            return Ok(written);
        }
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n]).map_err(io_error("write", target))?;
        written += n as u64;
    }
}

/// A member extracted from an archive: what the central directory says of
/// it and the sha256 of the bytes written.
#[derive(Debug)]
pub(crate) struct ExtractedMember {
    pub(crate) raw_name: String,
    pub(crate) size: u64,
    pub(crate) compressed_size: u64,
    pub(crate) crc32: u32,
    pub(crate) sha256: RecordHash,
}

/// Extract the members `indexes` (files, with safe and distinct names) of
/// the in-memory `archive` into `dir`, in parallel (the largest first), each
/// hashed with sha256 as it is written. Files are created without the
/// executable bit. A member whose size differs from its central directory
/// entry, or whose CRC fails, is an error.
pub(crate) fn extract_in_parallel<R: Read + io::Seek + Clone + Send + Sync>(
    archive: &zip::ZipArchive<R>,
    headers: &R,
    indexes: &[usize],
    dir: &Path,
    filename: &str,
) -> Result<Vec<ExtractedMember>, WheelInstallError> {
    use rayon::prelude::*;
    let invalid = |reason: String| WheelInstallError::InvalidArchive { wheel: filename.to_string(), reason };
    let mut order = Vec::with_capacity(indexes.len());
    let mut parents = FxHashSet::default();
    let mut lister = archive.clone();
    for &index in indexes {
        let member = lister.by_index_raw(index).map_err(|e| invalid(format!("member {index}: {e}")))?;
        let path = normalize(member.name());
        if let Some(parent) = dir.join(&path).parent() {
            parents.insert(parent.to_path_buf());
        }
        order.push((index, member.compressed_size()));
    }
    // Directories first, once each (not raced for by the extracting threads).
    for parent in &parents {
        fs::create_dir_all(parent).map_err(io_error("create directory", parent))?;
    }
    order.sort_by_key(|&(_, compressed)| std::cmp::Reverse(compressed));
    order
        .par_iter()
        .with_max_len(1)
        .map(|&(index, _)| {
            // Buffers come from (and go back to) the pool shared by all unpacking threads.
            {
                let scratch = &mut Scratch::default();
                let mut zip = archive.clone();
                let (raw_name, expected, compressed_size, crc32) = {
                    let member = zip.by_index_raw(index).map_err(|e| invalid(e.to_string()))?;
                    (member.name().to_string(), member.size(), member.compressed_size(), member.crc32())
                };
                let path = normalize(&raw_name);
                let target = dir.join(&path);
                let mut out = create_with_mode(&target, false).map_err(io_error("create", &target))?;
                let (size, sha256) =
                    extract_member(
                        &mut zip,
                        index,
                        (&mut out, &target),
                        HashAlgorithm::Sha256,
                        (scratch, &mut headers.clone()),
                        |reason| invalid(format!("cannot extract `{path}`: {reason}")),
                    )?;
                if size != expected {
                    return Err(invalid(format!("`{path}` has {size} bytes, its header says {expected}")));
                }
                Ok(ExtractedMember { raw_name, size, compressed_size, crc32, sha256 })
            }
        })
        .collect()
}

/// Buffers one unpacking thread reuses from member to member.
#[derive(Debug)]
pub(crate) struct Scratch {
    inflater: Inflater,
    /// For members inflated as a stream.
    buffer: Vec<u8>,
}

impl Default for Scratch {
    fn default() -> Self {
        Self { inflater: Inflater::new(), buffer: Vec::with_capacity(64 * 1024) }
    }
}

/// Extract member `index` of `zip` into the new file `out` (at `target`),
/// hashed with `algorithm`: inflated whole (and its CRC checked) when it is at
/// most [`WHOLE_INFLATE_LIMIT`], else as a stream. The bytes written and their
/// hash; `invalid` words a bad member.
pub(crate) fn extract_member<R: Read + io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    index: usize,
    (out, target): (&mut fs::File, &Path),
    algorithm: HashAlgorithm,
    (scratch, headers): (&mut Scratch, &mut (impl Read + io::Seek)),
    invalid: impl Fn(String) -> WheelInstallError,
) -> Result<(u64, RecordHash), WheelInstallError> {
    {
        let mut raw = zip.by_index_raw(index).map_err(|e| invalid(e.to_string()))?;
        let (size, method, crc32) = (raw.size(), method_code(raw.compression()), raw.crc32());
        // The local header must say what the central directory says (as the
        // streaming unpacker requires of every member it reads).
        headers.seek(io::SeekFrom::Start(raw.header_start())).map_err(|e| invalid(e.to_string()))?;
        if let Some(reason) = local_header_differs(headers, raw.name_raw(), (raw.compressed_size(), size, crc32)) {
            return Err(invalid(reason));
        }
        if fits_whole(method, raw.compressed_size(), size)
            && let Ok(stored) = usize::try_from(raw.compressed_size())
        {
            let (mut compressed, mut inflated) = (Buffer::default(), Buffer::default());
            let data = read_into(&mut raw, &mut compressed, stored).map_err(|e| invalid(e.to_string()))?;
            let bytes = scratch.inflater.inflate((method, data), size, crc32, &mut inflated).map_err(&invalid)?;
            let hash = write_hashed(out, target, bytes, algorithm)?;
            return Ok((size, hash));
        }
    }
    let mut member = zip.by_index(index).map_err(|e| invalid(e.to_string()))?;
    let mut hasher = RecordHasher::new(algorithm);
    let expected = member.size();
    let written =
        copy_member(&mut member, expected, (out, target), &mut hasher, &mut scratch.buffer, |e| invalid(e.to_string()))?;
    Ok((written, hasher.finish()))
}

/// Write [`MANIFEST`] into the unpacked directory `dir`: `(path, size, executable)` per file.
pub(crate) fn write_manifest(dir: &Path, manifest: &[(String, u64, bool)]) -> Result<(), WheelInstallError> {
    let mut text = String::new();
    for (path, size, executable) in manifest {
        text.push_str(if *executable { "x" } else { "-" });
        text.push('\t');
        text.push_str(&size.to_string());
        text.push('\t');
        text.push_str(path);
        text.push('\n');
    }
    let manifest_path = dir.join(MANIFEST);
    fs::write(&manifest_path, text).map_err(io_error("write", &manifest_path))
}

/// What the central directory says of a member.
pub(crate) fn archive_entry<R: Read>(member: &zip::read::ZipFile<'_, R>) -> ArchiveEntry {
    ArchiveEntry {
        path: member.name().to_string(),
        size: member.size(),
        is_dir: member.is_dir(),
        unix_mode: member.unix_mode(),
    }
}

/// The checked plan of a wheel archive ([`check_archive`]): its `WHEEL` and
/// `RECORD` read from `archive`, whose members `entries` lists.
pub(crate) fn plan_archive<R: Read + io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    wheel_name: &WheelFilename,
    filename: &str,
    entries: &[ArchiveEntry],
) -> Result<InstallPlan, WheelInstallError> {
    plan_with(wheel_name, filename, entries, |path| {
        let member = archive.by_name(path).map_err(|e| e.to_string())?;
        read_text_from(member)
    })
}

/// [`plan_archive`] with `WHEEL` and `RECORD` read from `dir`, where the
/// archive's members were extracted.
pub(crate) fn plan_from_dir(
    dir: &Path,
    wheel_name: &WheelFilename,
    filename: &str,
    entries: &[ArchiveEntry],
) -> Result<InstallPlan, WheelInstallError> {
    plan_with(wheel_name, filename, entries, |path| {
        let file = fs::File::open(dir.join(normalize(path))).map_err(|e| e.to_string())?;
        read_text_from(file)
    })
}

/// A metadata file's text (at most [`MAX_METADATA_FILE`] bytes).
fn read_text_from(input: impl Read) -> Result<String, String> {
    let mut text = String::new();
    input.take(MAX_METADATA_FILE).read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text)
}

/// The checked plan, with `read` giving the text of the member at an archive path.
fn plan_with(
    wheel_name: &WheelFilename,
    filename: &str,
    entries: &[ArchiveEntry],
    mut read: impl FnMut(&str) -> Result<String, String>,
) -> Result<InstallPlan, WheelInstallError> {
    let invalid = |reason: String| WheelInstallError::InvalidArchive { wheel: filename.to_string(), reason };
    let dist_info = find_dist_info(wheel_name, entries)?;
    let mut read_member = |name: &str| -> Result<String, WheelInstallError> {
        let path = format!("{dist_info}/{name}");
        read(&path).map_err(|e| invalid(format!("cannot read `{path}`: {e}")))
    };
    let wheel_meta = WheelMeta::parse(&read_member("WHEEL")?).map_err(|e| e.in_wheel(filename))?;
    let record = Record::parse(&read_member("RECORD")?).map_err(|e| e.in_wheel(filename))?;
    Ok(check_archive(wheel_name, entries, &wheel_meta, &record)?)
}

/// Whether an archive path (normalized) is one the unpacked cache entry
/// uses for itself ([`MANIFEST`], [`RECIPES_DIR`]): a member there would be
/// overwritten or mistaken for PyBun's own files.
pub(crate) fn is_reserved(path: &str) -> bool {
    path == MANIFEST || path == RECIPES_DIR || path.starts_with(&format!("{RECIPES_DIR}/"))
}

/// A temporary directory `.tmp-unpack-*` beside `dest` (made if missing),
/// to unpack into and then rename to `dest`.
pub(crate) fn unpack_dir_beside(dest: &Path) -> Result<tempfile::TempDir, WheelInstallError> {
    let parent = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(io_error("create directory", parent))?;
    tempfile::Builder::new()
        .prefix(".tmp-unpack-")
        .tempdir_in(parent)
        .map_err(io_error("create a temporary directory in", parent))
}

/// Read until `buffer` is full or the input ends: the bytes read.
pub(crate) fn read_full(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A file read through one 256 KiB block at a time with positioned reads:
/// the zip reader seeks to every member, and with a `BufReader` each seek
/// is an `lseek` plus a refill; here a seek only moves a position, and a
/// member that starts inside the current block costs no system call.
struct BlockReader {
    file: fs::File,
    position: u64,
    block_start: u64,
    block: Vec<u8>,
    length: Option<u64>,
}

impl BlockReader {
    const BLOCK: usize = 256 * 1024;

    fn new(file: fs::File) -> Self {
        Self { file, position: 0, block_start: 0, block: Vec::new(), length: None }
    }

    fn length(&mut self) -> io::Result<u64> {
        if let Some(length) = self.length {
            return Ok(length);
        }
        let length = self.file.metadata()?.len();
        self.length = Some(length);
        Ok(length)
    }
}

impl Read for BlockReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let block_end = self.block_start + self.block.len() as u64;
        if self.position < self.block_start || self.position >= block_end {
            self.block.resize(Self::BLOCK, 0);
            let n = read_at(&self.file, &mut self.block, self.position)?;
            self.block.truncate(n);
            self.block_start = self.position;
            if n == 0 {
                return Ok(0);
            }
        }
        let offset = usize::try_from(self.position - self.block_start).unwrap_or(usize::MAX);
        let available = &self.block[offset..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl io::Seek for BlockReader {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let target = match to {
            io::SeekFrom::Start(offset) => Some(offset),
            io::SeekFrom::End(delta) => self.length()?.checked_add_signed(delta),
            io::SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position =
            target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the file"))?;
        Ok(self.position)
    }
}

#[cfg(unix)]
fn read_at(file: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt as _;
    file.read_at(buf, offset)
}

#[cfg(windows)]
fn read_at(file: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::windows::fs::FileExt as _;
    file.seek_read(buf, offset)
}

/// The list of an unpacked wheel's files, written last by [`unpack_wheel`]:
/// `x|-<TAB>size<TAB>path` per line (`x`: executable). Planning an install
/// reads it instead of walking the directory.
pub const MANIFEST: &str = ".pybun-manifest";

/// Members up to this size (most files) are inflated into one buffer and
/// written at once; larger ones stream through a buffer of this size.
pub(crate) const WHOLE_MEMBER_LIMIT: u64 = 256 * 1024;

/// The entries of an unpacked wheel: its manifest, else a directory walk.
fn unpacked_entries(unpacked_dir: &Path) -> Result<Vec<ArchiveEntry>, WheelInstallError> {
    if let Ok(text) = fs::read_to_string(unpacked_dir.join(MANIFEST)) {
        let entries: Option<Vec<ArchiveEntry>> = text
            .lines()
            .map(|line| {
                let mut fields = line.splitn(3, '\t');
                let kind = fields.next()?;
                let size = fields.next()?.parse().ok()?;
                let path = fields.next()?;
                let mode = if kind == "x" { 0o100_755 } else { 0o100_644 };
                Some(ArchiveEntry { path: path.to_string(), size, is_dir: false, unix_mode: Some(mode) })
            })
            .collect();
        if let Some(entries) = entries {
            return Ok(entries);
        }
    }
    let mut entries = Vec::new();
    walk(unpacked_dir, "", &mut entries)?;
    entries.retain(|entry| entry.path != MANIFEST && !entry.path.starts_with(&format!("{RECIPES_DIR}/")));
    Ok(entries)
}

/// Rename the finished temporary directory to `dest`, unless someone else's is there.
pub(crate) fn commit(temp: tempfile::TempDir, dest: &Path) -> Result<Unpacked, WheelInstallError> {
    match fs::rename(temp.path(), dest) {
        Ok(()) => {
            let _ = temp.keep();
            Ok(Unpacked::Fresh)
        }
        // `temp` is dropped (removed) on both paths below.
        Err(_) if dest.exists() => Ok(Unpacked::AlreadyPresent),
        Err(e) => Err(io_error("rename the unpacked wheel to", dest)(e)),
    }
}

#[cfg(unix)]
pub(crate) fn set_mode(path: &Path, executable: bool) -> Result<(), WheelInstallError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = if executable { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_error("set permissions of", path))
}

#[cfg(not(unix))]
pub(crate) fn set_mode(_path: &Path, _executable: bool) -> Result<(), WheelInstallError> {
    Ok(())
}

/// Create (truncate) `path` for writing with mode `0o755` (executables) or
/// `0o644`, set at creation: no `fchmod` per file. The process umask applies,
/// as for any file created (a umask of `022` leaves these modes as they are).
#[cfg(unix)]
pub(crate) fn create_with_mode(path: &Path, executable: bool) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if executable { 0o755 } else { 0o644 })
        .open(path)
}

#[cfg(not(unix))]
pub(crate) fn create_with_mode(path: &Path, _executable: bool) -> io::Result<fs::File> {
    fs::File::create(path)
}

#[cfg(unix)]
fn unix_mode(metadata: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    Some(metadata.mode())
}

#[cfg(not(unix))]
fn unix_mode(_metadata: &fs::Metadata) -> Option<u32> {
    None
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<ArchiveEntry>) -> Result<(), WheelInstallError> {
    let mut children: Vec<fs::DirEntry> = fs::read_dir(dir)
        .map_err(io_error("read directory", dir))?
        .collect::<io::Result<_>>()
        .map_err(io_error("read directory", dir))?;
    children.sort_by_key(fs::DirEntry::file_name);
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let metadata = fs::symlink_metadata(child.path()).map_err(io_error("read", &child.path()))?;
        if metadata.is_dir() {
            walk(&child.path(), &path, out)?;
        } else {
            out.push(ArchiveEntry { path, size: metadata.len(), is_dir: false, unix_mode: unix_mode(&metadata) });
        }
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<String, WheelInstallError> {
    fs::read_to_string(path).map_err(io_error("read", path))
}

/// Plan the installation of a wheel unpacked by [`unpack_wheel`] at
/// `unpacked_dir` into `scheme` (lists the directory, reads `WHEEL` and `RECORD`).
///
/// # Errors
/// As [`plan_install`], or an IO error.
pub fn plan_unpacked(
    unpacked_dir: &Path,
    wheel_name: &WheelFilename,
    scheme: &SchemePaths,
) -> Result<InstallPlan, WheelInstallError> {
    let entries = unpacked_entries(unpacked_dir)?;
    let dist_info = find_dist_info(wheel_name, &entries)?;
    let dist_info_dir = unpacked_dir.join(&dist_info);
    let wheel = wheel_name.to_string();
    let meta = WheelMeta::parse(&read_text(&dist_info_dir.join("WHEEL"))?).map_err(|e| e.in_wheel(&wheel))?;
    let record = Record::parse(&read_text(&dist_info_dir.join("RECORD"))?).map_err(|e| e.in_wheel(&wheel))?;
    Ok(plan_install(wheel_name, &entries, &meta, &record, scheme)?)
}

/// What [`install_planned`] needs beyond the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    /// The environment's interpreter, for launchers and `#!python` rewriting.
    pub interpreter: PathBuf,
    /// The `direct_url.json` text (PEP 610) for URL or path sources; `None` for index installs.
    pub direct_url: Option<String>,
}

/// What [`install_planned`] installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The installed `.dist-info` directory.
    pub dist_info: PathBuf,
    /// Launchers and `.data/scripts` files, sorted.
    pub scripts: Vec<PathBuf>,
    /// Number of files placed or written, `RECORD` included.
    pub files: usize,
    /// The plan's warnings.
    pub warnings: Vec<String>,
}

/// Write a generated file afresh (never through an existing, possibly hard-linked, file).
fn write_generated(path: &Path, file: &GeneratedFile) -> Result<(), WheelInstallError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error("replace", path)(e)),
        _ => {}
    }
    fs::write(path, &file.contents).map_err(io_error("write", path))?;
    set_mode(path, file.executable)
}

/// Install a wheel unpacked at `unpacked_dir` as `plan` says.
///
/// Files outside `.dist-info` are placed first, in parallel, with `mode`
/// ([`link_file`]); `#!python` scripts are rewritten for the interpreter and
/// written afresh, launchers written with mode `0o755`. The `.dist-info`
/// directory is assembled under a temporary name in the plan's root (its
/// files, `INSTALLER`, `direct_url.json`, the new `RECORD`) and renamed into
/// place last (replacing an older one), so an interrupted install never looks
/// complete to Python or to PyBun.
///
/// # Errors
/// An invalid `entry_points.txt` or launcher conflict (before anything is
/// written), or an IO error. Files already placed stay; the `.dist-info`
/// directory does not appear.
pub fn install_planned(
    unpacked_dir: &Path,
    plan: &InstallPlan,
    mode: LinkMode,
    options: &InstallOptions,
) -> Result<Installed, WheelInstallError> {
    let entry_points_path = unpacked_dir.join(&plan.dist_info).join("entry_points.txt");
    let entry_points = if entry_points_path.is_file() {
        EntryPoints::parse(&read_text(&entry_points_path)?).map_err(|e| e.in_wheel(&plan.wheel))?
    } else {
        EntryPoints::default()
    };
    let mut generated =
        generated_files(plan, &entry_points, &options.interpreter, options.direct_url.as_deref())?;
    for script in plan.scripts_to_rewrite() {
        let source = unpacked_dir.join(&script.archive_path);
        // Only `#!python` scripts are rewritten: look at the first bytes before
        // reading a whole file (`.data/scripts` may hold a 30 MB binary, e.g. ruff).
        let mut head = [0_u8; 8];
        let read = fs::File::open(&source)
            .and_then(|mut file| {
                let mut filled = 0;
                while filled < head.len() {
                    match file.read(&mut head[filled..])? {
                        0 => break,
                        n => filled += n,
                    }
                }
                Ok(filled)
            })
            .map_err(io_error("read", &source))?;
        if !head[..read].starts_with(b"#!python") {
            continue;
        }
        let content = fs::read(&source).map_err(io_error("read", &source))?;
        if let Some(contents) = rewrite_shebang(&content, &options.interpreter) {
            generated.push(GeneratedFile { dest: script.dest.clone(), contents, executable: true });
        }
    }
    let rewritten: FxHashSet<&[u8]> = generated.iter().map(|g| path_bytes(&g.dest)).collect();

    fs::create_dir_all(&plan.root).map_err(io_error("create directory", &plan.root))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}-", plan.dist_info))
        .tempdir_in(&plan.root)
        .map_err(io_error("create a temporary directory in", &plan.root))?;
    let target = |dest: &Path| -> PathBuf {
        match dest.strip_prefix(&plan.dist_info_dest) {
            Ok(rest) => staging.path().join(rest),
            Err(_) => dest.to_path_buf(),
        }
    };

    create_parents(
        plan.files.iter().map(|f| target(&f.dest)).chain(generated.iter().map(|g| target(&g.dest))),
        &plan.root,
        staging.path(),
    )?;
    // Files of one wheel are placed in order: they share directories, and
    // threads linking into one directory only contend for its lock. Callers
    // parallelize across wheels instead.
    let mut linker = crate::link::DirLinker::new(unpacked_dir, mode);
    plan.files
        .iter()
        .filter(|file| !rewritten.contains(path_bytes(&file.dest)))
        .try_for_each(|file| {
            let dest = target(&file.dest);
            match &mut linker {
                Some(linker) => linker.link(&file.archive_path, &dest),
                None => link_file(&unpacked_dir.join(&file.archive_path), &dest, mode),
            }
            .map_err(io_error("install", &dest))
        })?;
    for file in &generated {
        write_generated(&target(&file.dest), file)?;
    }
    let record = rewrite_record(plan, &generated);
    let record_path = target(&plan.record_dest());
    fs::write(&record_path, &record).map_err(io_error("write", &record_path))?;
    set_mode(&record_path, false)?;

    move_into_place(staging, &plan.dist_info_dest)?;
    if mode == LinkMode::Hardlink && options.direct_url.is_none() {
        publish_recipe(unpacked_dir, plan, &generated, &record, &options.interpreter);
    }

    let placed: FxHashSet<&[u8]> =
        plan.files.iter().map(|f| path_bytes(&f.dest)).chain(generated.iter().map(|g| path_bytes(&g.dest))).collect();
    // All in one directory: ordered by file name, as paths would be.
    let mut scripts: Vec<PathBuf> = plan
        .files
        .iter()
        .map(|f| &f.dest)
        .chain(generated.iter().map(|g| &g.dest))
        .filter(|dest| dest.parent() == Some(plan.scheme.scripts.as_path()))
        .cloned()
        .collect();
    scripts.sort_unstable_by(|a, b| a.file_name().cmp(&b.file_name()));
    scripts.dedup();
    Ok(Installed {
        dist_info: plan.dist_info_dest.clone(),
        scripts,
        files: placed.len() + 1,
        warnings: plan.warnings.clone(),
    })
}

/// Create the parent directories of `targets` below `root` (and `staging`,
/// which exists), ancestors included, parents before children (byte order
/// puts a path before its extensions): one `mkdir` each, no failed attempts
/// and no `stat`s. Hashed, not ordered, while collecting: thousands of
/// component-wise path comparisons showed in profiles.
fn create_parents<P: AsRef<Path>>(
    targets: impl Iterator<Item = P>,
    root: &Path,
    staging: &Path,
) -> Result<(), WheelInstallError> {
    let mut seen: FxHashSet<Vec<u8>> = FxHashSet::default();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for target in targets {
        let mut dir = target.as_ref().parent();
        while let Some(current) = dir {
            if seen.contains(path_bytes(current)) || root.starts_with(current) || current == staging {
                break;
            }
            seen.insert(path_bytes(current).to_vec());
            dirs.push(current.to_path_buf());
            dir = current.parent();
        }
    }
    dirs.sort_unstable_by(|a, b| path_bytes(a).cmp(path_bytes(b)));
    for dir in &dirs {
        match fs::create_dir(dir) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Outside the plan's root (e.g. `bin/` or `include/` of a fresh env).
                fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
            }
            other => other.map_err(io_error("create directory", dir))?,
        }
    }
    Ok(())
}

/// Rename the assembled `.dist-info` (`staging`) to `dist_info_dest`, replacing an older one.
fn move_into_place(staging: tempfile::TempDir, dist_info_dest: &Path) -> Result<(), WheelInstallError> {
    if fs::symlink_metadata(dist_info_dest).is_ok() {
        fs::remove_dir_all(dist_info_dest).map_err(io_error("replace", dist_info_dest))?;
    }
    fs::rename(staging.path(), dist_info_dest).map_err(io_error("rename into place", dist_info_dest))?;
    let _ = staging.keep();
    Ok(())
}

/// The directory of an unpacked wheel holding its install recipes:
/// `.pybun-installed/<key>/` with `recipe` (a [`Recipe`]), the installed
/// `RECORD`, `INSTALLER` and the generated scripts (`script-<n>`), for one
/// environment layout (and interpreter, when there are scripts); `<key>` is
/// [`recipe_key`]. Written after the first checked install with hard links,
/// read by [`install_from_recipe`].
pub const RECIPES_DIR: &str = ".pybun-installed";

/// Keep what this install generated beside the unpacked wheel, so the next
/// install into an environment of the same layout links it instead (see
/// [`install_from_recipe`]). Best effort: a read-only cache, a concurrent
/// writer or a field that cannot be written only mean no recipe.
fn publish_recipe(
    unpacked_dir: &Path,
    plan: &InstallPlan,
    generated: &[GeneratedFile],
    record: &str,
    interpreter: &Path,
) {
    let installer = plan.dist_info_dest.join("INSTALLER");
    let mut scripts: Vec<(String, &GeneratedFile)> = Vec::new();
    for file in generated {
        if file.dest == installer {
            continue;
        }
        // Anything else than scripts (`direct_url.json`): no recipe.
        let Some(relative) = file.dest.strip_prefix(&plan.scheme.scripts).ok().and_then(Path::to_str) else { return };
        scripts.push((relative.to_string(), file));
    }
    let interpreter = match (scripts.is_empty(), interpreter.to_str()) {
        (true, _) => None,
        (false, Some(interpreter)) => Some(interpreter.to_string()),
        (false, None) => return,
    };
    let root_is_purelib = plan.root == plan.scheme.purelib;
    if !root_is_purelib && plan.root != plan.scheme.platlib {
        return;
    }
    let recipe = Recipe {
        layout: scheme_layout(&plan.scheme),
        interpreter,
        root_is_purelib,
        dist_info: plan.dist_info.clone(),
        scripts: scripts.iter().map(|(relative, _)| relative.clone()).collect(),
        warnings: plan.warnings.clone(),
    };
    let Some(text) = recipe.render() else { return };
    let recipes = unpacked_dir.join(RECIPES_DIR);
    let dest = recipes.join(recipe_key(&recipe.layout, recipe.interpreter.as_deref()));
    if dest.exists() || fs::create_dir_all(&recipes).is_err() {
        return;
    }
    let Ok(temp) = tempfile::Builder::new().prefix(".tmp-").tempdir_in(&recipes) else { return };
    let write = |name: &str, contents: &[u8], executable: bool| -> Result<(), WheelInstallError> {
        let path = temp.path().join(name);
        fs::write(&path, contents).map_err(io_error("write", &path))?;
        set_mode(&path, executable)
    };
    let mut written = write("RECORD", record.as_bytes(), false).and_then(|()| write("INSTALLER", INSTALLER.as_bytes(), false));
    for (index, (_, file)) in scripts.iter().enumerate() {
        written = written.and_then(|()| write(&format!("script-{index}"), &file.contents, true));
    }
    // The recipe last: a directory with one is complete.
    if written.and_then(|()| write("recipe", text.as_bytes(), false)).is_ok() && fs::rename(temp.path(), &dest).is_ok() {
        let _ = temp.keep();
    }
}

/// What [`install_from_recipe`] installed: as [`install_planned`], plus the
/// destinations of the wheel's files outside `.dist-info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeInstalled {
    pub installed: Installed,
    pub placed: Vec<PathBuf>,
}

/// Install a wheel unpacked at `unpacked_dir` into `scheme` from a recipe
/// an earlier install into an environment of the same layout (and
/// interpreter, for a wheel with scripts) left ([`RECIPES_DIR`]): the wheel's
/// files hard-linked to the destinations [`destinations`] gives, then the
/// recipe's `RECORD`, `INSTALLER` and scripts hard-linked too, the
/// `.dist-info` assembled under a temporary name and renamed into place last,
/// as [`install_planned`] does. `Ok(None)` when there is no usable recipe,
/// `mode` is not [`LinkMode::Hardlink`] or the install has a `direct_url.json`:
/// plan and install the checked way then.
///
/// The hard-linked `RECORD` is shared by every environment installed this
/// way; nothing in PyBun writes to an installed `RECORD` (uninstalling reads
/// it, reinstalling writes a new file).
///
/// # Errors
/// An IO error while placing files; the `.dist-info` directory does not appear then.
pub fn install_from_recipe(
    unpacked_dir: &Path,
    scheme: &SchemePaths,
    mode: LinkMode,
    options: &InstallOptions,
) -> Result<Option<RecipeInstalled>, WheelInstallError> {
    if mode != LinkMode::Hardlink || options.direct_url.is_some() {
        return Ok(None);
    }
    let layout = scheme_layout(scheme);
    let interpreter = options.interpreter.to_str();
    let recipes = unpacked_dir.join(RECIPES_DIR);
    let keys = [Some(recipe_key(&layout, None)), interpreter.map(|i| recipe_key(&layout, Some(i)))];
    let found = keys.into_iter().flatten().find_map(|key| {
        let dir = recipes.join(key);
        let recipe = Recipe::parse(&fs::read_to_string(dir.join("recipe")).ok()?)?;
        let expected = if recipe.scripts.is_empty() { None } else { interpreter };
        (recipe.layout == layout && recipe.interpreter.as_deref() == expected).then_some((dir, recipe))
    });
    let Some((recipe_dir, recipe)) = found else { return Ok(None) };
    let entries = unpacked_entries(unpacked_dir)?;
    let Some(files) = destinations(&entries, &recipe.dist_info, recipe.root_is_purelib, scheme) else {
        return Ok(None);
    };
    let root = if recipe.root_is_purelib { &scheme.purelib } else { &scheme.platlib };
    let dist_info_dest = root.join(&recipe.dist_info);
    let scripts: Vec<PathBuf> = recipe.scripts.iter().map(|relative| scheme.scripts.join(relative)).collect();
    let rewritten: FxHashSet<&[u8]> = scripts.iter().map(|dest| path_bytes(dest)).collect();

    fs::create_dir_all(root).map_err(io_error("create directory", root))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}-", recipe.dist_info))
        .tempdir_in(root)
        .map_err(io_error("create a temporary directory in", root))?;
    // Where each file is placed: `.dist-info` files in the staging directory.
    let targets: Vec<PathBuf> = files
        .iter()
        .map(|file| match file.archive_path.split_once('/') {
            Some((_, rest)) if file.in_dist_info => staging.path().join(rest),
            _ => file.dest.clone(),
        })
        .collect();
    create_parents(targets.iter().chain(&scripts), root, staging.path())?;
    let link = |linker: &mut Option<crate::link::DirLinker>, source_root: &Path, relative: &str, dest: &Path| {
        match linker {
            Some(linker) => linker.link(relative, dest),
            None => link_file(&source_root.join(relative), dest, mode),
        }
        .map_err(io_error("install", dest))
    };
    let mut linker = crate::link::DirLinker::new(unpacked_dir, mode);
    for (file, target) in files.iter().zip(&targets) {
        if !rewritten.contains(path_bytes(&file.dest)) {
            link(&mut linker, unpacked_dir, file.archive_path, target)?;
        }
    }
    let mut prepared = crate::link::DirLinker::new(&recipe_dir, mode);
    for (index, dest) in scripts.iter().enumerate() {
        link(&mut prepared, &recipe_dir, &format!("script-{index}"), dest)?;
    }
    for name in ["RECORD", "INSTALLER"] {
        link(&mut prepared, &recipe_dir, name, &staging.path().join(name))?;
    }
    move_into_place(staging, &dist_info_dest)?;

    // As `install_planned` counts: the wheel's files, the generated ones, `RECORD`.
    let files_count = {
        let mut all: FxHashSet<&[u8]> = files.iter().map(|f| path_bytes(&f.dest)).collect();
        all.extend(scripts.iter().map(|p| path_bytes(p)));
        all.len() + 2
    };
    let mut placed: Vec<PathBuf> = files.into_iter().filter(|f| !f.in_dist_info).map(|f| f.dest).collect();
    let mut all_scripts: Vec<PathBuf> = placed
        .iter()
        .filter(|dest| dest.parent() == Some(scheme.scripts.as_path()))
        .chain(scripts.iter().filter(|dest| dest.parent() == Some(scheme.scripts.as_path())))
        .cloned()
        .collect();
    all_scripts.sort_unstable_by(|a, b| a.file_name().cmp(&b.file_name()));
    all_scripts.dedup();
    placed.retain(|dest| !rewritten.contains(path_bytes(dest)));
    Ok(Some(RecipeInstalled {
        installed: Installed {
            dist_info: dist_info_dest,
            scripts: all_scripts,
            files: files_count,
            warnings: recipe.warnings,
        },
        placed,
    }))
}

/// Unpack `wheel` into `cache_dir` (once; see [`unpack_wheel`]) and install it
/// into `scheme`, with `mode` or else the [`detect_link_mode`](crate::detect_link_mode) one.
///
/// # Errors
/// As [`unpack_wheel`], [`plan_unpacked`] and [`install_planned`].
pub fn install_wheel(
    wheel: &Path,
    cache_dir: &Path,
    scheme: &SchemePaths,
    mode: Option<LinkMode>,
    options: &InstallOptions,
) -> Result<Installed, WheelInstallError> {
    let filename = wheel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let wheel_name = WheelFilename::from_str(&filename)
        .map_err(|e| WheelInstallError::InvalidArchive { wheel: filename.clone(), reason: e.to_string() })?;
    let unpacked = cache_dir.join(filename.trim_end_matches(".whl"));
    unpack_wheel(wheel, &unpacked)?;
    let plan = plan_unpacked(&unpacked, &wheel_name, scheme)?;
    fs::create_dir_all(&plan.root).map_err(io_error("create directory", &plan.root))?;
    let mode = mode.unwrap_or_else(|| crate::detect_link_mode(&unpacked, &plan.root));
    install_planned(&unpacked, &plan, mode, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pybun_testkit::{DistSpec, build_wheel};

    #[test]
    fn a_concurrent_winner_keeps_its_unpack() {
        let dir = tempfile::tempdir().unwrap();
        let (filename, bytes) = build_wheel(&DistSpec::new("demo", "1.0"), "py3-none-any");
        let dest = dir.path().join("cache/demo-1.0");

        // We finish unpacking, then another process renames its copy into place first.
        let ours = unpack_to_temp(&filename, (io::Cursor::new(&bytes[..]), io::Cursor::new(&bytes[..])), &dest).unwrap();
        let ours_path = ours.path().to_path_buf();
        fs::create_dir_all(dest.join("demo-1.0.dist-info")).unwrap();
        fs::write(dest.join("winner"), "theirs").unwrap();

        assert_eq!(commit(ours, &dest).unwrap(), Unpacked::AlreadyPresent);
        assert_eq!(fs::read_to_string(dest.join("winner")).unwrap(), "theirs");
        assert!(!ours_path.exists(), "the losing unpack is removed");
        let names: Vec<_> = fs::read_dir(dir.path().join("cache")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["demo-1.0"]);
    }
}
