//! Property tests: both encodings round-trip random locks and are deterministic.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use pybun_lockfile::{
    ExportSelection, FORMAT_VERSION, Lock, LockOptions, LockedDependency, LockedFile,
    LockedPackage, Source, TargetEnvironment, from_binary, from_text, to_binary, to_pylock_toml,
    to_requirements_txt, to_text, to_text_via_toml_edit,
};

const NAMES: &[&str] = &[
    "a",
    "b",
    "click",
    "typing-extensions",
    "zope-interface",
    "x1",
];
const VERSIONS: &[&str] = &["1.0", "2.0.1", "1.0a1", "0.0.0.post1", "10.2.3.dev4"];
const MARKERS: &[&str] = &[
    "sys_platform == 'win32'",
    "python_full_version < '3.11'",
    "os_name == 'nt' and python_full_version >= '3.9'",
    "platform_machine == 'x86_64' or sys_platform == 'darwin'",
];

/// Arbitrary text, including characters TOML must escape.
fn text() -> impl Strategy<Value = String> {
    "[a-z0-9 .:/\"'\\\\\n\té€-]{0,8}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn marker() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(proptest::sample::select(MARKERS).prop_map(str::to_owned))
}

fn dependency(names: Vec<String>) -> impl Strategy<Value = LockedDependency> {
    (
        proptest::sample::select(names),
        proptest::collection::vec("[a-z][a-z0-9-]{0,4}", 0..3),
        marker(),
    )
        .prop_map(|(name, extras, marker)| LockedDependency {
            name,
            extras,
            marker,
            version: None,
        })
}

fn deps(names: Vec<String>) -> impl Strategy<Value = Vec<LockedDependency>> {
    proptest::collection::vec(dependency(names), 0..4)
}

fn dep_map(names: Vec<String>) -> impl Strategy<Value = BTreeMap<String, Vec<LockedDependency>>> {
    // Keys with characters that need quoting in TOML.
    proptest::collection::btree_map("[a-z.\" -]{1,5}", deps(names), 0..3)
}

fn file() -> impl Strategy<Value = LockedFile> {
    (
        text(),
        text(),
        proptest::option::of(any::<u64>()),
        opt_text(),
        opt_text(),
    )
        .prop_map(|(filename, url, size, hash, upload_time)| LockedFile {
            filename,
            url,
            size,
            hash,
            upload_time,
        })
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        Just(Source::Project),
        text().prop_map(Source::Registry),
        text().prop_map(Source::FindLinks),
        text().prop_map(Source::Url),
        text().prop_map(Source::Directory),
    ]
}

fn package(name: String, names: Vec<String>) -> impl Strategy<Value = LockedPackage> {
    (
        proptest::sample::select(VERSIONS),
        source(),
        deps(names.clone()),
        dep_map(names.clone()),
        dep_map(names),
        proptest::collection::vec(file(), 0..3),
    )
        .prop_map(
            move |(
                version,
                source,
                dependencies,
                optional_dependencies,
                dependency_groups,
                files,
            )| {
                LockedPackage {
                    name: name.clone(),
                    version: version.to_owned(),
                    source,
                    resolution_marker: None,
                    dependencies,
                    optional_dependencies,
                    dependency_groups,
                    files,
                }
            },
        )
}

/// The Python ranges of a fork: the resolution markers of the two versions.
const FORK_MARKERS: [&str; 2] = [
    "python_full_version < '3.12'",
    "python_full_version >= '3.12'",
];

/// A fork on the Python version: which package gets a second version, and
/// the offset (1.. in `VERSIONS`) of that second version from the first.
type Fork = Option<(proptest::sample::Index, usize)>;

fn fork() -> impl Strategy<Value = Fork> {
    proptest::option::weighted(0.4, (any::<proptest::sample::Index>(), 1..VERSIONS.len()))
}

