//! `pybun tree`: the locked dependency tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use pybun_diagnostics::{Code, Diagnostic};
use pybun_lockfile::{Lock, LockedDependency, LockedPackage, Source};
use pybun_ports::FileSystem;

use crate::Failure;
use crate::lock::read_existing;

/// A `pybun tree` call.
#[derive(Debug, Clone, Default)]
pub struct TreeRequest {
    pub directory: PathBuf,
    /// Stop below this depth (`None`: no limit).
    pub depth: Option<usize>,
}

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    pub name: String,
    pub version: String,
    pub extras: Vec<String>,
    pub marker: Option<String>,
    /// The extra or group that brings this edge in (`extra:NAME`, `group:NAME`).
    pub via: Option<String>,
    pub children: Vec<TreeNode>,
    /// Already shown above: its children are not repeated.
    pub repeated: bool,
}

/// The tree, rooted at the project.
#[derive(Debug, Clone)]
pub struct TreeOutcome {
    pub root: TreeNode,
    pub path: PathBuf,
}

/// Build the tree from the lockfile.
///
/// # Errors
/// No project or lock, or an invalid lock.
pub fn tree(request: &TreeRequest, fs: &dyn FileSystem) -> Result<TreeOutcome, Failure> {
    let root_dir = crate::find_project_root(fs, &request.directory).unwrap_or_else(|| request.directory.clone());
    let (lock, path) = read_existing(fs, &root_dir)?.ok_or_else(|| {
        Failure::new(
            Diagnostic::error(Code::LockMissing, format!("no `pybun.lock` in `{}`", root_dir.display()))
                .with_hint("run `pybun lock` first"),
        )
    })?;
    let project = lock.project().cloned().ok_or_else(|| {
        Failure::new(Diagnostic::error(Code::LockSyntax, "the lock has no project entry").in_file(path.display().to_string()))
    })?;
    let by_name: BTreeMap<&str, &LockedPackage> = lock.packages.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut seen = BTreeSet::new();
    let mut children = Vec::new();
    let sections = project
        .dependencies
        .iter()
        .map(|d| (d, None))
        .chain(project.optional_dependencies.iter().flat_map(|(e, list)| list.iter().map(move |d| (d, Some(format!("extra:{e}"))))))
        .chain(project.dependency_groups.iter().flat_map(|(g, list)| list.iter().map(move |d| (d, Some(format!("group:{g}"))))));
    for (dependency, via) in sections {
        children.push(node(&lock, &by_name, dependency, via, 1, request.depth, &mut seen));
    }
    let root = TreeNode {
        name: project.name.clone(),
        version: project.version.clone(),
        extras: Vec::new(),
        marker: None,
        via: None,
        children,
        repeated: false,
    };
    Ok(TreeOutcome { root, path })
}

fn node(
    lock: &Lock,
    by_name: &BTreeMap<&str, &LockedPackage>,
    dependency: &LockedDependency,
    via: Option<String>,
    depth: usize,
    max_depth: Option<usize>,
    seen: &mut BTreeSet<String>,
) -> TreeNode {
    let package = match &dependency.version {
        // Several versions of this name are locked (Python forks): the edge names one.
        Some(version) => lock.packages.iter().find(|p| p.name == dependency.name && &p.version == version),
        None => by_name.get(dependency.name.as_str()).copied(),
    }
    .filter(|p| p.source != Source::Project);
    let version = package.map_or_else(String::new, |p| p.version.clone());
    let key = format!("{}=={}[{}]", dependency.name, version, dependency.extras.join(","));
    let repeated = !seen.insert(key);
    let mut children = Vec::new();
    if let Some(package) = package
        && !repeated && max_depth.is_none_or(|max| depth < max) {
            let mut edges: Vec<(&LockedDependency, Option<String>)> = package.dependencies.iter().map(|d| (d, None)).collect();
            for extra in &dependency.extras {
                if let Some(list) = package.optional_dependencies.get(extra) {
                    edges.extend(list.iter().map(|d| (d, Some(format!("extra:{extra}")))));
                }
            }
            for (edge, via) in edges {
                children.push(node(lock, by_name, edge, via, depth + 1, max_depth, seen));
            }
        }
    TreeNode {
        name: dependency.name.clone(),
        version,
        extras: dependency.extras.clone(),
        marker: dependency.marker.clone(),
        via,
        children,
        repeated: repeated && package.is_some_and(|p| !p.dependencies.is_empty()),
    }
}
