//! Hermetic tests of `HttpIndex` against a local `tiny_http` server.

use std::io::{Cursor, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pybun_index_http::{HttpIndex, IndexConfig};
use pybun_pep::PackageName;
use pybun_ports::{
    CandidatePick, CandidatePicker, DistFile, IndexError, MetadataOrigin, PackageIndex, ProjectFiles, RawMetadata,
};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------- server

#[derive(Debug, Clone)]
struct Req {
    path: String,
    headers: Vec<(String, String)>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: vec![("Content-Type".into(), content_type.into())], body: body.into() }
    }

    fn status(status: u16) -> Self {
        Self::new(status, "text/plain", format!("status {status}"))
    }

    fn json(body: &str) -> Self {
        Self::new(200, "application/vnd.pypi.simple.v1+json", body)
    }

    fn html(body: &str) -> Self {
        Self::new(200, "text/html; charset=utf-8", body)
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

struct TestServer {
    base: String,
    log: Arc<Mutex<Vec<Req>>>,
    server: Arc<tiny_http::Server>,
}

impl TestServer {
    fn start(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (thread_server, thread_log) = (Arc::clone(&server), Arc::clone(&log));
        std::thread::spawn(move || {
            for request in thread_server.incoming_requests() {
                let req = Req {
                    path: request.url().split('?').next().unwrap_or("").to_string(),
                    headers: request
                        .headers()
                        .iter()
                        .map(|h| (h.field.as_str().as_str().to_string(), h.value.as_str().to_string()))
                        .collect(),
                };
                thread_log.lock().unwrap().push(req.clone());
                let reply = handler(&req);
                let mut response = tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
                for (name, value) in reply.headers {
                    response = response.with_header(tiny_http::Header::from_bytes(name, value).unwrap());
                }
                let _ = request.respond(response);
            }
        });
        Self { base: format!("http://127.0.0.1:{port}"), log, server }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    fn hits(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// Serve `bytes`, honouring `Range: bytes=-N` / `bytes=A-B` when `ranges`.
fn serve_file(req: &Req, bytes: &[u8], ranges: bool) -> Reply {
    let total = bytes.len();
    let range = req.header("range").and_then(|r| r.strip_prefix("bytes="));
    match range {
        Some(range) if ranges => {
            let (start, end) = match range.split_once('-').unwrap() {
                ("", suffix) => (total.saturating_sub(suffix.parse().unwrap()), total - 1),
                (a, "") => (a.parse().unwrap(), total - 1),
                (a, b) => (a.parse().unwrap(), b.parse::<usize>().unwrap().min(total - 1)),
            };
            Reply::new(206, "application/octet-stream", bytes[start..=end].to_vec())
                .header("Content-Range", &format!("bytes {start}-{end}/{total}"))
        }
        _ => Reply::new(200, "application/octet-stream", bytes.to_vec()),
    }
}

// ---------------------------------------------------------------- fixtures

fn name(text: &str) -> PackageName {
    PackageName::from_str(text).unwrap()
}

fn metadata_text(version: &str) -> String {
    format!("Metadata-Version: 2.1\nName: demo\nVersion: {version}\nRequires-Dist: idna>=2\n")
}

/// A wheel with a deflated METADATA followed by `padding` incompressible bytes.
fn wheel(version: &str, padding: usize) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    writer.start_file("demo/__init__.py", deflated).unwrap();
    writer.write_all(b"# demo\n").unwrap();
    writer.start_file(format!("demo-{version}.dist-info/METADATA"), deflated).unwrap();
    writer.write_all(metadata_text(version).as_bytes()).unwrap();
    if padding > 0 {
        let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        writer.start_file("demo/blob.bin", stored).unwrap();
        let mut state = 0x2545_f491_u32;
        let noise: Vec<u8> = (0..padding)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_le_bytes()[0]
            })
            .collect();
        writer.write_all(&noise).unwrap();
    }
    writer.start_file(format!("demo-{version}.dist-info/RECORD"), deflated).unwrap();
    writer.finish().unwrap().into_inner()
}

fn sdist(version: &str) -> Vec<u8> {
    let pkg_info = metadata_text(version);
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(pkg_info.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, format!("demo-{version}/PKG-INFO"), pkg_info.as_bytes()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn config(cache: &Path, indexes: &[String]) -> IndexConfig {
    let mut config = IndexConfig::new(cache);
    config.index_urls = indexes.to_vec();
    config.retry_backoff = Duration::from_millis(20);
    config.timeout = Duration::from_secs(10);
    config
}

fn file(server: &TestServer, filename: &str) -> DistFile {
    DistFile::new(filename, server.url(&format!("/files/{filename}")), server.url("/simple"))
}

// ---------------------------------------------------------------- tests

#[test]
fn json_flavour_and_pep658_metadata() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/simple/demo/" => {
            let accept = req.header("accept").unwrap_or("");
            assert!(accept.starts_with("application/vnd.pypi.simple.v1+json"), "{accept}");
            assert!(accept.contains("text/html;q=0.01"), "{accept}");
            Reply::json(
                r#"{"meta": {"api-version": "1.1"}, "name": "demo", "files": [
                {"filename": "demo-1.0-py3-none-any.whl", "url": "../../files/demo-1.0-py3-none-any.whl",
                 "hashes": {"sha256": "AAAA"}, "requires-python": ">=3.8", "size": 1234,
                 "upload-time": "2024-05-01T10:00:00.000000Z", "core-metadata": {"sha256": "bbbb"}},
                {"filename": "demo-0.9.tar.gz", "url": "/files/demo-0.9.tar.gz", "hashes": {},
                 "yanked": "broken build", "dist-info-metadata": false},
                {"filename": "demo-0.8.tar.gz", "url": "/files/demo-0.8.tar.gz", "hashes": {}, "yanked": true},
                {"filename": "README.txt", "url": "/files/README.txt", "hashes": {}}
            ]}"#,
            )
        }
        "/files/demo-1.0-py3-none-any.whl.metadata" => Reply::new(200, "binary/octet-stream", metadata_text("1.0")),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let index = HttpIndex::new(config(cache.path(), &[server.url("/simple")])).unwrap();
    let project = index.project(&name("Demo")).unwrap();
    assert_eq!(project.files.len(), 3, "README.txt is not a distribution");
    let wheel = &project.files[0];
    assert_eq!(wheel.filename, "demo-1.0-py3-none-any.whl");
    assert_eq!(wheel.url, server.url("/files/demo-1.0-py3-none-any.whl"));
    assert_eq!(wheel.index, server.url("/simple"));
    assert_eq!(wheel.sha256.as_deref(), Some("aaaa"));
    assert_eq!(wheel.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(wheel.size, Some(1234));
    assert_eq!(wheel.upload_time.as_deref(), Some("2024-05-01T10:00:00.000000Z"));
    assert_eq!(wheel.yanked, None);
    assert!(wheel.has_metadata);
    assert_eq!(project.files[1].yanked.as_deref(), Some("broken build"));
    assert!(!project.files[1].has_metadata);
    assert_eq!(project.files[2].yanked.as_deref(), Some(""));

    let metadata = index.metadata(&name("demo"), wheel).unwrap();
    assert_eq!(metadata.origin, MetadataOrigin::Pep658);
    assert_eq!(metadata.bytes, metadata_text("1.0").as_bytes());
    let sent = index.request_count();
    assert_eq!(sent, 2);
    // Memoized in process: neither call goes out again.
    index.project(&name("demo")).unwrap();
    index.metadata(&name("demo"), wheel).unwrap();
    assert_eq!(index.request_count(), sent);
}

