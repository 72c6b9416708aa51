//! Wheel unpacking and installation on a real filesystem, hermetic (temporary
//! directories, wheels built in memory). Launchers are run with the machine's
//! `python3` when there is one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::{Arc, Barrier};

use pybun_fs_os::{
    ArchiveStream, HAND_OVER_AT_LEAST, InstallOptions, LinkMode, RECIPES_DIR, StreamedWheel, Unpacked, detect_link_mode,
    install_from_recipe,
    install_planned, install_wheel, link_file, plan_unpacked, unpack_wheel, unpack_wheel_bytes,
};
use pybun_install::{Record, RecordHash, SchemePaths};
use pybun_pep::WheelFilename;
use pybun_testkit::{DistSpec, build_wheel};

/// A member of a hand-built wheel: path, content, unix permissions.
type Member = (&'static str, Vec<u8>, u32);

const WHEEL_TEXT: &str = "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n";

/// The members of `demo-1.0-py3-none-any.whl` (RECORD excluded).
fn demo_members() -> Vec<Member> {
    vec![
        ("demo/__init__.py", b"def main():\n    print('hello from demo')\n\ndef gui():\n    print('gui')\n".to_vec(), 0o644),
        (
            "demo/cli.py",
            b"class App:\n    @staticmethod\n    def run():\n        print('nested', flush=True)\n        return 3\n".to_vec(),
            0o644,
        ),
        ("demo-1.0.data/scripts/demo-tool", b"#!python\nimport sys\nprint('tool', sys.argv[1:])\n".to_vec(), 0o644),
        ("demo-1.0.data/scripts/plain.sh", b"#!/bin/sh\necho plain\n".to_vec(), 0o755),
        ("demo-1.0.data/data/share/demo/readme.txt", b"read me\n".to_vec(), 0o644),
        ("demo-1.0.data/headers/demo.h", b"int demo;\n".to_vec(), 0o644),
        ("demo-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n".to_vec(), 0o644),
        ("demo-1.0.dist-info/WHEEL", WHEEL_TEXT.as_bytes().to_vec(), 0o644),
        (
            "demo-1.0.dist-info/entry_points.txt",
            b"[console_scripts]\ndemo = demo:main\nDemo-Nested = demo.cli:App.run\n\n[gui_scripts]\ndemo-gui = demo:gui\n"
                .to_vec(),
            0o644,
        ),
    ]
}

/// RECORD text listing `members` except `unlisted`, with `demo-1.0.dist-info/RECORD,,`.
fn record_for(members: &[Member], unlisted: &[&str]) -> String {
    let mut record = String::new();
    for (path, content, _) in members.iter().filter(|(p, _, _)| !unlisted.contains(p)) {
        record.push_str(&format!("{path},{},{}\n", RecordHash::sha256(content), content.len()));
    }
    record.push_str("demo-1.0.dist-info/RECORD,,\n");
    record
}

/// Write a wheel zip of `members` plus `record` as `dir/filename`.
fn zip_wheel(dir: &Path, filename: &str, members: &[Member], record: &str) -> PathBuf {
    let path = dir.join(filename);
    let mut writer = zip::ZipWriter::new(fs::File::create(&path).unwrap());
    let record_member: Member = ("demo-1.0.dist-info/RECORD", record.as_bytes().to_vec(), 0o644);
    for (name, content, mode) in members.iter().chain(std::iter::once(&record_member)) {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(*mode);
        writer.start_file(*name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap();
    path
}

fn demo_wheel(dir: &Path) -> PathBuf {
    let members = demo_members();
    zip_wheel(dir, "demo-1.0-py3-none-any.whl", &members, &record_for(&members, &[]))
}

fn scheme(env: &Path) -> SchemePaths {
    let site = env.join("lib/python3/site-packages");
    SchemePaths {
        purelib: site.clone(),
        platlib: site,
        scripts: env.join("bin"),
        headers: env.join("include/site/python3/demo"),
        data: env.to_path_buf(),
    }
}

fn options(interpreter: &Path) -> InstallOptions {
    InstallOptions { interpreter: interpreter.to_path_buf(), direct_url: None }
}

/// The real interpreter behind `python3` (not a pyenv shim), if there is one.
#[expect(clippy::print_stderr, reason = "tell why a test is skipped")]
fn python() -> Option<PathBuf> {
    let output = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output();
    match output {
        Ok(output) if output.status.success() => {
            Some(PathBuf::from(String::from_utf8(output.stdout).unwrap().trim()))
        }
        _ => {
            eprintln!("skipping: no working `python3` on PATH to run the launchers with");
            None
        }
    }
}

/// `path` with `..` resolved lexically (symlinks are not followed).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every installed file under `env` is in RECORD with the right hash and size, and RECORD lists nothing else.
fn verify_record(env: &Path, dist_info: &Path) {
    let site = dist_info.parent().unwrap();
    let record = Record::parse(&fs::read_to_string(dist_info.join("RECORD")).unwrap()).unwrap();
    let mut listed = BTreeSet::new();
    for entry in &record.entries {
        let path = lexical(&site.join(&entry.path));
        let content = fs::read(&path).unwrap_or_else(|e| panic!("RECORD lists {}: {e}", path.display()));
        if let Some(hash) = &entry.hash {
            assert_eq!(&RecordHash::of(hash.algorithm, &content), hash, "{}", entry.path);
            assert_eq!(entry.size, Some(content.len() as u64), "{}", entry.path);
        } else {
            assert_eq!(entry.path, "demo-1.0.dist-info/RECORD");
        }
        listed.insert(path);
    }
    let mut on_disk = Vec::new();
    files_under(env, &mut on_disk);
    let on_disk: BTreeSet<PathBuf> = on_disk.into_iter().collect();
    assert_eq!(on_disk, listed, "installed files and RECORD differ");
}

/// `relative path -> (content, permissions)` of every file under `dir`.
fn tree(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut files = Vec::new();
    files_under(dir, &mut files);
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            (relative, (fs::read(&path).unwrap(), mode))
        })
        .collect()
}

fn run(program: &Path, site: &Path, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(program).args(args).env("PYTHONPATH", site).output().unwrap();
    assert!(output.stderr.is_empty() || output.status.code() == Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    (output.status.code(), String::from_utf8(output.stdout).unwrap())
}

/// Unpack the demo wheel into `root/cache` and install it into `root/env` with `mode`.
fn install_demo(root: &Path, mode: LinkMode, interpreter: &Path) -> (PathBuf, pybun_fs_os::Installed) {
    let wheel = demo_wheel(root);
    let unpacked = root.join("cache/demo-1.0-py3-none-any");
    if !unpacked.exists() {
        assert_eq!(unpack_wheel(&wheel, &unpacked).unwrap(), Unpacked::Fresh);
    }
    let env = root.join(format!("env-{mode:?}"));
    let name = WheelFilename::from_str("demo-1.0-py3-none-any.whl").unwrap();
    let plan = plan_unpacked(&unpacked, &name, &scheme(&env)).unwrap();
    let installed = install_planned(&unpacked, &plan, mode, &options(interpreter)).unwrap();
    (env, installed)
}

#[test]
fn installs_a_testkit_wheel() {
    let dir = tempfile::tempdir().unwrap();
    let (filename, bytes) = build_wheel(&DistSpec::new("Demo-Pkg", "2.0"), "py3-none-any");
    let wheel = dir.path().join(&filename);
    fs::write(&wheel, bytes).unwrap();
    let env = dir.path().join("env");
    let installed =
        install_wheel(&wheel, &dir.path().join("cache"), &scheme(&env), None, &options(Path::new("/usr/bin/python3")))
            .unwrap();
    let site = env.join("lib/python3/site-packages");
    assert_eq!(installed.dist_info, site.join("demo_pkg-2.0.dist-info"));
    assert_eq!(fs::read_to_string(site.join("demo_pkg/__init__.py")).unwrap(), "__version__ = \"2.0\"\n");
    assert_eq!(fs::read_to_string(installed.dist_info.join("INSTALLER")).unwrap(), "pybun\n");
    assert!(installed.scripts.is_empty());
    let record = fs::read_to_string(installed.dist_info.join("RECORD")).unwrap();
    let paths: Vec<&str> = record.lines().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "demo_pkg-2.0.dist-info/INSTALLER",
            "demo_pkg-2.0.dist-info/METADATA",
            "demo_pkg-2.0.dist-info/RECORD",
            "demo_pkg-2.0.dist-info/WHEEL",
            "demo_pkg/__init__.py",
        ]
    );
    let site_record = Record::parse(&record).unwrap();
    assert!(site_record.entries.iter().all(|e| e.hash.is_some() || e.path.ends_with("/RECORD")));
    // Reinstalling over it (same cache) works and leaves the same tree.
    let before = tree(&env);
    install_wheel(&wheel, &dir.path().join("cache"), &scheme(&env), None, &options(Path::new("/usr/bin/python3")))
        .unwrap();
    assert_eq!(tree(&env), before);
}

