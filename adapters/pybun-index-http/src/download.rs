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
//! Today the body is read by the shared fetcher (whole-request retries on
//! transport errors, 429 and 5xx) and then handed to the sink in chunks of
//! [`CHUNK`] bytes, so a file is held in memory once while it downloads;
//! the sink interface already allows reading the body incrementally later
//! without changing callers.

use std::io;

use pybun_ports::IndexError;

use crate::HttpIndex;

/// The size of the chunks handed to a [`DownloadSink`].
const CHUNK: usize = 256 * 1024;

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
        let response = self.block_on(fetcher.get(url, &[])).map_err(DownloadError::Index)?;
        if response.status != 200 {
            return Err(DownloadError::Index(IndexError::HttpStatus { url: url.to_string(), status: response.status }));
        }
        let sink_error = |source| DownloadError::Sink { url: url.to_string(), source };
        sink.restart().map_err(sink_error)?;
        for chunk in response.body.chunks(CHUNK) {
            sink.write(chunk).map_err(sink_error)?;
        }
        Ok(response.body.len() as u64)
    }
}