#[test]
fn html_flavour() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/simple/demo/" => Reply::html(
            r#"<!DOCTYPE html><html><body><h1>Links for demo</h1>
            <a href="/files/demo-1.0.tar.gz#sha256=ABCDEF" data-requires-python="&gt;=3.7,&lt;4">demo-1.0.tar.gz</a><br/>
            <a href="../../files/demo-1.1-py3-none-any.whl" data-yanked="" data-dist-info-metadata="sha256=00">demo-1.1-py3-none-any.whl</a><br/>
            <a href="/files/otherpkg-1.0.tar.gz">otherpkg-1.0.tar.gz</a>
            </body></html>"#,
        ),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let index = HttpIndex::new(config(cache.path(), &[server.url("/simple/")])).unwrap();
    let project = index.project(&name("demo")).unwrap();
    assert_eq!(project.files.len(), 2);
    let sdist = &project.files[0];
    assert_eq!(sdist.url, server.url("/files/demo-1.0.tar.gz"));
    assert_eq!(sdist.sha256.as_deref(), Some("abcdef"));
    assert_eq!(sdist.requires_python.as_deref(), Some(">=3.7,<4"));
    assert_eq!(sdist.yanked, None);
    assert!(!sdist.has_metadata);
    let wheel = &project.files[1];
    assert_eq!(wheel.url, server.url("/files/demo-1.1-py3-none-any.whl"));
    assert_eq!(wheel.yanked.as_deref(), Some(""));
    assert!(wheel.has_metadata);
}

