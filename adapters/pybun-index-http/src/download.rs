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
    /// GET `url` into memory: the whole body. Unlike [`HttpIndex::download`],
    /// the body is collected by a task on the client's own runtime, so its
    /// chunks do not wake the calling thread one by one (on a cold sync of
    /// a few hundred megabytes that was tens of thousands of thread
    /// wake-ups); the caller wakes once, when the body is complete.
    ///
    /// More than `limit` bytes stop the download with a
    /// [`DownloadError::Sink`] whose error kind is
    /// [`io::ErrorKind::FileTooLarge`].
    ///
    /// # Errors
    /// See [`DownloadError`]. Offline, nothing is sent.
    pub fn download_bytes(&self, url: &str, limit: Option<u64>) -> Result<Vec<u8>, DownloadError> {
        let inner = std::sync::Arc::clone(&self.inner);
        let owned_url = url.to_string();
        let capacity = limit.and_then(|limit| usize::try_from(limit).ok()).unwrap_or(0);
        let task = self.handle.spawn(async move {
            let mut sink = MemorySink { bytes: Vec::with_capacity(capacity), limit };
            let (status, _) = inner.fetcher.get_streamed(&owned_url, &mut sink).await?;
            if status != 200 {
                return Err(DownloadError::Index(IndexError::HttpStatus { url: owned_url, status }));
            }
            Ok(sink.bytes)
        });
        self.block_on(task).unwrap_or_else(|join| {
            Err(DownloadError::Index(IndexError::Unreachable {
                url: url.to_string(),
                reason: format!("the download task stopped: {join}"),
            }))
        })
    }
}

/// The body in memory, refused past `limit`.
struct MemorySink {
    bytes: Vec<u8>,
    limit: Option<u64>,
}

impl DownloadSink for MemorySink {
    fn restart(&mut self) -> io::Result<()> {
        self.bytes.clear();
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.limit.is_some_and(|limit| (self.bytes.len() + chunk.len()) as u64 > limit) {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "more bytes than the expected size"));
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }
}
