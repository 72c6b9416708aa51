//! Python-version forks: when the newest version of a package needs a newer
//! Python than the project's floor, the Python range is split and each part
//! resolved on its own (as uv does); the parts are merged into one graph in
//! which a package may have one version per Python range.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::str::FromStr;

use pybun_pep::{ExtraName, MarkerTree, PackageName, Version};
use pybun_ports::DistFile;
use rustc_hash::FxHashMap;

use crate::package::Node;
use crate::resolve::{Edge, ResolvedPackage, Resolution};

/// An edge's identity across forks: name, extras, marker text, target version.
type EdgeKey = (String, Vec<String>, String, Option<Version>);

/// A range of Python versions `[lower, upper)` resolved on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PythonFork {
    pub(crate) lower: Version,
    pub(crate) upper: Option<Version>,
}

impl PythonFork {
    fn contains(&self, version: &Version) -> bool {
        *version > self.lower && self.upper.as_ref().is_none_or(|upper| version < upper)
    }

    /// The marker that holds exactly in this fork, simplified against the project's floor.
    fn marker(&self, floor: Option<&Version>) -> MarkerTree {
        let mut text = format!("python_full_version >= '{}'", self.lower);
        if let Some(upper) = &self.upper {
            text.push_str(&format!(" and python_full_version < '{upper}'"));
        }
        let marker = MarkerTree::from_str(&text).unwrap_or_default();
        match floor {
            Some(floor) => marker.simplify_python_versions(Bound::Included(floor), Bound::Unbounded),
            None => marker,
        }
    }
}

/// The project's own edges in one fork.
#[derive(Debug, Default)]
pub(crate) struct RootEdges {
    pub(crate) dependencies: Vec<Edge>,
    pub(crate) optional_dependencies: BTreeMap<ExtraName, Vec<Edge>>,
    pub(crate) dependency_groups: BTreeMap<String, Vec<Edge>>,
}

/// One fork's resolution.
#[derive(Debug)]
pub(crate) struct ForkResult {
    pub(crate) fork: PythonFork,
    pub(crate) versions: BTreeMap<PackageName, Version>,
    pub(crate) extras: BTreeSet<(PackageName, ExtraName)>,
    pub(crate) files: BTreeMap<PackageName, (String, Vec<DistFile>)>,
    pub(crate) edges: FxHashMap<(Node, Version), Vec<Edge>>,
    pub(crate) root: RootEdges,
    pub(crate) rejections: Vec<(PackageName, Version, Version)>,
}

/// Python versions at which a fork should be split: where a version newer than
/// the chosen one was rejected only because it needs a newer Python.
pub(crate) fn split_points(result: &ForkResult) -> BTreeSet<Version> {
    result
        .rejections
        .iter()
        .filter(|(name, version, _)| result.versions.get(name).is_some_and(|chosen| chosen < version))
        .map(|(_, _, lower)| {
            let release = lower.release();
            Version::new(release.iter().take(2).copied())
        })
        .filter(|point| result.fork.contains(point))
        .collect()
}

/// Split forks at the given points.
pub(crate) fn split(forks: &[PythonFork], points: &BTreeSet<Version>) -> Vec<PythonFork> {
    let mut out = Vec::new();
    for fork in forks {
        let mut lower = fork.lower.clone();
        for point in points.iter().filter(|p| fork.contains(p)) {
            out.push(PythonFork { lower: lower.clone(), upper: Some(point.clone()) });
            lower = point.clone();
        }
        out.push(PythonFork { lower, upper: fork.upper.clone() });
    }
    out
}