#[test]
fn wheel_metadata_with_range_requests() {
    let big = wheel("1.0", 100_000);
    let small = wheel("2.0", 0);
    let (big_c, small_c) = (big.clone(), small.clone());
    let server = TestServer::start(move |req| match req.path.as_str() {
        "/files/demo-1.0-py3-none-any.whl" => serve_file(req, &big_c, true),
        "/files/demo-2.0-py3-none-any.whl" => serve_file(req, &small_c, true),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let index = HttpIndex::new(config(cache.path(), &[server.url("/simple")])).unwrap();

    // METADATA lies before the 64 KiB tail: the tail, then its local header and data.
    let metadata = index.metadata(&name("demo"), &file(&server, "demo-1.0-py3-none-any.whl")).unwrap();
    assert_eq!(metadata.origin, MetadataOrigin::WheelRange);
    assert_eq!(metadata.bytes, metadata_text("1.0").as_bytes());
    let requests: Vec<Req> =
        server.requests().into_iter().filter(|r| r.path == "/files/demo-1.0-py3-none-any.whl").collect();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("range"), Some("bytes=-65536"));
    assert!(requests.iter().all(|r| r.header("range").is_some()), "never a full download");

    // A small wheel is read from the tail alone.
    let metadata = index.metadata(&name("demo"), &file(&server, "demo-2.0-py3-none-any.whl")).unwrap();
    assert_eq!(metadata.origin, MetadataOrigin::WheelRange);
    assert_eq!(metadata.bytes, metadata_text("2.0").as_bytes());
    assert_eq!(server.hits("/files/demo-2.0-py3-none-any.whl"), 1);
}

/// A wheel with `count` small modules (a central directory of ~100 bytes
/// each), a stored blob, then its `.dist-info` last: METADATA, RECORD.
fn wheel_with_many_files(count: usize) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut record = String::new();
    for i in 0..count {
        let path = format!("demo/data/service-{i:05}/endpoint-rule-set-1.json");
        writer.start_file(path.as_str(), deflated).unwrap();
        writer.write_all(b"{}").unwrap();
        record.push_str(&format!("{path},sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,2\n"));
    }
    writer.start_file("demo/blob.bin", stored).unwrap();
    writer.write_all(&vec![7_u8; 300_000]).unwrap();
    writer.start_file("demo-3.0.dist-info/METADATA", deflated).unwrap();
    writer.write_all(metadata_text("3.0").as_bytes()).unwrap();
    writer.start_file("demo-3.0.dist-info/RECORD", deflated).unwrap();
    writer.write_all(record.as_bytes()).unwrap();
    writer.finish().unwrap().into_inner()
}

#[test]
fn a_central_directory_beyond_the_tail_comes_with_the_metadata_before_it() {
    let big = wheel_with_many_files(2000);
    let served = big.clone();
    let server = TestServer::start(move |req| match req.path.as_str() {
        "/files/demo-3.0-py3-none-any.whl" => serve_file(req, &served, true),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let index = HttpIndex::new(config(cache.path(), &[server.url("/simple")])).unwrap();
    let metadata = index.metadata(&name("demo"), &file(&server, "demo-3.0-py3-none-any.whl")).unwrap();
    assert_eq!(metadata.origin, MetadataOrigin::WheelRange);
    assert_eq!(metadata.bytes, metadata_text("3.0").as_bytes());
    let ranges: Vec<String> =
        server.requests().iter().filter_map(|r| r.header("range").map(str::to_string)).collect();
    // The tail, then the central directory with the bytes before it (METADATA
    // included): no third request.
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], "bytes=-65536");
    let cd_end = big.len() - 22;
    assert!(ranges[1].ends_with(&format!("-{}", cd_end - 1)), "{ranges:?} (central directory ends at {cd_end})");
}

