//! `PackageIndex` port over HTTP: PEP 691/503 Simple API pages, PEP 658
//! metadata files, HTTP range requests into remote wheels, an on-disk HTTP
//! cache, find-links locations and offline mode.
//!
//! # Threading
//!
//! The port is blocking (the resolver is synchronous), but fetches run
//! concurrently: [`HttpIndex`] owns a small tokio runtime (2 worker threads).
//! `prefetch_*` hints spawn the fetch on that runtime at once; the blocking
//! [`PackageIndex::project`] / [`PackageIndex::metadata`] calls then wait for
//! the same memoized fetch (one fetch per key, however many callers).
//!
//! The blocking calls are meant for ordinary threads. Called from inside a
//! tokio runtime (any runtime, including this one's worker threads), they do
//! not call `block_on` there — that would panic — but wait on a short-lived
//! helper thread instead, which blocks the calling worker. Async code should
//! call them through `spawn_blocking`.

mod archive;
mod cache;
mod client;
mod dns;
mod download;
mod html;
mod parsed;
mod simple;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use pybun_pep::PackageName;
use pybun_ports::{DistFile, IndexError, MetadataOrigin, PackageIndex, ProjectFiles, RawMetadata};
use tokio::sync::OnceCell;
use tracing::debug;
use url::Url;

use crate::archive::RangeFailure;
use crate::cache::{Bucket, EntryHeader};
use crate::client::{ClientSettings, Fetcher, PageOwner};
use crate::parsed::CompactFiles;
pub use crate::download::{DownloadError, DownloadSink, DownloadTask};

/// Where and how [`HttpIndex`] looks for packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexConfig {
    /// Simple API base URLs: the default index first, then extra indexes, in
    /// priority order. The first index that knows a project wins.
    pub index_urls: Vec<String>,
    /// Local directories (paths or `file://` URLs) and `http(s)` URLs of HTML
    /// pages whose links are distribution files; their matching files are
    /// added to every project's files.
    pub find_links: Vec<String>,
    /// The cache root; HTTP responses live in `{cache_dir}/http-v1/`.
    pub cache_dir: PathBuf,
    /// Answer only from the cache, whatever its freshness; never touch the network.
    pub offline: bool,
    pub user_agent: String,
    /// Overall limit for one request (connect + response + body).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt on transport errors, 429 and 5xx.
    pub retries: u32,
    /// Delay before the first retry; doubled for each further one.
    pub retry_backoff: Duration,
}

impl IndexConfig {
    /// PyPI, no find-links, online, with default timeouts and retries.
    #[must_use]
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            index_urls: vec!["https://pypi.org/simple".to_string()],
            find_links: Vec::new(),
            cache_dir: cache_dir.into(),
            offline: false,
            user_agent: concat!("pybun/", env!("CARGO_PKG_VERSION")).to_string(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retries: 3,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// Why an [`HttpIndex`] could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid index URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("could not start the network runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A find-links location.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FindLinks {
    /// A directory (or a single file) on disk.
    Local { location: String, path: PathBuf },
    /// An HTML page of links.
    Remote { url: String },
}

type Memo<T> = Arc<OnceCell<Result<Arc<T>, IndexError>>>;

/// A project page in compact form (see [`compact_project_pages`]).
#[derive(Default)]
struct CompactEntry {
    /// The page's files, encoded by the task that fetched them, which also
    /// drops the decoded ones (so their memory is freed on the thread that
    /// allocated it, where the allocator gives it back at once).
    memo: Memo<CompactFiles>,
    /// The files decoded for the callers that still hold them.
    live: Weak<ProjectFiles>,
}

struct Inner {
    fetcher: Fetcher,
    index_urls: Vec<String>,
    find_links: Vec<FindLinks>,
    find_links_files: Vec<OnceCell<Result<Arc<Vec<DistFile>>, IndexError>>>,
    projects: Mutex<HashMap<PackageName, Memo<ProjectFiles>>>,
    /// Compact pages (in place of `projects` once [`compact_project_pages`]
    /// was called) and the cached names; shared by the indexes of one
    /// configuration in compact mode.
    shared: Arc<Shared>,
    metadata: Mutex<HashMap<String, Memo<RawMetadata>>>,
}

/// A [`PackageIndex`] over HTTP (see the crate documentation).
pub struct HttpIndex {
    inner: Arc<Inner>,
    handle: tokio::runtime::Handle,
    /// `Some` until dropped; shut down in the background so dropping never blocks or panics.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for HttpIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpIndex")
            .field("index_urls", &self.inner.index_urls)
            .field("find_links", &self.inner.find_links)
            .field("offline", &self.inner.fetcher.offline())
            .finish_non_exhaustive()
    }
}

