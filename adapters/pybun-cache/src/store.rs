//! [`ArtifactStore`]: the [`ArtifactCache`] port over the OS.

use std::fs::{self, File};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

use pybun_fs_os::{ArchiveStream, StreamedWheel, Unpacked, WheelInstallError, unpack_wheel, unpack_wheel_bytes, write_atomic};
use pybun_index_http::{DownloadError, DownloadSink, DownloadTask, HttpIndex};
use pybun_pep::PackageName;
use pybun_ports::{ArtifactCache, ArtifactError, ArtifactRequest, BuildCache, IndexError, PreparedWheel};
use sha2::{Digest as _, Sha256};
use tracing::debug;

use crate::layout::{BUILD_ENVS_DIR, BUILT_DIR, Layout, SCRATCH_DIR, SharedLock, TEMP_PREFIX, is_sha256_hex};

/// Downloads running at once by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// A download is held in memory up to this size by default, then spills to a temporary file.
pub const DEFAULT_IN_MEMORY_LIMIT: u64 = 128 * 1024 * 1024;

/// All downloads of a store together hold at most this much in memory by
/// default; past it, a download goes through a temporary file.
pub const DEFAULT_MEMORY_BUDGET: u64 = 384 * 1024 * 1024;

/// The global, content-addressed wheel cache (see the crate documentation).
///
/// The first [`ArtifactCache::prepare_wheels`] call takes a shared lock on
/// `<cache>/.lock` and keeps it until the store is dropped, so the returned
/// unpacked directories stay valid while the caller installs from them
/// ([`crate::clean`] and [`crate::prune`] refuse to run meanwhile).
pub struct ArtifactStore {
    layout: Layout,
    http: Arc<HttpIndex>,
    offline: bool,
    concurrency: usize,
    in_memory_limit: u64,
    memory: MemoryBudget,
    lock: OnceLock<Result<SharedLock, String>>,
    /// Wheels unpacked while they downloaded (not from the complete archive).
    streamed_unpacks: AtomicUsize,
    /// The downloads of the current [`ArtifactCache::prepare_wheels`] calls not started yet.
    queued: AtomicUsize,
    /// The streaming downloads in progress (see [`ArtifactStore::uncap_the_tail`]).
    streaming: Mutex<Vec<Arc<Feed>>>,
    /// Whether a wheel of locked size and hash is unpacked while it downloads.
    stream: bool,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactStore")
            .field("cache_dir", &self.layout.root())
            .field("offline", &self.offline)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl ArtifactStore {
    /// A store in `cache_dir` downloading with `http`'s client (its TLS
    /// roots, proxy, user agent, timeouts, retries). With `offline`, only
    /// cached wheels and `file://` URLs are served; anything else is
    /// [`ArtifactError::OfflineMiss`]. Nothing is touched on disk until the
    /// first request.
    #[must_use]
    pub fn new(cache_dir: impl Into<PathBuf>, http: Arc<HttpIndex>, offline: bool) -> Self {
        Self {
            layout: Layout::new(cache_dir),
            http,
            offline,
            concurrency: DEFAULT_CONCURRENCY,
            in_memory_limit: DEFAULT_IN_MEMORY_LIMIT,
            memory: MemoryBudget::new(DEFAULT_MEMORY_BUDGET),
            lock: OnceLock::new(),
            streamed_unpacks: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            streaming: Mutex::new(Vec::new()),
            stream: true,
        }
    }

    /// Downloads larger than `bytes` go through a temporary file in
    /// `archives-v1/.tmp*/` instead of memory.
    #[must_use]
    pub fn with_in_memory_limit(mut self, bytes: u64) -> Self {
        self.in_memory_limit = bytes;
        self
    }

    /// All downloads in progress hold at most `bytes` in memory together;
    /// one that does not fit goes through a temporary file.
    #[must_use]
    pub fn with_memory_budget(mut self, bytes: u64) -> Self {
        self.memory = MemoryBudget::new(bytes);
        self
    }

    /// Room in memory for a download of `size` bytes (known and within the per-download limit).
    fn reserve_memory(&self, size: Option<u64>) -> Option<Reservation<'_>> {
        size.filter(|&size| size <= self.in_memory_limit).and_then(|size| self.memory.reserve(size))
    }

