//! What an installer adds to a wheel's files: launchers, `INSTALLER`,
//! `direct_url.json`, and the installed `RECORD`.

use std::path::{Component, Path, PathBuf};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::entry_points::{EntryPoint, EntryPoints};
use crate::error::InstallError;
use crate::plan::InstallPlan;
use crate::record::{Record, RecordEntry, RecordHash};
use crate::script::script_launcher;

/// A path's bytes: a cheap hash key for the normalized paths a plan holds
/// (for them, byte equality is path equality; hashing `Path` goes component
/// by component and showed in profiles of big installs).
#[must_use]
pub fn path_bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_encoded_bytes()
}

/// The content of `.dist-info/INSTALLER`.
pub const INSTALLER: &str = "pybun\n";

/// A file the installer writes itself (rather than taking it from the wheel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Absolute destination.
    pub dest: PathBuf,
    pub contents: Vec<u8>,
    /// Write with mode `0o755` (else `0o644`).
    pub executable: bool,
}

fn check_script_name(plan: &InstallPlan, group: &str, entry: &EntryPoint) -> Result<(), InstallError> {
    let name = entry.name.as_str();
    let reason = if name.is_empty() {
        Some("the name is empty")
    } else if name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
        Some("the name is not a plain file name")
    } else if entry.object.is_none() {
        Some("it names no function to call (`module:function`)")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(InstallError::InvalidEntryPoint {
            wheel: plan.wheel.clone(),
            group: group.to_string(),
            name: name.to_string(),
            reason: reason.to_string(),
        }),
        None => Ok(()),
    }
}

/// The files the installer generates for `plan`: one launcher in the scripts
/// directory per console or GUI entry point (run by `interpreter`), then
/// `INSTALLER` and, for direct URL or path sources, `direct_url.json` (PEP 610,
/// `direct_url` is its JSON text) in the `.dist-info` directory.
///
/// # Errors
/// [`InstallError::InvalidEntryPoint`] for an entry point that cannot be a
/// launcher (empty or path-like name, no function); [`InstallError::DuplicateDestination`]
/// when two launchers, or a launcher and a file of the wheel, share a path.
pub fn generated_files(
    plan: &InstallPlan,
    entry_points: &EntryPoints,
    interpreter: &Path,
    direct_url: Option<&str>,
) -> Result<Vec<GeneratedFile>, InstallError> {
    // What each destination is taken by: the wheel's files (only looked at when there are launchers).
    let has_launchers = !entry_points.console_scripts.is_empty() || !entry_points.gui_scripts.is_empty();
    let mut taken: FxHashMap<Vec<u8>, String> = if has_launchers {
        plan.files.iter().map(|f| (path_bytes(&f.dest).to_vec(), f.archive_path.clone())).collect()
    } else {
        FxHashMap::default()
    };
    let mut out = Vec::new();
    let groups = [("console_scripts", false, &entry_points.console_scripts), ("gui_scripts", true, &entry_points.gui_scripts)];
    for (group, gui, list) in groups {
        for entry in list {
            check_script_name(plan, group, entry)?;
            let dest = plan.scheme.scripts.join(&entry.name);
            let label = format!("[{group}] {}", entry.name);
            if let Some(other) = taken.insert(path_bytes(&dest).to_vec(), label.clone()) {
                return Err(InstallError::DuplicateDestination {
                    wheel: plan.wheel.clone(),
                    path: label,
                    other,
                    dest: dest.display().to_string(),
                });
            }
            let function = entry.object.as_deref().unwrap_or_default();
            let contents = script_launcher(interpreter, &entry.module, function, gui).into_bytes();
            out.push(GeneratedFile { dest, contents, executable: true });
        }
    }
    out.push(GeneratedFile {
        dest: plan.dist_info_dest.join("INSTALLER"),
        contents: INSTALLER.as_bytes().to_vec(),
        executable: false,
    });
    if let Some(json) = direct_url {
        out.push(GeneratedFile {
            dest: plan.dist_info_dest.join("direct_url.json"),
            contents: json.as_bytes().to_vec(),
            executable: false,
        });
    }
    Ok(out)
}

