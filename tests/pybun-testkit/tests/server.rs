//! The index server speaks the Simple API (HTML and JSON), PEP 658 and ranges.

use std::io::{Read, Write};
use std::net::TcpStream;

use pybun_testkit::{DistSpec, Flavor, IndexServer, PublishedVersion, ServerOptions, Universe};

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A minimal HTTP/1.1 client: one request per connection.
fn request(server: &IndexServer, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect::<Vec<_>>();
    let response = Response { status, headers, body };
    if method != "HEAD"
        && let Some(len) = response.header("Content-Length") {
            assert_eq!(len.parse::<usize>().unwrap(), response.body.len());
        }
    response
}

fn get(server: &IndexServer, path: &str, headers: &[(&str, &str)]) -> Response {
    request(server, "GET", path, headers)
}

const JSON: &str = "application/vnd.pypi.simple.v1+json";

fn universe() -> Universe {
    let mut yanked = PublishedVersion::new(DistSpec::new("Foo_Bar", "2.0.0").requires(&["a>1"]));
    yanked.yanked = Some("broken <build>".to_string());
    let mut new = PublishedVersion::new(DistSpec::new("Foo_Bar", "3.0.0").requires_python(">=3.12"));
    new.upload_time = Some("2024-06-01T12:00:00Z".to_string());
    let mut sdist_only = PublishedVersion::new(DistSpec::new("a", "1.0.0"));
    sdist_only.wheel_tags.clear();
    Universe::default()
        .with(PublishedVersion::new(DistSpec::new("Foo_Bar", "1.0.0").requires_python(">=3.8")))
        .with(yanked)
        .with(new)
        .with(sdist_only)
}

#[test]
fn json_pages() {
    let server = IndexServer::start_with(universe(), ServerOptions { flavor: Flavor::Json, ..ServerOptions::default() });
    assert!(server.url().starts_with("http://127.0.0.1:") && server.url().ends_with("/simple"));
    let page = get(&server, "/simple/foo-bar/", &[]);
    assert_eq!(page.status, 200);
    assert_eq!(page.header("Content-Type"), Some(JSON));
    let json = page.json();
    assert_eq!(json["meta"]["api-version"], "1.1");
    assert_eq!(json["name"], "foo-bar");
    assert_eq!(json["versions"], serde_json::json!(["1.0.0", "2.0.0", "3.0.0"]));
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    let wheel = &files[0];
    assert_eq!(wheel["filename"], "foo_bar-1.0.0-py3-none-any.whl");
    assert_eq!(wheel["url"], format!("{}/files/foo_bar-1.0.0-py3-none-any.whl", server.base_url()));
    assert_eq!(wheel["requires-python"], ">=3.8");
    assert_eq!(wheel["yanked"], false);
    assert_eq!(wheel["upload-time"], "2024-01-01T00:00:00Z");
    let bytes = server.file_bytes("foo_bar-1.0.0-py3-none-any.whl").unwrap();
    assert_eq!(wheel["size"], bytes.len());
    assert_eq!(wheel["hashes"]["sha256"], pybun_testkit::sha256_hex(&bytes));
    let metadata_sha = wheel["core-metadata"]["sha256"].as_str().unwrap().to_string();
    let sdist = &files[1];
    assert_eq!(sdist["filename"], "foo_bar-1.0.0.tar.gz");
    assert_eq!(sdist["core-metadata"], false);
    assert_eq!(files[2]["yanked"], "broken <build>");
    assert_eq!(files[4]["upload-time"], "2024-06-01T12:00:00Z");

    // The archive and its PEP 658 metadata file.
    let archive = get(&server, "/files/foo_bar-1.0.0-py3-none-any.whl", &[]);
    assert_eq!(archive.status, 200);
    assert_eq!(archive.body, bytes);
    let metadata = get(&server, "/files/foo_bar-1.0.0-py3-none-any.whl.metadata", &[]);
    assert_eq!(metadata.status, 200);
    assert_eq!(pybun_testkit::sha256_hex(&metadata.body), metadata_sha);
    let parsed = pybun_pep::CoreMetadata::parse(&metadata.body).unwrap();
    assert_eq!(parsed.version.to_string(), "1.0.0");
    assert_eq!(get(&server, "/files/foo_bar-1.0.0.tar.gz.metadata", &[]).status, 404);

    // An sdist-only project.
    let a = get(&server, "/simple/a/", &[]).json();
    assert_eq!(a["files"].as_array().unwrap().len(), 1);

    // The project list.
    let root = get(&server, "/simple/", &[]).json();
    assert_eq!(root["projects"], serde_json::json!([{"name": "a"}, {"name": "Foo_Bar"}]));
}