/// Lock one package at two versions, valid by construction: each version
/// gets a resolution marker, and every edge to the name names one of the two
/// versions (alternately) and carries its marker.
fn apply_fork(packages: &mut Vec<LockedPackage>, fork: Fork) {
    let Some((index, offset)) = fork else { return };
    if packages.is_empty() {
        return;
    }
    let first = index.index(packages.len());
    let position = VERSIONS
        .iter()
        .position(|v| *v == packages[first].version)
        .expect("generated versions come from VERSIONS");
    let mut second = packages[first].clone();
    second.version = VERSIONS[(position + offset) % VERSIONS.len()].to_owned();
    packages[first].resolution_marker = Some(FORK_MARKERS[0].to_owned());
    second.resolution_marker = Some(FORK_MARKERS[1].to_owned());
    let name = second.name.clone();
    let versions = [packages[first].version.clone(), second.version.clone()];
    packages.push(second);
    let mut turn = 0;
    for package in packages.iter_mut() {
        for dep in package
            .dependencies
            .iter_mut()
            .chain(package.optional_dependencies.values_mut().flatten())
            .chain(package.dependency_groups.values_mut().flatten())
        {
            if dep.name == name {
                dep.version = Some(versions[turn % 2].clone());
                dep.marker = Some(FORK_MARKERS[turn % 2].to_owned());
                turn += 1;
            }
        }
    }
}

fn lock() -> impl Strategy<Value = Lock> {
    proptest::sample::subsequence(NAMES, 0..=NAMES.len())
        .prop_flat_map(|names| {
            let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
            let packages: Vec<_> = names
                .iter()
                .map(|n| package(n.clone(), names.clone()))
                .collect();
            let environment = proptest::option::of((text(), opt_text()).prop_map(
                |(python_version, platform)| TargetEnvironment {
                    python_version,
                    platform,
                },
            ));
            (
                opt_text(),
                text(),
                (text(), text(), opt_text()),
                environment,
                packages,
                fork(),
            )
        })
        .prop_map(
            |(
                requires_python,
                fingerprint,
                (resolution, prerelease, exclude_newer),
                environment,
                mut packages,
                fork,
            )| {
                apply_fork(&mut packages, fork);
                packages.reverse(); // not in canonical order
                Lock {
                    version: FORMAT_VERSION,
                    requires_python,
                    fingerprint,
                    options: LockOptions {
                        resolution,
                        prerelease,
                        exclude_newer,
                    },
                    environment,
                    packages,
                }
            },
        )
}

