//! Sending requests: retries with back-off, the HTTP cache, offline mode.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pybun_ports::{DistFile, IndexError};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tracing::debug;

use crate::cache::{self, Bucket, CacheControl, Entry, EntryHeader, HttpCache};
use crate::parsed::ParsedEntry;
use crate::simple::SIMPLE_ACCEPT;

/// A response read to the end.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    /// The URL after redirects.
    pub(crate) final_url: String,
}

/// A page, from the network or the cache.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    /// The body is `data[body_start..]` (a cache entry is not copied out of its read buffer).
    data: Vec<u8>,
    body_start: usize,
    pub(crate) final_url: String,
}

impl Page {
    pub(crate) fn new(status: u16, content_type: Option<String>, body: Vec<u8>, final_url: String) -> Self {
        Self { status, content_type, data: body, body_start: 0, final_url }
    }

    fn from_entry(entry: Entry) -> Self {
        let (header, data, body_start) = entry.into_parts();
        Self { status: header.status, content_type: header.content_type, data, body_start, final_url: header.final_url }
    }

    fn from_response(response: Response) -> Self {
        let content_type = cache::header_str(&response.headers, "content-type");
        Self::new(response.status, content_type, response.body, response.final_url)
    }

    pub(crate) fn body(&self) -> &[u8] {
        &self.data[self.body_start..]
    }
}

/// A project page's files, from the parsed cache or parsed from the page
/// (`files` is empty unless `status` is 200).
#[derive(Debug, Clone)]
pub(crate) struct ProjectPage {
    pub(crate) status: u16,
    pub(crate) files: Vec<DistFile>,
}

/// What the files of a parsed page depend on besides its URL (stored with
/// them and checked when read).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageOwner<'a> {
    /// The normalized project name the files were filtered for.
    pub(crate) name: &'a str,
    /// The index recorded in every file.
    pub(crate) index: &'a str,
}

/// HTTP/2 flow-control window of each stream (response) and of the whole connection.
const HTTP2_STREAM_WINDOW: u32 = 4 << 20;
const HTTP2_CONNECTION_WINDOW: u32 = 16 << 20;

/// How to build the reqwest client (on first use).
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    pub(crate) user_agent: String,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
}

/// The HTTP client with its policies.
#[derive(Debug)]
pub(crate) struct Fetcher {
    /// Built on the first request: runs answered from the cache (and offline
    /// runs) never load TLS roots or set up a connection pool.
    client: OnceLock<Result<reqwest::Client, String>>,
    /// The client's resolver (memoizing), also used to resolve ahead ([`Fetcher::warm_up`]).
    resolver: std::sync::Arc<crate::dns::HedgedResolver>,
    settings: ClientSettings,
    retries: u32,
    backoff: Duration,
    offline: bool,
    requests: AtomicUsize,
    pub(crate) cache: HttpCache,
}

impl Fetcher {
    pub(crate) fn new(
        settings: ClientSettings,
        retries: u32,
        backoff: Duration,
        offline: bool,
        cache: HttpCache,
    ) -> Self {
        Self {
            client: OnceLock::new(),
            resolver: std::sync::Arc::default(),
            settings,
            retries,
            backoff,
            offline,
            requests: AtomicUsize::new(0),
            cache,
        }
    }

    pub(crate) fn offline(&self) -> bool {
        self.offline
    }

    /// Requests actually sent over the network (retries included).
    pub(crate) fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Whether the reqwest client has been built.
    pub(crate) fn client_started(&self) -> bool {
        self.client.get().is_some()
    }

    fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                debug!("starting the HTTP client");
                reqwest::Client::builder()
                    .user_agent(self.settings.user_agent.clone())
                    // Per wait, not per request: a large download on a slow line may take
                    // minutes; a stalled one fails after `timeout` without progress.
                    .read_timeout(self.settings.timeout)
                    .connect_timeout(self.settings.connect_timeout)
                    // HTTP/2's default 64 KiB flow-control windows cap one stream at
                    // 64 KiB per round trip: a 7 MB project page took 150 ms instead
                    // of 20. The body is read as it arrives, so a large window costs
                    // no memory beyond what was asked for.
                    .http2_initial_stream_window_size(HTTP2_STREAM_WINDOW)
                    .http2_initial_connection_window_size(HTTP2_CONNECTION_WINDOW)
                    .dns_resolver(std::sync::Arc::clone(&self.resolver))
                    .build()
                    .map_err(|e| format!("could not create the HTTP client: {}", error_chain(&e)))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Build the client and resolve `host` (memoized) before the first
    /// request needs them. Failures are left for that request to report.
    pub(crate) async fn warm_up(&self, host: String) {
        if self.offline || self.client().is_err() {
            return;
        }
        if let Ok(name) = host.parse::<reqwest::dns::Name>() {
            let _ = reqwest::dns::Resolve::resolve(&*self.resolver, name).await;
        }
    }

