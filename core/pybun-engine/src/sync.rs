//! `pybun sync` / `pybun install`: make the project's environment match the lock.
//!
//! 1. Lock (re-locking a stale lock unless `--locked`/`--frozen`).
//! 2. Pick the interpreter: the existing `.venv`'s when it still satisfies
//!    the request, else by `--python` > `.python-version` > `requires-python`.
//! 3. Open or create the venv.
//! 4. Plan: the lock's packages whose markers hold for this interpreter, each
//!    with its best wheel by tag priority; compare with what is installed.
//! 5. Fetch every wheel needed (verified, cached) *before* touching the
//!    environment, so a hash mismatch or a failed download changes nothing.
//!    Into an environment with nothing installed yet, a downloaded wheel is
//!    installed as soon as it is unpacked, while the others download
//!    ([`EarlyInstalls`]); if the sync
//!    then fails in this step, those are uninstalled again.
//! 6. Remove extraneous and outdated distributions, install the missing ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

use pybun_diagnostics::{Code, Diagnostic};
use pybun_env::{Interpreter, Tags};
use pybun_lockfile::{ExportSelection, Lock, LockedPackage, Source, reachable};
use pybun_pep::Version;
use pybun_ports::{
    ArtifactCache, ArtifactError, ArtifactRequest, BuildCache, BuildFrontend, EnvironmentError, Environments,
    Event, FileSystem, InstalledDist, Interpreters, LinkMode, PreparedWheel, Reporter, Venv, VenvOptions,
    WheelToInstall,
};

use crate::build::Builder;
use crate::interpreter::{PythonChoice, choose_interpreter};
use crate::prefetch::{Prefetch, interpreter_independent_wheels};
use crate::lock::{IndexOpener, IndexSettings, LockRequest, LockSettings, LockStatus, lock};
use crate::project::load_project;
use crate::{Failure, print_lock};

/// How much `sync` may change the lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LockMode {
    /// Re-lock first when the lock is missing or stale.
    #[default]
    Auto,
    /// Fail when the lock is missing or stale (`--locked`).
    Locked,
    /// Use the lock as it is, without checking it against `pyproject.toml` (`--frozen`).
    Frozen,
}

/// What to sync.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    pub directory: PathBuf,
    pub index: IndexSettings,
    pub settings: LockSettings,
    /// `--python`: a version, a range or a path.
    pub python: Option<String>,
    pub lock_mode: LockMode,
    /// The project's extras and groups to install (the `dev` group is in by default).
    pub selection: ExportSelection,
    /// `None`: detect (clone, else hardlink, else copy).
    pub link_mode: Option<LinkMode>,
    pub compile_bytecode: bool,
    /// The environment directory [default: `<project>/.venv`].
    pub venv_dir: Option<PathBuf>,
}

/// The ports `sync` (and `add`, `remove`, `install`, `venv`) need.
pub struct SyncPorts<'a> {
    pub fs: &'a dyn FileSystem,
    pub open_index: IndexOpener<'a>,
    pub interpreters: &'a dyn Interpreters,
    pub environments: &'a dyn Environments,
    pub artifacts: &'a dyn ArtifactCache,
    pub build_cache: &'a dyn BuildCache,
    pub frontend: &'a dyn BuildFrontend,
    pub reporter: &'a dyn Reporter,
}

/// One change made to the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageChange {
    pub name: String,
    pub version: String,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    Installed,
    Removed,
    /// Replaced an installed version.
    Updated { from: String },
}

/// What `sync` did.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    pub venv: PathBuf,
    pub venv_created: bool,
    pub python: PathBuf,
    pub python_version: String,
    /// Why this interpreter (which rule won).
    pub python_reason: String,
    pub lock_path: PathBuf,
    pub lock_status: LockStatus,
    /// Sorted by name.
    pub changes: Vec<PackageChange>,
    /// Distributions already as the lock wants them.
    pub unchanged: usize,
    /// Wheels downloaded (the rest came from the cache).
    pub downloaded: usize,
    pub warnings: Vec<Diagnostic>,
}

/// How a wanted package gets installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WantedKind {
    /// A compatible wheel (`filename`).
    Wheel,
    /// Built from the sdist `filename` (no compatible wheel).
    Sdist,
    /// The project itself, editable (PEP 660).
    Editable,
    /// Built from a source tree (a direct URL requirement naming a directory).
    Directory,
}