    /// At most `downloads` downloads (or local reads) at once (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, downloads: usize) -> Self {
        self.concurrency = downloads.max(1);
        self
    }

    /// With `false`, every download is unpacked once complete, never while it
    /// arrives (the default is `true`): to compare the two paths.
    #[must_use]
    pub fn with_unpacking_while_downloading(mut self, enabled: bool) -> Self {
        self.stream = enabled;
        self
    }

    /// How many wheels this store unpacked while they downloaded; the
    /// others it downloaded were unpacked from the complete archive (a data
    /// descriptor, a body that started over after part of it was unpacked, no
    /// locked size or hash, a download past the in-memory limit).
    #[must_use]
    pub fn wheels_unpacked_while_downloading(&self) -> usize {
        self.streamed_unpacks.load(Ordering::Relaxed)
    }

    /// The cache root.
    #[must_use]
    pub fn cache_dir(&self) -> &Path {
        self.layout.root()
    }

    fn ensure_locked(&self) -> Result<(), ArtifactError> {
        let path = self.layout.lock_file();
        self.lock
            .get_or_init(|| SharedLock::acquire(&path).map_err(|e| e.to_string()))
            .as_ref()
            .map(|_| ())
            .map_err(|reason| ArtifactError::Io { path, reason: format!("cannot lock the cache: {reason}") })
    }

    /// A hit answered with a stat or two (`Some(Ok)`), an answer without any
    /// work (`Some(Err)`), or `None`: the file must be fetched.
    fn lookup(&self, request: &ArtifactRequest) -> Option<Result<PreparedWheel, ArtifactError>> {
        if let Err(e) = check_filename(&request.filename) {
            return Some(Err(e));
        }
        let expected = match expected_sha256(request) {
            Ok(expected) => expected,
            Err(e) => return Some(Err(e)),
        };
        let local = request.url.starts_with("file:");
        // A local file may change under the same URL: without a locked hash it is read and hashed.
        let known = expected.or_else(|| if local { None } else { self.hash_of_url(&request.url) });
        if let Some(hex) = known {
            // The unpacked directory appears whole (a rename) and only after its
            // archive's hash and size were checked: its existence is the hit.
            let unpacked = self.layout.unpacked(&hex);
            if unpacked.is_dir() {
                debug!(filename = %request.filename, cache = "hit", "wheel");
                return Some(Ok(PreparedWheel {
                    filename: request.filename.clone(),
                    unpacked,
                    sha256: hex,
                    downloaded: false,
                }));
            }
        }
        if self.offline && !local {
            debug!(filename = %request.filename, cache = "miss", "offline");
            return Some(Err(ArtifactError::OfflineMiss { filename: request.filename.clone() }));
        }
        None
    }

    fn hash_of_url(&self, url: &str) -> Option<String> {
        let text = fs::read_to_string(self.layout.by_url(url)).ok()?;
        let hex = text.trim();
        is_sha256_hex(hex).then(|| hex.to_string())
    }

    /// Download (or read) into memory (a large file into a temporary file)
    /// and verify hash and size: the archive's sha256 (hex) and its bytes.
    /// The memory reservation, if any, comes along: it is held as long as the bytes are.
    fn download_verified(&self, request: &ArtifactRequest) -> Result<(String, Download, Option<Reservation<'_>>), ArtifactError> {
        let filename = &request.filename;
        let expected = expected_sha256(request)?;
        // Memory for a download of known size that fits the budget; else a temporary file from the start.
        let memory = self.reserve_memory(request.size);
        let mut sink = HashingSink {
            target: Download::Memory(Vec::new()),
            in_memory_limit: if memory.is_some() { self.in_memory_limit } else { 0 },
            spill_dir: self.layout.archives(),
            filename: filename.clone(),
            hasher: Sha256::new(),
            bytes: 0,
            limit: request.size,
            overflow: false,
        };
        // The digest when the feed computed it (on the download's thread).
        let mut hashed = None;
        let fetched = if request.url.starts_with("file:") {
            read_local(&request.url, &mut sink)
        } else if let Some(size) = request.size.filter(|_| memory.is_some()) {
            // The common case (a locked size): collected on the client's runtime, hashed here.
            debug!(url = %request.url, "downloading");
            let (feed, task) = self.spawn_feed(request, Feed::with_capacity(size), size);
            let mut reader = FeedReader::new(feed);
            let drained = reader.drain();
            match self.finish_feed(request, task, &mut reader, drained) {
                Ok(()) => {
                    hashed = reader.sha256_hex();
                    // A feed kept whole (nothing was read before the drain).
                    sink.bytes = reader.total;
                    sink.target = Download::Memory(reader.take_whole().unwrap_or_default());
                    Ok(())
                }
                Err(FeedError::TooLarge) => {
                    sink.overflow = true;
                    Ok(())
                }
                Err(FeedError::Download(e)) => Err(download_error(e, request, &sink.spill_dir)),
            }
        } else {
            debug!(url = %request.url, "downloading");
            let spill_dir = sink.spill_dir.clone();
            self.http.download(&request.url, &mut sink).map(|_| ()).map_err(|e| download_error(e, request, &spill_dir))
        };
        if sink.overflow {
            let size = request.size.unwrap_or_default();
            return Err(ArtifactError::HashMismatch {
                filename: filename.clone(),
                expected: format!("{size} bytes"),
                actual: format!("more than {size} bytes"),
            });
        }
        fetched?;
        if let Download::File { file, path, .. } = &mut sink.target {
            file.flush().map_err(io_error(path))?;
        }
        let hex = hashed.unwrap_or_else(|| hex::encode(sink.hasher.finalize()));
        if let Some(expected) = expected
            && expected != hex
        {
            return Err(ArtifactError::HashMismatch {
                filename: filename.clone(),
                expected: format!("sha256:{expected}"),
                actual: format!("sha256:{hex}"),
            });
        }
        if let Some(size) = request.size
            && size != sink.bytes
        {
            return Err(ArtifactError::HashMismatch {
                filename: filename.clone(),
                expected: format!("{size} bytes"),
                actual: format!("{} bytes", sink.bytes),
            });
        }
        debug!(filename, bytes = sink.bytes, in_memory = matches!(sink.target, Download::Memory(_)), "downloaded");
        Ok((hex, sink.target, memory))
    }

    /// Download (or read), verify, unpack. The archive itself is not kept:
    /// the unpacked wheel (named by the archive's sha256) is the cache entry.
    fn fetch(&self, request: &ArtifactRequest) -> Result<PreparedWheel, ArtifactError> {
        if let (Some(size), Some(hex)) = (request.size, expected_sha256(request)?)
            && !request.url.starts_with("file:")
            && self.stream
            && let Some(_memory) = self.reserve_memory(Some(size))
        {
            return self.fetch_streamed(request, size, hex);
        }
        // Taking the last queued request may leave one download streaming: a
        // whole download does not check that when it starts, as a streaming one does.
        self.uncap_the_tail();
        self.fetch_whole(request)
    }

    /// Download (or read) the whole file, verify it, then unpack it.
    fn fetch_whole(&self, request: &ArtifactRequest) -> Result<PreparedWheel, ArtifactError> {
        let filename = &request.filename;
        let (hex, download, _memory) = self.download_verified(request)?;
        let unpacked = self.layout.unpacked(&hex);
        if unpacked.is_dir() {
            // Already complete (a local file read again, or a lost URL index entry).
            self.remember(request, &hex);
            return Ok(PreparedWheel { filename: filename.clone(), unpacked, sha256: hex, downloaded: false });
        }
        let result = match &download {
            Download::Memory(bytes) => unpack_wheel_bytes(filename, bytes, &unpacked),
            Download::File { path, .. } => unpack_wheel(path, &unpacked),
        };
        drop(download);
        self.unpacked_entry(request, hex, unpacked, result)
    }

    /// Download a wheel of known size and hash, unpacking it while it
    /// arrives ([`StreamedWheel`]); checked against the hash, the size and
    /// `RECORD` once complete, and only then renamed into place. A wheel the
    /// stream cannot unpack (a data descriptor, say) is unpacked from the
    /// complete download instead, which also gives the verdict on a bad one.
    fn fetch_streamed(&self, request: &ArtifactRequest, size: u64, hex: String) -> Result<PreparedWheel, ArtifactError> {
        let filename = &request.filename;
        let unpacked = self.layout.unpacked(&hex);
        debug!(url = %request.url, "downloading and unpacking");
        let (feed, task) = self.spawn_feed(request, Feed::streaming(), size);
        self.streaming_lock().push(Arc::clone(&feed));
        self.uncap_the_tail();
        let mut reader = FeedReader::new(Arc::clone(&feed));
        let streamed = StreamedWheel::extract_from(filename, &mut reader, &unpacked);
        let drained = reader.drain();
        self.streaming_lock().retain(|other| !Arc::ptr_eq(other, &feed));
        self.uncap_the_tail();
        let restarted = drained.is_err();
        match self.finish_feed(request, task, &mut reader, drained) {
            Ok(()) => {}
            Err(FeedError::TooLarge) => {
                return Err(ArtifactError::HashMismatch {
                    filename: filename.clone(),
                    expected: format!("{size} bytes"),
                    actual: format!("more than {size} bytes"),
                });
            }
            Err(FeedError::Download(e)) => return Err(download_error(e, request, &self.layout.archives())),
        }
        let actual = reader.sha256_hex().unwrap_or_default();
        if actual != hex {
            return Err(ArtifactError::HashMismatch {
                filename: filename.clone(),
                expected: format!("sha256:{hex}"),
                actual: format!("sha256:{actual}"),
            });
        }
        if reader.total != size {
            return Err(ArtifactError::HashMismatch {
                filename: filename.clone(),
                expected: format!("{size} bytes"),
                actual: format!("{} bytes", reader.total),
            });
        }
        let result = match streamed {
            Ok(streamed) if !restarted => {
                let blocks: Vec<&[u8]> = reader.rest.iter().map(Vec::as_slice).collect();
                let finished = streamed.finish_from(&blocks, reader.rest_offset);
                if finished.is_ok() {
                    self.streamed_unpacks.fetch_add(1, Ordering::Relaxed);
                }
                finished
            }
            other => {
                if let Err(e) = other {
                    debug!(filename, reason = %e, "not unpacked while downloading; unpacking the whole archive");
                }
                match reader.whole() {
                    Some(whole) => unpack_wheel_bytes(filename, whole, &unpacked),
                    None => {
                        // The part already read is gone: download it again, whole.
                        drop(reader);
                        return self.fetch_whole(request);
                    }
                }
            }
        };
        drop(reader);
        self.unpacked_entry(request, hex, unpacked, result)
    }

    fn streaming_lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Feed>>> {
        self.streaming.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// At the end of a cold sync the largest wheel, started first but
    /// sharing the connection with all the others, is the last one still
    /// downloading, unpacked on one thread as it arrives, which the backlog
    /// limit holds the download back for: one core works, the other waits.
    /// So once nothing is queued and no more downloads stream than
    /// [`UNCAPPED_TAIL`], they are let go on: their bodies arrive whole, and
    /// what is left to unpack is handed over to parallel extraction.
    fn uncap_the_tail(&self) {
        if self.queued.load(Ordering::Acquire) != 0 {
            return;
        }
        let streaming = self.streaming_lock();
        if streaming.len() <= UNCAPPED_TAIL {
            streaming.iter().for_each(|feed| feed.uncap());
        }
    }

    /// Start downloading `request` (of `size` bytes) on the index client's runtime into a [`Feed`].
    fn spawn_feed(&self, request: &ArtifactRequest, feed: Feed, size: u64) -> (Arc<Feed>, DownloadTask) {
        let feed = Arc::new(feed);
        let sink = FeedSink::new(Arc::clone(&feed), Some(size));
        (feed, self.http.spawn_download(&request.url, Box::new(sink)))
    }

    /// Wait for the download behind `reader`; after a retry that started the
    /// body over (`drained` failed), read the new body whole.
    fn finish_feed(
        &self,
        request: &ArtifactRequest,
        task: DownloadTask,
        reader: &mut FeedReader,
        drained: io::Result<()>,
    ) -> Result<(), FeedError> {
        let result = task.wait();
        match result {
            Ok(_) => {}
            Err(DownloadError::Sink { source, .. }) if source.kind() == io::ErrorKind::FileTooLarge => {
                return Err(FeedError::TooLarge);
            }
            Err(e) => return Err(FeedError::Download(e)),
        }
        if drained.is_err() {
            debug!(url = %request.url, "the download started over; reading it whole");
            reader.reset();
            reader.drain().map_err(|e| {
                FeedError::Download(DownloadError::Sink { url: request.url.clone(), source: e })
            })?;
        }
        Ok(())
    }

    /// The cache entry an unpack made (remembered in the indexes), or why there is none.
    fn unpacked_entry(
        &self,
        request: &ArtifactRequest,
        hex: String,
        unpacked: PathBuf,
        result: Result<Unpacked, WheelInstallError>,
    ) -> Result<PreparedWheel, ArtifactError> {
        let filename = &request.filename;
        if let Err(e) = result {
            return Err(match e {
                WheelInstallError::Io { action, path, source } => {
                    ArtifactError::Io { path, reason: format!("could not {action}: {source}") }
                }
                invalid => {
                    ArtifactError::InvalidWheel { filename: filename.clone(), reason: invalid_reason(&invalid, filename) }
                }
            });
        }
        self.remember(request, &hex);
        debug!(filename, sha256 = %hex, "wheel cached");
        Ok(PreparedWheel { filename: filename.clone(), unpacked, sha256: hex, downloaded: true })
    }

    /// The by-URL and by-name indexes (best effort: a failure only costs a later lookup).
    fn remember(&self, request: &ArtifactRequest, hex: &str) {
        if !request.url.starts_with("file:") {
            let path = self.layout.by_url(&request.url);
            if let Err(e) = write_atomic(&path, hex.as_bytes()) {
                debug!(path = %path.display(), error = %e, "could not write the URL index");
            }
        }
        self.remember_name(&request.name, &request.version, &request.filename, Some(&request.url), hex);
    }

    /// The by-name index entry (`cache clean <name>` finds a project's wheels through it).
    fn remember_name(&self, name: &str, version: &str, filename: &str, url: Option<&str>, hex: &str) {
        if let Ok(name) = PackageName::from_str(name) {
            let path = self.layout.by_name(name.as_ref()).join(hex);
            let origin = serde_json::json!({
                "name": name.as_ref(),
                "version": version,
                "filename": filename,
                "url": url,
            });
            if let Err(e) = write_atomic(&path, origin.to_string().as_bytes()) {
                debug!(path = %path.display(), error = %e, "could not write the name index");
            }
        }
    }
}

