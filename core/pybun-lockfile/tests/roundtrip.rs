//! Property tests: both encodings round-trip random locks and are deterministic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use pybun_lockfile::{
    FORMAT_VERSION, Lock, LockOptions, LockedDependency, LockedFile, LockedPackage, Source,
    TargetEnvironment, from_binary, from_text, to_binary, to_text,
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
                    dependencies,
                    optional_dependencies,
                    dependency_groups,
                    files,
                }
            },
        )
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
            )
        })
        .prop_map(
            |(
                requires_python,
                fingerprint,
                (resolution, prerelease, exclude_newer),
                environment,
                mut packages,
            )| {
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
        let mut once = raw;
        once.canonicalize();
        let mut twice = once.clone();
        twice.canonicalize();
        prop_assert_eq!(once, twice);
    }
}
