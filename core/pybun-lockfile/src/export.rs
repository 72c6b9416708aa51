//! Exports of a lock to other formats: a hashed `requirements.txt` and a
//! PEP 751 `pylock.toml`.
//!
//! Both export the packages reachable from the project (through its
//! dependencies and the selected extras and groups), each with the marker
//! under which it is needed: the OR over every path from the project of the
//! AND of the edge markers along it. The project itself is not exported.
//!
//! Packages are keyed by (name, version): a lock forked on the Python version
//! holds several versions of a name, and each is exported on its own, with
//! its own marker. An edge with a `version` leads to that version only (and
//! already carries the fork's marker); one without leads to the only version.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::str::FromStr;

use pybun_pep::MarkerTree;
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use crate::model::{Lock, LockedDependency, LockedFile, LockedPackage, Source};
use crate::text::multiline;

/// Which of the project's extras and dependency groups an export includes.
/// The project's main dependencies are always included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSelection {
    /// Extras of the project to include.
    pub extras: Vec<String>,
    /// Dependency groups of the project to include.
    pub groups: Vec<String>,
    /// Include every extra of the project.
    pub all_extras: bool,
    /// Include every dependency group of the project.
    pub all_groups: bool,
}

impl ExportSelection {
    /// Everything: all extras and all groups.
    #[must_use]
    pub fn all() -> Self {
        Self {
            all_extras: true,
            all_groups: true,
            ..Self::default()
        }
    }
}

/// One package of the export and the marker under which it is installed.
struct Selected<'a> {
    package: &'a LockedPackage,
    marker: MarkerTree,
}

/// A node of the dependency graph: a package's main dependencies, or those of
/// one of its extras, or of one of its groups.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Main,
    Extra(String),
    Group(String),
}

fn edge_marker(dep: &LockedDependency) -> MarkerTree {
    match &dep.marker {
        None => MarkerTree::TRUE,
        // `extra == …` has no meaning outside a package's own metadata: the
        // graph already follows extras explicitly. An unreadable marker is
        // taken as "always", which may install too much but never too little.
        Some(text) => MarkerTree::from_str(text).map_or(MarkerTree::TRUE, |marker| {
            marker.simplify_extras_with(|_| true)
        }),
    }
}

/// A package version reachable from the project, and the marker under which
/// it is needed (extras already followed: the marker has no `extra` atoms).
#[derive(Debug, Clone)]
pub struct Reachable<'a> {
    pub package: &'a LockedPackage,
    pub marker: MarkerTree,
}

/// The package versions reachable from the project through its dependencies
/// and the selected extras and groups, each with the marker under which it is
/// needed, sorted by (name, version), the project excluded. Installation
/// evaluates each marker for the target interpreter.
#[must_use]
pub fn reachable<'a>(lock: &'a Lock, selection: &ExportSelection) -> Vec<Reachable<'a>> {
    select(lock, selection)
        .into_iter()
        .map(|s| Reachable { package: s.package, marker: s.marker })
        .collect()
}

