//! The global artifact cache: wheels downloaded once, verified, and unpacked
//! once into a content-addressed directory that environments link from.
//!
//! * [`ArtifactStore`] implements [`pybun_ports::ArtifactCache`]. A cached
//!   wheel costs a stat or two and no network; a missing one is downloaded
//!   (with [`pybun_index_http::HttpIndex`]'s client, up to
//!   [`DEFAULT_CONCURRENCY`] at once; `file://` URLs are read from disk)
//!   into memory (past 128 MiB, a temporary file) while hashed and counted,
//!   checked against the locked `sha256` and size, and unpacked with
//!   [`pybun_fs_os::unpack_wheel_bytes`] (atomic) into `wheels-v2/<sha256>/`.
//!   The wheel archive itself is not kept.
//! * Several PyBun processes share a cache: users hold a shared lock on
//!   `<cache>/.lock`; [`clean`], [`clean_package`] and [`prune`] need it
//!   exclusively and refuse ([`CacheError::Busy`]) while anyone else holds it.
//! * It also implements [`pybun_ports::BuildCache`]: source archives are
//!   fetched and verified the same way (kept, not unpacked), wheels built
//!   from them are taken in like downloaded ones and remembered under
//!   `built-v1/<key>`, builds get scratch directories and build environments.
//! * [`cache_dir_default`], [`cache_info`]: where the cache is and what it holds.
//!
//! # Layout
//!
//! ```text
//! <cache>/.lock                               shared by users, exclusive for clean / prune
//! <cache>/wheels-v2/<sha256>/                 an unpacked wheel (the archive's sha256, hex)
//! <cache>/wheels-v2/.tmp-unpack-*/            unpacks in progress
//! <cache>/wheels-v2/by-url/<sha256 of url>    the archive's sha256 for an http(s) URL
//! <cache>/wheels-v2/by-name/<name>/<sha256>   the entries of a project (JSON origin)
//! <cache>/archives-v1/<sha256>/<filename>     a verified source archive (sdists, for builds)
//! <cache>/archives-v1/.tmp*/                  downloads too large for memory, in progress
//! <cache>/scratch-v1/                         scratch space of builds
//! <cache>/built-v1/<key>                      `<sha256> <filename>` of a wheel built from a source archive
//! <cache>/build-envs-v1/<key>/                a build environment (a venv)
//! <cache>/http-v1/                            the index client's HTTP cache
//! ```

mod layout;
mod manage;
mod store;

pub use layout::{ARCHIVES_DIR, BUILD_ENVS_DIR, BUILT_DIR, ENVIRONMENTS_DIR, HTTP_DIR, LOCK_FILE, SCRATCH_DIR, TEST_DISCOVERY_DIR, WHEELS_DIR};
pub use manage::{
    CacheDirEnv, CacheError, CacheInfo, CleanOutcome, PruneOutcome, SectionInfo, cache_dir_default, cache_info, clean,
    clean_package, prune,
};
pub use store::{ArtifactStore, DEFAULT_CONCURRENCY, DEFAULT_IN_MEMORY_LIMIT, DEFAULT_MEMORY_BUDGET};
