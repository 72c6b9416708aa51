//! `ArtifactStore` and cache management against a local index server (hermetic).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::{Arc, Barrier};

use pybun_cache::{ArtifactStore, CacheError, cache_info, clean, clean_package, prune};
use pybun_index_http::{HttpIndex, IndexConfig};
use pybun_pep::PackageName;
use pybun_ports::{ArtifactCache, ArtifactError, ArtifactRequest, PackageIndex as _, PreparedWheel};
use pybun_testkit::{DistSpec, IndexServer, PublishedVersion, Universe, build_wheel, sha256_hex, urlsafe_b64_nopad};
use sha2::{Digest as _, Sha256};

fn serve(projects: &[&str]) -> IndexServer {
    let mut universe = Universe::default();
    for name in projects {
        universe.add(PublishedVersion::new(DistSpec::new(name, "1.0")));
    }
    IndexServer::start(universe)
}

fn http(cache: &Path, server: &IndexServer) -> Arc<HttpIndex> {
    let mut config = IndexConfig::new(cache);
    config.index_urls = vec![server.url()];
    config.retries = 0;
    Arc::new(HttpIndex::new(config).unwrap())
}

fn store(cache: &Path, server: &IndexServer, offline: bool) -> ArtifactStore {
    ArtifactStore::new(cache, http(cache, server), offline)
}

/// The locked request for `name`'s wheel on `server`.
fn request(server: &IndexServer, name: &str) -> ArtifactRequest {
    let filename =
        server.filenames().into_iter().find(|f| f.starts_with(&format!("{name}-")) && f.ends_with(".whl")).unwrap();
    let size = server.file_bytes(&filename).unwrap().len() as u64;
    ArtifactRequest {
        name: name.to_string(),
        version: "1.0".to_string(),
        url: server.file_url(&filename),
        hash: Some(format!("sha256:{}", server.file_sha256(&filename).unwrap())),
        size: Some(size),
        filename,
    }
}

fn prepare_one(store: &ArtifactStore, request: &ArtifactRequest) -> Result<pybun_ports::PreparedWheel, ArtifactError> {
    store.prepare_wheels(std::slice::from_ref(request)).pop().unwrap()
}

