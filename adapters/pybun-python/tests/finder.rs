//! Against the real interpreters of this machine. Tests that need one skip
//! (with a note on stderr) when it is missing.
#![cfg(unix)]
#![allow(clippy::print_stderr)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pybun_env::{Libc, Tags, select_interpreter};
use pybun_ports::{InterpreterError, Interpreters};
use pybun_python::{FinderConfig, PythonFinder, is_pyenv_shim};

const SYSTEM_PYTHON: &str = "/usr/bin/python3";

fn finder(cache: &Path) -> PythonFinder {
    PythonFinder::new(FinderConfig {
        cache_dir: cache.to_path_buf(),
        managed_dir: Some(cache.join("no-such-managed-dir")),
        search_path: std::env::var_os("PATH"),
        home: std::env::var_os("HOME").map(PathBuf::from),
    })
}

fn have(path: &str) -> bool {
    let ok = Path::new(path).exists();
    if !ok {
        eprintln!("skipping: {path} is not on this machine");
    }
    ok
}

fn write_script(path: &Path, body: &str) {
    fs::write(path, body).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn inspect_system_python() {
    if !have(SYSTEM_PYTHON) {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let finder = finder(cache.path());
    let python = finder.inspect(Path::new(SYSTEM_PYTHON)).unwrap();
    assert_eq!(python.path, Path::new(SYSTEM_PYTHON));
    assert_eq!(python.implementation_name, "cpython");
    assert_eq!(python.major, 3);
    assert_eq!(python.python_version, format!("3.{}", python.minor));
    assert!(python.python_full_version.starts_with(&python.python_version));
    assert!(!python.is_virtualenv);
    assert_eq!(python.prefix, python.base_prefix);
    assert!(python.sys_executable.is_absolute());
    if cfg!(target_os = "linux") {
        assert_eq!(python.sys_platform, "linux");
        assert_eq!(python.os_name, "posix");
        assert!(matches!(python.libc, Some(Libc::Glibc { major: 2, .. } | Libc::Musl { major: 1, .. })), "{:?}", python.libc);
        assert!(python.ext_suffix.as_deref().is_some_and(|s| s.starts_with(&format!(".cpython-3{}", python.minor))));
    }
    assert!(python.purelib.is_absolute() && python.scripts.is_absolute());
    // The facts feed the pure policy.
    let tags = Tags::for_interpreter(&python);
    assert!(tags.best_wheel(["six-1.16.0-py2.py3-none-any.whl"]).is_some());
    let markers = python.marker_environment();
    assert_eq!(markers.python_full_version().version.to_string(), python.python_full_version);
    assert_eq!(finder.probe_count(), 1);
}

#[test]
fn second_inspect_reads_the_cache() {
    if !have(SYSTEM_PYTHON) {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let first = finder(cache.path());
    let cold = first.inspect(Path::new(SYSTEM_PYTHON)).unwrap();
    assert_eq!(first.probe_count(), 1);
    let warm = first.inspect(Path::new(SYSTEM_PYTHON)).unwrap();
    assert_eq!(first.probe_count(), 1, "the second inspect must not start a process");
    assert_eq!(cold, warm);

    // A new finder (a new process) on the same cache: still no probe.
    let second = finder(cache.path());
    assert_eq!(second.inspect(Path::new(SYSTEM_PYTHON)).unwrap(), cold);
    assert_eq!(second.probe_count(), 0);

    // One entry, named by a sha256, holding the stamp and the facts.
    let entries: Vec<PathBuf> = fs::read_dir(cache.path().join("interpreter-v1")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let name = entries[0].file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(name.len(), 64 + ".json".len());
    let entry: serde_json::Value = serde_json::from_slice(&fs::read(&entries[0]).unwrap()).unwrap();
    assert!(entry["mtime_ns"].as_u64().unwrap() > 0);
    assert!(entry["size"].as_u64().unwrap() > 0);
    assert_eq!(entry["interpreter"]["python_full_version"], cold.python_full_version.as_str());
}

#[test]
fn cache_is_invalidated_when_the_executable_changes() {
    if !have(SYSTEM_PYTHON) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("python3");
    write_script(&fake, &format!("#!/bin/sh\nexec {SYSTEM_PYTHON} \"$@\"\n"));
    let finder = finder(&dir.path().join("cache"));

    let first = finder.inspect(&fake).unwrap();
    assert_eq!(first.path, fake);
    assert_eq!(finder.probe_count(), 1);
    finder.inspect(&fake).unwrap();
    assert_eq!(finder.probe_count(), 1);

    // Same size, new mtime.
    let file = fs::File::options().write(true).open(&fake).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(3600)).unwrap();
    drop(file);
    finder.inspect(&fake).unwrap();
    assert_eq!(finder.probe_count(), 2, "a new mtime means a new probe");
    finder.inspect(&fake).unwrap();
    assert_eq!(finder.probe_count(), 2);

    // The cached answer is not trusted once the script points elsewhere.
    write_script(&fake, "#!/bin/sh\necho 'no python here' >&2\nexit 1\n");
    assert!(matches!(finder.inspect(&fake), Err(InterpreterError::ProbeFailed { .. })));
    assert_eq!(finder.probe_count(), 3);
}

#[test]
fn a_symlink_in_another_directory_is_its_own_entry_and_keeps_its_path() {
    if !have(SYSTEM_PYTHON) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("python");
    std::os::unix::fs::symlink(SYSTEM_PYTHON, &link).unwrap();
    let finder = finder(&dir.path().join("cache"));
    let through_link = finder.inspect(&link).unwrap();
    let direct = finder.inspect(Path::new(SYSTEM_PYTHON)).unwrap();
    assert_eq!(through_link.path, link);
    assert_eq!(direct.path, Path::new(SYSTEM_PYTHON));
    assert_eq!(through_link.python_full_version, direct.python_full_version);
}

#[test]
fn broken_python_is_a_readable_probe_failure() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("python");
    write_script(&broken, "#!/bin/sh\necho 'Fatal Python error: init_fs_encoding' >&2\nexit 1\n");
    let finder = finder(&dir.path().join("cache"));
    let error = finder.inspect(&broken).unwrap_err();
    let InterpreterError::ProbeFailed { path, reason } = &error else { panic!("{error:?}") };
    assert_eq!(path, &broken);
    assert!(reason.contains("exited with status 1"), "{reason}");
    assert!(reason.contains("Fatal Python error: init_fs_encoding"), "{reason}");
    assert!(error.to_string().contains("could not read the facts of"), "{error}");
    // Failures are not cached.
    assert!(finder.inspect(&broken).is_err());
    assert_eq!(finder.probe_count(), 2);

    let liar = dir.path().join("python-liar");
    write_script(&liar, "#!/bin/sh\necho 'hello'\n");
    let error = finder.inspect(&liar).unwrap_err();
    assert!(error.to_string().contains("not the probe's JSON"), "{error}");
}

/// A probe that does not answer is stopped at the timeout, whether it keeps
/// its output open or closes it and goes on.
#[test]
fn a_probe_that_does_not_answer_is_stopped_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let silent = dir.path().join("python-silent");
    write_script(&silent, "#!/bin/sh\nexec sleep 30\n");
    let closed = dir.path().join("python-closed");
    write_script(&closed, "#!/bin/sh\nexec >&- 2>&-\nexec sleep 30\n");
    let finder = finder(&dir.path().join("cache")).with_probe_timeout(Duration::from_millis(300));
    for path in [&silent, &closed] {
        let started = std::time::Instant::now();
        let error = finder.inspect(path).unwrap_err();
        assert!(error.to_string().contains("did not answer within 0.3 s"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    }
}

#[test]
fn missing_and_non_executable_paths() {
    let dir = tempfile::tempdir().unwrap();
    let finder = finder(&dir.path().join("cache"));
    let missing = finder.inspect(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(&missing, InterpreterError::NotExecutable { reason, .. } if reason == "no such file"), "{missing:?}");
    let plain = dir.path().join("plain");
    fs::write(&plain, "print(1)").unwrap();
    let error = finder.inspect(&plain).unwrap_err();
    assert!(matches!(&error, InterpreterError::NotExecutable { reason, .. } if reason.contains("not executable")), "{error:?}");
    let error = finder.inspect(dir.path()).unwrap_err();
    assert!(matches!(&error, InterpreterError::NotExecutable { reason, .. } if reason.contains("directory")), "{error:?}");
    assert_eq!(finder.probe_count(), 0);
}

#[test]
fn python_2_is_skipped_with_a_reason() {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let python2 = home.join(".pyenv/versions/2.7.18/bin/python");
    if !have(python2.to_str().unwrap_or_default()) {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let error = finder(cache.path()).inspect(&python2).unwrap_err();
    assert!(matches!(&error, InterpreterError::ProbeFailed { reason, .. } if reason.contains("Python 2")), "{error:?}");
}

#[test]
fn discover_finds_pyenv_versions_and_no_shims() {
    let cache = tempfile::tempdir().unwrap();
    let finder = finder(cache.path());
    let candidates = finder.candidates();
    assert!(candidates.iter().all(|path| !path.components().any(|c| c.as_os_str() == "shims")), "{candidates:?}");
    assert!(candidates.iter().all(|path| !is_pyenv_shim(path)));

    let found = finder.discover();
    let cold_probes = finder.probe_count();
    assert!(cold_probes >= found.len());
    for python in &found {
        eprintln!("found {} at {}", python.python_full_version, python.path.display());
        assert_eq!(python.major, 3, "{python:?}");
        assert!(!python.path.to_string_lossy().contains("/shims/"), "{}", python.path.display());
    }
    // Deduplicated by the canonical `sys.executable` (and prefix).
    let mut keys: Vec<(PathBuf, PathBuf)> = found
        .iter()
        .map(|p| (fs::canonicalize(&p.sys_executable).unwrap(), p.prefix.clone()))
        .collect();
    let before = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), before, "duplicates in {found:#?}");

    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    if home.join(".pyenv/versions/3.13.0").exists() && home.join(".pyenv/versions/3.12.1").exists() {
        let versions: Vec<&str> = found.iter().map(|p| p.python_version.as_str()).collect();
        for wanted in ["3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"] {
            assert!(versions.contains(&wanted), "{wanted} not in {versions:?}");
        }
        // The pure selection works on the discovered list.
        let requires = ">=3.12,<3.13".parse().unwrap();
        let selection = select_interpreter(&found, None, Some(&requires)).unwrap();
        assert_eq!(selection.interpreter.python_version, "3.12");
    }
    if Path::new(SYSTEM_PYTHON).exists() {
        assert!(found.iter().any(|p| p.prefix == Path::new("/usr")), "the system Python is found");
    }

    // Warm: no probes at all.
    let again = finder.discover();
    assert_eq!(finder.probe_count(), cold_probes);
    assert_eq!(again, found);
}

#[test]
fn managed_dir_comes_first() {
    if !have(SYSTEM_PYTHON) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let managed = dir.path().join("managed");
    for name in ["cpython-3.9.0-linux", "cpython-3.11.0-linux"] {
        fs::create_dir_all(managed.join(name).join("bin")).unwrap();
        write_script(&managed.join(name).join("bin/python3"), &format!("#!/bin/sh\nexec {SYSTEM_PYTHON} \"$@\"\n"));
    }
    let finder = PythonFinder::new(FinderConfig {
        cache_dir: dir.path().join("cache"),
        managed_dir: Some(managed.clone()),
        search_path: Some("/nonexistent".into()),
        home: None,
    });
    let candidates = finder.candidates();
    assert_eq!(candidates[0], managed.join("cpython-3.11.0-linux/bin/python3"));
    assert_eq!(candidates[1], managed.join("cpython-3.9.0-linux/bin/python3"));
    // Both scripts exec the same interpreter: one survives deduplication, the first.
    let found = finder.discover();
    assert_eq!(found[0].path, managed.join("cpython-3.11.0-linux/bin/python3"));
    assert_eq!(found.iter().filter(|p| p.prefix == Path::new("/usr")).count(), 1);
}

/// Our tag list equals `packaging.tags.sys_tags()` (pip's vendored copy), tag
/// for tag and in order, for every discovered interpreter that has pip.
#[test]
fn tags_match_packaging_sys_tags() {
    let cache = tempfile::tempdir().unwrap();
    let finder = finder(cache.path());
    let mut compared = 0;
    for python in finder.discover() {
        let output = std::process::Command::new(&python.path)
            .args(["-c", "from pip._vendor.packaging import tags\nfor t in tags.sys_tags(): print(t)"])
            .output()
            .unwrap();
        if !output.status.success() {
            eprintln!("skipping {}: no pip with packaging.tags", python.path.display());
            continue;
        }
        let theirs: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect();
        let mut ours: Vec<String> = Tags::for_interpreter(&python).iter().map(|(p, a, s)| format!("{p}-{a}-{s}")).collect();
        // `packaging` before 24 has no `cpXY-none-any`.
        if !theirs.iter().any(|tag| tag.starts_with("cp") && tag.ends_with("-none-any")) {
            ours.retain(|tag| !(tag.starts_with("cp") && tag.ends_with("-none-any")));
        }
        let first_difference = ours.iter().zip(&theirs).position(|(a, b)| a != b);
        assert_eq!(
            (first_difference, ours.len()),
            (None, theirs.len()),
            "{} ({}): first difference at {first_difference:?}",
            python.path.display(),
            python.python_full_version
        );
        compared += 1;
    }
    eprintln!("compared the tags of {compared} interpreters with packaging");
}

/// The probe writes its JSON itself and reads the platform from `os.uname()`
/// (not `json`, not `platform`: 6.5 ms of imports): on every interpreter
/// found here its facts are what `platform` says, and a path with quotes, a
/// backslash, a newline and characters beyond ASCII comes back as it is.
#[test]
fn the_probe_reports_what_platform_says_and_any_path() {
    let cache = tempfile::tempdir().unwrap();
    let finder = finder(cache.path());
    let found = finder.discover();
    assert!(!found.is_empty(), "no interpreter on this machine");
    for python in &found {
        let reference = std::process::Command::new(&python.path)
            .args(["-I", "-S", "-c"])
            .arg(
                "import json, platform; print(json.dumps([platform.python_version(), platform.machine(), \
                 platform.system(), platform.release(), platform.version(), platform.python_implementation()]))",
            )
            .output()
            .unwrap();
        let expected: Vec<String> = serde_json::from_slice(&reference.stdout).unwrap();
        let probed = [
            &python.python_full_version,
            &python.platform_machine,
            &python.platform_system,
            &python.platform_release,
            &python.platform_version,
            &python.platform_python_implementation,
        ];
        let probed: Vec<&String> = probed.into_iter().collect();
        assert_eq!(probed, expected.iter().collect::<Vec<_>>(), "{}", python.path.display());
    }

    let odd = cache.path().join("it's \"odd\" \\ ü 🐍\nhere");
    fs::create_dir_all(&odd).unwrap();
    let link = odd.join("python3");
    std::os::unix::fs::symlink(&found[0].sys_executable, &link).unwrap();
    let python = finder.inspect(&link).unwrap();
    assert_eq!(python.path, link);
    assert_eq!(python.sys_executable, link, "sys.executable is the path it was started by");
}