impl HttpIndex {
    /// Check the configuration and start the runtime. The HTTP client is
    /// built on the first request (never when everything comes from the
    /// cache); if it cannot be built, that request fails with `Unreachable`.
    ///
    /// # Errors
    /// An index URL that is not `http(s)`, a find-links entry that is neither
    /// a URL nor a path, or a runtime that cannot start.
    pub fn new(config: IndexConfig) -> Result<Self, SetupError> {
        let mut index_urls = Vec::with_capacity(config.index_urls.len());
        for raw in &config.index_urls {
            let url = Url::parse(raw.trim())
                .map_err(|e| SetupError::InvalidUrl { url: raw.clone(), reason: e.to_string() })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(SetupError::InvalidUrl {
                    url: raw.clone(),
                    reason: "an index URL must be http or https".to_string(),
                });
            }
            index_urls.push(url.as_str().trim_end_matches('/').to_string());
        }
        let find_links = config.find_links.iter().map(|raw| find_links_of(raw)).collect::<Result<Vec<_>, _>>()?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pybun-index")
            .enable_all()
            .build()
            .map_err(SetupError::Runtime)?;
        let settings = ClientSettings {
            user_agent: config.user_agent.clone(),
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
        };
        let fetcher = Fetcher::new(
            settings,
            config.retries,
            config.retry_backoff,
            config.offline,
            cache::HttpCache::new(&config.cache_dir),
        );
        let inner = Arc::new(Inner {
            fetcher,
            index_urls,
            find_links_files: find_links.iter().map(|_| OnceCell::new()).collect(),
            find_links,
            projects: Mutex::new(HashMap::new()),
            shared: if compacting() { shared_compact_pages(&config) } else { Arc::default() },
            metadata: Mutex::new(HashMap::new()),
        });
        Ok(Self { inner, handle: runtime.handle().clone(), runtime: Some(runtime) })
    }

    /// Network requests actually sent so far (cache hits excluded, retries included).
    #[must_use]
    pub fn request_count(&self) -> usize {
        self.inner.fetcher.request_count()
    }

    /// Whether the HTTP client has been built (by a request or [`HttpIndex::warm_up`]).
    #[must_use]
    pub fn client_started(&self) -> bool {
        self.inner.fetcher.client_started()
    }

    fn project_memo(&self, name: &PackageName) -> Memo<ProjectFiles> {
        self.inner.project_memo(name)
    }

    fn metadata_memo(&self, file: &DistFile) -> Memo<RawMetadata> {
        self.inner.metadata_memo(file)
    }

    /// [`PackageIndex::project`] in compact mode: the files still held by a
    /// caller, else the compact form (fetched once) decoded on this thread.
    fn compact_project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, IndexError> {
        let memo = {
            let mut compacted = self.inner.shared.pages.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = compacted.entry(name.clone()).or_default();
            if let Some(files) = entry.live.upgrade() {
                return Ok(files);
            }
            entry.memo.clone()
        };
        let inner = Arc::clone(&self.inner);
        let owned = name.clone();
        let compact = self.block_on(async move { memo.get_or_init(|| inner.fetch_compact(owned)).await.clone() })?;
        let files = match compact.files() {
            Ok(files) => Arc::new(ProjectFiles { name: name.clone(), files }),
            Err(reason) => {
                debug!(%name, reason, "compact project page unreadable; reading it again");
                let inner = Arc::clone(&self.inner);
                let owned = name.clone();
                return self.block_on(async move { inner.fetch_project(owned).await });
            }
        };
        let mut compacted = self.inner.shared.pages.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = compacted.entry(name.clone()).or_default();
        match entry.live.upgrade() {
            Some(decoded_meanwhile) => Ok(decoded_meanwhile),
            None => {
                entry.live = Arc::downgrade(&files);
                Ok(files)
            }
        }
    }

    /// Run `future` to completion from a blocking caller (see the crate docs).
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        block_on_with(&self.handle, future)
    }
}

