//! Direct URL requirements: one candidate per URL, its hash pinned, and the
//! URLs PyBun cannot use refused with the reason.

mod common;

use std::str::FromStr;

use pybun_ports::NullReporter;
use pybun_ports::testing::FixtureIndex;
use pybun_resolver::{ResolveError, Resolution, resolve};

use common::{add, request};

const TOOL_URL: &str = "https://example.com/dist/tool-1.4-py3-none-any.whl";
const TOOL_SHA: &str = "2222222222222222222222222222222222222222222222222222222222222222";


/// `tool` 2.0 on the index; `tool` 1.4 only at [`TOOL_URL`], needing `helper`.
fn index() -> FixtureIndex {
    let mut index = FixtureIndex::new();
    add(&mut index, "tool", "2.0", &[]);
    add(&mut index, "helper", "1.0", &[]);
    add(&mut index, "helper", "2.0", &[]);
    add(&mut index, "app", "1.0", &["tool>=1"]);
    add(&mut index, "app", "2.0", &["tool>=2"]);
    add(&mut index, "sneaky", "1.0", &["helper @ https://example.com/other/helper-9.0-py3-none-any.whl"]);
    index.add_url_file(TOOL_URL, "Metadata-Version: 2.1\nName: tool\nVersion: 1.4\nRequires-Dist: helper>=2\n", TOOL_SHA);
    index.add_url_file("file:///src/tool", "Metadata-Version: 2.1\nName: tool\nVersion: 1.5.dev0\nRequires-Dist: helper<2\n", "");
    index
}

fn resolved(index: &FixtureIndex, requirements: &[&str]) -> Resolution {
    match resolve(&request(requirements), index, &NullReporter) {
        Ok(resolution) => resolution,
        Err(ResolveError::NoSolution(report)) => panic!("no solution:\n{}", report.explanation.join("\n")),
        Err(other) => panic!("error: {other}"),
    }
}

/// `name==version [url]` per package.
fn lines(resolution: &Resolution) -> Vec<String> {
    resolution
        .packages
        .iter()
        .map(|p| match &p.direct_url {
            Some(url) => format!("{}=={} [{url}]", p.name, p.version),
            None => format!("{}=={}", p.name, p.version),
        })
        .collect()
}

fn refused(index: &FixtureIndex, requirements: &[&str]) -> String {
    match resolve(&request(requirements), index, &NullReporter) {
        Err(error @ ResolveError::DirectUrl { .. }) => error.to_string(),
        other => panic!("expected a direct URL error, got {other:?}"),
    }
}

#[test]
fn a_url_pins_its_package_and_its_dependencies_resolve_from_the_index() {
    let index = index();
    let resolution = resolved(&index, &[&format!("tool @ {TOOL_URL}")]);
    assert_eq!(lines(&resolution), ["helper==2.0".to_string(), format!("tool==1.4 [{TOOL_URL}]")]);
    let tool = &resolution.packages[1];
    assert_eq!(tool.files.len(), 1);
    assert_eq!(tool.files[0].url, TOOL_URL);
    // No fragment: the index port hashed the file, once.
    assert_eq!(tool.files[0].sha256.as_deref(), Some(TOOL_SHA));
    let hashes = index.requests().iter().filter(|r| r.starts_with("hash:")).count();
    assert_eq!(hashes, 1, "{:?}", index.requests());
    // The index's own `tool` files were never asked for.
    assert!(!index.requests().contains(&"project:tool".to_string()), "{:?}", index.requests());
}

#[test]
fn a_sha256_fragment_is_the_pinned_hash_and_nothing_is_fetched_to_hash() {
    let index = index();
    let fragment = "ab".repeat(32);
    let resolution = resolved(&index, &[&format!("tool @ {TOOL_URL}#sha256={}", fragment.to_uppercase())]);
    let tool = resolution.packages.iter().find(|p| p.name.as_ref() == "tool").unwrap();
    assert_eq!(tool.direct_url.as_deref(), Some(TOOL_URL), "the fragment is not part of the URL");
    assert_eq!(tool.files[0].sha256.as_deref(), Some(fragment.as_str()));
    assert!(index.requests().iter().all(|r| !r.starts_with("hash:")), "{:?}", index.requests());
}

#[test]
fn other_requirements_on_a_url_package_must_allow_its_version() {
    let index = index();
    // app 2.0 needs tool>=2, which the URL's 1.4 is not: app 1.0 is chosen.
    let resolution = resolved(&index, &[&format!("tool @ {TOOL_URL}"), "app"]);
    assert_eq!(lines(&resolution), ["app==1.0".to_string(), "helper==2.0".to_string(), format!("tool==1.4 [{TOOL_URL}]")]);
    // A root requirement the URL's version does not satisfy: no solution.
    assert!(matches!(
        resolve(&request(&[&format!("tool @ {TOOL_URL}"), "tool>=2"]), &index, &NullReporter),
        Err(ResolveError::NoSolution(_))
    ));
}

