//! Where every file of a wheel goes, and whether the wheel may be installed at all.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pybun_pep::{PackageName, Version, WheelFilename};

use crate::error::InstallError;
use crate::record::{Record, RecordHash};
use crate::wheel::WheelMeta;

/// One member of the wheel archive, as the zip central directory (or an
/// unpacked copy of it) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// The member name: `/`-separated, relative (directories may end in `/`).
    pub path: String,
    /// Uncompressed size in bytes (0 for directories).
    pub size: u64,
    pub is_dir: bool,
    /// Unix mode bits when the archive recorded them (`st_mode`, file type included).
    pub unix_mode: Option<u32>,
}

impl ArchiveEntry {
    /// A regular file entry.
    #[must_use]
    pub fn file(path: &str, size: u64, unix_mode: Option<u32>) -> Self {
        Self { path: path.to_string(), size, is_dir: false, unix_mode }
    }
}

/// The target environment's install scheme (sysconfig paths), absolute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemePaths {
    pub purelib: PathBuf,
    pub platlib: PathBuf,
    pub scripts: PathBuf,
    pub headers: PathBuf,
    pub data: PathBuf,
}

impl SchemePaths {
    /// The directory for a `.data` key.
    #[must_use]
    pub fn dir(&self, key: SchemeKey) -> &Path {
        match key {
            SchemeKey::Purelib => &self.purelib,
            SchemeKey::Platlib => &self.platlib,
            SchemeKey::Scripts => &self.scripts,
            SchemeKey::Headers => &self.headers,
            SchemeKey::Data => &self.data,
        }
    }

    /// The scheme [`check_archive`] plans against: purelib and platlib are one
    /// directory (as in every real environment), the others apart.
    fn virtual_scheme() -> Self {
        Self {
            purelib: PathBuf::from("/lib"),
            platlib: PathBuf::from("/lib"),
            scripts: PathBuf::from("/scripts"),
            headers: PathBuf::from("/headers"),
            data: PathBuf::from("/data"),
        }
    }
}

/// An install scheme key (the subdirectories of `{name}-{version}.data/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemeKey {
    Purelib,
    Platlib,
    Scripts,
    Headers,
    Data,
}

impl SchemeKey {
    fn from_data_dir(name: &str) -> Option<Self> {
        match name {
            "purelib" => Some(Self::Purelib),
            "platlib" => Some(Self::Platlib),
            "scripts" => Some(Self::Scripts),
            "headers" => Some(Self::Headers),
            "data" => Some(Self::Data),
            _ => None,
        }
    }
}

impl fmt::Display for SchemeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Purelib => "purelib",
            Self::Platlib => "platlib",
            Self::Scripts => "scripts",
            Self::Headers => "headers",
            Self::Data => "data",
        })
    }
}

/// One file of the wheel and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// The normalized archive path (`/`-separated, no `.` or empty components).
    pub archive_path: String,
    /// Absolute destination in the scheme.
    pub dest: PathBuf,
    pub scheme: SchemeKey,
    /// The `RECORD` hash of the file as it is in the archive.
    pub hash: RecordHash,
    /// Size in bytes (the archive's, equal to `RECORD`'s when it gives one).
    pub size: u64,
    /// Install with the executable bits (`0o755`): the archive had an `x` bit,
    /// or the file is a `.data/scripts` script.
    pub executable: bool,
    /// A `.data/scripts` file: if it starts with `#!python`, the installer
    /// rewrites its first line with [`crate::rewrite_shebang`].
    pub rewrite_shebang: bool,
    /// The file belongs to the `.dist-info` directory (installed last).
    pub in_dist_info: bool,
}

/// Everything an installer needs to place a wheel's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallPlan {
    /// The wheel's filename, for messages.
    pub wheel: String,
    /// The `.dist-info` directory name in the archive (`foo-1.0.dist-info`).
    pub dist_info: String,
    /// The directory holding the installed `.dist-info` (purelib or platlib per
    /// `Root-Is-Purelib`); `RECORD` paths are relative to it.
    pub root: PathBuf,
    /// `root/dist_info`.
    pub dist_info_dest: PathBuf,
    pub scheme: SchemePaths,
    /// Every file to install, by archive path. The wheel's own `RECORD` and
    /// its signatures (`RECORD.jws`, `RECORD.p7s`) are not in it: the
    /// installer writes a new `RECORD`.
    pub files: Vec<PlannedFile>,
    /// Non-fatal findings (a newer minor Wheel-Version).
    pub warnings: Vec<String>,
}

