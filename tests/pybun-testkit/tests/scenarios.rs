//! Every scenario file loads, and turns into a universe, a pyproject and lock arguments.

use std::collections::BTreeMap;

use pybun_testkit::{
    IndexServer, Scenario, fixture_scenario_files, load_packse, packse_scenario_files, try_load_scenario,
};

/// Every derived artefact of a scenario is well formed.
fn check_derived(scenario: &Scenario) {
    let pyproject = scenario.pyproject_toml();
    let parsed: toml::Table = toml::from_str(&pyproject)
        .unwrap_or_else(|e| panic!("{}: invalid pyproject ({e}):\n{pyproject}", scenario.path.display()));
    let project = parsed["project"].as_table().unwrap();
    assert_eq!(project["name"].as_str(), Some("root-project"));
    assert_eq!(project["dependencies"].as_array().unwrap().len(), scenario.root.requires.len());

    let universe = scenario.universe();
    let versions: usize = scenario.packages.values().map(|p| p.versions.len()).sum();
    assert_eq!(universe.packages.values().map(Vec::len).sum::<usize>(), versions);

    let args = scenario.lock_args();
    assert_eq!(args.iter().any(|a| a == "--python-version"), !scenario.resolver_options.universal);
}

#[test]
#[expect(clippy::print_stderr, reason = "tests say why a group is skipped")]
fn every_packse_scenario_loads() {
    let Some(files) = packse_scenario_files() else {
        eprintln!("skipping: ../shared not found (set PYBUN_SHARED_DIR)");
        return;
    };
    assert!(files.len() > 100, "only {} packse scenarios found", files.len());
    let mut failures = Vec::new();
    for file in &files {
        match try_load_scenario(file) {
            Ok(scenario) => check_derived(&scenario),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} scenarios failed to load:\n{}", failures.len(), failures.join("\n"));
}

#[test]
#[expect(clippy::print_stderr, reason = "tests say why a group is skipped")]
fn packse_example_semantics() {
    let Some(files) = packse_scenario_files() else {
        eprintln!("skipping: ../shared not found (set PYBUN_SHARED_DIR)");
        return;
    };
    let find = |suffix: &str| {
        let path = files.iter().find(|f| f.ends_with(format!("{suffix}.toml"))).unwrap();
        load_packse(path)
    };
    let example = find("examples/example");
    assert_eq!(example.name, "example-toml");
    assert_eq!(example.root.requires, ["a"]);
    let expected: BTreeMap<String, String> =
        [("a", "1.0.0"), ("b", "2.0.0")].into_iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(example.expected.packages.as_ref(), Some(&expected));
    let universe = example.universe();
    assert_eq!(universe.packages["b"].len(), 3);
    assert_eq!(universe.packages["b"][2].spec.requires_dist, ["c"]);

    let no_wheels = find("wheels/no-wheels");
    assert!(no_wheels.universe().packages["a"][0].wheel_tags.is_empty());
    let tagged = find("wheels/specific-tag-and-default");
    assert_eq!(tagged.universe().packages["a"][0].wheel_tags.len(), 2);

    let fork = find("fork/basic");
    assert!(fork.resolver_options.universal);
    assert!(fork.lock_args().is_empty());

    let override_python = find("requires_python/incompatible-python-compatible-override");
    assert_eq!(override_python.lock_args(), ["--python-version", "3.11", "--python-platform", "linux"]);

    let yanked = find("yanked/package-only-yanked");
    assert!(yanked.universe().packages.values().flatten().any(|v| v.yanked.is_some()));

    // The universe can be served.
    let server = IndexServer::start(example.universe());
    assert_eq!(server.filenames().len(), 8);
}

#[test]
fn every_fixture_scenario_loads() {
    let files = fixture_scenario_files();
    assert!(files.len() >= 15, "only {} fixture scenarios", files.len());
    let mut failures = Vec::new();
    for file in &files {
        match try_load_scenario(file) {
            Ok(scenario) => {
                check_derived(&scenario);
                assert!(
                    scenario.expected.satisfiable || scenario.expected.error_code.is_some(),
                    "{}: an unsatisfiable fixture names its error code",
                    file.display()
                );
                // Files build and the server starts with the scenario's options.
                let server = scenario.start_server();
                assert!(!server.filenames().is_empty());
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixture_extensions() {
    let dir = pybun_testkit::fixtures_dir();
    let groups = load_packse(dir.join("groups-and-extras.toml"));
    let pyproject: toml::Table = toml::from_str(&groups.pyproject_toml()).unwrap();
    assert_eq!(pyproject["dependency-groups"]["dev"][0].as_str(), Some("x>=2"));
    assert_eq!(pyproject["project"]["optional-dependencies"]["extra"][0].as_str(), Some("y"));

    let html = load_packse(dir.join("html-no-metadata-files.toml"));
    let options = html.server_options();
    assert_eq!(options.flavor, pybun_testkit::Flavor::Html);
    assert!(!options.metadata_files && options.range_requests);

    let dynamic = load_packse(dir.join("sdist-only-dynamic.toml"));
    let a = &dynamic.universe().packages["a"][0];
    assert!(a.dynamic_requires && a.sdist && a.wheel_tags.is_empty());

    let newer = load_packse(dir.join("exclude-newer.toml"));
    assert_eq!(newer.lock_args(), ["--python-version", "3.12", "--python-platform", "linux", "--exclude-newer", "2024-03-01T00:00:00Z"]);

    let explicit = load_packse(dir.join("prerelease-explicit-mode.toml"));
    assert_eq!(explicit.lock_args(), ["--python-version", "3.12", "--python-platform", "linux", "--prerelease", "explicit"]);

    let universal = load_packse(dir.join("requires-python-filter.toml"));
    assert!(universal.lock_args().is_empty());
    assert!(universal.pyproject_toml().contains("requires-python = \">=3.9,<3.12\""));
}

#[test]
fn bad_fixtures_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "name = \"x\"\n[root]\nrequires = [\"a >>> 1\"]\n[expected]\nsatisfiable = true\n").unwrap();
    assert!(try_load_scenario(&path).unwrap_err().contains("invalid requirement"));
    std::fs::write(&path, "name = \"x\"\n[root]\n[expected]\nsatisfiable = true\nerror_kode = \"PB0300\"\n").unwrap();
    assert!(try_load_scenario(&path).unwrap_err().contains("error_kode"));
}
