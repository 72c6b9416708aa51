//! The parsed form of a project page, as stored in the `simple-parsed/` cache
//! bucket: the page's [`DistFile`]s (already filtered to the project) and the
//! cache header of the response they came from, in a compact binary encoding.
//!
//! Warm lookups read this instead of the raw page, so they skip the JSON/HTML
//! parsing, URL resolution and filename checks (the raw page of a big project
//! is several megabytes; its parsed form is a fraction of that and decodes
//! with little more than one allocation per string).
//!
//! Layout (integers are unsigned LEB128 varints unless noted):
//!
//! ```text
//! "PBSP"  version:u8  crc32:u32-le(payload)  payload
//! payload = header  name:str  index:str  count  file*count
//! header  = url:str final_url:str status content_type:opt etag:opt
//!           last_modified:opt max_age:optint stored_at immutable:u8 extra:opt
//! file    = flags:u8 filename:str url-prefix:int url-rest:str
//!           [sha256: 32 raw bytes | str] [size] [requires_python:str]
//!           [yanked:str] [upload_time:str]
//! str     = len bytes (UTF-8);  opt = 0 | 1 str;  optint = 0 | 1 int
//! ```
//!
//! A file URL that ends with `/{filename}` is stored without the filename
//! (flag), and shares `url-prefix` bytes with the previous file's stored URL.
//! Decoding checks the magic, the version, the checksum, every length and
//! that nothing is left over; any failure is an error (the caller treats it as
//! a cache miss), never a panic. It streams the entry through a fixed chunk
//! buffer (the checksum is computed on the way and compared at the end), so a
//! multi-megabyte page never sits in memory whole next to its decoded files.

use std::io::Read;

use pybun_ports::DistFile;

use crate::cache::EntryHeader;

const MAGIC: &[u8; 4] = b"PBSP";
/// Bump on any layout change: older entries then read as misses.
const VERSION: u8 = 1;
/// Magic, version, checksum.
const PREAMBLE: usize = 4 + 1 + 4;

const SHA256: u8 = 1 << 0;
const SHA256_RAW: u8 = 1 << 1;
const SIZE: u8 = 1 << 2;
const REQUIRES_PYTHON: u8 = 1 << 3;
const YANKED: u8 = 1 << 4;
const UPLOAD_TIME: u8 = 1 << 5;
const HAS_METADATA: u8 = 1 << 6;
const URL_ENDS_WITH_FILENAME: u8 = 1 << 7;

/// A decoded parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedEntry {
    pub(crate) header: EntryHeader,
    pub(crate) files: Vec<DistFile>,
}

