//! `HttpIndex` in compact mode (`compact_project_pages`, what `pybun lsp`
//! turns on), against a local `tiny_http` server. A test binary of its own:
//! the mode is process-wide.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pybun_index_http::{HttpIndex, IndexConfig};
use pybun_pep::PackageName;
use pybun_ports::{IndexError, PackageIndex};

struct Server {
    base: String,
    hits: Arc<Mutex<Vec<String>>>,
    server: Arc<tiny_http::Server>,
}

impl Server {
    fn start() -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let base = format!("http://127.0.0.1:{}", server.server_addr().to_ip().unwrap().port());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (thread_server, thread_hits) = (Arc::clone(&server), Arc::clone(&hits));
        std::thread::spawn(move || {
            for request in thread_server.incoming_requests() {
                let path = request.url().to_string();
                thread_hits.lock().unwrap().push(path.clone());
                let response = if path == "/simple/demo/" {
                    // No Cache-Control: stale at once, as the mirror this machine uses serves pages.
                    let body = r#"{"files": [
                        {"filename": "demo-1.0.tar.gz", "url": "../../files/demo-1.0.tar.gz", "hashes": {"sha256": "00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff"}, "size": 12, "upload-time": "2024-01-02T03:04:05.123456Z"},
                        {"filename": "demo-2.0-py3-none-any.whl", "url": "../../files/demo-2.0-py3-none-any.whl", "hashes": {}, "requires-python": ">=3.8", "yanked": "broken", "core-metadata": true}
                    ]}"#;
                    tiny_http::Response::from_string(body).with_header(
                        tiny_http::Header::from_bytes("Content-Type", "application/vnd.pypi.simple.v1+json").unwrap(),
                    )
                } else {
                    tiny_http::Response::from_string("not found").with_status_code(404)
                };
                let _ = request.respond(response);
            }
        });
        Self { base, hits, server }
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().iter().filter(|hit| *hit == path).count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn name(text: &str) -> PackageName {
    PackageName::from_str(text).unwrap()
}

fn config(cache: &std::path::Path, server: &Server, find_links: Vec<String>) -> IndexConfig {
    let mut config = IndexConfig::new(cache);
    config.index_urls = vec![format!("{}/simple", server.base)];
    config.find_links = find_links;
    config.retries = 0;
    config.timeout = Duration::from_secs(10);
    config
}

#[test]
fn compact_pages_are_decoded_again_without_io_and_shared_by_the_indexes_of_one_configuration() {
    pybun_index_http::compact_project_pages();
    let server = Server::start();
    let cache = tempfile::tempdir().unwrap();
    let links = tempfile::tempdir().unwrap();
    std::fs::write(links.path().join("demo-0.5.tar.gz"), b"local").unwrap();
    let location = links.path().display().to_string();
    let config = config(cache.path(), &server, vec![location.clone()]);

    let index = HttpIndex::new(config.clone()).unwrap();
    index.prefetch_project(&name("demo"));
    let first = index.project(&name("demo")).unwrap();
    let files: Vec<_> = first.files.iter().map(|f| (f.filename.as_str(), f.index.as_str())).collect();
    let simple = format!("{}/simple", server.base);
    assert_eq!(
        files,
        [("demo-1.0.tar.gz", simple.as_str()), ("demo-2.0-py3-none-any.whl", simple.as_str()), ("demo-0.5.tar.gz", location.as_str())]
    );
    let sdist = &first.files[0];
    assert_eq!(sdist.url, format!("{}/files/demo-1.0.tar.gz", server.base));
    assert_eq!(sdist.sha256.as_deref(), Some("00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff"));
    assert_eq!((sdist.size, sdist.upload_time.as_deref()), (Some(12), Some("2024-01-02T03:04:05.123456Z")));
    let wheel = &first.files[1];
    assert_eq!((wheel.requires_python.as_deref(), wheel.yanked.as_deref(), wheel.has_metadata), (Some(">=3.8"), Some("broken"), true));

    // While a caller holds the files, they are handed out again as they are.
    assert!(Arc::ptr_eq(&first, &index.project(&name("demo")).unwrap()));
    // Once dropped, they are decoded again from memory: equal, and no request.
    let kept = (*first).clone();
    drop(first);
    assert_eq!(*index.project(&name("demo")).unwrap(), kept);
    assert_eq!(server.hits("/simple/demo/"), 1);
    assert_eq!(index.project(&name("missing")).unwrap_err(), IndexError::NotFound { name: name("missing") });
    assert_eq!(index.project(&name("missing")).unwrap_err(), IndexError::NotFound { name: name("missing") });
    assert_eq!(server.hits("/simple/missing/"), 1);
    assert!(index.known_projects().contains(&name("demo")));

    // Another index of the same configuration, opened while this one lives, shares the pages.
    let burst = HttpIndex::new(config.clone()).unwrap();
    assert_eq!(*burst.project(&name("demo")).unwrap(), kept);
    drop(burst);
    assert_eq!(server.hits("/simple/demo/"), 1);
    // Another configuration does not.
    let other = HttpIndex::new(IndexConfig { find_links: Vec::new(), ..config.clone() }).unwrap();
    assert_eq!(other.project(&name("demo")).unwrap().files.len(), 2);
    assert_eq!(server.hits("/simple/demo/"), 2);
    drop(other);
    // Once every index of the configuration is gone, so are its pages.
    drop(index);
    let again = HttpIndex::new(config).unwrap();
    assert_eq!(*again.project(&name("demo")).unwrap(), kept);
    assert_eq!(server.hits("/simple/demo/"), 3);
}