/// `handle.block_on(future)`, from a thread of another runtime too (then on a scoped thread).
pub(crate) fn block_on_with<F>(handle: &tokio::runtime::Handle, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return handle.block_on(future);
    }
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| handle.block_on(future));
        waiter.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

impl Drop for HttpIndex {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        if KEEP_CACHES_AT_DROP.load(std::sync::atomic::Ordering::Relaxed) {
            let projects = std::mem::take(&mut *self.inner.projects.lock().unwrap_or_else(PoisonError::into_inner));
            let metadata = std::mem::take(&mut *self.inner.metadata.lock().unwrap_or_else(PoisonError::into_inner));
            std::mem::forget((projects, metadata));
        }
    }
}

static KEEP_CACHES_AT_DROP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// For short-lived processes only: from now on, a dropped [`HttpIndex`]
/// leaves its in-memory caches (the files of every project page it read:
/// tens of thousands of strings in a big resolution) to the operating system
/// at exit instead of freeing them one by one, which took a sixth of a warm
/// `pybun lock`. A long-lived process (an editor server) must not call this:
/// every index it drops would leak.
pub fn keep_caches_at_drop() {
    KEEP_CACHES_AT_DROP.store(true, std::sync::atomic::Ordering::Relaxed);
}

static COMPACT_PROJECT_PAGES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// For long-lived processes that resolve again and again (an editor
/// server), before the first [`HttpIndex`] is created: from then on, an
/// index keeps the files of each project page in a compact encoded form
/// (about a third of the memory, one allocation) instead of as
/// [`DistFile`]s, and decodes them (no IO) on the calling thread for each
/// caller; while any caller holds them, the same files are handed out. A
/// one-shot command does not call this: it asks for each project once.
pub fn compact_project_pages() {
    COMPACT_PROJECT_PAGES.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn compacting() -> bool {
    COMPACT_PROJECT_PAGES.load(std::sync::atomic::Ordering::Relaxed)
}

/// What the indexes of one configuration share in compact mode (each index
/// has its own otherwise).
#[derive(Default)]
struct Shared {
    /// Compact project pages by name.
    pages: Mutex<HashMap<PackageName, CompactEntry>>,
    /// Project names with a page in the on-disk cache, listed once (editor completion, "did you mean").
    cached_names: std::sync::OnceLock<Vec<PackageName>>,
}

/// The shared state of each configuration, while an index of it lives.
static SHARED_COMPACT_PAGES: Mutex<Vec<(IndexConfig, Weak<Shared>)>> = Mutex::new(Vec::new());

/// In compact mode, the indexes of one configuration share their pages: a
/// caller may open an index for a burst of work and drop it (its runtime's
/// threads exit, and the allocator gives back what they used) while another
/// index of the same configuration keeps the pages.
fn shared_compact_pages(config: &IndexConfig) -> Arc<Shared> {
    let mut shared = SHARED_COMPACT_PAGES.lock().unwrap_or_else(PoisonError::into_inner);
    shared.retain(|(_, pages)| pages.strong_count() > 0);
    if let Some(pages) = shared.iter().find(|(of, _)| of == config).and_then(|(_, pages)| pages.upgrade()) {
        return pages;
    }
    let pages = Arc::default();
    shared.push((config.clone(), Arc::downgrade(&pages)));
    pages
}

fn find_links_of(raw: &str) -> Result<FindLinks, SetupError> {
    let invalid = |reason: String| SetupError::InvalidUrl { url: raw.to_string(), reason };
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(FindLinks::Remote { url: url.to_string() }),
        Ok(url) if url.scheme() == "file" => {
            let path = url.to_file_path().map_err(|()| invalid("not a local path".to_string()))?;
            Ok(FindLinks::Local { location: raw.to_string(), path })
        }
        // `C:\wheels` parses as a URL with scheme `c`.
        Ok(url) if url.scheme().len() > 1 => Err(invalid(format!("unsupported scheme `{}`", url.scheme()))),
        _ => Ok(FindLinks::Local { location: raw.to_string(), path: PathBuf::from(raw) }),
    }
}

