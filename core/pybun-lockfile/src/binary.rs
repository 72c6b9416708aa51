//! `pybun.lockb`: the binary encoding.
//!
//! ```text
//! magic     8 bytes   b"PYBUNLKB"
//! version   u32 LE    format version (FORMAT_VERSION)
//! payload   …         string table, then the lock (see below)
//! checksum  u32 LE    CRC-32 (IEEE) of every byte before it
//! ```
//!
//! Every integer in the payload is an unsigned LEB128 varint. The payload is:
//!
//! ```text
//! strings:  count, then per string: byte length, UTF-8 bytes
//!           (each distinct string once, in order of first use below)
//! lock:     opt requires-python, str fingerprint,
//!           str resolution, str prerelease, opt exclude-newer,
//!           byte environment (0 none, 1 some) [str python-version, opt platform],
//!           count packages, then each package
//! package:  str name, str version,
//!           byte source (0 project, 1 registry + str url, 2 find-links + str url),
//!           opt resolution-marker,
//!           deps dependencies,
//!           count, then per extra: str extra, deps
//!           count, then per group: str group, deps
//!           count, then per file: str filename, str url,
//!                                 byte size (0 none, 1 some) [varint size],
//!                                 opt hash, opt upload-time
//! deps:     count, then per dependency: str name, count + str extras, opt marker,
//!           opt version
//! str:      index into the string table
//! opt:      0 for none, index + 1 for a string
//! ```
//!
//! The header (magic, version) and the trailing checksum are the same in every
//! format version, so the checksum is verified before the version is looked at.

use std::collections::{BTreeMap, HashMap};

use pybun_diagnostics::{Code, Diagnostic};

use crate::model::{
    FORMAT_VERSION, Lock, LockOptions, LockedDependency, LockedFile, LockedPackage, Source,
    TargetEnvironment,
};

/// The first 8 bytes of every `pybun.lockb`.
pub const MAGIC: &[u8; 8] = b"PYBUNLKB";

const HEADER_LEN: usize = MAGIC.len() + 4;
const CHECKSUM_LEN: usize = 4;