/// What a cached environment (`pybun run`'s, a build environment) holding
/// exactly `wanted` for `interpreter` is keyed by: the interpreter, and each
/// package's name, version and file, with the URL and locked hash of a
/// direct URL (so other bytes at the same URL make another environment).
pub(crate) fn environment_key_text(interpreter: &Interpreter, wanted: &[Wanted<'_>]) -> String {
    let mut text = format!("{}\n{}\n", interpreter.sys_executable.display(), interpreter.python_full_version);
    for want in wanted {
        text.push_str(&format!("{}=={} {}", want.package.name, want.package.version, want.filename));
        if let Source::Url(url) | Source::Directory(url) = &want.package.source {
            text.push_str(&format!(" {url} {}", locked_sha256(want.package).unwrap_or_default()));
        }
        text.push('\n');
    }
    text
}

/// A locked package chosen for this interpreter, and the file to install it from.
#[derive(Debug, Clone)]
pub(crate) struct Wanted<'a> {
    pub(crate) package: &'a LockedPackage,
    pub(crate) filename: String,
    pub(crate) kind: WantedKind,
}

/// Sync the project's environment with its lock.
///
/// # Errors
/// A [`Failure`] for an unreadable project, a failed or stale lock, no
/// matching interpreter, an unusable venv directory, a package without a
/// compatible wheel, a failed download or hash mismatch (the environment is
/// then untouched), or a failed installation.
pub fn sync(request: &SyncRequest, ports: &SyncPorts<'_>) -> Result<SyncOutcome, Failure> {
    let loaded = load_project(ports.fs, &request.directory)?;
    let mut warnings = Vec::new();

    // 1. The lock.
    let (lock_value, lock_path, lock_status) = match request.lock_mode {
        LockMode::Frozen => {
            let printed = print_lock(&loaded.root, ports.fs)?;
            (printed.lock, printed.path, LockStatus::UpToDate)
        }
        mode => {
            let outcome = lock(
                &LockRequest {
                    directory: loaded.root.clone(),
                    index: request.index.clone(),
                    settings: request.settings.clone(),
                    // Keep the options the lock was made with unless new ones are given.
                    keep_settings: request.settings == LockSettings::default(),
                    check: mode == LockMode::Locked,
                    upgrade: false,
                    format: None,
                    script: None,
                },
                ports.fs,
                ports.open_index,
                ports.reporter,
            )?;
            warnings.extend(outcome.warnings);
            (outcome.lock, outcome.path, outcome.status)
        }
    };

    // 2. The interpreter and 3. the venv.
    let venv_dir = request.venv_dir.clone().unwrap_or_else(|| loaded.root.join(".venv"));
    let existing = ports.environments.open_venv(&venv_dir).map_err(environment_failure)?;
    let prefetch = if existing.is_none() {
        // A new venv: the cache may get ready for likely downloads while the
        // interpreter is chosen (and probed), and the wheels every
        // interpreter would take are fetched meanwhile. An existing venv's
        // sync (a no-op, most often) has nothing to overlap: no hint, no
        // stats. Only packages needed without a marker count: one for another
        // platform is never downloaded here, and would ask for a warm-up on
        // every new venv.
        let needed: Vec<&LockedPackage> = reachable(&lock_value, &request.selection)
            .into_iter()
            .filter(|reach| reach.marker.is_true())
            .map(|reach| reach.package)
            .collect();
        let projects: Vec<(&str, &str)> =
            needed.iter().filter_map(|p| p.files.first().map(|f| (p.name.as_str(), f.url.as_str()))).collect();
        ports.artifacts.expect_downloads(&projects);
        Some(Prefetch::new(interpreter_independent_wheels(&needed))).filter(|prefetch| !prefetch.is_empty())
    } else {
        None
    };
    std::thread::scope(|scope| {
        if let Some(prefetch) = &prefetch {
            scope.spawn(|| prefetch.run(ports.artifacts));
        }
        let requires_python = loaded.project.requires_python.as_ref().map(|r| r.value.clone());
        let choice = choose_interpreter(
            ports.fs,
            ports.interpreters,
            &loaded.root,
            request.python.as_deref(),
            requires_python.as_ref(),
            existing.as_ref().map(|venv| &venv.interpreter),
        )?;
        let mut python_reason = String::new();
        let (venv, venv_created) = match (existing, choice) {
            (Some(venv), PythonChoice::Existing { .. }) => {
                python_reason = format!(
                    "the existing environment `{}` uses Python {}, which satisfies the project",
                    venv.root.display(),
                    venv.interpreter.python_full_version
                );
                (venv, false)
            }
            (existing, choice) => {
                if let PythonChoice::New { reason, .. } = &choice {
                    python_reason.clone_from(reason);
                }
                let interpreter = choice.interpreter().clone();
                let venv = ports
                    .environments
                    .create_venv(
                        &venv_dir,
                        &interpreter,
                        &VenvOptions {
                            prompt: None,
                            system_site_packages: false,
                            // Another interpreter's venv, or one whose interpreter is gone.
                            clear: existing.is_some() || ports.fs.exists(&venv_dir.join("pyvenv.cfg")),
                        },
                    )
                    .map_err(environment_failure)?;
                ports.reporter.report(Event::VenvCreated {
                    path: venv.root.clone(),
                    python: venv.interpreter.python_full_version.clone(),
                });
                (venv, true)
            }
        };

        // 4. The plan.
        let editable_project = editable_project_name(&loaded.project, &lock_value);
        let wanted = wanted_packages(&lock_value, &request.selection, &venv.interpreter, editable_project.as_deref())?;
        let installed = ports.environments.installed(&venv).map_err(environment_failure)?;
        let plan = plan_changes(&wanted, &installed, &|want, dist| same_source(ports.fs, want, dist));
        ports.reporter.report(Event::SyncPlanned { install: plan.install.len(), remove: plan.remove.len() });

        // 5. Fetch and build before touching the environment (but see `EarlyInstalls`).
        let index = request.index.resolved(&loaded.project);
        let early = (installed.is_empty() && !request.compile_bytecode)
            .then(|| EarlyInstalls::new(ports.environments, &venv, request.link_mode));
        let (prepared, downloaded) =
            prepare(&plan.install, &loaded.root, &venv.interpreter, &index, ports, early.as_ref(), prefetch.as_ref())?;

        // 6. Remove, then install.
        let mut changes = Vec::new();
        for dist in &plan.remove {
            ports.environments.uninstall(&venv, dist).map_err(environment_failure)?;
            ports.reporter.report(Event::Removed { name: dist.name.clone(), version: dist.version.clone() });
            if !plan.install.iter().any(|w| w.package.name == dist.name) {
                changes.push(PackageChange { name: dist.name.clone(), version: dist.version.clone(), kind: ChangeKind::Removed });
            }
        }
        let results = install_prepared(ports.environments, &venv, &prepared, early, request.link_mode, request.compile_bytecode);
        for (result, wanted) in results.into_iter().zip(&plan.install) {
            result.map_err(environment_failure)?;
            let name = wanted.package.name.clone();
            let version = wanted.package.version.clone();
            ports.reporter.report(Event::Installed { name: name.clone(), version: version.clone() });
            let kind = match plan.remove.iter().find(|d| d.name == name) {
                Some(old) => ChangeKind::Updated { from: old.version.clone() },
                None => ChangeKind::Installed,
            };
            changes.push(PackageChange { name, version, kind });
        }
        changes.sort_by(|a, b| a.name.cmp(&b.name));

        // Remember what this environment was synced from, so `pybun run` can tell
        // with two reads and a hash that nothing needs doing.
        // A `--frozen` sync may have used a stale lock: no stamp then, so the
        // next `pybun run` re-locks and syncs.
        if request.lock_mode == LockMode::Frozen {
            let path = venv.root.join(SYNC_STAMP);
            ports.fs.remove_file(&path).map_err(|e| Failure::io(&path, &e, "remove"))?;
        } else if let Some(stamp) = sync_stamp(ports.fs, &loaded.root, &lock_path, &request.selection) {
            let path = venv.root.join(SYNC_STAMP);
            if ports.fs.read(&path).ok().as_deref() != Some(stamp.as_bytes()) {
                ports.fs.write_atomic(&path, stamp.as_bytes()).map_err(|e| Failure::io(&path, &e, "write"))?;
            }
        }

        Ok(SyncOutcome {
            python: venv.python.clone(),
            python_version: venv.interpreter.python_full_version.clone(),
            python_reason,
            venv: venv.root,
            venv_created,
            lock_path,
            lock_status,
            changes,
            unchanged: plan.unchanged,
            downloaded,
            warnings,
        })
    })
}

