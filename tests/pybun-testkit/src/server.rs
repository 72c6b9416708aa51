//! A local Simple-API package index (PEP 503 HTML / PEP 691 JSON) serving
//! in-memory wheels and sdists, with PEP 658 metadata files, HTTP range
//! requests and fault injection.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::dist::{DistSpec, build_sdist, build_wheel, normalize_name, sha256_hex, wheel_metadata};

/// The upload time given to files that do not set one.
pub const DEFAULT_UPLOAD_TIME: &str = "2024-01-01T00:00:00Z";

/// One published version of a project and the files it publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedVersion {
    pub spec: DistSpec,
    /// One wheel per tag triple (`py3-none-any`); empty for no wheel.
    pub wheel_tags: Vec<String>,
    /// Whether an sdist is published.
    pub sdist: bool,
    /// Whether the sdist's `PKG-INFO` declares `Dynamic: Requires-Dist`.
    pub dynamic_requires: bool,
    /// `Some(reason)` when yanked; the reason may be empty.
    pub yanked: Option<String>,
    /// RFC 3339 upload time of every file of this version ([`DEFAULT_UPLOAD_TIME`] when `None`).
    pub upload_time: Option<String>,
}

impl PublishedVersion {
    /// A version publishing a `py3-none-any` wheel and an sdist.
    #[must_use]
    pub fn new(spec: DistSpec) -> Self {
        Self {
            spec,
            wheel_tags: vec!["py3-none-any".to_string()],
            sdist: true,
            dynamic_requires: false,
            yanked: None,
            upload_time: None,
        }
    }
}

/// A set of projects to serve. Keys are project names as published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Universe {
    pub packages: BTreeMap<String, Vec<PublishedVersion>>,
}

impl Universe {
    /// Add a version (builder style).
    #[must_use]
    pub fn with(mut self, version: PublishedVersion) -> Self {
        self.add(version);
        self
    }

    /// Add a version.
    pub fn add(&mut self, version: PublishedVersion) {
        self.packages.entry(version.spec.name.clone()).or_default().push(version);
    }
}

/// Which Simple API representation the server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// PEP 691 JSON (`application/vnd.pypi.simple.v1+json`) always.
    Json,
    /// PEP 503 HTML always.
    Html,
    /// By the request's `Accept` header (HTML when it names neither).
    #[default]
    Negotiate,
}

/// Server options fixed at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    pub flavor: Flavor,
    /// Serve `{file}.metadata` (PEP 658/714) for wheels and advertise it.
    pub metadata_files: bool,
    /// Honour `Range` requests (206). When false, `Range` is ignored (200, full body).
    pub range_requests: bool,
    /// File URLs in project pages are relative (`../../files/x.whl`) instead of absolute.
    pub relative_urls: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self { flavor: Flavor::Negotiate, metadata_files: true, range_requests: true, relative_urls: false }
    }
}

/// One request the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// The (percent-decoded) path, without the query.
    pub path: String,
    pub range: Option<String>,
    pub accept: Option<String>,
    pub status: u16,
}

struct FileEntry {
    filename: String,
    bytes: Arc<Vec<u8>>,
    sha256: String,
    metadata: Option<Arc<Vec<u8>>>,
    metadata_sha256: Option<String>,
    requires_python: Option<String>,
    yanked: Option<String>,
    upload_time: String,
    version: String,
}

struct Project {
    name: String,
    files: Vec<String>,
}

struct Fault {
    prefix: String,
    status: u16,
    remaining: usize,
}

/// A 200 reply whose connection closes after `after_bytes` of the body.
struct Cut {
    prefix: String,
    after_bytes: usize,
}

#[derive(Default)]
struct State {
    projects: BTreeMap<String, Project>,
    files: HashMap<String, FileEntry>,
    faults: Vec<Fault>,
    cuts: Vec<Cut>,
    garbage: BTreeSet<String>,
    html_as_json: BTreeSet<String>,
    log: Vec<RequestRecord>,
}

