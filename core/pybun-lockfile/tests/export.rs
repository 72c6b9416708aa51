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
