//! Sending requests: retries with back-off, the HTTP cache, offline mode.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pybun_ports::IndexError;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tracing::debug;

use crate::cache::{self, Bucket, CacheControl, EntryHeader, HttpCache};

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
    pub(crate) body: Vec<u8>,
    pub(crate) final_url: String,
}

/// The HTTP client with its policies.
#[derive(Debug)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    retries: u32,
    backoff: Duration,
    offline: bool,
    requests: AtomicUsize,
    pub(crate) cache: HttpCache,
}

impl Fetcher {
    pub(crate) fn new(
        client: reqwest::Client,
        retries: u32,
        backoff: Duration,
        offline: bool,
        cache: HttpCache,
    ) -> Self {
        Self { client, retries, backoff, offline, requests: AtomicUsize::new(0), cache }
    }

    pub(crate) fn offline(&self) -> bool {
        self.offline
    }

    /// Requests actually sent over the network (retries included).
    pub(crate) fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
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
        let mut delay = self.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt > self.retries;
            match self.send_once(url, &header_map).await {
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

    async fn send_once(&self, url: &str, headers: &HeaderMap) -> Result<Response, reqwest::Error> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = self.client.get(url).headers(headers.clone()).send().await?;
        let status = response.status().as_u16();
        let final_url = response.url().to_string();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
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
        let cached = self.cache.read(bucket, &key);
        let now = cache::now();
        if let Some(entry) = &cached
            && (self.offline || entry.header.is_fresh(now))
        {
            debug!(method = "GET", url, status = entry.header.status, cache = "hit", "http request");
            return Ok(page_of(&entry.header, entry.body.clone()));
        }
        if self.offline {
            debug!(method = "GET", url, cache = "miss", "offline");
            return Err(IndexError::OfflineMiss { url: url.to_string() });
        }
        let mut headers = vec![(reqwest::header::ACCEPT, accept.to_string())];
        if let Some(entry) = cached.as_ref().filter(|e| e.header.has_validator()) {
            if let Some(etag) = &entry.header.etag {
                headers.push((reqwest::header::IF_NONE_MATCH, etag.clone()));
            }
            if let Some(modified) = &entry.header.last_modified {
                headers.push((reqwest::header::IF_MODIFIED_SINCE, modified.clone()));
            }
        }
        let response = self.get(url, &headers).await?;
        if response.status == StatusCode::NOT_MODIFIED.as_u16()
            && let Some(mut entry) = cached
        {
            debug!(url, cache = "revalidated", "http cache");
            entry.header.update_from(&response.headers, cache::now());
            self.cache.store(bucket, &key, &entry.header, &entry.body);
            return Ok(page_of(&entry.header, entry.body));
        }
        debug!(url, status = response.status, cache = "miss", "http cache");
        let control = CacheControl::parse(&response.headers);
        if matches!(response.status, 200 | 404 | 410) && !control.no_store {
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
            self.cache.store(bucket, &key, &header, &response.body);
        }
        Ok(Page {
            status: response.status,
            content_type: cache::header_str(&response.headers, "content-type"),
            body: response.body,
            final_url: response.final_url,
        })
    }
}

fn page_of(header: &EntryHeader, body: Vec<u8>) -> Page {
    Page {
        status: header.status,
        content_type: header.content_type.clone(),
        body,
        final_url: header.final_url.clone(),
    }
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
