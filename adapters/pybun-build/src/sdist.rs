//! Safe sdist extraction (`.tar.gz`, `.zip`).
//!
//! Entries are validated one by one: relative paths only, no `..`, never
//! written through a symbolic link, links must stay inside the tree (checked
//! lexically while extracting and again by resolving them afterwards), no
//! device files or FIFOs. Everything lands in a temporary directory beside
//! `dest`, which is renamed to `dest` once the whole archive is extracted, so
//! `dest` either holds the complete tree or does not exist.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use pybun_ports::BuildError;

use crate::io_error;

/// Why extraction stopped (converted to a [`BuildError`] with the archive's name).
enum Fail {
    /// The archive is corrupt or unsafe.
    Invalid(String),
    /// The filesystem refused.
    Io { action: &'static str, path: PathBuf, error: io::Error },
}

impl Fail {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Self + use<> {
        let path = path.to_path_buf();
        move |error| Self::Io { action, path, error }
    }
}

fn corrupt(error: impl std::fmt::Display) -> Fail {
    Fail::Invalid(format!("corrupt archive: {error}"))
}

#[derive(Clone, Copy)]
enum Format {
    TarGz,
    Zip,
}

pub(crate) fn unpack(archive: &Path, dest: &Path) -> Result<PathBuf, BuildError> {
    let invalid = |reason: String| BuildError::InvalidSdist { archive: archive.display().to_string(), reason };
    if fs::symlink_metadata(dest).is_ok() {
        return Err(BuildError::Io {
            action: "unpack into".to_owned(),
            path: dest.to_path_buf(),
            reason: "it already exists".to_owned(),
        });
    }
    let parent = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(|e| io_error("create", parent, &e))?;

    let mut file = File::open(archive).map_err(|e| io_error("open", archive, &e))?;
    let format = sniff(&mut file).map_err(|e| io_error("read", archive, &e))?.ok_or_else(|| {
        invalid("not a gzip-compressed tar archive (`.tar.gz`) nor a zip archive (`.zip`)".to_owned())
    })?;

    let scratch = tempfile::Builder::new()
        .prefix(".pybun-sdist-")
        .tempdir_in(parent)
        .map_err(|e| io_error("create a temporary directory in", parent, &e))?;
    let root = scratch.path();
    let extracted = match format {
        Format::TarGz => extract_tar(file, root),
        Format::Zip => extract_zip(file, root),
    }
    .and_then(|()| check_links(root))
    .and_then(|()| single_top_level(root));
    let top = extracted.map_err(|fail| match fail {
        Fail::Invalid(reason) => invalid(reason),
        Fail::Io { action, path, error } => io_error(action, &path, &error),
    })?;

    fs::rename(root, dest).map_err(|e| io_error("rename the unpacked sdist to", dest, &e))?;
    // Renamed away: nothing is left to clean up.
    let _ = scratch.keep();
    Ok(dest.join(top))
}

/// The archive format from its magic bytes (the file is rewound).
fn sniff(file: &mut File) -> io::Result<Option<Format>> {
    use std::io::{Seek, SeekFrom};
    let mut magic = [0u8; 4];
    let mut read = 0;
    while read < magic.len() {
        match file.read(&mut magic[read..])? {
            0 => break,
            n => read += n,
        }
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(match &magic[..read] {
        [0x1f, 0x8b, ..] => Some(Format::TarGz),
        [b'P', b'K', 3, 4] | [b'P', b'K', 5, 6] => Some(Format::Zip),
        _ => None,
    })
}

/// `raw` as a relative path of normal components (`.` dropped); `None` when it
/// names the root itself (`./`).
fn safe_relative(raw: &Path) -> Result<Option<PathBuf>, Fail> {
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Fail::Invalid(format!("entry `{}` contains `..`", raw.display())));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Fail::Invalid(format!("entry `{}` is an absolute path", raw.display())));
            }
        }
    }
    Ok(if out.as_os_str().is_empty() { None } else { Some(out) })
}

/// Create the parent directories of `rel` under `root`, refusing to go
/// through symbolic links or files; return the entry's full path.
fn prepare(root: &Path, rel: &Path) -> Result<PathBuf, Fail> {
    let mut current = root.to_path_buf();
    let parents: Vec<Component<'_>> = rel.components().collect();
    let (last, parents) = parents.split_last().ok_or_else(|| Fail::Invalid("empty entry name".to_owned()))?;
    for component in parents {
        current.push(component);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Fail::Invalid(format!("entry `{}` goes through a symbolic link", rel.display())));
            }
            Ok(_) => {
                return Err(Fail::Invalid(format!("entry `{}` goes through a file", rel.display())));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&current).map_err(Fail::io("create", &current))?;
            }
            Err(e) => return Err(Fail::io("inspect", &current)(e)),
        }
    }
    current.push(last);
    Ok(current)
}