impl PackageIndex for HttpIndex {
    /// Projects asked in this process (and found) plus those of this index
    /// with a page in the on-disk cache (scanned once).
    fn known_projects(&self) -> Vec<PackageName> {
        let mut names: std::collections::BTreeSet<PackageName> = self
            .inner
            .projects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, memo)| memo.get().is_some_and(Result::is_ok))
            .map(|(name, _)| name.clone())
            .collect();
        names.extend(
            self.inner
                .shared
                .pages
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter(|(_, entry)| entry.memo.get().is_some_and(Result::is_ok))
                .map(|(name, _)| name.clone()),
        );
        let cached = self.inner.shared.cached_names.get_or_init(|| {
            let prefixes: Vec<String> = self.inner.index_urls.iter().map(|url| format!("{url}/")).collect();
            self.inner
                .fetcher
                .cache
                .cached_page_urls()
                .iter()
                .filter(|url| prefixes.iter().any(|prefix| url.starts_with(prefix.as_str())))
                .filter_map(|url| url.trim_end_matches('/').rsplit('/').next().and_then(|n| n.parse().ok()))
                .collect()
        });
        names.extend(cached.iter().cloned());
        names.into_iter().collect()
    }

    fn project(&self, name: &PackageName) -> Result<Arc<ProjectFiles>, IndexError> {
        if compacting() {
            return self.compact_project(name);
        }
        let memo = self.project_memo(name);
        let inner = Arc::clone(&self.inner);
        let name = name.clone();
        self.block_on(async move { memo.get_or_init(|| inner.fetch_project(name)).await.clone() })
    }

    fn metadata(&self, name: &PackageName, file: &DistFile) -> Result<Arc<RawMetadata>, IndexError> {
        let memo = self.metadata_memo(file);
        let inner = Arc::clone(&self.inner);
        let (name, file) = (name.clone(), file.clone());
        self.block_on(async move { memo.get_or_init(|| inner.fetch_metadata(name, file)).await.clone() })
    }

    fn file_sha256(&self, file: &DistFile) -> Result<String, IndexError> {
        use sha2::Digest as _;
        let unreadable = |reason: String| IndexError::InvalidArchive { filename: file.filename.clone(), reason };
        if file.url.starts_with("file:") {
            let path = Url::parse(&file.url)
                .ok()
                .and_then(|url| url.to_file_path().ok())
                .ok_or_else(|| unreadable(format!("`{}` is not a local file URL", file.url)))?;
            let mut hasher = sha2::Sha256::new();
            std::fs::File::open(&path)
                .and_then(|mut opened| std::io::copy(&mut opened, &mut hasher))
                .map_err(|e| unreadable(format!("{}: {e}", path.display())))?;
            return Ok(hex::encode(hasher.finalize()));
        }
        // Streamed through a hasher: a large wheel is not held in memory.
        struct Hashing(sha2::Sha256);
        impl download::DownloadSink for Hashing {
            fn restart(&mut self) -> std::io::Result<()> {
                self.0 = sha2::Sha256::new();
                Ok(())
            }
            fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
                self.0.update(chunk);
                Ok(())
            }
        }
        let inner = Arc::clone(&self.inner);
        let url = file.url.clone();
        self.block_on(async move {
            let mut sink = Hashing(sha2::Sha256::new());
            match inner.fetcher.get_streamed(&url, &mut sink).await {
                Ok((200, _)) => Ok(hex::encode(sink.0.finalize())),
                Ok((status, _)) => Err(IndexError::HttpStatus { url, status }),
                Err(download::DownloadError::Index(error)) => Err(error),
                Err(other) => Err(IndexError::Unreachable { url, reason: other.to_string() }),
            }
        })
    }

    fn prefetch_project(&self, name: &PackageName) {
        if compacting() {
            let memo = self.inner.compact_memo(name);
            if !memo.initialized() {
                let inner = Arc::clone(&self.inner);
                let name = name.clone();
                self.handle.spawn(async move {
                    memo.get_or_init(|| inner.fetch_compact(name)).await;
                });
            }
            return;
        }
        let memo = self.project_memo(name);
        if memo.initialized() {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let name = name.clone();
        self.handle.spawn(async move {
            memo.get_or_init(|| inner.fetch_project(name)).await;
        });
    }

    fn prefetch_metadata(&self, name: &PackageName, file: &DistFile) {
        let memo = self.metadata_memo(file);
        if memo.initialized() {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let (name, file) = (name.clone(), file.clone());
        self.handle.spawn(async move {
            memo.get_or_init(|| inner.fetch_metadata(name, file)).await;
        });
    }

    /// The project's fetch, then — in the same task, as soon as its files are
    /// known — `pick` and the metadata fetch of the file it picks, then the
    /// same for each package the picker's `next` names.
    fn prefetch_candidate(&self, name: &PackageName, pick: pybun_ports::CandidatePick) {
        if self.inner.fetcher.offline() || compacting() {
            // Everything comes from the disk cache (or, in a long-lived
            // process that keeps pages compact, from memory after the first
            // time): guessing would cost more CPU than the waits it saves.
            drop(pick);
            self.prefetch_project(name);
            return;
        }
        self.handle.spawn(Inner::guess_ahead(Arc::clone(&self.inner), name.clone(), pick));
    }
}

impl Inner {
    /// See [`PackageIndex::prefetch_candidate`]. Boxed: it spawns itself.
    fn guess_ahead(
        inner: Arc<Self>,
        name: PackageName,
        pick: pybun_ports::CandidatePick,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let memo = inner.project_memo(&name);
            let project = memo.get_or_init(|| inner.fetch_project(name.clone())).await;
            let Ok(project) = project else { return };
            let Some(file) = pick.pick(project) else { return };
            let memo = inner.metadata_memo(&file);
            if !memo.initialized() {
                debug!(%name, filename = %file.filename, "prefetching the likely candidate's metadata");
            }
            let Ok(metadata) = memo.get_or_init(|| inner.fetch_metadata(name, file)).await else { return };
            for (next, pick) in pick.next(metadata) {
                tokio::spawn(Self::guess_ahead(Arc::clone(&inner), next, pick));
            }
        })
    }

    fn project_memo(&self, name: &PackageName) -> Memo<ProjectFiles> {
        let mut projects = self.projects.lock().unwrap_or_else(PoisonError::into_inner);
        projects.entry(name.clone()).or_default().clone()
    }

    fn metadata_memo(&self, file: &DistFile) -> Memo<RawMetadata> {
        let mut metadata = self.metadata.lock().unwrap_or_else(PoisonError::into_inner);
        metadata.entry(file.url.clone()).or_default().clone()
    }

    fn compact_memo(&self, name: &PackageName) -> Memo<CompactFiles> {
        let mut compacted = self.shared.pages.lock().unwrap_or_else(PoisonError::into_inner);
        compacted.entry(name.clone()).or_default().memo.clone()
    }

    /// [`Inner::fetch_project`], encoded: the decoded files are dropped here.
    async fn fetch_compact(&self, name: PackageName) -> Result<Arc<CompactFiles>, IndexError> {
        let project = self.fetch_project(name).await?;
        let compact = CompactFiles::new(&project.files);
        debug!(name = %project.name, files = project.files.len(), bytes = compact.size(), "project page compacted");
        Ok(Arc::new(compact))
    }

    /// First-match over the indexes, plus every find-links file of the project.
    async fn fetch_project(&self, name: PackageName) -> Result<Arc<ProjectFiles>, IndexError> {
        let mut found = false;
        let mut files = Vec::new();
        for index in &self.index_urls {
            let url = format!("{index}/{name}/");
            let owner = PageOwner { name: name.as_ref(), index };
            let page = self
                .fetcher
                .get_project_page(&url, owner, |page| {
                    // As `simple::files_of`, in place: a page's files are not copied.
                    let mut files = simple::parse_page(page, index)?;
                    files.retain(|file| simple::belongs_to(&file.filename, &name));
                    Ok(files)
                })
                .await?;
            match page.status {
                200 => {
                    files = page.files;
                    found = true;
                    debug!(%name, index, files = files.len(), "project found");
                    break;
                }
                404 | 410 => debug!(%name, index, "not on this index"),
                status => return Err(IndexError::HttpStatus { url, status }),
            }
        }
        for (position, location) in self.find_links.iter().enumerate() {
            let listed = self.find_links_files[position].get_or_init(|| self.list_find_links(location)).await;
            let matching = simple::files_of(listed.as_ref().map_err(Clone::clone)?, &name);
            found |= !matching.is_empty();
            files.extend(matching);
        }
        if !found {
            return Err(IndexError::NotFound { name });
        }
        Ok(Arc::new(ProjectFiles { name, files }))
    }

    /// Every file a find-links location offers.
    async fn list_find_links(&self, location: &FindLinks) -> Result<Arc<Vec<DistFile>>, IndexError> {
        match location {
            FindLinks::Local { location, path } => Ok(Arc::new(list_local(location, path))),
            FindLinks::Remote { url } => {
                let page = self.fetcher.get_cached(Bucket::FindLinks, url, simple::HTML_ACCEPT).await?;
                if page.status != 200 {
                    return Err(IndexError::HttpStatus { url: url.clone(), status: page.status });
                }
                let text = String::from_utf8_lossy(page.body());
                Ok(Arc::new(simple::parse_html(&text, &page.final_url, url)))
            }
        }
    }

    async fn fetch_metadata(&self, name: PackageName, file: DistFile) -> Result<Arc<RawMetadata>, IndexError> {
        if file.url.starts_with("file:") {
            return read_local_metadata(&file).map(Arc::new);
        }
        // A direct URL may serve other bytes tomorrow: its key carries the hash the lock pins.
        let key = match &file.sha256 {
            // Keys end with the URL (`cache::key_url`).
            Some(hash) if file.index == file.url => format!("metadata\nsha256:{hash}\n{}", file.url),
            _ => format!("metadata\n{}", file.url),
        };
        if let Some(entry) = self.fetcher.cache.read(Bucket::Metadata, &key)
            && let Some(origin) = entry.header.extra.as_deref().and_then(origin_from_str)
        {
            debug!(url = %file.url, cache = "hit", "metadata");
            return Ok(Arc::new(RawMetadata { bytes: entry.into_body(), origin }));
        }
        if self.fetcher.offline() {
            return Err(IndexError::OfflineMiss { url: file.url.clone() });
        }
        let metadata = self.fetch_remote_metadata(&file).await?;
        debug!(%name, filename = %file.filename, origin = ?metadata.origin, "metadata fetched");
        let header = EntryHeader {
            url: file.url.clone(),
            final_url: file.url.clone(),
            status: 200,
            content_type: None,
            etag: None,
            last_modified: None,
            max_age: None,
            stored_at: cache::now(),
            immutable: true,
            extra: Some(origin_str(metadata.origin).to_string()),
        };
        self.fetcher.cache.store(Bucket::Metadata, &key, &header, &metadata.bytes);
        Ok(Arc::new(metadata))
    }

    /// PEP 658 file, else range requests into a wheel, else a full download.
    async fn fetch_remote_metadata(&self, file: &DistFile) -> Result<RawMetadata, IndexError> {
        if file.has_metadata {
            let url = format!("{}.metadata", file.url);
            let response = self.fetcher.get(&url, &[]).await?;
            if response.status == 200 {
                return Ok(RawMetadata { bytes: response.body, origin: MetadataOrigin::Pep658 });
            }
            debug!(url, status = response.status, "no PEP 658 metadata after all");
        }
        let is_wheel = file.filename.to_ascii_lowercase().ends_with(".whl");
        if is_wheel {
            match archive::wheel_metadata_by_range(&self.fetcher, &file.url).await {
                Ok(bytes) => return Ok(RawMetadata { bytes, origin: MetadataOrigin::WheelRange }),
                Err(RangeFailure::Fatal(e)) => return Err(e),
                Err(RangeFailure::WholeFile(body)) => {
                    debug!(url = %file.url, "the server ignores ranges; reading the whole wheel");
                    return whole_wheel(file, &body);
                }
                Err(RangeFailure::Fallback(reason)) => {
                    debug!(url = %file.url, reason, "range requests failed; downloading the wheel");
                }
            }
        }
        let response = self.fetcher.get(&file.url, &[]).await?;
        if response.status != 200 {
            return Err(IndexError::HttpStatus { url: file.url.clone(), status: response.status });
        }
        if is_wheel {
            whole_wheel(file, &response.body)
        } else {
            archive::verify_sha256(&file.filename, &response.body, file.sha256.as_deref())?;
            let bytes = archive::sdist_pkg_info(&file.filename, &response.body)?;
            Ok(RawMetadata { bytes, origin: MetadataOrigin::SdistPkgInfo })
        }
    }
}