    /// GET `url`, retrying connection errors, timeouts, 429 and 5xx with
    /// exponential back-off. Statuses are returned as they are (a 5xx only once
    /// retries are exhausted); transport failures become `Unreachable`.
    pub(crate) async fn get(&self, url: &str, headers: &[(HeaderName, String)]) -> Result<Response, IndexError> {
        if self.offline {
            return Err(IndexError::OfflineMiss { url: url.to_string() });
        }
        let mut header_map = HeaderMap::new();
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).map_err(|e| IndexError::InvalidResponse {
                url: url.to_string(),
                reason: format!("invalid `{name}` request header: {e}"),
            })?;
            header_map.insert(name.clone(), value);
        }
        let client = self.client().map_err(|reason| IndexError::Unreachable { url: url.to_string(), reason })?;
        let mut delay = self.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt > self.retries;
            match self.send_once(client, url, &header_map).await {
                Ok(response) if is_retryable_status(response.status) && !last => {
                    debug!(url, status = response.status, attempt, "retrying after a server error");
                }
                Ok(response) => return Ok(response),
                Err(e) if !last && is_retryable_error(&e) => {
                    debug!(url, error = %error_chain(&e), attempt, "retrying after a transport error");
                }
                Err(e) => {
                    return Err(IndexError::Unreachable { url: url.to_string(), reason: error_chain(&e) });
                }
            }
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }

    /// GET `url` and hand the body to `sink` as it arrives (no whole-body
    /// buffer), with the same retries as [`Fetcher::get`]: a transport error
    /// mid-body restarts the download (`sink.restart()` first). Returns the
    /// status and the bytes written; a status other than 200 writes nothing.
    pub(crate) async fn get_streamed(
        &self,
        url: &str,
        sink: &mut dyn crate::download::DownloadSink,
    ) -> Result<(u16, u64), crate::download::DownloadError> {
        use crate::download::DownloadError;
        if self.offline {
            return Err(DownloadError::Index(IndexError::OfflineMiss { url: url.to_string() }));
        }
        let client = self
            .client()
            .map_err(|reason| DownloadError::Index(IndexError::Unreachable { url: url.to_string(), reason }))?;
        let sink_error = |source| DownloadError::Sink { url: url.to_string(), source };
        let mut delay = self.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt > self.retries;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let error = match client.get(url).send().await {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    if is_retryable_status(status) && !last {
                        debug!(url, status, attempt, "retrying a download after a server error");
                        None
                    } else if status != 200 {
                        return Ok((status, 0));
                    } else {
                        sink.restart().map_err(sink_error)?;
                        let mut written = 0_u64;
                        let mut failed = None;
                        loop {
                            match response.chunk().await {
                                Ok(Some(chunk)) => {
                                    sink.write(&chunk).map_err(sink_error)?;
                                    written += chunk.len() as u64;
                                    while let Some(room) = sink.full() {
                                        let notified = room.notified();
                                        if sink.full().is_none() {
                                            break;
                                        }
                                        notified.await;
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => {
                                    failed = Some(e);
                                    break;
                                }
                            }
                        }
                        match failed {
                            None => {
                                debug!(method = "GET", url, status, bytes = written, "download");
                                return Ok((status, written));
                            }
                            Some(e) => Some(e),
                        }
                    }
                }
                Err(e) => Some(e),
            };
            if let Some(e) = error {
                if last || !is_retryable_error(&e) {
                    return Err(DownloadError::Index(IndexError::Unreachable { url: url.to_string(), reason: error_chain(&e) }));
                }
                debug!(url, error = %error_chain(&e), attempt, "retrying a download after a transport error");
            }
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }

    async fn send_once(
        &self,
        client: &reqwest::Client,
        url: &str,
        headers: &HeaderMap,
    ) -> Result<Response, reqwest::Error> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = client.get(url).headers(headers.clone()).send().await?;
        let status = response.status().as_u16();
        let final_url = response.url().to_string();
        let headers = response.headers().clone();
        let body = read_body(response).await?;
        let range = headers.get("content-range").and_then(|v| v.to_str().ok()).unwrap_or("");
        debug!(method = "GET", url, status, bytes = body.len(), range, "http request");
        Ok(Response { status, headers, body, final_url })
    }

    /// GET through the HTTP cache. A fresh entry is served without a request;
    /// a stale one with a validator is revalidated (304 reuses the body);
    /// offline, any entry is served and a miss is `OfflineMiss`.
    /// 200 and 404 responses are stored unless `no-store`.
    pub(crate) async fn get_cached(&self, bucket: Bucket, url: &str, accept: &str) -> Result<Page, IndexError> {
        let key = format!("{accept}\n{url}");
        let mut cached = self.cache.read(bucket, &key);
        if let Some(entry) = cached.take_if(|e| self.offline || e.header.is_fresh(cache::now())) {
            debug!(method = "GET", url, status = entry.header.status, cache = "hit", "http request");
            return Ok(Page::from_entry(entry));
        }
        if self.offline {
            debug!(method = "GET", url, cache = "miss", "offline");
            return Err(IndexError::OfflineMiss { url: url.to_string() });
        }
        let response = self.get(url, &conditional_headers(accept, cached.as_ref().map(|e| &e.header))).await?;
        if response.status == StatusCode::NOT_MODIFIED.as_u16()
            && let Some(mut entry) = cached
        {
            debug!(url, cache = "revalidated", "http cache");
            entry.header.update_from(&response.headers, cache::now());
            self.cache.store(bucket, &key, &entry.header, entry.body());
            return Ok(Page::from_entry(entry));
        }
        debug!(url, status = response.status, cache = "miss", "http cache");
        if let Some(header) = storable_header(url, &response) {
            self.cache.store(bucket, &key, &header, &response.body);
        }
        Ok(Page::from_response(response))
    }

    /// A Simple API project page, through the parsed cache (see
    /// [`crate::parsed`]): a usable parsed entry answers without reading or
    /// parsing the raw page, and is what a stale page is revalidated with (a
    /// 304 only refreshes its header). Without one, the raw entry (or the
    /// response) is parsed with `parse` — only for status 200 — and the
    /// parsed entry written for next time (offline too).
    pub(crate) async fn get_project_page(
        &self,
        url: &str,
        owner: PageOwner<'_>,
        parse: impl FnOnce(&Page) -> Result<Vec<DistFile>, IndexError>,
    ) -> Result<ProjectPage, IndexError> {
        let key = format!("{SIMPLE_ACCEPT}\n{url}");
        let usable = |header: &EntryHeader| self.offline || header.is_fresh(cache::now());
        let mut parsed = self.cache.read_parsed(&key, owner.name, owner.index);
        if let Some(ParsedEntry { header, files }) = parsed.take_if(|e| usable(&e.header)) {
            debug!(method = "GET", url, status = header.status, cache = "hit", "http request");
            return Ok(ProjectPage { status: header.status, files });
        }
        // Without a parsed entry, fall back to the raw one.
        let mut raw = if parsed.is_none() { self.cache.read(Bucket::Simple, &key) } else { None };
        if let Some(entry) = raw.take_if(|e| usable(&e.header)) {
            debug!(method = "GET", url, status = entry.header.status, cache = "hit", parsed = false, "http request");
            let header = entry.header.clone();
            return self.parse_and_store(&key, &header, &Page::from_entry(entry), owner, parse);
        }
        if self.offline {
            debug!(method = "GET", url, cache = "miss", "offline");
            return Err(IndexError::OfflineMiss { url: url.to_string() });
        }
        let validators = parsed.as_ref().map(|e| &e.header).or(raw.as_ref().map(|e| &e.header));
        let response = self.get(url, &conditional_headers(SIMPLE_ACCEPT, validators)).await?;
        if response.status == StatusCode::NOT_MODIFIED.as_u16() {
            if let Some(ParsedEntry { mut header, files }) = parsed {
                debug!(url, cache = "revalidated", "http cache");
                header.update_from(&response.headers, cache::now());
                self.cache.store_parsed(&key, &header, owner.name, owner.index, &files);
                return Ok(ProjectPage { status: header.status, files });
            }
            if let Some(mut entry) = raw {
                debug!(url, cache = "revalidated", parsed = false, "http cache");
                entry.header.update_from(&response.headers, cache::now());
                self.cache.store(Bucket::Simple, &key, &entry.header, entry.body());
                let header = entry.header.clone();
                return self.parse_and_store(&key, &header, &Page::from_entry(entry), owner, parse);
            }
        }
        debug!(url, status = response.status, cache = "miss", "http cache");
        let header = storable_header(url, &response);
        if let Some(header) = &header {
            self.cache.store(Bucket::Simple, &key, header, &response.body);
        }
        let page = Page::from_response(response);
        match header {
            Some(header) => self.parse_and_store(&key, &header, &page, owner, parse),
            None if page.status == 200 => Ok(ProjectPage { status: 200, files: parse(&page)? }),
            None => Ok(ProjectPage { status: page.status, files: Vec::new() }),
        }
    }

    /// Parse a 200 page (other statuses have no files) and store the parsed entry.
    fn parse_and_store(
        &self,
        key: &str,
        header: &EntryHeader,
        page: &Page,
        owner: PageOwner<'_>,
        parse: impl FnOnce(&Page) -> Result<Vec<DistFile>, IndexError>,
    ) -> Result<ProjectPage, IndexError> {
        let files = if page.status == 200 { parse(page)? } else { Vec::new() };
        self.cache.store_parsed(key, header, owner.name, owner.index, &files);
        Ok(ProjectPage { status: page.status, files })
    }
}