#[test]
fn installs_scripts_data_and_runs_console_scripts() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (env, installed) = install_demo(dir.path(), LinkMode::Copy, &python);
    let site = env.join("lib/python3/site-packages");
    let bin = env.join("bin");
    assert_eq!(
        installed.scripts,
        ["Demo-Nested", "demo", "demo-gui", "demo-tool", "plain.sh"].map(|s| bin.join(s)).to_vec()
    );
    for script in &installed.scripts {
        let mode = fs::metadata(script).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "{}", script.display());
    }
    assert_eq!(fs::read_to_string(env.join("share/demo/readme.txt")).unwrap(), "read me\n");
    assert_eq!(fs::read_to_string(env.join("include/site/python3/demo/demo.h")).unwrap(), "int demo;\n");
    assert_eq!(fs::metadata(site.join("demo/__init__.py")).unwrap().permissions().mode() & 0o777, 0o644);
    assert!(!site.join("demo-1.0.data").exists());
    assert_eq!(fs::read_to_string(installed.dist_info.join("INSTALLER")).unwrap(), "pybun\n");
    assert!(!installed.dist_info.join("direct_url.json").exists());
    let record = fs::read_to_string(installed.dist_info.join("RECORD")).unwrap();
    assert!(record.contains("\n../../../bin/demo,sha256="), "{record}");
    assert!(record.contains("\n../../../share/demo/readme.txt,sha256="), "{record}");
    verify_record(&env, &installed.dist_info);

    // The launchers and the rewritten `#!python` script run with the real interpreter.
    assert_eq!(run(&bin.join("demo"), &site, &[]), (Some(0), "hello from demo\n".to_string()));
    assert_eq!(run(&bin.join("demo-gui"), &site, &[]), (Some(0), "gui\n".to_string()));
    assert_eq!(run(&bin.join("Demo-Nested"), &site, &[]), (Some(3), "nested\n".to_string()));
    let tool = fs::read_to_string(bin.join("demo-tool")).unwrap();
    assert_eq!(tool.lines().next().unwrap(), format!("#!{}", python.display()));
    assert_eq!(run(&bin.join("demo-tool"), &site, &["a", "b"]), (Some(0), "tool ['a', 'b']\n".to_string()));
    assert_eq!(run(&bin.join("plain.sh"), &site, &[]), (Some(0), "plain\n".to_string()));
}

#[test]
fn launchers_work_with_an_interpreter_path_containing_spaces() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let spaced = dir.path().join("my env/bin/python");
    fs::create_dir_all(spaced.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&python, &spaced).unwrap();
    let (env, _) = install_demo(dir.path(), LinkMode::Copy, &spaced);
    let site = env.join("lib/python3/site-packages");
    let launcher = fs::read_to_string(env.join("bin/demo")).unwrap();
    assert!(launcher.starts_with("#!/bin/sh\n'''exec' \""), "{launcher}");
    assert_eq!(run(&env.join("bin/demo"), &site, &[]), (Some(0), "hello from demo\n".to_string()));
    assert_eq!(run(&env.join("bin/demo-tool"), &site, &["x"]), (Some(0), "tool ['x']\n".to_string()));
}

#[test]
fn link_modes_produce_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    let python = Path::new("/opt/python/bin/python3");
    let (copy_env, copied) = install_demo(dir.path(), LinkMode::Copy, python);
    let (link_env, linked) = install_demo(dir.path(), LinkMode::Hardlink, python);
    let (sym_env, _) = install_demo(dir.path(), LinkMode::Symlink, python);
    assert_eq!(tree(&copy_env), tree(&link_env));
    assert_eq!(tree(&copy_env), tree(&sym_env));
    verify_record(&copy_env, &copied.dist_info);
    verify_record(&link_env, &linked.dist_info);

    let cached = dir.path().join("cache/demo-1.0-py3-none-any/demo/__init__.py");
    let module = |env: &Path| env.join("lib/python3/site-packages/demo/__init__.py");
    assert!(fs::metadata(module(&link_env)).unwrap().nlink() >= 2, "hard-linked to the cache");
    assert_eq!(fs::metadata(module(&link_env)).unwrap().ino(), fs::metadata(&cached).unwrap().ino());
    assert_eq!(fs::metadata(module(&copy_env)).unwrap().nlink(), 1);
    assert_eq!(fs::read_link(module(&sym_env)).unwrap(), cached);
    // Rewritten scripts are written afresh, never through a link into the cache.
    let cached_tool = dir.path().join("cache/demo-1.0-py3-none-any/demo-1.0.data/scripts/demo-tool");
    assert!(fs::read_to_string(&cached_tool).unwrap().starts_with("#!python\n"));
    assert_eq!(fs::metadata(link_env.join("bin/demo-tool")).unwrap().nlink(), 1);
}

