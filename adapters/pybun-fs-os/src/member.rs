//! One zip member inflated whole, in one call (libdeflate: about 1.4x the
//! speed of a streaming inflater on wheel members), checked against its
//! CRC-32, then written and hashed. Every unpacker uses this for members up
//! to [`WHOLE_INFLATE_LIMIT`]; larger ones are inflated as a stream.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use pybun_install::{HashAlgorithm, RecordHash, RecordHasher};

use crate::wheel::{WheelInstallError, io_error};

/// Members inflating to more than this are inflated as a stream instead, in
/// 256 KiB pieces: whole-member buffers for the largest members of many
/// wheels at once would add tens of MiB of fresh memory (a page fault per
/// 4 KiB, and more RSS) for little gain.
pub(crate) const WHOLE_INFLATE_LIMIT: u64 = 4 * 1024 * 1024;

/// Members larger than this are hashed on a second thread while the first
/// writes them.
const HASH_ASIDE: usize = 1024 * 1024;

/// Zip compression methods PyBun reads.
pub(crate) const STORED: u16 = 0;
pub(crate) const DEFLATED: u16 = 8;

/// A decompressor, reused from member to member.
pub(crate) struct Inflater {
    decompressor: libdeflater::Decompressor,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").finish_non_exhaustive()
    }
}

impl Inflater {
    pub(crate) fn new() -> Self {
        Self { decompressor: libdeflater::Decompressor::new() }
    }

    /// The `size` bytes that `data` (a member's bytes as stored, compressed
    /// with `method`) holds, checked against `crc32`. `size` must be at most
    /// [`WHOLE_INFLATE_LIMIT`]. The error is the reason, for a message.
    /// The inflated bytes are in `out`.
    pub(crate) fn inflate<'a>(
        &mut self,
        (method, data): (u16, &'a [u8]),
        size: u64,
        crc32: u32,
        out: &'a mut Buffer,
    ) -> Result<&'a [u8], String> {
        let size = usize::try_from(size).ok().filter(|&size| size as u64 <= WHOLE_INFLATE_LIMIT).ok_or_else(|| {
            format!("{size} bytes is more than can be inflated at once")
        })?;
        let bytes = match method {
            STORED => {
                if data.len() != size {
                    return Err(format!("stored with {} bytes, its header says {size}", data.len()));
                }
                data
            }
            DEFLATED => {
                match self.decompressor.deflate_decompress(data, out.room(size)) {
                    Ok(n) if n == size => &out.0[..size],
                    Ok(n) => return Err(format!("inflates to {n} bytes, its header says {size}")),
                    Err(libdeflater::DecompressionError::InsufficientSpace) => {
                        return Err(format!("more than {size} bytes inflated, its header says {size}"));
                    }
                    Err(libdeflater::DecompressionError::BadData) => return Err("invalid deflate data".to_string()),
                }
            }
            other => return Err(format!("unsupported compression method {other}")),
        };
        let actual = libdeflater::crc32(bytes);
        if actual != crc32 {
            return Err(format!("CRC-32 {actual:08x}, its header says {crc32:08x}"));
        }
        Ok(bytes)
    }
}

/// Write `bytes` to `out` (the file `target`) in one call and return their
/// hash with `algorithm`; a large file is hashed on a second thread while
/// this one writes.
pub(crate) fn write_hashed(
    out: &mut fs::File,
    target: &Path,
    bytes: &[u8],
    algorithm: HashAlgorithm,
) -> Result<RecordHash, WheelInstallError> {
    let hash = |bytes: &[u8]| {
        let mut hasher = RecordHasher::new(algorithm);
        hasher.update(bytes);
        hasher.finish()
    };
    if bytes.len() <= HASH_ASIDE {
        out.write_all(bytes).map_err(io_error("write", target))?;
        return Ok(hash(bytes));
    }
    std::thread::scope(|scope| {
        let hashing = std::thread::Builder::new().name("pybun-hash".to_string()).spawn_scoped(scope, || hash(bytes));
        let written = out.write_all(bytes).map_err(io_error("write", target));
        let digest = match hashing {
            Ok(handle) => handle.join().unwrap_or_else(|_| hash(bytes)),
            Err(_) => hash(bytes),
        };
        written.map(|()| digest)
    })
}