/// Encode the files of project `name` listed by `index` (every file's
/// `index` must be `index`; it is stored once).
pub(crate) fn encode(header: &EntryHeader, name: &str, index: &str, files: &[DistFile]) -> Vec<u8> {
    let mut out = Writer(Vec::with_capacity(PREAMBLE + 256 + files.len() * 160));
    out.0.extend_from_slice(MAGIC);
    out.0.push(VERSION);
    out.0.extend_from_slice(&[0; 4]);
    out.str(&header.url);
    out.str(&header.final_url);
    out.int(u64::from(header.status));
    out.opt(header.content_type.as_deref());
    out.opt(header.etag.as_deref());
    out.opt(header.last_modified.as_deref());
    match header.max_age {
        Some(age) => {
            out.0.push(1);
            out.int(age);
        }
        None => out.0.push(0),
    }
    out.int(header.stored_at);
    out.0.push(u8::from(header.immutable));
    out.opt(header.extra.as_deref());
    out.str(name);
    out.str(index);
    write_files(&mut out, files, index);
    let mut bytes = out.0;
    let crc = crc32fast::hash(&bytes[PREAMBLE..]);
    bytes[5..PREAMBLE].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// `count file*count` (see the layout): files that all have `index`.
fn write_files(out: &mut Writer, files: &[DistFile], index: &str) {
    out.int(files.len() as u64);
    let mut previous = "";
    for file in files {
        debug_assert_eq!(file.index, index, "a run of files of one index");
        let stem = url_stem(&file.url, &file.filename);
        let sha_raw = file.sha256.as_deref().filter(|sha| is_lower_hex_sha256(sha));
        let mut flags = 0;
        for (set, flag) in [
            (file.sha256.is_some(), SHA256),
            (sha_raw.is_some(), SHA256_RAW),
            (file.size.is_some(), SIZE),
            (file.requires_python.is_some(), REQUIRES_PYTHON),
            (file.yanked.is_some(), YANKED),
            (file.upload_time.is_some(), UPLOAD_TIME),
            (file.has_metadata, HAS_METADATA),
            (stem.len() < file.url.len(), URL_ENDS_WITH_FILENAME),
        ] {
            if set {
                flags |= flag;
            }
        }
        out.0.push(flags);
        out.str(&file.filename);
        let shared = shared_prefix(previous, stem);
        out.int(shared as u64);
        out.str(&stem[shared..]);
        previous = stem;
        if let Some(sha) = sha_raw {
            let mut raw = [0; 32];
            // Checked by `is_lower_hex_sha256`; on the impossible failure the
            // zeroes are still covered by the checksum, never wrong silently.
            let _ = hex::decode_to_slice(sha, &mut raw);
            out.0.extend_from_slice(&raw);
        } else if let Some(sha) = &file.sha256 {
            out.str(sha);
        }
        if let Some(size) = file.size {
            out.int(size);
        }
        for text in [&file.requires_python, &file.yanked, &file.upload_time].into_iter().flatten() {
            out.str(text);
        }
    }
}

/// Decode an entry written by [`encode`] for the same `name` and `index`.
///
/// # Errors
/// A short description when the bytes are not a valid entry of this version,
/// or belong to another project or index.
#[cfg(test)]
pub(crate) fn decode(bytes: &[u8], name: &str, index: &str) -> Result<ParsedEntry, &'static str> {
    // Small chunks too, so that refills and chunk-spanning strings are exercised.
    let whole = decode_chunked(bytes, bytes.len() as u64, &mut Vec::new(), name, index, CHUNK);
    for chunk in [1, 3, 64] {
        let chunked = decode_chunked(bytes, bytes.len() as u64, &mut Vec::new(), name, index, chunk);
        assert_eq!(chunked.is_ok(), whole.is_ok(), "chunks of {chunk}");
        if let (Ok(chunked), Ok(whole)) = (&chunked, &whole) {
            assert_eq!(chunked, whole, "chunks of {chunk}");
        }
    }
    whole
}

/// Size of the chunks [`decode_from`] reads.
pub(crate) const CHUNK: usize = 128 << 10;

/// [`decode`] from a reader of `len` bytes (an open entry file), read in
/// chunks of [`CHUNK`] bytes through `buffer` (kept by the caller between
/// calls). Nothing is trusted before the checksum at the end matches.
///
/// # Errors
/// As [`decode`]; a read error is `"unreadable"`.
pub(crate) fn decode_from(
    source: impl Read,
    len: u64,
    buffer: &mut Vec<u8>,
    name: &str,
    index: &str,
) -> Result<ParsedEntry, &'static str> {
    decode_chunked(source, len, buffer, name, index, CHUNK)
}

fn decode_chunked(
    source: impl Read,
    len: u64,
    buffer: &mut Vec<u8>,
    name: &str,
    index: &str,
    chunk: usize,
) -> Result<ParsedEntry, &'static str> {
    let mut input = Reader::new(source, len, buffer, chunk.max(PREAMBLE));
    let preamble = input.take(PREAMBLE).map_err(|_| "not a parsed page")?;
    if &preamble[..4] != MAGIC {
        return Err("not a parsed page");
    }
    if preamble[4] != VERSION {
        return Err("another format version");
    }
    let mut crc = [0; 4];
    crc.copy_from_slice(&preamble[5..PREAMBLE]);
    input.start_checksum();
    let entry = decode_payload(&mut input, name, index)?;
    if !input.at_end()? {
        return Err("trailing bytes");
    }
    if input.checksum() != u32::from_le_bytes(crc) {
        return Err("checksum mismatch");
    }
    Ok(entry)
}

