//! One zip member inflated whole, in one call (libdeflate: about 1.4x the
//! speed of a streaming inflater on wheel members), checked against its
//! CRC-32, then written and hashed. Every unpacker uses this for members up
//! to [`WHOLE_INFLATE_LIMIT`]; larger ones are inflated as a stream.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use pybun_install::{HashAlgorithm, RecordHash, RecordHasher};

use crate::wheel::{WheelInstallError, io_error};

/// Members inflating to more than this are inflated as a stream instead
/// (their bytes are never held whole in memory).
pub(crate) const WHOLE_INFLATE_LIMIT: u64 = 64 * 1024 * 1024;

/// Members larger than this are hashed on a second thread while the first
/// writes them.
const HASH_ASIDE: usize = 1024 * 1024;

/// Zip compression methods PyBun reads.
const STORED: u16 = 0;
const DEFLATED: u16 = 8;

/// A decompressor and an output buffer, reused from member to member (the
/// buffer only grows, and is not zeroed again).
pub(crate) struct Inflater {
    decompressor: libdeflater::Decompressor,
    out: Vec<u8>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").field("buffer", &self.out.len()).finish()
    }
}

impl Inflater {
    pub(crate) fn new() -> Self {
        Self { decompressor: libdeflater::Decompressor::new(), out: Vec::new() }
    }

    /// The `size` bytes that `data` (a member's bytes as stored, compressed
    /// with `method`) holds, checked against `crc32`. `size` must be at most
    /// [`WHOLE_INFLATE_LIMIT`]. The error is the reason, for a message.
    pub(crate) fn inflate<'a>(&'a mut self, method: u16, data: &'a [u8], size: u64, crc32: u32) -> Result<&'a [u8], String> {
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
                if self.out.len() < size {
                    self.out.resize(size, 0);
                }
                let out = &mut self.out[..size];
                match self.decompressor.deflate_decompress(data, out) {
                    Ok(n) if n == size => &self.out[..size],
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

/// Read exactly `n` bytes from `input` into the start of `buffer` (grown as
/// needed, never shrunk): the bytes read.
pub(crate) fn read_into<'a>(input: &mut impl io::Read, buffer: &'a mut Vec<u8>, n: usize) -> io::Result<&'a [u8]> {
    if buffer.len() < n {
        buffer.resize(n, 0);
    }
    input.read_exact(&mut buffer[..n])?;
    Ok(&buffer[..n])
}

/// The zip method number of `method` (`u16::MAX` for one PyBun does not read).
pub(crate) fn method_code(method: zip::CompressionMethod) -> u16 {
    match method {
        zip::CompressionMethod::Stored => STORED,
        zip::CompressionMethod::Deflated => DEFLATED,
        _ => u16::MAX,
    }
}

/// What a zip local file header says of the member that follows it.
#[derive(Debug)]
pub(crate) struct LocalHeader {
    pub(crate) name: String,
    pub(crate) method: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) size: u64,
}

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;

/// Read the next local file header from `input`: `None` at the central
/// directory. An error for what a stream cannot follow or PyBun does not
/// read: sizes in a data descriptor after the data, encryption, a name that
/// is neither ASCII nor flagged UTF-8, a Unicode path extra field (the
/// whole-archive unpacker then decides).
pub(crate) fn read_local_header(input: &mut impl io::Read) -> io::Result<Option<LocalHeader>> {
    let unsupported = |what: &str| io::Error::new(io::ErrorKind::Unsupported, what.to_string());
    let mut fixed = [0_u8; 30];
    input.read_exact(&mut fixed[..4])?;
    match u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]) {
        LOCAL_HEADER => {}
        CENTRAL_HEADER => return Ok(None),
        _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "not a local file header")),
    }
    input.read_exact(&mut fixed[4..])?;
    let u16_at = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]);
    let flags = u16_at(6);
    if flags & 0x0001 != 0 {
        return Err(unsupported("an encrypted member"));
    }
    if flags & 0x0008 != 0 {
        return Err(unsupported("sizes in a data descriptor"));
    }
    let (method, crc32) = (u16_at(8), u32_at(14));
    let (mut compressed_size, mut size) = (u64::from(u32_at(18)), u64::from(u32_at(22)));
    let mut variable = vec![0_u8; usize::from(u16_at(26)) + usize::from(u16_at(28))];
    input.read_exact(&mut variable)?;
    let (name, mut extra) = variable.split_at(usize::from(u16_at(26)));
    let name = match std::str::from_utf8(name) {
        Ok(name) if name.is_ascii() || flags & 0x0800 != 0 => name.to_string(),
        _ => return Err(unsupported("a name neither ASCII nor flagged UTF-8")),
    };
    while extra.len() >= 4 {
        let (id, length) = (u16::from_le_bytes([extra[0], extra[1]]), usize::from(u16::from_le_bytes([extra[2], extra[3]])));
        let Some(mut field) = extra.get(4..4 + length) else { break };
        match id {
            // Zip64: the 64-bit sizes, for those the header gives as 0xFFFFFFFF.
            0x0001 => {
                let mut next = || {
                    let (value, rest) = field.split_first_chunk::<8>()?;
                    field = rest;
                    Some(u64::from_le_bytes(*value))
                };
                if size == 0xFFFF_FFFF {
                    size = next().ok_or_else(|| unsupported("a short zip64 field"))?;
                }
                if compressed_size == 0xFFFF_FFFF {
                    compressed_size = next().ok_or_else(|| unsupported("a short zip64 field"))?;
                }
            }
            0x7075 => return Err(unsupported("a Unicode path extra field")),
            _ => {}
        }
        extra = &extra[4 + length..];
    }
    Ok(Some(LocalHeader { name, method, crc32, compressed_size, size }))
}
