//! Property tests: on random small registries, a solution satisfies every
//! constraint, and when resolution fails, brute force finds no solution either.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;

use proptest::prelude::*;
use pybun_pep::{Req, Version, VersionSpecifiers, specifiers_to_ranges};
use pybun_ports::NullReporter;
use pybun_ports::testing::FixtureIndex;
use pybun_resolver::{ResolveError, ResolveRequest, resolve};

const PACKAGES: [&str; 4] = ["p0", "p1", "p2", "p3"];

/// A dependency: (package index, operator index, version number).
type Dep = (usize, usize, u8);

/// registry[package][version-1] = Some(deps) when that version exists.
type Registry = Vec<Vec<Option<Vec<Dep>>>>;

fn spec((_, op, v): Dep) -> String {
    match op {
        0 => String::new(),
        1 => format!(">={v}"),
        2 => format!("<{v}"),
        _ => format!("=={v}"),
    }
}

fn requirement(dep: Dep) -> String {
    format!("{}{}", PACKAGES[dep.0], spec(dep))
}

fn satisfies(dep: Dep, version: u8) -> bool {
    let specifiers = VersionSpecifiers::from_str(&spec(dep)).unwrap();
    specifiers_to_ranges(&specifiers).contains(&Version::new([u64::from(version)]))
}

fn registry_strategy() -> impl Strategy<Value = (Registry, Vec<Dep>)> {
    let dep = (0..PACKAGES.len(), 0..4usize, 1..4u8);
    let version = proptest::option::weighted(0.8, proptest::collection::vec(dep.clone(), 0..3));
    let package = proptest::collection::vec(version, 3);
    (proptest::collection::vec(package, PACKAGES.len()), proptest::collection::vec(dep, 1..3))
}

/// Every assignment of package -> absent or one version; does any satisfy everything?
fn brute_force(registry: &Registry, root: &[Dep]) -> bool {
    let options = 4usize; // absent, 1, 2, 3
    let total = options.pow(PACKAGES.len() as u32);
    'outer: for mut code in 0..total {
        let mut chosen = [0u8; 4];
        for slot in &mut chosen {
            *slot = (code % options) as u8;
            code /= options;
        }
        // Chosen versions must exist.
        for (package, &version) in chosen.iter().enumerate() {
            if version > 0 && registry[package][usize::from(version) - 1].is_none() {
                continue 'outer;
            }
        }
        let ok = |dep: Dep| chosen[dep.0] > 0 && satisfies(dep, chosen[dep.0]);
        if !root.iter().all(|d| ok(*d)) {
            continue;
        }
        for (package, &version) in chosen.iter().enumerate() {
            if version > 0 {
                let deps = registry[package][usize::from(version) - 1].as_ref().unwrap();
                if !deps.iter().all(|d| ok(*d)) {
                    continue 'outer;
                }
            }
        }
        return true;
    }
    false
}

fn build(registry: &Registry) -> FixtureIndex {
    let mut index = FixtureIndex::new();
    for (package, versions) in registry.iter().enumerate() {
        for (i, deps) in versions.iter().enumerate() {
            if let Some(deps) = deps {
                let requires: Vec<String> = deps.iter().map(|d| requirement(*d)).collect();
                let requires: Vec<&str> = requires.iter().map(String::as_str).collect();
                common::add(&mut index, PACKAGES[package], &(i + 1).to_string(), &requires);
            }
        }
    }
    index
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn solutions_are_valid_and_failures_are_real((registry, root) in registry_strategy()) {
        let index = build(&registry);
        let request = ResolveRequest {
            project: "root".to_string(),
            dependencies: root.iter().map(|d| Req::from_str(&requirement(*d)).unwrap()).collect(),
            requires_python: Some(VersionSpecifiers::from_str(">=3.9").unwrap()),
            ..ResolveRequest::default()
        };
        match resolve(&request, &index, &NullReporter) {
            Ok(resolution) => {
                let chosen: BTreeMap<String, u8> = resolution
                    .packages
                    .iter()
                    .map(|p| (p.name.to_string(), u8::try_from(p.version.release()[0]).unwrap()))
                    .collect();
                let ok = |dep: Dep| chosen.get(PACKAGES[dep.0]).is_some_and(|v| satisfies(dep, *v));
                for dep in &root {
                    prop_assert!(ok(*dep), "root requirement {} not satisfied by {chosen:?}", requirement(*dep));
                }
                for (name, version) in &chosen {
                    let package = PACKAGES.iter().position(|p| p == name).unwrap();
                    let deps = registry[package][usize::from(*version) - 1].as_ref().unwrap();
                    for dep in deps {
                        prop_assert!(ok(*dep), "{name}=={version} needs {} but got {chosen:?}", requirement(*dep));
                    }
                }
            }
            Err(ResolveError::NoSolution(_) | ResolveError::NotFound { .. }) => {
                prop_assert!(!brute_force(&registry, &root), "resolver failed but a solution exists");
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}