/// Make room for a non-directory entry at `full` (an earlier entry of the same name is replaced).
fn clear_slot(full: &Path, rel: &Path) -> Result<(), Fail> {
    match fs::symlink_metadata(full) {
        Ok(meta) if meta.is_dir() => {
            Err(Fail::Invalid(format!("entry `{}` is both a directory and a file", rel.display())))
        }
        Ok(_) => fs::remove_file(full).map_err(Fail::io("replace", full)),
        Err(_) => Ok(()),
    }
}

fn make_dir(root: &Path, rel: &Path) -> Result<(), Fail> {
    let full = prepare(root, rel)?;
    match fs::symlink_metadata(&full) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Fail::Invalid(format!("entry `{}` is both a directory and a file or link", rel.display()))),
        Err(_) => fs::create_dir(&full).map_err(Fail::io("create", &full)),
    }
}

fn write_file(root: &Path, rel: &Path, contents: &mut dyn Read, mode: Option<u32>) -> Result<File, Fail> {
    let full = prepare(root, rel)?;
    clear_slot(&full, rel)?;
    let mut out = OpenOptions::new().write(true).create_new(true).open(&full).map_err(Fail::io("create", &full))?;
    io::copy(contents, &mut out).map_err(|e| {
        // Reading the archive or writing the file; either way say which entry.
        Fail::Invalid(format!("could not extract `{}`: {e}", rel.display()))
    })?;
    set_mode(&out, &full, mode)?;
    Ok(out)
}

#[cfg(unix)]
fn set_mode(file: &File, full: &Path, mode: Option<u32>) -> Result<(), Fail> {
    use std::os::unix::fs::PermissionsExt;
    let executable = mode.is_some_and(|mode| mode & 0o111 != 0);
    let permissions = fs::Permissions::from_mode(if executable { 0o755 } else { 0o644 });
    file.set_permissions(permissions).map_err(Fail::io("set permissions of", full))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _full: &Path, _mode: Option<u32>) -> Result<(), Fail> {
    Ok(())
}

/// A symbolic link at `rel` to `target`, which must stay inside the tree.
fn make_symlink(root: &Path, rel: &Path, target: &Path) -> Result<(), Fail> {
    let escapes = || {
        Fail::Invalid(format!("symbolic link `{}` points outside the sdist (to `{}`)", rel.display(), target.display()))
    };
    let mut depth = rel.components().count().saturating_sub(1);
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth = depth.checked_sub(1).ok_or_else(escapes)?,
            Component::RootDir | Component::Prefix(_) => return Err(escapes()),
        }
    }
    if target.as_os_str().is_empty() {
        return Err(Fail::Invalid(format!("symbolic link `{}` has an empty target", rel.display())));
    }
    let full = prepare(root, rel)?;
    clear_slot(&full, rel)?;
    symlink(target, &full)
}

#[cfg(unix)]
fn symlink(target: &Path, full: &Path) -> Result<(), Fail> {
    std::os::unix::fs::symlink(target, full).map_err(Fail::io("create the symbolic link", full))
}

#[cfg(not(unix))]
fn symlink(target: &Path, full: &Path) -> Result<(), Fail> {
    let _ = target;
    Err(Fail::Invalid(format!(
        "`{}` is a symbolic link, which is not supported on this platform",
        full.display()
    )))
}

/// A hard link in a tarball: a copy of an earlier regular file of the archive.
fn copy_hardlink(root: &Path, rel: &Path, target: &Path) -> Result<(), Fail> {
    let Some(target_rel) = safe_relative(target)? else {
        return Err(Fail::Invalid(format!("hard link `{}` has an empty target", rel.display())));
    };
    let source = prepare(root, &target_rel)?;
    match fs::symlink_metadata(&source) {
        Ok(meta) if meta.is_file() => {}
        _ => {
            return Err(Fail::Invalid(format!(
                "hard link `{}` does not point to an earlier file of the archive (`{}`)",
                rel.display(),
                target.display()
            )));
        }
    }
    let full = prepare(root, rel)?;
    clear_slot(&full, rel)?;
    fs::copy(&source, &full).map_err(Fail::io("copy", &source))?;
    Ok(())
}