impl ArtifactCache for ArtifactStore {
    /// Warm the HTTP client up (root certificates, the host's address) when
    /// a project has no entry at all (`by-name/<name>/`): one stat per project.
    fn expect_downloads(&self, projects: &[(&str, &str)]) {
        if self.offline {
            return;
        }
        let missing = projects.iter().find(|(name, url)| {
            (url.starts_with("https:") || url.starts_with("http:")) && !self.layout.by_name(name).is_dir()
        });
        if let Some((name, url)) = missing {
            debug!(name, "nothing cached of a locked project: warming the HTTP client up");
            self.http.warm_up(url);
        }
    }

    fn prepare_wheels(&self, requests: &[ArtifactRequest]) -> Vec<Result<PreparedWheel, ArtifactError>> {
        self.prepare_wheels_as_ready(requests, &|_, _| {})
    }

    fn prepare_wheels_as_ready(
        &self,
        requests: &[ArtifactRequest],
        ready: &(dyn Fn(usize, &Result<PreparedWheel, ArtifactError>) + Sync),
    ) -> Vec<Result<PreparedWheel, ArtifactError>> {
        if requests.is_empty() {
            return Vec::new();
        }
        if let Err(e) = self.ensure_locked() {
            let results: Vec<_> = requests.iter().map(|_| Err(e.clone())).collect();
            for (i, result) in results.iter().enumerate() {
                ready(i, result);
            }
            return results;
        }
        let mut results: Vec<Option<Result<PreparedWheel, ArtifactError>>> =
            requests.iter().map(|request| self.lookup(request)).collect();
        for (i, result) in results.iter().enumerate() {
            if let Some(result) = result {
                ready(i, result);
            }
        }
        let mut pending: Vec<usize> = (0..requests.len()).filter(|&i| results[i].is_none()).collect();
        // The largest first: the last download to finish bounds the whole, so the long ones start at once.
        pending.sort_by_key(|&i| std::cmp::Reverse(requests[i].size.unwrap_or(0)));
        let workers = self.concurrency.min(pending.len());
        // Added to, not set: a prefetch may be preparing other wheels at the same time.
        self.queued.fetch_add(pending.len(), Ordering::AcqRel);
        let take = |i| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            i
        };
        if workers == 1 {
            for i in pending.iter().copied().map(take) {
                let result = self.fetch(&requests[i]);
                ready(i, &result);
                results[i] = Some(result);
            }
        } else if workers > 1 {
            let next = AtomicUsize::new(0);
            let done = Mutex::new(Vec::with_capacity(pending.len()));
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| {
                        while let Some(i) = pending.get(next.fetch_add(1, Ordering::Relaxed)).copied().map(take) {
                            let result = self.fetch(&requests[i]);
                            ready(i, &result);
                            done.lock().unwrap_or_else(PoisonError::into_inner).push((i, result));
                        }
                    });
                }
            });
            for (i, result) in done.into_inner().unwrap_or_else(PoisonError::into_inner) {
                results[i] = Some(result);
            }
        }
        results
            .into_iter()
            .zip(requests)
            .map(|(result, request)| {
                result.unwrap_or_else(|| {
                    Err(ArtifactError::Io {
                        path: PathBuf::from(&request.filename),
                        reason: "the download worker stopped".to_string(),
                    })
                })
            })
            .collect()
    }
}

