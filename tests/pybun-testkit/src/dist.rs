//! Wheel and sdist builders: valid, deterministic archives built in memory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Cursor, Write as _};

use sha2::{Digest, Sha256};

/// What a distribution declares: enough to write its core metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DistSpec {
    /// The project name as published (not necessarily normalized).
    pub name: String,
    pub version: String,
    /// PEP 508 requirement strings (unconditional or with their own markers).
    pub requires_dist: Vec<String>,
    pub requires_python: Option<String>,
    /// Extra name → requirements it adds (written with `extra == "name"` markers).
    pub extras: BTreeMap<String, Vec<String>>,
    /// `(group, name, object reference)` entry points, e.g. `("console_scripts", "hello", "demo:main")`.
    pub entry_points: Vec<(String, String, String)>,
    /// The sdist's `[build-system]`: `(requirement, build-backend)` [default: setuptools].
    pub build_system: Option<(String, String)>,
}

impl DistSpec {
    /// A spec with only a name and a version.
    #[must_use]
    pub fn new(name: &str, version: &str) -> Self {
        Self { name: name.to_string(), version: version.to_string(), ..Self::default() }
    }

    /// Builder-style: add requirements.
    #[must_use]
    pub fn requires(mut self, requirements: &[&str]) -> Self {
        self.requires_dist.extend(requirements.iter().map(|r| (*r).to_string()));
        self
    }

    /// Builder-style: set `Requires-Python`.
    #[must_use]
    pub fn requires_python(mut self, specifiers: &str) -> Self {
        self.requires_python = Some(specifiers.to_string());
        self
    }

    /// Builder-style: add a console script (`name = module:function`); a
    /// module with entry points has a `main()` printing `hello from <module>`.
    #[must_use]
    pub fn console_script(mut self, name: &str, reference: &str) -> Self {
        self.entry_points.push(("console_scripts".to_string(), name.to_string(), reference.to_string()));
        self
    }

    /// Builder-style: build the sdist with [`TEST_BACKEND`] (served by [`test_backend_wheel`]).
    #[must_use]
    pub fn with_test_backend(mut self) -> Self {
        self.build_system = Some((TEST_BACKEND_NAME.to_string(), TEST_BACKEND.to_string()));
        self
    }

    /// Builder-style: add an extra.
    #[must_use]
    pub fn extra(mut self, name: &str, requirements: &[&str]) -> Self {
        self.extras
            .entry(name.to_string())
            .or_default()
            .extend(requirements.iter().map(|r| (*r).to_string()));
        self
    }
}

/// PEP 503 normalization: lower case, runs of `-`, `_`, `.` become one `-`.
#[must_use]
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_sep {
                out.push('-');
            }
            last_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            last_sep = false;
        }
    }
    out
}

/// The name as it appears in wheel and sdist filenames (PEP 427/625): normalized, `_` for `-`.
#[must_use]
pub fn filename_name(name: &str) -> String {
    normalize_name(name).replace('-', "_")
}

/// The importable module name of a project.
fn module_name(name: &str) -> String {
    filename_name(name)
}

/// Lower-case hex SHA-256.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Unpadded URL-safe base64 (the RECORD hash encoding).
#[must_use]
pub fn urlsafe_b64_nopad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// The `Requires-Dist` value of a requirement belonging to `extra`.
fn with_extra_marker(requirement: &str, extra: &str) -> String {
    match requirement.split_once(';') {
        Some((req, marker)) if !marker.trim().is_empty() => {
            format!("{} ; ({}) and extra == \"{extra}\"", req.trim(), marker.trim())
        }
        Some((req, _)) => format!("{} ; extra == \"{extra}\"", req.trim()),
        None => format!("{} ; extra == \"{extra}\"", requirement.trim()),
    }
}