#[test]
fn wheel_metadata_without_range_support() {
    let whole = wheel("1.0", 1000);
    let digest = sha256(&whole);
    let (ignores, refuses) = (whole.clone(), whole.clone());
    let server = TestServer::start(move |req| match req.path.as_str() {
        // Ignores `Range`: always the whole file with 200.
        "/files/demo-1.0-py3-none-any.whl" => serve_file(req, &ignores, false),
        // Refuses ranges with 416, serves plain GETs.
        "/files/demo-1.0-1-py3-none-any.whl" if req.header("range").is_some() => Reply::status(416),
        "/files/demo-1.0-1-py3-none-any.whl" => serve_file(req, &refuses, false),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let index = HttpIndex::new(config(cache.path(), &[server.url("/simple")])).unwrap();

    let mut ignoring = file(&server, "demo-1.0-py3-none-any.whl");
    ignoring.sha256 = Some(digest.clone());
    let metadata = index.metadata(&name("demo"), &ignoring).unwrap();
    assert_eq!(metadata.origin, MetadataOrigin::WheelDownload);
    assert_eq!(metadata.bytes, metadata_text("1.0").as_bytes());
    assert_eq!(server.hits("/files/demo-1.0-py3-none-any.whl"), 1, "the 200 body is used, not fetched again");

    let refusing = file(&server, "demo-1.0-1-py3-none-any.whl");
    let metadata = index.metadata(&name("demo"), &refusing).unwrap();
    assert_eq!(metadata.origin, MetadataOrigin::WheelDownload);
    assert_eq!(server.hits("/files/demo-1.0-1-py3-none-any.whl"), 2);

    // A wrong hash is caught on the downloaded bytes.
    let mut wrong = refusing.clone();
    wrong.url = server.url("/files/demo-1.0-py3-none-any.whl");
    wrong.filename = "demo-1.0-py3-none-any.whl".to_string();
    wrong.sha256 = Some("00".repeat(32));
    wrong.url.push_str("?again");
    let err = index.metadata(&name("demo"), &wrong).unwrap_err();
    match err {
        IndexError::InvalidArchive { filename, reason } => {
            assert_eq!(filename, "demo-1.0-py3-none-any.whl");
            assert!(reason.contains(&"00".repeat(32)) && reason.contains(&digest), "{reason}");
        }
        other => panic!("expected InvalidArchive, got {other:?}"),
    }
}

#[test]
fn sdist_metadata_from_pkg_info() {
    let archive = sdist("1.5");
    let digest = sha256(&archive);
    let server = TestServer::start(move |req| match req.path.as_str() {
        "/files/demo-1.5.tar.gz" => serve_file(req, &archive, true),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let index = HttpIndex::new(config(cache.path(), &[server.url("/simple")])).unwrap();
    let mut sdist_file = file(&server, "demo-1.5.tar.gz");
    sdist_file.sha256 = Some(digest);
    let metadata = index.metadata(&name("demo"), &sdist_file).unwrap();
    assert_eq!(metadata.origin, MetadataOrigin::SdistPkgInfo);
    assert_eq!(metadata.bytes, metadata_text("1.5").as_bytes());
}

#[test]
fn first_index_that_knows_the_project_wins() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/second/demo/" => Reply::json(
            r#"{"files": [{"filename": "demo-1.0.tar.gz", "url": "demo-1.0.tar.gz", "hashes": {}}]}"#,
        ),
        "/third/demo/" => Reply::json(
            r#"{"files": [{"filename": "demo-9.0.tar.gz", "url": "demo-9.0.tar.gz", "hashes": {}}]}"#,
        ),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let indexes = [server.url("/first"), server.url("/second"), server.url("/third")];
    let index = HttpIndex::new(config(cache.path(), &indexes)).unwrap();
    let project = index.project(&name("demo")).unwrap();
    assert_eq!(project.files.len(), 1);
    assert_eq!(project.files[0].index, server.url("/second"));
    assert_eq!(project.files[0].url, server.url("/second/demo/demo-1.0.tar.gz"));
    assert_eq!(server.hits("/third/demo/"), 0);

    let err = index.project(&name("missing")).unwrap_err();
    assert_eq!(err, IndexError::NotFound { name: name("missing") });
}

#[test]
fn invalid_responses_name_the_url() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/liar/demo/" => Reply::json("<html><body>not json</body></html>"),
        "/garbage/demo/" => Reply::new(200, "application/octet-stream", vec![0x00, 0xff, 0x13, 0x37]),
        "/badjson/demo/" => Reply::json(r#"{"files": [{"filename": 1}]}"#),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    for (prefix, expected) in [("/liar", "HTML"), ("/garbage", "neither"), ("/badjson", "JSON")] {
        let index = HttpIndex::new(config(cache.path(), &[server.url(prefix)])).unwrap();
        match index.project(&name("demo")).unwrap_err() {
            IndexError::InvalidResponse { url, reason } => {
                assert_eq!(url, server.url(&format!("{prefix}/demo/")));
                assert!(reason.contains(expected), "{reason}");
            }
            other => panic!("expected InvalidResponse, got {other:?}"),
        }
    }
}

#[test]
fn server_errors_are_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let server = TestServer::start(move |req| match req.path.as_str() {
        "/simple/demo/" => {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::status(500)
            } else {
                Reply::json(r#"{"files": []}"#)
            }
        }
        "/simple/down/" => Reply::status(503),
        "/simple/forbidden/" => Reply::status(403),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let index = HttpIndex::new(config(cache.path(), &[server.url("/simple")])).unwrap();
    let project = index.project(&name("demo")).unwrap();
    assert!(project.files.is_empty());
    assert_eq!(index.request_count(), 2);

    let err = index.project(&name("down")).unwrap_err();
    assert_eq!(err, IndexError::HttpStatus { url: server.url("/simple/down/"), status: 503 });
    assert_eq!(server.hits("/simple/down/"), 4, "one attempt and three retries");

    let err = index.project(&name("forbidden")).unwrap_err();
    assert_eq!(err, IndexError::HttpStatus { url: server.url("/simple/forbidden/"), status: 403 });
    assert_eq!(server.hits("/simple/forbidden/"), 1, "4xx is not retried");
}

#[test]
fn unreachable_index_fails_quickly() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cache = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/simple");
    let index = HttpIndex::new(config(cache.path(), std::slice::from_ref(&url))).unwrap();
    let started = Instant::now();
    match index.project(&name("demo")).unwrap_err() {
        IndexError::Unreachable { url: failed, reason } => {
            assert_eq!(failed, format!("{url}/demo/"));
            assert!(!reason.is_empty());
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(index.request_count(), 4);
}

#[test]
fn offline_answers_from_the_cache() {
    let small = wheel("1.0", 0);
    let server = TestServer::start(move |req| match req.path.as_str() {
        "/simple/demo/" => Reply::json(
            r#"{"files": [{"filename": "demo-1.0-py3-none-any.whl", "url": "/files/demo-1.0-py3-none-any.whl", "hashes": {}}]}"#,
        )
        .header("Cache-Control", "max-age=0"),
        "/files/demo-1.0-py3-none-any.whl" => serve_file(req, &small, true),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let indexes = [server.url("/empty"), server.url("/simple")];
    let online = HttpIndex::new(config(cache.path(), &indexes)).unwrap();
    let project = online.project(&name("demo")).unwrap();
    let metadata = online.metadata(&name("demo"), &project.files[0]).unwrap();
    drop(online);

    let mut offline_config = config(cache.path(), &indexes);
    offline_config.offline = true;
    let offline = HttpIndex::new(offline_config).unwrap();
    // Stale (max-age=0) but served: offline ignores freshness; the cached 404 of
    // the first index is honoured too.
    assert_eq!(offline.project(&name("demo")).unwrap(), project);
    assert_eq!(offline.metadata(&name("demo"), &project.files[0]).unwrap(), metadata);
    let started = Instant::now();
    let err = offline.project(&name("unseen")).unwrap_err();
    assert_eq!(err, IndexError::OfflineMiss { url: server.url("/empty/unseen/") });
    let unseen = file(&server, "demo-2.0-py3-none-any.whl");
    let err = offline.metadata(&name("demo"), &unseen).unwrap_err();
    assert_eq!(err, IndexError::OfflineMiss { url: unseen.url.clone() });
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(offline.request_count(), 0);
}

#[test]
fn fresh_pages_send_nothing_and_stale_ones_revalidate() {
    let server = TestServer::start(|req| {
        let body = r#"{"files": [{"filename": "demo-1.0.tar.gz", "url": "demo-1.0.tar.gz", "hashes": {}}]}"#;
        match req.path.as_str() {
            "/fresh/demo/" => Reply::json(body).header("Cache-Control", "max-age=600"),
            "/etag/demo/" if req.header("if-none-match") == Some("\"v1\"") => {
                Reply::new(304, "application/vnd.pypi.simple.v1+json", "").header("ETag", "\"v1\"")
            }
            "/etag/demo/" => Reply::json(body).header("ETag", "\"v1\"").header("Cache-Control", "max-age=0"),
            "/nocache/demo/" => Reply::json(body),
            _ => Reply::status(404),
        }
    });
    let cache = tempfile::tempdir().unwrap();
    for prefix in ["/fresh", "/etag", "/nocache"] {
        let first = HttpIndex::new(config(cache.path(), &[server.url(prefix)])).unwrap();
        let expected = first.project(&name("demo")).unwrap();
        assert_eq!(first.request_count(), 1);
        // A new instance has no in-process memo: only the disk cache helps.
        let second = HttpIndex::new(config(cache.path(), &[server.url(prefix)])).unwrap();
        assert_eq!(second.project(&name("demo")).unwrap(), expected);
        let sent = second.request_count();
        match prefix {
            "/fresh" => assert_eq!(sent, 0, "a fresh page is served from the cache"),
            "/etag" => {
                assert_eq!(sent, 1);
                let last = server.requests().into_iter().rfind(|r| r.path == "/etag/demo/").unwrap();
                assert_eq!(last.header("if-none-match"), Some("\"v1\""));
            }
            _ => assert_eq!(sent, 1, "no validator: fetched again"),
        }
    }
    assert!(cache.path().join("http-v1/simple").is_dir());
}

#[test]
fn prefetch_and_blocking_calls_fetch_once() {
    let small = wheel("1.0", 0);
    let server = TestServer::start(move |req| {
        std::thread::sleep(Duration::from_millis(150));
        match req.path.as_str() {
            "/simple/demo/" => Reply::json(
                r#"{"files": [{"filename": "demo-1.0-py3-none-any.whl", "url": "/files/demo-1.0-py3-none-any.whl", "hashes": {}}]}"#,
            ),
            "/files/demo-1.0-py3-none-any.whl" => serve_file(req, &small, true),
            _ => Reply::status(404),
        }
    });
    let cache = tempfile::tempdir().unwrap();
    let index = Arc::new(HttpIndex::new(config(cache.path(), &[server.url("/simple")])).unwrap());
    index.prefetch_project(&name("demo"));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let index = Arc::clone(&index);
            std::thread::spawn(move || index.project(&name("demo")).unwrap())
        })
        .collect();
    let results: Vec<_> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(server.hits("/simple/demo/"), 1);

    let wheel_file = results[0].files[0].clone();
    index.prefetch_metadata(&name("demo"), &wheel_file);
    index.prefetch_metadata(&name("demo"), &wheel_file);
    let metadata = index.metadata(&name("demo"), &wheel_file).unwrap();
    assert_eq!(metadata.origin, MetadataOrigin::WheelRange);
    assert_eq!(server.hits("/files/demo-1.0-py3-none-any.whl"), 1);
    assert_eq!(index.request_count(), 2);
}

#[test]
fn prefetched_candidates_have_their_metadata_fetched_without_waiting() {
    let wheel_1 = wheel("1.0", 0);
    let wheel_2 = wheel("2.0", 0);
    let server = TestServer::start(move |req| match req.path.as_str() {
        "/simple/demo/" => Reply::json(
            r#"{"files": [
                {"filename": "demo-1.0-py3-none-any.whl", "url": "/files/demo-1.0-py3-none-any.whl", "hashes": {}},
                {"filename": "demo-2.0-py3-none-any.whl", "url": "/files/demo-2.0-py3-none-any.whl", "hashes": {}}
            ]}"#,
        ),
        "/simple/other/" => Reply::json(
            r#"{"files": [{"filename": "other-1.0-py3-none-any.whl", "url": "/files/other-1.0-py3-none-any.whl", "hashes": {}}]}"#,
        ),
        "/simple/idna/" => Reply::json(
            r#"{"files": [{"filename": "idna-3.0-py3-none-any.whl", "url": "/files/idna-3.0-py3-none-any.whl", "hashes": {}}]}"#,
        ),
        "/files/demo-1.0-py3-none-any.whl" | "/files/idna-3.0-py3-none-any.whl" => serve_file(req, &wheel_1, true),
        "/files/demo-2.0-py3-none-any.whl" => serve_file(req, &wheel_2, true),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let index = HttpIndex::new(config(cache.path(), &[server.url("/simple")])).unwrap();
    // The pick sees the project's files and names the one to read; once its
    // metadata is known, `next` names the packages to guess next.
    struct Chain;
    impl CandidatePicker for Chain {
        fn pick(&self, project: &ProjectFiles) -> Option<DistFile> {
            project.files.iter().find(|f| f.filename.starts_with("demo-2.0")).cloned()
        }
        fn next(self: Box<Self>, metadata: &RawMetadata) -> Vec<(PackageName, CandidatePick)> {
            assert_eq!(metadata.bytes, metadata_text("2.0").as_bytes());
            vec![(name("idna"), Box::new(|project: &ProjectFiles| project.files.first().cloned()))]
        }
    }
    index.prefetch_candidate(&name("demo"), Box::new(Chain));
    // Nothing picked: only the page.
    index.prefetch_candidate(&name("other"), Box::new(|_: &ProjectFiles| None));
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.hits("/files/idna-3.0-py3-none-any.whl") == 0 || server.hits("/simple/other/") == 0 {
        assert!(Instant::now() < deadline, "the candidate's metadata was never fetched");
        std::thread::sleep(Duration::from_millis(5));
    }
    let project = index.project(&name("demo")).unwrap();
    let metadata = index.metadata(&name("demo"), &project.files[1]).unwrap();
    assert_eq!(metadata.bytes, metadata_text("2.0").as_bytes());
    assert!(index.project(&name("other")).is_ok());
    assert_eq!(server.hits("/simple/demo/"), 1);
    assert_eq!(server.hits("/files/demo-2.0-py3-none-any.whl"), 1, "the blocking call found the prefetched metadata");
    assert_eq!(server.hits("/files/demo-1.0-py3-none-any.whl"), 0);
    assert!(index.metadata(&name("idna"), &index.project(&name("idna")).unwrap().files[0]).is_ok());
    assert_eq!(index.request_count(), 5, "pages of demo, other, idna; metadata of demo 2.0 and idna");
}

#[test]
fn find_links_directories_and_pages() {
    let links = tempfile::tempdir().unwrap();
    std::fs::write(links.path().join("demo-2.0-py3-none-any.whl"), wheel("2.0", 0)).unwrap();
    std::fs::write(links.path().join("demo-0.1.tar.gz"), sdist("0.1")).unwrap();
    std::fs::write(links.path().join("other-1.0.tar.gz"), b"x").unwrap();
    std::fs::write(links.path().join("notes.txt"), b"x").unwrap();
    let server = TestServer::start(|req| match req.path.as_str() {
        "/simple/demo/" => Reply::json(
            r#"{"files": [{"filename": "demo-1.0.tar.gz", "url": "demo-1.0.tar.gz", "hashes": {}}]}"#,
        ),
        "/links/" => Reply::html(
            r#"<a href="demo-3.0.tar.gz#sha256=cc">demo-3.0.tar.gz</a> <a href="solo-1.0.tar.gz">solo-1.0.tar.gz</a>"#,
        ),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(cache.path(), &[server.url("/simple")]);
    let location = links.path().display().to_string();
    cfg.find_links = vec![location.clone(), server.url("/links/")];
    let index = HttpIndex::new(cfg).unwrap();

    let project = index.project(&name("demo")).unwrap();
    let names: Vec<&str> = project.files.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(names, ["demo-1.0.tar.gz", "demo-0.1.tar.gz", "demo-2.0-py3-none-any.whl", "demo-3.0.tar.gz"]);
    let local = &project.files[2];
    assert!(local.url.starts_with("file://"), "{}", local.url);
    assert_eq!(local.index, location);
    assert!(local.size.is_some());
    let remote = &project.files[3];
    assert_eq!(remote.url, server.url("/links/demo-3.0.tar.gz"));
    assert_eq!(remote.index, server.url("/links/"));
    assert_eq!(remote.sha256.as_deref(), Some("cc"));

    let metadata = index.metadata(&name("demo"), local).unwrap();
    assert_eq!(metadata.origin, MetadataOrigin::Local);
    assert_eq!(metadata.bytes, metadata_text("2.0").as_bytes());
    let metadata = index.metadata(&name("demo"), &project.files[1]).unwrap();
    assert_eq!(metadata.origin, MetadataOrigin::Local);
    assert_eq!(metadata.bytes, metadata_text("0.1").as_bytes());

    // Known only to a find-links page: found. The page is fetched once.
    let solo = index.project(&name("solo")).unwrap();
    assert_eq!(solo.files.len(), 1);
    assert_eq!(server.hits("/links/"), 1);
    assert_eq!(index.project(&name("nowhere")).unwrap_err(), IndexError::NotFound { name: name("nowhere") });
}

#[test]
fn blocking_calls_work_inside_an_async_context() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/simple/demo/" => Reply::json(r#"{"files": []}"#),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let index = HttpIndex::new(config(cache.path(), &[server.url("/simple")])).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let project = runtime.block_on(async { index.project(&name("demo")) }).unwrap();
    assert!(project.files.is_empty());
    // Dropping the index inside an async context must not panic either.
    runtime.block_on(async move { drop(index) });
}

#[test]
fn bad_configuration_is_rejected() {
    let cache = tempfile::tempdir().unwrap();
    assert!(HttpIndex::new(config(cache.path(), &["ftp://example.org/simple".to_string()])).is_err());
    assert!(HttpIndex::new(config(cache.path(), &["not a url".to_string()])).is_err());
}

// ---------------------------------------------------------------- parsed-page cache

/// Every entry file under `{cache}/http-v1/{bucket}/`.
fn entries(cache: &Path, bucket: &str) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(dirs) = std::fs::read_dir(cache.join("http-v1").join(bucket)) else { return files };
    for dir in dirs {
        for entry in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files.sort();
    files
}

const DEMO_PAGE: &str = r#"{"meta": {"api-version": "1.0"}, "files": [
    {"filename": "demo-1.0-py3-none-any.whl", "url": "../../files/demo-1.0-py3-none-any.whl#sha256=ABAB",
     "hashes": {"md5": "x", "blake2b_256": "y"}, "requires-python": ">=3.8", "size": 1234,
     "upload-time": "2024-05-01T10:00:00.000000Z", "core-metadata": {"sha256": "bbbb"}},
    {"filename": "demo-1.0.tar.gz", "url": "https://files.example/packages/demo-1.0.tar.gz#sha256=CDCD&x=1",
     "hashes": {"sha256": "EFEF"}, "yanked": "bad", "dist-info-metadata": null},
    {"filename": "demo-0.9.tar.gz", "url": "https://FILES.example:443/a/./b/../demo-0.9.tar.gz",
     "hashes": {}, "yanked": false, "core-metadata": null, "dist-info-metadata": true},
    {"filename": "README.txt", "url": "/files/README.txt", "hashes": {}}
]}"#;

fn check_demo_files(server: &TestServer, files: &[DistFile]) {
    let urls: Vec<&str> = files.iter().map(|f| f.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            server.url("/files/demo-1.0-py3-none-any.whl").as_str(),
            "https://files.example/packages/demo-1.0.tar.gz",
            "https://files.example/a/demo-0.9.tar.gz",
        ]
    );
    let hashes: Vec<Option<&str>> = files.iter().map(|f| f.sha256.as_deref()).collect();
    assert_eq!(hashes, [Some("abab"), Some("efef"), None]);
    assert_eq!(files[0].size, Some(1234));
    assert_eq!(files[0].requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(files[0].upload_time.as_deref(), Some("2024-05-01T10:00:00.000000Z"));
    assert_eq!(files[1].yanked.as_deref(), Some("bad"));
    assert_eq!(files[2].yanked, None);
    let metadata: Vec<bool> = files.iter().map(|f| f.has_metadata).collect();
    assert_eq!(metadata, [true, false, true]);
}

#[test]
fn parsed_pages_answer_warm_lookups() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/simple/demo/" => Reply::json(DEMO_PAGE).header("Cache-Control", "max-age=600"),
        _ => Reply::status(404).header("Cache-Control", "max-age=600"),
    });
    let cache = tempfile::tempdir().unwrap();
    let indexes = [server.url("/empty"), server.url("/simple")];
    let online = HttpIndex::new(config(cache.path(), &indexes)).unwrap();
    let project = online.project(&name("demo")).unwrap();
    check_demo_files(&server, &project.files);
    drop(online);
    // A raw and a parsed entry for the 404 and the 200.
    assert_eq!(entries(cache.path(), "simple").len(), 2);
    let parsed = entries(cache.path(), "simple-parsed");
    assert_eq!(parsed.len(), 2);

    // The raw pages are not needed any more: fresh (online) and offline
    // lookups are answered from the parsed entries alone.
    for raw in entries(cache.path(), "simple") {
        std::fs::write(raw, b"garbage").unwrap();
    }
    let warm = HttpIndex::new(config(cache.path(), &indexes)).unwrap();
    assert_eq!(warm.project(&name("demo")).unwrap(), project);
    assert_eq!(warm.request_count(), 0);
    let mut offline_config = config(cache.path(), &indexes);
    offline_config.offline = true;
    let offline = HttpIndex::new(offline_config.clone()).unwrap();
    assert_eq!(offline.project(&name("demo")).unwrap(), project);
    assert_eq!(offline.request_count(), 0);
}