impl State {
    fn publish(&mut self, version: &PublishedVersion) {
        let normalized = normalize_name(&version.spec.name);
        let project = self
            .projects
            .entry(normalized)
            .or_insert_with(|| Project { name: version.spec.name.clone(), files: Vec::new() });
        let upload_time = version.upload_time.clone().unwrap_or_else(|| DEFAULT_UPLOAD_TIME.to_string());
        let mut built = Vec::new();
        for tags in &version.wheel_tags {
            let (filename, bytes) = build_wheel(&version.spec, tags);
            let metadata = wheel_metadata(&version.spec).into_bytes();
            built.push((filename, bytes, Some(metadata)));
        }
        if version.sdist {
            let (filename, bytes) = build_sdist(&version.spec, version.dynamic_requires);
            built.push((filename, bytes, None));
        }
        for (filename, bytes, metadata) in built {
            let entry = FileEntry {
                filename: filename.clone(),
                sha256: sha256_hex(&bytes),
                bytes: Arc::new(bytes),
                metadata_sha256: metadata.as_deref().map(sha256_hex),
                metadata: metadata.map(Arc::new),
                requires_python: version.spec.requires_python.clone(),
                yanked: version.yanked.clone(),
                upload_time: upload_time.clone(),
                version: version.spec.version.clone(),
            };
            if !project.files.contains(&filename) {
                project.files.push(filename.clone());
            }
            self.files.insert(filename, entry);
        }
    }
}

/// A running local index. Stops when dropped.
pub struct IndexServer {
    base: String,
    port: u16,
    options: ServerOptions,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for IndexServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexServer").field("base", &self.base).field("options", &self.options).finish()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl IndexServer {
    /// Start serving `universe` with the default options (content negotiation,
    /// metadata files, range requests) on `127.0.0.1` with a free port.
    #[must_use]
    pub fn start(universe: Universe) -> Self {
        Self::start_with(universe, ServerOptions::default())
    }