#[test]
fn detects_a_link_mode_once_and_links_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = cache_and_env(dir.path());
    let mode = detect_link_mode(&from, &to);
    assert_ne!(mode, LinkMode::Symlink);
    assert_eq!(detect_link_mode(&from, &to), mode);
    // Probes leave nothing behind.
    assert_eq!(fs::read_dir(&from).unwrap().count() + fs::read_dir(&to).unwrap().count(), 0);
    let src = from.join("a.py");
    fs::write(&src, "x = 1\n").unwrap();
    fs::write(to.join("a.py"), "old").unwrap();
    link_file(&src, &to.join("a.py"), mode).unwrap();
    assert_eq!(fs::read_to_string(to.join("a.py")).unwrap(), "x = 1\n");
    // A clone is tried and either works or fails cleanly.
    match link_file(&src, &to.join("b.py"), LinkMode::Clone) {
        Ok(()) => assert_eq!(fs::read_to_string(to.join("b.py")).unwrap(), "x = 1\n"),
        Err(_) => assert!(!to.join("b.py").exists()),
    }
}

/// New directories `dir/cache` and `dir/env`, for the link-mode probes.
fn cache_and_env(dir: &Path) -> (PathBuf, PathBuf) {
    let (from, to) = (dir.join("cache"), dir.join("env"));
    fs::create_dir_all(&from).unwrap();
    fs::create_dir_all(&to).unwrap();
    (from, to)
}

/// What the probe should find between two directories: a clone where one
/// works, else a hard link where one works, else a copy.
fn expected_mode(from: &Path, to: &Path) -> LinkMode {
    let src = from.join("expected-src");
    fs::write(&src, "x").unwrap();
    let dst = to.join("expected-dst");
    let mode = if link_file(&src, &dst, LinkMode::Clone).is_ok() {
        LinkMode::Clone
    } else if fs::hard_link(&src, &dst).is_ok() {
        LinkMode::Hardlink
    } else {
        LinkMode::Copy
    };
    let _ = fs::remove_file(&dst);
    fs::remove_file(&src).unwrap();
    mode
}

#[test]
#[expect(clippy::print_stderr, reason = "tell why half the test is skipped")]
fn the_detected_mode_is_clone_then_hardlink_then_copy() {
    // One filesystem: this machine's temp directory (ext4 here: a hard link;
    // btrfs or xfs: a clone).
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = cache_and_env(dir.path());
    let expected = expected_mode(&from, &to);
    assert_ne!(expected, LinkMode::Copy, "a hard link works within one filesystem");
    assert_eq!(detect_link_mode(&from, &to), expected);
    // Across filesystems (tmpfs to the temp directory) neither a clone nor a
    // hard link works: a copy.
    let shm = Path::new("/dev/shm");
    let devices_differ = fs::metadata(shm).is_ok_and(|m| m.dev() != fs::metadata(dir.path()).unwrap().dev());
    if !devices_differ {
        eprintln!("skipped the cross-filesystem half: no /dev/shm on another filesystem than the temp directory");
        return;
    }
    let other = tempfile::tempdir_in(shm).unwrap();
    assert_eq!(expected_mode(other.path(), &to), LinkMode::Copy);
    assert_eq!(detect_link_mode(other.path(), &to), LinkMode::Copy);
    let src = other.path().join("a.py");
    fs::write(&src, "x = 1\n").unwrap();
    link_file(&src, &to.join("a.py"), LinkMode::Copy).unwrap();
    assert_eq!(fs::read_to_string(to.join("a.py")).unwrap(), "x = 1\n");
}