impl InstallPlan {
    /// The files to install with the executable bits.
    pub fn executables(&self) -> impl Iterator<Item = &PlannedFile> {
        self.files.iter().filter(|f| f.executable)
    }

    /// The `.data/scripts` files whose `#!python` shebang the installer rewrites.
    pub fn scripts_to_rewrite(&self) -> impl Iterator<Item = &PlannedFile> {
        self.files.iter().filter(|f| f.rewrite_shebang)
    }

    /// Where the installed `RECORD` goes.
    #[must_use]
    pub fn record_dest(&self) -> PathBuf {
        self.dist_info_dest.join("RECORD")
    }
}

fn unsafe_path(wheel: &str, path: &str, reason: &str) -> InstallError {
    InstallError::UnsafePath { wheel: wheel.to_string(), path: path.to_string(), reason: reason.to_string() }
}

/// The components of a safe relative archive path; `.` and empty components are dropped.
/// `path` without empty and `.` components (borrowed when it has none).
fn normal_path(path: &str) -> Cow<'_, str> {
    if path.split('/').all(|c| !c.is_empty() && c != ".") {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(path.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/"))
    }
}

/// Whether an archive member name is safe to create under a directory: not
/// absolute, no `..`, backslash, drive letter or NUL, not empty (the checks
/// [`check_archive`] makes first). Lets an unpacker write members as they
/// arrive, before the whole archive (and so [`check_archive`]) is available.
#[must_use]
pub fn is_safe_member_path(path: &str) -> bool {
    safe_components("", path).is_ok()
}

fn safe_components<'a>(wheel: &str, path: &'a str) -> Result<Vec<&'a str>, InstallError> {
    let bytes = path.as_bytes();
    if path.contains('\0') {
        return Err(unsafe_path(wheel, path, "it contains a NUL byte"));
    }
    if path.contains('\\') {
        return Err(unsafe_path(wheel, path, "it contains a backslash"));
    }
    if path.starts_with('/') {
        return Err(unsafe_path(wheel, path, "it is absolute"));
    }
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(unsafe_path(wheel, path, "it starts with a drive letter"));
    }
    let mut components = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(unsafe_path(wheel, path, "it has a `..` component")),
            other => components.push(other),
        }
    }
    if components.is_empty() {
        return Err(unsafe_path(wheel, path, "it is empty"));
    }
    Ok(components)
}

/// Whether `dir` (`{name}-{version}.dist-info`) names the wheel's project and version.
fn dist_info_matches(dir: &str, wheel: &WheelFilename) -> bool {
    let Some(stem) = dir.strip_suffix(".dist-info") else { return false };
    stem.match_indices('-').any(|(index, _)| {
        let (name, version) = (&stem[..index], &stem[index + 1..]);
        PackageName::from_str(name).is_ok_and(|n| n == wheel.name)
            && Version::from_str(version).is_ok_and(|v| v == wheel.version)
    })
}

/// `.dist-info` files an installer writes itself (PEP 610 `direct_url.json`,
/// PEP 627 `INSTALLER` and `REQUESTED`), never taken from the wheel.
pub(crate) fn installer_owned(name: &str) -> bool {
    matches!(name, "INSTALLER" | "REQUESTED" | "direct_url.json")
}

