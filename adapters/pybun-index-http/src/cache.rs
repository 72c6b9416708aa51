//! The on-disk HTTP cache: `{cache_dir}/http-v1/{bucket}/{xx}/{sha256}`.
//!
//! One file per entry: a one-line JSON header, a newline, then the body. A
//! single file written to a temporary name and renamed keeps header and body
//! consistent for concurrent readers, including other processes.
//!
//! Project pages also get a parsed entry (`simple-parsed/`, same file name as
//! the raw one): the page's files in the compact binary form of
//! [`crate::parsed`], with their own copy of the header, so warm lookups skip
//! reading and parsing the (often multi-megabyte) raw page.

use std::cell::RefCell;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use pybun_ports::DistFile;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::debug;

use crate::parsed::{self, ParsedEntry};

/// Which part of the cache an entry lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bucket {
    /// Simple API project pages (PEP 691 / PEP 503).
    Simple,
    /// Find-links HTML pages.
    FindLinks,
    /// Extracted core metadata, keyed by distribution URL; immutable.
    Metadata,
    /// Project pages already parsed into files (see [`crate::parsed`]), same keys as `Simple`.
    SimpleParsed,
}

impl Bucket {
    fn dir(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::FindLinks => "find-links",
            Self::Metadata => "metadata",
            Self::SimpleParsed => "simple-parsed",
        }
    }
}

/// What is remembered about a response besides its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EntryHeader {
    /// The requested URL.
    pub(crate) url: String,
    /// The URL after redirects (relative links resolve against it).
    pub(crate) final_url: String,
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
    /// `Cache-Control: max-age` in seconds; `None` means "stale at once".
    pub(crate) max_age: Option<u64>,
    /// Unix seconds when stored or last revalidated.
    pub(crate) stored_at: u64,
    /// Never stale (metadata of an immutable distribution file).
    pub(crate) immutable: bool,
    /// Free-form extra data (the metadata origin for the metadata bucket).
    #[serde(default)]
    pub(crate) extra: Option<String>,
}

impl EntryHeader {
    /// Whether the entry may be served without asking the server.
    pub(crate) fn is_fresh(&self, now: u64) -> bool {
        self.immutable || self.max_age.is_some_and(|age| now.saturating_sub(self.stored_at) < age)
    }

    /// Take `Cache-Control`, `ETag` and `Last-Modified` from a response.
    pub(crate) fn update_from(&mut self, headers: &HeaderMap, now: u64) {
        let control = CacheControl::parse(headers);
        self.max_age = control.max_age;
        if let Some(etag) = header_str(headers, "etag") {
            self.etag = Some(etag);
        }
        if let Some(modified) = header_str(headers, "last-modified") {
            self.last_modified = Some(modified);
        }
        self.stored_at = now;
    }
}

/// A cached response: the file as read, and where its body starts (the body
/// is not copied out of the read buffer).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) header: EntryHeader,
    data: Vec<u8>,
    body_start: usize,
}

impl Entry {
    pub(crate) fn body(&self) -> &[u8] {
        &self.data[self.body_start..]
    }

    /// The file's bytes and the offset of the body in them.
    pub(crate) fn into_parts(self) -> (EntryHeader, Vec<u8>, usize) {
        (self.header, self.data, self.body_start)
    }

    /// The body alone (moved to the front of the buffer, no new allocation).
    pub(crate) fn into_body(self) -> Vec<u8> {
        let mut data = self.data;
        data.drain(..self.body_start);
        data
    }
}

/// The parts of `Cache-Control` PyBun obeys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheControl {
    pub(crate) max_age: Option<u64>,
    pub(crate) no_store: bool,
}

impl CacheControl {
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let mut control = Self::default();
        let mut no_cache = false;
        for value in headers.get_all("cache-control") {
            let Ok(value) = value.to_str() else { continue };
            for directive in value.split(',') {
                let directive = directive.trim().to_ascii_lowercase();
                if let Some(age) = directive.strip_prefix("max-age=") {
                    control.max_age = age.trim_matches('"').parse().ok();
                } else if directive == "no-store" {
                    control.no_store = true;
                } else if directive == "no-cache" {
                    no_cache = true;
                }
            }
        }
        if no_cache {
            control.max_age = Some(0);
        }
        control
    }
}