/// Encode a lock as `pybun.lockb` bytes. Deterministic: the lock is put in
/// canonical order first.
#[must_use]
pub fn to_binary(lock: &Lock) -> Vec<u8> {
    let canonical = lock.canonical();
    let lock = canonical.as_ref();

    let mut body = Writer::default();
    body.lock(lock);

    let mut out = Vec::with_capacity(HEADER_LEN + body.bytes.len() + 64 + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&lock.version.to_le_bytes());
    write_varint(&mut out, body.strings.len() as u64);
    for s in &body.strings {
        write_varint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&body.bytes);
    let checksum = crc32fast::hash(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[derive(Default)]
struct Writer<'a> {
    strings: Vec<&'a str>,
    index: HashMap<&'a str, u64>,
    bytes: Vec<u8>,
}

impl<'a> Writer<'a> {
    fn varint(&mut self, value: u64) {
        write_varint(&mut self.bytes, value);
    }

    fn len(&mut self, len: usize) {
        self.varint(len as u64);
    }

    fn intern(&mut self, s: &'a str) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u64;
        self.strings.push(s);
        self.index.insert(s, i);
        i
    }

    fn str(&mut self, s: &'a str) {
        let i = self.intern(s);
        self.varint(i);
    }

    fn opt(&mut self, s: Option<&'a String>) {
        match s {
            None => self.varint(0),
            Some(s) => {
                let i = self.intern(s);
                self.varint(i + 1);
            }
        }
    }

    fn lock(&mut self, lock: &'a Lock) {
        self.opt(lock.requires_python.as_ref());
        self.str(&lock.fingerprint);
        self.str(&lock.options.resolution);
        self.str(&lock.options.prerelease);
        self.opt(lock.options.exclude_newer.as_ref());
        match &lock.environment {
            None => self.bytes.push(0),
            Some(env) => {
                self.bytes.push(1);
                self.str(&env.python_version);
                self.opt(env.platform.as_ref());
            }
        }
        self.len(lock.packages.len());
        for package in &lock.packages {
            self.package(package);
        }
    }

    fn package(&mut self, package: &'a LockedPackage) {
        self.str(&package.name);
        self.str(&package.version);
        let (tag, location) = match &package.source {
            Source::Project => (0, None),
            Source::Registry(url) => (1, Some(url)),
            Source::FindLinks(url) => (2, Some(url)),
            Source::Url(url) => (3, Some(url)),
            Source::Directory(url) => (4, Some(url)),
        };
        self.bytes.push(tag);
        if let Some(location) = location {
            self.str(location);
        }
        self.opt(package.resolution_marker.as_ref());
        self.deps(&package.dependencies);
        for map in [&package.optional_dependencies, &package.dependency_groups] {
            self.len(map.len());
            for (key, deps) in map {
                self.str(key);
                self.deps(deps);
            }
        }
        self.len(package.files.len());
        for file in &package.files {
            self.str(&file.filename);
            self.str(&file.url);
            match file.size {
                None => self.bytes.push(0),
                Some(size) => {
                    self.bytes.push(1);
                    self.varint(size);
                }
            }
            self.opt(file.hash.as_ref());
            self.opt(file.upload_time.as_ref());
        }
    }

    fn deps(&mut self, deps: &'a [LockedDependency]) {
        self.len(deps.len());
        for dep in deps {
            self.str(&dep.name);
            self.len(dep.extras.len());
            for extra in &dep.extras {
                self.str(extra);
            }
            self.opt(dep.marker.as_ref());
            self.opt(dep.version.as_ref());
        }
    }
}

/// Decode `pybun.lockb` bytes. `file` is the name shown in diagnostics.
///
/// # Errors
/// [`Code::LockCorrupt`] when the bytes are truncated, do not start with the
/// magic, fail the checksum or do not decode; [`Code::LockVersion`] when the
/// (intact) file has a newer format version.
pub fn from_binary(bytes: &[u8], file: &str) -> Result<Lock, Vec<Diagnostic>> {
    let corrupt = |why: &str| {
        vec![
            Diagnostic::error(
                Code::LockCorrupt,
                format!("the binary lockfile is corrupt: {why}"),
            )
            .in_file(file)
            .with_hint("delete it and run `pybun lock` to regenerate it"),
        ]
    };
    if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
        if !bytes.is_empty() && !MAGIC.starts_with(&bytes[..bytes.len().min(MAGIC.len())]) {
            return Err(corrupt("it does not start with the `PYBUNLKB` magic"));
        }
        return Err(corrupt(&format!("it is truncated ({} bytes)", bytes.len())));
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt("it does not start with the `PYBUNLKB` magic"));
    }
    let (content, stored) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    let stored = u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]);
    let computed = crc32fast::hash(content);
    if stored != computed {
        return Err(corrupt(&format!(
            "checksum mismatch (stored {stored:08x}, computed {computed:08x}); it is truncated or was damaged"
        )));
    }
    let version = u32::from_le_bytes([
        content[MAGIC.len()],
        content[MAGIC.len() + 1],
        content[MAGIC.len() + 2],
        content[MAGIC.len() + 3],
    ]);
    if version > FORMAT_VERSION {
        return Err(vec![
            Diagnostic::error(
                Code::LockVersion,
                format!(
                    "the binary lockfile has format version {version}, which was written by a newer PyBun (this one reads up to {FORMAT_VERSION})"
                ),
            )
            .in_file(file)
            .with_hint("upgrade PyBun, or regenerate the lockfile with this version using `pybun lock`"),
        ]);
    }
    if version == 0 {
        return Err(corrupt("format version 0 does not exist"));
    }
    let mut reader = Reader {
        bytes: &content[HEADER_LEN..],
        pos: 0,
        strings: Vec::new(),
    };
    match reader.lock(version) {
        Ok(mut lock) if reader.pos == reader.bytes.len() => {
            lock.canonicalize();
            Ok(lock)
        }
        Ok(_) => Err(corrupt(&format!(
            "{} unexpected bytes after the lock",
            reader.bytes.len() - reader.pos
        ))),
        Err(why) => Err(corrupt(&format!("{why} at payload byte {}", reader.pos))),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    strings: Vec<String>,
}

type Decoded<T> = Result<T, String>;