/// Every file under `dir`, relative, `/`-separated, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Names as [`entries`] lists them (sorted: a sha256 may sort before `by-name`).
fn sorted<const N: usize>(names: [&str; N]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
    names.sort();
    names
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Nothing in the cache but the lock and (empty) directories.
fn assert_nothing_kept(cache: &Path) {
    assert_eq!(files(cache), [".lock"], "cache content");
    assert!(entries(&cache.join("archives-v1")).is_empty(), "{:?}", entries(&cache.join("archives-v1")));
    assert!(entries(&cache.join("wheels-v1")).is_empty(), "{:?}", entries(&cache.join("wheels-v1")));
}

#[test]
fn downloads_once_then_reuses_without_network() {
    let server = serve(&["demo"]);
    let cache = tempfile::tempdir().unwrap();
    let request = request(&server, "demo");
    let hex = request.hash.as_deref().unwrap().strip_prefix("sha256:").unwrap().to_string();

    let first = prepare_one(&store(cache.path(), &server, false), &request).unwrap();
    assert!(first.downloaded);
    assert_eq!(first.sha256, hex);
    assert_eq!(first.filename, request.filename);
    assert_eq!(first.unpacked, cache.path().join("wheels-v2").join(&hex));
    assert_eq!(entries(&first.unpacked), [".pybun-manifest", "demo", "demo-1.0.dist-info"]);
    assert_eq!(server.requests(), [format!("/files/{}", request.filename)]);
    // The archive is not kept (it was never written: held in memory), and no temporary leftovers.
    assert!(!cache.path().join("archives-v1").exists());
    assert_eq!(entries(&cache.path().join("wheels-v2")), sorted(["by-name", "by-url", &hex]));

    // Another process (a new store): a hit, no request.
    let second = prepare_one(&store(cache.path(), &server, false), &request).unwrap();
    assert_eq!(second, pybun_ports::PreparedWheel { downloaded: false, ..first.clone() });
    // Without a locked hash, the URL index answers.
    let unhashed = ArtifactRequest { hash: None, size: None, ..request.clone() };
    let third = prepare_one(&store(cache.path(), &server, false), &unhashed).unwrap();
    assert_eq!(third, second);
    assert_eq!(server.request_count(), 1);
}

/// The hint of likely downloads warms the HTTP client up only when the cache
/// holds nothing of some project (and offline never); it sends no request.
#[test]
fn expected_downloads_warm_the_client_up_only_for_projects_not_cached() {
    let server = serve(&["demo"]);
    let cache = tempfile::tempdir().unwrap();
    let request = request(&server, "demo");
    prepare_one(&store(cache.path(), &server, false), &request).unwrap();
    let started = |projects: &[(&str, &str)], offline: bool| {
        let http = http(cache.path(), &server);
        ArtifactStore::new(cache.path(), Arc::clone(&http), offline).expect_downloads(projects);
        std::thread::sleep(std::time::Duration::from_millis(200));
        http.client_started()
    };
    assert!(!started(&[("demo", &request.url)], false), "demo is cached");
    assert!(started(&[("demo", &request.url), ("other", &request.url)], false), "nothing of other is");
    assert!(!started(&[("other", &request.url)], true), "offline");
    assert!(!started(&[("other", "file:///tmp/other-1.0-py3-none-any.whl")], false), "a local file");
    assert_eq!(server.request_count(), 1);
}

#[test]
fn many_wheels_in_one_call_keep_their_order() {
    let names = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let server = serve(&names);
    let cache = tempfile::tempdir().unwrap();
    let requests: Vec<_> = names.iter().map(|n| request(&server, n)).collect();
    let store = store(cache.path(), &server, false).with_concurrency(3);
    let results = store.prepare_wheels(&requests);
    for (result, request) in results.iter().zip(&requests) {
        let wheel = result.as_ref().unwrap();
        assert_eq!(wheel.filename, request.filename);
        assert!(wheel.downloaded);
        assert!(wheel.unpacked.join(format!("{}-1.0.dist-info", request.name)).is_dir());
    }
    assert_eq!(server.request_count(), names.len());
    let again = store.prepare_wheels(&requests);
    assert!(again.iter().all(|r| !r.as_ref().unwrap().downloaded));
    assert_eq!(server.request_count(), names.len());
    let info = cache_info(cache.path()).unwrap();
    assert_eq!((info.wheels, info.archives), (5, 0));
    assert!(info.bytes > 0 && info.files > 10);
}

/// Each result is handed to the callback once per request (from the worker
/// that prepared it), equal to the one returned; a wheel reported ready is
/// already unpacked in place.
#[test]
fn each_wheel_is_reported_ready_once_and_usable() {
    let names = ["alpha", "beta", "gamma", "delta"];
    let server = serve(&names);
    let cache = tempfile::tempdir().unwrap();
    let mut requests: Vec<_> = names.iter().map(|n| request(&server, n)).collect();
    requests[2].hash = Some(format!("sha256:{}", "0".repeat(64)));
    let store = store(cache.path(), &server, false).with_concurrency(3);
    let seen = std::sync::Mutex::new(Vec::new());
    let ready = |i: usize, result: &Result<PreparedWheel, ArtifactError>| {
        if let Ok(wheel) = result {
            assert!(wheel.unpacked.join(format!("{}-1.0.dist-info/RECORD", names[i])).is_file(), "usable when reported");
        }
        seen.lock().unwrap().push((i, result.clone()));
    };
    let results = store.prepare_wheels_as_ready(&requests, &ready);
    let mut seen = seen.into_inner().unwrap();
    seen.sort_by_key(|(i, _)| *i);
    assert_eq!(seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert!(seen.iter().map(|(_, result)| result).eq(results.iter()));
    assert!(matches!(results[2], Err(ArtifactError::HashMismatch { .. })));
    // Cached: reported too, at once.
    let count = std::sync::atomic::AtomicUsize::new(0);
    let again = store.prepare_wheels_as_ready(&requests[..2], &|_, result| {
        assert!(!result.as_ref().unwrap().downloaded);
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!((again.len(), count.into_inner()), (2, 2));
}

#[test]
fn hash_mismatch_is_refused_and_nothing_kept() {
    let server = serve(&["demo"]);
    let cache = tempfile::tempdir().unwrap();
    let good = request(&server, "demo");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let bad = ArtifactRequest { hash: Some(wrong.clone()), ..good.clone() };
    let error = prepare_one(&store(cache.path(), &server, false), &bad).unwrap_err();
    assert_eq!(
        error,
        ArtifactError::HashMismatch {
            filename: good.filename.clone(),
            expected: wrong,
            actual: good.hash.clone().unwrap(),
        }
    );
    assert_nothing_kept(cache.path());
}

#[test]
fn downloads_past_the_memory_limit_go_through_a_temporary_file() {
    let server = serve(&["demo"]);
    let cache = tempfile::tempdir().unwrap();
    let good = request(&server, "demo");
    let store = || store(cache.path(), &server, false).with_in_memory_limit(16);

    // A wrong hash: refused, the temporary file removed.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let bad = ArtifactRequest { hash: Some(wrong), ..good.clone() };
    assert!(matches!(prepare_one(&store(), &bad), Err(ArtifactError::HashMismatch { .. })));
    assert_nothing_kept(cache.path());

    let wheel = prepare_one(&store(), &good).unwrap();
    assert!(wheel.downloaded);
    assert_eq!(entries(&wheel.unpacked), [".pybun-manifest", "demo", "demo-1.0.dist-info"]);
    // The spill directory was made (`archives-v1/`) and its temporary file removed.
    assert!(cache.path().join("archives-v1").is_dir());
    assert!(entries(&cache.path().join("archives-v1")).is_empty());
}

#[test]
fn downloads_past_the_memory_budget_go_through_a_temporary_file() {
    let names = ["alpha", "beta", "gamma"];
    let server = serve(&names);
    let cache = tempfile::tempdir().unwrap();
    let requests: Vec<_> = names.iter().map(|n| request(&server, n)).collect();
    // Room in memory for one wheel at a time at most: the others use files, all succeed.
    let one = requests.iter().map(|r| r.size.unwrap()).max().unwrap();
    let store = store(cache.path(), &server, false).with_memory_budget(one).with_concurrency(3);
    for (result, request) in store.prepare_wheels(&requests).iter().zip(&requests) {
        let wheel = result.as_ref().unwrap();
        assert!(wheel.downloaded && wheel.unpacked.join(format!("{}-1.0.dist-info", request.name)).is_dir());
    }
    // With no budget at all, every download goes through a file (the spill directory is made, then emptied).
    let cache = tempfile::tempdir().unwrap();
    let store = self::store(cache.path(), &server, false).with_memory_budget(0);
    assert!(prepare_one(&store, &requests[0]).unwrap().downloaded);
    assert!(cache.path().join("archives-v1").is_dir());
    assert!(entries(&cache.path().join("archives-v1")).is_empty());
}

#[test]
fn size_mismatch_is_refused_and_nothing_kept() {
    let server = serve(&["demo"]);
    let cache = tempfile::tempdir().unwrap();
    let good = request(&server, "demo");
    let size = good.size.unwrap();
    let store = store(cache.path(), &server, false);

    let shorter = ArtifactRequest { size: Some(size - 1), ..good.clone() };
    let error = prepare_one(&store, &shorter).unwrap_err();
    assert_eq!(
        error,
        ArtifactError::HashMismatch {
            filename: good.filename.clone(),
            expected: format!("{} bytes", size - 1),
            actual: format!("more than {} bytes", size - 1),
        }
    );
    assert_nothing_kept(cache.path());

    let longer = ArtifactRequest { size: Some(size + 1), hash: None, ..good.clone() };
    let error = prepare_one(&store, &longer).unwrap_err();
    assert_eq!(
        error,
        ArtifactError::HashMismatch {
            filename: good.filename.clone(),
            expected: format!("{} bytes", size + 1),
            actual: format!("{size} bytes"),
        }
    );
    assert_nothing_kept(cache.path());
}

#[test]
fn offline_miss_then_offline_hit() {
    let server = serve(&["demo"]);
    let cache = tempfile::tempdir().unwrap();
    let request = request(&server, "demo");
    let error = prepare_one(&store(cache.path(), &server, true), &request).unwrap_err();
    assert_eq!(error, ArtifactError::OfflineMiss { filename: request.filename.clone() });
    assert_eq!(server.request_count(), 0);

    prepare_one(&store(cache.path(), &server, false), &request).unwrap();
    let hit = prepare_one(&store(cache.path(), &server, true), &request).unwrap();
    assert!(!hit.downloaded);
    assert_eq!(server.request_count(), 1);
}

#[test]
fn http_errors_are_download_errors() {
    let server = serve(&["demo"]);
    let cache = tempfile::tempdir().unwrap();
    let mut request = request(&server, "demo");
    request.url = server.file_url("missing-1.0-py3-none-any.whl");
    let error = prepare_one(&store(cache.path(), &server, false), &request).unwrap_err();
    assert!(
        matches!(&error, ArtifactError::Download { url, reason } if *url == request.url && reason.contains("404")),
        "{error:?}"
    );
    assert_nothing_kept(cache.path());
}

fn file_url(path: &Path) -> String {
    url::Url::from_file_path(path).unwrap().to_string()
}

#[test]
fn file_urls_are_read_from_disk() {
    let server = serve(&[]);
    let cache = tempfile::tempdir().unwrap();
    let wheels = tempfile::tempdir().unwrap();
    let (filename, bytes) = build_wheel(&DistSpec::new("local-pkg", "2.0"), "py3-none-any");
    fs::write(wheels.path().join(&filename), &bytes).unwrap();
    let request = ArtifactRequest {
        name: "local-pkg".to_string(),
        version: "2.0".to_string(),
        filename: filename.clone(),
        url: file_url(&wheels.path().join(&filename)),
        hash: None,
        size: Some(bytes.len() as u64),
    };
    let first = prepare_one(&store(cache.path(), &server, false), &request).unwrap();
    assert!(first.downloaded);
    assert_eq!(first.sha256, sha256_hex(&bytes));
    assert!(first.unpacked.join("local_pkg-2.0.dist-info/METADATA").is_file());
    // Read (and hashed) again, but not copied or unpacked again; offline too.
    let again = prepare_one(&store(cache.path(), &server, true), &request).unwrap();
    assert!(!again.downloaded);
    assert_eq!(again.unpacked, first.unpacked);
    assert_eq!(server.request_count(), 0);

    // A missing local file.
    let missing = ArtifactRequest { url: file_url(&wheels.path().join("nope-1.0-py3-none-any.whl")), ..request };
    assert!(matches!(prepare_one(&store(cache.path(), &server, false), &missing), Err(ArtifactError::Download { .. })));
}

/// A wheel of `demo` 1.0 whose RECORD is consistent but which has a `../evil.py` member.
fn zip_slip_wheel(dir: &Path) -> (String, PathBuf) {
    let filename = "demo-1.0-py3-none-any.whl".to_string();
    let members: Vec<(&str, &[u8])> = vec![
        ("demo/__init__.py", b"x = 1\n"),
        ("../evil.py", b"import os\n"),
        ("demo-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"),
        (
            "demo-1.0.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
    ];
    let mut record = String::new();
    for (path, content) in &members {
        record.push_str(&format!("{path},sha256={},{}\n", urlsafe_b64_nopad(&Sha256::digest(content)), content.len()));
    }
    record.push_str("demo-1.0.dist-info/RECORD,,\n");
    let path = dir.join(&filename);
    let mut writer = zip::ZipWriter::new(fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in
        members.iter().copied().chain(std::iter::once(("demo-1.0.dist-info/RECORD", record.as_bytes())))
    {
        writer.start_file(name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap();
    (filename, path)
}

#[test]
fn zip_slip_wheel_is_invalid_and_nothing_kept() {
    let server = serve(&[]);
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let source = root.path().join("src");
    fs::create_dir_all(&source).unwrap();
    let (filename, path) = zip_slip_wheel(&source);
    let request = ArtifactRequest {
        name: "demo".to_string(),
        version: "1.0".to_string(),
        filename: filename.clone(),
        url: file_url(&path),
        hash: Some(format!("sha256:{}", sha256_hex(&fs::read(&path).unwrap()))),
        size: None,
    };
    let error = prepare_one(&store(&cache, &server, false), &request).unwrap_err();
    let ArtifactError::InvalidWheel { filename: refused, reason } = &error else { panic!("{error:?}") };
    assert_eq!(refused, &filename);
    assert!(reason.contains("../evil.py"), "{reason}");
    assert_nothing_kept(&cache);
    assert!(!root.path().join("evil.py").exists());
    assert!(!cache.join("wheels-v1/evil.py").exists());
}

#[test]
fn concurrent_prepares_of_one_wheel_share_one_copy() {
    let server = serve(&["demo"]);
    let cache = tempfile::tempdir().unwrap();
    let request = request(&server, "demo");
    let results: Vec<_> = race(4, cache.path(), &server, &request).into_iter().map(|(result, _)| result).collect();
    let hex = request.hash.as_deref().unwrap().strip_prefix("sha256:").unwrap();
    for result in &results {
        assert_eq!(result.as_ref().unwrap().unpacked, cache.path().join("wheels-v2").join(hex));
    }
    assert_eq!(entries(&cache.path().join("wheels-v2")), sorted(["by-name", "by-url", hex]));
    assert!(!cache.path().join("archives-v1").exists());
    assert_eq!(entries(&cache.path().join("wheels-v2").join(hex)), [".pybun-manifest", "demo", "demo-1.0.dist-info"]);
}

#[test]
fn clean_removes_everything_but_refuses_while_in_use() {
    let server = serve(&["demo"]);
    let cache = tempfile::tempdir().unwrap();
    let request = request(&server, "demo");
    let store = store(cache.path(), &server, false);
    prepare_one(&store, &request).unwrap();
    fs::create_dir_all(cache.path().join("interpreter-v1")).unwrap();
    fs::write(cache.path().join("interpreter-v1/x.json"), "{}").unwrap();

    // The store holds the shared lock until dropped.
    let busy = clean(cache.path()).unwrap_err();
    assert!(matches!(busy, CacheError::Busy { .. }), "{busy}");
    assert!(busy.to_string().contains("in use by another pybun process"), "{busy}");
    assert!(matches!(prune(cache.path()), Err(CacheError::Busy { .. })));
    assert!(matches!(clean_package(cache.path(), "demo"), Err(CacheError::Busy { .. })));
    drop(store);

    let before = cache_info(cache.path()).unwrap();
    let outcome = clean(cache.path()).unwrap();
    assert_eq!(outcome.removed_files, before.files);
    assert_eq!(outcome.removed_bytes, before.bytes);
    // The unpacked wheel (the archive is not kept), its index entries, the interpreter entry.
    assert!(outcome.removed_bytes > 0 && outcome.removed_files >= 5, "{outcome:?}");
    assert_eq!(entries(cache.path()), [".lock"]);
    assert_eq!(clean(cache.path()).unwrap().removed_files, 0);
    // A missing cache is clean already.
    assert_eq!(clean(&cache.path().join("nope")).unwrap().removed_files, 0);

    // And it works again afterwards.
    let again = prepare_one(&self::store(cache.path(), &server, false), &request).unwrap();
    assert!(again.downloaded);
}

#[test]
fn clean_package_removes_one_project_only() {
    let server = serve(&["demo", "other"]);
    let cache = tempfile::tempdir().unwrap();
    let index = http(cache.path(), &server);
    // The index client's pages and metadata for both projects.
    for name in ["demo", "other"] {
        let name = PackageName::from_str(name).unwrap();
        let files = index.project(&name).unwrap();
        let wheel = files.files.iter().find(|f| f.filename.ends_with(".whl")).unwrap();
        index.metadata(&name, wheel).unwrap();
    }
    let store = ArtifactStore::new(cache.path(), Arc::clone(&index), false);
    let demo = prepare_one(&store, &request(&server, "demo")).unwrap();
    let other = prepare_one(&store, &request(&server, "other")).unwrap();
    drop(store);
    let http_files = |cache: &Path| files(&cache.join("http-v1"));
    let http_before = http_files(cache.path());
    assert_eq!(http_before.len(), 6, "{http_before:?}");

    let outcome = clean_package(cache.path(), "Demo").unwrap();
    assert!(outcome.removed_files > 3 && outcome.removed_bytes > 0, "{outcome:?}");
    assert!(!demo.unpacked.exists());
    assert!(!cache.path().join("wheels-v2/by-name/demo").exists());
    assert!(other.unpacked.is_dir());
    assert!(cache.path().join("wheels-v2/by-name/other").is_dir());
    assert_eq!(entries(&cache.path().join("wheels-v2/by-url")).len(), 1);
    assert_eq!(http_files(cache.path()).len(), 3, "{:?}", http_files(cache.path()));

    // `other` is still served from the cache; `demo` is downloaded again.
    server.clear_requests();
    let store = ArtifactStore::new(cache.path(), index, false);
    assert!(!prepare_one(&store, &request(&server, "other")).unwrap().downloaded);
    assert!(prepare_one(&store, &request(&server, "demo")).unwrap().downloaded);
    assert_eq!(server.request_count(), 1);
    assert!(matches!(clean_package(cache.path(), "not a name!"), Err(CacheError::InvalidName(_))));
}

#[test]
fn prune_removes_leftovers_and_keeps_valid_entries() {
    let server = serve(&["demo"]);
    let cache = tempfile::tempdir().unwrap();
    let root = cache.path();
    let request = request(&server, "demo");
    let kept = prepare_one(&store(root, &server, false), &request).unwrap();

    // An interrupted download and an interrupted unpack.
    let download = root.join("archives-v1/.tmp-Ab12/demo-1.0-py3-none-any.whl");
    fs::create_dir_all(download.parent().unwrap()).unwrap();
    fs::write(&download, b"PK partial").unwrap();
    fs::create_dir_all(root.join("wheels-v2/.tmp-unpack-Xy/demo")).unwrap();
    fs::write(root.join("wheels-v2/.tmp-unpack-Xy/demo/__init__.py"), b"x").unwrap();
    // The previous layout (`wheels-v1/` and wheel archives, gone), an unpacked
    // wheel alone (complete: kept), a source archive alone (kept), stale indexes, junk.
    let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
    fs::create_dir_all(root.join("archives-v1").join(&a)).unwrap();
    fs::write(root.join("archives-v1").join(&a).join("x-1.0-py3-none-any.whl"), b"zip").unwrap();
    fs::create_dir_all(root.join("wheels-v1").join(&a).join("x")).unwrap();
    fs::write(root.join("wheels-v1").join(&a).join("x/y.py"), b"y").unwrap();
    fs::create_dir_all(root.join("wheels-v2").join(&b).join("x")).unwrap();
    fs::write(root.join("wheels-v2").join(&b).join("x/y.py"), b"y").unwrap();
    fs::create_dir_all(root.join("archives-v1").join(&c)).unwrap();
    fs::write(root.join("archives-v1").join(&c).join("demo-1.0.tar.gz"), b"tgz").unwrap();
    fs::write(root.join("wheels-v2/by-url").join("d".repeat(64)), &a).unwrap();
    fs::write(root.join("wheels-v2/by-url/.tmpQ"), b"").unwrap();
    fs::create_dir_all(root.join("wheels-v2/by-name/x")).unwrap();
    fs::write(root.join("wheels-v2/by-name/x").join(&a), b"{}").unwrap();
    fs::write(root.join("wheels-v2/not-a-hash"), b"?").unwrap();
    fs::create_dir_all(root.join("http-v1/simple/ab")).unwrap();
    fs::write(root.join("http-v1/simple/ab/.tmpZZ"), b"half").unwrap();
    fs::create_dir_all(root.join("scratch-v1/build-1")).unwrap();
    fs::write(root.join("scratch-v1/build-1/setup.py"), b"").unwrap();
    // Install recipes: one unfinished under a temporary name, one without its
    // `recipe` file (both removed), one complete (kept).
    let recipes = kept.unpacked.join(pybun_fs_os::RECIPES_DIR);
    for (dir, file) in [(".tmp-Rc", "RECORD"), ("0123456789abcdef0123456789abcdef", "RECORD"), ("f".repeat(32).as_str(), "recipe")] {
        fs::create_dir_all(recipes.join(dir)).unwrap();
        fs::write(recipes.join(dir).join(file), b"x").unwrap();
    }
    let unpacked = kept.unpacked.strip_prefix(root).unwrap().to_string_lossy().into_owned();

    let outcome = prune(root).unwrap();
    let removed: Vec<String> =
        outcome.removed.iter().map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned()).collect();
    let expected = [
        "wheels-v1".to_string(),
        "archives-v1/.tmp-Ab12".to_string(),
        format!("archives-v1/{a}/x-1.0-py3-none-any.whl"),
        format!("archives-v1/{a}"),
        "wheels-v2/.tmp-unpack-Xy".to_string(),
        "wheels-v2/not-a-hash".to_string(),
        "wheels-v2/by-url/.tmpQ".to_string(),
        format!("wheels-v2/by-url/{}", "d".repeat(64)),
        format!("wheels-v2/by-name/x/{a}"),
        "wheels-v2/by-name/x".to_string(),
        "http-v1/simple/ab/.tmpZZ".to_string(),
        "scratch-v1/build-1".to_string(),
        format!("{unpacked}/.pybun-installed/.tmp-Rc"),
        format!("{unpacked}/.pybun-installed/0123456789abcdef0123456789abcdef"),
    ];
    let mut sorted_removed = removed.clone();
    sorted_removed.sort();
    let mut sorted_expected = expected.to_vec();
    sorted_expected.sort();
    assert_eq!(sorted_removed, sorted_expected);
    assert_eq!(outcome.removed_files, 12);
    assert!(recipes.join("f".repeat(32)).join("recipe").is_file());
    assert!(root.join("wheels-v2").join(&b).join("x/y.py").is_file());

    // The valid entry and the source archive are kept, and still a hit.
    assert!(root.join("archives-v1").join(&c).join("demo-1.0.tar.gz").is_file());
    let hit = prepare_one(&store(root, &server, false), &request).unwrap();
    assert_eq!(hit, pybun_ports::PreparedWheel { downloaded: false, ..kept });
    assert_eq!(server.request_count(), 1);
    // Nothing more to prune.
    assert_eq!(prune(root).unwrap().removed, Vec::<PathBuf>::new());
}

/// Set in the child processes of [`two_processes_prepare_the_same_wheel`]:
/// the cache directory, the URL, the hash and the file name, one a line.
const CHILD_ENV: &str = "PYBUN_CACHE_TEST_CHILD";

/// The child side of [`two_processes_prepare_the_same_wheel`]; does nothing in a normal run.
#[test]
fn child_process_prepare() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let lines: Vec<&str> = spec.lines().collect();
    let [cache, url, hash, filename] = lines[..] else { panic!("bad {CHILD_ENV}: {spec:?}") };
    let mut config = IndexConfig::new(cache);
    config.retries = 0;
    let store = ArtifactStore::new(cache, Arc::new(HttpIndex::new(config).unwrap()), false);
    let request = ArtifactRequest {
        name: "demo".to_string(),
        version: "1.0".to_string(),
        filename: filename.to_string(),
        url: url.to_string(),
        hash: Some(hash.to_string()),
        size: None,
    };
    let wheel = prepare_one(&store, &request).unwrap();
    writeln!(std::io::stdout(), "PREPARED {}", wheel.unpacked.display()).unwrap();
}

#[test]
fn two_processes_prepare_the_same_wheel() {
    let server = serve(&["demo"]);
    let cache = tempfile::tempdir().unwrap();
    let request = request(&server, "demo");
    let spec = format!(
        "{}\n{}\n{}\n{}",
        cache.path().display(),
        request.url,
        request.hash.as_deref().unwrap(),
        request.filename
    );
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_process_prepare", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, &spec)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let hex = request.hash.as_deref().unwrap().strip_prefix("sha256:").unwrap();
    let expected = format!("PREPARED {}", cache.path().join("wheels-v2").join(hex).display());
    for child in children {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains(&expected), "{stdout}");
    }
    assert_eq!(entries(&cache.path().join("wheels-v2")), sorted(["by-name", "by-url", hex]));
    // No size given: each download went through a temporary file, removed afterwards.
    assert!(entries(&cache.path().join("archives-v1")).is_empty());
    assert!((1..=2).contains(&server.request_count()));
}

// ---------------------------------------------------------------------------
// Unpacking while downloading (the locked size and hash path): faults.

/// A store whose client retries once, quickly (a cut body is fetched again).
fn retrying_store(cache: &Path, server: &IndexServer) -> ArtifactStore {
    let mut config = IndexConfig::new(cache);
    config.index_urls = vec![server.url()];
    config.retries = 1;
    config.retry_backoff = std::time::Duration::from_millis(1);
    ArtifactStore::new(cache, Arc::new(HttpIndex::new(config).unwrap()), false)
}

/// `big-1.0-py3-none-any.whl`: four stored (incompressible) members of 300 KiB
/// each from `seed`, so the body spans several of the feed's 256 KiB batches
/// and members are extracted while the rest is still on the way. The same
/// size for every seed.
fn big_wheel(seed: u64) -> (String, Vec<u8>) {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect()
    };
    let mut members: Vec<(String, Vec<u8>)> = vec![("big/__init__.py".to_string(), b"x = 1\n".to_vec())];
    for i in 0..4 {
        members.push((format!("big/blob{i}.bin"), noise(300 * 1024)));
    }
    members.push(("big-1.0.dist-info/METADATA".to_string(), b"Metadata-Version: 2.1\nName: big\nVersion: 1.0\n".to_vec()));
    members.push((
        "big-1.0.dist-info/WHEEL".to_string(),
        b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
    ));
    ("big-1.0-py3-none-any.whl".to_string(), stored_wheel(&members, "big-1.0.dist-info"))
}

/// A wheel of `members` stored (not deflated), with a `RECORD` listing them
/// all written last into `dist_info`.
fn stored_wheel(members: &[(String, Vec<u8>)], dist_info: &str) -> Vec<u8> {
    let mut record = String::new();
    for (path, content) in members {
        record.push_str(&format!("{path},sha256={},{}\n", urlsafe_b64_nopad(&Sha256::digest(content)), content.len()));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    let record_member = (format!("{dist_info}/RECORD"), record.into_bytes());
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, content) in members.iter().chain(std::iter::once(&record_member)) {
        writer.start_file(name.as_str(), options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// Serve `bytes` as `filename` and lock them (name, size, hash).
fn locked(server: &IndexServer, filename: &str, bytes: &[u8]) -> ArtifactRequest {
    server.put_file(filename, bytes.to_vec());
    let name = filename.split('-').next().unwrap().to_string();
    ArtifactRequest {
        name,
        version: "1.0".to_string(),
        filename: filename.to_string(),
        url: server.file_url(filename),
        hash: Some(format!("sha256:{}", sha256_hex(bytes))),
        size: Some(bytes.len() as u64),
    }
}

/// Every file under `dir` with its content and mode.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    files(dir)
        .into_iter()
        .map(|path| {
            let full = dir.join(&path);
            let mode = fs::metadata(&full).unwrap().permissions().mode() & 0o777;
            (path, fs::read(&full).unwrap(), mode)
        })
        .collect()
}

/// The tree the whole-archive unpacker makes of `bytes`.
fn reference_tree(filename: &str, bytes: &[u8]) -> Vec<(String, Vec<u8>, u32)> {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("unpacked");
    pybun_fs_os::unpack_wheel_bytes(filename, bytes, &dest).unwrap();
    tree(&dest)
}

/// No temporary directory (`.tmp-unpack-*`, `.tmp*`) anywhere in the cache, and no archive kept.
/// Prepare `request` into a new cache: the error, once checked that nothing
/// (not even a temporary file) was left behind.
fn refused_leaving_nothing(server: &IndexServer, request: &ArtifactRequest) -> ArtifactError {
    let cache = tempfile::tempdir().unwrap();
    let error = prepare_one(&store(cache.path(), server, false), request).unwrap_err();
    assert_nothing_kept(cache.path());
    assert_no_temporaries(cache.path());
    error
}

fn assert_no_temporaries(cache: &Path) {
    let leftovers: Vec<String> = files(cache).into_iter().filter(|path| path.contains("/.tmp") || path.starts_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    for dir in [cache.join("wheels-v2"), cache.join("archives-v1")] {
        let temporary: Vec<String> = entries(&dir).into_iter().filter(|name| name.starts_with(".tmp")).collect();
        assert!(temporary.is_empty(), "temporary directories left in {}: {temporary:?}", dir.display());
    }
    assert!(entries(&cache.join("archives-v1")).is_empty(), "no archive is kept");
}

#[test]
fn a_clean_download_is_unpacked_while_it_arrives() {
    let server = serve(&["demo"]);
    let (filename, bytes) = big_wheel(1);
    for request in [request(&server, "demo"), locked(&server, &filename, &bytes)] {
        let cache = tempfile::tempdir().unwrap();
        let store = store(cache.path(), &server, false);
        let wheel = prepare_one(&store, &request).unwrap();
        assert!(wheel.downloaded);
        assert_eq!(store.wheels_unpacked_while_downloading(), 1, "{}", request.filename);
        let served = server.file_bytes(&request.filename).unwrap();
        assert_eq!(tree(&wheel.unpacked), reference_tree(&request.filename, &served), "{}", request.filename);
        assert_no_temporaries(cache.path());
    }
}

#[test]
fn a_body_cut_mid_way_is_downloaded_again_and_unpacked_the_same() {
    let server = serve(&["demo"]);
    let (big, big_bytes) = big_wheel(2);
    let cases = [request(&server, "demo"), locked(&server, &big, &big_bytes)];
    for request in &cases {
        let served = server.file_bytes(&request.filename).unwrap();
        let len = served.len();
        let expected = reference_tree(&request.filename, &served);
        // Before any byte of the body, before the first member ends, past the central
        // directory's start, and (the big wheel) after the unpacker took its first batch.
        let mut cuts = vec![0, 100, len - 10];
        if len > 512 * 1024 {
            cuts.push(400 * 1024);
        }
        for cut in cuts {
            let cache = tempfile::tempdir().unwrap();
            let store = retrying_store(cache.path(), &server);
            server.clear_requests();
            server.cut_next("/files/", cut);
            let wheel = prepare_one(&store, request).unwrap_or_else(|e| panic!("{} cut at {cut}: {e}", request.filename));
            assert!(wheel.downloaded);
            let path = format!("/files/{}", request.filename);
            assert_eq!(server.requests(), [path.clone(), path], "cut at {cut}: one retry");
            assert_eq!(tree(&wheel.unpacked), expected, "{} cut at {cut}", request.filename);
            if cut < 256 * 1024 {
                // The unpacker is woken per 256 KiB (or at the end): it had taken nothing of
                // the cut body, so the second body is unpacked while it arrives.
                assert_eq!(store.wheels_unpacked_while_downloading(), 1, "{} cut at {cut}", request.filename);
            }
            assert_no_temporaries(cache.path());
            let hex = request.hash.as_deref().unwrap().strip_prefix("sha256:").unwrap();
            assert_eq!(entries(&cache.path().join("wheels-v2")), sorted(["by-name", "by-url", hex]));
        }
    }
}

#[test]
fn a_body_cut_with_no_retry_left_is_a_download_error_and_nothing_kept() {
    let server = serve(&[]);
    let (filename, bytes) = big_wheel(3);
    let request = locked(&server, &filename, &bytes);
    for cut in [100, 400 * 1024, bytes.len() - 10] {
        server.cut_next("/files/", cut);
        let error = refused_leaving_nothing(&server, &request);
        assert!(matches!(&error, ArtifactError::Download { url, .. } if *url == request.url), "cut at {cut}: {error:?}");
    }
}

#[test]
fn other_bytes_than_the_locked_ones_are_refused_after_unpacking_and_nothing_kept() {
    let server = serve(&[]);
    let (filename, locked_bytes) = big_wheel(4);
    // Another valid wheel of the same name and size: every member is extracted before the
    // body's hash is known.
    let (_, other) = big_wheel(5);
    assert_eq!(other.len(), locked_bytes.len());
    assert_ne!(other, locked_bytes);
    let request = locked(&server, &filename, &locked_bytes);
    server.put_file(&filename, other.clone());
    let cache = tempfile::tempdir().unwrap();
    let store = store(cache.path(), &server, false);
    let error = prepare_one(&store, &request).unwrap_err();
    assert_eq!(
        error,
        ArtifactError::HashMismatch {
            filename: filename.clone(),
            expected: request.hash.clone().unwrap(),
            actual: format!("sha256:{}", sha256_hex(&other)),
        }
    );
    assert_eq!(store.wheels_unpacked_while_downloading(), 0);
    assert_nothing_kept(cache.path());
    assert_no_temporaries(cache.path());
}

#[test]
fn a_body_longer_or_shorter_than_the_locked_size_is_refused_and_nothing_kept() {
    let server = serve(&[]);
    let (filename, bytes) = big_wheel(6);
    let request = locked(&server, &filename, &bytes);
    let size = bytes.len();

    // Longer: the wheel followed by 300 KiB more (the central directory and more arrive
    // before the sink refuses them).
    let mut longer = bytes.clone();
    longer.extend(std::iter::repeat_n(0_u8, 300 * 1024));
    server.put_file(&filename, longer);
    let error = refused_leaving_nothing(&server, &request);
    assert_eq!(
        error,
        ArtifactError::HashMismatch {
            filename: filename.clone(),
            expected: format!("{size} bytes"),
            actual: format!("more than {size} bytes"),
        }
    );

    // Shorter: the body ends (a complete response) in the middle of the last member.
    let shorter = bytes[..size - 1000].to_vec();
    server.put_file(&filename, shorter.clone());
    let error = refused_leaving_nothing(&server, &request);
    assert_eq!(
        error,
        ArtifactError::HashMismatch {
            filename: filename.clone(),
            expected: request.hash.clone().unwrap(),
            actual: format!("sha256:{}", sha256_hex(&shorter)),
        }
    );

    // A locked size smaller than the (valid) wheel: refused in the middle of the stream.
    server.put_file(&filename, bytes.clone());
    let smaller = ArtifactRequest { size: Some(size as u64 - 700 * 1024), ..request.clone() };
    let error = refused_leaving_nothing(&server, &smaller);
    let limit = size - 700 * 1024;
    assert_eq!(
        error,
        ArtifactError::HashMismatch {
            filename: filename.clone(),
            expected: format!("{limit} bytes"),
            actual: format!("more than {limit} bytes"),
        }
    );
}

#[test]
fn concurrent_prepares_of_one_big_wheel_unpack_while_downloading_and_share_one_copy() {
    let server = serve(&[]);
    let (filename, bytes) = big_wheel(7);
    let request = locked(&server, &filename, &bytes);
    let expected = reference_tree(&filename, &bytes);
    let cache = tempfile::tempdir().unwrap();
    let results = race(4, cache.path(), &server, &request);
    let hex = sha256_hex(&bytes);
    for (result, streamed) in &results {
        let wheel = result.as_ref().unwrap();
        assert_eq!(wheel.unpacked, cache.path().join("wheels-v2").join(&hex));
        // Every store downloaded and unpacked while downloading (one of them won the rename,
        // unless a late one found the directory already there and downloaded nothing).
        if wheel.downloaded {
            assert_eq!(*streamed, 1);
        }
    }
    assert_eq!(tree(&cache.path().join("wheels-v2").join(&hex)), expected);
    assert_eq!(entries(&cache.path().join("wheels-v2")), sorted(["by-name", "by-url", &hex]));
    assert_no_temporaries(cache.path());
}

#[test]
fn a_server_error_before_the_body_is_retried_and_the_wheel_still_unpacked_while_downloading() {
    let server = serve(&[]);
    let (filename, bytes) = big_wheel(8);
    let request = locked(&server, &filename, &bytes);
    let cache = tempfile::tempdir().unwrap();
    let store = retrying_store(cache.path(), &server);
    server.fail_next("/files/", 503);
    let wheel = prepare_one(&store, &request).unwrap();
    assert!(wheel.downloaded);
    assert_eq!(server.request_count(), 2);
    assert_eq!(store.wheels_unpacked_while_downloading(), 1);
    assert_eq!(tree(&wheel.unpacked), reference_tree(&filename, &bytes));
    assert_no_temporaries(cache.path());
}

#[test]
fn a_zip_slip_wheel_downloaded_with_a_lock_is_invalid_and_nothing_written_outside() {
    let server = serve(&[]);
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let source = root.path().join("src");
    fs::create_dir_all(&source).unwrap();
    let (filename, path) = zip_slip_wheel(&source);
    let request = locked(&server, &filename, &fs::read(&path).unwrap());
    let store = store(&cache, &server, false);
    let error = prepare_one(&store, &request).unwrap_err();
    let ArtifactError::InvalidWheel { reason, .. } = &error else { panic!("{error:?}") };
    assert!(reason.contains("../evil.py"), "{reason}");
    assert_eq!(store.wheels_unpacked_while_downloading(), 0);
    assert_nothing_kept(&cache);
    assert_no_temporaries(&cache);
    assert!(!root.path().join("evil.py").exists());
    assert!(!cache.join("evil.py").exists());
    assert!(!cache.join("wheels-v2/evil.py").exists());
}

#[test]
fn unpacking_while_downloading_or_once_complete_gives_the_same_entry() {
    let server = serve(&["demo"]);
    let (filename, bytes) = big_wheel(9);
    for request in [request(&server, "demo"), locked(&server, &filename, &bytes)] {
        let (streamed_cache, whole_cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let streaming = store(streamed_cache.path(), &server, false);
        let whole = store(whole_cache.path(), &server, false).with_unpacking_while_downloading(false);
        let (a, b) = (prepare_one(&streaming, &request).unwrap(), prepare_one(&whole, &request).unwrap());
        assert_eq!((streaming.wheels_unpacked_while_downloading(), whole.wheels_unpacked_while_downloading()), (1, 0));
        assert_eq!((a.downloaded, a.sha256.clone()), (b.downloaded, b.sha256.clone()));
        assert_eq!(tree(&a.unpacked), tree(&b.unpacked), "{}", request.filename);
        assert_no_temporaries(streamed_cache.path());
        assert_no_temporaries(whole_cache.path());
    }
}

/// Serve `body` on 127.0.0.1 in 20 pieces, `pause` after each: the port.
fn trickling_server(body: Vec<u8>, pause: std::time::Duration) -> u16 {
    use std::io::Read as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let body = body.clone();
            std::thread::spawn(move || {
                let mut head = [0_u8; 4096];
                let _ = stream.read(&mut head);
                let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                for piece in body.chunks(body.len() / 20 + 1) {
                    if stream.write_all(piece).is_err() {
                        return;
                    }
                    std::thread::sleep(pause);
                }
            });
        }
    });
    port
}

/// The timeout bounds each wait for the server, not the whole download: a
/// body that keeps arriving for longer than the timeout is fine (a large
/// wheel on a slow line), one that stalls for longer fails.
#[test]
fn a_slow_download_is_fine_a_stalled_one_times_out() {
    let (filename, bytes) = big_wheel(10);
    let request = |port: u16| ArtifactRequest {
        name: "big".into(),
        version: "1.0".into(),
        url: format!("http://127.0.0.1:{port}/{filename}"),
        hash: Some(format!("sha256:{}", sha256_hex(&bytes))),
        size: Some(bytes.len() as u64),
        filename: filename.clone(),
    };
    let store = |cache: &Path| {
        let mut config = IndexConfig::new(cache);
        config.timeout = std::time::Duration::from_secs(1);
        config.retries = 0;
        ArtifactStore::new(cache, Arc::new(HttpIndex::new(config).unwrap()), false)
    };
    // About 2 s in all, a piece every 100 ms.
    let cache = tempfile::tempdir().unwrap();
    let port = trickling_server(bytes.clone(), std::time::Duration::from_millis(100));
    let wheel = prepare_one(&store(cache.path()), &request(port));
    assert!(wheel.is_ok_and(|w| w.downloaded));
    // A 1.5 s silence after the first piece.
    let cache = tempfile::tempdir().unwrap();
    let port = trickling_server(bytes.clone(), std::time::Duration::from_millis(1500));
    let error = prepare_one(&store(cache.path()), &request(port)).unwrap_err();
    assert!(matches!(error, ArtifactError::Download { .. }), "{error:?}");
}

/// `threads` stores on one cache, each its own "process" (its own store and
/// HTTP client), preparing `request` at the same moment: each one's result
/// and how many wheels it unpacked while downloading.
fn race(
    threads: usize,
    cache: &Path,
    server: &IndexServer,
    request: &ArtifactRequest,
) -> Vec<(Result<PreparedWheel, ArtifactError>, usize)> {
    let barrier = Arc::new(Barrier::new(threads));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                scope.spawn(move || {
                    let store = store(cache, server, false);
                    barrier.wait();
                    let result = prepare_one(&store, request);
                    (result, store.wheels_unpacked_while_downloading())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// A wheel the stream refuses after it has let go of what it read (an unsafe
/// member after 840 KiB, the whole under the 1 MiB hand-over, so the stream
/// reaches it): it is downloaded again, whole, for the verdict, and nothing
/// is kept.
#[test]
fn a_wheel_refused_late_in_the_stream_is_downloaded_again_for_the_verdict() {
    let mut members: Vec<(String, Vec<u8>)> = vec![("late/__init__.py".to_string(), b"x = 1\n".to_vec())];
    for i in 0..3_u8 {
        members.push((format!("late/blob{i}.bin"), vec![i; 280 * 1024]));
    }
    members.push(("late-1.0.dist-info/WHEEL".to_string(), b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec()));
    // Without the unsafe member it unpacks while downloading, from what was not let go of.
    let good = stored_wheel(&members, "late-1.0.dist-info");
    members.insert(4, ("../evil.py".to_string(), b"import os\n".to_vec()));
    let bytes = stored_wheel(&members, "late-1.0.dist-info");
    assert!(bytes.len() < 1024 * 1024);
    let server = serve(&[]);
    let good_request = locked(&server, "late-1.0-py2.py3-none-any.whl", &good);
    let cache = tempfile::tempdir().unwrap();
    let store = store(cache.path(), &server, false);
    let wheel = prepare_one(&store, &good_request).unwrap();
    assert_eq!(store.wheels_unpacked_while_downloading(), 1);
    assert_eq!(fs::read(wheel.unpacked.join("late/blob2.bin")).unwrap(), vec![2_u8; 280 * 1024]);
    assert_no_temporaries(cache.path());
    let request = locked(&server, "late-1.0-py3-none-any.whl", &bytes);
    server.clear_requests();
    let error = refused_leaving_nothing(&server, &request);
    let ArtifactError::InvalidWheel { reason, .. } = &error else { panic!("{error:?}") };
    assert!(reason.contains("../evil.py"), "{reason}");
    let downloads = server.requests().iter().filter(|path| path.ends_with("late-1.0-py3-none-any.whl")).count();
    assert_eq!(downloads, 2, "streamed, then downloaded whole: {:?}", server.requests());
}
