//! Reading core metadata out of distribution archives: remote wheels through
//! HTTP range requests, and whole wheels / sdists in memory.

use std::io::{Cursor, Read};

use pybun_ports::IndexError;
use reqwest::header::RANGE;
use sha2::{Digest, Sha256};

use crate::client::Fetcher;

/// How many bytes the first range request asks for (EOCD + usually the whole
/// central directory and, for small wheels, everything).
pub(crate) const TAIL_BYTES: u64 = 64 * 1024;

/// Bytes fetched before a central directory that is not in the tail, on top
/// of three quarters of its size (see `wheel_metadata_by_range`).
const CD_LEAD_EXTRA: u64 = 64 * 1024;

/// Why reading through ranges did not work.
#[derive(Debug)]
pub(crate) enum RangeFailure {
    /// The server sent the whole file (it ignores `Range`).
    WholeFile(Vec<u8>),
    /// Give up on ranges and download the file (the reason is logged).
    Fallback(String),
    /// A failure a download would hit too (unreachable, offline).
    Fatal(IndexError),
}

/// Bytes of a remote file fetched so far, by offset.
struct Sparse<'a> {
    fetcher: &'a Fetcher,
    url: &'a str,
    total: u64,
    chunks: Vec<(u64, Vec<u8>)>,
}

impl Sparse<'_> {
    fn slice(&self, start: u64, len: u64) -> Option<&[u8]> {
        self.chunks.iter().find_map(|(offset, bytes)| {
            let end = offset + bytes.len() as u64;
            (start >= *offset && start + len <= end).then(|| {
                let from = usize::try_from(start - offset).unwrap_or(usize::MAX);
                let to = usize::try_from(start + len - offset).unwrap_or(usize::MAX);
                &bytes[from..to]
            })
        })
    }

    /// Make `[start, start + len)` available, fetching `[start, start + fetch_len)` if needed.
    async fn ensure(&mut self, start: u64, len: u64, fetch_len: u64) -> Result<(), RangeFailure> {
        if len == 0 {
            return Ok(());
        }
        if start.saturating_add(len) > self.total {
            return Err(RangeFailure::Fallback(format!(
                "range {start}+{len} is beyond the end of the file ({} bytes)",
                self.total
            )));
        }
        if self.slice(start, len).is_some() {
            return Ok(());
        }
        let end = (start + fetch_len.max(len)).min(self.total) - 1;
        let (offset, bytes, _) = fetch_range(self.fetcher, self.url, &format!("bytes={start}-{end}")).await?;
        if offset != start {
            return Err(RangeFailure::Fallback(format!("asked for offset {start}, got {offset}")));
        }
        self.chunks.push((offset, bytes));
        if self.slice(start, len).is_none() {
            return Err(RangeFailure::Fallback("the server sent a short range".to_string()));
        }
        Ok(())
    }

    async fn read(&mut self, start: u64, len: u64) -> Result<Vec<u8>, RangeFailure> {
        self.ensure(start, len, len).await?;
        Ok(self.slice(start, len).map(<[u8]>::to_vec).unwrap_or_default())
    }
}

/// One ranged GET: `(first byte offset, bytes, total size)`.
async fn fetch_range(fetcher: &Fetcher, url: &str, range: &str) -> Result<(u64, Vec<u8>, u64), RangeFailure> {
    let response = fetcher.get(url, &[(RANGE, range.to_string())]).await.map_err(RangeFailure::Fatal)?;
    match response.status {
        206 => {
            let content_range = response
                .headers
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| RangeFailure::Fallback("206 without Content-Range".to_string()))?;
            let (start, total) = parse_content_range(content_range)
                .ok_or_else(|| RangeFailure::Fallback(format!("unusable Content-Range `{content_range}`")))?;
            Ok((start, response.body, total))
        }
        200 => Err(RangeFailure::WholeFile(response.body)),
        status => Err(RangeFailure::Fallback(format!("HTTP {status} to a range request"))),
    }
}

/// `bytes 100-199/1000` → `(100, 1000)`.
fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()?))
}

/// A central directory entry, as much as we need.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CdEntry {
    name: String,
    method: u16,
    crc32: u32,
    compressed_size: u64,
    uncompressed_size: u64,
    local_header_offset: u64,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
}

const EOCD_SIG: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CD_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;

