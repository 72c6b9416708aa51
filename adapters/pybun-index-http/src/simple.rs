//! Simple API project pages: PEP 691 JSON and PEP 503 HTML, into [`DistFile`]s.

use std::fmt;

use pybun_pep::{DistFilename, PackageName};
use pybun_ports::{DistFile, IndexError};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use url::Url;

use crate::client::Page;
use crate::html;

/// The `Accept` header of Simple API requests: JSON preferred, HTML accepted.
pub(crate) const SIMPLE_ACCEPT: &str =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// The `Accept` header of find-links pages.
pub(crate) const HTML_ACCEPT: &str = "text/html";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Json,
    Html,
}

/// Every file a Simple API page lists (file names not checked against a project).
///
/// # Errors
/// `InvalidResponse` when the body does not match its declared type or is not
/// a Simple API page at all.
pub(crate) fn parse_page(page: &Page, index: &str) -> Result<Vec<DistFile>, IndexError> {
    let invalid = |reason: String| IndexError::InvalidResponse { url: page.final_url.clone(), reason };
    let content_type = page
        .content_type
        .as_deref()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let first = page.body().iter().copied().find(|b| !b.is_ascii_whitespace() && !matches!(b, 0xEF | 0xBB | 0xBF));
    let flavour = match content_type.as_str() {
        "application/vnd.pypi.simple.v1+json" | "application/vnd.pypi.simple.latest+json" | "application/json" => {
            if first == Some(b'<') {
                return Err(invalid(format!("the content type is `{content_type}` but the body is HTML")));
            }
            Flavour::Json
        }
        "application/vnd.pypi.simple.v1+html" | "application/vnd.pypi.simple.latest+html" | "text/html" => {
            Flavour::Html
        }
        _ => match first {
            Some(b'{') => Flavour::Json,
            Some(b'<') => Flavour::Html,
            _ => {
                let shown = if content_type.is_empty() { "none".to_string() } else { format!("`{content_type}`") };
                return Err(invalid(format!(
                    "neither a PEP 691 JSON nor a PEP 503 HTML page (content type {shown})"
                )));
            }
        },
    };
    match flavour {
        Flavour::Json => parse_json(page.body(), &page.final_url, index).map_err(invalid),
        Flavour::Html => {
            let text = std::str::from_utf8(page.body()).map_err(|e| invalid(format!("the HTML is not UTF-8: {e}")))?;
            if !text.contains('<') {
                return Err(invalid("the body is not HTML".to_string()));
            }
            Ok(parse_html(text, &page.final_url, index))
        }
    }
}

/// The files that belong to `name` (others, and unparsable names, are dropped).
pub(crate) fn files_of(files: &[DistFile], name: &PackageName) -> Vec<DistFile> {
    files.iter().filter(|f| belongs_to(&f.filename, name)).cloned().collect()
}

/// Whether `filename` is a wheel or sdist of `name`.
pub(crate) fn belongs_to(filename: &str, name: &PackageName) -> bool {
    DistFilename::parse(filename, name).is_ok_and(|parsed| parsed.name() == name)
}

#[derive(Debug, Deserialize)]
struct JsonPage {
    #[serde(default)]
    meta: Option<JsonMeta>,
    files: Vec<JsonFile>,
}

#[derive(Debug, Deserialize)]
struct JsonMeta {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

#[derive(Debug, Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default, deserialize_with = "sha256_of_hashes")]
    hashes: Option<String>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(default, deserialize_with = "yanked")]
    yanked: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(rename = "upload-time", default)]
    upload_time: Option<String>,
    #[serde(rename = "core-metadata", default, deserialize_with = "metadata_offered")]
    core_metadata: Option<bool>,
    #[serde(rename = "dist-info-metadata", default, deserialize_with = "metadata_offered")]
    dist_info_metadata: Option<bool>,
}