    /// Start serving `universe` with `options`.
    ///
    /// # Panics
    /// When no local port can be bound.
    #[must_use]
    pub fn start_with(universe: Universe, options: ServerOptions) -> Self {
        let mut state = State::default();
        for versions in universe.packages.values() {
            for version in versions {
                state.publish(version);
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let port = listener.local_addr().expect("a bound address").port();
        let base = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(state));
        let stop = Arc::new(AtomicBool::new(false));
        let accept_thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            let base = base.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&state);
                    let stop = Arc::clone(&stop);
                    let base = base.clone();
                    std::thread::spawn(move || serve_connection(stream, &state, &options, &base, &stop));
                }
            })
        };
        let threads = vec![accept_thread];
        Self { base, port, options, state, stop, threads }
    }

    /// The index URL: `http://127.0.0.1:PORT/simple`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("{}/simple", self.base)
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The URL of a distribution file.
    #[must_use]
    pub fn file_url(&self, filename: &str) -> String {
        format!("{}/files/{filename}", self.base)
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    #[must_use]
    pub fn options(&self) -> ServerOptions {
        self.options
    }

    /// How many requests were answered so far.
    #[must_use]
    pub fn request_count(&self) -> usize {
        lock(&self.state).log.len()
    }

    /// The paths of the requests answered so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).log.iter().map(|r| r.path.clone()).collect()
    }

    /// Every request answered so far, with method, range, accept and status.
    #[must_use]
    pub fn request_log(&self) -> Vec<RequestRecord> {
        lock(&self.state).log.clone()
    }

    /// Forget the request log.
    pub fn clear_requests(&self) {
        lock(&self.state).log.clear();
    }

    /// The names (as published) of every file the server has.
    #[must_use]
    pub fn filenames(&self) -> Vec<String> {
        let state = lock(&self.state);
        state.projects.values().flat_map(|p| p.files.iter().cloned()).collect()
    }

    /// The bytes of a served file.
    #[must_use]
    pub fn file_bytes(&self, filename: &str) -> Option<Vec<u8>> {
        lock(&self.state).files.get(filename).map(|f| f.bytes.as_ref().clone())
    }

    /// The hex SHA-256 of a served file.
    #[must_use]
    pub fn file_sha256(&self, filename: &str) -> Option<String> {
        lock(&self.state).files.get(filename).map(|f| f.sha256.clone())
    }

    /// Publish another version while running (builds its files now).
    pub fn publish(&self, version: &PublishedVersion) {
        lock(&self.state).publish(version);
    }

    /// Yank (`Some(reason)`) or un-yank (`None`) every file of a version.
    pub fn set_yanked(&self, name: &str, version: &str, yanked: Option<&str>) {
        let mut state = lock(&self.state);
        let files = state.projects.get(&normalize_name(name)).map(|p| p.files.clone()).unwrap_or_default();
        for filename in files {
            if let Some(file) = state.files.get_mut(&filename)
                && file.version == version {
                    file.yanked = yanked.map(str::to_string);
                }
        }
    }

    /// The next request whose path starts with `path_prefix` is answered with `status`.
    pub fn fail_next(&self, path_prefix: &str, status: u16) {
        self.fail_times(path_prefix, status, 1);
    }

    /// The next `times` requests whose path starts with `path_prefix` are answered with `status`.
    pub fn fail_times(&self, path_prefix: &str, status: u16, times: usize) {
        lock(&self.state).faults.push(Fault { prefix: path_prefix.to_string(), status, remaining: times });
    }

    /// The next request whose path starts with `path_prefix` and is answered
    /// 200 gets its headers (with the full `Content-Length`) and only the first
    /// `after_bytes` of its body, then the connection is closed: the client
    /// sees a transport error in the middle of the body.
    pub fn cut_next(&self, path_prefix: &str, after_bytes: usize) {
        lock(&self.state).cuts.push(Cut { prefix: path_prefix.to_string(), after_bytes });
    }

    /// Serve `bytes` at `/files/{filename}` (replacing what was there), with
    /// range requests and ETag like any file; no project page lists it.
    pub fn put_file(&self, filename: &str, bytes: Vec<u8>) {
        let entry = FileEntry {
            filename: filename.to_string(),
            sha256: sha256_hex(&bytes),
            bytes: Arc::new(bytes),
            metadata: None,
            metadata_sha256: None,
            requires_python: None,
            yanked: None,
            upload_time: DEFAULT_UPLOAD_TIME.to_string(),
            version: String::new(),
        };
        lock(&self.state).files.insert(filename.to_string(), entry);
    }

    /// Serve invalid bytes (labelled JSON) for this project's page, until cleared.
    pub fn set_garbage(&self, project: &str) {
        lock(&self.state).garbage.insert(normalize_name(project));
    }

    /// Serve this project's HTML page with the JSON content type, until cleared.
    pub fn set_html_as_json(&self, project: &str) {
        lock(&self.state).html_as_json.insert(normalize_name(project));
    }

    /// Remove every injected fault.
    pub fn clear_faults(&self) {
        let mut state = lock(&self.state);
        state.faults.clear();
        state.cuts.clear();
        state.garbage.clear();
        state.html_as_json.clear();
    }
}

impl Drop for IndexServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------
// Request handling

const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";
const HTML_TYPE: &str = "application/vnd.pypi.simple.v1+html";