/// Read a wheel's `*.dist-info/METADATA` with range requests.
pub(crate) async fn wheel_metadata_by_range(fetcher: &Fetcher, url: &str) -> Result<Vec<u8>, RangeFailure> {
    let fallback = |reason: &str| RangeFailure::Fallback(reason.to_string());
    let (tail_start, tail, total) = fetch_range(fetcher, url, &format!("bytes=-{TAIL_BYTES}")).await?;
    let (mut cd_size, mut cd_offset, zip64_record) = end_of_central_directory(&tail)?;
    let mut sparse = Sparse { fetcher, url, total, chunks: vec![(tail_start, tail)] };
    if let Some(record_offset) = zip64_record {
        let record = sparse.read(record_offset, 56).await?;
        if u32_at(&record, 0) != Some(ZIP64_EOCD_SIG) {
            return Err(fallback("bad ZIP64 end of central directory"));
        }
        cd_size = u64_at(&record, 40).ok_or_else(|| fallback("short ZIP64 EOCD"))?;
        cd_offset = u64_at(&record, 48).ok_or_else(|| fallback("short ZIP64 EOCD"))?;
    }
    // A central directory outside the tail is fetched with the bytes just
    // before it: a wheel's `.dist-info` usually comes last, its METADATA just
    // before RECORD (whose compressed size follows the central directory's),
    // so the METADATA entry mostly arrives with it — two round trips, not three.
    if sparse.slice(cd_offset, cd_size).is_none() {
        let lead = (cd_size.saturating_mul(3) / 4).saturating_add(CD_LEAD_EXTRA).min(cd_offset);
        let span = lead.saturating_add(cd_size);
        sparse.ensure(cd_offset - lead, span, span).await?;
    }
    let central = sparse.read(cd_offset, cd_size).await?;
    let entries = parse_central_directory(&central).ok_or_else(|| fallback("malformed central directory"))?;
    let entry = pick_metadata(entries.iter().map(|e| e.name.as_str()))
        .and_then(|name| entries.iter().find(|e| e.name == name))
        .ok_or_else(|| RangeFailure::Fatal(IndexError::InvalidArchive {
            filename: url.rsplit('/').next().unwrap_or(url).to_string(),
            reason: "the wheel has no `*.dist-info/METADATA`".to_string(),
        }))?
        .clone();

    // Local header (its extra field may differ from the central one), then the data,
    // fetched in one request when possible.
    let guess = 30 + entry.name.len() as u64 + 1024 + entry.compressed_size;
    sparse.ensure(entry.local_header_offset, 30, guess).await?;
    let local = sparse.read(entry.local_header_offset, 30).await?;
    if u32_at(&local, 0) != Some(LOCAL_SIG) {
        return Err(fallback("bad local file header"));
    }
    let name_len = u64::from(u16_at(&local, 26).unwrap_or(0));
    let extra_len = u64::from(u16_at(&local, 28).unwrap_or(0));
    let data_start = entry.local_header_offset + 30 + name_len + extra_len;
    let data = sparse.read(data_start, entry.compressed_size).await?;
    let bytes = inflate(&data, entry.method, entry.uncompressed_size).map_err(|e| fallback(&e))?;
    if crc32fast::hash(&bytes) != entry.crc32 {
        return Err(fallback("METADATA fails its CRC-32 check"));
    }
    Ok(bytes)
}

/// `(central directory size, offset, ZIP64 EOCD record offset)` from the file's tail.
fn end_of_central_directory(tail: &[u8]) -> Result<(u64, u64, Option<u64>), RangeFailure> {
    let fallback = |reason: &str| RangeFailure::Fallback(reason.to_string());
    // The last signature with room for the record's 22 bytes.
    let eocd = (0..=tail.len().saturating_sub(22))
        .rev()
        .find(|&i| tail.get(i..i + 4) == Some(&EOCD_SIG[..]))
        .ok_or_else(|| fallback("no end of central directory record in the last 64 KiB"))?;
    let cd_size = u64::from(u32_at(tail, eocd + 12).ok_or_else(|| fallback("short EOCD"))?);
    let cd_offset = u64::from(u32_at(tail, eocd + 16).ok_or_else(|| fallback("short EOCD"))?);
    if cd_offset != u64::from(u32::MAX) && cd_size != u64::from(u32::MAX) {
        return Ok((cd_size, cd_offset, None));
    }
    // ZIP64: the locator sits just before the EOCD and points at the ZIP64 EOCD.
    let locator = eocd.checked_sub(20).ok_or_else(|| fallback("no ZIP64 locator"))?;
    if u32_at(tail, locator) != Some(ZIP64_LOCATOR_SIG) {
        return Err(fallback("no ZIP64 locator"));
    }
    let record = u64_at(tail, locator + 8).ok_or_else(|| fallback("short ZIP64 locator"))?;
    Ok((cd_size, cd_offset, Some(record)))
}