/// The packages reachable from the project with their markers, sorted by
/// (name, version), the project excluded.
fn select<'a>(lock: &'a Lock, selection: &ExportSelection) -> Vec<Selected<'a>> {
    // name -> version -> index into `lock.packages`.
    let mut by_name: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for (i, package) in lock.packages.iter().enumerate() {
        by_name
            .entry(package.name.as_str())
            .or_default()
            .entry(package.version.as_str())
            .or_insert(i);
    }
    // The packages an edge leads to: the version it names, or else every
    // version of its name (exactly one in a lock that reads back).
    let targets = |dep: &LockedDependency| -> Vec<usize> {
        let versions = by_name.get(dep.name.as_str());
        match &dep.version {
            Some(version) => versions
                .and_then(|v| v.get(version.as_str()))
                .copied()
                .into_iter()
                .collect(),
            None => versions
                .into_iter()
                .flat_map(|v| v.values().copied())
                .collect(),
        }
    };
    let mut markers: BTreeMap<(usize, Part), MarkerTree> = BTreeMap::new();
    let mut queue: VecDeque<(usize, Part)> = VecDeque::new();
    let reach = |markers: &mut BTreeMap<(usize, Part), MarkerTree>,
                 queue: &mut VecDeque<(usize, Part)>,
                 node: (usize, Part),
                 marker: MarkerTree| {
        if marker.is_false() {
            return;
        }
        let entry = markers.entry(node.clone()).or_insert(MarkerTree::FALSE);
        let mut combined = entry.clone();
        combined.or(marker);
        if combined != *entry {
            *entry = combined;
            queue.push_back(node);
        }
    };

    let roots: Vec<usize> = match lock
        .packages
        .iter()
        .position(|p| p.source == Source::Project)
    {
        Some(project) => vec![project],
        // No project (e.g. a lock of bare requirements): every package is a root.
        None => (0..lock.packages.len()).collect(),
    };
    for &root in &roots {
        let package = &lock.packages[root];
        reach(
            &mut markers,
            &mut queue,
            (root, Part::Main),
            MarkerTree::TRUE,
        );
        for extra in package.optional_dependencies.keys() {
            if selection.all_extras || selection.extras.contains(extra) {
                reach(
                    &mut markers,
                    &mut queue,
                    (root, Part::Extra(extra.clone())),
                    MarkerTree::TRUE,
                );
            }
        }
        for group in package.dependency_groups.keys() {
            if selection.all_groups || selection.groups.contains(group) {
                reach(
                    &mut markers,
                    &mut queue,
                    (root, Part::Group(group.clone())),
                    MarkerTree::TRUE,
                );
            }
        }
    }

    // Propagate until nothing changes; markers are canonical decision
    // diagrams over finitely many atoms, so this terminates.
    while let Some(node) = queue.pop_front() {
        let here = markers[&node].clone();
        let package = &lock.packages[node.0];
        let deps = match &node.1 {
            Part::Main => Some(&package.dependencies),
            Part::Extra(extra) => package.optional_dependencies.get(extra),
            Part::Group(group) => package.dependency_groups.get(group),
        };
        for dep in deps.into_iter().flatten() {
            let mut marker = here.clone();
            marker.and(edge_marker(dep));
            for target in targets(dep) {
                reach(
                    &mut markers,
                    &mut queue,
                    (target, Part::Main),
                    marker.clone(),
                );
                for extra in &dep.extras {
                    if lock.packages[target]
                        .optional_dependencies
                        .contains_key(extra)
                    {
                        reach(
                            &mut markers,
                            &mut queue,
                            (target, Part::Extra(extra.clone())),
                            marker.clone(),
                        );
                    }
                }
            }
        }
    }

    lock.packages
        .iter()
        .enumerate()
        .filter(|(_, package)| package.source != Source::Project)
        .filter_map(|(i, package)| {
            let marker = markers.get(&(i, Part::Main))?.clone();
            (!marker.is_false()).then_some(Selected { package, marker })
        })
        .collect()
}

/// A hashed `requirements.txt` (`pip install --require-hashes -r`): one
/// `name==version ; marker` line per package version reachable from the
/// project, sorted by (name, version), each followed by a `--hash` for every file that has one,
/// preceded by the indexes and find-links locations the packages come from.
#[must_use]
pub fn to_requirements_txt(lock: &Lock, selection: &ExportSelection) -> String {
    let mut lock = lock.clone();
    lock.canonicalize();
    let selected = select(&lock, selection);

    let mut out = String::from("# This file was generated by PyBun from its lockfile.\n");
    let registries: BTreeSet<&str> = selected
        .iter()
        .filter_map(|s| match &s.package.source {
            Source::Registry(url) => Some(url.as_str()),
            _ => None,
        })
        .collect();
    let find_links: BTreeSet<&str> = selected
        .iter()
        .filter_map(|s| match &s.package.source {
            Source::FindLinks(url) => Some(url.as_str()),
            _ => None,
        })
        .collect();
    for (i, url) in registries.iter().enumerate() {
        let flag = if i == 0 {
            "--index-url"
        } else {
            "--extra-index-url"
        };
        let _ = writeln!(out, "{flag} {url}");
    }
    for url in &find_links {
        let _ = writeln!(out, "--find-links {url}");
    }
    if !registries.is_empty() || !find_links.is_empty() {
        out.push('\n');
    }
    for Selected { package, marker } in &selected {
        match &package.source {
            Source::Url(url) | Source::Directory(url) => {
                let _ = write!(out, "{} @ {url}", package.name);
            }
            _ => {
                let _ = write!(out, "{}=={}", package.name, package.version);
            }
        }
        if let Some(marker) = marker.try_to_string() {
            let _ = write!(out, " ; {marker}");
        }
        let hashes: BTreeSet<&str> = package
            .files
            .iter()
            .filter_map(|f| f.hash.as_deref())
            .collect();
        for hash in hashes {
            let _ = write!(out, " \\\n    --hash={hash}");
        }
        out.push('\n');
    }
    out
}

