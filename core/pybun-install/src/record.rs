//! `RECORD`: a CSV file of `path,hash,size` rows (PEP 376, wheel spec).
//!
//! The hash is `algorithm=digest` with the digest in URL-safe base64 without
//! padding. Only SHA-256 and stronger are accepted (the wheel spec forbids
//! MD5 and SHA-1).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::error::FormatError;

const FILE: &str = "RECORD";

/// A hash algorithm allowed in `RECORD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    /// The name used in `RECORD` (`sha256`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// A `RECORD` hash: `sha256=<urlsafe-b64-nopad digest>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordHash {
    pub algorithm: HashAlgorithm,
    pub digest: Vec<u8>,
}

impl RecordHash {
    /// Parse `algorithm=digest`.
    ///
    /// # Errors
    /// A reason when the algorithm is unknown or too weak, or the digest is not
    /// valid URL-safe base64 of the algorithm's length.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, encoded) = text.split_once('=').ok_or_else(|| format!("hash `{text}` is not `algorithm=digest`"))?;
        let algorithm = HashAlgorithm::from_name(name).ok_or_else(|| {
            format!("hash algorithm `{name}` is not allowed (use sha256, sha384 or sha512)")
        })?;
        // Tolerate padding, which some writers add.
        let digest = URL_SAFE_NO_PAD
            .decode(encoded.trim_end_matches('='))
            .map_err(|e| format!("hash `{text}` is not URL-safe base64: {e}"))?;
        if digest.len() != algorithm.digest_len() {
            return Err(format!(
                "hash `{text}` has {} bytes, {name} has {}",
                digest.len(),
                algorithm.digest_len()
            ));
        }
        Ok(Self { algorithm, digest })
    }

    /// The hash of `bytes` with `algorithm`.
    #[must_use]
    pub fn of(algorithm: HashAlgorithm, bytes: &[u8]) -> Self {
        let mut hasher = RecordHasher::new(algorithm);
        hasher.update(bytes);
        hasher.finish()
    }

    /// The SHA-256 hash of `bytes` (what PyBun writes for files it generates).
    #[must_use]
    pub fn sha256(bytes: &[u8]) -> Self {
        Self::of(HashAlgorithm::Sha256, bytes)
    }
}

impl fmt::Display for RecordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.algorithm.name(), URL_SAFE_NO_PAD.encode(&self.digest))
    }
}

/// Incremental hashing with a `RECORD` algorithm, for streaming extraction.
#[derive(Debug, Clone)]
pub struct RecordHasher {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl RecordHasher {
    #[must_use]
    pub fn new(algorithm: HashAlgorithm) -> Self {
        let inner = match algorithm {
            HashAlgorithm::Sha256 => Inner::Sha256(Sha256::new()),
            HashAlgorithm::Sha384 => Inner::Sha384(Sha384::new()),
            HashAlgorithm::Sha512 => Inner::Sha512(Sha512::new()),
        };
        Self { inner }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.inner {
            Inner::Sha256(h) => h.update(bytes),
            Inner::Sha384(h) => h.update(bytes),
            Inner::Sha512(h) => h.update(bytes),
        }
    }

    #[must_use]
    pub fn finish(self) -> RecordHash {
        let (algorithm, digest) = match self.inner {
            Inner::Sha256(h) => (HashAlgorithm::Sha256, h.finalize().to_vec()),
            Inner::Sha384(h) => (HashAlgorithm::Sha384, h.finalize().to_vec()),
            Inner::Sha512(h) => (HashAlgorithm::Sha512, h.finalize().to_vec()),
        };
        RecordHash { algorithm, digest }
    }
}

/// One `RECORD` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    /// As written: `/`-separated, relative to the directory holding `.dist-info`.
    pub path: String,
    pub hash: Option<RecordHash>,
    pub size: Option<u64>,
}

/// A parsed `RECORD`, rows in file order (exact duplicates dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub entries: Vec<RecordEntry>,
}

impl Record {
    /// Parse `RECORD` text (CSV with `"` quoting, `\n` or `\r\n` line ends).
    ///
    /// # Errors
    /// A row without exactly three fields, an empty path, a bad hash or size,
    /// or two rows for one path that disagree.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let mut entries: Vec<RecordEntry> = Vec::new();
        let mut seen = std::collections::HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.trim().is_empty() {
                continue;
            }
            let err = |reason: String| FormatError::new(FILE, Some(number), reason);
            let fields = split_csv_line(line).map_err(|r| err(r.to_string()))?;
            let [path, hash, size] = <[String; 3]>::try_from(fields)
                .map_err(|f| err(format!("expected 3 fields (path,hash,size), found {}", f.len())))?;
            if path.is_empty() {
                return Err(err("empty path".to_string()));
            }
            let hash = if hash.is_empty() { None } else { Some(RecordHash::parse(&hash).map_err(err)?) };
            let size = if size.is_empty() {
                None
            } else {
                Some(size.parse::<u64>().map_err(|_| err(format!("size `{size}` is not a number")))?)
            };
            let entry = RecordEntry { path, hash, size };
            if let Some(&previous) = seen.get(&entry.path) {
                if entries[previous] == entry {
                    continue;
                }
                return Err(err(format!("`{}` is listed twice with different hashes or sizes", entry.path)));
            }
            seen.insert(entry.path.clone(), entries.len());
            entries.push(entry);
        }
        Ok(Self { entries })
    }

    /// The row for `path`, if any.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<&RecordEntry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// The CSV text: one `path,hash,size` row per entry, `\n` line ends,
    /// fields quoted only when they must be (as Python's `csv` module does).
    #[must_use]
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        for entry in &self.entries {
            push_csv_field(&mut out, &entry.path);
            out.push(',');
            if let Some(hash) = &entry.hash {
                out.push_str(&hash.to_string());
            }
            out.push(',');
            if let Some(size) = entry.size {
                out.push_str(&size.to_string());
            }
            out.push('\n');
        }
        out
    }
}