/// The file in a synced venv naming what it was synced from.
pub(crate) const SYNC_STAMP: &str = ".pybun-sync-stamp";

/// sha256 over `pyproject.toml`, the lock and the selection: equal stamps
/// mean a sync would change nothing (the environment is PyBun's to manage).
pub(crate) fn sync_stamp(fs: &dyn FileSystem, root: &Path, lock_path: &Path, selection: &ExportSelection) -> Option<String> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(fs.read(&root.join("pyproject.toml")).ok()?);
    hasher.update(b"\0lock\0");
    hasher.update(fs.read(lock_path).ok()?);
    // A changed `.python-version` may ask for another interpreter.
    hasher.update(b"\0python-version\0");
    hasher.update(fs.read(&root.join(".python-version")).unwrap_or_default());
    hasher.update(format!("\0{:?}", selection).as_bytes());
    Some(hex::encode(hasher.finalize()))
}


/// The project's normalized name when it is installed itself (it has a `[build-system]`).
fn editable_project_name(project: &pybun_project::Project, lock: &Lock) -> Option<String> {
    if !project.has_build_system {
        return None;
    }
    lock.packages.iter().find(|p| p.source == Source::Project).map(|p| p.name.clone())
}

/// Wheels installed as soon as they are downloaded while the others are
/// still downloading (the link work then overlaps the downloads instead of
/// following them). Only into an environment with nothing installed yet:
/// a new wheel may replace files another distribution owns, and uninstalling
/// it again would then break that one. If the sync fails before installing
/// the rest, they are uninstalled ([`EarlyInstalls::roll_back`]).
pub(crate) struct EarlyInstalls<'e> {
    environments: &'e dyn Environments,
    venv: &'e Venv,
    link_mode: Option<LinkMode>,
    /// By index in the plan.
    done: Mutex<BTreeMap<usize, Result<InstalledDist, EnvironmentError>>>,
}