/// A header value as text, if present and valid.
pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The cache directory `{cache_dir}/http-v1`.
#[derive(Debug, Clone)]
pub(crate) struct HttpCache {
    root: PathBuf,
}

impl HttpCache {
    pub(crate) fn new(cache_dir: &Path) -> Self {
        Self { root: cache_dir.join("http-v1") }
    }

    /// The entry file of a key (`key` holds everything the response depends on).
    pub(crate) fn path(&self, bucket: Bucket, key: &str) -> PathBuf {
        let hash = hex::encode(Sha256::digest(key.as_bytes()));
        self.root.join(bucket.dir()).join(&hash[..2]).join(hash)
    }

    /// The entry, or `None` when absent or unreadable (a corrupt entry is a miss).
    pub(crate) fn read(&self, bucket: Bucket, key: &str) -> Option<Entry> {
        let bytes = self.read_file(bucket, key)?;
        let newline = bytes.iter().position(|&b| b == b'\n')?;
        match serde_json::from_slice::<EntryHeader>(&bytes[..newline]) {
            // A hash collision or a foreign file must not answer for another URL.
            Ok(header) if header.url == key_url(key) => Some(Entry { header, data: bytes, body_start: newline + 1 }),
            Ok(_) => None,
            Err(e) => {
                debug!(path = %self.path(bucket, key).display(), error = %e, "corrupt cache entry ignored");
                None
            }
        }
    }

    /// Store an entry atomically (temporary file in the same directory + rename).
    pub(crate) fn write(&self, bucket: Bucket, key: &str, header: &EntryHeader, body: &[u8]) -> io::Result<()> {
        let mut line = serde_json::to_vec(header).map_err(io::Error::other)?;
        line.push(b'\n');
        self.write_file(bucket, key, &[&line, body])
    }

    /// The requested URLs of the project pages in the cache (each entry's
    /// header line), for listing the projects known here.
    pub(crate) fn cached_page_urls(&self) -> Vec<String> {
        let mut urls = Vec::new();
        let Ok(shards) = std::fs::read_dir(self.root.join(Bucket::Simple.dir())) else {
            return urls;
        };
        for shard in shards.flatten() {
            let Ok(entries) = std::fs::read_dir(shard.path()) else { continue };
            for entry in entries.flatten() {
                let Ok(file) = std::fs::File::open(entry.path()) else { continue };
                let mut line = String::new();
                let mut reader = io::BufReader::new(io::Read::take(file, 4096));
                if io::BufRead::read_line(&mut reader, &mut line).is_ok()
                    && let Ok(header) = serde_json::from_str::<EntryHeader>(line.trim_end())
                {
                    urls.push(header.url);
                }
            }
        }
        urls
    }