fn is_sdist(filename: &str) -> bool {
    filename.ends_with(".tar.gz") || filename.ends_with(".zip")
}

fn pylock_file(file: &LockedFile) -> InlineTable {
    let mut table = InlineTable::new();
    table.insert("name", file.filename.as_str().into());
    if let Some(time) = file
        .upload_time
        .as_deref()
        .and_then(|t| t.parse::<toml_edit::Datetime>().ok())
    {
        table.insert("upload-time", time.into());
    }
    table.insert("url", file.url.as_str().into());
    if let Some(size) = file.size.and_then(|s| i64::try_from(s).ok()) {
        table.insert("size", size.into());
    }
    let mut hashes = InlineTable::new();
    if let Some((algorithm, digest)) = file.hash.as_deref().and_then(|h| h.split_once(':')) {
        hashes.insert(algorithm, digest.into());
    }
    table.insert("hashes", hashes.into());
    table
}

/// A PEP 751 `pylock.toml` of the packages reachable from the project (the
/// project itself excluded), with their markers, index, sdist and wheels.
#[must_use]
pub fn to_pylock_toml(lock: &Lock, selection: &ExportSelection) -> String {
    let mut lock = lock.clone();
    lock.canonicalize();
    let selected = select(&lock, selection);

    let mut doc = DocumentMut::new();
    doc.decor_mut()
        .set_prefix("# This file was generated by PyBun from its lockfile.\n");
    doc["lock-version"] = toml_edit::value("1.0");
    if let Some(requires_python) = &lock.requires_python {
        doc["requires-python"] = toml_edit::value(requires_python.as_str());
    }
    doc["extras"] = toml_edit::value(Array::new());
    doc["dependency-groups"] = toml_edit::value(Array::new());
    doc["default-groups"] = toml_edit::value(Array::new());
    doc["created-by"] = toml_edit::value("pybun");

    let mut packages = ArrayOfTables::new();
    for Selected { package, marker } in &selected {
        let mut table = Table::new();
        table["name"] = toml_edit::value(package.name.as_str());
        table["version"] = toml_edit::value(package.version.as_str());
        if let Some(marker) = marker.try_to_string() {
            table["marker"] = toml_edit::value(marker);
        }
        if let Source::Registry(url) = &package.source {
            table["index"] = toml_edit::value(url.as_str());
        }
        if let Source::Url(url) = &package.source {
            // PEP 751 `packages.archive`: a direct URL's one file.
            if let Some(file) = package.files.first() {
                let mut archive = pylock_file(file);
                archive.remove("name");
                archive.remove("upload-time");
                archive.insert("url", url.as_str().into());
                table["archive"] = Item::Value(Value::InlineTable(archive));
            }
            packages.push(table);
            continue;
        }
        if let Source::Directory(url) = &package.source {
            // PEP 751 `packages.directory`: the source tree's path, and no
            // `version` (the tree may not be at the locked one any more).
            table.remove("version");
            let path = pybun_pep::file_url_path(url).map_or_else(|| url.clone(), |path| path.display().to_string());
            let mut directory = InlineTable::new();
            directory.insert("path", path.into());
            table["directory"] = Item::Value(Value::InlineTable(directory));
            packages.push(table);
            continue;
        }
        if let Some(sdist) = package.files.iter().find(|f| is_sdist(&f.filename)) {
            table["sdist"] = Item::Value(Value::InlineTable(pylock_file(sdist)));
        }
        let wheels: Vec<InlineTable> = package
            .files
            .iter()
            .filter(|f| f.filename.ends_with(".whl"))
            .map(pylock_file)
            .collect();
        if !wheels.is_empty() {
            table["wheels"] = toml_edit::value(multiline(wheels));
        }
        packages.push(table);
    }
    if !packages.is_empty() {
        doc["packages"] = Item::ArrayOfTables(packages);
    }
    doc.to_string()
}