/// The `sha256` of a `hashes` dict (other algorithms are skipped unread).
fn sha256_of_hashes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Hashes;
    impl<'de> Visitor<'de> for Hashes {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a dict of hashes")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut sha256 = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "sha256" {
                    sha256 = Some(map.next_value::<String>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(sha256)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_map(Hashes)
}

/// PEP 592 `yanked`: `false`/`null` → not yanked, `true` → yanked with an
/// empty reason, a string → the reason.
fn yanked<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Yanked;
    impl<'de> Visitor<'de> for Yanked {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean or a string")
        }
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
            Ok(value.then(String::new))
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(Some(value.to_string()))
        }
        fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
            Ok(Some(value))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Yanked)
}

/// PEP 658/714 `core-metadata` / `dist-info-metadata`: `true` or a hashes
/// dict → offered; `false` → not; `null` → absent (the other key decides).
fn metadata_offered<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    struct Offered;
    impl<'de> Visitor<'de> for Offered {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean or a hashes dict")
        }
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
            Ok(Some(value))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Some(true))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Offered)
}

fn parse_json(body: &[u8], page_url: &str, index: &str) -> Result<Vec<DistFile>, String> {
    let page: JsonPage = serde_json::from_slice(body).map_err(|e| format!("invalid PEP 691 JSON: {e}"))?;
    if let Some(version) = page.meta.and_then(|m| m.api_version)
        && version.split('.').next() != Some("1")
    {
        return Err(format!("unsupported Simple API version `{version}` (PyBun speaks 1.x)"));
    }
    let base = Url::parse(page_url).map_err(|e| format!("bad page URL: {e}"))?;
    let mut files = Vec::with_capacity(page.files.len());
    for file in page.files {
        let Some((url, fragment_hash)) = resolve(&base, file.url) else { continue };
        let sha256 = match file.hashes {
            Some(mut hash) => {
                hash.make_ascii_lowercase();
                Some(hash)
            }
            None => fragment_hash,
        };
        files.push(DistFile {
            filename: file.filename,
            url,
            index: index.to_string(),
            sha256,
            size: file.size,
            requires_python: file.requires_python.filter(|r| !r.trim().is_empty()),
            yanked: file.yanked,
            upload_time: file.upload_time,
            has_metadata: file.core_metadata.or(file.dist_info_metadata).unwrap_or(false),
        });
    }
    Ok(files)
}

/// Resolve a link against the page: the absolute URL without its fragment,
/// and the `sha256=` value of the fragment (lower-cased). `None` when the
/// link does not resolve.
///
/// Absolute `http(s)` links already in the form `Url` would serialize them
/// to (the common case: PyPI's file links) are taken as they are, which
/// skips parsing and re-serializing a URL per file.
fn resolve(base: &Url, link: String) -> Option<(String, Option<String>)> {
    let (target, fragment) = match link.split_once('#') {
        Some((target, fragment)) => (target, Some(fragment)),
        None => (link.as_str(), None),
    };
    if is_canonical_http_url(target) && fragment.is_none_or(|f| f.bytes().all(is_plain_url_byte)) {
        let sha256 = fragment.and_then(sha256_of_fragment);
        let target_len = target.len();
        let mut link = link;
        link.truncate(target_len);
        return Some((link, sha256));
    }
    let mut url = base.join(&link).ok()?;
    let sha256 = url.fragment().and_then(sha256_of_fragment);
    url.set_fragment(None);
    Some((url.into(), sha256))
}

/// Whether `Url::parse(text)` would succeed and serialize back to `text`
/// exactly (conservative: `false` only means "let `Url` decide").
fn is_canonical_http_url(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://")) else {
        return false;
    };
    // The authority must be followed by a path (`Url` adds a missing `/`).
    let Some((host, path)) = rest.split_once('/') else { return false };
    host_is_canonical(host) && path.bytes().all(is_plain_url_byte) && !has_dot_segment(path)
}

/// A lower-case DNS name that is not an IP address: no port, userinfo,
/// IPv6 brackets, percent-escapes, IDNA labels or empty labels, and a last
/// label starting with a letter (`Url` reads numeric-looking hosts as IPv4).
fn host_is_canonical(host: &str) -> bool {
    !host.is_empty()
        && host.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.'))
        && host.split('.').all(|label| !label.is_empty() && !label.starts_with("xn--"))
        && host.rsplit('.').next().and_then(|last| last.bytes().next()).is_some_and(|b| b.is_ascii_lowercase())
}