#[test]
fn html_pages() {
    let server = IndexServer::start_with(universe(), ServerOptions { flavor: Flavor::Html, ..ServerOptions::default() });
    let page = get(&server, "/simple/foo-bar/", &[("Accept", JSON)]);
    assert_eq!(page.status, 200);
    assert_eq!(page.header("Content-Type"), Some("application/vnd.pypi.simple.v1+html"));
    let html = page.text();
    let sha = server.file_sha256("foo_bar-1.0.0-py3-none-any.whl").unwrap();
    assert!(
        html.contains(&format!(
            "<a href=\"{}/files/foo_bar-1.0.0-py3-none-any.whl#sha256={sha}\" data-requires-python=\"&gt;=3.8\" data-core-metadata=\"sha256=",
            server.base_url()
        )),
        "{html}"
    );
    assert!(html.contains("data-yanked=\"broken &lt;build&gt;\""), "{html}");
    assert!(html.contains(">foo_bar-1.0.0.tar.gz</a>"), "{html}");
    assert!(!html.contains("foo_bar-1.0.0.tar.gz\" data-core-metadata"));
}

#[test]
fn negotiation_and_errors() {
    let server = IndexServer::start(universe());
    let html = get(&server, "/simple/foo-bar/", &[]);
    assert_eq!(html.header("Content-Type"), Some("application/vnd.pypi.simple.v1+html"));
    let json = get(
        &server,
        "/simple/foo-bar/",
        &[("Accept", "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01")],
    );
    assert_eq!(json.header("Content-Type"), Some(JSON));
    assert_eq!(json.json()["name"], "foo-bar");

    assert_eq!(get(&server, "/simple/nope/", &[]).status, 404);
    assert_eq!(get(&server, "/files/nope-1.0.tar.gz", &[]).status, 404);
    let redirect = get(&server, "/simple/Foo_Bar/", &[]);
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("Location"), Some("/simple/foo-bar/"));

    // Conditional requests.
    let etag = json.header("ETag").unwrap().to_string();
    let again = get(&server, "/simple/foo-bar/", &[("Accept", JSON), ("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    // Injected failures: the next matching request only.
    server.fail_next("/simple/foo-bar", 503);
    assert_eq!(get(&server, "/simple/a/", &[]).status, 200);
    assert_eq!(get(&server, "/simple/foo-bar/", &[]).status, 503);
    assert_eq!(get(&server, "/simple/foo-bar/", &[]).status, 200);
    server.fail_times("/files/", 500, 2);
    assert_eq!(get(&server, "/files/a-1.0.0.tar.gz", &[]).status, 500);
    assert_eq!(get(&server, "/files/a-1.0.0.tar.gz", &[]).status, 500);
    assert_eq!(get(&server, "/files/a-1.0.0.tar.gz", &[]).status, 200);

    server.set_garbage("a");
    let garbage = get(&server, "/simple/a/", &[("Accept", JSON)]);
    assert_eq!(garbage.header("Content-Type"), Some(JSON));
    assert!(serde_json::from_slice::<serde_json::Value>(&garbage.body).is_err());
    server.clear_faults();
    server.set_html_as_json("foo-bar");
    let mislabelled = get(&server, "/simple/foo-bar/", &[("Accept", JSON)]);
    assert_eq!(mislabelled.header("Content-Type"), Some(JSON));
    assert!(mislabelled.text().starts_with("<!DOCTYPE html>"));
    server.clear_faults();

    let log = server.request_log();
    assert_eq!(server.request_count(), log.len());
    assert_eq!(server.requests()[0], "/simple/foo-bar/");
    assert_eq!(log[1].accept.as_deref().map(|a| a.starts_with(JSON)), Some(true));
    assert_eq!(log[2].status, 404);
}

#[test]
fn range_requests() {
    let server = IndexServer::start(universe());
    let name = "foo_bar-1.0.0-py3-none-any.whl";
    let path = format!("/files/{name}");
    let bytes = server.file_bytes(name).unwrap();
    let len = bytes.len();

    let head = request(&server, "HEAD", &path, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some(len.to_string().as_str()));
    assert_eq!(head.header("Accept-Ranges"), Some("bytes"));
    assert!(head.body.is_empty());

    let part = get(&server, &path, &[("Range", "bytes=10-19")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &bytes[10..20]);
    assert_eq!(part.header("Content-Range"), Some(format!("bytes 10-19/{len}").as_str()));
    assert_eq!(part.header("Accept-Ranges"), Some("bytes"));

    let tail = get(&server, &path, &[("Range", "bytes=-22")]);
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, &bytes[len - 22..]);
    assert_eq!(tail.header("Content-Range"), Some(format!("bytes {}-{}/{len}", len - 22, len - 1).as_str()));

    let open = get(&server, &path, &[("Range", &format!("bytes={}-", len - 5))]);
    assert_eq!(open.body, &bytes[len - 5..]);

    assert_eq!(get(&server, &path, &[("Range", &format!("bytes={len}-"))]).status, 416);
    assert_eq!(server.request_log()[1].range.as_deref(), Some("bytes=10-19"));
}

#[test]
fn ranges_can_be_disabled() {
    let server =
        IndexServer::start_with(universe(), ServerOptions { range_requests: false, metadata_files: false, ..ServerOptions::default() });
    let name = "foo_bar-1.0.0-py3-none-any.whl";
    let bytes = server.file_bytes(name).unwrap();
    let full = get(&server, &format!("/files/{name}"), &[("Range", "bytes=-22")]);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, bytes);
    assert_eq!(full.header("Content-Range"), None);
    assert_eq!(get(&server, &format!("/files/{name}.metadata"), &[]).status, 404);
    let json = get(&server, "/simple/foo-bar/", &[("Accept", JSON)]).json();
    assert_eq!(json["files"][0]["core-metadata"], false);
}

#[test]
fn local_versions_and_runtime_publishing() {
    let server = IndexServer::start(Universe::default().with(PublishedVersion::new(DistSpec::new("a", "1.2.3+foo"))));
    // Clients may percent-encode the `+`.
    assert_eq!(get(&server, "/files/a-1.2.3%2Bfoo-py3-none-any.whl", &[]).status, 200);
    assert_eq!(get(&server, "/files/a-1.2.3+foo.tar.gz", &[]).status, 200);
    server.publish(&PublishedVersion::new(DistSpec::new("a", "2.0.0")));
    let json = get(&server, "/simple/a/", &[("Accept", JSON)]).json();
    assert_eq!(json["versions"], serde_json::json!(["1.2.3+foo", "2.0.0"]));
    server.set_yanked("a", "2.0.0", Some(""));
    let json = get(&server, "/simple/a/", &[("Accept", JSON)]).json();
    assert_eq!(json["files"][2]["yanked"], true);
}

#[test]
fn relative_urls() {
    let server = IndexServer::start_with(universe(), ServerOptions { relative_urls: true, ..ServerOptions::default() });
    let json = get(&server, "/simple/a/", &[("Accept", JSON)]).json();
    assert_eq!(json["files"][0]["url"], "../../files/a-1.0.0.tar.gz");
}
