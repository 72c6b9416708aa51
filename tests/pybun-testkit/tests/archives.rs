//! The wheel and sdist builders make archives real tools would accept.

use std::io::{Cursor, Read};

use pybun_pep::CoreMetadata;
use pybun_testkit::{DistSpec, build_sdist, build_wheel, sha256_hex, urlsafe_b64_nopad};
use sha2::{Digest, Sha256};

fn spec() -> DistSpec {
    DistSpec::new("Foo.Bar", "1.2.3+local")
        .requires(&["idna>=2", "colorama ; sys_platform == 'win32'"])
        .requires_python(">=3.9, <4")
        .extra("socks", &["pysocks>=1.5 ; python_version >= '3.10'"])
        .extra("fast", &["uvloop"])
}

fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a valid zip");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            (file.name().to_string(), data)
        })
        .collect()
}

#[test]
fn wheel_is_valid() {
    let (filename, bytes) = build_wheel(&spec(), "py3-none-any");
    assert_eq!(filename, "foo_bar-1.2.3+local-py3-none-any.whl");
    let parsed: pybun_pep::WheelFilename = filename.parse().unwrap();
    assert_eq!(parsed.name.to_string(), "foo-bar");

    let entries = zip_entries(&bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "foo_bar/__init__.py",
            "foo_bar-1.2.3+local.dist-info/METADATA",
            "foo_bar-1.2.3+local.dist-info/WHEEL",
            "foo_bar-1.2.3+local.dist-info/RECORD",
        ]
    );
    let get = |name: &str| entries.iter().find(|(n, _)| n == name).map(|(_, d)| d.clone()).unwrap();
    assert_eq!(String::from_utf8(get("foo_bar/__init__.py")).unwrap(), "__version__ = \"1.2.3+local\"\n");

    let metadata = CoreMetadata::parse(&get("foo_bar-1.2.3+local.dist-info/METADATA")).unwrap();
    assert_eq!(metadata.metadata_version, "2.1");
    assert_eq!(metadata.name.to_string(), "foo-bar");
    assert_eq!(metadata.version.to_string(), "1.2.3+local");
    assert_eq!(metadata.requires_python.unwrap().to_string(), ">=3.9, <4");
    assert_eq!(metadata.requires_dist.len(), 4);
    let extras: Vec<String> = metadata.provides_extras.iter().map(ToString::to_string).collect();
    assert_eq!(extras, ["fast", "socks"]);
    let socks = metadata.requires_dist.iter().find(|r| r.name.to_string() == "pysocks").unwrap();
    let marker = socks.marker.try_to_string().unwrap();
    assert!(marker.contains("extra == 'socks'") && marker.contains("3.10"), "{marker}");

    let wheel = String::from_utf8(get("foo_bar-1.2.3+local.dist-info/WHEEL")).unwrap();
    assert!(wheel.contains("Wheel-Version: 1.0\n") && wheel.contains("Tag: py3-none-any\n"), "{wheel}");

    // Every RECORD line but its own carries the right hash and size.
    let record = String::from_utf8(get("foo_bar-1.2.3+local.dist-info/RECORD")).unwrap();
    let mut checked = 0;
    for line in record.lines() {
        let parts: Vec<&str> = line.split(',').collect();
        assert_eq!(parts.len(), 3, "{line}");
        if parts[0].ends_with("/RECORD") {
            assert_eq!(&parts[1..], ["", ""]);
            continue;
        }
        let data = get(parts[0]);
        let hash = urlsafe_b64_nopad(&Sha256::digest(&data));
        assert_eq!(parts[1], format!("sha256={hash}"));
        assert_eq!(parts[2], data.len().to_string());
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn wheel_tags_are_expanded() {
    let (filename, bytes) = build_wheel(&DistSpec::new("a", "1.0.0"), "py2.py3-none-manylinux1_x86_64.manylinux2014_x86_64");
    assert_eq!(filename, "a-1.0.0-py2.py3-none-manylinux1_x86_64.manylinux2014_x86_64.whl");
    let entries = zip_entries(&bytes);
    let wheel = entries.iter().find(|(n, _)| n.ends_with("WHEEL")).unwrap();
    let text = String::from_utf8(wheel.1.clone()).unwrap();
    assert_eq!(text.matches("Tag: ").count(), 4);
    assert!(text.contains("Root-Is-Purelib: false"));
}

#[test]
fn builds_are_deterministic() {
    assert_eq!(build_wheel(&spec(), "py3-none-any"), build_wheel(&spec(), "py3-none-any"));
    assert_eq!(build_sdist(&spec(), false), build_sdist(&spec(), false));
    assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

fn tar_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (path, data)
        })
        .collect()
}

#[test]
fn sdist_with_static_metadata() {
    let (filename, bytes) = build_sdist(&spec(), false);
    assert_eq!(filename, "foo_bar-1.2.3+local.tar.gz");
    let parsed = pybun_pep::SdistFilename::parse(&filename, &"foo-bar".parse().unwrap()).unwrap();
    assert_eq!(parsed.version.to_string(), "1.2.3+local");
    let entries = tar_entries(&bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "foo_bar-1.2.3+local/PKG-INFO",
            "foo_bar-1.2.3+local/pyproject.toml",
            "foo_bar-1.2.3+local/src/foo_bar/__init__.py",
        ]
    );
    let metadata = CoreMetadata::parse(&entries[0].1).unwrap();
    assert_eq!(metadata.metadata_version, "2.2");
    assert!(metadata.has_static_dependencies());
    assert_eq!(metadata.requires_dist.len(), 4);
    let pyproject: toml::Table = toml::from_str(std::str::from_utf8(&entries[1].1).unwrap()).unwrap();
    assert_eq!(pyproject["build-system"]["build-backend"].as_str(), Some("setuptools.build_meta"));
    assert_eq!(pyproject["project"]["dependencies"].as_array().unwrap().len(), 2);
    assert_eq!(pyproject["project"]["optional-dependencies"]["socks"].as_array().unwrap().len(), 1);
}

#[test]
fn sdist_with_dynamic_requires() {
    let (_, bytes) = build_sdist(&spec(), true);
    let entries = tar_entries(&bytes);
    let pkg_info = entries.iter().find(|(n, _)| n.ends_with("/PKG-INFO")).unwrap();
    let metadata = CoreMetadata::parse(&pkg_info.1).unwrap();
    assert!(!metadata.has_static_dependencies());
    assert!(metadata.requires_dist.is_empty());
    assert!(entries.iter().any(|(n, _)| n.ends_with("/setup.py")));
}