#[test]
fn unusable_urls_are_refused_with_the_reason() {
    let index = index();
    let two = refused(&index, &[&format!("tool @ {TOOL_URL}"), "tool @ https://example.com/dist/tool-1.5-py3-none-any.whl"]);
    assert!(two.contains("a package can come from one URL only"), "{two}");
    let vcs = refused(&index, &["tool @ git+https://github.com/example/tool"]);
    assert!(vcs.contains("`git+https` URLs are not supported yet"), "{vcs}");
    let unversioned = refused(&index, &["tool @ https://example.com/archive/main.zip"]);
    assert!(unversioned.contains("`main.zip` is not the filename of a wheel or sdist of `tool`"), "{unversioned}");
    let not_tool = refused(&index, &["helper @ file:///src/tool"]);
    assert!(not_tool.contains("the source tree `file:///src/tool` is the package `tool`, not `helper`"), "{not_tool}");
    let other_name = refused(&index, &["helper @ https://example.com/dist/tool-1.4-py3-none-any.whl"]);
    assert!(other_name.contains("not the filename of a wheel or sdist of `helper`"), "{other_name}");
}

#[test]
fn a_package_may_not_bring_its_own_url_dependency() {
    let index = index();
    let error = refused(&index, &["sneaky"]);
    assert!(error.contains("`sneaky==1.0` depends on it by URL"), "{error}");
}

#[test]
fn a_source_tree_gets_its_version_from_its_metadata_and_is_not_hashed() {
    let index = index();
    let resolution = resolved(&index, &["tool @ file:///src/tool"]);
    assert_eq!(lines(&resolution), ["helper==1.0".to_string(), "tool==1.5.dev0 [file:///src/tool]".to_string()]);
    let tool = &resolution.packages[1];
    assert_eq!(tool.files[0].filename, "tool-1.5.dev0/", "a source tree's file is named `name-version/`");
    assert_eq!(tool.files[0].sha256, None);
    assert!(index.requests().iter().all(|r| !r.starts_with("hash:")), "{:?}", index.requests());
}

#[test]
fn a_hash_the_lock_already_pins_is_not_fetched_again() {
    let index = index();
    let mut request = request(&[&format!("tool @ {TOOL_URL}")]);
    let pinned = "cd".repeat(32);
    request.known_hashes.insert(TOOL_URL.to_string(), pinned.clone());
    let resolution = resolve(&request, &index, &NullReporter).unwrap();
    let tool = resolution.packages.iter().find(|p| p.name.as_ref() == "tool").unwrap();
    assert_eq!(tool.files[0].sha256.as_deref(), Some(pinned.as_str()));
    assert!(index.requests().iter().all(|r| !r.starts_with("hash:")), "{:?}", index.requests());
}

#[test]
fn extras_local_versions_and_a_matching_url_dependency_are_accepted() {
    let mut index = index();
    let local = "https://example.com/dist/fancy-2.0%2Bcpu-py3-none-any.whl";
    index.add_url_file(
        local,
        "Metadata-Version: 2.1\nName: fancy\nVersion: 2.0+cpu\nProvides-Extra: fast\nRequires-Dist: helper ; extra == 'fast'\n",
        TOOL_SHA,
    );
    add(&mut index, "user", "1.0", &[&format!("tool @ {TOOL_URL}")]);
    let resolution = resolved(&index, &[&format!("fancy[fast] @ {local}"), &format!("tool @ {TOOL_URL}"), "user"]);
    assert_eq!(
        lines(&resolution),
        [
            format!("fancy==2.0+cpu [{local}]"),
            "helper==2.0".to_string(),
            format!("tool==1.4 [{TOOL_URL}]"),
            "user==1.0".to_string(),
        ]
    );
    let fancy = &resolution.packages[0];
    assert_eq!(fancy.files[0].filename, "fancy-2.0+cpu-py3-none-any.whl", "the filename is percent-decoded");
    assert!(fancy.optional_dependencies.contains_key(&pybun_pep::ExtraName::from_str("fast").unwrap()), "{fancy:?}");
}

#[test]
fn credentials_other_hashes_and_foreign_archives_are_refused() {
    let index = index();
    let secret = refused(&index, &["tool @ https://me:token@example.com/dist/tool-1.4-py3-none-any.whl"]);
    assert!(secret.contains("URLs with credentials are not supported"), "{secret}");
    let md5 = refused(&index, &[&format!("tool @ {TOOL_URL}#md5=0123")]);
    assert!(md5.contains("only `#sha256=` hashes can be checked"), "{md5}");
    let tree_hash = refused(&index, &[&format!("tool @ file:///src/tool#sha256={TOOL_SHA}")]);
    assert!(tree_hash.contains("a source tree has no sha256 to check"), "{tree_hash}");
    let no_version = refused(&index, &["tool @ https://example.com/dist/tool-latest.tar.gz"]);
    assert!(no_version.contains("`tool-latest.tar.gz` does not name a valid version (`latest`)"), "{no_version}");
    // A local wheel of another package is not taken for a source tree.
    let foreign = refused(&index, &["tool @ file:///wheels/helper-1.0-py3-none-any.whl"]);
    assert!(foreign.contains("`helper-1.0-py3-none-any.whl` is not the filename of a wheel or sdist of `tool`"), "{foreign}");
}