fn decode_payload(input: &mut Reader<'_, impl Read>, name: &str, index: &str) -> Result<ParsedEntry, &'static str> {
    let header = EntryHeader {
        url: input.string()?,
        final_url: input.string()?,
        status: u16::try_from(input.int()?).map_err(|_| "bad status")?,
        content_type: input.opt()?,
        etag: input.opt()?,
        last_modified: input.opt()?,
        max_age: match input.byte()? {
            0 => None,
            1 => Some(input.int()?),
            _ => return Err("bad max-age"),
        },
        stored_at: input.int()?,
        immutable: match input.byte()? {
            0 => false,
            1 => true,
            _ => return Err("bad flag"),
        },
        extra: input.opt()?,
    };
    if input.str()? != name {
        return Err("another project");
    }
    if input.str()? != index {
        return Err("another index");
    }
    let files = read_files(input, index)?;
    Ok(ParsedEntry { header, files })
}

/// The files written by [`write_files`] for `index`.
fn read_files(input: &mut Reader<'_, impl Read>, index: &str) -> Result<Vec<DistFile>, &'static str> {
    let count = usize::try_from(input.int()?).map_err(|_| "bad count")?;
    // Every file takes at least 4 bytes: never reserve more than the input allows.
    let mut files = Vec::with_capacity(count.min(usize::try_from(input.remaining() / 4).unwrap_or(usize::MAX)));
    // The previous file's stored URL is `files.last().url[..previous_stem]`.
    let mut previous_stem = 0;
    for _ in 0..count {
        let flags = input.byte()?;
        let filename = input.string()?;
        let shared = usize::try_from(input.int()?).map_err(|_| "bad URL")?;
        let rest = input.str()?;
        let previous = files.last().map_or("", |f: &DistFile| &f.url[..previous_stem]);
        let mut url = String::with_capacity(shared + rest.len() + filename.len());
        url.push_str(previous.get(..shared).ok_or("bad URL prefix")?);
        url.push_str(rest);
        previous_stem = url.len();
        if flags & URL_ENDS_WITH_FILENAME != 0 {
            url.push_str(&filename);
        }
        let sha256 = if flags & SHA256_RAW != 0 {
            if flags & SHA256 == 0 {
                return Err("bad flags");
            }
            Some(lower_hex(input.take(32)?))
        } else if flags & SHA256 != 0 {
            Some(input.string()?)
        } else {
            None
        };
        let size = if flags & SIZE != 0 { Some(input.int()?) } else { None };
        let mut text = |flag: u8| if flags & flag != 0 { input.string().map(Some) } else { Ok(None) };
        let requires_python = text(REQUIRES_PYTHON)?;
        let yanked = text(YANKED)?;
        let upload_time = text(UPLOAD_TIME)?;
        files.push(DistFile {
            filename,
            url,
            index: index.to_string(),
            sha256,
            size,
            requires_python,
            yanked,
            upload_time,
            has_metadata: flags & HAS_METADATA != 0,
        });
    }
    Ok(files)
}

/// A project's files held in memory in the encoded form of [`write_files`]
/// (no header, no checksum), for long-lived processes: a third of the size
/// of the [`DistFile`]s and one allocation instead of six per file; decoded
/// again when asked (see `HttpIndex`'s compact memo).
#[derive(Debug)]
pub(crate) struct CompactFiles {
    /// The index (or find-links location) of each run of consecutive files of one index.
    indexes: Box<[Box<str>]>,
    /// The runs, one after the other.
    bytes: Box<[u8]>,
}

impl CompactFiles {
    pub(crate) fn new(files: &[DistFile]) -> Self {
        let mut out = Writer(Vec::with_capacity(files.len() * 128));
        let mut indexes = Vec::new();
        for run in files.chunk_by(|a, b| a.index == b.index) {
            indexes.push(Box::from(run[0].index.as_str()));
            write_files(&mut out, run, &run[0].index);
        }
        Self { indexes: indexes.into_boxed_slice(), bytes: out.0.into_boxed_slice() }
    }

    /// The files, as given to [`CompactFiles::new`].
    ///
    /// # Errors
    /// Never for bytes written by [`CompactFiles::new`]; a description otherwise.
    pub(crate) fn files(&self) -> Result<Vec<DistFile>, &'static str> {
        let mut buffer = Vec::new();
        let chunk = CHUNK.min(self.bytes.len()).max(1);
        let mut input = Reader::new(&self.bytes[..], self.bytes.len() as u64, &mut buffer, chunk);
        let mut files = Vec::new();
        for index in &self.indexes {
            let run = read_files(&mut input, index)?;
            if files.is_empty() {
                files = run;
            } else {
                files.extend(run);
            }
        }
        if !input.at_end()? {
            return Err("trailing bytes");
        }
        Ok(files)
    }

    /// Bytes held (logs).
    pub(crate) fn size(&self) -> usize {
        self.bytes.len() + self.indexes.iter().map(|index| index.len() + 16).sum::<usize>()
    }
}

/// `url` without a trailing `filename` when it ends with `/{filename}`.
fn url_stem<'a>(url: &'a str, filename: &str) -> &'a str {
    match url.strip_suffix(filename) {
        Some(stem) if !filename.is_empty() && stem.ends_with('/') => stem,
        _ => url,
    }
}