/// Merge fork results into one graph.
pub(crate) fn merge(results: &[ForkResult], floor: Option<&Version>) -> Resolution {
    let single = results.len() == 1;
    let markers: Vec<MarkerTree> =
        results.iter().map(|r| if single { MarkerTree::TRUE } else { r.fork.marker(floor) }).collect();
    let mut all_versions: BTreeMap<PackageName, BTreeSet<Version>> = BTreeMap::new();
    for result in results {
        for (name, version) in &result.versions {
            all_versions.entry(name.clone()).or_default().insert(version.clone());
        }
    }
    let or_markers = |forks: &BTreeSet<usize>| -> MarkerTree {
        let mut marker = MarkerTree::FALSE;
        for &i in forks {
            marker.or(markers[i].clone());
        }
        marker
    };

    // Expand edges seen in the given forks into edges of the merged graph.
    let expand = |per_fork: &[(usize, &Vec<Edge>)]| -> Vec<Edge> {
        let mut grouped: BTreeMap<EdgeKey, (Edge, BTreeSet<usize>)> = BTreeMap::new();
        for (i, edges) in per_fork {
            for edge in *edges {
                let ambiguous = all_versions.get(&edge.name).is_some_and(|v| v.len() > 1);
                let target = if ambiguous { results[*i].versions.get(&edge.name).cloned() } else { None };
                let key = (
                    edge.name.to_string(),
                    edge.extras.iter().map(ToString::to_string).collect(),
                    edge.marker.try_to_string().unwrap_or_default(),
                    target.clone(),
                );
                grouped
                    .entry(key)
                    .or_insert_with(|| (Edge { version: target, ..edge.clone() }, BTreeSet::new()))
                    .1
                    .insert(*i);
            }
        }
        grouped
            .into_values()
            .filter_map(|(mut edge, forks)| {
                if edge.version.is_some() {
                    edge.marker.and(or_markers(&forks));
                    if edge.marker.is_false() {
                        return None;
                    }
                }
                Some(edge)
            })
            .collect()
    };

    let mut packages = Vec::new();
    for (name, versions) in &all_versions {
        for version in versions {
            let using: BTreeSet<usize> =
                (0..results.len()).filter(|&i| results[i].versions.get(name) == Some(version)).collect();
            let first = &results[*using.iter().next().unwrap_or(&0)];
            let (index, files) = first.files.get(name).cloned().unwrap_or_default();
            let node = Node::Package(name.clone());
            let dependencies: Vec<(usize, &Vec<Edge>)> = using
                .iter()
                .filter_map(|&i| results[i].edges.get(&(node.clone(), version.clone())).map(|e| (i, e)))
                .collect();
            let mut extras: BTreeSet<ExtraName> = BTreeSet::new();
            for &i in &using {
                extras.extend(results[i].extras.iter().filter(|(n, _)| n == name).map(|(_, e)| e.clone()));
            }
            let optional_dependencies = extras
                .into_iter()
                .map(|extra| {
                    let node = Node::Extra(name.clone(), extra.clone());
                    let per_fork: Vec<(usize, &Vec<Edge>)> = using
                        .iter()
                        .filter_map(|&i| results[i].edges.get(&(node.clone(), version.clone())).map(|e| (i, e)))
                        .collect();
                    (extra, expand(&per_fork))
                })
                .collect();
            let python_marker = (versions.len() > 1).then(|| or_markers(&using));
            packages.push(ResolvedPackage {
                name: name.clone(),
                version: version.clone(),
                index,
                files,
                dependencies: expand(&dependencies),
                optional_dependencies,
                python_marker,
                direct_url: None,
            });
        }
    }

    let all: Vec<usize> = (0..results.len()).collect();
    let root_dependencies: Vec<(usize, &Vec<Edge>)> = all.iter().map(|&i| (i, &results[i].root.dependencies)).collect();
    let mut project_optional_dependencies = BTreeMap::new();
    let mut project_dependency_groups = BTreeMap::new();
    if let Some(first) = results.first() {
        for extra in first.root.optional_dependencies.keys() {
            let per_fork: Vec<(usize, &Vec<Edge>)> =
                all.iter().filter_map(|&i| results[i].root.optional_dependencies.get(extra).map(|e| (i, e))).collect();
            project_optional_dependencies.insert(extra.clone(), expand(&per_fork));
        }
        for group in first.root.dependency_groups.keys() {
            let per_fork: Vec<(usize, &Vec<Edge>)> =
                all.iter().filter_map(|&i| results[i].root.dependency_groups.get(group).map(|e| (i, e))).collect();
            project_dependency_groups.insert(group.clone(), expand(&per_fork));
        }
    }
    Resolution {
        packages,
        project_dependencies: expand(&root_dependencies),
        project_optional_dependencies,
        project_dependency_groups,
        python_forks: if single { Vec::new() } else { markers },
    }
}