impl Reader<'_> {
    fn byte(&mut self) -> Decoded<u8> {
        let byte = *self.bytes.get(self.pos).ok_or("unexpected end of data")?;
        self.pos += 1;
        Ok(byte)
    }

    fn varint(&mut self) -> Decoded<u64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err("varint overflows 64 bits".into());
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    return Err("varint is not minimally encoded".into());
                }
                return Ok(value);
            }
        }
        Err("varint is longer than 10 bytes".into())
    }

    /// A count of items that each take at least one byte, so it cannot exceed what is left.
    fn count(&mut self) -> Decoded<usize> {
        let count = self.varint()?;
        let left = (self.bytes.len() - self.pos) as u64;
        if count > left {
            return Err(format!("count {count} exceeds the remaining {left} bytes"));
        }
        usize::try_from(count).map_err(|_| "count too large".into())
    }

    fn flag(&mut self) -> Decoded<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("invalid flag byte {other}")),
        }
    }

    fn str(&mut self) -> Decoded<String> {
        let i = self.varint()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| self.strings.get(i))
            .cloned()
            .ok_or_else(|| format!("string index {i} out of range"))
    }

    fn opt(&mut self) -> Decoded<Option<String>> {
        let i = self.varint()?;
        if i == 0 {
            return Ok(None);
        }
        usize::try_from(i - 1)
            .ok()
            .and_then(|i| self.strings.get(i))
            .cloned()
            .map(Some)
            .ok_or_else(|| format!("string index {} out of range", i - 1))
    }

    fn lock(&mut self, version: u32) -> Decoded<Lock> {
        let count = self.count()?;
        let mut strings = Vec::with_capacity(count);
        for _ in 0..count {
            let len = self.count()?;
            let raw = &self.bytes[self.pos..self.pos + len];
            self.pos += len;
            strings.push(String::from_utf8(raw.to_vec()).map_err(|_| "a string is not UTF-8")?);
        }
        self.strings = strings;

        let requires_python = self.opt()?;
        let fingerprint = self.str()?;
        let options = LockOptions {
            resolution: self.str()?,
            prerelease: self.str()?,
            exclude_newer: self.opt()?,
        };
        let environment = if self.flag()? {
            Some(TargetEnvironment {
                python_version: self.str()?,
                platform: self.opt()?,
            })
        } else {
            None
        };
        let count = self.count()?;
        let mut packages = Vec::with_capacity(count);
        for _ in 0..count {
            packages.push(self.package()?);
        }
        Ok(Lock {
            version,
            requires_python,
            fingerprint,
            options,
            environment,
            packages,
        })
    }

    fn package(&mut self) -> Decoded<LockedPackage> {
        let name = self.str()?;
        let version = self.str()?;
        let source = match self.byte()? {
            0 => Source::Project,
            1 => Source::Registry(self.str()?),
            2 => Source::FindLinks(self.str()?),
            3 => Source::Url(self.str()?),
            4 => Source::Directory(self.str()?),
            other => return Err(format!("invalid source tag {other}")),
        };
        let resolution_marker = self.opt()?;
        let dependencies = self.deps()?;
        let optional_dependencies = self.dep_map()?;
        let dependency_groups = self.dep_map()?;
        let count = self.count()?;
        let mut files = Vec::with_capacity(count);
        for _ in 0..count {
            let filename = self.str()?;
            let url = self.str()?;
            let size = if self.flag()? {
                Some(self.varint()?)
            } else {
                None
            };
            files.push(LockedFile {
                filename,
                url,
                size,
                hash: self.opt()?,
                upload_time: self.opt()?,
            });
        }
        Ok(LockedPackage {
            name,
            version,
            source,
            resolution_marker,
            dependencies,
            optional_dependencies,
            dependency_groups,
            files,
        })
    }

    fn dep_map(&mut self) -> Decoded<BTreeMap<String, Vec<LockedDependency>>> {
        let count = self.count()?;
        let mut map = BTreeMap::new();
        for _ in 0..count {
            let key = self.str()?;
            let deps = self.deps()?;
            if map.insert(key, deps).is_some() {
                return Err("duplicate key in a dependency map".into());
            }
        }
        Ok(map)
    }

    fn deps(&mut self) -> Decoded<Vec<LockedDependency>> {
        let count = self.count()?;
        let mut deps = Vec::with_capacity(count);
        for _ in 0..count {
            let name = self.str()?;
            let n = self.count()?;
            let mut extras = Vec::with_capacity(n);
            for _ in 0..n {
                extras.push(self.str()?);
            }
            deps.push(LockedDependency {
                name,
                extras,
                marker: self.opt()?,
                version: self.opt()?,
            });
        }
        Ok(deps)
    }
}