/// Read exactly `n` bytes from `input` into the start of `buffer`: the bytes read.
pub(crate) fn read_into<'a>(input: &mut impl io::Read, buffer: &'a mut Buffer, n: usize) -> io::Result<&'a [u8]> {
    input.read_exact(buffer.room(n))?;
    Ok(&buffer.0[..n])
}

/// A byte buffer taken from a pool shared by all unpacking threads and given
/// back when dropped. Fresh memory costs a page fault per 4 KiB (and large
/// members need tens of MiB): pooled, a cold sync touches about as much as
/// its threads use at once rather than as much as all its wheels' largest
/// members together. Buffers stay initialized, so they are not zeroed again.
#[derive(Debug, Default)]
pub(crate) struct Buffer(Vec<u8>);

/// The pool: at most this many bytes are kept.
const POOL_BYTES: usize = 32 * 1024 * 1024;
static POOL: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

impl Buffer {
    /// The first `n` bytes of the buffer, grown (or swapped for a pooled one
    /// large enough) as needed; their content is unspecified.
    pub(crate) fn room(&mut self, n: usize) -> &mut [u8] {
        if self.0.len() < n {
            let mut pool = POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // The smallest pooled buffer that is large enough, else the largest one (grown).
            let fit = (0..pool.len()).filter(|&i| pool[i].len() >= n).min_by_key(|&i| pool[i].len());
            let pick = fit.or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].len()));
            if let Some(i) = pick
                && pool[i].len() > self.0.len()
            {
                let taken = pool.swap_remove(i);
                let mine = std::mem::replace(&mut self.0, taken);
                if !mine.is_empty() {
                    pool.push(mine);
                }
            }
            drop(pool);
            if self.0.len() < n {
                // A new buffer rather than the old one grown: its content need
                // not be copied, and memory fresh from the system comes zeroed
                // (no memset). Rounded up, so that the next larger member
                // likely fits.
                self.0 = vec![0; n.next_power_of_two()];
            }
        }
        &mut self.0[..n]
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let mine = std::mem::take(&mut self.0);
        if mine.is_empty() {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pool.push(mine);
        // Over the limit: the smallest go first.
        pool.sort_unstable_by_key(|buffer| std::cmp::Reverse(buffer.len()));
        let mut kept = 0;
        pool.retain(|buffer| {
            kept += buffer.len();
            kept <= POOL_BYTES
        });
    }
}

/// The zip method number of `method`.
#[allow(deprecated)]
pub(crate) fn method_code(method: zip::CompressionMethod) -> u16 {
    method.to_u16()
}

/// What a zip local file header says of the member that follows it.
#[derive(Debug)]
pub(crate) struct LocalHeader {
    /// The header as stored (its fixed part, name and extra field).
    pub(crate) raw: Vec<u8>,
    /// The name's bytes as stored.
    pub(crate) raw_name: Vec<u8>,
    /// The name, when it is ASCII or flagged UTF-8 and no Unicode path extra
    /// field overrides it (else the stream leaves the member to the central
    /// directory, which the zip reader decodes).
    pub(crate) name: Option<String>,
    pub(crate) method: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) size: u64,
    /// The sizes and CRC follow the data (a data descriptor); those above are zero.
    pub(crate) sizes_follow: bool,
}

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;