/// Bytes `a` and `b` share at the start, on a character boundary.
fn shared_prefix(a: &str, b: &str) -> usize {
    let mut shared = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(shared) {
        shared -= 1;
    }
    shared
}

/// `bytes` as lower-case hex (`hex::encode` pushes one `char` at a time,
/// which shows in profiles of warm runs).
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0xf)]);
    }
    // Only ASCII digits were pushed.
    String::from_utf8(out).unwrap_or_default()
}

fn is_lower_hex_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

struct Writer(Vec<u8>);

impl Writer {
    fn int(&mut self, mut value: u64) {
        while value >= 0x80 {
            // Truncation intended: the low seven bits, with the continuation bit.
            self.0.push((value & 0x7f) as u8 | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn str(&mut self, text: &str) {
        self.int(text.len() as u64);
        self.0.extend_from_slice(text.as_bytes());
    }

    fn opt(&mut self, text: Option<&str>) {
        match text {
            Some(text) => {
                self.0.push(1);
                self.str(text);
            }
            None => self.0.push(0),
        }
    }
}

/// Reads an entry of known length in chunks: `buffer[pos..end]` holds the
/// bytes read from `source` and not yet consumed. Bytes are checksummed as
/// they are read, once [`Reader::start_checksum`] was called.
struct Reader<'b, R> {
    source: R,
    buffer: &'b mut Vec<u8>,
    /// The buffer's size: the most read at once.
    chunk: usize,
    pos: usize,
    end: usize,
    /// Bytes of the entry not yet read from `source`.
    unread: u64,
    /// Bytes consumed from the buffer are checksummed from here.
    checksummed: Option<usize>,
    crc: crc32fast::Hasher,
    /// Holds a string longer than a chunk.
    large: Vec<u8>,
}

impl<'b, R: Read> Reader<'b, R> {
    fn new(source: R, len: u64, buffer: &'b mut Vec<u8>, chunk: usize) -> Self {
        buffer.resize(chunk, 0);
        Self { source, buffer, chunk, pos: 0, end: 0, unread: len, checksummed: None, crc: crc32fast::Hasher::new(), large: Vec::new() }
    }

    /// Bytes of the entry not yet consumed.
    fn remaining(&self) -> u64 {
        self.unread + (self.end - self.pos) as u64
    }

    fn start_checksum(&mut self) {
        self.checksummed = Some(self.pos);
    }

    fn checksum(&mut self) -> u32 {
        self.flush_checksum();
        self.crc.clone().finalize()
    }

    fn flush_checksum(&mut self) {
        if let Some(from) = self.checksummed {
            self.crc.update(&self.buffer[from..self.pos]);
            self.checksummed = Some(self.pos);
        }
    }

    /// Make at least `want` (at most a chunk) bytes available.
    fn fill(&mut self, want: usize) -> Result<(), &'static str> {
        if self.end - self.pos >= want {
            return Ok(());
        }
        if want as u64 > self.remaining() {
            return Err("truncated");
        }
        self.flush_checksum();
        self.buffer.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.checksummed.is_some() {
            self.checksummed = Some(0);
        }
        while self.end - self.pos < want {
            let room = (self.chunk - self.end).min(usize::try_from(self.unread).unwrap_or(usize::MAX));
            let read = match self.source.read(&mut self.buffer[self.end..self.end + room]) {
                Ok(0) => return Err("truncated"),
                Ok(read) => read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return Err("unreadable"),
            };
            self.end += read;
            self.unread -= read as u64;
        }
        Ok(())
    }

    /// Whether every byte was consumed and the source has nothing more.
    fn at_end(&mut self) -> Result<bool, &'static str> {
        if self.remaining() != 0 {
            return Ok(false);
        }
        let mut probe = [0; 1];
        loop {
            match self.source.read(&mut probe) {
                Ok(read) => return Ok(read == 0),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err("unreadable"),
            }
        }
    }