fn shuffled(lock: &Lock) -> Lock {
    let mut copy = lock.clone();
    copy.packages.reverse();
    for package in &mut copy.packages {
        package.dependencies.reverse();
        package.files.reverse();
        for dep in &mut package.dependencies {
            dep.extras.reverse();
        }
        for list in package
            .optional_dependencies
            .values_mut()
            .chain(package.dependency_groups.values_mut())
        {
            let n = list.len().min(1);
            list.rotate_left(n);
        }
    }
    copy
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn text_round_trips(raw in lock()) {
        let mut canonical = raw.clone();
        canonical.canonicalize();
        let text = to_text(&raw);
        let parsed = from_text(&text, "pybun.lock");
        prop_assert!(parsed.is_ok(), "{text}\n{:?}", parsed.err());
        prop_assert_eq!(parsed.ok(), Some(canonical.clone()));
        prop_assert_eq!(&to_text(&canonical), &text);
        prop_assert_eq!(&to_text(&raw), &text);
        prop_assert_eq!(&to_text(&shuffled(&raw)), &text);
    }

    #[test]
    fn binary_round_trips(raw in lock()) {
        let mut canonical = raw.clone();
        canonical.canonicalize();
        let bytes = to_binary(&raw);
        prop_assert_eq!(from_binary(&bytes, "pybun.lockb").ok(), Some(canonical.clone()));
        prop_assert_eq!(&to_binary(&canonical), &bytes);
        prop_assert_eq!(&to_binary(&shuffled(&raw)), &bytes);
    }

    #[test]
    fn canonicalize_is_idempotent(raw in lock()) {
        let mut once = raw.clone();
        once.canonicalize();
        prop_assert!(once.is_canonical());
        prop_assert_eq!(raw.is_canonical(), raw == once);
        let mut twice = once.clone();
        twice.canonicalize();
        prop_assert_eq!(once, twice);
    }

    /// The direct writer gives exactly the bytes of the `toml_edit` document.
    #[test]
    fn text_writer_matches_toml_edit(raw in lock()) {
        prop_assert_eq!(to_text(&raw), to_text_via_toml_edit(&raw));
        let mut canonical = raw;
        canonical.canonicalize();
        prop_assert_eq!(to_text(&canonical), to_text_via_toml_edit(&canonical));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn exports_are_deterministic(raw in lock()) {
        let all = ExportSelection::all();
        let copy = shuffled(&raw);
        prop_assert_eq!(to_requirements_txt(&raw, &all), to_requirements_txt(&copy, &all));
        prop_assert_eq!(to_pylock_toml(&raw, &all), to_pylock_toml(&copy, &all));
    }
}

/// The direct writer on the golden fixtures and on edge values (empty
/// strings and lists, huge sizes, characters that need escaping).
#[test]
fn text_writer_matches_toml_edit_on_fixtures_and_edges() {
    for name in ["basic.lock", "forked.lock"] {
        let text = common::read_text(name);
        let lock = from_text(&text, name).expect("valid fixture");
        assert_eq!(to_text(&lock), to_text_via_toml_edit(&lock), "{name}");
        assert_eq!(to_text(&lock), text, "{name}");
    }
    let dep = |name: &str, extras: &[&str], marker: Option<&str>| LockedDependency {
        name: name.to_owned(),
        extras: extras.iter().map(|e| (*e).to_owned()).collect(),
        marker: marker.map(str::to_owned),
        version: None,
    };
    let odd = ["", "a\"b", "back\\slash", "tab\there", "new\nline", "it's", "é€", "\u{7f}", "'''", "\"\"\""];
    for text in odd {
        let lock = Lock {
            version: FORMAT_VERSION,
            requires_python: Some(text.to_owned()),
            fingerprint: text.to_owned(),
            options: LockOptions { resolution: text.to_owned(), prerelease: String::new(), exclude_newer: Some(text.to_owned()) },
            environment: Some(TargetEnvironment { python_version: text.to_owned(), platform: Some(text.to_owned()) }),
            packages: vec![LockedPackage {
                name: "p".to_owned(),
                version: text.to_owned(),
                source: Source::FindLinks(text.to_owned()),
                resolution_marker: Some(text.to_owned()),
                dependencies: vec![dep("a", &["x", "y"], Some(text)), dep("b", &[], None)],
                optional_dependencies: BTreeMap::from([
                    (text.to_owned(), vec![]),
                    ("with.dot".to_owned(), vec![dep("c", &[text], None)]),
                ]),
                dependency_groups: BTreeMap::from([("dev".to_owned(), vec![dep("d", &[], Some(text))])]),
                files: vec![
                    LockedFile { filename: text.to_owned(), url: text.to_owned(), size: Some(u64::MAX), hash: None, upload_time: Some(text.to_owned()) },
                    LockedFile { filename: "f".to_owned(), url: "u".to_owned(), size: Some(0), hash: Some(text.to_owned()), upload_time: None },
                ],
            }],
        };
        assert_eq!(to_text(&lock), to_text_via_toml_edit(&lock), "{text:?}");
    }
    let empty = Lock { version: FORMAT_VERSION, ..Lock::default() };
    assert_eq!(to_text(&empty), to_text_via_toml_edit(&empty));
}

/// The fork generator is not dead code: a good share of the generated locks
/// hold a name at two versions, reached through versioned edges.
#[test]
fn the_generator_makes_forked_locks() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = lock();
    let (mut forked, mut versioned_edges) = (0, 0);
    for _ in 0..200 {
        let lock = strategy.new_tree(&mut runner).expect("a value").current();
        let names: BTreeSet<&str> = lock.packages.iter().map(|p| p.name.as_str()).collect();
        if names.len() < lock.packages.len() {
            forked += 1;
        }
        if lock
            .packages
            .iter()
            .flat_map(|p| &p.dependencies)
            .any(|d| d.version.is_some())
        {
            versioned_edges += 1;
        }
    }
    assert!(forked >= 40, "{forked} forked locks of 200");
    assert!(
        versioned_edges >= 20,
        "{versioned_edges} locks with versioned edges of 200"
    );
}