#[test]
fn corrupt_parsed_entries_fall_back_to_the_raw_page() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/simple/demo/" => Reply::json(DEMO_PAGE).header("Cache-Control", "max-age=600"),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let indexes = [server.url("/simple")];
    let project = HttpIndex::new(config(cache.path(), &indexes)).unwrap().project(&name("demo")).unwrap();
    let [parsed] = entries(cache.path(), "simple-parsed").try_into().unwrap();
    let good = std::fs::read(&parsed).unwrap();
    let mut offline_config = config(cache.path(), &indexes);
    offline_config.offline = true;

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x20;
    let corruptions: [&[u8]; 5] = [b"", b"garbage", &good[..good.len() / 2], &good[..good.len() - 1], &flipped];
    for corrupt in corruptions {
        // Offline: the raw page is parsed again, and the parsed entry rewritten.
        std::fs::write(&parsed, corrupt).unwrap();
        let offline = HttpIndex::new(offline_config.clone()).unwrap();
        assert_eq!(offline.project(&name("demo")).unwrap(), project);
        assert_eq!(std::fs::read(&parsed).unwrap(), good, "the parsed entry is repaired");
        // Online with a fresh raw page: no request either.
        std::fs::write(&parsed, corrupt).unwrap();
        let online = HttpIndex::new(config(cache.path(), &indexes)).unwrap();
        assert_eq!(online.project(&name("demo")).unwrap(), project);
        assert_eq!(online.request_count(), 0);
    }

    // Both entries corrupt: offline it is a miss, online the page is fetched again.
    std::fs::write(&parsed, b"PBSP").unwrap();
    let [raw] = entries(cache.path(), "simple").try_into().unwrap();
    std::fs::write(&raw, b"{}").unwrap();
    let offline = HttpIndex::new(offline_config).unwrap();
    assert_eq!(
        offline.project(&name("demo")).unwrap_err(),
        IndexError::OfflineMiss { url: server.url("/simple/demo/") }
    );
    let online = HttpIndex::new(config(cache.path(), &indexes)).unwrap();
    assert_eq!(online.project(&name("demo")).unwrap(), project);
    assert_eq!(online.request_count(), 1);
    assert_eq!(std::fs::read(&parsed).unwrap().len(), good.len());
}