/// `dest` as a `RECORD` path: relative to `root` (the directory holding the
/// `.dist-info`), `/`-separated, with `..` for paths outside it (as pip
/// writes `../../../bin/tool`); absolute when the two share no prefix (another
/// drive). Both paths are taken as normalized (no `.` or `..`).
#[must_use]
pub fn record_path(root: &Path, dest: &Path) -> String {
    let root: Vec<Component<'_>> = root.components().collect();
    record_path_from(&root, dest)
}

/// [`record_path`] with the root's components taken apart once.
fn record_path_from(root: &[Component<'_>], dest: &Path) -> String {
    let dest: Vec<Component<'_>> = dest.components().collect();
    let common = root.iter().zip(&dest).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return dest.iter().collect::<PathBuf>().to_string_lossy().replace('\\', "/");
    }
    let mut parts: Vec<String> = vec!["..".to_string(); root.len() - common];
    parts.extend(dest[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    parts.join("/")
}

/// The installed `RECORD`: every file of the plan with its hash and size,
/// every generated file (launchers, `INSTALLER`, `direct_url.json`) with the
/// hash of its content, and `RECORD` itself with empty hash and size. A
/// generated file at a planned file's destination replaces that row (use it
/// for scripts whose shebang was rewritten). Paths are relative to
/// `plan.root` ([`record_path`]); rows are sorted by path.
#[must_use]
pub fn rewrite_record(plan: &InstallPlan, generated: &[GeneratedFile]) -> String {
    // One row per destination: `RECORD` itself wins, then the last generated
    // file, then the planned file (hashed, not ordered: the rows are sorted
    // by their text at the end anyway).
    let record_dest = plan.record_dest();
    let mut last_generated: FxHashMap<&[u8], usize> = FxHashMap::default();
    for (position, file) in generated.iter().enumerate() {
        last_generated.insert(path_bytes(&file.dest), position);
    }
    let replaced: FxHashSet<&[u8]> = last_generated.keys().copied().chain([path_bytes(&record_dest)]).collect();
    let root: Vec<Component<'_>> = plan.root.components().collect();
    let mut entries: Vec<RecordEntry> = Vec::with_capacity(plan.files.len() + generated.len() + 1);
    for file in plan.files.iter().filter(|file| !replaced.contains(path_bytes(&file.dest))) {
        entries.push(RecordEntry { path: record_path_from(&root, &file.dest), hash: Some(file.hash.clone()), size: Some(file.size) });
    }
    for (position, file) in generated.iter().enumerate() {
        if last_generated.get(path_bytes(&file.dest)) == Some(&position) && file.dest != record_dest {
            entries.push(RecordEntry {
                path: record_path_from(&root, &file.dest),
                hash: Some(RecordHash::sha256(&file.contents)),
                size: Some(file.contents.len() as u64),
            });
        }
    }
    entries.push(RecordEntry { path: record_path_from(&root, &record_dest), hash: None, size: None });
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Record { entries }.to_csv()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{ArchiveEntry, SchemePaths, plan_install};
    use crate::script::rewrite_shebang;
    use crate::wheel::WheelMeta;
    use pybun_pep::WheelFilename;
    use std::str::FromStr;

    fn scheme() -> SchemePaths {
        SchemePaths {
            purelib: PathBuf::from("/env/lib/python3.12/site-packages"),
            platlib: PathBuf::from("/env/lib/python3.12/site-packages"),
            scripts: PathBuf::from("/env/bin"),
            headers: PathBuf::from("/env/include/site/python3.12/demo"),
            data: PathBuf::from("/env"),
        }
    }

    /// The plan of the fixture wheel described by `fixtures/install/RECORD`.
    fn fixture_plan() -> InstallPlan {
        let record = Record::parse(include_str!("../../../fixtures/install/RECORD")).unwrap();
        let entries: Vec<ArchiveEntry> = record
            .entries
            .iter()
            .map(|e| ArchiveEntry::file(&e.path, e.size.unwrap_or(0), Some(0o100_644)))
            .collect();
        let meta = WheelMeta::parse("Wheel-Version: 1.0\nRoot-Is-Purelib: true\n").unwrap();
        let name = WheelFilename::from_str("demo-1.0-py3-none-any.whl").unwrap();
        plan_install(&name, &entries, &meta, &record, &scheme()).unwrap()
    }

    fn check(root: &str, dest: &str, expected: &str) {
        assert_eq!(record_path(Path::new(root), Path::new(dest)), expected, "{root} {dest}");
    }

    #[test]
    fn record_paths() {
        check("/env/lib/python3.12/site-packages", "/env/lib/python3.12/site-packages/a/b.py", "a/b.py");
        check("/env/lib/python3.12/site-packages", "/env/bin/tool", "../../../bin/tool");
        check("/env/lib/python3.12/site-packages", "/env/share/x", "../../../share/x");
    }

    #[test]
    fn generated_and_record_match_fixture() {
        let plan = fixture_plan();
        let python = Path::new("/env/bin/python");
        let eps = EntryPoints::parse("[console_scripts]\ndemo = demo:main\n[gui_scripts]\ndemo-gui = demo.gui:start\n")
            .unwrap();
        let direct_url = "{\"url\":\"file:///src/demo-1.0-py3-none-any.whl\",\"archive_info\":{}}";
        let mut generated = generated_files(&plan, &eps, python, Some(direct_url)).unwrap();
        let dests: Vec<_> = generated.iter().map(|g| g.dest.display().to_string()).collect();
        assert_eq!(
            dests,
            [
                "/env/bin/demo",
                "/env/bin/demo-gui",
                "/env/lib/python3.12/site-packages/demo-1.0.dist-info/INSTALLER",
                "/env/lib/python3.12/site-packages/demo-1.0.dist-info/direct_url.json",
            ]
        );
        assert!(generated[0].executable && !generated[2].executable);
        assert_eq!(generated[2].contents, b"pybun\n");
        // The `#!python` script from `.data/scripts`, rewritten.
        let script = plan.scripts_to_rewrite().next().unwrap();
        let rewritten = rewrite_shebang(b"#!python\nprint('tool')\n", python).unwrap();
        generated.push(GeneratedFile { dest: script.dest.clone(), contents: rewritten, executable: true });
        assert_eq!(rewrite_record(&plan, &generated), include_str!("../../../fixtures/install/RECORD.installed"));
    }

    #[test]
    fn launcher_collisions_and_bad_names() {
        let plan = fixture_plan();
        let python = Path::new("/env/bin/python");
        let message = |text: &str| {
            generated_files(&plan, &EntryPoints::parse(text).unwrap(), python, None).unwrap_err().to_string()
        };
        assert_eq!(
            message("[console_scripts]\ndemo-tool = demo:main\n"),
            "`demo-1.0-py3-none-any.whl`: `[console_scripts] demo-tool` and `demo-1.0.data/scripts/demo-tool` would both be installed as `/env/bin/demo-tool`"
        );
        assert_eq!(
            message("[console_scripts]\nx = demo:main\n[gui_scripts]\nx = demo:gui\n"),
            "`demo-1.0-py3-none-any.whl`: `[gui_scripts] x` and `[console_scripts] x` would both be installed as `/env/bin/x`"
        );
        assert_eq!(
            message("[console_scripts]\n../x = demo:main\n"),
            "`demo-1.0-py3-none-any.whl`: invalid entry point `../x` in [console_scripts]: the name is not a plain file name"
        );
        assert_eq!(
            message("[console_scripts]\nx = demo\n"),
            "`demo-1.0-py3-none-any.whl`: invalid entry point `x` in [console_scripts]: it names no function to call (`module:function`)"
        );
        // Without direct_url there is no direct_url.json.
        let files = generated_files(&plan, &EntryPoints::default(), python, None).unwrap();
        assert_eq!(files.len(), 1);
    }
}
