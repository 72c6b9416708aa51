//! `pybun.lock`: golden round trip, broken inputs, forward compatibility.

mod common;

use pybun_diagnostics::Code;
use pybun_lockfile::{
    FORMAT_VERSION, LockedDependency, Source, detect_and_parse, from_binary, from_text, to_binary,
    to_text,
};

#[test]
fn golden_fixture_round_trips_byte_for_byte() {
    let text = common::read_text("basic.lock");
    let lock = from_text(&text, "basic.lock").unwrap_or_else(|d| panic!("{}", common::render(&d)));
    assert_eq!(lock.version, FORMAT_VERSION);
    assert_eq!(lock.packages.len(), 13);
    assert_eq!(lock.project().map(|p| p.name.as_str()), Some("demo"));
    assert_eq!(
        lock.package("iniconfig").map(|p| &p.source),
        Some(&Source::FindLinks("https://example.com/wheels/".into()))
    );
    assert_eq!(to_text(&lock), text);
    // and through the binary encoding
    let again = detect_and_parse(&to_binary(&lock), "basic.lockb").expect("binary parses");
    assert_eq!(again, lock);
    assert_eq!(
        detect_and_parse(text.as_bytes(), "basic.lock").expect("text parses"),
        lock
    );
}

#[test]
fn forked_fixture_round_trips_byte_for_byte() {
    let text = common::read_text("forked.lock");
    let lock = from_text(&text, "forked.lock").unwrap_or_else(|d| panic!("{}", common::render(&d)));
    assert_eq!(lock.packages.len(), 7);
    let numpy: Vec<(&str, Option<&str>)> = lock
        .packages_named("numpy")
        .map(|p| (p.version.as_str(), p.resolution_marker.as_deref()))
        .collect();
    assert_eq!(
        numpy,
        vec![
            ("2.4.6", Some("python_full_version < '3.12'")),
            ("2.5.5", Some("python_full_version >= '3.12'")),
        ]
    );
    // `package` keeps returning the first version.
    assert_eq!(
        lock.package("numpy").map(|p| p.version.as_str()),
        Some("2.4.6")
    );
    assert_eq!(lock.packages_named("six").count(), 1);
    assert_eq!(lock.packages_named("nothing").count(), 0);
    // Versioned edges lead to their version.
    let project = lock.project().expect("a project");
    let targets: Vec<(&str, &str)> = project
        .dependencies
        .iter()
        .map(|dep| {
            let target = lock.target(dep).expect("every edge has a target");
            (target.name.as_str(), target.version.as_str())
        })
        .collect();
    assert_eq!(
        targets,
        vec![("numpy", "2.4.6"), ("numpy", "2.5.5"), ("pandas", "2.3.1")]
    );
    assert_eq!(
        lock.target(&LockedDependency {
            name: "numpy".into(),
            version: Some("9.9".into()),
            ..LockedDependency::default()
        }),
        None
    );

    assert_eq!(to_text(&lock), text);
    // and through the binary encoding, back to the same text
    let again = from_binary(&to_binary(&lock), "forked.lockb").expect("binary parses");
    assert_eq!(again, lock);
    assert_eq!(to_text(&again), text);
}

#[test]
fn a_version_on_an_edge_to_a_single_version_is_accepted() {
    // Writers only set `version` when it is needed, but a redundant one is
    // unambiguous and reads (and round-trips) as written.
    let text = common::read_text("basic.lock");
    let edited = text.replacen(
        "{ name = \"blinker\" }",
        "{ name = \"blinker\", version = \"1.8.2\" }",
        1,
    );
    assert_ne!(edited, text);
    let lock =
        from_text(&edited, "basic.lock").unwrap_or_else(|d| panic!("{}", common::render(&d)));
    let flask = lock.package("flask").expect("flask");
    assert_eq!(flask.dependencies[0].version.as_deref(), Some("1.8.2"));
    assert_eq!(to_text(&lock), edited);
}