struct Reply {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self { status, body, headers: vec![("Content-Type".to_string(), content_type.to_string())] }
    }

    fn text(status: u16, text: &str) -> Self {
        Self::new(status, "text/plain; charset=utf-8", text.as_bytes().to_vec())
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
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

/// One parsed HTTP request (the body, if any, is read and dropped).
struct HttpRequest {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    /// Whether the connection stays open after the response.
    fn keep_alive(&self) -> bool {
        let connection = self.header("Connection").unwrap_or_default().to_ascii_lowercase();
        if self.version == "HTTP/1.0" {
            connection.contains("keep-alive")
        } else {
            !connection.contains("close")
        }
    }
}

/// Read one request; `Ok(None)` at a clean end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> std::io::Result<Option<HttpRequest>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                // Idle keep-alive connection: keep waiting unless the server stopped.
                if stop.load(Ordering::SeqCst) {
                    return Ok(None);
                }
                head.extend_from_slice(&line);
                continue;
            }
            Err(e) => return Err(e),
        }
        if (line == b"\r\n" || line == b"\n") && head.is_empty() {
            continue; // Stray blank lines between requests.
        }
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        head.extend_from_slice(&line);
        if head.len() > 64 * 1024 {
            return Err(std::io::Error::other("request head too large"));
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(std::io::Error::other("bad request line"));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let request = HttpRequest {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
    };
    if let Some(len) = request.header("Content-Length").and_then(|l| l.parse::<u64>().ok()) {
        std::io::copy(&mut reader.by_ref().take(len), &mut std::io::sink())?;
    }
    Ok(Some(request))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn serve_connection(stream: TcpStream, state: &Mutex<State>, options: &ServerOptions, base: &str, stop: &AtomicBool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let Ok(write_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut writer = BufWriter::new(write_half);
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let request = match read_request(&mut reader, stop) {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        let keep_alive = request.keep_alive();
        let head_only = request.method == "HEAD";
        let (reply, cut) = handle(&request, state, options, base);
        let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
        for (name, value) in &reply.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if reply.status != 304 {
            let _ = write!(head, "Content-Length: {}\r\n", reply.body.len());
        }
        head.push_str(if keep_alive { "Connection: keep-alive\r\n\r\n" } else { "Connection: close\r\n\r\n" });
        let mut result = writer.write_all(head.as_bytes());
        if let Some(after_bytes) = cut.filter(|_| !head_only) {
            let body = &reply.body[..after_bytes.min(reply.body.len())];
            let _ = writer.write_all(body).and_then(|()| writer.flush());
            let _ = writer.get_ref().shutdown(std::net::Shutdown::Both);
            return;
        }
        if !head_only && reply.status != 304 {
            result = result.and_then(|()| writer.write_all(&reply.body));
        }
        if result.and_then(|()| writer.flush()).is_err() || !keep_alive {
            return;
        }
    }
}

/// The reply, and where to cut its body (see [`IndexServer::cut_next`]).
fn handle(request: &HttpRequest, state: &Mutex<State>, options: &ServerOptions, base: &str) -> (Reply, Option<usize>) {
    let method = request.method.clone();
    // Absolute-form targets (`http://host/path`) are accepted too.
    let target = match request.target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => request.target.as_str(),
    };
    let raw_path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    let path = percent_decode(&raw_path);
    let range = request.header("Range");
    let accept = request.header("Accept");
    let if_none_match = request.header("If-None-Match");

    let (reply, cut) = {
        let mut guard = lock(state);
        let fault = guard.faults.iter_mut().find(|f| f.remaining > 0 && path.starts_with(&f.prefix)).map(|f| {
            f.remaining -= 1;
            f.status
        });
        guard.faults.retain(|f| f.remaining > 0);
        let reply = match fault {
            Some(status) => Reply::text(status, "injected failure\n"),
            None if method != "GET" && method != "HEAD" => Reply::text(405, "method not allowed\n"),
            None => route(&guard, options, base, &path, range.as_deref(), accept.as_deref()),
        };
        let cut = if reply.status == 200 {
            guard.cuts.iter().position(|c| path.starts_with(&c.prefix)).map(|i| guard.cuts.remove(i).after_bytes)
        } else {
            None
        };
        guard.log.push(RequestRecord {
            method,
            path,
            range,
            accept,
            status: reply.status,
        });
        (reply, cut)
    };

    // Conditional requests: a matching ETag gives 304.
    let etag = reply.headers.iter().find(|(k, _)| k == "ETag").map(|(_, v)| v.clone());
    match (etag, if_none_match) {
        (Some(etag), Some(tags)) if reply.status == 200 && tags.split(',').any(|t| t.trim() == etag) => (
            Reply {
                status: 304,
                body: Vec::new(),
                headers: reply.headers.into_iter().filter(|(k, _)| k != "Content-Type").collect(),
            },
            None,
        ),
        _ => (reply, cut),
    }
}

fn route(
    state: &State,
    options: &ServerOptions,
    base: &str,
    path: &str,
    range: Option<&str>,
    accept: Option<&str>,
) -> Reply {
    let trimmed = path.trim_end_matches('/');
    if trimmed == "/simple" {
        return root_page(state, options, accept);
    }
    if let Some(name) = trimmed.strip_prefix("/simple/") {
        if name.contains('/') {
            return Reply::text(404, "not found\n");
        }
        let normalized = normalize_name(name);
        if normalized != name {
            if state.projects.contains_key(&normalized) {
                return Reply::text(301, "moved\n").header("Location", &format!("/simple/{normalized}/"));
            }
            return Reply::text(404, "not found\n");
        }
        return match state.projects.get(&normalized) {
            Some(project) => project_page(state, options, base, project, accept),
            None => Reply::text(404, "not found\n"),
        };
    }
    if let Some(filename) = path.strip_prefix("/files/") {
        if let Some(archive) = filename.strip_suffix(".metadata") {
            if options.metadata_files
                && let Some(metadata) = state.files.get(archive).and_then(|f| f.metadata.clone()) {
                    return Reply::new(200, "application/octet-stream", metadata.as_ref().clone());
                }
            return Reply::text(404, "not found\n");
        }
        if let Some(file) = state.files.get(filename) {
            return serve_file(file, options, range);
        }
    }
    Reply::text(404, "not found\n")
}

fn serve_file(file: &FileEntry, options: &ServerOptions, range: Option<&str>) -> Reply {
    let content_type =
        if file.filename.ends_with(".whl") { "application/zip" } else { "application/gzip" };
    let etag = format!("\"{}\"", file.sha256);
    let len = file.bytes.len();
    if options.range_requests
        && let Some(range) = range {
            return match parse_range(range, len) {
                Some((start, end)) => Reply::new(206, content_type, file.bytes[start..=end].to_vec())
                    .header("Content-Range", &format!("bytes {start}-{end}/{len}"))
                    .header("Accept-Ranges", "bytes")
                    .header("ETag", &etag),
                None => Reply::text(416, "range not satisfiable\n")
                    .header("Content-Range", &format!("bytes */{len}"))
                    .header("Accept-Ranges", "bytes"),
            };
        }
    let reply = Reply::new(200, content_type, file.bytes.as_ref().clone()).header("ETag", &etag);
    if options.range_requests { reply.header("Accept-Ranges", "bytes") } else { reply.header("Accept-Ranges", "none") }
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` → inclusive `(start, end)` within `len`.
fn parse_range(header: &str, len: usize) -> Option<(usize, usize)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        let n: usize = end.parse().ok()?;
        if n == 0 {
            return None;
        }
        return Some((len.saturating_sub(n), len - 1));
    }
    let start: usize = start.parse().ok()?;
    if start >= len {
        return None;
    }
    let end = if end.is_empty() { len - 1 } else { end.parse::<usize>().ok()?.min(len - 1) };
    (start <= end).then_some((start, end))
}

/// Whether to answer JSON: by flavor, or by the `Accept` header's q-values.
fn wants_json(options: &ServerOptions, accept: Option<&str>) -> bool {
    match options.flavor {
        Flavor::Json => true,
        Flavor::Html => false,
        Flavor::Negotiate => {
            let Some(accept) = accept else { return false };
            let mut best_json = -1.0_f32;
            let mut best_html = -1.0_f32;
            for part in accept.split(',') {
                let mut pieces = part.split(';');
                let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
                let q = pieces
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| f32::from_str(q.trim()).ok())
                    .unwrap_or(1.0);
                match media.as_str() {
                    JSON_TYPE | "application/vnd.pypi.simple.latest+json" => best_json = best_json.max(q),
                    HTML_TYPE | "application/vnd.pypi.simple.latest+html" | "text/html" | "*/*" => {
                        best_html = best_html.max(q);
                    }
                    _ => {}
                }
            }
            best_json > 0.0 && best_json >= best_html
        }
    }
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

fn root_page(state: &State, options: &ServerOptions, accept: Option<&str>) -> Reply {
    if wants_json(options, accept) {
        let projects: Vec<_> =
            state.projects.values().map(|p| serde_json::json!({ "name": p.name })).collect();
        let body = serde_json::json!({ "meta": { "api-version": "1.1" }, "projects": projects });
        return Reply::new(200, JSON_TYPE, body.to_string().into_bytes());
    }
    let mut html = String::from(
        "<!DOCTYPE html>\n<html>\n<head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Simple index</title></head>\n<body>\n",
    );
    for (normalized, project) in &state.projects {
        let _ = writeln!(html, "<a href=\"/simple/{normalized}/\">{}</a><br/>", html_escape(&project.name));
    }
    html.push_str("</body>\n</html>\n");
    Reply::new(200, HTML_TYPE, html.into_bytes())
}

fn file_url(options: &ServerOptions, base: &str, filename: &str) -> String {
    if options.relative_urls {
        format!("../../files/{filename}")
    } else {
        format!("{base}/files/{filename}")
    }
}

fn project_page(
    state: &State,
    options: &ServerOptions,
    base: &str,
    project: &Project,
    accept: Option<&str>,
) -> Reply {
    let normalized = normalize_name(&project.name);
    if state.garbage.contains(&normalized) {
        return Reply::new(200, JSON_TYPE, b"\xff\xfe{\"not\": json at all \x00".to_vec());
    }
    let files: Vec<&FileEntry> = project.files.iter().filter_map(|f| state.files.get(f)).collect();
    let html_as_json = state.html_as_json.contains(&normalized);
    let reply = if wants_json(options, accept) && !html_as_json {
        let mut versions: Vec<pybun_pep::Version> =
            files.iter().filter_map(|f| pybun_pep::Version::from_str(&f.version).ok()).collect();
        versions.sort();
        versions.dedup();
        let json_files: Vec<serde_json::Value> = files
            .iter()
            .map(|f| {
                let metadata = match (&f.metadata_sha256, options.metadata_files) {
                    (Some(sha), true) => serde_json::json!({ "sha256": sha }),
                    _ => serde_json::Value::Bool(false),
                };
                let yanked = match &f.yanked {
                    None => serde_json::Value::Bool(false),
                    Some(reason) if reason.is_empty() => serde_json::Value::Bool(true),
                    Some(reason) => serde_json::Value::String(reason.clone()),
                };
                serde_json::json!({
                    "filename": f.filename,
                    "url": file_url(options, base, &f.filename),
                    "hashes": { "sha256": f.sha256 },
                    "requires-python": f.requires_python,
                    "yanked": yanked,
                    "core-metadata": metadata,
                    "data-dist-info-metadata": metadata,
                    "size": f.bytes.len(),
                    "upload-time": f.upload_time,
                })
            })
            .collect();
        let body = serde_json::json!({
            "meta": { "api-version": "1.1" },
            "name": normalized,
            "versions": versions.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "files": json_files,
        });
        Reply::new(200, JSON_TYPE, body.to_string().into_bytes())
    } else {
        let mut html = format!(
            "<!DOCTYPE html>\n<html>\n<head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for {0}</title></head>\n<body>\n<h1>Links for {0}</h1>\n",
            html_escape(&project.name)
        );
        for f in &files {
            let _ = write!(html, "<a href=\"{}#sha256={}\"", html_escape(&file_url(options, base, &f.filename)), f.sha256);
            if let Some(requires_python) = &f.requires_python {
                let _ = write!(html, " data-requires-python=\"{}\"", html_escape(requires_python));
            }
            if let Some(reason) = &f.yanked {
                let _ = write!(html, " data-yanked=\"{}\"", html_escape(reason));
            }
            if let (Some(sha), true) = (&f.metadata_sha256, options.metadata_files) {
                let _ = write!(html, " data-core-metadata=\"sha256={sha}\" data-dist-info-metadata=\"sha256={sha}\"");
            }
            let _ = writeln!(html, ">{}</a><br/>", html_escape(&f.filename));
        }
        html.push_str("</body>\n</html>\n");
        let content_type = if html_as_json { JSON_TYPE } else { HTML_TYPE };
        Reply::new(200, content_type, html.into_bytes())
    };
    let etag = format!("\"{}\"", &sha256_hex(&reply.body)[..16]);
    reply.header("ETag", &etag).header("Vary", "Accept")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-200", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-1000", 100), Some((0, 99)));
        assert_eq!(parse_range("bytes=50-", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-3", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn negotiation() {
        let o = ServerOptions::default();
        assert!(!wants_json(&o, None));
        assert!(wants_json(&o, Some("application/vnd.pypi.simple.v1+json")));
        assert!(wants_json(
            &o,
            Some("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01")
        ));
        assert!(!wants_json(&o, Some("application/vnd.pypi.simple.v1+json;q=0.1, text/html")));
        assert!(!wants_json(&o, Some("text/html")));
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("/files/a-1.0%2Bfoo.tar.gz"), "/files/a-1.0+foo.tar.gz");
        assert_eq!(percent_decode("/x%"), "/x%");
        assert_eq!(percent_decode("/x%4"), "/x%4");
    }
}
