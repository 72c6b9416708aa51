//! Unpacking a wheel while it downloads: members are extracted in archive
//! order from the zip's local headers as their bytes arrive, and checked
//! once the whole archive (its central directory, `RECORD`, and the
//! caller's hash of the archive) is there. Until then nothing is visible at
//! the destination: the members sit in a temporary directory beside it, as
//! with [`crate::unpack_wheel`].

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use pybun_install::{HashAlgorithm, InstallError, RecordHash, RecordHasher, is_safe_member_path};
use pybun_pep::WheelFilename;

use crate::member::{
    Buffer, DEFLATED, Inflater, LocalHeader, STORED, fits_whole, read_into, read_local_header, write_hashed,
};
use crate::wheel::{
    Unpacked, WheelInstallError, archive_entry, commit, copy_member, create_with_mode, extract_in_parallel, io_error, is_reserved,
    normalize, plan_from_dir, set_mode, unpack_dir_beside, write_manifest,
};

/// An archive arriving as a stream, which can tell when all of it is there.
pub trait ArchiveStream: Read {
    /// Once the whole archive has arrived: how many of its bytes have not
    /// been read yet. `None` while bytes are still arriving.
    fn unread_once_complete(&self) -> Option<u64>;
}

/// A plain reader: never known to be complete, so read to the end.
struct Plain<R>(R);

impl<R: Read> Read for Plain<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> ArchiveStream for Plain<R> {
    fn unread_once_complete(&self) -> Option<u64> {
        None
    }
}

/// Counts the bytes read through it (the stream's position).
struct Counted<'a, R> {
    inner: &'a mut R,
    read: u64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The rest of an archive that has arrived whole, when at least this large,
/// is extracted in parallel by [`StreamedWheel::finish`] rather than member
/// by member from the stream on one thread (the largest wheel's unpack,
/// still going when everything else is done, is the end of a cold sync).
pub const HAND_OVER_AT_LEAST: u64 = 1024 * 1024;

/// The members of a wheel extracted from a stream, not yet checked
/// (see [`StreamedWheel::extract`] and [`StreamedWheel::finish`]).
#[derive(Debug)]
pub struct StreamedWheel {
    filename: String,
    dest: PathBuf,
    temp: tempfile::TempDir,
    /// Per extracted file, by normalized path.
    members: HashMap<String, StreamedMember>,
    /// Where the stream was left with the rest of the archive there
    /// (members from this offset on are extracted by [`StreamedWheel::finish`]).
    handed_over_at: Option<u64>,
    /// Each local header read, at its offset (for [`StreamedWheel::finish_from`],
    /// given only the archive's unread part).
    headers: Vec<(u64, Vec<u8>)>,
}

#[derive(Debug)]
struct StreamedMember {
    /// The name as the local header gave it.
    raw_name: String,
    size: u64,
    compressed_size: u64,
    crc32: u32,
    sha256: RecordHash,
}

impl StreamedWheel {
    /// Extract the members of the wheel `filename` from `reader` (the archive
    /// from its first byte, as it arrives) into a temporary directory beside
    /// `dest`, up to the central directory. Each file's size, CRC and sha256
    /// are kept for [`StreamedWheel::finish`]; nothing is checked against
    /// `RECORD` yet and nothing appears at `dest`.
    ///
    /// # Errors
    /// Whatever a stream cannot give: a member whose sizes follow its data
    /// (a data descriptor), bytes before the first member, an unsafe or
    /// repeated name, a CRC or size mismatch, a member too large to inflate
    /// at once, an early end, an IO error. The temporary directory is
    /// removed. The caller then reads the whole archive and unpacks it with
    /// [`crate::unpack_wheel_bytes`], which gives the authoritative verdict.
    pub fn extract(filename: &str, reader: &mut impl Read, dest: &Path) -> Result<Self, WheelInstallError> {
        Self::extract_from(filename, &mut Plain(reader), dest)
    }

