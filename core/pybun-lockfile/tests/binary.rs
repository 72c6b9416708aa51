//! `pybun.lockb`: round trip, corruption and versioning.

mod common;

use pybun_diagnostics::Code;
use pybun_lockfile::{
    FORMAT_VERSION, Lock, LockOptions, LockedDependency, LockedFile, LockedPackage, MAGIC, Source,
    detect_and_parse, from_binary, from_text, to_binary,
};

fn small_lock() -> Lock {
    Lock {
        version: FORMAT_VERSION,
        requires_python: Some(">=3.9".into()),
        fingerprint: "sha256:ab".into(),
        options: LockOptions {
            resolution: "highest".into(),
            prerelease: "allow".into(),
            exclude_newer: None,
        },
        environment: None,
        packages: vec![
            LockedPackage {
                name: "app".into(),
                version: "1.0".into(),
                source: Source::Project,
                dependencies: vec![LockedDependency {
                    name: "six".into(),
                    extras: vec![],
                    marker: Some("sys_platform == 'linux'".into()),
                    version: None,
                }],
                ..LockedPackage::default()
            },
            LockedPackage {
                name: "six".into(),
                version: "1.16.0".into(),
                source: Source::Registry("https://pypi.org/simple".into()),
                files: vec![LockedFile {
                    filename: "six-1.16.0-py2.py3-none-any.whl".into(),
                    url: "https://x/six.whl".into(),
                    size: Some(11053),
                    hash: Some("sha256:8abb".into()),
                    upload_time: None,
                }],
                ..LockedPackage::default()
            },
        ],
    }
}

fn codes(result: Result<Lock, Vec<pybun_diagnostics::Diagnostic>>) -> Vec<Code> {
    result
        .expect_err("must fail")
        .iter()
        .map(|d| d.code)
        .collect()
}

#[test]
fn round_trip_and_layout() {
    let lock = small_lock();
    let bytes = to_binary(&lock);
    assert_eq!(&bytes[..8], MAGIC);
    assert_eq!(&bytes[8..12], &FORMAT_VERSION.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..bytes.len() - 4]);
    assert_eq!(&bytes[bytes.len() - 4..], &crc.to_le_bytes());
    assert_eq!(from_binary(&bytes, "pybun.lockb").expect("decodes"), lock);
    assert_eq!(
        detect_and_parse(&bytes, "pybun.lockb").expect("detected"),
        lock
    );
    assert_eq!(to_binary(&lock), bytes, "deterministic");
}

#[test]
fn golden_fixture_round_trips() {
    let lock = from_text(&common::read_text("basic.lock"), "basic.lock").expect("fixture parses");
    let bytes = to_binary(&lock);
    assert_eq!(from_binary(&bytes, "basic.lockb").expect("decodes"), lock);
    // The string table makes the binary smaller than the text.
    assert!(bytes.len() < common::read_text("basic.lock").len());
}

#[test]
fn forked_fixture_round_trips() {
    let text = common::read_text("forked.lock");
    let lock = from_text(&text, "forked.lock").expect("fixture parses");
    let bytes = to_binary(&lock);
    let decoded = from_binary(&bytes, "forked.lockb").expect("decodes");
    assert_eq!(decoded, lock);
    assert_eq!(to_binary(&decoded), bytes, "deterministic");
    // The new optional strings are in the payload.
    let numpy = decoded.packages_named("numpy").collect::<Vec<_>>();
    assert_eq!(numpy.len(), 2);
    assert!(numpy.iter().all(|p| p.resolution_marker.is_some()));
    assert!(
        decoded
            .project()
            .expect("a project")
            .dependencies
            .iter()
            .any(|d| d.version.as_deref() == Some("2.5.5"))
    );
}

#[test]
fn every_single_bit_flip_is_detected() {
    let bytes = to_binary(&small_lock());
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            codes(from_binary(&flipped, "pybun.lockb")),
            vec![Code::LockCorrupt],
            "bit {bit}"
        );
        // Through detection too (a flipped magic is no longer binary, and is not text).
        assert!(
            detect_and_parse(&flipped, "pybun.lockb").is_err(),
            "bit {bit}"
        );
    }
}

#[test]
fn every_truncation_is_detected() {
    let bytes = to_binary(&small_lock());
    for len in 0..bytes.len() {
        assert_eq!(
            codes(from_binary(&bytes[..len], "pybun.lockb")),
            vec![Code::LockCorrupt],
            "len {len}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        codes(from_binary(&longer, "pybun.lockb")),
        vec![Code::LockCorrupt]
    );
}

#[test]
fn bad_magic_is_corrupt() {
    let mut bytes = to_binary(&small_lock());
    bytes[0] = b'X';
    let diagnostics = from_binary(&bytes, "pybun.lockb").expect_err("bad magic");
    assert_eq!(diagnostics[0].code, Code::LockCorrupt);
    assert_eq!(
        diagnostics[0].location.as_ref().map(|l| l.file.as_str()),
        Some("pybun.lockb")
    );
    insta::assert_snapshot!("bad_magic", common::render(&diagnostics));
}

/// Re-seal bytes with a valid checksum after editing them.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.truncate(bytes.len() - 4);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

#[test]
fn newer_version_is_reported_as_such() {
    let mut bytes = to_binary(&small_lock());
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let bytes = reseal(bytes);
    let diagnostics = from_binary(&bytes, "pybun.lockb").expect_err("newer");
    assert_eq!(
        diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(),
        vec![Code::LockVersion]
    );
    insta::assert_snapshot!("newer_version", common::render(&diagnostics));
}

#[test]
fn checksummed_garbage_is_corrupt_not_a_panic() {
    // Valid header and checksum around payloads that do not decode.
    for payload in [
        &[][..],
        &[0xff; 16][..],
        &[0x01, 0x05, b'a'][..], // string longer than the data
        &[0x00, 0x05][..],       // index into an empty table
        &[
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ][..], // overlong varint
        &[0x01, 0x02, 0xff, 0xfe, 0x00][..], // string not UTF-8
    ] {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(payload);
        bytes.extend_from_slice(&[0; 4]);
        assert_eq!(
            codes(from_binary(&reseal(bytes), "pybun.lockb")),
            vec![Code::LockCorrupt],
            "{payload:?}"
        );
    }
}