/// Unpack a bad wheel: the error message, and nothing left in the cache.
fn refused(members: &[Member], record: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    fs::create_dir_all(&wheels).unwrap();
    let wheel = zip_wheel(&wheels, "demo-1.0-py3-none-any.whl", members, record);
    let cache = dir.path().join("cache");
    let dest = cache.join("demo-1.0-py3-none-any");
    let error = unpack_wheel(&wheel, &dest).unwrap_err().to_string();
    assert!(!dest.exists(), "{error}");
    // Unpacking while downloading refuses it too: at once, or once the whole archive is there.
    let bytes = fs::read(&wheel).unwrap();
    let streamed = StreamedWheel::extract("demo-1.0-py3-none-any.whl", &mut &bytes[..], &dest)
        .and_then(|streamed| streamed.finish(&bytes));
    assert!(streamed.is_err(), "streamed unpack accepted a wheel unpack_wheel refuses: {error}");
    assert!(!dest.exists(), "{error}");
    // And when the rest of the archive, once arrived, is handed over to be extracted in parallel.
    for after in [0, bytes.len() / 2] {
        let mut stream = Arriving::handing_over(&bytes, after);
        let streamed = StreamedWheel::extract_from("demo-1.0-py3-none-any.whl", &mut stream, &dest)
            .and_then(|streamed| streamed.finish(&bytes));
        assert!(streamed.is_err(), "hand-over after {after} bytes accepted a wheel unpack_wheel refuses: {error}");
        assert!(!dest.exists(), "{error}");
    }
    let left: Vec<_> = fs::read_dir(&cache).map(|d| d.map(|e| e.unwrap().file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "left in the cache: {left:?}");
    let mut everything = Vec::new();
    files_under(dir.path(), &mut everything);
    assert_eq!(everything, [wheel], "{error}");
    error
}

#[test]
fn refuses_zip_slip() {
    let mut members = demo_members();
    members.push(("../evil.py", b"import os\n".to_vec(), 0o644));
    assert_eq!(
        refused(&members, &record_for(&members, &[])),
        "`demo-1.0-py3-none-any.whl`: refusing unsafe path `../evil.py`: it has a `..` component"
    );
    let mut members = demo_members();
    members.push(("demo-1.0.data/scripts/../../../evil", b"x".to_vec(), 0o755));
    assert_eq!(
        refused(&members, &record_for(&members, &[])),
        "`demo-1.0-py3-none-any.whl`: refusing unsafe path `demo-1.0.data/scripts/../../../evil`: it has a `..` component"
    );
}

#[test]
fn refuses_absolute_paths() {
    let mut members = demo_members();
    members.push(("/tmp/pybun-evil.py", b"import os\n".to_vec(), 0o644));
    assert_eq!(
        refused(&members, &record_for(&members, &[])),
        "`demo-1.0-py3-none-any.whl`: refusing unsafe path `/tmp/pybun-evil.py`: it is absolute"
    );
    assert!(!Path::new("/tmp/pybun-evil.py").exists());
}

#[test]
fn refuses_hash_mismatches() {
    let members = demo_members();
    let mut tampered = members.clone();
    // Same size, different content: only the hash can tell.
    tampered[0].1 = b"def main():\n    print('HACKED from demo')\n\ndef gui():\n    print('gui')\n"[..members[0].1.len()].to_vec();
    let error = refused(&tampered, &record_for(&members, &[]));
    assert_eq!(
        error,
        format!(
            "`demo-1.0-py3-none-any.whl`: hash mismatch for `demo/__init__.py`: RECORD says `{}`, the file has `{}`",
            RecordHash::sha256(&members[0].1),
            RecordHash::sha256(&tampered[0].1)
        )
    );
}

#[test]
fn refuses_files_missing_from_record() {
    let mut members = demo_members();
    members.push(("demo/sneaky.py", b"import os\n".to_vec(), 0o644));
    assert_eq!(
        refused(&members, &record_for(&members, &["demo/sneaky.py"])),
        "`demo-1.0-py3-none-any.whl`: `demo/sneaky.py` is in the archive but not listed in RECORD"
    );
    let members = demo_members();
    let mut record = record_for(&members, &[]);
    record.push_str(&format!("demo/gone.py,{},1\n", RecordHash::sha256(b"x")));
    assert_eq!(
        refused(&members, &record),
        "`demo-1.0-py3-none-any.whl`: RECORD lists `demo/gone.py`, which is not in the archive"
    );
}

#[test]
fn unpack_is_atomic_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = demo_wheel(dir.path());
    let dest = dir.path().join("cache/demo-1.0-py3-none-any");
    let barrier = Arc::new(Barrier::new(6));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (wheel, dest, barrier) = (wheel.clone(), dest.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                unpack_wheel(&wheel, &dest).unwrap()
            })
        })
        .collect();
    let outcomes: Vec<Unpacked> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == Unpacked::Fresh).count(), 1, "{outcomes:?}");
    let names: Vec<_> = fs::read_dir(dir.path().join("cache")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["demo-1.0-py3-none-any"], "no temporary directories are left");
    let mut unpacked = tree(&dest);
    // The file list `plan_unpacked` reads instead of walking the directory.
    let manifest = unpacked.remove(pybun_fs_os::MANIFEST).expect("a manifest is written");
    assert!(String::from_utf8(manifest.0).unwrap().contains("x\t"), "executables are marked");
    assert_eq!(unpacked.len(), demo_members().len() + 1);
    assert_eq!(unpacked["demo-1.0.data/scripts/demo-tool"].1, 0o755, "scripts become executable");
    assert_eq!(unpacked["demo/__init__.py"], (demo_members()[0].1.clone(), 0o644));
    // A second unpack finds it done.
    assert_eq!(unpack_wheel(&wheel, &dest).unwrap(), Unpacked::AlreadyPresent);
}

#[test]
fn a_failed_install_leaves_no_dist_info() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = demo_wheel(dir.path());
    let unpacked = dir.path().join("cache/demo");
    unpack_wheel(&wheel, &unpacked).unwrap();
    let env = dir.path().join("env");
    let name = WheelFilename::from_str("demo-1.0-py3-none-any.whl").unwrap();
    let plan = plan_unpacked(&unpacked, &name, &scheme(&env)).unwrap();
    // The cache loses a file after planning: placing it fails.
    fs::remove_file(unpacked.join("demo/cli.py")).unwrap();
    let error = install_planned(&unpacked, &plan, LinkMode::Copy, &options(Path::new("/usr/bin/python3")))
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("could not install `"), "{error}");
    let site = env.join("lib/python3/site-packages");
    let names: Vec<String> =
        fs::read_dir(&site).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains("dist-info")), "{names:?}");
}

#[test]
fn writes_direct_url_json() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = demo_wheel(dir.path());
    let env = dir.path().join("env");
    let direct_url = format!("{{\"url\":\"file://{}\",\"archive_info\":{{}}}}", wheel.display());
    let options = InstallOptions { interpreter: PathBuf::from("/usr/bin/python3"), direct_url: Some(direct_url.clone()) };
    let installed = install_wheel(&wheel, &dir.path().join("cache"), &scheme(&env), Some(LinkMode::Copy), &options).unwrap();
    assert_eq!(fs::read_to_string(installed.dist_info.join("direct_url.json")).unwrap(), direct_url);
    assert!(fs::read_to_string(installed.dist_info.join("RECORD")).unwrap().contains("demo-1.0.dist-info/direct_url.json,sha256="));
    verify_record(&env, &installed.dist_info);
}

