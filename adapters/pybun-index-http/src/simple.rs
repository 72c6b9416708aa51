//! Simple API project pages: PEP 691 JSON and PEP 503 HTML, into [`DistFile`]s.

use std::collections::HashMap;

use pybun_pep::{DistFilename, PackageName};
use pybun_ports::{DistFile, IndexError};
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
    let first = page.body.iter().copied().find(|b| !b.is_ascii_whitespace() && !matches!(b, 0xEF | 0xBB | 0xBF));
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
        Flavour::Json => parse_json(&page.body, &page.final_url, index).map_err(invalid),
        Flavour::Html => {
            let text = std::str::from_utf8(&page.body).map_err(|e| invalid(format!("the HTML is not UTF-8: {e}")))?;
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
    #[serde(default)]
    hashes: HashMap<String, String>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<BoolOr<String>>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(rename = "upload-time", default)]
    upload_time: Option<String>,
    #[serde(rename = "core-metadata", default)]
    core_metadata: Option<BoolOr<HashMap<String, String>>>,
    #[serde(rename = "dist-info-metadata", default)]
    dist_info_metadata: Option<BoolOr<HashMap<String, String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BoolOr<T> {
    Bool(bool),
    Other(T),
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
        let Ok(mut url) = base.join(&file.url) else { continue };
        let fragment_hash = url.fragment().and_then(sha256_of_fragment);
        url.set_fragment(None);
        let sha256 = file.hashes.get("sha256").map(|h| h.to_ascii_lowercase()).or(fragment_hash);
        let yanked = match file.yanked {
            None | Some(BoolOr::Bool(false)) => None,
            Some(BoolOr::Bool(true)) => Some(String::new()),
            Some(BoolOr::Other(reason)) => Some(reason),
        };
        let has_metadata = match file.core_metadata.or(file.dist_info_metadata) {
            None | Some(BoolOr::Bool(false)) => false,
            Some(BoolOr::Bool(true) | BoolOr::Other(_)) => true,
        };
        files.push(DistFile {
            filename: file.filename,
            url: url.to_string(),
            index: index.to_string(),
            sha256,
            size: file.size,
            requires_python: file.requires_python.filter(|r| !r.trim().is_empty()),
            yanked,
            upload_time: file.upload_time,
            has_metadata,
        });
    }
    Ok(files)
}

/// The files of a PEP 503 page (also used for find-links pages).
pub(crate) fn parse_html(text: &str, page_url: &str, index: &str) -> Vec<DistFile> {
    let doc = html::parse(text);
    let Ok(page) = Url::parse(page_url) else { return Vec::new() };
    let base = doc.base.as_deref().and_then(|b| page.join(b).ok()).unwrap_or(page);
    let mut files = Vec::new();
    for anchor in &doc.anchors {
        let Some(href) = anchor.get("href") else { continue };
        let Ok(mut url) = base.join(href) else { continue };
        let sha256 = url.fragment().and_then(sha256_of_fragment);
        url.set_fragment(None);
        let from_url = url
            .path_segments()
            .and_then(|mut segments| segments.next_back())
            .map(percent_decode)
            .unwrap_or_default();
        // PEP 503: the text must be the filename; prefer the URL's when they differ
        // and the text does not look like a distribution file.
        let filename = if looks_like_dist(&anchor.text) { anchor.text.clone() } else { from_url };
        if filename.is_empty() {
            continue;
        }
        let metadata = anchor.get("data-core-metadata").or_else(|| anchor.get("data-dist-info-metadata"));
        files.push(DistFile {
            filename,
            url: url.to_string(),
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
        Page {
            status: 200,
            content_type: Some(content_type.to_string()),
            body: body.as_bytes().to_vec(),
            final_url: "https://example.org/simple/demo/".to_string(),
        }
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

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb%2"), "a+b%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