impl<'e> EarlyInstalls<'e> {
    pub(crate) fn new(environments: &'e dyn Environments, venv: &'e Venv, link_mode: Option<LinkMode>) -> Self {
        Self { environments, venv, link_mode, done: Mutex::default() }
    }

    fn install(&self, index: usize, wheel: &WheelToInstall) {
        let result = self.environments.install(self.venv, std::slice::from_ref(wheel), self.link_mode, false).pop();
        if let Some(result) = result {
            self.done.lock().unwrap_or_else(PoisonError::into_inner).insert(index, result);
        }
    }

    /// Uninstall what was installed (the sync failed with `failure`, to which
    /// a distribution that could not be uninstalled is added as a cause).
    fn roll_back(&self, failure: &mut Failure) {
        let done = std::mem::take(&mut *self.done.lock().unwrap_or_else(PoisonError::into_inner));
        for dist in done.into_values().flatten() {
            if let Err(e) = self.environments.uninstall(self.venv, &dist) {
                failure.diagnostic.causes.push(format!(
                    "`{}=={}` was installed before the failure and could not be uninstalled: {e}",
                    dist.name, dist.version
                ));
            }
        }
    }
}

/// Install `prepared` (in plan order) into `venv`: those [`EarlyInstalls`]
/// already installed are taken as they are, the rest installed now. One result
/// per wheel, in order.
pub(crate) fn install_prepared(
    environments: &dyn Environments,
    venv: &Venv,
    prepared: &[WheelToInstall],
    early: Option<EarlyInstalls<'_>>,
    link_mode: Option<LinkMode>,
    compile_bytecode: bool,
) -> Vec<Result<InstalledDist, EnvironmentError>> {
    let mut done = early.map(|early| early.done.into_inner().unwrap_or_else(PoisonError::into_inner)).unwrap_or_default();
    let rest: Vec<WheelToInstall> =
        prepared.iter().enumerate().filter(|(i, _)| !done.contains_key(i)).map(|(_, wheel)| wheel.clone()).collect();
    let mut installed = environments.install(venv, &rest, link_mode, compile_bytecode).into_iter();
    (0..prepared.len())
        .map(|i| {
            done.remove(&i).or_else(|| installed.next()).unwrap_or_else(|| {
                Err(EnvironmentError::Install { wheel: prepared[i].filename.clone(), reason: "not installed".to_string() })
            })
        })
        .collect()
}