/// Bytes held in memory by the downloads in progress, against a limit.
struct MemoryBudget {
    used: AtomicU64,
    limit: u64,
}

impl MemoryBudget {
    fn new(limit: u64) -> Self {
        Self { used: AtomicU64::new(0), limit }
    }

    fn reserve(&self, bytes: u64) -> Option<Reservation<'_>> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .ok()
            .map(|_| Reservation { budget: self, bytes })
    }
}

/// Memory reserved for one download, given back when dropped.
struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Why a download into a [`Feed`] failed.
enum FeedError {
    /// More bytes than the locked size.
    TooLarge,
    Download(DownloadError),
}

/// The body of a download in progress, shared by the runtime task that
/// receives it ([`FeedSink`]) and the thread that consumes it
/// ([`FeedReader`]). The body is kept once, here, in blocks (the consumer
/// copies out what it reads and takes what is left at the end). A feed made
/// [`Feed::streaming`] lets go of the blocks the consumer has read (but the
/// last [`KEPT_BEHIND`] bytes), and reuses them for the bytes still to come:
/// a wheel unpacked while it downloads holds little more than its backlog.
/// The consumer is woken once per [`FEED_BATCH`] bytes (or at the end), not
/// per network chunk.
#[derive(Default)]
struct Feed {
    state: Mutex<FeedState>,
    ready: Condvar,
    /// Wakes a download waiting for the consumer to catch up (see [`FeedState::capped`]).
    room: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct FeedState {
    /// The body received so far, from offset `base` on.
    blocks: std::collections::VecDeque<Vec<u8>>,
    /// The offset of the first byte of `blocks`.
    base: u64,
    /// The bytes received so far (the offset past the last one).
    end: u64,
    /// The room of a new block.
    block_size: usize,
    /// Blocks read are let go of (see [`Feed::streaming`]).
    drop_read: bool,
    /// The download waits while more than [`BACKLOG`] bytes are kept unread
    /// (the rest waits in the connection), until the consumer stops
    /// following the stream ([`FeedReader::drain`]).
    capped: bool,
    /// How much of the body the consumer has taken (an offset).
    seen: u64,
    done: bool,
    /// The consumer has taken bytes of the current body.
    taken: bool,
    /// The body started over (a retry) after the consumer had taken some of
    /// it; the consumer must start over too.
    restarted: bool,
    /// The body's sha256, computed by the sink as the chunks arrive (on the
    /// download's runtime thread, not the unpacking one), set at the end.
    digest: Option<[u8; 32]>,
    /// The consumer waits on `ready` for a batch. Only then does a chunk
    /// notify it: a notification is a futex call even with nobody waiting,
    /// and a consumer behind the download would otherwise get one per chunk
    /// (thousands per cold sync).
    waiting: bool,
}

/// The room of a streaming feed's blocks.
const STREAM_BLOCK: usize = 256 * 1024;

/// Streaming blocks let go of, for any feed of the process to fill again (at
/// most [`POOLED_BLOCKS`]). Kept, not freed: memory freed goes back to the
/// system, and a new block faults its pages in again, one by one (half of a
/// cold sync's page faults were blocks and unpacking buffers filled anew).
static BLOCK_POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A download's backlog in blocks, and some.
const POOLED_BLOCKS: usize = (BACKLOG as usize / STREAM_BLOCK) + 8;

/// A block of `room` bytes, from the pool if it has one.
fn new_block(room: usize) -> Vec<u8> {
    if room == STREAM_BLOCK
        && let Some(block) = BLOCK_POOL.lock().unwrap_or_else(PoisonError::into_inner).pop()
    {
        return block;
    }
    Vec::with_capacity(room)
}

/// Give `block` back to the pool (a streaming block, while there is room).
fn recycle_block(mut block: Vec<u8>) {
    if block.capacity() != STREAM_BLOCK {
        return;
    }
    block.clear();
    let mut pool = BLOCK_POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() < POOLED_BLOCKS {
        pool.push(block);
    }
}

/// At most this many streaming downloads, the last ones of a call, are not
/// held back by their backlog (see [`ArtifactStore::uncap_the_tail`]): their
/// bodies are then held whole, so one (data-science's cold peak memory is
/// 120-130 MB with it, about 100 MB without; scipy's body is 35 MB).
const UNCAPPED_TAIL: usize = 1;

/// Bytes a waiting consumer is woken for.
const FEED_BATCH: usize = 256 * 1024;

/// How much of a streaming feed may wait for the consumer before the download
/// waits too.
const BACKLOG: u64 = 2 * 1024 * 1024;

/// How much a streaming feed keeps behind what the consumer has read (the
/// central directory's signature, read to find the end of the members, is
/// then still there).
const KEPT_BEHIND: u64 = 64 * 1024;

impl Feed {
    /// A feed for a body of about `size` bytes, kept whole in one block of
    /// that room (reserved with the first bytes, so it never grows).
    fn with_capacity(size: u64) -> Self {
        let block_size = usize::try_from(size).unwrap_or_default().max(64 * 1024);
        Self::new(block_size, false)
    }

    /// A feed for a body read as it arrives: blocks of [`STREAM_BLOCK`] bytes, let go of once read.
    fn streaming() -> Self {
        Self::new(STREAM_BLOCK, true)
    }

    fn new(block_size: usize, streaming: bool) -> Self {
        let mut state = FeedState::default();
        (state.block_size, state.drop_read, state.capped) = (block_size, streaming, streaming);
        Self { state: Mutex::new(state), ready: Condvar::new(), room: Arc::default() }
    }