/// Bytes that `Url` keeps as they are in a path, query or fragment (no
/// whitespace or controls, nothing it percent-encodes, no `\`, no non-ASCII).
fn is_plain_url_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
                | b':' | b'@' | b'/' | b'%' | b'?'
        )
}

/// `.` / `..` segments (also percent-encoded) are normalized away by `Url`.
fn has_dot_segment(path: &str) -> bool {
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    path.split('/').any(|segment| {
        segment.len() <= 6
            && [".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"].iter().any(|dot| segment.eq_ignore_ascii_case(dot))
    })
}

/// The files of a PEP 503 page (also used for find-links pages).
pub(crate) fn parse_html(text: &str, page_url: &str, index: &str) -> Vec<DistFile> {
    let doc = html::parse(text);
    let Ok(page) = Url::parse(page_url) else { return Vec::new() };
    let base = doc.base.as_deref().and_then(|b| page.join(b).ok()).unwrap_or(page);
    let mut files = Vec::new();
    for anchor in &doc.anchors {
        let Some(href) = anchor.get("href") else { continue };
        let Some((url, sha256)) = resolve(&base, href.to_string()) else { continue };
        let from_url = last_path_segment(&url).map(percent_decode).unwrap_or_default();
        // PEP 503: the text must be the filename; prefer the URL's when they differ
        // and the text does not look like a distribution file.
        let filename = if looks_like_dist(&anchor.text) { anchor.text.clone() } else { from_url };
        if filename.is_empty() {
            continue;
        }
        let metadata = anchor.get("data-core-metadata").or_else(|| anchor.get("data-dist-info-metadata"));
        files.push(DistFile {
            filename,
            url,
            index: index.to_string(),
            sha256,
            size: None,
            requires_python: anchor.get("data-requires-python").map(str::to_string).filter(|r| !r.trim().is_empty()),
            yanked: anchor.get("data-yanked").map(str::to_string),
            upload_time: None,
            has_metadata: metadata.is_some_and(|value| value != "false"),
        });
    }
    files
}

/// The last segment of an absolute URL's path (query and fragment excluded).
fn last_path_segment(url: &str) -> Option<&str> {
    // URLs without an authority (`mailto:`, `data:`) have no path segments.
    let (scheme, after_scheme) = url.split_once("://")?;
    if !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
        return None;
    }
    let path_start = after_scheme.find('/')?;
    let path = &after_scheme[path_start..];
    let path = path.split_once(['?', '#']).map_or(path, |(path, _)| path);
    path.rsplit('/').next()
}