fn push_csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// Split one CSV line into fields (RFC 4180 quoting).
fn split_csv_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut at_field_start = true;
    loop {
        match chars.next() {
            None => {
                fields.push(std::mem::take(&mut field));
                return Ok(fields);
            }
            Some('"') if at_field_start => {
                // Quoted field: up to the closing quote, `""` is a quote.
                loop {
                    match chars.next() {
                        None => return Err("unterminated quoted field"),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => field.push(c),
                    }
                }
                match chars.peek() {
                    None | Some(',') => {}
                    Some(_) => return Err("text after a closing quote"),
                }
                at_field_start = false;
            }
            Some(',') => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            Some(c) => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse `input` and compare with `expected` rows `(path, hash, size)`, or with an error message.
    fn check(input: &str, expected: Result<&[(&str, &str, &str)], &str>) {
        let got = Record::parse(input).map(|record| {
            record
                .entries
                .iter()
                .map(|e| {
                    (
                        e.path.clone(),
                        e.hash.as_ref().map(ToString::to_string).unwrap_or_default(),
                        e.size.map(|s| s.to_string()).unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>()
        });
        match (got, expected) {
            (Ok(rows), Ok(expected)) => {
                let expected: Vec<_> =
                    expected.iter().map(|(p, h, s)| ((*p).to_string(), (*h).to_string(), (*s).to_string())).collect();
                assert_eq!(rows, expected, "input:\n{input}");
            }
            (Err(error), Err(message)) => assert_eq!(error.to_string(), message, "input:\n{input}"),
            (got, expected) => panic!("input:\n{input}\ngot {got:?}\nexpected {expected:?}"),
        }
    }

    const H: &str = "sha256=LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564";

    #[test]
    fn parses_rows() {
        check(
            &format!("a/__init__.py,{H},4\r\na-1.0.dist-info/RECORD,,\n\n"),
            Ok(&[("a/__init__.py", H, "4"), ("a-1.0.dist-info/RECORD", "", "")]),
        );
        // Quoted paths with commas and quotes.
        check(
            &format!("\"a/x,y.py\",{H},4\n\"a/q\"\"uote.py\",{H},4\n"),
            Ok(&[("a/x,y.py", H, "4"), ("a/q\"uote.py", H, "4")]),
        );
        // Exact duplicates collapse; padding is tolerated.
        check(&format!("a.py,{H},4\na.py,{H}=,4\n"), Ok(&[("a.py", H, "4")]));
    }

    #[test]
    fn rejects_bad_rows() {
        check("a.py,,\nb.py\n", Err("invalid RECORD (line 2): expected 3 fields (path,hash,size), found 1"));
        check(
            "a.py,md5=abc,1\n",
            Err("invalid RECORD (line 1): hash algorithm `md5` is not allowed (use sha256, sha384 or sha512)"),
        );
        check("a.py,sha256=AAAA,1\n", Err("invalid RECORD (line 1): hash `sha256=AAAA` has 3 bytes, sha256 has 32"));
        check(&format!("a.py,{H},x\n"), Err("invalid RECORD (line 1): size `x` is not a number"));
        check(
            &format!("a.py,{H},4\na.py,{H},5\n"),
            Err("invalid RECORD (line 2): `a.py` is listed twice with different hashes or sizes"),
        );
        check("\"a.py,,\n", Err("invalid RECORD (line 1): unterminated quoted field"));
        check(",,\n", Err("invalid RECORD (line 1): empty path"));
    }

    #[test]
    fn hashes() {
        assert_eq!(RecordHash::sha256(b"test").to_string(), "sha256=n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg");
        let mut hasher = RecordHasher::new(HashAlgorithm::Sha256);
        hasher.update(b"te");
        hasher.update(b"st");
        assert_eq!(hasher.finish(), RecordHash::sha256(b"test"));
        let sha512 = RecordHash::of(HashAlgorithm::Sha512, b"x");
        assert_eq!(RecordHash::parse(&sha512.to_string()).unwrap(), sha512);
    }

    #[test]
    fn writes_csv_round_trip() {
        let text = include_str!("../../../fixtures/install/RECORD");
        let record = Record::parse(text).unwrap();
        assert_eq!(Record::parse(&record.to_csv()).unwrap(), record);
        assert!(record.to_csv().contains("\"demo/odd,name.txt\""));
    }
}
