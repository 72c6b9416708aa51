//! `unpack_sdist`: archives built in memory, good and hostile.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use pybun_build::OsBuildFrontend;
use pybun_ports::{BuildError, BuildFrontend};
use tar::{EntryType, Header};

enum Entry<'a> {
    File(&'a str, &'a str),
    Exec(&'a str, &'a str),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Device(&'a str),
}

/// A `.tar.gz` with the names written verbatim (the `tar` builder refuses `..` and absolute paths).
fn targz(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for entry in entries {
        let mut header = Header::new_gnu();
        let (name, kind, data, link, mode): (&str, EntryType, &[u8], Option<&str>, u32) = match entry {
            Entry::File(name, data) => (name, EntryType::Regular, data.as_bytes(), None, 0o644),
            Entry::Exec(name, data) => (name, EntryType::Regular, data.as_bytes(), None, 0o755),
            Entry::Dir(name) => (name, EntryType::Directory, b"", None, 0o755),
            Entry::Symlink(name, target) => (name, EntryType::Symlink, b"", Some(target), 0o777),
            Entry::Hardlink(name, target) => (name, EntryType::Link, b"", Some(target), 0o644),
            Entry::Device(name) => (name, EntryType::Char, b"", None, 0o644),
        };
        let raw = &mut header.as_old_mut().name;
        raw.fill(0);
        raw[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(1_700_000_000);
        if let Some(link) = link {
            header.set_link_name_literal(link).unwrap();
        }
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

/// Nothing at `dest` and no scratch directory left beside it.
fn assert_clean(dest: &Path) {
    assert!(!dest.exists(), "{} was left behind", dest.display());
    let leftovers: Vec<_> = fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".pybun-sdist-"))
        .collect();
    assert!(leftovers.is_empty(), "scratch directories left: {leftovers:?}");
}

fn refused(entries: &[Entry<'_>], expect: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = write(tmp.path(), "bad-1.0.tar.gz", &targz(entries));
    let dest = tmp.path().join("out").join("unpacked");
    let err = OsBuildFrontend::new().unpack_sdist(&archive, &dest).unwrap_err();
    match &err {
        BuildError::InvalidSdist { reason, .. } => assert!(reason.contains(expect), "{reason:?} lacks {expect:?}"),
        other => panic!("expected InvalidSdist, got {other:?}"),
    }
    assert_clean(&dest);
    assert!(!tmp.path().join("evil").exists());
}

#[test]
fn unpacks_a_tarball_to_its_single_top_level_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = write(
        tmp.path(),
        "name-1.0.tar.gz",
        &targz(&[
            Entry::Dir("name-1.0/"),
            Entry::File("name-1.0/PKG-INFO", "Metadata-Version: 2.1\nName: name\nVersion: 1.0\n"),
            Entry::File("name-1.0/src/name/__init__.py", "x = 1\n"),
            Entry::Exec("name-1.0/tools/run.sh", "#!/bin/sh\n"),
            Entry::Symlink("name-1.0/src/alias.py", "name/__init__.py"),
            Entry::Symlink("name-1.0/tools/pkg-info", "../PKG-INFO"),
            Entry::Hardlink("name-1.0/copy.py", "name-1.0/src/name/__init__.py"),
        ]),
    );
    let dest = tmp.path().join("deep").join("dest");
    let root = OsBuildFrontend::new().unpack_sdist(&archive, &dest).unwrap();
    assert_eq!(root, dest.join("name-1.0"));
    assert_eq!(fs::read_to_string(root.join("src/name/__init__.py")).unwrap(), "x = 1\n");
    assert_eq!(fs::read_to_string(root.join("copy.py")).unwrap(), "x = 1\n");
    assert!(fs::read_to_string(root.join("PKG-INFO")).unwrap().contains("Name: name"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::read_to_string(root.join("src/alias.py")).unwrap(), "x = 1\n");
        assert!(fs::read_to_string(root.join("tools/pkg-info")).unwrap().contains("Version: 1.0"));
        let mode = fs::metadata(root.join("tools/run.sh")).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "executable bit kept");
        let mode = fs::metadata(root.join("PKG-INFO")).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0, "plain files are not executable");
    }
    assert_clean(&tmp.path().join("deep").join("nothing-else"));
}

#[test]
fn leading_dot_slash_entries_are_fine() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = write(
        tmp.path(),
        "a.tar.gz",
        &targz(&[Entry::Dir("./"), Entry::Dir("./pkg-2.0/"), Entry::File("./pkg-2.0/setup.py", "")]),
    );
    let root = OsBuildFrontend::new().unpack_sdist(&archive, &tmp.path().join("d")).unwrap();
    assert_eq!(root, tmp.path().join("d").join("pkg-2.0"));
    assert!(root.join("setup.py").is_file());
}

#[test]
fn refuses_parent_components() {
    refused(&[Entry::File("name-1.0/ok", ""), Entry::File("../evil", "pwned")], "`..`");
    refused(&[Entry::File("name-1.0/../../evil", "pwned")], "`..`");
}

#[test]
fn refuses_absolute_paths() {
    refused(&[Entry::File("name-1.0/ok", ""), Entry::File("/tmp/pybun-evil-absolute", "pwned")], "absolute");
    assert!(!Path::new("/tmp/pybun-evil-absolute").exists());
}