#[test]
fn unknown_keys_are_ignored() {
    let text = common::read_text("basic.lock");
    let lock = from_text(&text, "basic.lock").expect("fixture parses");
    let extended = text
        .replacen("fingerprint =", "future-top = [1, 2]\nfingerprint =", 1)
        .replacen("[options]\n", "[options]\nfuture-option = true\n", 1)
        .replacen(
            "source = { registry",
            "future = { a = 1 }\nsource = { mirror = \"x\", registry",
            1,
        )
        .replacen(
            "{ name = \"blinker\" }",
            "{ name = \"blinker\", future = 1 }",
            1,
        )
        .replacen("size = 9456,", "size = 9456, future = \"x\",", 1)
        + "\n[future-table]\nkey = \"value\"\n";
    assert_ne!(extended, text);
    assert_eq!(
        from_text(&extended, "basic.lock").expect("extended parses"),
        lock
    );
}

#[test]
fn unsorted_input_is_canonicalized() {
    let text = common::read_text("basic.lock");
    let lock = from_text(&text, "basic.lock").expect("fixture parses");
    // Move the first package to the end.
    let first = text.find("[[package]]").expect("a package");
    let second = text[first + 1..].find("[[package]]").expect("two packages") + first + 1;
    let moved = format!(
        "{}{}\n{}",
        &text[..first],
        &text[second..],
        &text[first..second]
    );
    assert_eq!(from_text(&moved, "basic.lock").expect("moved parses"), lock);
}

/// Every file in `fixtures/lockfile/broken/` starts with
/// `# expect: CODE LINE:COLUMN…`: the code of every diagnostic and where each
/// one points, in order. The rendered diagnostics are snapshotted too.
#[test]
fn broken_inputs_give_the_expected_diagnostics() {
    let files = common::list("broken");
    assert!(files.len() >= 10, "the broken fixtures are missing");
    let mut failures = Vec::new();
    for (name, bytes) in files {
        let first_line = bytes.split(|&b| b == b'\n').next().expect("a first line");
        let expect = std::str::from_utf8(first_line).expect("the expect line is UTF-8");
        let expect = expect
            .strip_prefix("# expect: ")
            .unwrap_or_else(|| panic!("{name}: no `# expect:` line"));
        let mut words = expect.split_whitespace();
        let code = words.next().unwrap_or_else(|| panic!("{name}: no code"));
        let positions: Vec<String> = words.map(str::to_owned).collect();

        let diagnostics = match detect_and_parse(&bytes, &name) {
            Ok(_) => panic!("{name}: parsed, but should fail"),
            Err(diagnostics) => diagnostics,
        };
        assert!(!diagnostics.is_empty(), "{name}: no diagnostics");
        insta::assert_snapshot!(format!("broken__{name}"), common::render(&diagnostics));
        for diagnostic in &diagnostics {
            if diagnostic.code.as_str() != code {
                failures.push(format!(
                    "{name}: expected {code}, got {}",
                    diagnostic.code.as_str()
                ));
            }
            let location = diagnostic.location.as_ref().expect("a location");
            assert_eq!(location.file, name);
        }
        let got: Vec<String> = diagnostics
            .iter()
            .map(|d| {
                let span = d
                    .location
                    .as_ref()
                    .and_then(|l| l.span)
                    .expect("text diagnostics have a span");
                format!("{}:{}", span.line, span.column)
            })
            .collect();
        if got != positions {
            failures.push(format!(
                "{name}: expected {}, got {}",
                positions.join(" "),
                got.join(" ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn version_is_checked_before_anything_else() {
    let diagnostics = from_text("version = 2\n", "pybun.lock").expect_err("newer version");
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].code, Code::LockVersion);
    assert!(!diagnostics[0].hints.is_empty());
}

#[test]
fn every_truncation_of_the_golden_fixture_is_rejected_or_complete() {
    // Cutting the text anywhere gives either an error with a position, or
    // (at a line boundary that happens to end an entry) a smaller valid lock:
    // never a panic.
    for name in ["basic.lock", "forked.lock"] {
        let text = common::read_text(name);
        for end in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            if let Err(diagnostics) = from_text(&text[..end], name) {
                for d in diagnostics {
                    assert_eq!(d.code, Code::LockSyntax);
                    assert!(d.location.and_then(|l| l.span).is_some());
                }
            }
        }
    }
}

#[test]
fn text_the_toml_parser_panics_on_is_a_clear_error() {
    // `toml_edit` 0.23 panics inside its parser on this text.
    let errors = from_text(",\n==a\n.=", "pybun.lock").expect_err("not a lock");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, Code::LockSyntax);
    assert!(errors[0].message.contains("not valid TOML"), "{}", errors[0].message);
}