/// Every distribution of the plan as an unpacked wheel in the cache, in plan
/// order: wheels fetched concurrently, sdists and the project built. With
/// `early`, each downloaded wheel is installed as soon as it is ready, and uninstalled
/// again if this fails.
pub(crate) fn prepare(
    install: &[&Wanted<'_>],
    root: &Path,
    interpreter: &Interpreter,
    index: &IndexSettings,
    ports: &SyncPorts<'_>,
    early: Option<&EarlyInstalls<'_>>,
    prefetch: Option<&Prefetch>,
) -> Result<(Vec<WheelToInstall>, usize), Failure> {
    let mut result = prepare_all(install, root, interpreter, index, ports, early, prefetch);
    if let (Err(failure), Some(early)) = (&mut result, early) {
        early.roll_back(failure);
    }
    result
}

fn prepare_all(
    install: &[&Wanted<'_>],
    root: &Path,
    interpreter: &Interpreter,
    index: &IndexSettings,
    ports: &SyncPorts<'_>,
    early: Option<&EarlyInstalls<'_>>,
    prefetch: Option<&Prefetch>,
) -> Result<(Vec<WheelToInstall>, usize), Failure> {
    let (plan_index, wheel_requests): (Vec<usize>, Vec<ArtifactRequest>) = install
        .iter()
        .enumerate()
        .filter(|(_, w)| w.kind == WantedKind::Wheel)
        .map(|(i, w)| (i, file_request(w.package, &w.filename)))
        .unzip();
    // Only what was downloaded: cached wheels are all there at once, and are
    // installed together (in parallel) afterwards.
    let ready = |request: usize, result: &Result<PreparedWheel, ArtifactError>| {
        if let (Some(early), Ok(wheel)) = (early, result)
            && wheel.downloaded
        {
            let index = plan_index[request];
            let direct_url = archive_direct_url(install[index].package);
            let wheel = WheelToInstall { filename: wheel.filename.clone(), unpacked: wheel.unpacked.clone(), direct_url };
            early.install(index, &wheel);
        }
    };
    let mut fetched = fetch_wheels(&wheel_requests, ports.artifacts, &ready, prefetch).into_iter().zip(&wheel_requests);
    let builder = Builder { ports, index, interpreter };
    let mut prepared = Vec::with_capacity(install.len());
    let mut downloaded = 0;
    for want in install {
        let wheel = match want.kind {
            WantedKind::Wheel => {
                let (result, artifact) = fetched.next().expect("one result per request");
                let wheel = result.map_err(|e| artifact_failure(e, artifact))?;
                if wheel.downloaded {
                    downloaded += 1;
                    ports.reporter.report(Event::Downloaded {
                        name: artifact.name.clone(),
                        version: artifact.version.clone(),
                        filename: artifact.filename.clone(),
                    });
                }
                WheelToInstall { filename: wheel.filename, unpacked: wheel.unpacked, direct_url: archive_direct_url(want.package) }
            }
            WantedKind::Sdist => {
                let sdist = want.package.files.iter().find(|f| f.filename == want.filename).expect("chosen among the files");
                let wheel = builder.wheel_from_sdist(want.package, sdist)?;
                WheelToInstall { filename: wheel.filename, unpacked: wheel.unpacked, direct_url: archive_direct_url(want.package) }
            }
            WantedKind::Directory => {
                let Source::Directory(url) = &want.package.source else { unreachable!("a directory package") };
                let tree = crate::sdist_metadata::source_tree_path(url)?;
                let wheel = builder.wheel_from_directory(&tree, &format!("{} @ {url}", want.package.name))?;
                WheelToInstall { filename: wheel.filename, unpacked: wheel.unpacked, direct_url: Some(directory_direct_url(url)) }
            }
            WantedKind::Editable => {
                let wheel = builder.build_editable(root, &want.package.name)?;
                WheelToInstall {
                    filename: wheel.filename,
                    unpacked: wheel.unpacked,
                    direct_url: Some(editable_direct_url(root)),
                }
            }
        };
        prepared.push(wheel);
    }
    Ok((prepared, downloaded))
}

/// [`ArtifactCache::prepare_wheels_as_ready`] for `requests`, except that
/// those `prefetch` holds are taken from it (waited for on a thread of their
/// own, so `ready` sees each as soon as it is there).
fn fetch_wheels(
    requests: &[ArtifactRequest],
    artifacts: &dyn ArtifactCache,
    ready: &(dyn Fn(usize, &Result<PreparedWheel, ArtifactError>) + Sync),
    prefetch: Option<&Prefetch>,
) -> Vec<Result<PreparedWheel, ArtifactError>> {
    let Some(prefetch) = prefetch else { return artifacts.prepare_wheels_as_ready(requests, ready) };
    // Request `i` is prefetched request `found[i]`, or else asked of the cache.
    let found: Vec<Option<usize>> = requests.iter().map(|request| prefetch.position(request)).collect();
    let taken: Vec<(usize, usize)> = found.iter().enumerate().filter_map(|(i, j)| j.map(|j| (i, j))).collect();
    let asked: Vec<usize> = (0..requests.len()).filter(|&i| found[i].is_none()).collect();
    let asked_requests: Vec<ArtifactRequest> = asked.iter().map(|&i| requests[i].clone()).collect();
    let (from_prefetch, from_cache) = std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            taken
                .iter()
                .map(|&(i, j)| {
                    let result = prefetch.wait(j);
                    ready(i, &result);
                    (i, result)
                })
                .collect::<Vec<_>>()
        });
        let from_cache = artifacts.prepare_wheels_as_ready(&asked_requests, &|k, result| ready(asked[k], result));
        (waiting.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), from_cache)
    });
    // Both in request order, and between them every request once.
    let mut from_prefetch = from_prefetch.into_iter().peekable();
    let mut from_cache = from_cache.into_iter();
    (0..requests.len())
        .map(|i| match from_prefetch.next_if(|(taken, _)| *taken == i) {
            Some((_, result)) => result,
            None => from_cache.next().expect("one result per request"),
        })
        .collect()
}