#[test]
fn refuses_links_out_of_the_tree() {
    refused(&[Entry::File("name-1.0/ok", ""), Entry::Symlink("name-1.0/etc", "/etc")], "outside");
    refused(&[Entry::File("name-1.0/ok", ""), Entry::Symlink("name-1.0/up", "../../evil")], "outside");
    // Lexically inside, but `a` is the scratch root so `a/..` is above it.
    refused(
        &[Entry::File("name-1.0/ok", ""), Entry::Symlink("name-1.0/a", ".."), Entry::Symlink("name-1.0/b", "a/..")],
        "outside",
    );
    refused(&[Entry::File("name-1.0/ok", ""), Entry::Hardlink("name-1.0/h", "/etc/passwd")], "absolute");
    refused(&[Entry::File("name-1.0/ok", ""), Entry::Hardlink("name-1.0/h", "name-1.0/missing")], "earlier file");
}

#[test]
fn refuses_writing_through_a_symlink() {
    refused(
        &[Entry::Dir("name-1.0/sub/"), Entry::Symlink("name-1.0/d", "sub"), Entry::File("name-1.0/d/x", "")],
        "symbolic link",
    );
}

#[test]
fn refuses_device_files() {
    refused(&[Entry::File("name-1.0/ok", ""), Entry::Device("name-1.0/tty")], "device");
}

#[test]
fn refuses_several_top_level_entries() {
    refused(&[Entry::File("a-1.0/x", ""), Entry::File("b-1.0/y", "")], "single top-level directory");
    refused(&[Entry::File("PKG-INFO", "")], "single top-level directory");
    refused(&[], "empty");
}

#[test]
fn refuses_non_archives_and_existing_destinations() {
    let tmp = tempfile::tempdir().unwrap();
    let frontend = OsBuildFrontend::new();
    let bogus = write(tmp.path(), "x-1.0.tar.gz", b"definitely not gzip");
    let err = frontend.unpack_sdist(&bogus, &tmp.path().join("d")).unwrap_err();
    assert!(matches!(err, BuildError::InvalidSdist { .. }), "{err:?}");
    assert_clean(&tmp.path().join("d"));

    let truncated = targz(&[Entry::File("name-1.0/big", &"x".repeat(100_000))]);
    let truncated = write(tmp.path(), "t-1.0.tar.gz", &truncated[..truncated.len() / 2]);
    let err = frontend.unpack_sdist(&truncated, &tmp.path().join("d")).unwrap_err();
    assert!(matches!(err, BuildError::InvalidSdist { .. }), "{err:?}");
    assert_clean(&tmp.path().join("d"));

    let good = write(tmp.path(), "g-1.0.tar.gz", &targz(&[Entry::File("g-1.0/x", "")]));
    fs::create_dir(tmp.path().join("exists")).unwrap();
    let err = frontend.unpack_sdist(&good, &tmp.path().join("exists")).unwrap_err();
    assert!(matches!(err, BuildError::Io { .. }), "{err:?}");
}

fn zip_archive(build: impl FnOnce(&mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    build(&mut writer);
    writer.finish().unwrap().into_inner()
}

#[test]
fn unpacks_a_zip() {
    let options = zip::write::SimpleFileOptions::default();
    let bytes = zip_archive(|w| {
        w.add_directory("name-1.0/", options).unwrap();
        w.start_file("name-1.0/setup.py", options).unwrap();
        w.write_all(b"from setuptools import setup\n").unwrap();
        w.start_file("name-1.0/pkg/__init__.py", options.unix_permissions(0o755)).unwrap();
        w.write_all(b"").unwrap();
    });
    let tmp = tempfile::tempdir().unwrap();
    let archive = write(tmp.path(), "name-1.0.zip", &bytes);
    let root = OsBuildFrontend::new().unpack_sdist(&archive, &tmp.path().join("dest")).unwrap();
    assert_eq!(root, tmp.path().join("dest").join("name-1.0"));
    assert!(fs::read_to_string(root.join("setup.py")).unwrap().contains("setuptools"));
    assert!(root.join("pkg/__init__.py").is_file());
}

#[test]
fn refuses_hostile_zips() {
    let options = zip::write::SimpleFileOptions::default();
    let hostile = [
        (
            zip_archive(|w| {
                w.start_file("name-1.0/ok", options).unwrap();
                w.start_file("../evil", options).unwrap();
                w.write_all(b"pwned").unwrap();
            }),
            "`..`",
        ),
        (
            zip_archive(|w| {
                w.start_file("name-1.0/ok", options).unwrap();
                w.add_symlink("name-1.0/etc", "/etc", options).unwrap();
            }),
            "outside",
        ),
        (
            zip_archive(|w| {
                w.start_file("name-1.0/..\\..\\evil", options).unwrap();
            }),
            "`..`",
        ),
    ];
    for (bytes, expect) in hostile {
        let tmp = tempfile::tempdir().unwrap();
        let archive = write(tmp.path(), "bad-1.0.zip", &bytes);
        let dest = tmp.path().join("dest");
        match OsBuildFrontend::new().unpack_sdist(&archive, &dest).unwrap_err() {
            BuildError::InvalidSdist { reason, .. } => assert!(reason.contains(expect), "{reason}"),
            other => panic!("expected InvalidSdist, got {other:?}"),
        }
        assert_clean(&dest);
        assert!(!tmp.path().join("evil").exists());
    }
}