#[test]
fn not_modified_keeps_serving_the_parsed_entry() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/simple/demo/" if req.header("if-none-match") == Some("\"v1\"") => {
            Reply::new(304, "application/vnd.pypi.simple.v1+json", "")
                .header("ETag", "\"v1\"")
                .header("Cache-Control", "max-age=600")
        }
        "/simple/demo/" => Reply::json(DEMO_PAGE).header("ETag", "\"v1\"").header("Cache-Control", "max-age=0"),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let indexes = [server.url("/simple")];
    let project = HttpIndex::new(config(cache.path(), &indexes)).unwrap().project(&name("demo")).unwrap();
    // Without the raw page, only the parsed entry can answer after the 304.
    for raw in entries(cache.path(), "simple") {
        std::fs::remove_file(raw).unwrap();
    }
    let revalidating = HttpIndex::new(config(cache.path(), &indexes)).unwrap();
    assert_eq!(revalidating.project(&name("demo")).unwrap(), project);
    assert_eq!(revalidating.request_count(), 1);
    let last = server.requests().into_iter().rfind(|r| r.path == "/simple/demo/").unwrap();
    assert_eq!(last.header("if-none-match"), Some("\"v1\""));
    // The 304 refreshed the parsed entry's freshness (max-age=600 now).
    let fresh = HttpIndex::new(config(cache.path(), &indexes)).unwrap();
    assert_eq!(fresh.project(&name("demo")).unwrap(), project);
    assert_eq!(fresh.request_count(), 0);
    assert!(entries(cache.path(), "simple").is_empty(), "a 304 rewrites only the parsed entry");
    assert_eq!(server.hits("/simple/demo/"), 2);
}

