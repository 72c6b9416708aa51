//! Direct URL requirements (`name @ url`, PEP 508) as PyBun accepts them.

use std::path::PathBuf;

use crate::{Req, VersionOrUrl};

/// A direct URL requirement's URL, split into what the lock records and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectUrl {
    /// The URL without its fragment; a `file` URL without a trailing `/`.
    pub url: String,
    /// `http`, `https` or `file`.
    pub scheme: String,
    /// The last path segment, percent-decoded (`torch-2.0+cpu-….whl`).
    pub filename: String,
    /// The `#sha256=` fragment value, lowercase.
    pub sha256: Option<String>,
}

/// Hash names a fragment may carry (pip's `hashlib.algorithms_guaranteed`).
const HASH_NAMES: [&str; 13] = [
    "md5", "sha1", "sha224", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s", "shake_128",
    "shake_256",
];

/// The URL of a direct URL requirement; `None` for a requirement by version.
///
/// # Errors
/// Why PyBun cannot use the URL, as a sentence: a scheme other than
/// `http`, `https` and `file` (VCS URLs), credentials in the URL (PEP 610
/// forbids recording them, and the lock would hold them), a hash other
/// than sha256, or a `#subdirectory=`.
pub fn direct_url(requirement: &Req) -> Option<Result<DirectUrl, String>> {
    let Some(VersionOrUrl::Url(verbatim)) = &requirement.version_or_url else { return None };
    Some(split(verbatim.to_url()))
}

fn split(mut url: url::Url) -> Result<DirectUrl, String> {
    let scheme = url.scheme().to_string();
    if !matches!(scheme.as_str(), "http" | "https" | "file") {
        return Err(format!("`{scheme}` URLs are not supported yet"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URLs with credentials are not supported: they would be written into `pybun.lock` and `direct_url.json`".to_string());
    }
    let mut sha256 = None;
    for pair in url.fragment().unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sha256" if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) => {
                sha256 = Some(value.to_ascii_lowercase());
            }
            "sha256" => return Err(format!("`#sha256={value}` is not a sha256 digest (64 hexadecimal digits)")),
            "subdirectory" => return Err("`#subdirectory=` is not supported yet".to_string()),
            key if HASH_NAMES.contains(&key) => {
                return Err(format!("only `#sha256=` hashes can be checked, not `#{key}=`"));
            }
            // `egg=` and the like name the project, which the requirement does already.
            _ => {}
        }
    }
    url.set_fragment(None);
    if scheme == "file" && url.host_str().is_some_and(|host| !host.is_empty()) {
        return Err(format!("`file` URLs name local paths; `{}` is on another host", url.host_str().unwrap_or_default()));
    }
    if scheme == "file" && url.path().len() > 1 && url.path().ends_with('/') {
        let trimmed = url.path().trim_end_matches('/').to_string();
        url.set_path(&trimmed);
    }
    let segment = url.path().rsplit('/').next().unwrap_or_default();
    let filename = percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned();
    Ok(DirectUrl { url: url.to_string(), scheme, filename, sha256 })
}

/// The local path a `file://` URL names (`file://localhost/…` too); `None`
/// for other URLs.
#[must_use]
pub fn file_url_path(url: &str) -> Option<PathBuf> {
    url::Url::parse(url).ok().filter(|url| url.scheme() == "file")?.to_file_path().ok()
}

/// The `file://` URL of an absolute local path (percent-encoded as needed).
#[must_use]
pub fn path_file_url(path: &std::path::Path) -> Option<String> {
    url::Url::from_file_path(path).ok().map(String::from)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn check(requirement: &str, expected: Result<(&str, &str, Option<&str>), &str>) {
        let requirement = Req::from_str(requirement).unwrap();
        let got = direct_url(&requirement).expect("a URL requirement");
        match (got, expected) {
            (Ok(got), Ok((url, filename, sha256))) => {
                assert_eq!((got.url.as_str(), got.filename.as_str(), got.sha256.as_deref()), (url, filename, sha256));
            }
            (Err(got), Err(expected)) => assert!(got.contains(expected), "{got}"),
            (got, expected) => panic!("{requirement}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn urls_are_split_into_url_filename_and_hash() {
        check(
            "torch @ https://h.example/w/torch-2.0.0%2Bcpu-cp311-cp311-linux_x86_64.whl#sha256=ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB&egg=torch",
            Ok((
                "https://h.example/w/torch-2.0.0%2Bcpu-cp311-cp311-linux_x86_64.whl",
                "torch-2.0.0+cpu-cp311-cp311-linux_x86_64.whl",
                Some("abababababababababababababababababababababababababababababababab"),
            )),
        );
        check("x @ https://example.com/x-1.0.tar.gz#sha256=abcd", Err("`#sha256=abcd` is not a sha256 digest"));
        check("x @ file://builder/src/x", Err("`file` URLs name local paths; `builder` is on another host"));
        check("x @ https://example.com/x-1.0.tar.gz#sha3_384=00", Err("not `#sha3_384=`"));
        check("tree @ file:///src/tree/", Ok(("file:///src/tree", "tree", None)));
        check("tree @ file://localhost/src/my%20tree", Ok(("file:///src/my%20tree", "my tree", None)));
        check("x @ git+https://example.com/x.git", Err("`git+https` URLs are not supported yet"));
        check("x @ https://user:secret@example.com/x-1.0.tar.gz", Err("URLs with credentials are not supported"));
        check("x @ https://example.com/x-1.0.tar.gz#md5=00", Err("only `#sha256=` hashes can be checked, not `#md5=`"));
        check("x @ https://example.com/x.zip#subdirectory=pkg", Err("`#subdirectory=` is not supported yet"));
        assert!(direct_url(&Req::from_str("x>=1").unwrap()).is_none());
    }

    #[test]
    fn file_urls_name_local_paths() {
        assert_eq!(file_url_path("file:///src/my%20tree"), Some(PathBuf::from("/src/my tree")));
        assert_eq!(file_url_path("file://localhost/src/tree"), Some(PathBuf::from("/src/tree")));
        assert_eq!(file_url_path("https://example.com/x"), None);
        let url = path_file_url(std::path::Path::new("/src/my tree")).unwrap();
        assert_eq!(url, "file:///src/my%20tree");
        assert_eq!(file_url_path(&url), Some(PathBuf::from("/src/my tree")));
    }
}