    /// [`StreamedWheel::extract`] from a stream that says when the whole
    /// archive has arrived: from then on, if at least [`HAND_OVER_AT_LEAST`]
    /// bytes of it are still unread, extraction stops at the next member
    /// and [`StreamedWheel::finish`] extracts the rest in parallel.
    ///
    /// # Errors
    /// As [`StreamedWheel::extract`].
    pub fn extract_from(filename: &str, stream: &mut impl ArchiveStream, dest: &Path) -> Result<Self, WheelInstallError> {
        let invalid = |reason: String| WheelInstallError::InvalidArchive { wheel: filename.to_string(), reason };
        WheelFilename::from_str(filename).map_err(|e| invalid(e.to_string()))?;
        let temp = unpack_dir_beside(dest)?;
        let mut made_dirs = HashSet::new();
        let mut members = HashMap::new();
        let mut pieces = Vec::with_capacity(256 * 1024);
        let mut inflater = Inflater::new();
        let mut reader = Counted { inner: stream, read: 0 };
        let mut handed_over_at = None;
        let mut headers = Vec::new();
        loop {
            if reader.inner.unread_once_complete().is_some_and(|unread| unread >= HAND_OVER_AT_LEAST) {
                handed_over_at = Some(reader.read);
                break;
            }
            let at = reader.read;
            let Some(mut header) = read_local_header(&mut reader).map_err(|e| invalid(format!("at byte {at}: {e}")))? else {
                break;
            };
            headers.push((at, std::mem::take(&mut header.raw)));
            // What the stream cannot follow (sizes after the data, a name only
            // the central directory decodes): this member and the rest are
            // extracted by `finish`, from the whole archive.
            let (Some(name), false) = (header.name.take(), header.sizes_follow) else {
                handed_over_at = Some(at);
                break;
            };
            let mut data = (&mut reader).take(header.compressed_size);
            if name.ends_with('/') {
                io::copy(&mut data, &mut io::sink()).map_err(|e| invalid(format!("cannot read `{name}`: {e}")))?;
                continue;
            }
            let raw_name = name;
            if !is_safe_member_path(&raw_name) {
                return Err(invalid(format!("unsafe member name `{raw_name}`")));
            }
            let path = normalize(&raw_name);
            if is_reserved(&path) {
                return Err(invalid(format!("`{path}` is a name PyBun's cache uses for itself")));
            }
            if members.contains_key(&path) {
                return Err(invalid(format!("`{path}` appears twice")));
            }
            let target = temp.path().join(&path);
            if let Some(dir) = target.parent()
                && made_dirs.insert(dir.to_path_buf())
            {
                fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
            }
            let mut out = create_with_mode(&target, false).map_err(io_error("create", &target))?;
            let extract_error = |reason: String| invalid(format!("cannot extract `{path}`: {reason}"));
            let sha256 = match usize::try_from(header.compressed_size) {
                // Small members inflated whole (buffers of a few MiB at most, pooled);
                // larger ones as a stream, in 256 KiB pieces.
                Ok(stored) if fits_whole(header.method, header.compressed_size, header.size) => {
                    // Buffers from the pool for this member only: a download waiting
                    // for bytes holds none.
                    let (mut compressed, mut inflated) = (Buffer::default(), Buffer::default());
                    let data = read_into(&mut data, &mut compressed, stored)
                        .map_err(|e| invalid(format!("cannot read `{path}`: {e}")))?;
                    let bytes = inflater
                        .inflate((header.method, data), header.size, header.crc32, &mut inflated)
                        .map_err(extract_error)?;
                    write_hashed(&mut out, &target, bytes, HashAlgorithm::Sha256)?
                }
                _ => inflate_streamed(&mut data, &header, (&mut out, &target), &mut pieces, extract_error)?,
            };
            let streamed = StreamedMember {
                raw_name,
                size: header.size,
                compressed_size: header.compressed_size,
                crc32: header.crc32,
                sha256,
            };
            members.insert(path, streamed);
        }
        Ok(Self { filename: filename.to_string(), dest: dest.to_path_buf(), temp, members, handed_over_at, headers })
    }

    /// Check the extracted members against the whole `archive` (the same
    /// bytes the stream gave, which the caller has verified against the
    /// locked hash): the central directory must list exactly the extracted
    /// files with the same sizes and CRCs; then the checks of
    /// [`crate::unpack_wheel`] (unsafe names and symlinks, `WHEEL`, `RECORD`
    /// sizes and hashes); executables get mode `0o755`. Then the directory is
    /// renamed to the destination, as [`crate::unpack_wheel`] does.
    ///
    /// # Errors
    /// As [`crate::unpack_wheel`]; the temporary directory is removed.
    pub fn finish(self, archive: &[u8]) -> Result<Unpacked, WheelInstallError> {
        self.finish_from(&[archive], 0)
    }