    /// The download need not wait any more.
    fn uncap(&self) {
        self.lock().capped = false;
        self.room.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FeedState {
    fn append(&mut self, mut chunk: &[u8]) {
        self.end += chunk.len() as u64;
        while !chunk.is_empty() {
            if self.blocks.back().is_none_or(|block| block.len() == block.capacity()) {
                let block = new_block(self.block_size.max(64 * 1024));
                self.blocks.push_back(block);
            }
            let Some(last) = self.blocks.back_mut() else { return };
            let n = (last.capacity() - last.len()).min(chunk.len());
            last.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
        }
    }

    fn clear(&mut self) {
        while let Some(block) = self.blocks.pop_front() {
            recycle_block(block);
        }
        (self.base, self.end, self.seen) = (0, 0, 0);
    }

    /// Copy bytes from offset `at` (before `seen`) into `buf`: how many.
    fn copy_at(&self, at: u64, buf: &mut [u8]) -> usize {
        let mut offset = self.base;
        for block in &self.blocks {
            let block_end = offset + block.len() as u64;
            if at < block_end {
                let from = usize::try_from(at - offset).unwrap_or_default();
                let available = usize::try_from(self.seen.min(block_end) - at).unwrap_or_default();
                let n = available.min(buf.len());
                buf[..n].copy_from_slice(&block[from..from + n]);
                return n;
            }
            offset = block_end;
        }
        0
    }

    /// Let go of the blocks wholly before `read - KEPT_BEHIND`.
    fn release_before(&mut self, read: u64) {
        while let Some(front) = self.blocks.front() {
            let front_end = self.base + front.len() as u64;
            if front.len() < front.capacity() || front_end + KEPT_BEHIND > read {
                return;
            }
            if let Some(block) = self.blocks.pop_front() {
                self.base = front_end;
                recycle_block(block);
            }
        }
    }

    /// What is left of the body (its blocks, in order) and its offset.
    fn take_rest(&mut self) -> (Vec<Vec<u8>>, u64) {
        (self.blocks.drain(..).collect(), self.base)
    }
}

impl Drop for FeedState {
    /// The blocks of a feed done with go back to the pool.
    fn drop(&mut self) {
        self.blocks.drain(..).for_each(recycle_block);
    }
}

struct FeedSink {
    feed: Arc<Feed>,
    received: u64,
    limit: Option<u64>,
    hasher: Sha256,
}

impl FeedSink {
    fn new(feed: Arc<Feed>, limit: Option<u64>) -> Self {
        Self { feed, received: 0, limit, hasher: Sha256::new() }
    }
}

impl DownloadSink for FeedSink {
    /// The index client calls this before every body, the first included:
    /// only a body the consumer has already taken bytes of makes it start over.
    fn restart(&mut self) -> io::Result<()> {
        self.received = 0;
        self.hasher = Sha256::new();
        let mut state = self.feed.lock();
        state.clear();
        if state.taken {
            state.restarted = true;
            self.feed.ready.notify_all();
        }
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.received += chunk.len() as u64;
        if self.limit.is_some_and(|limit| self.received > limit) {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, "more bytes than the expected size"));
        }
        // Hashed here, outside the lock: the unpacking thread only inflates.
        self.hasher.update(chunk);
        let mut state = self.feed.lock();
        state.append(chunk);
        if state.waiting && state.end - state.seen >= FEED_BATCH as u64 {
            state.waiting = false;
            self.feed.ready.notify_one();
        }
        Ok(())
    }

    fn full(&self) -> Option<Arc<tokio::sync::Notify>> {
        let state = self.feed.lock();
        (state.capped && state.end - state.base > BACKLOG).then(|| Arc::clone(&self.feed.room))
    }

    fn finish(&mut self) {
        let mut state = self.feed.lock();
        if !state.done {
            state.digest = Some(std::mem::take(&mut self.hasher).finalize().into());
            state.done = true;
        }
        drop(state);
        self.feed.ready.notify_all();
    }
}

impl Drop for FeedSink {
    /// The task that owns the sink ended without [`DownloadSink::finish`] (it
    /// panicked, or the runtime dropped it): the consumer must not wait forever.
    fn drop(&mut self) {
        self.finish();
    }
}

/// Reads a [`Feed`] as it fills; [`FeedReader::drain`] then takes what is
/// left of the body (`rest`, its blocks from offset `rest_offset`: the whole
/// body unless a streaming feed let go of what was read), whose sha256 the
/// sink computed over all of it.
struct FeedReader {
    feed: Arc<Feed>,
    /// What is left of the body, once drained, in blocks.
    rest: Vec<Vec<u8>>,
    /// The offset of `rest` in the body.
    rest_offset: u64,
    /// The body's size, once drained.
    total: u64,
    /// The next byte [`io::Read::read`] gives.
    position: u64,
}

impl FeedReader {
    fn new(feed: Arc<Feed>) -> Self {
        Self { feed, rest: Vec::new(), rest_offset: 0, total: 0, position: 0 }
    }

    /// The body's sha256 (hex), once it is complete.
    fn sha256_hex(&self) -> Option<String> {
        self.feed.lock().digest.map(hex::encode)
    }

    /// Wait until the consumer may take more bytes, and take them:
    /// `false` at the end of the body; an error if it started over.
    fn pull<'a>(
        feed: &'a Feed,
        mut state: std::sync::MutexGuard<'a, FeedState>,
    ) -> io::Result<(bool, std::sync::MutexGuard<'a, FeedState>)> {
        loop {
            if state.restarted {
                return Err(io::Error::other("the download started over"));
            }
            let unseen = state.end - state.seen;
            if unseen >= FEED_BATCH as u64 || (state.done && unseen > 0) {
                state.seen = state.end;
                state.taken = true;
                return Ok((true, state));
            }
            if state.done {
                return Ok((false, state));
            }
            state.waiting = true;
            state = feed.ready.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.waiting = false;
        }
    }

    /// Read to the end of the body and take what is left of it (`rest`).
    fn drain(&mut self) -> io::Result<()> {
        self.feed.uncap();
        let mut state = self.feed.lock();
        loop {
            let (more, next) = Self::pull(&self.feed, state)?;
            state = next;
            if !more {
                self.total = state.end;
                (self.rest, self.rest_offset) = state.take_rest();
                self.position = self.total;
                return Ok(());
            }
        }
    }

    /// Forget what was read: the body started over (it is kept whole now).
    fn reset(&mut self) {
        let mut state = self.feed.lock();
        state.restarted = false;
        state.taken = false;
        state.seen = 0;
        state.drop_read = false;
        state.capped = false;
        drop(state);
        self.feed.room.notify_one();
        self.rest.clear();
        (self.rest_offset, self.total, self.position) = (0, 0, 0);
    }

    /// The whole body, if it is all still here (`None` once a streaming feed
    /// let go of some); in one piece (a copy only when it is in several blocks).
    fn whole(&mut self) -> Option<&[u8]> {
        if self.rest_offset != 0 {
            return None;
        }
        if self.rest.len() > 1 {
            let whole = self.rest.concat();
            self.rest = vec![whole];
        }
        Some(self.rest.first().map_or(&[][..], Vec::as_slice))
    }