/// Read the next local file header from `input`: `None` at the central
/// directory. An encrypted member is an error.
pub(crate) fn read_local_header(input: &mut impl io::Read) -> io::Result<Option<LocalHeader>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut fixed = [0_u8; 30];
    input.read_exact(&mut fixed[..4])?;
    match u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]) {
        LOCAL_HEADER => {}
        CENTRAL_HEADER => return Ok(None),
        _ => return Err(invalid("not a local file header")),
    }
    input.read_exact(&mut fixed[4..])?;
    let u16_at = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]);
    let flags = u16_at(6);
    if flags & 0x0001 != 0 {
        return Err(invalid("an encrypted member"));
    }
    let (method, crc32) = (u16_at(8), u32_at(14));
    let (mut compressed_size, mut size) = (u64::from(u32_at(18)), u64::from(u32_at(22)));
    let mut variable = vec![0_u8; usize::from(u16_at(26)) + usize::from(u16_at(28))];
    input.read_exact(&mut variable)?;
    let (raw_name, mut extra) = variable.split_at(usize::from(u16_at(26)));
    let mut name = match std::str::from_utf8(raw_name) {
        Ok(name) if name.is_ascii() || flags & 0x0800 != 0 => Some(name.to_string()),
        _ => None,
    };
    while extra.len() >= 4 {
        let (id, length) = (u16::from_le_bytes([extra[0], extra[1]]), usize::from(u16::from_le_bytes([extra[2], extra[3]])));
        let Some(field) = extra.get(4..4 + length) else { break };
        match id {
            // Zip64: both 64-bit sizes (uncompressed first) when either is
            // 0xFFFFFFFF in the header, as the spec asks of local headers;
            // else only those that are.
            0x0001 if size == 0xFFFF_FFFF || compressed_size == 0xFFFF_FFFF => {
                let values: Vec<u64> = field
                    .chunks_exact(8)
                    .map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap_or_default()))
                    .collect();
                match values.as_slice() {
                    [uncompressed, compressed, ..] => (size, compressed_size) = (*uncompressed, *compressed),
                    [one] if size == 0xFFFF_FFFF && compressed_size != 0xFFFF_FFFF => size = *one,
                    [one] if compressed_size == 0xFFFF_FFFF && size != 0xFFFF_FFFF => compressed_size = *one,
                    _ => return Err(invalid("a short zip64 extra field")),
                }
            }
            0x7075 => name = None,
            _ => {}
        }
        extra = &extra[4 + length..];
    }
    let sizes_follow = flags & 0x0008 != 0;
    let raw_name = raw_name.to_vec();
    let mut raw = fixed.to_vec();
    raw.extend_from_slice(&variable);
    Ok(Some(LocalHeader { raw, raw_name, name, method, crc32, compressed_size, size, sizes_follow }))
}

/// Whether a member of `size` bytes stored in `compressed_size` bytes with
/// `method` can be read and inflated whole: at most [`WHOLE_INFLATE_LIMIT`],
/// and stored in no more bytes than any deflate encoder needs (so header
/// sizes never ask for a large allocation). Otherwise the member is read as
/// a stream, and its real length decides.
pub(crate) fn fits_whole(method: u16, compressed_size: u64, size: u64) -> bool {
    size <= WHOLE_INFLATE_LIMIT
        && match method {
            STORED => compressed_size == size,
            // Stored blocks add 5 bytes per 65,535; fixed Huffman codes at
            // most 9 bits per byte.
            _ => compressed_size <= size + size / 8 + 64 * 1024,
        }
}

/// Check the local header at the start of `input` against what the central
/// directory says of the member (`name` as stored, sizes, CRC): the reason
/// they differ, if they do. With a data descriptor only the names are
/// compared.
pub(crate) fn local_header_differs(
    input: &mut impl io::Read,
    name: &[u8],
    (compressed_size, size, crc32): (u64, u64, u32),
) -> Option<String> {
    let local = match read_local_header(input) {
        Ok(Some(local)) => local,
        Ok(None) => return Some("no local header where the central directory points".to_string()),
        Err(e) => return Some(format!("its local header: {e}")),
    };
    if local.raw_name != name {
        return Some(format!("its local header names `{}`", String::from_utf8_lossy(&local.raw_name)));
    }
    if !local.sizes_follow && (local.compressed_size, local.size, local.crc32) != (compressed_size, size, crc32) {
        return Some("its local header gives other sizes or another CRC-32 than the central directory".to_string());
    }
    None
}