    /// The raw bytes of an entry file (`None` when absent or unreadable).
    pub(crate) fn read_file(&self, bucket: Bucket, key: &str) -> Option<Vec<u8>> {
        let path = self.path(bucket, key);
        match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    debug!(path = %path.display(), error = %e, "unreadable cache entry");
                }
                None
            }
        }
    }

    /// Write `parts` as the entry file of `key`, atomically (temporary file in
    /// the same directory + rename).
    pub(crate) fn write_file(&self, bucket: Bucket, key: &str, parts: &[&[u8]]) -> io::Result<()> {
        let path = self.path(bucket, key);
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        for part in parts {
            temp.write_all(part)?;
        }
        temp.flush()?;
        temp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    /// The parsed entry of a project page, `None` when absent, unreadable,
    /// corrupt, of another format version, or not for this URL / project /
    /// index (all misses).
    pub(crate) fn read_parsed(&self, key: &str, name: &str, index: &str) -> Option<ParsedEntry> {
        // Entries are streamed through a per-thread chunk buffer that is kept.
        thread_local! {
            static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        let path = self.path(Bucket::SimpleParsed, key);
        let opened = std::fs::File::open(&path).and_then(|file| Ok((file.metadata()?.len(), file)));
        let (len, file) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    debug!(path = %path.display(), error = %e, "unreadable cache entry");
                }
                return None;
            }
        };
        let decoded = BUFFER.with_borrow_mut(|buffer| parsed::decode_from(file, len, buffer, name, index));
        match decoded {
            Ok(entry) if entry.header.url == key_url(key) => Some(entry),
            Ok(_) => None,
            Err(reason) => {
                debug!(path = %path.display(), reason, "parsed cache entry ignored");
                None
            }
        }
    }

    /// Store the parsed entry of a project page (atomically), logging failures.
    pub(crate) fn store_parsed(&self, key: &str, header: &EntryHeader, name: &str, index: &str, files: &[DistFile]) {
        let bytes = parsed::encode(header, name, index, files);
        if let Err(e) = self.write_file(Bucket::SimpleParsed, key, &[&bytes]) {
            debug!(url = %header.url, error = %e, "could not write the parsed-page cache");
        }
    }

    /// [`Self::write`], logging instead of failing: a cache that cannot be
    /// written only costs a later request.
    pub(crate) fn store(&self, bucket: Bucket, key: &str, header: &EntryHeader, body: &[u8]) {
        if let Err(e) = self.write(bucket, key, header, body) {
            debug!(url = %header.url, error = %e, "could not write the HTTP cache");
        }
    }
}

/// Cache keys are `{flavour}\n{url}`; the URL is the part after the last newline.
pub(crate) fn key_url(key: &str) -> &str {
    key.rsplit('\n').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn header(max_age: Option<u64>, stored_at: u64) -> EntryHeader {
        EntryHeader {
            url: "https://example.org/simple/a/".into(),
            final_url: "https://example.org/simple/a/".into(),
            status: 200,
            content_type: None,
            etag: None,
            last_modified: None,
            max_age,
            stored_at,
            immutable: false,
            extra: None,
        }
    }

    #[test]
    fn freshness() {
        assert!(header(Some(600), 1000).is_fresh(1599));
        assert!(!header(Some(600), 1000).is_fresh(1600));
        assert!(!header(None, 1000).is_fresh(1000));
        let mut immutable = header(None, 0);
        immutable.immutable = true;
        assert!(immutable.is_fresh(u64::MAX));
    }

    #[test]
    fn cache_control() {
        let mut headers = HeaderMap::new();
        headers.insert("cache-control", HeaderValue::from_static("public, max-age=600"));
        assert_eq!(CacheControl::parse(&headers), CacheControl { max_age: Some(600), no_store: false });
        headers.insert("cache-control", HeaderValue::from_static("max-age=600, no-cache"));
        assert_eq!(CacheControl::parse(&headers).max_age, Some(0));
        headers.insert("cache-control", HeaderValue::from_static("no-store"));
        assert!(CacheControl::parse(&headers).no_store);
    }

    #[test]
    fn roundtrip_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HttpCache::new(dir.path());
        let key = "json\nhttps://example.org/simple/a/";
        let h = header(Some(1), 2);
        cache.write(Bucket::Simple, key, &h, b"body\nwith newline").unwrap();
        let entry = cache.read(Bucket::Simple, key).unwrap();
        assert_eq!(entry.header, h);
        assert_eq!(entry.body(), b"body\nwith newline");
        assert_eq!(entry.into_body(), b"body\nwith newline");
        assert!(cache.path(Bucket::Simple, key).starts_with(dir.path().join("http-v1/simple")));
        assert!(cache.read(Bucket::Simple, "json\nhttps://example.org/simple/b/").is_none());
        std::fs::write(cache.path(Bucket::Simple, key), b"garbage").unwrap();
        assert!(cache.read(Bucket::Simple, key).is_none());
    }
}
