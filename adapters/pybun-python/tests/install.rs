//! Managed Python installs, hermetic: a fake python-build-standalone archive
//! (its `python/bin/python3` runs the machine's `/usr/bin/python3`), served
//! from `file://` or a local HTTP server through the mirror setting.
#![cfg(unix)]

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pybun_env::PythonRequest;
use pybun_python::{
    FinderConfig, GITHUB_RELEASES_PREFIX, InstallerConfig, Platform, PythonFinder, PythonInstallError, PythonInstaller,
};
use pybun_ports::Interpreters as _;
use sha2::{Digest as _, Sha256};

const SYSTEM_PYTHON: &str = "/usr/bin/python3";
const ARCHIVE: &str = "cpython-3.12.99+20990101-x86_64-unknown-linux-gnu-install_only.tar.gz";

fn request(text: &str) -> PythonRequest {
    text.parse().unwrap()
}

/// One archive entry: a path, and `Some(contents)` for a file (`None`: a directory).
enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
}

fn tar_gz(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        match entry {
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                set_path(&mut header, path);
                header.set_cksum();
                builder.append(&header, &[][..]).unwrap();
            }
            Entry::File(path, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                set_path(&mut header, path);
                header.set_cksum();
                builder.append(&header, *data).unwrap();
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                set_path(&mut header, path);
                header.set_link_name(target).unwrap();
                header.set_cksum();
                builder.append(&header, &[][..]).unwrap();
            }
        }
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Written into the raw header, so unsafe paths (`..`, absolute) get into the archive.
fn set_path(header: &mut tar::Header, path: &str) {
    let name = &mut header.as_old_mut().name;
    name.fill(0);
    name[..path.len()].copy_from_slice(path.as_bytes());
}

fn fake_python() -> Vec<u8> {
    let script = format!("#!/bin/sh\nexec {SYSTEM_PYTHON} \"$@\"\n");
    tar_gz(&[
        Entry::Dir("python/"),
        Entry::Dir("python/bin/"),
        Entry::File("python/bin/python3.12", script.as_bytes(), 0o755),
        Entry::Symlink("python/bin/python3", "python3.12"),
        Entry::Dir("python/lib/"),
        Entry::File("python/lib/marker.txt", b"pbs", 0o644),
    ])
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

struct Setup {
    _temp: tempfile::TempDir,
    root: PathBuf,
    install_dir: PathBuf,
    cache_dir: PathBuf,
    table: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().to_path_buf();
        Self {
            install_dir: root.join("data/python"),
            cache_dir: root.join("cache"),
            table: root.join("downloads.json"),
            root,
            _temp: temp,
        }
    }

    /// A table with one build for this platform: 3.12.99 at `url` with `sha256`.
    fn write_table(&self, url: &str, sha256: &str) -> String {
        let platform = Platform::current();
        let name = format!("cpython-3.12.99-{}-{}-{}", platform.os, platform.arch, platform.libc);
        let table = serde_json::json!({
            "format": 1,
            "source": "test",
            "downloads": [{
                "name": name, "implementation": "cpython", "version": "3.12.99", "free_threaded": false,
                "os": platform.os, "arch": platform.arch, "libc": platform.libc, "build": "20990101",
                "url": url, "sha256": sha256,
            }, {
                "name": "cpython-3.12.99-plan9-mips-none", "implementation": "cpython", "version": "3.12.99",
                "os": "plan9", "arch": "mips", "libc": "none", "url": url, "sha256": sha256,
            }]
        });
        fs::write(&self.table, table.to_string()).unwrap();
        name
    }

    /// The archive as a local file and its `file://` URL.
    fn archive_file(&self, data: &[u8]) -> String {
        let dir = self.root.join("served/20990101");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(ARCHIVE), data).unwrap();
        format!("file://{}/{}", dir.display(), ARCHIVE.replace('+', "%2B"))
    }

    fn installer(&self, mirror: Option<String>, offline: bool) -> PythonInstaller {
        let config = InstallerConfig {
            install_dir: self.install_dir.clone(),
            cache_dir: self.cache_dir.clone(),
            mirror,
            downloads_json: Some(self.table.clone()),
            offline,
        };
        PythonInstaller::new(config, None).unwrap()
    }

    fn cached_archive(&self) -> PathBuf {
        self.cache_dir.join("python-downloads-v1").join(ARCHIVE)
    }
}