pub(crate) fn file_request(package: &LockedPackage, filename: &str) -> ArtifactRequest {
    let file = package.files.iter().find(|f| f.filename == filename).expect("chosen among the files");
    ArtifactRequest {
        name: package.name.clone(),
        version: package.version.clone(),
        filename: file.filename.clone(),
        url: file.url.clone(),
        hash: file.hash.clone(),
        size: file.size,
    }
}

/// PEP 610 `direct_url.json` of a package locked from a direct URL (an
/// archive: its one file, with the locked hash); `None` for index packages.
fn archive_direct_url(package: &LockedPackage) -> Option<String> {
    let Source::Url(url) = &package.source else { return None };
    let archive_info = match locked_sha256(package) {
        Some(hex) => serde_json::json!({ "hash": format!("sha256={hex}"), "hashes": { "sha256": hex } }),
        None => serde_json::json!({}),
    };
    Some(serde_json::json!({ "url": url, "archive_info": archive_info }).to_string())
}

/// The hex sha256 the lock pins for a direct URL package's one file.
fn locked_sha256(package: &LockedPackage) -> Option<&str> {
    package.files.first()?.hash.as_deref()?.strip_prefix("sha256:")
}

/// PEP 610 `direct_url.json` of a package built from the source tree at `url`.
fn directory_direct_url(url: &str) -> String {
    serde_json::json!({ "url": url, "dir_info": {} }).to_string()
}

/// PEP 610 `direct_url.json` of an editable install of `root`.
fn editable_direct_url(root: &Path) -> String {
    let url = pybun_pep::path_file_url(root).unwrap_or_else(|| format!("file://{}", root.display()));
    serde_json::json!({ "url": url, "dir_info": { "editable": true } }).to_string()
}


/// The lock's packages needed on this interpreter, each with its best wheel
/// (else its sdist), and the project itself when `editable_project` names it.
pub(crate) fn wanted_packages<'a>(
    lock: &'a Lock,
    selection: &ExportSelection,
    interpreter: &Interpreter,
    editable_project: Option<&str>,
) -> Result<Vec<Wanted<'a>>, Failure> {
    let markers = interpreter.marker_environment();
    let tags = Tags::for_interpreter(interpreter);
    let mut wanted = Vec::new();
    for reach in reachable(lock, selection) {
        if !reach.marker.evaluate(&markers, &[]) {
            continue;
        }
        let package = reach.package;
        if package.source == Source::Project {
            continue;
        }
        if matches!(package.source, Source::Directory(_)) {
            wanted.push(Wanted { package, filename: String::new(), kind: WantedKind::Directory });
            continue;
        }
        let wheels = package.files.iter().map(|f| f.filename.as_str()).filter(|f| f.ends_with(".whl"));
        if let Some(filename) = tags.best_wheel(wheels) {
            wanted.push(Wanted { package, filename: filename.to_string(), kind: WantedKind::Wheel });
        } else if let Some(sdist) = package.files.iter().find(|f| is_sdist(&f.filename)) {
            wanted.push(Wanted { package, filename: sdist.filename.clone(), kind: WantedKind::Sdist });
        } else {
            return Err(no_wheel_failure(package, interpreter));
        }
    }
    if let Some(name) = editable_project
        && let Some(project) = lock.packages.iter().find(|p| p.source == Source::Project && p.name == name)
    {
        wanted.push(Wanted { package: project, filename: String::new(), kind: WantedKind::Editable });
    }
    Ok(wanted)
}

fn is_sdist(filename: &str) -> bool {
    filename.ends_with(".tar.gz") || filename.ends_with(".zip")
}