    fn byte(&mut self) -> Result<u8, &'static str> {
        self.fill(1)?;
        let byte = self.buffer[self.pos];
        self.pos += 1;
        Ok(byte)
    }

    fn take(&mut self, len: usize) -> Result<&[u8], &'static str> {
        if len <= self.chunk {
            self.fill(len)?;
            self.pos += len;
            return Ok(&self.buffer[self.pos - len..self.pos]);
        }
        // Longer than a chunk (never written in practice): gathered whole.
        if len as u64 > self.remaining() {
            return Err("truncated");
        }
        self.large.clear();
        let mut missing = len;
        while missing > 0 {
            let step = missing.min(self.chunk);
            self.fill(step)?;
            self.large.extend_from_slice(&self.buffer[self.pos..self.pos + step]);
            self.pos += step;
            missing -= step;
        }
        Ok(&self.large)
    }

    fn int(&mut self) -> Result<u64, &'static str> {
        let mut value = 0_u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err("integer overflow");
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("integer overflow")
    }

    fn str(&mut self) -> Result<&str, &'static str> {
        let len = usize::try_from(self.int()?).map_err(|_| "bad length")?;
        std::str::from_utf8(self.take(len)?).map_err(|_| "invalid UTF-8")
    }

    fn string(&mut self) -> Result<String, &'static str> {
        self.str().map(str::to_string)
    }

    fn opt(&mut self) -> Result<Option<String>, &'static str> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.string().map(Some),
            _ => Err("bad option"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "https://example.org/simple";

    fn header() -> EntryHeader {
        EntryHeader {
            url: "https://example.org/simple/demo/".into(),
            final_url: "https://example.org/simple/demo/".into(),
            status: 200,
            content_type: Some("application/vnd.pypi.simple.v1+json".into()),
            etag: Some("\"abc\"".into()),
            last_modified: None,
            max_age: Some(600),
            stored_at: 1_700_000_000,
            immutable: false,
            extra: None,
        }
    }

    fn file(filename: &str, url: &str) -> DistFile {
        DistFile::new(filename, url, INDEX)
    }

    fn files() -> Vec<DistFile> {
        let mut wheel = file(
            "demo-1.0-py3-none-any.whl",
            "https://files.example/packages/ab/cd/0123/demo-1.0-py3-none-any.whl",
        );
        wheel.sha256 = Some("a".repeat(64));
        wheel.size = Some(300_000_000_000);
        wheel.requires_python = Some(">=3.8".into());
        wheel.upload_time = Some("2024-01-01T00:00:00.123Z".into());
        wheel.has_metadata = true;
        let mut sdist = file("demo-1.0.tar.gz", "https://files.example/packages/ab/ef/4567/demo-1.0.tar.gz");
        sdist.sha256 = Some("ABCDEF".into());
        sdist.yanked = Some(String::new());
        let mut odd = file("démo-2.0.tar.gz", "https://files.example/packages/é/other-name.tar.gz?x=1");
        odd.yanked = Some("broken — use 2.1".into());
        odd.size = Some(0);
        // Shares a prefix that ends inside a multi-byte character of the previous URL.
        let accent = file("demo-3.0.tar.gz", "https://files.example/packages/è/demo-3.0.tar.gz");
        let bare = file("demo-4.0.tar.gz", "demo-4.0.tar.gz");
        vec![wheel, sdist, odd, accent, bare]
    }

    #[test]
    fn round_trip() {
        let files = files();
        let bytes = encode(&header(), "demo", INDEX, &files);
        let decoded = decode(&bytes, "demo", INDEX).unwrap();
        assert_eq!(decoded, ParsedEntry { header: header(), files: files.clone() });
        let mut other = header();
        other.max_age = None;
        other.immutable = true;
        other.etag = None;
        other.last_modified = Some("yesterday".into());
        other.extra = Some("x".into());
        other.status = 404;
        let bytes = encode(&other, "demo", INDEX, &[]);
        assert_eq!(decode(&bytes, "demo", INDEX).unwrap(), ParsedEntry { header: other, files: Vec::new() });
    }

    #[test]
    fn compact_files_round_trip() {
        let mut files = files();
        let mut local = file("demo-5.0.tar.gz", "file:///wheels/demo-5.0.tar.gz");
        local.index = "/wheels".into();
        local.size = Some(12);
        files.push(local.clone());
        let mut other = file("demo-6.0.tar.gz", "https://other.example/demo-6.0.tar.gz");
        other.index = "https://other.example/simple".into();
        files.push(other);
        files.push(local);
        for files in [files.clone(), files[..1].to_vec(), Vec::new()] {
            let compact = CompactFiles::new(&files);
            assert_eq!(compact.files().unwrap(), files);
        }
        assert!(CompactFiles::new(&files).size() < files.iter().map(|f| f.url.len() + f.filename.len()).sum::<usize>() + 200);
    }

    #[test]
    fn other_project_or_index_is_rejected() {
        let bytes = encode(&header(), "demo", INDEX, &files());
        assert_eq!(decode(&bytes, "demo2", INDEX), Err("another project"));
        assert_eq!(decode(&bytes, "demo", "https://other.example/simple"), Err("another index"));
    }

    #[test]
    fn truncated_or_corrupt_entries_are_errors() {
        let bytes = encode(&header(), "demo", INDEX, &files());
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len], "demo", INDEX).is_err(), "truncated to {len}");
        }
        for position in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut corrupt = bytes.clone();
                corrupt[position] ^= flip;
                assert!(decode(&corrupt, "demo", INDEX).is_err(), "byte {position} ^ {flip:#x}");
            }
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer, "demo", INDEX).is_err());
        let mut version = bytes;
        version[4] = VERSION + 1;
        assert_eq!(decode(&version, "demo", INDEX), Err("another format version"));
    }

    #[test]
    fn corrupt_payload_with_a_valid_checksum_is_an_error() {
        // Payloads that pass the checksum but lie about lengths must not panic.
        let valid = encode(&header(), "demo", INDEX, &files());
        for position in PREAMBLE..valid.len() {
            for value in [0x00, 0x7f, 0x80, 0xff] {
                let mut bytes = valid.clone();
                bytes[position] = value;
                let crc = crc32fast::hash(&bytes[PREAMBLE..]);
                bytes[5..PREAMBLE].copy_from_slice(&crc.to_le_bytes());
                let _ = decode(&bytes, "demo", INDEX);
            }
        }
        let mut huge = Writer(Vec::new());
        huge.0.extend_from_slice(MAGIC);
        huge.0.push(VERSION);
        huge.0.extend_from_slice(&[0; 4]);
        for _ in 0..20 {
            huge.0.push(0xff);
        }
        let crc = crc32fast::hash(&huge.0[PREAMBLE..]);
        huge.0[5..PREAMBLE].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&huge.0, "demo", INDEX), Err("integer overflow"));
    }

    #[test]
    fn hex() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(lower_hex(&bytes), hex::encode(&bytes));
    }

    #[test]
    fn varints() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Writer(Vec::new());
            out.int(value);
            let mut buffer = Vec::new();
            let mut input = Reader::new(out.0.as_slice(), out.0.len() as u64, &mut buffer, CHUNK);
            assert_eq!(input.int(), Ok(value));
            assert_eq!(input.at_end(), Ok(true));
        }
    }
}