fn extract_tar(file: File, root: &Path) -> Result<(), Fail> {
    use tar::EntryType;
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(file)));
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw = entry.path().map_err(corrupt)?.into_owned();
        let entry_type = entry.header().entry_type();
        let rel = match entry_type {
            EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink => {
                continue;
            }
            _ => safe_relative(&raw)?,
        };
        let Some(rel) = rel else {
            if entry_type.is_dir() {
                continue; // `./` itself
            }
            return Err(Fail::Invalid(format!("entry `{}` has no name", raw.display())));
        };
        match entry_type {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mode = entry.header().mode().ok();
                let mtime = entry.header().mtime().ok();
                let out = write_file(root, &rel, &mut entry, mode)?;
                if let Some(mtime) = mtime {
                    // Best effort: build tools compare timestamps of generated files.
                    let _ = out.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime));
                }
            }
            EntryType::Directory => make_dir(root, &rel)?,
            EntryType::Symlink => {
                let target = entry.link_name().map_err(corrupt)?.unwrap_or_default().into_owned();
                make_symlink(root, &rel, &target)?;
            }
            EntryType::Link => {
                let target = entry.link_name().map_err(corrupt)?.unwrap_or_default().into_owned();
                copy_hardlink(root, &rel, &target)?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                return Err(Fail::Invalid(format!("entry `{}` is a device file or FIFO", rel.display())));
            }
            other => {
                return Err(Fail::Invalid(format!("entry `{}` has an unsupported type ({other:?})", rel.display())));
            }
        }
    }
    Ok(())
}

fn extract_zip(file: File, root: &Path) -> Result<(), Fail> {
    const TYPE_MASK: u32 = 0o170_000;
    const SYMLINK: u32 = 0o120_000;
    const REGULAR: u32 = 0o100_000;
    const DIRECTORY: u32 = 0o040_000;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(file)).map_err(corrupt)?;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(corrupt)?;
        // Some Windows tools write `\` separators.
        let name = entry.name().replace('\\', "/");
        let raw = PathBuf::from(&name);
        let Some(rel) = safe_relative(&raw)? else {
            if entry.is_dir() {
                continue;
            }
            return Err(Fail::Invalid(format!("entry `{name}` has no name")));
        };
        let mode = entry.unix_mode();
        let kind = mode.map(|mode| mode & TYPE_MASK).filter(|kind| *kind != 0);
        match kind {
            Some(SYMLINK) => {
                let mut target = String::new();
                entry.read_to_string(&mut target).map_err(corrupt)?;
                make_symlink(root, &rel, Path::new(&target))?;
            }
            _ if entry.is_dir() => make_dir(root, &rel)?,
            None | Some(REGULAR) => {
                write_file(root, &rel, &mut entry, mode)?;
            }
            Some(DIRECTORY) => make_dir(root, &rel)?,
            Some(_) => {
                return Err(Fail::Invalid(format!("entry `{name}` is a device file, FIFO or socket")));
            }
        }
    }
    Ok(())
}

/// Every symbolic link in the tree, resolved, must land inside it (the
/// lexical check while extracting cannot see links through links).
fn check_links(root: &Path) -> Result<(), Fail> {
    let canonical_root = fs::canonicalize(root).map_err(Fail::io("resolve", root))?;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(Fail::io("read", &dir))? {
            let path = entry.map_err(Fail::io("read", &dir))?.path();
            let meta = fs::symlink_metadata(&path).map_err(Fail::io("inspect", &path))?;
            if meta.file_type().is_symlink() {
                // A dangling link passed the lexical check; a resolvable one must stay inside.
                if let Ok(resolved) = fs::canonicalize(&path)
                    && !resolved.starts_with(&canonical_root)
                {
                    let shown = path.strip_prefix(root).unwrap_or(&path);
                    return Err(Fail::Invalid(format!(
                        "symbolic link `{}` resolves outside the sdist",
                        shown.display()
                    )));
                }
            } else if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(())
}

/// The name of the single top-level directory (sdists are `name-version/…`).
fn single_top_level(root: &Path) -> Result<PathBuf, Fail> {
    let mut names = Vec::new();
    for entry in fs::read_dir(root).map_err(Fail::io("read", root))? {
        let entry = entry.map_err(Fail::io("read", root))?;
        let is_dir = entry.file_type().map_err(Fail::io("inspect", &entry.path()))?.is_dir();
        names.push((PathBuf::from(entry.file_name()), is_dir));
    }
    match names.as_slice() {
        [(name, true)] => Ok(name.clone()),
        [] => Err(Fail::Invalid("the archive is empty".to_owned())),
        _ => {
            let mut shown: Vec<String> = names.iter().map(|(name, _)| name.display().to_string()).collect();
            shown.sort();
            Err(Fail::Invalid(format!(
                "expected a single top-level directory, found: {}",
                shown.join(", ")
            )))
        }
    }
}