/// Entries of `dir` (none if it does not exist), lock and temporary files included.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// A tiny HTTP server answering `path` with `body`; counts requests.
struct Server {
    url: String,
    requests: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
}

impl Server {
    fn start(path: String, body: Vec<u8>) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let (s, r) = (Arc::clone(&server), Arc::clone(&requests));
        std::thread::spawn(move || {
            for req in s.incoming_requests() {
                r.fetch_add(1, Ordering::SeqCst);
                let response = if req.url() == path {
                    tiny_http::Response::from_data(body.clone())
                } else {
                    tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404)
                };
                let _ = req.respond(response);
            }
        });
        Self { url, requests, server }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

#[test]
fn install_from_mirror_is_discovered_and_reused() {
    if !Path::new(SYSTEM_PYTHON).exists() {
        return; // The fake interpreter runs the machine's; nothing to probe without one.
    }
    let setup = Setup::new();
    let archive = fake_python();
    let server = Server::start(format!("/pbs/20990101/{}", ARCHIVE.replace('+', "%2B")), archive.clone());
    let url = format!("{GITHUB_RELEASES_PREFIX}/20990101/{}", ARCHIVE.replace('+', "%2B"));
    let name = setup.write_table(&url, &sha256(&archive));
    let installer = setup.installer(Some(format!("{}/pbs/", server.url)), false);

    assert_eq!(installer.available().len(), 1, "only this platform's build");
    assert!(installer.find_download(&request("3.12")).is_some());
    assert!(installer.find_download(&request(">=3.12")).is_some());
    assert!(installer.find_download(&request("3.11")).is_none());

    let installed = installer.install(&request("3.12")).unwrap();
    assert_eq!(installed.name, name);
    assert!(!installed.already_installed);
    assert!(installed.downloaded);
    assert_eq!(installed.version, "3.12.99");
    assert_eq!(installed.python, setup.install_dir.join(&name).join("bin/python3"));
    assert!(installed.python.is_file());
    assert_eq!(fs::read_to_string(setup.install_dir.join(&name).join("lib/marker.txt")).unwrap(), "pbs");
    assert!(fs::metadata(setup.install_dir.join(&name).join("bin/python3.12")).unwrap().permissions().mode() & 0o111 != 0);
    assert!(setup.cached_archive().is_file(), "the archive is kept in the cache");
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    // Only the build and the lock file: no temporary directory left behind.
    assert_eq!(listing(&setup.install_dir), vec![".lock".to_string(), name.clone()]);
    assert_eq!(listing(&setup.cache_dir.join("python-downloads-v1")), vec![ARCHIVE.to_string()]);

    // Discovery finds it first, in the managed directory.
    let finder = PythonFinder::new(FinderConfig {
        cache_dir: setup.cache_dir.clone(),
        managed_dir: Some(setup.install_dir.clone()),
        search_path: None,
        home: None,
    });
    assert_eq!(finder.candidates().first(), Some(&installed.python));
    let found = finder.discover();
    assert_eq!(found.first().map(|i| &i.path), Some(&installed.python), "{found:#?}");

    // Again: reused, nothing fetched.
    let again = installer.install(&request("cpython3.12.99")).unwrap();
    assert!(again.already_installed);
    assert!(!again.downloaded);
    assert_eq!(again.python, installed.python);
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);

    let managed = installer.installed();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].name, name);
    assert_eq!(managed[0].version, "3.12.99");
    assert!(!managed[0].free_threaded);

    // Uninstall removes it; the cached archive stays; a reinstall reads it offline.
    assert_eq!(installer.uninstall(&request("3.11")).unwrap(), Vec::<PathBuf>::new());
    let removed = installer.uninstall(&request("3.12")).unwrap();
    assert_eq!(removed, vec![setup.install_dir.join(&name)]);
    assert!(installer.installed().is_empty());
    assert_eq!(listing(&setup.install_dir), vec![".lock".to_string()]);
    let offline = setup.installer(Some(format!("{}/pbs", server.url)), true);
    let reinstalled = offline.install(&request("3.12")).unwrap();
    assert!(!reinstalled.already_installed);
    assert!(!reinstalled.downloaded);
    assert!(reinstalled.python.is_file());
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn hash_mismatch_keeps_nothing() {
    let setup = Setup::new();
    let archive = fake_python();
    let url = setup.archive_file(&archive);
    setup.write_table(&url, &sha256(b"something else"));
    let installer = setup.installer(None, false);
    let error = installer.install(&request("3.12")).unwrap_err();
    match &error {
        PythonInstallError::HashMismatch { url: u, expected, actual } => {
            assert_eq!(u, &url);
            assert_eq!(expected, &format!("sha256:{}", sha256(b"something else")));
            assert_eq!(actual, &format!("sha256:{}", sha256(&archive)));
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("nothing was installed"), "{error}");
    assert!(installer.installed().is_empty());
    assert_eq!(listing(&setup.install_dir), vec![".lock".to_string()]);
    assert!(listing(&setup.cache_dir.join("python-downloads-v1")).is_empty());
}

#[test]
fn hash_mismatch_over_http_keeps_nothing() {
    let setup = Setup::new();
    let archive = fake_python();
    let server = Server::start(format!("/20990101/{}", ARCHIVE.replace('+', "%2B")), archive.clone());
    let url = format!("{GITHUB_RELEASES_PREFIX}/20990101/{}", ARCHIVE.replace('+', "%2B"));
    setup.write_table(&url, &"ab".repeat(32));
    let error = setup.installer(Some(server.url.clone()), false).install(&request("3.12")).unwrap_err();
    assert!(matches!(error, PythonInstallError::HashMismatch { .. }), "{error:?}");
    assert_eq!(listing(&setup.install_dir), vec![".lock".to_string()]);
    assert!(listing(&setup.cache_dir.join("python-downloads-v1")).is_empty());
}

#[test]
fn offline_without_cache_is_an_error_and_with_cache_installs() {
    let setup = Setup::new();
    let archive = fake_python();
    // An http URL nobody answers: offline, it must not even be tried.
    let url = format!("http://127.0.0.1:9/20990101/{}", ARCHIVE.replace('+', "%2B"));
    let name = setup.write_table(&url, &sha256(&archive));
    let installer = setup.installer(None, true);
    let error = installer.install(&request("3.12")).unwrap_err();
    match &error {
        PythonInstallError::Offline { version, name: n, .. } => {
            assert_eq!(version, "3.12.99");
            assert_eq!(n, &name);
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("offline"), "{error}");
    assert!(installer.installed().is_empty());

    // A cached archive with the right hash installs offline.
    fs::create_dir_all(setup.cached_archive().parent().unwrap()).unwrap();
    fs::write(setup.cached_archive(), &archive).unwrap();
    let installed = installer.install(&request("3.12")).unwrap();
    assert!(!installed.downloaded);
    assert!(installed.python.is_file());

    // A damaged install (no interpreter) is replaced, not reused.
    fs::remove_file(&installed.python).unwrap();
    let repaired = installer.install(&request("3.12")).unwrap();
    assert!(!repaired.already_installed);
    assert!(repaired.python.is_file());
    assert_eq!(listing(&setup.install_dir), vec![".lock".to_string(), name.clone()]);

    // A cached archive with the wrong hash does not count.
    let other = Setup::new();
    other.write_table(&url, &sha256(&archive));
    fs::create_dir_all(other.cached_archive().parent().unwrap()).unwrap();
    fs::write(other.cached_archive(), b"tampered").unwrap();
    let error = other.installer(None, true).install(&request("3.12")).unwrap_err();
    assert!(matches!(error, PythonInstallError::Offline { .. }), "{error:?}");
    assert!(!other.cached_archive().exists());
}

#[test]
fn not_available_lists_what_is() {
    let setup = Setup::new();
    setup.write_table("file:///nonexistent/x.tar.gz", &"00".repeat(32));
    let installer = setup.installer(None, false);
    let error = installer.install(&request("3.8")).unwrap_err();
    assert!(matches!(error, PythonInstallError::NotAvailable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("`3.8`") && message.contains("3.12.99"), "{message}");
    let error = installer.install(&request("3.12t")).unwrap_err();
    assert!(matches!(error, PythonInstallError::NotAvailable { .. }), "{error:?}");
    let error = installer.install(&request("./venv")).unwrap_err();
    assert!(matches!(error, PythonInstallError::NotAVersion { .. }), "{error:?}");
    let error = installer.install(&request("3.12")).unwrap_err();
    assert!(matches!(error, PythonInstallError::Download { .. }), "{error:?}");
}

fn refused(entries: &[Entry<'_>]) -> (Setup, PythonInstallError) {
    let setup = Setup::new();
    let archive = tar_gz(entries);
    let url = setup.archive_file(&archive);
    setup.write_table(&url, &sha256(&archive));
    let error = setup.installer(None, false).install(&request("3.12")).unwrap_err();
    (setup, error)
}

#[test]
fn unsafe_archives_are_refused() {
    let script = b"#!/bin/sh\n";
    for entries in [
        vec![Entry::Dir("python/"), Entry::File("python/../escape", b"x", 0o644)],
        vec![Entry::File("../escape", b"x", 0o644)],
        vec![Entry::File("/tmp/pybun-python-test-escape", b"x", 0o644)],
        vec![Entry::Dir("python/"), Entry::Symlink("python/out", "../../..")],
        vec![Entry::Dir("python/"), Entry::Symlink("python/etc", "/etc")],
        vec![Entry::Dir("python/"), Entry::Symlink("python/here", "."), Entry::Symlink("python/here/up", "../..")],
        vec![Entry::Dir("python/"), Entry::Symlink("python/a", "b/../../..")],
    ] {
        let (setup, error) = refused(&entries);
        assert!(matches!(error, PythonInstallError::InvalidArchive { .. }), "{error:?}");
        assert!(!setup.root.join("escape").exists());
        assert!(!setup.root.join("data/escape").exists());
        assert!(!Path::new("/tmp/pybun-python-test-escape").exists());
        assert_eq!(listing(&setup.install_dir), vec![".lock".to_string()], "{error}");
    }
    // No `python/bin/python3`.
    let (setup, error) = refused(&[Entry::Dir("python/"), Entry::File("python/README", script, 0o644)]);
    assert!(error.to_string().contains("python/bin/python3"), "{error}");
    assert_eq!(listing(&setup.install_dir), vec![".lock".to_string()]);
    // Not an archive at all.
    let setup = Setup::new();
    let url = setup.archive_file(b"not gzip");
    setup.write_table(&url, &sha256(b"not gzip"));
    let error = setup.installer(None, false).install(&request("3.12")).unwrap_err();
    assert!(matches!(error, PythonInstallError::InvalidArchive { .. }), "{error:?}");
}

#[test]
fn concurrent_installs_unpack_once() {
    let setup = Setup::new();
    let archive = fake_python();
    let url = setup.archive_file(&archive);
    setup.write_table(&url, &sha256(&archive));
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..4).map(|_| scope.spawn(|| setup.installer(None, false).install(&request("3.12")).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| !r.already_installed).count(), 1);
    assert_eq!(listing(&setup.install_dir).len(), 2);
}

#[test]
fn bad_table_file_is_reported() {
    let setup = Setup::new();
    let mut file = fs::File::create(&setup.table).unwrap();
    file.write_all(b"{\"format\": 2, \"downloads\": []}").unwrap();
    let config = InstallerConfig {
        install_dir: setup.install_dir.clone(),
        cache_dir: setup.cache_dir.clone(),
        mirror: None,
        downloads_json: Some(setup.table.clone()),
        offline: false,
    };
    let error = PythonInstaller::new(config, None).unwrap_err();
    assert!(matches!(error, PythonInstallError::InvalidTable { .. }), "{error:?}");
}