    /// [`StreamedWheel::finish`] given only the archive's bytes from
    /// `rest_offset` on (`rest`, in consecutive blocks), which must start no later than the point
    /// the stream was left at (its last read, or the hand-over): the local
    /// headers of the members before it were recorded as they were read.
    ///
    /// # Errors
    /// As [`StreamedWheel::finish`].
    pub fn finish_from(mut self, rest: &[&[u8]], rest_offset: u64) -> Result<Unpacked, WheelInstallError> {
        let filename = self.filename.clone();
        let invalid = |reason: String| WheelInstallError::InvalidArchive { wheel: filename.clone(), reason };
        let wheel_name = WheelFilename::from_str(&filename).map_err(|e| invalid(e.to_string()))?;
        let headers = std::mem::take(&mut self.headers);
        let kept = Kept { headers: &headers, rest, rest_offset, position: 0 };
        let config = zip::read::Config { archive_offset: zip::read::ArchiveOffset::Known(0) };
        let mut zip = zip::ZipArchive::with_config(config, kept).map_err(|e| invalid(e.to_string()))?;
        let mut entries = Vec::with_capacity(zip.len());
        // Distinct names: a name listed twice must not make up for a member not listed.
        let mut listed = HashSet::with_capacity(self.members.len());
        // The members after the point the stream was left at, to extract now.
        let mut handed_over = Vec::new();
        let mut rest_names = HashSet::new();
        for index in 0..zip.len() {
            let member = zip.by_index_raw(index).map_err(|e| invalid(e.to_string()))?;
            entries.push(archive_entry(&member));
            if member.is_dir() {
                continue;
            }
            if self.handed_over_at.is_some_and(|at| member.header_start() >= at) {
                let path = normalize(member.name());
                if !is_safe_member_path(member.name()) {
                    return Err(invalid(format!("unsafe member name `{}`", member.name())));
                }
                if is_reserved(&path) {
                    return Err(invalid(format!("`{path}` is a name PyBun's cache uses for itself")));
                }
                if self.members.contains_key(&path) || !rest_names.insert(path.clone()) {
                    return Err(invalid(format!("`{path}` appears twice")));
                }
                handed_over.push(index);
                continue;
            }
            let same = self.members.get(&normalize(member.name())).is_some_and(|streamed| {
                streamed.raw_name == member.name()
                    && streamed.size == member.size()
                    && streamed.compressed_size == member.compressed_size()
                    && streamed.crc32 == member.crc32()
            });
            if !same {
                return Err(invalid(format!(
                    "the central directory's `{}` differs from the member in the archive",
                    member.name()
                )));
            }
            listed.insert(normalize(member.name()));
        }
        if listed.len() != self.members.len() {
            return Err(invalid("the central directory does not list every member of the archive".to_string()));
        }
        if !handed_over.is_empty() {
            for extracted in extract_in_parallel(&zip, &kept, &handed_over, self.temp.path(), &filename)? {
                let streamed = StreamedMember {
                    size: extracted.size,
                    compressed_size: extracted.compressed_size,
                    crc32: extracted.crc32,
                    sha256: extracted.sha256,
                    raw_name: extracted.raw_name,
                };
                self.members.insert(normalize(&streamed.raw_name), streamed);
            }
        }
        // Every member is extracted now: `WHEEL` and `RECORD` are read from there.
        let plan = plan_from_dir(self.temp.path(), &wheel_name, &filename, &entries)?;

        let mut executable = HashSet::new();
        for file in &plan.files {
            let Some(streamed) = self.members.get(&file.archive_path) else {
                return Err(invalid(format!("`{}` was not extracted", file.archive_path)));
            };
            let target = self.temp.path().join(&file.archive_path);
            let actual = if streamed.sha256.algorithm == file.hash.algorithm {
                streamed.sha256.clone()
            } else {
                hash_file(&target, file.hash.algorithm)?
            };
            if streamed.size != file.size {
                return Err(InstallError::SizeMismatch {
                    wheel: filename,
                    path: file.archive_path.clone(),
                    expected: file.size,
                    actual: streamed.size,
                }
                .into());
            }
            if actual != file.hash {
                return Err(InstallError::HashMismatch {
                    wheel: filename,
                    path: file.archive_path.clone(),
                    expected: file.hash.to_string(),
                    actual: actual.to_string(),
                }
                .into());
            }
            if file.executable {
                set_mode(&target, true)?;
                executable.insert(file.archive_path.as_str());
            }
        }
        let manifest: Vec<(String, u64, bool)> = entries
            .iter()
            .filter(|entry| !entry.is_dir)
            .map(|entry| {
                let path = normalize(&entry.path);
                let is_executable = executable.contains(path.as_str());
                (path, entry.size, is_executable)
            })
            .collect();
        write_manifest(self.temp.path(), &manifest)?;
        commit(self.temp, &self.dest)
    }
}