    /// The whole body in one block, taken (`None` as for [`FeedReader::whole`]).
    fn take_whole(&mut self) -> Option<Vec<u8>> {
        self.whole()?;
        Some(self.rest.pop().unwrap_or_default())
    }
}

impl Drop for FeedReader {
    /// A reader gone early must not leave the download waiting for it.
    fn drop(&mut self) {
        self.feed.uncap();
    }
}

impl ArchiveStream for FeedReader {
    fn unread_once_complete(&self) -> Option<u64> {
        let state = self.feed.lock();
        (state.done && !state.restarted).then(|| state.end - self.position)
    }
}

impl io::Read for FeedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut state = self.feed.lock();
        loop {
            if state.restarted {
                return Err(io::Error::other("the download started over"));
            }
            if self.position < state.seen {
                let n = state.copy_at(self.position, buf);
                self.position += n as u64;
                if state.drop_read {
                    let before = state.base;
                    state.release_before(self.position);
                    // The download waits once more than BACKLOG bytes are kept, and is
                    // woken when half of them are read: a wake per block read instead
                    // (a tokio wake-up, often an eventfd write and an epoll round) cost
                    // thousands per cold sync.
                    if state.capped && state.base != before && state.end - state.base <= BACKLOG / 2 {
                        self.feed.room.notify_one();
                    }
                }
                return Ok(n);
            }
            let (more, next) = Self::pull(&self.feed, state)?;
            state = next;
            if !more {
                return Ok(0);
            }
        }
    }
}

/// A verified download: in memory, or (past the store's in-memory limit) in a
/// temporary file `<cache>/archives-v1/.tmp*/<filename>`, removed on drop.
enum Download {
    Memory(Vec<u8>),
    File { _temp: tempfile::TempDir, path: PathBuf, file: File },
}

/// Collects a download while hashing and counting; refuses bytes past `limit`.
struct HashingSink {
    target: Download,
    /// Where a download too large for memory goes.
    spill_dir: PathBuf,
    in_memory_limit: u64,
    filename: String,
    hasher: Sha256,
    bytes: u64,
    limit: Option<u64>,
    overflow: bool,
}

impl HashingSink {
    /// Move what is in memory to a temporary file (a directory, so that the
    /// file inside carries its real name: the unpacker reads it).
    fn spill(&mut self) -> io::Result<()> {
        let Download::Memory(bytes) = &self.target else { return Ok(()) };
        fs::create_dir_all(&self.spill_dir)?;
        let temp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempdir_in(&self.spill_dir)?;
        let path = temp.path().join(&self.filename);
        let mut file = File::create(&path)?;
        file.write_all(bytes)?;
        self.target = Download::File { _temp: temp, path, file };
        Ok(())
    }
}

impl DownloadSink for HashingSink {
    fn restart(&mut self) -> io::Result<()> {
        match &mut self.target {
            Download::Memory(bytes) => bytes.clear(),
            Download::File { file, .. } => {
                file.set_len(0)?;
                file.rewind()?;
            }
        }
        self.hasher = Sha256::new();
        self.bytes = 0;
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.bytes += chunk.len() as u64;
        if self.limit.is_some_and(|limit| self.bytes > limit) {
            self.overflow = true;
            return Err(io::Error::other("more bytes than the expected size"));
        }
        self.hasher.update(chunk);
        if self.bytes > self.in_memory_limit {
            self.spill()?;
        }
        match &mut self.target {
            Download::Memory(bytes) => {
                bytes.extend_from_slice(chunk);
                Ok(())
            }
            Download::File { file, .. } => file.write_all(chunk),
        }
    }
}

fn read_local(url: &str, sink: &mut HashingSink) -> Result<(), ArtifactError> {
    let download = |reason: String| ArtifactError::Download { url: url.to_string(), reason };
    let path = url::Url::parse(url)
        .ok()
        .and_then(|u| u.to_file_path().ok())
        .ok_or_else(|| download("not a local file URL".to_string()))?;
    let mut file = File::open(&path).map_err(|e| download(format!("{}: {e}", path.display())))?;
    let mut buffer = vec![0_u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(|e| download(format!("{}: {e}", path.display())))?;
        if n == 0 {
            return Ok(());
        }
        if let Err(e) = sink.write(&buffer[..n]) {
            return Err(if sink.overflow {
                download(e.to_string())
            } else {
                ArtifactError::Io { path: path.clone(), reason: e.to_string() }
            });
        }
    }
}

fn download_error(error: DownloadError, request: &ArtifactRequest, spill_dir: &Path) -> ArtifactError {
    match error {
        DownloadError::Index(IndexError::OfflineMiss { .. }) => {
            ArtifactError::OfflineMiss { filename: request.filename.clone() }
        }
        DownloadError::Index(e) => ArtifactError::Download { url: request.url.clone(), reason: e.to_string() },
        DownloadError::Sink { source, .. } => {
            ArtifactError::Io { path: spill_dir.join(&request.filename), reason: source.to_string() }
        }
    }
}

/// The request's `sha256:<hex>` as lower-case hex.
fn expected_sha256(request: &ArtifactRequest) -> Result<Option<String>, ArtifactError> {
    let Some(hash) = &request.hash else { return Ok(None) };
    let hex = hash
        .split_once(':')
        .filter(|(algorithm, _)| algorithm.eq_ignore_ascii_case("sha256"))
        .map(|(_, hex)| hex.to_ascii_lowercase())
        .filter(|hex| is_sha256_hex(hex));
    hex.map(Some).ok_or_else(|| ArtifactError::Download {
        url: request.url.clone(),
        reason: format!("cannot check hash `{hash}`: expected `sha256:` and 64 hex digits"),
    })
}

/// The file name is used as a path component in the cache.
fn check_filename(filename: &str) -> Result<(), ArtifactError> {
    let plain = !filename.is_empty()
        && !filename.contains(['/', '\\', '\0'])
        && filename != "."
        && filename != ".."
        && !filename.starts_with(TEMP_PREFIX);
    if plain {
        Ok(())
    } else {
        Err(ArtifactError::InvalidWheel { filename: filename.to_string(), reason: "not a plain file name".to_string() })
    }
}