/// After a checked hard-link install, the next install into an environment of
/// the same layout (and interpreter, for a wheel with scripts) is made from
/// the recipe left beside the unpacked wheel: same tree, RECORD verified,
/// `RECORD` and `INSTALLER` hard-linked instead of written.
#[test]
fn reinstalls_from_a_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let python = Path::new("/opt/python/bin/python3");
    let (first_env, first) = install_demo(dir.path(), LinkMode::Hardlink, python);
    let unpacked = dir.path().join("cache/demo-1.0-py3-none-any");
    let recipes: Vec<PathBuf> =
        fs::read_dir(unpacked.join(RECIPES_DIR)).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(recipes.len(), 1, "one recipe: {recipes:?}");
    // The unpacked wheel's manifest does not list it.
    let name = WheelFilename::from_str("demo-1.0-py3-none-any.whl").unwrap();
    let plan = plan_unpacked(&unpacked, &name, &scheme(&dir.path().join("x"))).unwrap();
    assert!(plan.files.iter().all(|f| !f.archive_path.contains(RECIPES_DIR)));

    let second_env = dir.path().join("elsewhere/env-second");
    let done = install_from_recipe(&unpacked, &scheme(&second_env), LinkMode::Hardlink, &options(python))
        .unwrap()
        .expect("a recipe for this layout and interpreter");
    assert_eq!(tree(&first_env), tree(&second_env));
    verify_record(&second_env, &done.installed.dist_info);
    assert_eq!(done.installed.files, first.files);
    assert_eq!(done.installed.scripts.len(), first.scripts.len());
    let record = done.installed.dist_info.join("RECORD");
    assert_eq!(fs::metadata(&record).unwrap().ino(), fs::metadata(recipes[0].join("RECORD")).unwrap().ino());
    assert!(fs::metadata(done.installed.dist_info.join("INSTALLER")).unwrap().nlink() >= 2);
    // No staging directory is left.
    let site = second_env.join("lib/python3/site-packages");
    let names: BTreeSet<String> =
        fs::read_dir(&site).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, BTreeSet::from(["demo".to_string(), "demo-1.0.dist-info".to_string()]));
    assert!(done.placed.contains(&site.join("demo/cli.py")));
    // Installing over it again replaces it in place.
    install_from_recipe(&unpacked, &scheme(&second_env), LinkMode::Hardlink, &options(python)).unwrap().unwrap();
    verify_record(&second_env, &done.installed.dist_info);

    // Another interpreter (the launchers differ), another mode, a direct URL,
    // another layout: no recipe applies.
    let third = dir.path().join("env-third");
    let other = Path::new("/other/bin/python3");
    assert!(install_from_recipe(&unpacked, &scheme(&third), LinkMode::Hardlink, &options(other)).unwrap().is_none());
    assert!(install_from_recipe(&unpacked, &scheme(&third), LinkMode::Copy, &options(python)).unwrap().is_none());
    let direct = InstallOptions { interpreter: python.to_path_buf(), direct_url: Some("{}".to_string()) };
    assert!(install_from_recipe(&unpacked, &scheme(&third), LinkMode::Hardlink, &direct).unwrap().is_none());
    let mut other_layout = scheme(&third);
    other_layout.scripts = third.join("Scripts");
    assert!(install_from_recipe(&unpacked, &other_layout, LinkMode::Hardlink, &options(python)).unwrap().is_none());
    assert!(!third.exists(), "nothing written when no recipe applies");
}

/// A wheel without scripts gets one recipe per layout, whatever the interpreter.
#[test]
fn a_recipe_without_scripts_serves_any_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let (filename, bytes) = build_wheel(&DistSpec::new("plain", "1.0"), "py3-none-any");
    let wheel = dir.path().join(&filename);
    fs::write(&wheel, bytes).unwrap();
    let unpacked = dir.path().join("cache/plain");
    unpack_wheel(&wheel, &unpacked).unwrap();
    let name = WheelFilename::from_str(&filename).unwrap();
    let first_env = dir.path().join("a");
    let plan = plan_unpacked(&unpacked, &name, &scheme(&first_env)).unwrap();
    install_planned(&unpacked, &plan, LinkMode::Hardlink, &options(Path::new("/a/bin/python"))).unwrap();
    let second_env = dir.path().join("b");
    let done = install_from_recipe(&unpacked, &scheme(&second_env), LinkMode::Hardlink, &options(Path::new("/b/bin/python")))
        .unwrap()
        .expect("a recipe without an interpreter");
    assert_eq!(tree(&first_env), tree(&second_env));
    let record = Record::parse(&fs::read_to_string(done.installed.dist_info.join("RECORD")).unwrap()).unwrap();
    assert!(record.entries.iter().any(|e| e.path.ends_with(".dist-info/INSTALLER")));
    // A copy install leaves no recipe behind.
    let other = tempfile::tempdir().unwrap();
    let unpacked = other.path().join("plain");
    unpack_wheel(&wheel, &unpacked).unwrap();
    let plan = plan_unpacked(&unpacked, &name, &scheme(&other.path().join("env"))).unwrap();
    install_planned(&unpacked, &plan, LinkMode::Copy, &options(Path::new("/a/bin/python"))).unwrap();
    assert!(!unpacked.join(RECIPES_DIR).exists());
}

#[test]
fn unpacking_while_downloading_gives_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = demo_wheel(dir.path());
    let bytes = fs::read(&wheel).unwrap();
    let whole = dir.path().join("cache/whole");
    assert_eq!(unpack_wheel(&wheel, &whole).unwrap(), Unpacked::Fresh);
    let streamed_dest = dir.path().join("cache/streamed");
    // The reader gives a few bytes at a time, as a network would.
    let mut trickle = Arriving { bytes: &bytes, position: 0, piece: 7, complete_after: usize::MAX };
    let streamed = StreamedWheel::extract("demo-1.0-py3-none-any.whl", &mut trickle, &streamed_dest).unwrap();
    assert!(!streamed_dest.exists(), "nothing is visible before finish");
    assert_eq!(streamed.finish(&bytes).unwrap(), Unpacked::Fresh);
    let (whole_tree, streamed_tree) = (tree(&whole), tree(&streamed_dest));
    assert_eq!(whole_tree, streamed_tree);
    assert_eq!(streamed_tree["demo-1.0.data/scripts/plain.sh"].1, 0o755);
    assert_eq!(streamed_tree["demo/__init__.py"].1, 0o644);
    let names: Vec<_> = fs::read_dir(dir.path().join("cache")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "no temporary directory left: {names:?}");
}

/// Whatever point the stream is left at, the rest extracted in parallel
/// gives the tree the whole-archive unpacker gives.
#[test]
fn the_rest_handed_over_gives_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    let mut members = demo_members();
    // Large members, extracted in 256 KiB writes.
    members.push(("demo/big.bin", (0..600_000_u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(), 0o644));
    members.push(("demo/zeros.bin", vec![0; 5 << 20], 0o755));
    let wheel = zip_wheel(dir.path(), "demo-1.0-py3-none-any.whl", &members, &record_for(&members, &[]));
    let bytes = fs::read(&wheel).unwrap();
    let whole = dir.path().join("cache/whole");
    assert_eq!(unpack_wheel(&wheel, &whole).unwrap(), Unpacked::Fresh);
    let expected = tree(&whole);
    assert_eq!(expected["demo/zeros.bin"].1, 0o755);
    for after in [0, 1, 200, bytes.len() / 3, bytes.len() / 2, bytes.len() - 30, bytes.len()] {
        let dest = dir.path().join(format!("cache/handed-over-{after}"));
        let mut stream = Arriving::handing_over(&bytes, after);
        let streamed = StreamedWheel::extract_from("demo-1.0-py3-none-any.whl", &mut stream, &dest).unwrap();
        assert!(!dest.exists(), "nothing is visible before finish");
        // Given only what a streaming feed still holds: from 64 KiB before the last byte read.
        let kept = stream.position.saturating_sub(64 * 1024);
        // In blocks of 100 KiB, as a streaming feed holds them.
        let blocks: Vec<&[u8]> = bytes[kept..].chunks(100 * 1024).collect();
        assert_eq!(streamed.finish_from(&blocks, kept as u64).unwrap(), Unpacked::Fresh, "after {after} bytes");
        assert_eq!(tree(&dest), expected, "after {after} bytes");
    }
    let names: Vec<_> = fs::read_dir(dir.path().join("cache")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 8, "no temporary directory left: {names:?}");
}