fn whole_wheel(file: &DistFile, body: &[u8]) -> Result<RawMetadata, IndexError> {
    archive::verify_sha256(&file.filename, body, file.sha256.as_deref())?;
    let bytes = archive::wheel_metadata(&file.filename, body)?;
    Ok(RawMetadata { bytes, origin: MetadataOrigin::WheelDownload })
}

/// The files in a find-links directory (or the file itself), sorted by name.
fn list_local(location: &str, path: &Path) -> Vec<DistFile> {
    let paths: Vec<PathBuf> = if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                paths.sort();
                paths
            }
            Err(e) => {
                debug!(location, error = %e, "unreadable find-links directory");
                Vec::new()
            }
        }
    };
    paths
        .into_iter()
        .filter_map(|path| {
            let metadata = std::fs::metadata(&path).ok().filter(std::fs::Metadata::is_file)?;
            let filename = path.file_name()?.to_str()?.to_string();
            let absolute = std::path::absolute(&path).ok()?;
            let url = Url::from_file_path(&absolute).ok()?.to_string();
            Some(DistFile { size: Some(metadata.len()), ..DistFile::new(filename, url, location.to_string()) })
        })
        .collect()
}

fn read_local_metadata(file: &DistFile) -> Result<RawMetadata, IndexError> {
    let error = |reason: String| IndexError::InvalidArchive { filename: file.filename.clone(), reason };
    let path = Url::parse(&file.url)
        .ok()
        .and_then(|url| url.to_file_path().ok())
        .ok_or_else(|| error(format!("`{}` is not a local file URL", file.url)))?;
    let bytes = std::fs::read(&path).map_err(|e| error(format!("{}: {e}", path.display())))?;
    archive::verify_sha256(&file.filename, &bytes, file.sha256.as_deref())?;
    let metadata = if file.filename.to_ascii_lowercase().ends_with(".whl") {
        archive::wheel_metadata(&file.filename, &bytes)?
    } else {
        archive::sdist_pkg_info(&file.filename, &bytes)?
    };
    Ok(RawMetadata { bytes: metadata, origin: MetadataOrigin::Local })
}