/// The unpacker's reason, without repeating the wheel's name.
fn invalid_reason(error: &WheelInstallError, filename: &str) -> String {
    match error {
        WheelInstallError::InvalidArchive { reason, .. } => reason.clone(),
        other => {
            let text = other.to_string();
            text.strip_prefix(&format!("`{filename}`: ")).map_or(text.clone(), str::to_string)
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ArtifactError {
    let path = path.to_path_buf();
    move |e| ArtifactError::Io { path, reason: e.to_string() }
}

impl BuildCache for ArtifactStore {
    fn fetch_archive(&self, request: &ArtifactRequest) -> Result<PathBuf, ArtifactError> {
        self.ensure_locked()?;
        check_filename(&request.filename)?;
        if let Some(hex) = expected_sha256(request)? {
            let archive = self.layout.archive(&hex, &request.filename);
            if archive.is_file() {
                return Ok(archive);
            }
        }
        if self.offline && !request.url.starts_with("file:") {
            return Err(ArtifactError::OfflineMiss { filename: request.filename.clone() });
        }
        let (hex, download, _memory) = self.download_verified(request)?;
        let archive = self.layout.archive(&hex, &request.filename);
        let archive_dir = self.layout.archive_dir(&hex);
        fs::create_dir_all(&archive_dir).map_err(io_error(&archive_dir))?;
        if !archive.is_file() {
            let kept = match &download {
                Download::Memory(bytes) => write_atomic(&archive, bytes),
                Download::File { path, .. } => fs::rename(path, &archive),
            };
            if let Err(e) = kept
                && !archive.is_file()
            {
                return Err(io_error(&archive)(e));
            }
        }
        drop(download);
        self.remember(request, &hex);
        Ok(archive)
    }

    fn built_wheel(&self, source_sha256: &str) -> Option<PreparedWheel> {
        let text = fs::read_to_string(self.layout.root().join(BUILT_DIR).join(source_sha256)).ok()?;
        let (hex, filename) = text.trim().split_once(' ')?;
        let unpacked = self.layout.unpacked(hex);
        unpacked.is_dir().then(|| PreparedWheel {
            filename: filename.to_string(),
            unpacked,
            sha256: hex.to_string(),
            downloaded: false,
        })
    }

    fn store_built_wheel(&self, source_sha256: Option<&str>, wheel: &Path) -> Result<PreparedWheel, ArtifactError> {
        self.ensure_locked()?;
        let filename = wheel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        check_filename(&filename)?;
        let bytes = fs::read(wheel).map_err(io_error(wheel))?;
        let hex = hex::encode(Sha256::digest(&bytes));
        let unpacked = self.layout.unpacked(&hex);
        if let Err(e) = unpack_wheel_bytes(&filename, &bytes, &unpacked) {
            return Err(ArtifactError::InvalidWheel { filename: filename.clone(), reason: invalid_reason(&e, &filename) });
        }
        if let Ok(wheel_name) = pybun_pep::WheelFilename::from_str(&filename) {
            let version = wheel_name.version.to_string();
            self.remember_name(wheel_name.name.as_ref(), &version, &filename, None, &hex);
        }
        if let Some(key) = source_sha256 {
            let path = self.layout.root().join(BUILT_DIR).join(key);
            write_atomic(&path, format!("{hex} {filename}\n").as_bytes()).map_err(io_error(&path))?;
        }
        Ok(PreparedWheel { filename, unpacked, sha256: hex, downloaded: false })
    }

    fn scratch_dir(&self) -> Result<PathBuf, ArtifactError> {
        self.ensure_locked()?;
        let dir = self.layout.root().join(SCRATCH_DIR);
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let temp = tempfile::Builder::new().prefix("build-").tempdir_in(&dir).map_err(io_error(&dir))?;
        Ok(temp.keep())
    }

    fn build_env_dir(&self, key: &str) -> PathBuf {
        self.layout.root().join(BUILD_ENVS_DIR).join(key)
    }

    fn environments_dir(&self) -> PathBuf {
        self.layout.root().join(crate::layout::ENVIRONMENTS_DIR)
    }

    fn test_discovery_dir(&self) -> PathBuf {
        self.layout.root().join(crate::layout::TEST_DISCOVERY_DIR)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::sync::Arc;
    use std::time::Duration;

    use pybun_index_http::DownloadSink as _;

    use super::{ArtifactStore, BACKLOG, FEED_BATCH, Feed, FeedReader, FeedSink, KEPT_BEHIND, STREAM_BLOCK, UNCAPPED_TAIL};

    fn feed() -> (FeedSink, FeedReader) {
        let feed = Arc::new(Feed::default());
        let sink = FeedSink::new(Arc::clone(&feed), None);
        (sink, FeedReader::new(feed))
    }

    /// Read everything on another thread; the bytes, or the error, within 10 s.
    fn read_all_elsewhere(mut reader: FeedReader) -> std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>> {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = sender.send(reader.read_to_end(&mut out).map(|_| out));
        });
        receiver
    }

    #[test]
    fn the_body_is_kept_once_in_the_room_reserved_at_the_start() {
        use sha2::{Digest as _, Sha256};
        let size = 3 * FEED_BATCH + 12_345;
        let body: Vec<u8> = (0..size).map(|i| u8::try_from(i % 251).unwrap()).collect();
        let feed = Arc::new(Feed::with_capacity(size as u64));
        let mut sink = FeedSink::new(Arc::clone(&feed), Some(size as u64));
        let writer = {
            let body = body.clone();
            std::thread::spawn(move || {
                sink.restart().unwrap();
                for chunk in body.chunks(1000) {
                    sink.write(chunk).unwrap();
                }
                sink.finish();
            })
        };
        let mut reader = FeedReader::new(feed);
        // Read part of it as the unpacker would, then the rest whole.
        let mut head = vec![0_u8; FEED_BATCH + 7];
        reader.read_exact(&mut head).unwrap();
        assert_eq!(head, body[..head.len()]);
        reader.drain().unwrap();
        writer.join().unwrap();
        assert_eq!(reader.whole(), Some(body.as_slice()));
        assert_eq!((reader.rest.len(), reader.rest[0].capacity()), (1, size), "one block of the reserved size: no second copy, no regrowth");
        assert_eq!(reader.sha256_hex().unwrap(), hex::encode(Sha256::digest(&body)));
    }

    /// A streaming feed asks the download to wait while more than
    /// [`BACKLOG`] bytes are unread, and lets it go on once the reader catches
    /// up or stops following the stream.
    #[test]
    fn a_streaming_feed_holds_the_download_back_while_the_reader_is_behind() {
        let (backlog, block) = (usize::try_from(BACKLOG).unwrap(), STREAM_BLOCK);
        let feed = Arc::new(Feed::streaming());
        let mut sink = FeedSink::new(Arc::clone(&feed), None);
        let mut reader = FeedReader::new(Arc::clone(&feed));
        sink.restart().unwrap();
        let chunk = vec![7_u8; block];
        for _ in 0..backlog / block {
            sink.write(&chunk).unwrap();
        }
        assert!(sink.full().is_none(), "BACKLOG bytes may wait");
        sink.write(&chunk).unwrap();
        let room = sink.full().expect("more than BACKLOG bytes unread: the download waits");
        // The reader catches up a little (its first block is let go of): the
        // download may go on, but a waiting one is not woken yet (it would
        // wait again at once)...
        reader.read_exact(&mut vec![0_u8; 2 * block]).unwrap();
        assert!(sink.full().is_none());
        assert!(!told(room.notified()), "BACKLOG bytes kept: not woken");
        // ... only once no more than half of it is kept.
        reader.read_exact(&mut vec![0_u8; backlog / 2]).unwrap();
        assert!(told(room.notified()), "half of BACKLOG kept: woken");
        // Behind again, then the reader stops following (drain): no more waiting.
        for _ in 0..(backlog / 2 + block) / block {
            sink.write(&chunk).unwrap();
        }
        assert!(sink.full().is_some());
        let drained = std::thread::spawn(move || reader.drain().map(|()| reader.total));
        // The drain waits for the end of the body, which the download may now send.
        for _ in 0..100 {
            if sink.full().is_none() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(sink.full().is_none(), "a draining reader does not hold the download back");
        sink.finish();
        assert_eq!(drained.join().unwrap().unwrap(), (backlog + block + backlog / 2 + block) as u64);
    }

    /// The last streaming downloads of a call are not held back: once
    /// nothing is queued and at most [`UNCAPPED_TAIL`] stream, they are let go
    /// on; before that, with more queued or more streaming, they are not.
    #[test]
    fn the_last_streaming_downloads_are_not_held_back() {
        use std::sync::atomic::Ordering;
        let cache = tempfile::tempdir().unwrap();
        let http = Arc::new(pybun_index_http::HttpIndex::new(pybun_index_http::IndexConfig::new(cache.path())).unwrap());
        let store = ArtifactStore::new(cache.path(), http, false);
        let feeds: Vec<Arc<Feed>> = (0..=UNCAPPED_TAIL).map(|_| Arc::new(Feed::streaming())).collect();
        let capped = || feeds.iter().filter(|feed| feed.lock().capped).count();
        store.streaming_lock().extend(feeds.iter().cloned());
        store.queued.store(1, Ordering::Release);
        store.uncap_the_tail();
        assert_eq!(capped(), feeds.len(), "more are queued");
        store.queued.store(0, Ordering::Release);
        store.uncap_the_tail();
        assert_eq!(capped(), feeds.len(), "more than UNCAPPED_TAIL stream");
        store.streaming_lock().pop();
        store.uncap_the_tail();
        assert_eq!(capped(), 1, "the last ones are let go on (not the one done with)");
    }

    /// Taking the last queued request for a whole download (no locked size
    /// here) also lets the one download still streaming go on.
    #[test]
    fn a_whole_download_taken_last_lets_the_streaming_one_go_on() {
        let cache = tempfile::tempdir().unwrap();
        let http = Arc::new(pybun_index_http::HttpIndex::new(pybun_index_http::IndexConfig::new(cache.path())).unwrap());
        let store = ArtifactStore::new(cache.path(), http, false);
        let feed = Arc::new(Feed::streaming());
        store.streaming_lock().push(Arc::clone(&feed));
        assert!(feed.lock().capped);
        let missing = cache.path().join("missing-1.0-py3-none-any.whl");
        let request = pybun_ports::ArtifactRequest {
            name: "missing".to_string(),
            version: "1.0".to_string(),
            filename: "missing-1.0-py3-none-any.whl".to_string(),
            url: format!("file://{}", missing.display()),
            hash: None,
            size: None,
        };
        assert!(store.fetch(&request).is_err(), "there is no such file");
        assert!(!feed.lock().capped, "nothing is queued and one download streams");
    }

    /// Whether the download was told to go on: a `Notify` permit is stored,
    /// and the future is then ready at once.
    fn told(notified: tokio::sync::futures::Notified<'_>) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async { tokio::time::timeout(Duration::from_millis(100), notified).await.is_ok() })
    }

    /// A streaming feed lets go of what was read (but the last 64 KiB) and
    /// reuses those blocks; what is left is the unread part, at its offset.
    #[test]
    fn a_streaming_feed_keeps_only_what_was_not_read() {
        use sha2::{Digest as _, Sha256};
        let size = 3 * 1024 * 1024 + 777;
        let body: Vec<u8> = (0..size).map(|i| u8::try_from(i % 251).unwrap()).collect();
        let feed = Arc::new(Feed::streaming());
        let mut sink = FeedSink::new(Arc::clone(&feed), Some(size as u64));
        let mut reader = FeedReader::new(Arc::clone(&feed));
        sink.restart().unwrap();
        let read = 2 * 1024 * 1024;
        let mut head = vec![0_u8; read];
        let mut written = 0;
        // Write a block, read what can be read, and so on: the reader follows the writer.
        while written < size {
            let n = (size - written).min(FEED_BATCH);
            sink.write(&body[written..written + n]).unwrap();
            written += n;
            let position = usize::try_from(reader.position).unwrap();
            if position < read && written - position >= FEED_BATCH {
                reader.read_exact(&mut head[position..(position + FEED_BATCH).min(read)]).unwrap();
            }
        }
        sink.finish();
        assert_eq!(head, body[..read]);
        let state = feed.lock();
        let kept_from = state.base;
        assert!(kept_from + KEPT_BEHIND + 256 * 1024 >= read as u64 && kept_from + KEPT_BEHIND <= read as u64, "{kept_from}");
        assert!(state.blocks.len() <= 6, "blocks read were let go of: {}", state.blocks.len());
        drop(state);
        reader.drain().unwrap();
        assert_eq!(reader.rest_offset, kept_from);
        assert_eq!(reader.rest.concat(), body[usize::try_from(kept_from).unwrap()..]);
        assert_eq!(reader.total, size as u64);
        assert!(reader.whole().is_none());
        assert_eq!(reader.sha256_hex().unwrap(), hex::encode(Sha256::digest(&body)), "hashed whole");
    }

    #[test]
    fn a_sink_dropped_without_finishing_ends_the_body() {
        let (mut sink, reader) = feed();
        let result = read_all_elsewhere(reader);
        sink.write(b"partial").unwrap();
        // The download task panicked or was dropped with its runtime: no finish() call.
        drop(sink);
        let bytes = result.recv_timeout(Duration::from_secs(10)).expect("the reader is woken").unwrap();
        assert_eq!(bytes, b"partial");
    }

    #[test]
    fn the_restart_before_the_first_body_is_not_a_retry() {
        let (mut sink, mut reader) = feed();
        // The index client announces every body, the first included.
        sink.restart().unwrap();
        sink.write(b"first bytes").unwrap();
        sink.restart().unwrap();
        sink.write(b"second body").unwrap();
        sink.finish();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"second body", "nothing of the cut body was taken: the reader goes on");
    }

    #[test]
    fn a_restart_after_bytes_were_taken_makes_the_reader_start_over() {
        let (mut sink, mut reader) = feed();
        sink.restart().unwrap();
        sink.write(&vec![1_u8; FEED_BATCH]).unwrap();
        let mut first = [0_u8; 16];
        reader.read_exact(&mut first).unwrap();
        sink.restart().unwrap();
        sink.write(b"again").unwrap();
        sink.finish();
        // What was taken of the cut body is still read (its unpacking is thrown away
        // later), then the restart is an error.
        let error = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(error.to_string(), "the download started over");
        assert!(reader.drain().is_err(), "still started over until reset");
        reader.reset();
        reader.drain().unwrap();
        assert_eq!(reader.whole(), Some(b"again".as_slice()));
    }
}