/// Core metadata text (`METADATA` / `PKG-INFO`).
///
/// With `dynamic_requires`, `Dynamic: Requires-Dist` is declared and no
/// `Requires-Dist` line is written (the values would not be trustworthy).
#[must_use]
pub fn metadata_text(spec: &DistSpec, metadata_version: &str, dynamic_requires: bool) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "Metadata-Version: {metadata_version}");
    let _ = writeln!(text, "Name: {}", spec.name);
    let _ = writeln!(text, "Version: {}", spec.version);
    let _ = writeln!(text, "Summary: The {} test package", spec.name);
    if let Some(requires_python) = &spec.requires_python {
        let _ = writeln!(text, "Requires-Python: {requires_python}");
    }
    if dynamic_requires {
        let _ = writeln!(text, "Dynamic: Requires-Dist");
    } else {
        for requirement in &spec.requires_dist {
            let _ = writeln!(text, "Requires-Dist: {}", requirement.trim());
        }
    }
    for (extra, requirements) in &spec.extras {
        let _ = writeln!(text, "Provides-Extra: {extra}");
        if !dynamic_requires {
            for requirement in requirements {
                let _ = writeln!(text, "Requires-Dist: {}", with_extra_marker(requirement, extra));
            }
        }
    }
    text
}

/// The wheel `METADATA` text of a spec (also served as the PEP 658 `.metadata` file).
#[must_use]
pub fn wheel_metadata(spec: &DistSpec) -> String {
    metadata_text(spec, "2.1", false)
}

/// The wheel filename for `spec` with the given `py-abi-platform` tag triple.
#[must_use]
pub fn wheel_filename(spec: &DistSpec, tags: &str) -> String {
    format!("{}-{}-{tags}.whl", filename_name(&spec.name), spec.version)
}

/// The sdist filename for `spec` (PEP 625).
#[must_use]
pub fn sdist_filename(spec: &DistSpec) -> String {
    format!("{}-{}.tar.gz", filename_name(&spec.name), spec.version)
}

fn init_py(spec: &DistSpec) -> String {
    let mut text = format!("__version__ = \"{}\"\n", spec.version);
    if !spec.entry_points.is_empty() {
        let _ = write!(text, "\n\ndef main():\n    print(\"hello from {}\")\n", module_name(&spec.name));
    }
    text
}

/// `entry_points.txt`, or `None` when the spec declares none.
fn entry_points_txt(spec: &DistSpec) -> Option<String> {
    if spec.entry_points.is_empty() {
        return None;
    }
    let mut groups: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (group, name, reference) in &spec.entry_points {
        groups.entry(group).or_default().push((name, reference));
    }
    let mut out = String::new();
    for (group, entries) in groups {
        let _ = writeln!(out, "[{group}]");
        for (name, reference) in entries {
            let _ = writeln!(out, "{name} = {reference}");
        }
        out.push('\n');
    }
    Some(out)
}

/// Build a wheel: `(filename, bytes)`.
///
/// The archive holds `{module}/__init__.py` (with `__version__`) and a
/// `.dist-info` directory with `METADATA` (2.1), `WHEEL` and `RECORD`
/// (urlsafe-base64 SHA-256 hashes). Timestamps are fixed, so the bytes (and
/// hashes) are the same on every run. `tags` is a `py-abi-platform` triple,
/// possibly compressed (`py2.py3-none-any`).
///
/// # Panics
/// Only if writing to memory fails.
#[must_use]
pub fn build_wheel(spec: &DistSpec, tags: &str) -> (String, Vec<u8>) {
    let filename = wheel_filename(spec, tags);
    let module = module_name(&spec.name);
    let dist_info = format!("{}-{}.dist-info", filename_name(&spec.name), spec.version);

    let mut wheel_text = String::from("Wheel-Version: 1.0\nGenerator: pybun-testkit\n");
    let pure = tags.ends_with("-any");
    let _ = writeln!(wheel_text, "Root-Is-Purelib: {pure}");
    let mut parts = tags.splitn(3, '-');
    let (py, abi, plat) = (
        parts.next().unwrap_or("py3"),
        parts.next().unwrap_or("none"),
        parts.next().unwrap_or("any"),
    );
    for p in py.split('.') {
        for a in abi.split('.') {
            for pl in plat.split('.') {
                let _ = writeln!(wheel_text, "Tag: {p}-{a}-{pl}");
            }
        }
    }

    let mut files: Vec<(String, Vec<u8>)> = vec![
        (format!("{module}/__init__.py"), init_py(spec).into_bytes()),
        (format!("{dist_info}/METADATA"), wheel_metadata(spec).into_bytes()),
        (format!("{dist_info}/WHEEL"), wheel_text.into_bytes()),
    ];
    if let Some(text) = entry_points_txt(spec) {
        files.push((format!("{dist_info}/entry_points.txt"), text.into_bytes()));
    }
    let mut record = String::new();
    for (path, bytes) in &files {
        let digest = Sha256::digest(bytes);
        let _ = writeln!(record, "{path},sha256={},{}", urlsafe_b64_nopad(&digest), bytes.len());
    }
    let _ = writeln!(record, "{dist_info}/RECORD,,");

    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let record_path = format!("{dist_info}/RECORD");
    for (path, bytes) in files.iter().chain(std::iter::once(&(record_path, record.into_bytes()))) {
        writer.start_file(path.as_str(), options).expect("zip in memory");
        writer.write_all(bytes).expect("zip in memory");
    }
    let bytes = writer.finish().expect("zip in memory").into_inner();
    (filename, bytes)
}