/// A member extracted in parallel is checked against `RECORD` like any
/// other, and one whose name the stream already gave is refused.
#[test]
fn the_rest_handed_over_is_checked_like_the_rest() {
    let mut members = demo_members();
    members.push(("demo/late.py", b"x = 1\n".to_vec(), 0o644));
    let mut record = record_for(&members, &[]);
    record = record.replace(&RecordHash::sha256(b"x = 1\n").to_string(), &RecordHash::sha256(b"x = 2\n").to_string());
    let error = refused(&members, &record);
    assert!(error.contains("demo/late.py"), "{error}");
    // `demo/cli.py` again, last: the stream extracted the first one.
    let dir = tempfile::tempdir().unwrap();
    let mut members = demo_members();
    members.push(("demo/clj.py", b"x = 1\n".to_vec(), 0o644));
    let wheel = zip_wheel(dir.path(), "demo-1.0-py3-none-any.whl", &members, &record_for(&members, &[]));
    let mut bytes = fs::read(&wheel).unwrap();
    let name = b"demo/clj.py".as_slice();
    let at: Vec<usize> = (0..bytes.len() - name.len()).filter(|&i| &bytes[i..i + name.len()] == name).collect();
    assert_eq!(at.len(), 2, "in its local header and in the central directory");
    for &i in &at {
        bytes[i..i + name.len()].copy_from_slice(b"demo/cli.py");
    }
    // Handed over at the renamed member's local header (its name starts 30 bytes in).
    let mut stream = Arriving::handing_over(&bytes, at[0] - 30);
    let dest = dir.path().join("cache/demo");
    let error = StreamedWheel::extract_from("demo-1.0-py3-none-any.whl", &mut stream, &dest)
        .and_then(|streamed| streamed.finish(&bytes))
        .unwrap_err()
        .to_string();
    assert!(error.contains("`demo/cli.py` appears twice"), "{error}");
    assert!(!dest.exists());
}

/// An archive arriving `piece` bytes per read, which says it has all
/// arrived (with at least [`HAND_OVER_AT_LEAST`] bytes unread) once
/// `complete_after` bytes were read.
struct Arriving<'a> {
    bytes: &'a [u8],
    position: usize,
    piece: usize,
    complete_after: usize,
}

impl<'a> Arriving<'a> {
    /// 4 KiB per read, the rest handed over after `after` bytes.
    fn handing_over(bytes: &'a [u8], after: usize) -> Self {
        Self { bytes, position: 0, piece: 4096, complete_after: after }
    }
}

impl std::io::Read for Arriving<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.piece).min(self.bytes.len() - self.position);
        buf[..n].copy_from_slice(&self.bytes[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

impl ArchiveStream for Arriving<'_> {
    fn unread_once_complete(&self) -> Option<u64> {
        (self.position >= self.complete_after).then_some(HAND_OVER_AT_LEAST)
    }
}

/// A member whose sizes follow its data cannot be skipped in a stream: the
/// stream stops there and the rest is extracted once the whole has arrived.
#[test]
fn a_member_with_a_data_descriptor_is_handed_over_with_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = demo_wheel(dir.path());
    let mut bytes = fs::read(&wheel).unwrap();
    // The second member's local header says its sizes follow its data (general purpose flag bit 3),
    // as a streaming zip writer makes it.
    let second = bytes.windows(4).skip(1).position(|w| w == b"PK\x03\x04").unwrap() + 1;
    bytes[second + 6] |= 0x08;
    let whole = dir.path().join("cache/whole");
    assert_eq!(unpack_wheel_bytes("demo-1.0-py3-none-any.whl", &bytes, &whole).unwrap(), Unpacked::Fresh);
    let dest = dir.path().join("cache/demo");
    let streamed = StreamedWheel::extract("demo-1.0-py3-none-any.whl", &mut &bytes[..], &dest).unwrap();
    assert!(format!("{streamed:?}").contains(&format!("handed_over_at: Some({second})")), "{streamed:?}");
    assert_eq!(streamed.finish(&bytes).unwrap(), Unpacked::Fresh);
    assert_eq!(tree(&dest), tree(&whole));
}

#[test]
fn a_local_header_that_differs_from_the_central_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = demo_wheel(dir.path());
    let mut bytes = fs::read(&wheel).unwrap();
    // Rename the member in its local header only (the first occurrence of the name).
    let name = b"demo/cli.py";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap();
    bytes[at..at + name.len()].copy_from_slice(b"demo/clx.py");
    let dest = dir.path().join("cache/demo");
    let streamed = StreamedWheel::extract("demo-1.0-py3-none-any.whl", &mut &bytes[..], &dest).unwrap();
    let error = streamed.finish(&bytes).unwrap_err().to_string();
    assert!(error.contains("differs from the member in the archive"), "{error}");
    assert!(!dest.exists());
    assert!(!dir.path().join("cache").read_dir().unwrap().any(|_| true), "the temporary directory is removed");
    // The verdict does not depend on how fast the archive arrived: handed over
    // before that member, or unpacked whole, it is refused too.
    let mut stream = Arriving::handing_over(&bytes, 0);
    let error = StreamedWheel::extract_from("demo-1.0-py3-none-any.whl", &mut stream, &dest)
        .and_then(|streamed| streamed.finish(&bytes))
        .unwrap_err()
        .to_string();
    assert!(error.contains("demo/cli.py") && error.contains("local header names `demo/clx.py`"), "{error}");
    let error = unpack_wheel_bytes("demo-1.0-py3-none-any.whl", &bytes, &dest).unwrap_err().to_string();
    assert!(error.contains("local header names `demo/clx.py`"), "{error}");
    assert!(!dest.exists());
}