/// A response's whole body, in one buffer sized from `Content-Length` when
/// given (no growing and copying of a multi-megabyte page).
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    const MAX_PREALLOCATION: u64 = 64 << 20;
    let capacity = response.content_length().unwrap_or(0).min(MAX_PREALLOCATION);
    let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `Accept`, plus `If-None-Match` / `If-Modified-Since` from a cached header.
fn conditional_headers(accept: &str, cached: Option<&EntryHeader>) -> Vec<(HeaderName, String)> {
    let mut headers = vec![(reqwest::header::ACCEPT, accept.to_string())];
    if let Some(header) = cached {
        if let Some(etag) = &header.etag {
            headers.push((reqwest::header::IF_NONE_MATCH, etag.clone()));
        }
        if let Some(modified) = &header.last_modified {
            headers.push((reqwest::header::IF_MODIFIED_SINCE, modified.clone()));
        }
    }
    headers
}

/// The cache header of a response worth storing (200, 404, 410 without `no-store`).
fn storable_header(url: &str, response: &Response) -> Option<EntryHeader> {
    let control = CacheControl::parse(&response.headers);
    if !matches!(response.status, 200 | 404 | 410) || control.no_store {
        return None;
    }
    let mut header = EntryHeader {
        url: url.to_string(),
        final_url: response.final_url.clone(),
        status: response.status,
        content_type: cache::header_str(&response.headers, "content-type"),
        etag: None,
        last_modified: None,
        max_age: None,
        stored_at: 0,
        immutable: false,
        extra: None,
    };
    header.update_from(&response.headers, cache::now());
    Some(header)
}

fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

fn is_retryable_error(error: &reqwest::Error) -> bool {
    !(error.is_builder() || error.is_redirect())
}

/// An error and its causes, `: `-separated (reqwest's own message is vague).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