/// The wheel's `.dist-info` directory name: the one top-level `*.dist-info`
/// directory, which must name the wheel's project and version.
///
/// # Errors
/// [`InstallError::DistInfo`] when there is none, several, or a mismatched one;
/// [`InstallError::UnsafePath`] for an unsafe member name.
pub fn find_dist_info(wheel_name: &WheelFilename, entries: &[ArchiveEntry]) -> Result<String, InstallError> {
    let wheel = wheel_name.to_string();
    let mut candidates = BTreeSet::new();
    for entry in entries {
        let components = safe_components(&wheel, &entry.path)?;
        if (components.len() > 1 || entry.is_dir) && components[0].ends_with(".dist-info") {
            candidates.insert(components[0]);
        }
    }
    let dist_info_error = |reason: String| InstallError::DistInfo { wheel: wheel.clone(), reason };
    let mut candidates = candidates.into_iter();
    match (candidates.next(), candidates.next()) {
        (None, _) => Err(dist_info_error("the wheel has no `.dist-info` directory".to_string())),
        (Some(first), Some(second)) => Err(dist_info_error(format!(
            "the wheel has several `.dist-info` directories (`{first}`, `{second}`)"
        ))),
        (Some(dir), None) if dist_info_matches(dir, wheel_name) => Ok(dir.to_string()),
        (Some(dir), None) => Err(dist_info_error(format!(
            "`{dir}` does not match the wheel's project `{}` version `{}`",
            wheel_name.name, wheel_name.version
        ))),
    }
}

/// Validate a wheel without a target environment: [`plan_install`] against a
/// virtual scheme in which purelib and platlib are one directory. Unpackers
/// call this before writing anything; the plan's `dest`s are virtual
/// (`/lib/…`, `/scripts/…`), its hashes, sizes and flags are real.
///
/// # Errors
/// As [`plan_install`].
pub fn check_archive(
    wheel_name: &WheelFilename,
    entries: &[ArchiveEntry],
    wheel_meta: &WheelMeta,
    record: &Record,
) -> Result<InstallPlan, InstallError> {
    plan_install(wheel_name, entries, wheel_meta, record, &SchemePaths::virtual_scheme())
}