fn hash_file(path: &Path, algorithm: HashAlgorithm) -> Result<RecordHash, WheelInstallError> {
    let mut file = fs::File::open(path).map_err(io_error("open", path))?;
    let mut hasher = RecordHasher::new(algorithm);
    let mut buffer = vec![0_u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(io_error("read", path))?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buffer[..n]);
    }
}

/// Inflate (or copy, if stored) the member `header` describes from `data`
/// (its stored bytes) into `out` as a stream, checking its size and CRC-32:
/// its sha256. The stored bytes are read to their end.
fn inflate_streamed(
    data: &mut io::Take<impl Read>,
    header: &LocalHeader,
    out: (&mut fs::File, &Path),
    pieces: &mut Vec<u8>,
    invalid: impl Fn(String) -> WheelInstallError,
) -> Result<RecordHash, WheelInstallError> {
    let mut hasher = RecordHasher::new(HashAlgorithm::Sha256);
    let mut crc = crc32fast::Hasher::new();
    let written = {
        let mut inflated: Box<dyn Read + '_> = match header.method {
            DEFLATED => Box::new(flate2::read::DeflateDecoder::new(&mut *data)),
            STORED => Box::new(&mut *data),
            other => return Err(invalid(format!("unsupported compression method {other}"))),
        };
        let mut checked = CrcReader { inner: &mut inflated, crc: &mut crc };
        copy_member(&mut checked, header.size, out, &mut hasher, pieces, |e| invalid(e.to_string()))?
    };
    io::copy(data, &mut io::sink()).map_err(|e| invalid(e.to_string()))?;
    if written != header.size {
        return Err(invalid(format!("{written} bytes inflated, its header says {}", header.size)));
    }
    let actual = crc.finalize();
    if actual != header.crc32 {
        return Err(invalid(format!("CRC-32 {actual:08x}, its header says {:08x}", header.crc32)));
    }
    Ok(hasher.finish())
}

/// Computes the CRC-32 of what is read through it.
struct CrcReader<'a, R> {
    inner: R,
    crc: &'a mut crc32fast::Hasher,
}

impl<R: Read> Read for CrcReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

/// An archive of which only some ranges are kept: the local headers the
/// stream read, and everything from `rest_offset` on (the central directory
/// and the members handed over), in consecutive blocks. Reading anywhere
/// else is an error.
#[derive(Clone, Copy)]
struct Kept<'a> {
    headers: &'a [(u64, Vec<u8>)],
    rest: &'a [&'a [u8]],
    rest_offset: u64,
    position: u64,
}

impl Kept<'_> {
    fn end(&self) -> u64 {
        self.rest_offset + self.rest.iter().map(|block| block.len() as u64).sum::<u64>()
    }

    /// The kept piece holding the position, and where it starts.
    fn piece(&self) -> Option<(u64, &[u8])> {
        if self.position >= self.rest_offset {
            let mut at = self.rest_offset;
            for block in self.rest {
                if self.position < at + block.len() as u64 {
                    return Some((at, block));
                }
                at += block.len() as u64;
            }
            return None;
        }
        // The last header starting at or before the position, if the position is inside it.
        let after = self.headers.partition_point(|(at, _)| *at <= self.position);
        after
            .checked_sub(1)
            .map(|i| (self.headers[i].0, self.headers[i].1.as_slice()))
            .filter(|(at, bytes)| self.position < at + bytes.len() as u64)
    }
}

impl Read for Kept<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.end() || buf.is_empty() {
            return Ok(0);
        }
        let Some((at, bytes)) = self.piece() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("byte {} is in a member the stream had already read", self.position),
            ));
        };
        let from = usize::try_from(self.position - at).unwrap_or(usize::MAX);
        let n = buf.len().min(bytes.len().saturating_sub(from));
        buf[..n].copy_from_slice(&bytes[from..from + n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl io::Seek for Kept<'_> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let position = match to {
            io::SeekFrom::Start(at) => Some(at),
            io::SeekFrom::End(delta) => self.end().checked_add_signed(delta),
            io::SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position =
            position.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the archive"))?;
        Ok(self.position)
    }
}