fn looks_like_dist(text: &str) -> bool {
    !text.contains(char::is_whitespace)
        && [".whl", ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar"].iter().any(|ext| text.ends_with(ext))
}

fn sha256_of_fragment(fragment: &str) -> Option<String> {
    fragment.split('&').find_map(|part| part.strip_prefix("sha256=")).map(str::to_ascii_lowercase)
}

/// Decode `%XX` escapes (invalid ones are kept as written).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = hex {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn page(content_type: &str, body: &str) -> Page {
        Page::new(
            200,
            Some(content_type.to_string()),
            body.as_bytes().to_vec(),
            "https://example.org/simple/demo/".to_string(),
        )
    }

    #[test]
    fn json_page() {
        let body = r#"{"meta": {"api-version": "1.1"}, "name": "demo", "files": [
            {"filename": "demo-1.0-py3-none-any.whl", "url": "../../files/demo-1.0-py3-none-any.whl",
             "hashes": {"sha256": "ABC"}, "requires-python": ">=3.8", "yanked": "broken",
             "core-metadata": {"sha256": "def"}, "size": 12, "upload-time": "2024-01-01T00:00:00Z"},
            {"filename": "demo-0.9.tar.gz", "url": "https://cdn.example/demo-0.9.tar.gz#sha256=fff",
             "hashes": {}, "yanked": false, "dist-info-metadata": true},
            {"filename": "other-1.0.tar.gz", "url": "x", "hashes": {}}
        ]}"#;
        let files = parse_page(&page("application/vnd.pypi.simple.v1+json", body), "https://example.org/simple")
            .unwrap();
        assert_eq!(files.len(), 3);
        let wheel = &files[0];
        assert_eq!(wheel.url, "https://example.org/files/demo-1.0-py3-none-any.whl");
        assert_eq!(wheel.sha256.as_deref(), Some("abc"));
        assert_eq!(wheel.yanked.as_deref(), Some("broken"));
        assert!(wheel.has_metadata);
        assert_eq!(wheel.size, Some(12));
        let sdist = &files[1];
        assert_eq!(sdist.url, "https://cdn.example/demo-0.9.tar.gz");
        assert_eq!(sdist.sha256.as_deref(), Some("fff"));
        assert_eq!(sdist.yanked, None);
        assert!(sdist.has_metadata);
        let demo = PackageName::from_str("demo").unwrap();
        assert_eq!(files_of(&files, &demo).len(), 2);
    }

    #[test]
    fn json_errors() {
        let err = parse_page(&page("application/vnd.pypi.simple.v1+json", "<html></html>"), "i").unwrap_err();
        assert!(matches!(err, IndexError::InvalidResponse { ref reason, .. } if reason.contains("HTML")), "{err}");
        let err = parse_page(&page("application/vnd.pypi.simple.v1+json", r#"{"meta": {"api-version": "2.0"}, "files": []}"#), "i")
            .unwrap_err();
        assert!(err.to_string().contains("2.0"), "{err}");
        let err = parse_page(&page("application/octet-stream", "\x01garbage"), "i").unwrap_err();
        assert!(err.to_string().contains("https://example.org/simple/demo/"), "{err}");
    }

    #[test]
    fn html_page() {
        let body = r#"<html><body>
            <a href="/files/demo-1.0.tar.gz#sha256=AA" data-requires-python="&gt;=3.7" data-yanked="">demo-1.0.tar.gz</a>
            <a href="demo-2.0-py3-none-any.whl" data-dist-info-metadata="sha256=bb">demo-2.0-py3-none-any.whl</a>
            <a href="https://x.example/dl/demo-3.0%2Blocal-py3-none-any.whl" data-core-metadata="false">download</a>
        </body></html>"#;
        let files = parse_page(&page("text/html; charset=utf-8", body), "https://example.org/simple").unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(files[0].url, "https://example.org/files/demo-1.0.tar.gz");
        assert_eq!(files[0].sha256.as_deref(), Some("aa"));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.7"));
        assert_eq!(files[0].yanked.as_deref(), Some(""));
        assert_eq!(files[1].url, "https://example.org/simple/demo/demo-2.0-py3-none-any.whl");
        assert!(files[1].has_metadata);
        assert_eq!(files[1].yanked, None);
        assert_eq!(files[2].filename, "demo-3.0+local-py3-none-any.whl");
        assert!(!files[2].has_metadata);
    }

    /// What `resolve` must return: `Url::join`, fragment's `sha256=` taken and removed.
    fn slow_resolve(base: &Url, link: &str) -> Option<(String, Option<String>)> {
        let mut url = base.join(link).ok()?;
        let sha256 = url.fragment().and_then(sha256_of_fragment);
        url.set_fragment(None);
        Some((url.to_string(), sha256))
    }

    #[test]
    fn resolving_links_matches_url_join() {
        let base = Url::parse("https://example.org/simple/demo/").unwrap();
        let links = [
            "https://files.pythonhosted.org/packages/ab/cd/0123abcd/demo-1.0-py3-none-any.whl",
            "https://files.pythonhosted.org/packages/ab/cd/0123abcd/demo-1.0.tar.gz#sha256=ABCD",
            "https://files.example/demo-1.0.tar.gz#md5=00&sha256=ee",
            "https://files.example/demo-1.0.tar.gz#",
            "https://files.example/a%2Fb/demo%2B1.0.tar.gz?download=1&x=%zz",
            "http://files.example/demo-1.0.tar.gz",
            "https://files.example//double//slash",
            "https://files.example/?q",
            "https://files.example",
            "https://files.example?q",
            "https://Files.example/demo.tar.gz",
            "HTTPS://files.example/demo.tar.gz",
            "https://files.example:443/demo.tar.gz",
            "https://files.example:8443/demo.tar.gz",
            "https://user:pw@files.example/demo.tar.gz",
            "https://127.0.0.1/demo.tar.gz",
            "https://127.1/demo.tar.gz",
            "https://0x7f.1/demo.tar.gz",
            "https://files.example./demo.tar.gz",
            "https://[::1]/demo.tar.gz",
            "https://xn--nxasmq6b.example/demo.tar.gz",
            "https://bücher.example/demo.tar.gz",
            "https://files.example/a/./b/../c/%2e/%2E%2e/demo.tar.gz",
            "https://files.example/a/.hidden/demo.tar.gz",
            "https://files.example/demo 1.0.tar.gz",
            "https://files.example/dé mo.tar.gz",
            "https://files.example/a\\b.tar.gz",
            "https://files.example/a'b?c'd",
            "https://files.example/a\"b<c>`{}|^[].tar.gz",
            "https://files.example/demo.tar.gz#sha256=aa bb",
            "https://files.example/demo.tar.gz#sha256=aa#bb",
            " https://files.example/demo.tar.gz",
            "https://files.example/de\tmo.tar.gz",
            "https:files.example/demo.tar.gz",
            "https:/files.example/demo.tar.gz",
            "https:///files.example/demo.tar.gz",
            "file:///tmp/demo.tar.gz",
            "../../files/demo-1.0.tar.gz#sha256=AB",
            "/files/demo-1.0.tar.gz",
            "demo-1.0.tar.gz",
            "//cdn.example/demo-1.0.tar.gz",
            "?x=1",
            "#sha256=ab",
            "",
            "mailto:someone@example.org",
            "https://[bad",
        ];
        for link in links {
            assert_eq!(resolve(&base, link.to_string()), slow_resolve(&base, link), "{link}");
        }
        assert!(is_canonical_http_url("https://files.pythonhosted.org/packages/ab/cd/0123abcd/demo-1.0.tar.gz"));
    }

    #[test]
    fn last_segments() {
        assert_eq!(last_path_segment("https://h.example/a/b%2Bc.whl?x=/y"), Some("b%2Bc.whl"));
        assert_eq!(last_path_segment("file:///tmp/x.whl"), Some("x.whl"));
        assert_eq!(last_path_segment("https://h.example/"), Some(""));
        assert_eq!(last_path_segment("mailto:a/b"), None);
        assert_eq!(last_path_segment("data:text/plain,a/b"), None);
    }

    #[test]
    fn json_field_variants() {
        let body = r#"{"files": [
            {"filename": "demo-1.tar.gz", "url": "a", "hashes": {"sha512": "x", "sha256": "AB"}, "yanked": null,
             "core-metadata": false, "dist-info-metadata": true, "requires-python": " ", "size": null},
            {"filename": "demo-2.tar.gz", "url": "b", "yanked": true, "core-metadata": {"sha256": 1, "x": [null]}},
            {"filename": "demo-3.tar.gz", "url": "c", "hashes": {}, "core-metadata": null, "dist-info-metadata": {}}
        ]}"#;
        let files = parse_page(&page("application/vnd.pypi.simple.v1+json", body), "i").unwrap();
        assert_eq!(files[0].sha256.as_deref(), Some("ab"));
        assert_eq!(files[0].yanked, None);
        assert!(!files[0].has_metadata, "core-metadata wins over dist-info-metadata");
        assert_eq!(files[0].requires_python, None);
        assert_eq!(files[1].yanked.as_deref(), Some(""));
        assert!(files[1].has_metadata);
        assert!(files[2].has_metadata);
        for bad in [r#""yanked": 1"#, r#""core-metadata": "yes""#, r#""hashes": []"#] {
            let body = format!(r#"{{"files": [{{"filename": "demo-1.tar.gz", "url": "a", {bad}}}]}}"#);
            assert!(parse_page(&page("application/json", &body), "i").is_err(), "{bad}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb%2"), "a+b%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