/// The sdist `PKG-INFO` text (Metadata 2.2).
#[must_use]
pub fn sdist_pkg_info(spec: &DistSpec, dynamic_requires: bool) -> String {
    metadata_text(spec, "2.2", dynamic_requires)
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn toml_array(items: &[String]) -> String {
    if items.is_empty() {
        return "[]".to_string();
    }
    let mut out = String::from("[\n");
    for item in items {
        let _ = writeln!(out, "  {},", toml_string(item));
    }
    out.push(']');
    out
}

/// Build an sdist: `(filename, bytes)` of a `.tar.gz` holding
/// `{name}-{version}/PKG-INFO`, a setuptools `pyproject.toml` and the package
/// source. With `dynamic_requires`, the dependencies are declared dynamic
/// (`Dynamic: Requires-Dist` in `PKG-INFO`) and given by a `setup.py` (for
/// setuptools) and a `requirements.txt` (for the test build backend).
///
/// # Panics
/// Only if writing to memory fails.
#[must_use]
pub fn build_sdist(spec: &DistSpec, dynamic_requires: bool) -> (String, Vec<u8>) {
    let filename = sdist_filename(spec);
    let top = format!("{}-{}", filename_name(&spec.name), spec.version);
    let module = module_name(&spec.name);

    let (requires, backend) = spec
        .build_system
        .clone()
        .unwrap_or_else(|| ("setuptools>=61".to_string(), "setuptools.build_meta".to_string()));
    let mut pyproject = format!(
        "[build-system]\nrequires = [{}]\nbuild-backend = {}\n\n[project]\n",
        toml_string(&requires),
        toml_string(&backend)
    );
    let _ = writeln!(pyproject, "name = {}", toml_string(&spec.name));
    let _ = writeln!(pyproject, "version = {}", toml_string(&spec.version));
    if let Some(requires_python) = &spec.requires_python {
        let _ = writeln!(pyproject, "requires-python = {}", toml_string(requires_python));
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    if dynamic_requires {
        let _ = writeln!(pyproject, "dynamic = [\"dependencies\", \"optional-dependencies\"]");
        let mut setup = String::from("from setuptools import setup\n\nsetup(\n    install_requires=[\n");
        for requirement in &spec.requires_dist {
            let _ = writeln!(setup, "        {},", toml_string(requirement));
        }
        setup.push_str("    ],\n    extras_require={\n");
        for (extra, requirements) in &spec.extras {
            let _ = write!(setup, "        {}: [", toml_string(extra));
            for requirement in requirements {
                let _ = write!(setup, "{}, ", toml_string(requirement));
            }
            setup.push_str("],\n");
        }
        setup.push_str("    },\n)\n");
        files.push((format!("{top}/setup.py"), setup.into_bytes()));
        // The test build backend reads dynamic dependencies from here.
        let requirements: String = spec.requires_dist.iter().map(|r| format!("{r}\n")).collect();
        files.push((format!("{top}/requirements.txt"), requirements.into_bytes()));
    } else {
        let _ = writeln!(pyproject, "dependencies = {}", toml_array(&spec.requires_dist));
        if !spec.extras.is_empty() {
            pyproject.push_str("\n[project.optional-dependencies]\n");
            for (extra, requirements) in &spec.extras {
                let _ = writeln!(pyproject, "{} = {}", toml_string(extra), toml_array(requirements));
            }
        }
    }
    files.push((format!("{top}/PKG-INFO"), sdist_pkg_info(spec, dynamic_requires).into_bytes()));
    files.push((format!("{top}/pyproject.toml"), pyproject.into_bytes()));
    files.push((format!("{top}/src/{module}/__init__.py"), init_py(spec).into_bytes()));
    files.sort();

    let gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, bytes) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, bytes.as_slice()).expect("tar in memory");
    }
    let gz = builder.into_inner().expect("tar in memory");
    let bytes = gz.finish().expect("gzip in memory");
    (filename, bytes)
}

