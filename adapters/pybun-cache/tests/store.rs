//! `ArtifactStore` and cache management against a local index server (hermetic).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::{Arc, Barrier};

use pybun_cache::{ArtifactStore, CacheError, cache_info, clean, clean_package, prune};
use pybun_index_http::{HttpIndex, IndexConfig};
use pybun_pep::PackageName;
use pybun_ports::{ArtifactCache, ArtifactError, ArtifactRequest, PackageIndex as _};
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
    let threads = 4;
    let barrier = Arc::new(Barrier::new(threads));
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let (cache, server, request) = (cache.path(), &server, &request);
                scope.spawn(move || {
                    // Each thread is its own "process": its own store and HTTP client.
                    let store = store(cache, server, false);
                    barrier.wait();
                    prepare_one(&store, request)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
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
    assert!(!cache.path().join("archives-v1").exists());
    assert!((1..=2).contains(&server.request_count()));
}