fn parse_central_directory(bytes: &[u8]) -> Option<Vec<CdEntry>> {
    let mut entries = Vec::new();
    let mut pos = 0;
    while pos + 46 <= bytes.len() {
        if u32_at(bytes, pos)? != CD_SIG {
            break;
        }
        let method = u16_at(bytes, pos + 10)?;
        let crc32 = u32_at(bytes, pos + 16)?;
        let mut compressed_size = u64::from(u32_at(bytes, pos + 20)?);
        let mut uncompressed_size = u64::from(u32_at(bytes, pos + 24)?);
        let name_len = usize::from(u16_at(bytes, pos + 28)?);
        let extra_len = usize::from(u16_at(bytes, pos + 30)?);
        let comment_len = usize::from(u16_at(bytes, pos + 32)?);
        let mut local_header_offset = u64::from(u32_at(bytes, pos + 42)?);
        let name = String::from_utf8_lossy(bytes.get(pos + 46..pos + 46 + name_len)?).into_owned();
        let extra = bytes.get(pos + 46 + name_len..pos + 46 + name_len + extra_len)?;
        // ZIP64 extended information: the 0xFFFFFFFF fields, in order.
        let mut field = 0;
        while field + 4 <= extra.len() {
            let id = u16_at(extra, field)?;
            let size = usize::from(u16_at(extra, field + 2)?);
            if id == 0x0001 {
                let mut at = field + 4;
                for value in [&mut uncompressed_size, &mut compressed_size, &mut local_header_offset] {
                    if *value == u64::from(u32::MAX) {
                        *value = u64_at(extra, at)?;
                        at += 8;
                    }
                }
            }
            field += 4 + size;
        }
        entries.push(CdEntry { name, method, crc32, compressed_size, uncompressed_size, local_header_offset });
        pos += 46 + name_len + extra_len + comment_len;
    }
    Some(entries)
}

/// The `{name}.dist-info/METADATA` among archive member names.
fn pick_metadata<'a>(names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names.into_iter().find(|name| {
        name.split_once('/')
            .is_some_and(|(dir, file)| dir.ends_with(".dist-info") && file == "METADATA")
    })
}

fn inflate(data: &[u8], method: u16, expected_len: u64) -> Result<Vec<u8>, String> {
    let capacity = usize::try_from(expected_len).unwrap_or(0).min(16 * 1024 * 1024);
    match method {
        0 => Ok(data.to_vec()),
        8 => {
            let mut out = Vec::with_capacity(capacity);
            flate2::read::DeflateDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(|e| format!("cannot inflate METADATA: {e}"))?;
            if out.len() as u64 != expected_len {
                return Err(format!("METADATA inflated to {} bytes, expected {expected_len}", out.len()));
            }
            Ok(out)
        }
        other => Err(format!("METADATA uses unsupported compression method {other}")),
    }
}

/// Check a downloaded file against the index's sha256.
///
/// # Errors
/// `InvalidArchive` with both digests on a mismatch.
/// Lowercase hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) fn verify_sha256(filename: &str, bytes: &[u8], expected: Option<&str>) -> Result<(), IndexError> {
    let Some(expected) = expected else { return Ok(()) };
    let actual = sha256_hex(bytes);
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(IndexError::InvalidArchive {
            filename: filename.to_string(),
            reason: format!("sha256 mismatch: expected {expected}, got {actual}"),
        })
    }
}

fn archive_error(filename: &str, reason: impl Into<String>) -> IndexError {
    IndexError::InvalidArchive { filename: filename.to_string(), reason: reason.into() }
}

/// `*.dist-info/METADATA` of a whole wheel.
///
/// # Errors
/// `InvalidArchive` when not a zip or without METADATA.
pub(crate) fn wheel_metadata(filename: &str, bytes: &[u8]) -> Result<Vec<u8>, IndexError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| archive_error(filename, e.to_string()))?;
    let name = pick_metadata(archive.file_names())
        .map(str::to_string)
        .ok_or_else(|| archive_error(filename, "the wheel has no `*.dist-info/METADATA`"))?;
    read_zip_member(filename, &mut archive, &name)
}