#[test]
fn html_pages_resolve_links_through_the_parsed_cache() {
    let server = TestServer::start(|req| match req.path.as_str() {
        "/simple/demo/" => Reply::html(
            r#"<a href="demo-1.0.tar.gz#sha256=AA">demo-1.0.tar.gz</a>
            <a href="https://files.example/x/demo-2.0.tar.gz#sha256=BB">demo-2.0.tar.gz</a>
            <a href="https://files.example/x/demo-3.0%2Blocal.tar.gz">download</a>
            <a href="HTTPS://Files.Example/x/../demo-4.0.tar.gz#md5=00">demo-4.0.tar.gz</a>"#,
        )
        .header("Cache-Control", "max-age=600"),
        _ => Reply::status(404),
    });
    let cache = tempfile::tempdir().unwrap();
    let indexes = [server.url("/simple")];
    let project = HttpIndex::new(config(cache.path(), &indexes)).unwrap().project(&name("demo")).unwrap();
    let found: Vec<(&str, &str, Option<&str>)> =
        project.files.iter().map(|f| (f.filename.as_str(), f.url.as_str(), f.sha256.as_deref())).collect();
    let first = server.url("/simple/demo/demo-1.0.tar.gz");
    assert_eq!(
        found,
        [
            ("demo-1.0.tar.gz", first.as_str(), Some("aa")),
            ("demo-2.0.tar.gz", "https://files.example/x/demo-2.0.tar.gz", Some("bb")),
            ("demo-3.0+local.tar.gz", "https://files.example/x/demo-3.0%2Blocal.tar.gz", None),
            ("demo-4.0.tar.gz", "https://files.example/demo-4.0.tar.gz", None),
        ]
    );
    let mut offline_config = config(cache.path(), &indexes);
    offline_config.offline = true;
    assert_eq!(HttpIndex::new(offline_config).unwrap().project(&name("demo")).unwrap(), project);
}