/// The module name of the test build backend (PEP 517 `build-backend`).
pub const TEST_BACKEND: &str = "pybun_test_backend";
/// The distribution name of the test build backend (a `[build-system] requires` entry).
pub const TEST_BACKEND_NAME: &str = "pybun-test-backend";

/// A wheel of a tiny PEP 517/660 build backend (stdlib only): `build_wheel`
/// packs `src/<module>/` (or `<module>/`) with `[project]` name, version and
/// dependencies; `build_editable` writes a `.pth` pointing at the sources.
/// Serve it (e.g. from a find-links directory) to test builds hermetically.
#[must_use]
pub fn test_backend_wheel() -> (String, Vec<u8>) {
    let source = include_str!("backend/pybun_test_backend.py");
    wheel_from_files(TEST_BACKEND_NAME, "1.0", &[(format!("{TEST_BACKEND}.py"), source.as_bytes().to_vec())])
}

/// A pure-Python `py3-none-any` wheel of `name` `version` holding `files`
/// (archive path, bytes) plus its `.dist-info` (`METADATA`, `WHEEL`, `RECORD`).
///
/// # Panics
/// Only if writing to memory fails.
#[must_use]
pub fn wheel_from_files(name: &str, version: &str, files: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let spec = DistSpec::new(name, version);
    let filename = wheel_filename(&spec, "py3-none-any");
    let dist_info = format!("{}-{}.dist-info", filename_name(name), version);
    let mut all: Vec<(String, Vec<u8>)> = files.to_vec();
    all.push((format!("{dist_info}/METADATA"), wheel_metadata(&spec).into_bytes()));
    all.push((
        format!("{dist_info}/WHEEL"),
        b"Wheel-Version: 1.0\nGenerator: pybun-testkit\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
    ));
    let mut record = String::new();
    for (path, bytes) in &all {
        let digest = Sha256::digest(bytes);
        let _ = writeln!(record, "{path},sha256={},{}", urlsafe_b64_nopad(&digest), bytes.len());
    }
    let _ = writeln!(record, "{dist_info}/RECORD,,");
    all.push((format!("{dist_info}/RECORD"), record.into_bytes()));
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (path, bytes) in &all {
        writer.start_file(path.as_str(), options).expect("zip in memory");
        writer.write_all(bytes).expect("zip in memory");
    }
    (filename, writer.finish().expect("zip in memory").into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(urlsafe_b64_nopad(b""), "");
        assert_eq!(urlsafe_b64_nopad(b"f"), "Zg");
        assert_eq!(urlsafe_b64_nopad(b"fo"), "Zm8");
        assert_eq!(urlsafe_b64_nopad(b"foo"), "Zm9v");
        assert_eq!(urlsafe_b64_nopad(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn names() {
        assert_eq!(normalize_name("Foo__Bar.baz"), "foo-bar-baz");
        assert_eq!(filename_name("Foo-Bar"), "foo_bar");
    }

    #[test]
    fn extra_markers() {
        assert_eq!(with_extra_marker("b>1", "x"), "b>1 ; extra == \"x\"");
        assert_eq!(
            with_extra_marker("b ; sys_platform == 'win32'", "x"),
            "b ; (sys_platform == 'win32') and extra == \"x\""
        );
    }
}