/// Sizes in a local header never decide how much memory is taken: a member
/// claiming 4 GiB of stored bytes is read as a stream (which then runs off
/// the end of the archive), and the whole-archive unpacker, the verdict
/// then, refuses the header that does not match the central directory.
#[test]
fn a_header_claiming_huge_sizes_takes_no_memory_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("cache/demo");
    let refused = |bytes: &[u8]| {
        let streamed = StreamedWheel::extract("demo-1.0-py3-none-any.whl", &mut &bytes[..], &dest)
            .and_then(|streamed| streamed.finish(bytes));
        assert!(streamed.is_err());
        let error = unpack_wheel_bytes("demo-1.0-py3-none-any.whl", bytes, &dest).unwrap_err().to_string();
        assert!(error.contains("other sizes"), "{error}");
        assert!(!dest.exists());
    };
    let wheel = demo_wheel(dir.path());
    let mut bytes = fs::read(&wheel).unwrap();
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    bytes[18..22].copy_from_slice(&0xFFFF_FFF0_u32.to_le_bytes());
    refused(&bytes);
    // A zip64 field claiming 2^63 stored bytes: the same.
    let mut zip64 =
        wheel_with(&demo_members(), |name| zip::write::SimpleFileOptions::default().large_file(name == "demo/__init__.py"));
    let field = zip64.windows(4).position(|w| w == [0x01, 0x00, 0x10, 0x00]).unwrap();
    zip64[field + 12..field + 20].copy_from_slice(&(1_u64 << 63).to_le_bytes());
    refused(&zip64);
}

/// The central directory entries of a zip: `(start, end, name)` byte ranges.
fn central_directory(bytes: &[u8]) -> Vec<(usize, usize, String)> {
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let end = bytes.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    let (count, mut at) = (u16_at(end + 10), u32_at(end + 16));
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(&bytes[at..at + 4], b"PK\x01\x02");
        let (name_len, extra_len, comment_len) = (u16_at(at + 28), u16_at(at + 30), u16_at(at + 32));
        let name = String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).unwrap();
        let next = at + 46 + name_len + extra_len + comment_len;
        entries.push((at, next, name));
        at = next;
    }
    entries
}

#[test]
fn a_member_the_central_directory_hides_behind_a_repeated_name_is_refused() {
    // A member whose local header is in the stream but whose central directory
    // entry was replaced by a second copy of RECORD's (the same length): a zip
    // reader never sees it, so nothing checks it against RECORD.
    let dir = tempfile::tempdir().unwrap();
    let mut members = demo_members();
    let hidden = "demo/hidden_payload_xx.py";
    assert_eq!(hidden.len(), "demo-1.0.dist-info/RECORD".len());
    let record = record_for(&members, &[]);
    members.push((hidden, b"import os\n".to_vec(), 0o644));
    let wheel = zip_wheel(dir.path(), "demo-1.0-py3-none-any.whl", &members, &record);
    let mut bytes = fs::read(&wheel).unwrap();
    let entries = central_directory(&bytes);
    let find = |name: &str| entries.iter().find(|(_, _, n)| n == name).map(|(s, e, _)| (*s, *e)).unwrap();
    let ((hidden_start, hidden_end), (record_start, record_end)) = (find(hidden), find("demo-1.0.dist-info/RECORD"));
    assert_eq!(hidden_end - hidden_start, record_end - record_start);
    let record_entry = bytes[record_start..record_end].to_vec();
    bytes[hidden_start..hidden_end].copy_from_slice(&record_entry);

    // The whole-archive unpacker reads the central directory only: the member is not there.
    let whole = dir.path().join("cache/whole");
    assert_eq!(unpack_wheel_bytes("demo-1.0-py3-none-any.whl", &bytes, &whole).unwrap(), Unpacked::Fresh);
    assert!(!whole.join(hidden).exists());
    // Unpacking while downloading extracted it: the central directory does not list it, refused.
    let dest = dir.path().join("cache/streamed");
    let streamed = StreamedWheel::extract("demo-1.0-py3-none-any.whl", &mut &bytes[..], &dest).unwrap();
    let error = streamed.finish(&bytes).unwrap_err().to_string();
    assert!(error.contains("does not list every member"), "{error}");
    assert!(!dest.exists());
    let names: Vec<_> = fs::read_dir(dir.path().join("cache")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["whole"], "the temporary directory is removed");
}

#[test]
fn a_member_that_inflates_past_its_declared_size_is_refused_without_inflating_it_all() {
    // 64 MiB of zeros deflate to ~64 KiB; both headers then claim 10 bytes.
    let dir = tempfile::tempdir().unwrap();
    let mut members = demo_members();
    let record = record_for(&members, &[]);
    members.insert(0, ("demo/bomb.bin", vec![0_u8; 64 * 1024 * 1024], 0o644));
    let wheel = zip_wheel(dir.path(), "demo-1.0-py3-none-any.whl", &members, &record);
    let mut bytes = fs::read(&wheel).unwrap();
    assert!(bytes.len() < 1024 * 1024, "{}", bytes.len());
    // The first member's local header: uncompressed size at offset 22.
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    bytes[22..26].copy_from_slice(&10_u32.to_le_bytes());
    let (start, _, name) = central_directory(&bytes).into_iter().next().unwrap();
    assert_eq!(name, "demo/bomb.bin");
    bytes[start + 24..start + 28].copy_from_slice(&10_u32.to_le_bytes());

    let dest = dir.path().join("cache/streamed");
    let error = StreamedWheel::extract("demo-1.0-py3-none-any.whl", &mut &bytes[..], &dest).unwrap_err().to_string();
    assert!(error.contains("demo/bomb.bin") && error.contains("its header says 10"), "{error}");
    assert!(!dir.path().join("cache").read_dir().unwrap().any(|_| true), "the temporary directory is removed");
    // The whole-archive unpacker (the fallback) refuses it too.
    let error = unpack_wheel_bytes("demo-1.0-py3-none-any.whl", &bytes, &dest).unwrap_err().to_string();
    assert!(!dest.exists(), "{error}");
    let mut left = Vec::new();
    files_under(dir.path(), &mut left);
    assert_eq!(left, [wheel], "{error}");
}

/// A member past 1 MiB is hashed on a thread of its own while it is
/// inflated: the streamed tree is the same, and a wrong RECORD hash for it
/// is still refused (both unpackers).
#[test]
fn large_members_are_hashed_aside_and_still_checked() {
    let mut members = demo_members();
    // 3 MiB of varied bytes (a little xorshift), so the member spans many buffers.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let big: Vec<u8> = (0..3 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect();
    members.push(("demo/_native.so", big.clone(), 0o755));
    let dir = tempfile::tempdir().unwrap();
    let wheel = zip_wheel(dir.path(), "demo-1.0-py3-none-any.whl", &members, &record_for(&members, &[]));
    let bytes = fs::read(&wheel).unwrap();
    let whole = dir.path().join("cache/whole");
    unpack_wheel(&wheel, &whole).unwrap();
    let streamed_dest = dir.path().join("cache/streamed");
    let streamed = StreamedWheel::extract("demo-1.0-py3-none-any.whl", &mut &bytes[..], &streamed_dest).unwrap();
    assert_eq!(streamed.finish(&bytes).unwrap(), Unpacked::Fresh);
    assert_eq!(tree(&whole), tree(&streamed_dest));
    assert_eq!(fs::read(streamed_dest.join("demo/_native.so")).unwrap(), big);

    // One byte changed in the large member, RECORD as before.
    let mut tampered = members.clone();
    let last = tampered.len() - 1;
    tampered[last].1[2 * 1024 * 1024] ^= 1;
    let error = refused(&tampered, &record_for(&members, &[]));
    assert!(error.contains("hash mismatch for `demo/_native.so`"), "{error}");
}

