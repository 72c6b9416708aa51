//! Downloading distribution files with the index's own HTTP client, so
//! archives are fetched with the same TLS roots, proxy settings, user agent,
//! timeouts, retries, hedged DNS, offline flag and request counter as the
//! index pages (used by the artifact cache, `pybun-cache`).
//!
//! The bytes go to a [`DownloadSink`] chunk by chunk; a sink may refuse a
//! chunk (for example once more bytes arrived than expected), which stops the
//! download. If a download has to start over (a retry after a partial body),
//! the sink is told with [`DownloadSink::restart`] first.
//!
//! The body is streamed: each chunk goes to the sink as it arrives, so a
//! download never holds the whole file in memory. Retries (transport errors,
//! 429 and 5xx) start the body over after `restart`.

use std::io;

use pybun_ports::IndexError;

use crate::HttpIndex;

/// Where a download's bytes go.
pub trait DownloadSink: Send {
    /// Forget everything written so far: the body starts again from its first byte.
    ///
    /// # Errors
    /// Stops the download with [`DownloadError::Sink`].
    fn restart(&mut self) -> io::Result<()>;

    /// The next bytes of the body.
    ///
    /// # Errors
    /// Stops the download with [`DownloadError::Sink`].
    fn write(&mut self, chunk: &[u8]) -> io::Result<()>;

    /// The download ended, with or without success (called by
    /// [`HttpIndex::spawn_download`]'s task; a sink others read from wakes them).
    fn finish(&mut self) {}

    /// `Some` while the sink wants no more bytes for now (its reader is far
    /// behind): the download waits to be notified, then asks again. The bytes
    /// not read meanwhile wait in the connection (TCP flow control), not in memory.
    fn full(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
}

/// Why [`HttpIndex::download`] failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The request failed: `OfflineMiss` (offline), `Unreachable` (transport,
    /// after retries) or `HttpStatus` (any status but 200).
    #[error(transparent)]
    Index(IndexError),
    /// The sink refused the bytes (its own error, e.g. a full disk).
    #[error("could not store the download of `{url}`: {source}")]
    Sink {
        url: String,
        #[source]
        source: io::Error,
    },
}

impl HttpIndex {
    /// GET `url` (an `http(s)` URL) and hand its body to `sink`; the number
    /// of bytes written. Blocking, like the rest of [`HttpIndex`]; several
    /// threads may download at once (each waits on its own thread).
    ///
    /// # Errors
    /// See [`DownloadError`]. Offline, nothing is sent.
    pub fn download(&self, url: &str, sink: &mut dyn DownloadSink) -> Result<u64, DownloadError> {
        let fetcher = &self.inner.fetcher;
        let (status, written) = self.block_on(fetcher.get_streamed(url, sink))?;
        if status != 200 {
            return Err(DownloadError::Index(IndexError::HttpStatus { url: url.to_string(), status }));
        }
        Ok(written)
    }
}

impl HttpIndex {
    /// Start a GET of `url` on the client's own runtime, handing its body to
    /// `sink` there; [`DownloadTask::wait`] gives the result. The sink gets
    /// the chunks on a runtime thread: the caller is not woken per chunk (on
    /// a cold sync of a few hundred megabytes that was tens of thousands of
    /// thread wake-ups with [`HttpIndex::download`]), and may consume what
    /// the sink collects meanwhile (the artifact cache unpacks a wheel while
    /// it downloads).
    #[must_use]
    pub fn spawn_download(&self, url: &str, mut sink: Box<dyn DownloadSink>) -> DownloadTask {
        let inner = std::sync::Arc::clone(&self.inner);
        let owned_url = url.to_string();
        let task = self.handle.spawn(async move {
            let result = inner.fetcher.get_streamed(&owned_url, &mut *sink).await;
            sink.finish();
            match result? {
                (200, written) => Ok(written),
                (status, _) => Err(DownloadError::Index(IndexError::HttpStatus { url: owned_url, status })),
            }
        });
        DownloadTask { handle: self.handle.clone(), url: url.to_string(), task }
    }
}

impl HttpIndex {
    /// Get ready for requests to `url`'s host without sending one: build the
    /// HTTP client (it reads the root certificates) and resolve the host, on
    /// the client's runtime, in the background. Offline, or for a URL
    /// without a host, nothing happens.
    pub fn warm_up(&self, url: &str) {
        let Some(host) = url::Url::parse(url).ok().and_then(|url| url.host_str().map(str::to_string)) else { return };
        let inner = std::sync::Arc::clone(&self.inner);
        drop(self.handle.spawn(async move { inner.fetcher.warm_up(host).await }));
    }
}

/// A download started with [`HttpIndex::spawn_download`].
#[derive(Debug)]
pub struct DownloadTask {
    handle: tokio::runtime::Handle,
    url: String,
    task: tokio::task::JoinHandle<Result<u64, DownloadError>>,
}

impl DownloadTask {
    /// Wait for the download to end: the number of bytes given to the sink.
    ///
    /// # Errors
    /// See [`DownloadError`].
    pub fn wait(self) -> Result<u64, DownloadError> {
        let url = self.url;
        crate::block_on_with(&self.handle, self.task).unwrap_or_else(|join| {
            Err(DownloadError::Index(IndexError::Unreachable { url, reason: format!("the download task stopped: {join}") }))
        })
    }
}