/// Map every file of the archive to its destination in `scheme`, refusing
/// unsafe or inconsistent wheels.
///
/// The archive root goes to purelib (`Root-Is-Purelib: true`) or platlib;
/// `{name}-{version}.data/{key}/rest` goes to the scheme directory `key`.
///
/// # Errors
/// The first problem found, in this order: an unsafe member name (absolute,
/// `..`, backslash, drive letter, NUL) or a symlink; an unsupported
/// `Wheel-Version`; a missing, ambiguous or mismatched `.dist-info`; per file
/// in archive order, an unknown `.data` key, a file not in `RECORD` or without
/// a hash there, a size differing from `RECORD`, a destination already taken;
/// then a `RECORD` entry missing from the archive.
pub fn plan_install(
    wheel_name: &WheelFilename,
    entries: &[ArchiveEntry],
    wheel_meta: &WheelMeta,
    record: &Record,
    scheme: &SchemePaths,
) -> Result<InstallPlan, InstallError> {
    let wheel = wheel_name.to_string();
    // Every member name must be safe, and every member a directory or a regular file.
    for entry in entries {
        safe_components(&wheel, &entry.path)?;
        let file_type = entry.unix_mode.map_or(0, |mode| mode & 0o170_000);
        let regular = if entry.is_dir { 0o040_000 } else { 0o100_000 };
        if file_type != 0 && file_type != regular {
            return Err(InstallError::NotRegularFile { wheel, path: entry.path.clone() });
        }
    }
    let mut warnings = Vec::new();
    match wheel_meta.wheel_version {
        (1, 0) => {}
        (1, minor) => warnings.push(format!(
            "`{wheel}` has Wheel-Version 1.{minor}, newer than the 1.0 PyBun knows; installing anyway"
        )),
        (major, minor) => {
            return Err(InstallError::UnsupportedWheelVersion { wheel, version: format!("{major}.{minor}") });
        }
    }
    let dist_info = find_dist_info(wheel_name, entries)?;
    let data_dir = format!("{}.data", dist_info.trim_end_matches(".dist-info"));
    let exempt = |path: &str| {
        path.strip_prefix(dist_info.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|name| matches!(name, "RECORD" | "RECORD.jws" | "RECORD.p7s"))
    };
    let (root_key, root) = if wheel_meta.root_is_purelib {
        (SchemeKey::Purelib, scheme.purelib.clone())
    } else {
        (SchemeKey::Platlib, scheme.platlib.clone())
    };

    let record_by_path: HashMap<Cow<'_, str>, &crate::record::RecordEntry> =
        record.entries.iter().map(|e| (normal_path(&e.path), e)).collect();
    let mut in_archive: HashSet<Cow<'_, str>> = HashSet::with_capacity(entries.len());
    let mut by_dest: rustc_hash::FxHashMap<Vec<u8>, String> = rustc_hash::FxHashMap::default();
    by_dest.reserve(entries.len());
    let mut files = Vec::with_capacity(entries.len());
    for entry in entries.iter().filter(|e| !e.is_dir) {
        let components = safe_components(&wheel, &entry.path)?;
        // `components` joined with `/` (they are the non-empty, non-`.` ones).
        let normal = normal_path(&entry.path);
        let archive_path = normal.to_string();
        in_archive.insert(normal);
        if exempt(&archive_path) {
            continue;
        }
        let (key, rest) = if components[0] == data_dir {
            let Some(&key_name) = components.get(1).filter(|_| components.len() > 2) else {
                return Err(unsafe_path(&wheel, &entry.path, "a file directly in the `.data` directory has no scheme"));
            };
            let key = SchemeKey::from_data_dir(key_name).ok_or_else(|| InstallError::UnknownDataKey {
                wheel: wheel.clone(),
                path: entry.path.clone(),
                key: key_name.to_string(),
            })?;
            (key, &components[2..])
        } else {
            (root_key, &components[..])
        };
        let Some(row) = record_by_path.get(archive_path.as_str()) else {
            return Err(InstallError::NotInRecord { wheel, path: archive_path });
        };
        let Some(hash) = row.hash.clone() else {
            return Err(InstallError::MissingHash { wheel, path: archive_path });
        };
        if let Some(size) = row.size
            && size != entry.size
        {
            return Err(InstallError::SizeMismatch { wheel, path: archive_path, expected: size, actual: entry.size });
        }
        // PEP 610/627: these are the installer's to write (or not); a copy the
        // wheel ships (checked against RECORD like every file) is not installed.
        if components.len() == 2 && components[0] == dist_info && installer_owned(components[1]) {
            continue;
        }
        let dest = rest.iter().fold(scheme.dir(key).to_path_buf(), |dir, c| dir.join(c));
        if let Some(other) = by_dest.insert(crate::installed::path_bytes(&dest).to_vec(), archive_path.clone()) {
            return Err(InstallError::DuplicateDestination {
                wheel,
                path: archive_path,
                other,
                dest: dest.display().to_string(),
            });
        }
        files.push(PlannedFile {
            executable: key == SchemeKey::Scripts || entry.unix_mode.is_some_and(|m| m & 0o111 != 0),
            rewrite_shebang: key == SchemeKey::Scripts,
            in_dist_info: components[0] == dist_info,
            archive_path,
            dest,
            scheme: key,
            hash,
            size: entry.size,
        });
    }
    for row in &record.entries {
        let path = normal_path(&row.path);
        if !in_archive.contains(&path) && !exempt(&path) {
            return Err(InstallError::MissingFromArchive { wheel, path: row.path.clone() });
        }
    }
    for required in ["WHEEL", "RECORD"] {
        if !in_archive.contains(format!("{dist_info}/{required}").as_str()) {
            return Err(InstallError::DistInfo { wheel, reason: format!("`{dist_info}` has no {required} file") });
        }
    }
    files.sort_by(|a, b| a.archive_path.cmp(&b.archive_path));
    let dist_info_dest = root.join(&dist_info);
    Ok(InstallPlan { wheel, dist_info, root, dist_info_dest, scheme: scheme.clone(), files, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    fn scheme() -> SchemePaths {
        SchemePaths {
            purelib: PathBuf::from("/env/lib/python3.12/site-packages"),
            platlib: PathBuf::from("/env/lib64/python3.12/site-packages"),
            scripts: PathBuf::from("/env/bin"),
            headers: PathBuf::from("/env/include/site/python3.12/demo"),
            data: PathBuf::from("/env"),
        }
    }

    const WHEEL_TEXT: &str = "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n";

    /// A wheel `demo-1.0-py3-none-any.whl` holding `files` (path, content);
    /// RECORD lists them all unless a path starts with `!` (then it is left out of
    /// RECORD) or the content is `MISSING` (then it is only in RECORD).
    fn wheel(files: &[(&str, &str)], wheel_text: &str) -> (Vec<ArchiveEntry>, WheelMeta, Record) {
        let mut entries = Vec::new();
        let mut record = String::new();
        let mut all: Vec<(&str, &str)> = files.to_vec();
        all.push(("demo-1.0.dist-info/WHEEL", wheel_text));
        all.push(("demo-1.0.dist-info/RECORD", ""));
        for (path, content) in all {
            let (path, listed) = path.strip_prefix('!').map_or((path, true), |p| (p, false));
            if content != "MISSING" {
                let mode = if path.ends_with(".sh") { 0o100_755 } else { 0o100_644 };
                entries.push(ArchiveEntry::file(path, content.len() as u64, Some(mode)));
            }
            if path.ends_with("/RECORD") {
                let _ = writeln!(record, "{path},,");
            } else if listed {
                let _ = writeln!(record, "{path},{},{}", RecordHash::sha256(content.as_bytes()), content.len());
            }
        }
        (entries, WheelMeta::parse(wheel_text).unwrap(), Record::parse(&record).unwrap())
    }

    fn plan(files: &[(&str, &str)]) -> Result<InstallPlan, InstallError> {
        let (entries, meta, record) = wheel(files, WHEEL_TEXT);
        let name = WheelFilename::from_str("demo-1.0-py3-none-any.whl").unwrap();
        plan_install(&name, &entries, &meta, &record, &scheme())
    }

    /// Plan `files` and compare `archive path -> destination (flags)` lines, or the error message.
    fn check(files: &[(&str, &str)], expected: Result<&[&str], &str>) {
        let got = plan(files).map(|plan| {
            plan.files
                .iter()
                .map(|f| {
                    let mut flags = String::new();
                    if f.executable {
                        flags.push('x');
                    }
                    if f.rewrite_shebang {
                        flags.push('!');
                    }
                    if f.in_dist_info {
                        flags.push('d');
                    }
                    format!("{} -> {} {}", f.archive_path, f.dest.display(), flags).trim_end().to_string()
                })
                .collect::<Vec<_>>()
        });
        match (got, expected) {
            (Ok(lines), Ok(expected)) => assert_eq!(lines, expected, "{files:?}"),
            (Err(error), Err(message)) => assert_eq!(error.to_string(), message, "{files:?}"),
            (got, expected) => panic!("{files:?}\ngot {got:?}\nexpected {expected:?}"),
        }
    }

    #[test]
    fn maps_root_and_data_directories() {
        check(
            &[
                ("demo/__init__.py", "x = 1\n"),
                ("demo/run.sh", "#!/bin/sh\n"),
                ("demo-1.0.data/scripts/demo-tool", "#!python\n"),
                ("demo-1.0.data/data/share/demo/readme.txt", "hi\n"),
                ("demo-1.0.data/headers/demo.h", "int x;\n"),
                ("demo-1.0.data/platlib/demo_ext.so", "ELF"),
                ("demo-1.0.data/purelib/demo_extra.py", ""),
                ("demo-1.0.dist-info/METADATA", "Name: demo\n"),
            ],
            Ok(&[
                "demo-1.0.data/data/share/demo/readme.txt -> /env/share/demo/readme.txt",
                "demo-1.0.data/headers/demo.h -> /env/include/site/python3.12/demo/demo.h",
                "demo-1.0.data/platlib/demo_ext.so -> /env/lib64/python3.12/site-packages/demo_ext.so",
                "demo-1.0.data/purelib/demo_extra.py -> /env/lib/python3.12/site-packages/demo_extra.py",
                "demo-1.0.data/scripts/demo-tool -> /env/bin/demo-tool x!",
                "demo-1.0.dist-info/METADATA -> /env/lib/python3.12/site-packages/demo-1.0.dist-info/METADATA d",
                "demo-1.0.dist-info/WHEEL -> /env/lib/python3.12/site-packages/demo-1.0.dist-info/WHEEL d",
                "demo/__init__.py -> /env/lib/python3.12/site-packages/demo/__init__.py",
                "demo/run.sh -> /env/lib/python3.12/site-packages/demo/run.sh x",
            ]),
        );
    }

    #[test]
    fn root_is_platlib() {
        let text = "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n";
        let (entries, meta, record) = wheel(&[("demo/__init__.py", "")], text);
        let name = WheelFilename::from_str("demo-1.0-cp312-cp312-linux_x86_64.whl").unwrap();
        let plan = plan_install(&name, &entries, &meta, &record, &scheme()).unwrap();
        assert_eq!(plan.root, Path::new("/env/lib64/python3.12/site-packages"));
        assert_eq!(plan.files[1].dest, Path::new("/env/lib64/python3.12/site-packages/demo/__init__.py"));
        assert_eq!(plan.record_dest(), Path::new("/env/lib64/python3.12/site-packages/demo-1.0.dist-info/RECORD"));
    }

    #[test]
    fn refuses_unsafe_paths() {
        let w = "`demo-1.0-py3-none-any.whl`: refusing unsafe path";
        check(&[("../evil.py", "")], Err(&format!("{w} `../evil.py`: it has a `..` component")));
        check(&[("demo/../../evil.py", "")], Err(&format!("{w} `demo/../../evil.py`: it has a `..` component")));
        check(&[("/etc/passwd", "")], Err(&format!("{w} `/etc/passwd`: it is absolute")));
        check(&[("demo\\evil.py", "")], Err(&format!("{w} `demo\\evil.py`: it contains a backslash")));
        check(&[("C:/evil.py", "")], Err(&format!("{w} `C:/evil.py`: it starts with a drive letter")));
        check(
            &[("demo-1.0.data/scripts/../../../evil", "")],
            Err(&format!("{w} `demo-1.0.data/scripts/../../../evil`: it has a `..` component")),
        );
        check(
            &[("demo-1.0.data/scripts", "")],
            Err(&format!("{w} `demo-1.0.data/scripts`: a file directly in the `.data` directory has no scheme")),
        );
    }

    #[test]
    fn refuses_symlinks() {
        let (mut entries, meta, record) = wheel(&[("demo/link", "target")], WHEEL_TEXT);
        entries[0].unix_mode = Some(0o120_777);
        let name = WheelFilename::from_str("demo-1.0-py3-none-any.whl").unwrap();
        assert_eq!(
            plan_install(&name, &entries, &meta, &record, &scheme()).unwrap_err().to_string(),
            "`demo-1.0-py3-none-any.whl`: `demo/link` is a symbolic link or special file; wheels hold regular files only"
        );
    }

    #[test]
    fn cross_checks_record() {
        check(
            &[("demo/__init__.py", ""), ("!demo/sneaky.py", "import os")],
            Err("`demo-1.0-py3-none-any.whl`: `demo/sneaky.py` is in the archive but not listed in RECORD"),
        );
        check(
            &[("demo/__init__.py", ""), ("demo/gone.py", "MISSING")],
            Err("`demo-1.0-py3-none-any.whl`: RECORD lists `demo/gone.py`, which is not in the archive"),
        );
        // The installer's own files shipped in a wheel are checked, not installed.
        check(
            &[("demo/a.py", ""), ("demo-1.0.dist-info/direct_url.json", "{}"), ("demo-1.0.dist-info/INSTALLER", "pip")],
            Ok(&[
                "demo-1.0.dist-info/WHEEL -> /env/lib/python3.12/site-packages/demo-1.0.dist-info/WHEEL d",
                "demo/a.py -> /env/lib/python3.12/site-packages/demo/a.py",
            ]),
        );
        check(
            &[("demo/a.py", ""), ("!demo-1.0.dist-info/REQUESTED", "")],
            Err("`demo-1.0-py3-none-any.whl`: `demo-1.0.dist-info/REQUESTED` is in the archive but not listed in RECORD"),
        );
        // Signatures need no RECORD row.
        check(
            &[("demo/a.py", ""), ("!demo-1.0.dist-info/RECORD.jws", "{}")],
            Ok(&[
                "demo-1.0.dist-info/WHEEL -> /env/lib/python3.12/site-packages/demo-1.0.dist-info/WHEEL d",
                "demo/a.py -> /env/lib/python3.12/site-packages/demo/a.py",
            ]),
        );
        let (entries, meta, mut record) = wheel(&[("demo/a.py", "abc")], WHEEL_TEXT);
        let name = WheelFilename::from_str("demo-1.0-py3-none-any.whl").unwrap();
        record.entries[0].size = Some(4);
        assert_eq!(
            plan_install(&name, &entries, &meta, &record, &scheme()).unwrap_err().to_string(),
            "`demo-1.0-py3-none-any.whl`: size mismatch for `demo/a.py`: RECORD says 4 bytes, the file has 3"
        );
        record.entries[0].hash = None;
        assert_eq!(
            plan_install(&name, &entries, &meta, &record, &scheme()).unwrap_err().to_string(),
            "`demo-1.0-py3-none-any.whl`: RECORD gives no hash for `demo/a.py`"
        );
    }

    #[test]
    fn refuses_duplicates_and_unknown_keys() {
        check(
            &[("demo.py", ""), ("demo-1.0.data/purelib/demo.py", "")],
            Err("`demo-1.0-py3-none-any.whl`: `demo-1.0.data/purelib/demo.py` and `demo.py` would both be installed as `/env/lib/python3.12/site-packages/demo.py`"),
        );
        check(
            &[("demo-1.0.data/config/x.cfg", "")],
            Err("`demo-1.0-py3-none-any.whl`: `demo-1.0.data/config/x.cfg` is in unknown data directory `config` (expected purelib, platlib, scripts, headers or data)"),
        );
    }

    #[test]
    fn dist_info_rules() {
        check(
            &[("other-1.0.dist-info/METADATA", "")],
            Err("`demo-1.0-py3-none-any.whl`: the wheel has several `.dist-info` directories (`demo-1.0.dist-info`, `other-1.0.dist-info`)"),
        );
        let (entries, meta, record) = wheel(&[], WHEEL_TEXT);
        let name = WheelFilename::from_str("demo-2.0-py3-none-any.whl").unwrap();
        assert_eq!(
            plan_install(&name, &entries, &meta, &record, &scheme()).unwrap_err().to_string(),
            "`demo-2.0-py3-none-any.whl`: `demo-1.0.dist-info` does not match the wheel's project `demo` version `2.0`"
        );
        // Unnormalized names and versions in the directory are accepted.
        let name = WheelFilename::from_str("Demo-1.0.0-py3-none-any.whl").unwrap();
        assert_eq!(find_dist_info(&name, &entries).unwrap(), "demo-1.0.dist-info");
        assert_eq!(
            find_dist_info(&name, &[ArchiveEntry::file("demo/x.py", 0, None)]).unwrap_err().to_string(),
            "`demo-1.0.0-py3-none-any.whl`: the wheel has no `.dist-info` directory"
        );
    }

    #[test]
    fn wheel_versions() {
        let name = WheelFilename::from_str("demo-1.0-py3-none-any.whl").unwrap();
        let (entries, _, record) = wheel(&[], WHEEL_TEXT);
        let newer = WheelMeta::parse("Wheel-Version: 1.9\nRoot-Is-Purelib: true\n").unwrap();
        let plan = check_archive(&name, &entries, &newer, &record).unwrap();
        assert_eq!(plan.warnings.len(), 1);
        let major = WheelMeta::parse("Wheel-Version: 2.0\nRoot-Is-Purelib: true\n").unwrap();
        assert_eq!(
            check_archive(&name, &entries, &major, &record).unwrap_err().to_string(),
            "`demo-1.0-py3-none-any.whl`: unsupported Wheel-Version 2.0 (PyBun installs wheel format 1.x)"
        );
    }
}