/// A member named like the cache entry's own files (`.pybun-manifest`,
/// `.pybun-installed/…`) would be overwritten or taken for PyBun's: refused.
#[test]
fn members_named_like_the_caches_own_files_are_refused() {
    for name in [".pybun-manifest", ".pybun-installed/abc/recipe"] {
        let mut members = demo_members();
        members.push((name, b"x\n".to_vec(), 0o644));
        let error = refused(&members, &record_for(&members, &[]));
        assert!(error.contains("is a name PyBun's cache uses for itself"), "{name}: {error}");
    }
}

/// A wheel of `members` (with their RECORD) written with `options` per member.
fn wheel_with(members: &[Member], options: impl Fn(&str) -> zip::write::SimpleFileOptions) -> Vec<u8> {
    let record = record_for(members, &[]);
    let record_member: Member = ("demo-1.0.dist-info/RECORD", record.into_bytes(), 0o644);
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content, mode) in members.iter().chain(std::iter::once(&record_member)) {
        writer.start_file(*name, options(name).unix_permissions(*mode)).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// Unpack `bytes` whole, streamed, and streamed with the rest handed over at
/// its middle: the three trees, which must be equal.
fn unpack_three_ways(bytes: &[u8]) -> BTreeMap<String, (Vec<u8>, u32)> {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    assert_eq!(unpack_wheel_bytes("demo-1.0-py3-none-any.whl", bytes, &whole).unwrap(), Unpacked::Fresh);
    let streamed = dir.path().join("streamed");
    StreamedWheel::extract("demo-1.0-py3-none-any.whl", &mut &bytes[..], &streamed)
        .and_then(|wheel| wheel.finish(bytes))
        .unwrap();
    let handed = dir.path().join("handed");
    let mut stream = Arriving::handing_over(bytes, bytes.len() / 2);
    StreamedWheel::extract_from("demo-1.0-py3-none-any.whl", &mut stream, &handed)
        .and_then(|wheel| wheel.finish(bytes))
        .unwrap();
    let expected = tree(&whole);
    assert_eq!(tree(&streamed), expected);
    assert_eq!(tree(&handed), expected);
    expected
}

/// Stored members and zip64 local headers (sizes in the extra field) are
/// read by every unpacker alike.
#[test]
fn stored_and_zip64_members_unpack_alike() {
    let mut members = demo_members();
    members.push(("demo/data.bin", (0..5_000_000_u32).map(|i| (i % 251) as u8).collect(), 0o644));
    let stored = wheel_with(&members, |_| {
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)
    });
    let zip64 = wheel_with(&members, |name| {
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(name.ends_with(".bin") || name.ends_with("cli.py"))
    });
    assert!(zip64.windows(4).any(|w| w == [0x01, 0x00, 0x10, 0x00]), "a zip64 extra field was written");
    let tree = unpack_three_ways(&stored);
    assert_eq!(tree["demo/data.bin"].0, members.last().unwrap().1);
    assert_eq!(unpack_three_ways(&zip64), tree);
}

/// A member whose bytes do not have the CRC-32 its headers give is refused
/// by every unpacker (stored: the bytes are there as they are).
#[test]
fn a_member_with_a_wrong_crc_is_refused() {
    let mut members = demo_members();
    members.push(("demo/late.py", b"value = 'abcdefgh'\n".to_vec(), 0o644));
    let mut bytes = wheel_with(&members, |_| {
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)
    });
    let at = bytes.windows(8).position(|w| w == b"abcdefgh").unwrap();
    bytes[at] = b'X';
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("cache/demo");
    let whole = unpack_wheel_bytes("demo-1.0-py3-none-any.whl", &bytes, &dest).unwrap_err().to_string();
    assert!(whole.contains("demo/late.py") && whole.contains("CRC-32"), "{whole}");
    let streamed = StreamedWheel::extract("demo-1.0-py3-none-any.whl", &mut &bytes[..], &dest).unwrap_err().to_string();
    assert!(streamed.contains("demo/late.py") && streamed.contains("CRC-32"), "{streamed}");
    let mut stream = Arriving::handing_over(&bytes, 0);
    let handed = StreamedWheel::extract_from("demo-1.0-py3-none-any.whl", &mut stream, &dest)
        .and_then(|wheel| wheel.finish(&bytes))
        .unwrap_err()
        .to_string();
    assert!(handed.contains("demo/late.py") && handed.contains("CRC-32"), "{handed}");
    assert!(!dest.exists());
}

/// A member too large to inflate at once is inflated as a stream, by the
/// whole-archive unpacker and (handed over) by the streaming one.
#[test]
fn a_member_larger_than_the_inflate_limit_is_inflated_as_a_stream() {
    let mut members = demo_members();
    members.push(("demo/huge.bin", vec![7_u8; 65 * 1024 * 1024], 0o644));
    let bytes = wheel_with(&members, |_| zip::write::SimpleFileOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    assert_eq!(unpack_wheel_bytes("demo-1.0-py3-none-any.whl", &bytes, &whole).unwrap(), Unpacked::Fresh);
    assert_eq!(fs::metadata(whole.join("demo/huge.bin")).unwrap().len(), 65 * 1024 * 1024);
    // The stream stops at it, and it is extracted with the rest, as a stream too.
    let streamed = dir.path().join("streamed");
    StreamedWheel::extract("demo-1.0-py3-none-any.whl", &mut &bytes[..], &streamed)
        .and_then(|wheel| wheel.finish(&bytes))
        .unwrap();
    assert_eq!(tree(&streamed), tree(&whole));
    // Handed over from the start: the same.
    let handed = dir.path().join("handed");
    let mut stream = Arriving::handing_over(&bytes, 0);
    StreamedWheel::extract_from("demo-1.0-py3-none-any.whl", &mut stream, &handed)
        .and_then(|wheel| wheel.finish(&bytes))
        .unwrap();
    assert_eq!(tree(&handed), tree(&whole));
}