fn read_zip_member(
    filename: &str,
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    member: &str,
) -> Result<Vec<u8>, IndexError> {
    let mut file = archive.by_name(member).map_err(|e| archive_error(filename, format!("{member}: {e}")))?;
    let mut out = Vec::new();
    file.read_to_end(&mut out).map_err(|e| archive_error(filename, format!("{member}: {e}")))?;
    Ok(out)
}

/// `{top}/PKG-INFO` of a whole sdist (`.tar.gz` / `.tgz`, `.tar` or `.zip`).
///
/// # Errors
/// `InvalidArchive` when unreadable, of an unsupported format, or without PKG-INFO.
pub(crate) fn sdist_pkg_info(filename: &str, bytes: &[u8]) -> Result<Vec<u8>, IndexError> {
    let is_pkg_info = |path: &str| {
        let mut parts = path.trim_start_matches("./").split('/').filter(|p| !p.is_empty());
        parts.next().is_some() && parts.next() == Some("PKG-INFO") && parts.next().is_none()
    };
    let missing = || archive_error(filename, "the sdist has no top-level `PKG-INFO`");
    let lower = filename.to_ascii_lowercase();
    if lower.ends_with(".zip") {
        let mut archive =
            zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| archive_error(filename, e.to_string()))?;
        let name = archive.file_names().find(|n| is_pkg_info(n)).map(str::to_string).ok_or_else(missing)?;
        return read_zip_member(filename, &mut archive, &name);
    }
    let reader: Box<dyn Read> = if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else if lower.ends_with(".tar") {
        Box::new(bytes)
    } else {
        return Err(archive_error(filename, "unsupported sdist format (only .tar.gz, .tar and .zip)"));
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| archive_error(filename, e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| archive_error(filename, e.to_string()))?;
        let path = entry.path().map_err(|e| archive_error(filename, e.to_string()))?;
        if is_pkg_info(&path.to_string_lossy()) {
            let mut out = Vec::new();
            entry.read_to_end(&mut out).map_err(|e| archive_error(filename, format!("PKG-INFO: {e}")))?;
            return Ok(out);
        }
    }
    Err(missing())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 100-199/1000"), Some((100, 1000)));
        assert_eq!(parse_content_range("bytes 0-0/*"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    fn wheel(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in members {
            writer.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn central_directory_and_local_read() {
        let bytes = wheel(&[("pkg/__init__.py", b""), ("pkg-1.0.dist-info/METADATA", b"Name: pkg\nVersion: 1.0\n")]);
        let eocd = (0..=bytes.len() - 22).rev().find(|&i| bytes[i..i + 4] == EOCD_SIG).unwrap();
        let size = u32_at(&bytes, eocd + 12).unwrap() as usize;
        let offset = u32_at(&bytes, eocd + 16).unwrap() as usize;
        let entries = parse_central_directory(&bytes[offset..offset + size]).unwrap();
        assert_eq!(entries.len(), 2);
        let name = pick_metadata(entries.iter().map(|e| e.name.as_str())).unwrap();
        assert_eq!(name, "pkg-1.0.dist-info/METADATA");
        assert_eq!(wheel_metadata("pkg.whl", &bytes).unwrap(), b"Name: pkg\nVersion: 1.0\n");
        let err = wheel_metadata("x.whl", &wheel(&[("a.txt", b"")])).unwrap_err();
        assert!(err.to_string().contains("METADATA"), "{err}");
    }

    #[test]
    fn sha256_check() {
        let digest = hex::encode(Sha256::digest(b"abc"));
        verify_sha256("f", b"abc", Some(&digest.to_uppercase())).unwrap();
        let err = verify_sha256("f", b"abd", Some(&digest)).unwrap_err();
        assert!(err.to_string().contains(&digest), "{err}");
    }

    #[test]
    fn sdist_formats() {
        let zip = wheel(&[("demo-1.0/PKG-INFO", b"Name: demo\n"), ("demo-1.0/x/PKG-INFO", b"no")]);
        assert_eq!(sdist_pkg_info("demo-1.0.zip", &zip).unwrap(), b"Name: demo\n");
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(11);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, "demo-1.0/PKG-INFO", &b"Name: demo\n"[..]).unwrap();
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(sdist_pkg_info("demo-1.0.tar.gz", &gz).unwrap(), b"Name: demo\n");
        assert!(sdist_pkg_info("demo-1.0.tar.bz2", &gz).is_err());
    }
}