fn no_wheel_failure(package: &LockedPackage, interpreter: &Interpreter) -> Failure {
    let listed: Vec<&str> = package.files.iter().map(|f| f.filename.as_str()).take(8).collect();
    let mut diagnostic = Diagnostic::error(
        Code::NoCompatibleWheel,
        format!(
            "`{}=={}` has no wheel for Python {} on {} ({})",
            package.name,
            package.version,
            interpreter.python_full_version,
            interpreter.sys_platform,
            interpreter.platform_machine,
        ),
    );
    for file in listed {
        diagnostic = diagnostic.with_cause(format!("locked file: `{file}`"));
    }
    Failure::new(diagnostic.with_hint("use an interpreter the package publishes wheels for (`--python`), or pick another version of it"))
}

/// What to change in the environment.
#[derive(Debug)]
struct Plan<'w, 'a> {
    install: Vec<&'w Wanted<'a>>,
    remove: Vec<InstalledDist>,
    unchanged: usize,
}

fn same_version(a: &str, b: &str) -> bool {
    match (Version::from_str(a), Version::from_str(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Whether an installed distribution of the wanted version came from the
/// wanted source: for a package locked from an index, no `direct_url.json`
/// (one stat); from a direct URL or source tree, a `direct_url.json` naming
/// the locked URL and, for an archive, the locked sha256 (one read).
fn same_source(fs: &dyn FileSystem, want: &Wanted<'_>, dist: &InstalledDist) -> bool {
    let direct_url = dist.dist_info.join("direct_url.json");
    let (Source::Url(url) | Source::Directory(url)) = &want.package.source else {
        return !fs.exists(&direct_url);
    };
    let Ok(bytes) = fs.read(&direct_url) else { return false };
    let Ok(installed) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return false };
    // The same URL, and for an archive the same locked bytes.
    installed["url"] == url.as_str()
        && locked_sha256(want.package).is_none_or(|hex| installed["archive_info"]["hashes"]["sha256"] == hex)
}

fn plan_changes<'w, 'a>(
    wanted: &'w [Wanted<'a>],
    installed: &[InstalledDist],
    same_source: &dyn Fn(&Wanted<'a>, &InstalledDist) -> bool,
) -> Plan<'w, 'a> {
    let mut by_name: BTreeMap<&str, Vec<&InstalledDist>> = BTreeMap::new();
    for dist in installed {
        by_name.entry(dist.name.as_str()).or_default().push(dist);
    }
    let mut plan = Plan { install: Vec::new(), remove: Vec::new(), unchanged: 0 };
    for want in wanted {
        let present = by_name.remove(want.package.name.as_str()).unwrap_or_default();
        let mut keep = false;
        for dist in present {
            let same = want.kind == WantedKind::Editable
                || (same_version(&dist.version, &want.package.version) && same_source(want, dist));
            if !keep && same {
                keep = true;
            } else {
                plan.remove.push(dist.clone());
            }
        }
        if keep {
            plan.unchanged += 1;
        } else {
            plan.install.push(want);
        }
    }
    // Whatever is left is not in the lock for this interpreter.
    plan.remove.extend(by_name.into_values().flatten().cloned());
    plan.remove.sort();
    plan
}

pub(crate) fn environment_failure(error: EnvironmentError) -> Failure {
    let (code, hint) = match &error {
        EnvironmentError::NotAVenv { .. } => (
            Code::VenvInvalid,
            "move the directory away, or point PyBun at another environment directory",
        ),
        EnvironmentError::Install { .. } => (
            Code::InstallFailed,
            "the wheel may be broken on the index; run `pybun cache clean <package>` and try again, or report it to the package's maintainers",
        ),
        EnvironmentError::Io { .. } => (Code::Io, "check the permissions and free space of the environment directory"),
    };
    Failure::new(Diagnostic::error(code, error.to_string()).with_hint(hint))
}

pub(crate) fn artifact_failure(error: ArtifactError, request: &ArtifactRequest) -> Failure {
    let package = format!("{}=={}", request.name, request.version);
    let (code, hint) = match &error {
        ArtifactError::HashMismatch { .. } => (
            Code::HashMismatch,
            "nothing was installed; the file changed on the index since it was locked (or was tampered with in transit): if the change is legitimate, run `pybun lock --upgrade` to record the new hash",
        ),
        ArtifactError::Download { .. } => (Code::DownloadFailed, "check the network and the index URL, or use `--offline` with a filled cache"),
        ArtifactError::OfflineMiss { .. } => (Code::OfflineCacheMiss, "run once without `--offline` to fill the cache"),
        ArtifactError::InvalidWheel { .. } => (
            Code::InvalidWheel,
            "nothing was installed; the wheel on the index is broken or unsafe: report it to the package's maintainers",
        ),
        ArtifactError::Io { .. } => (Code::Io, "check the permissions and free space of the cache directory (`pybun cache dir`)"),
    };
    Failure::new(
        Diagnostic::error(code, format!("{error}"))
            .with_cause(format!("while preparing `{package}`"))
            .with_hint(hint),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};
    use std::time::{Duration, Instant};

    use super::*;

    fn request(name: &str) -> ArtifactRequest {
        ArtifactRequest {
            name: name.to_string(),
            version: "1.0".to_string(),
            filename: format!("{name}-1.0-py3-none-any.whl"),
            url: format!("https://example.invalid/{name}-1.0-py3-none-any.whl"),
            hash: None,
            size: None,
        }
    }

    /// Prepares anything at once, except that a call holding a name starting
    /// with `pre` waits until the gate opens; remembers what each call asked.
    #[derive(Default)]
    struct FakeCache {
        calls: Mutex<Vec<Vec<String>>>,
        open: Mutex<bool>,
        opened: Condvar,
    }

    impl FakeCache {
        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }

        fn calls(&self) -> Vec<Vec<String>> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl ArtifactCache for FakeCache {
        fn prepare_wheels(&self, requests: &[ArtifactRequest]) -> Vec<Result<PreparedWheel, ArtifactError>> {
            self.calls.lock().unwrap().push(requests.iter().map(|r| r.name.clone()).collect());
            if requests.iter().any(|r| r.name.starts_with("pre")) {
                let mut open = self.open.lock().unwrap();
                while !*open {
                    open = self.opened.wait(open).unwrap();
                }
            }
            requests
                .iter()
                .map(|r| {
                    Ok(PreparedWheel {
                        filename: r.filename.clone(),
                        unpacked: PathBuf::from(&r.name),
                        sha256: String::new(),
                        downloaded: true,
                    })
                })
                .collect()
        }
    }

    /// The plan's requests that a prefetch holds are waited for, not asked
    /// of the cache again; the others are asked at once, without waiting for
    /// the prefetch; results come back in request order and `ready` sees
    /// each request once, by its index in the plan.
    #[test]
    fn prefetched_wheels_are_waited_for_and_the_rest_asked_at_once() {
        let cache = FakeCache::default();
        let requests = [request("a"), request("pre1"), request("b"), request("pre2")];
        let prefetch = Prefetch::new(vec![request("pre2"), request("pre1")]);
        let seen = Mutex::new(Vec::new());
        let ready = |i: usize, result: &Result<PreparedWheel, ArtifactError>| {
            seen.lock().unwrap().push((i, result.as_ref().unwrap().unpacked.clone()));
        };
        let results = std::thread::scope(|scope| {
            scope.spawn(|| prefetch.run(&cache));
            let fetching = scope.spawn(|| fetch_wheels(&requests, &cache, &ready, Some(&prefetch)));
            let deadline = Instant::now() + Duration::from_secs(10);
            while !cache.calls().contains(&vec!["a".to_string(), "b".to_string()]) {
                assert!(Instant::now() < deadline, "the rest was not asked while the prefetch waits: {:?}", cache.calls());
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(!fetching.is_finished(), "the prefetched ones are waited for");
            cache.open();
            fetching.join().unwrap()
        });
        let unpacked: Vec<PathBuf> = results.into_iter().map(|r| r.unwrap().unpacked).collect();
        assert_eq!(unpacked, ["a", "pre1", "b", "pre2"].map(PathBuf::from));
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, [(0, "a"), (1, "pre1"), (2, "b"), (3, "pre2")].map(|(i, n)| (i, PathBuf::from(n))));
        let mut calls = cache.calls();
        calls.sort();
        assert_eq!(calls, [vec!["a", "b"], vec!["pre2", "pre1"]], "each request prepared once");
    }

    /// A prefetch that stops without a result (its cache panicked) releases
    /// whoever waits for one, with an error.
    #[test]
    fn a_prefetch_that_stops_releases_its_waiters() {
        struct Panicking;
        impl ArtifactCache for Panicking {
            fn prepare_wheels(&self, _: &[ArtifactRequest]) -> Vec<Result<PreparedWheel, ArtifactError>> {
                panic!("the cache broke");
            }
        }
        let prefetch = Prefetch::new(vec![request("pre")]);
        std::thread::scope(|scope| {
            let waiting = scope.spawn(|| prefetch.wait(0));
            assert!(scope.spawn(|| prefetch.run(&Panicking)).join().is_err());
            assert!(matches!(waiting.join().unwrap(), Err(ArtifactError::Io { .. })));
        });
    }
}
