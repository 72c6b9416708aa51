//! Exports of the golden fixture: `requirements.txt` and PEP 751 `pylock.toml`.

mod common;

use pybun_lockfile::{ExportSelection, Lock, from_text, to_pylock_toml, to_requirements_txt};

fn fixture() -> Lock {
    from_text(&common::read_text("basic.lock"), "basic.lock").expect("fixture parses")
}

#[test]
fn requirements_txt_default() {
    insta::assert_snapshot!(
        "requirements_default",
        to_requirements_txt(&fixture(), &ExportSelection::default())
    );
}

#[test]
fn requirements_txt_all() {
    let text = to_requirements_txt(&fixture(), &ExportSelection::all());
    // colorama is reached through click (always) and pytest (dev group), both on win32.
    assert!(text.contains("colorama==0.4.6 ; sys_platform == 'win32'"));
    // The project itself is not exported.
    assert!(!text.contains("demo=="));
    insta::assert_snapshot!("requirements_all", text);
}

#[test]
fn requirements_txt_selected_group() {
    let selection = ExportSelection {
        groups: vec!["dev".into()],
        ..ExportSelection::default()
    };
    let text = to_requirements_txt(&fixture(), &selection);
    assert!(text.contains("pytest==8.2.2 ; sys_platform != 'emscripten'"));
    // iniconfig: unconditionally from the group, OR through pytest.
    assert!(text.contains("iniconfig==2.0.0 \\\n"));
    assert!(!text.contains("watchdog"));
}

#[test]
fn pylock_toml_all() {
    let text = to_pylock_toml(&fixture(), &ExportSelection::all());
    // It is valid TOML.
    text.parse::<toml_edit::DocumentMut>().expect("valid TOML");
    insta::assert_snapshot!("pylock_all", text);
}

#[test]
fn exports_are_deterministic() {
    let lock = fixture();
    let mut shuffled = lock.clone();
    shuffled.packages.reverse();
    for package in &mut shuffled.packages {
        package.dependencies.reverse();
        package.files.reverse();
    }
    let all = ExportSelection::all();
    assert_eq!(
        to_requirements_txt(&lock, &all),
        to_requirements_txt(&shuffled, &all)
    );
    assert_eq!(to_pylock_toml(&lock, &all), to_pylock_toml(&shuffled, &all));

    let lock = forked();
    let mut shuffled = lock.clone();
    shuffled.packages.reverse();
    for package in &mut shuffled.packages {
        package.dependencies.reverse();
    }
    assert_eq!(
        to_requirements_txt(&lock, &all),
        to_requirements_txt(&shuffled, &all)
    );
    assert_eq!(to_pylock_toml(&lock, &all), to_pylock_toml(&shuffled, &all));
}

#[test]
fn markers_combine_over_paths_and_cycles() {
    // a -> b (linux), a -> c (win32), b -> d (py < 3.11), c -> d, d -> b (cycle)
    let text = r#"version = 1
fingerprint = "x"

[options]
resolution = "highest"
prerelease = "allow"

[[package]]
name = "a"
version = "1"
source = { project = "." }
dependencies = [
    { name = "b", marker = "sys_platform == 'linux'" },
    { name = "c", marker = "sys_platform == 'win32'" },
]

[[package]]
name = "b"
version = "1"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "d", marker = "python_full_version < '3.11'" },
]

[[package]]
name = "c"
version = "1"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "d" },
]

[[package]]
name = "d"
version = "1"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "b" },
]
"#;
    let lock = from_text(text, "cycle.lock").unwrap_or_else(|d| panic!("{}", common::render(&d)));
    let out = to_requirements_txt(&lock, &ExportSelection::default());
    insta::assert_snapshot!("requirements_cycle", out);
}

fn forked() -> Lock {
    from_text(&common::read_text("forked.lock"), "forked.lock")
        .unwrap_or_else(|d| panic!("{}", common::render(&d)))
}

#[test]
fn requirements_txt_forked() {
    let text = to_requirements_txt(&forked(), &ExportSelection::default());
    // One line per version, each with its fork's marker.
    assert!(text.contains("numpy==2.4.6 ; python_full_version < '3.12' \\\n"));
    assert!(text.contains("numpy==2.5.5 ; python_full_version >= '3.12' \\\n"));
    // Reached through pandas only.
    assert!(text.contains("six==1.17.0 ; sys_platform != 'emscripten' \\\n"));
    insta::assert_snapshot!("requirements_forked", text);
}

#[test]
fn pylock_toml_forked() {
    let text = to_pylock_toml(&forked(), &ExportSelection::all());
    let doc = text.parse::<toml_edit::DocumentMut>().expect("valid TOML");
    let numpy: Vec<(&str, &str)> = doc["packages"]
        .as_array_of_tables()
        .expect("packages")
        .iter()
        .filter(|p| p["name"].as_str() == Some("numpy"))
        .map(|p| {
            (
                p["version"].as_str().expect("a version"),
                p["marker"].as_str().expect("a marker"),
            )
        })
        .collect();
    assert_eq!(
        numpy,
        vec![
            ("2.4.6", "python_full_version < '3.12'"),
            ("2.5.5", "python_full_version >= '3.12'"),
        ]
    );
    insta::assert_snapshot!("pylock_forked", text);
}

#[test]
fn versioned_edges_lead_to_their_version_only() {
    // Only pandas needs numpy, and only its 2.5.5 on Python 3.12 and later,
    // only on Linux: 2.4.6 is not exported at all.
    let text = r#"version = 1
fingerprint = "x"

[options]
resolution = "highest"
prerelease = "allow"

[[package]]
name = "a"
version = "1"
source = { project = "." }
dependencies = [
    { name = "pandas", marker = "sys_platform == 'linux'" },
]

[[package]]
name = "numpy"
version = "2.4.6"
source = { registry = "https://pypi.org/simple" }
resolution-marker = "python_full_version < '3.12'"

[[package]]
name = "numpy"
version = "2.5.5"
source = { registry = "https://pypi.org/simple" }
resolution-marker = "python_full_version >= '3.12'"

[[package]]
name = "pandas"
version = "1"
source = { registry = "https://pypi.org/simple" }
dependencies = [
    { name = "numpy", version = "2.5.5", marker = "python_full_version >= '3.12'" },
]
"#;
    let lock = from_text(text, "one.lock").unwrap_or_else(|d| panic!("{}", common::render(&d)));
    let out = to_requirements_txt(&lock, &ExportSelection::default());
    assert!(!out.contains("numpy==2.4.6"), "{out}");
    assert!(
        out.contains("numpy==2.5.5 ; python_full_version >= '3.12' and sys_platform == 'linux'"),
        "{out}"
    );
}

/// A direct URL package is exported as `name @ url` (requirements.txt) and as
/// a PEP 751 `archive` (pylock.toml); its registry dependency as usual.
#[test]
fn direct_url_packages_are_exported_by_url() {
    let text = common::read_text("direct-url.lock");
    let lock = from_text(&text, "direct-url.lock").expect("fixture parses");
    // The text encoding writes the fixture back byte for byte.
    assert_eq!(pybun_lockfile::to_text(&lock), text);
    let all = ExportSelection::all();
    insta::assert_snapshot!("requirements_direct_url", to_requirements_txt(&lock, &all));
    let pylock = to_pylock_toml(&lock, &all);
    pylock.parse::<toml_edit::DocumentMut>().expect("valid TOML");
    insta::assert_snapshot!("pylock_direct_url", pylock);
}