fn origin_str(origin: MetadataOrigin) -> &'static str {
    match origin {
        MetadataOrigin::Pep658 => "pep658",
        MetadataOrigin::WheelRange => "wheel-range",
        MetadataOrigin::WheelDownload => "wheel-download",
        MetadataOrigin::SdistPkgInfo => "sdist-pkg-info",
        MetadataOrigin::Local => "local",
    }
}

fn origin_from_str(text: &str) -> Option<MetadataOrigin> {
    Some(match text {
        "pep658" => MetadataOrigin::Pep658,
        "wheel-range" => MetadataOrigin::WheelRange,
        "wheel-download" => MetadataOrigin::WheelDownload,
        "sdist-pkg-info" => MetadataOrigin::SdistPkgInfo,
        "local" => MetadataOrigin::Local,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn the_http_client_is_built_only_for_requests() {
        let cache = tempfile::tempdir().unwrap();
        let mut config = IndexConfig::new(cache.path());
        config.index_urls = vec!["http://127.0.0.1:9/simple".to_string()];
        config.retries = 0;
        config.offline = true;
        let index = HttpIndex::new(config.clone()).unwrap();
        let name = PackageName::from_str("demo").unwrap();
        assert!(matches!(index.project(&name), Err(IndexError::OfflineMiss { .. })));
        let file = DistFile {
            filename: "demo-1.0.tar.gz".to_string(),
            url: "http://127.0.0.1:9/files/demo-1.0.tar.gz".to_string(),
            index: "http://127.0.0.1:9/simple".to_string(),
            sha256: None,
            size: None,
            requires_python: None,
            yanked: None,
            upload_time: None,
            has_metadata: true,
        };
        assert!(matches!(index.metadata(&name, &file), Err(IndexError::OfflineMiss { .. })));
        assert_eq!(index.request_count(), 0);
        assert!(!index.inner.fetcher.client_started(), "offline runs never set up TLS");

        // Online, a cached (fresh) answer needs no client either.
        let url = "http://127.0.0.1:9/simple/demo/";
        let key = format!("{}\n{url}", simple::SIMPLE_ACCEPT);
        let header = EntryHeader {
            url: url.to_string(),
            final_url: url.to_string(),
            status: 404,
            content_type: None,
            etag: None,
            last_modified: None,
            max_age: Some(3600),
            stored_at: cache::now(),
            immutable: false,
            extra: None,
        };
        index.inner.fetcher.cache.write(Bucket::Simple, &key, &header, b"").unwrap();
        config.offline = false;
        let online = HttpIndex::new(config).unwrap();
        assert_eq!(online.project(&name), Err(IndexError::NotFound { name: name.clone() }));
        assert_eq!(online.request_count(), 0);
        assert!(!online.inner.fetcher.client_started());
        // The first request builds it.
        assert!(matches!(online.metadata(&name, &file), Err(IndexError::Unreachable { .. })));
        assert!(online.inner.fetcher.client_started());
    }

    /// A warm-up builds the client and resolves the host in the background,
    /// and sends nothing; offline it does nothing.
    #[test]
    fn a_warm_up_builds_the_client_and_sends_nothing() {
        let cache = tempfile::tempdir().unwrap();
        let mut config = IndexConfig::new(cache.path());
        config.offline = true;
        let offline = HttpIndex::new(config.clone()).unwrap();
        offline.warm_up("https://localhost/files/demo-1.0-py3-none-any.whl");
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!offline.client_started());

        config.offline = false;
        let online = HttpIndex::new(config).unwrap();
        online.warm_up("not a URL");
        online.warm_up("https://localhost/files/demo-1.0-py3-none-any.whl");
        for _ in 0..200 {
            if online.client_started() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(online.client_started());
        assert_eq!(online.request_count(), 0);
    }
}
