//! Scenario tests as data for PEP 723 script metadata (`fixtures/pep723/*.py`)
//! and tasks (`fixtures/tasks/*.toml`); snapshots are in `tests/snapshots/`.
//!
//! Each snapshot shows what was read (with `line:col` of spans in the original
//! file) and the diagnostics, one per line:
//! `file:line:col CODE severity [underlined text] message | hint | hint`.

use std::path::Path;

use pybun_diagnostics::Diagnostic;
use pybun_project::{
    TaskAction, parse_script, parse_tasks, script_fingerprint_input, split_command, task_plan,
};

fn render_diagnostics(input: &str, diagnostics: &[Diagnostic], out: &mut String) {
    for d in diagnostics {
        let location = d.location.as_ref().expect("diagnostics have a file");
        match location.span {
            Some(span) => {
                let mut under: String = input[span.start..span.end]
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                if under.chars().count() > 40 {
                    under = under.chars().take(40).collect::<String>() + "…";
                }
                out.push_str(&format!(
                    "{}:{}:{} {} {} [{under}]",
                    location.file,
                    span.line,
                    span.column,
                    d.code.as_str(),
                    d.severity.as_str()
                ));
            }
            None => out.push_str(&format!(
                "{} {} {}",
                location.file,
                d.code.as_str(),
                d.severity.as_str()
            )),
        }
        out.push(' ');
        out.push_str(&d.message);
        for hint in &d.hints {
            out.push_str(" | ");
            out.push_str(hint);
        }
        out.push('\n');
    }
}

/// What `parse_script` reads from `input`, and its diagnostics.
fn render_script(input: &str, file: &str) -> String {
    let parsed = parse_script(input, file);
    let mut out = String::new();
    match &parsed.metadata {
        None => out.push_str("metadata: none\n"),
        Some(metadata) => {
            out.push_str(&format!("block at line {}\n", metadata.block_start_line));
            if let Some(rp) = &metadata.requires_python {
                out.push_str(&format!(
                    "requires-python {} at {}:{} {}\n",
                    rp.value,
                    rp.span.line,
                    rp.span.column,
                    &input[rp.span.start..rp.span.end]
                ));
            }
            for dep in &metadata.dependencies {
                out.push_str(&format!(
                    "dependency {} at {}:{} {}\n",
                    dep.value,
                    dep.span.line,
                    dep.span.column,
                    &input[dep.span.start..dep.span.end]
                ));
            }
            let tool = &metadata.tool_pybun;
            if let Some(url) = &tool.index_url {
                out.push_str(&format!("index-url {url}\n"));
            }
            for url in &tool.extra_index_urls {
                out.push_str(&format!("extra-index-url {url}\n"));
            }
            out.push_str("fingerprint input:\n");
            for line in script_fingerprint_input(metadata).lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    out.push_str("diagnostics:\n");
    render_diagnostics(input, &parsed.diagnostics, &mut out);
    out
}

/// The tasks `parse_tasks` reads from `input`, the plan of each, and the diagnostics.
fn render_tasks(input: &str, file: &str) -> String {
    let parsed = parse_tasks(input, file);
    let mut out = String::new();
    for (name, task) in &parsed.tasks {
        out.push_str(&format!(
            "task {name} ({}:{})",
            task.name_span.line, task.name_span.column
        ));
        match &task.action {
            TaskAction::Command(argv) => out.push_str(&format!(" cmd {:?}", argv.value)),
            TaskAction::Sequence(items) => out.push_str(&format!(
                " sequence {:?}",
                items.iter().map(|i| &i.value).collect::<Vec<_>>()
            )),
        }
        if !task.depends.is_empty() {
            out.push_str(&format!(
                " depends {:?}",
                task.depends.iter().map(|d| &d.value).collect::<Vec<_>>()
            ));
        }
        if !task.env.is_empty() {
            out.push_str(&format!(" env {:?}", task.env));
        }
        if let Some(help) = &task.help {
            out.push_str(&format!(" help {help:?}"));
        }
        out.push('\n');
    }
    for name in parsed.tasks.keys() {
        for extra in [&[][..], &["--extra".to_owned()][..]] {
            out.push_str(&format!("plan {name} {extra:?}:"));
            match task_plan(&parsed.tasks, name, extra) {
                Ok(steps) => {
                    for step in steps {
                        out.push_str(&format!("\n  {}: {:?}", step.task, step.argv));
                        if !step.env.is_empty() {
                            out.push_str(&format!(" env {:?}", step.env));
                        }
                    }
                }
                Err(d) => out.push_str(&format!(" {} {}", d.code.as_str(), d.message)),
            }
            out.push('\n');
        }
    }
    out.push_str("diagnostics:\n");
    render_diagnostics(input, &parsed.diagnostics, &mut out);
    out
}

#[expect(
    clippy::disallowed_methods,
    reason = "the test reads its fixture files"
)]
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn check(path: &Path) -> String {
    let input = read(path);
    let file = path.file_name().unwrap().to_str().unwrap();
    if file.ends_with(".py") {
        render_script(&input, file)
    } else {
        render_tasks(&input, file)
    }
}

fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

#[test]
fn pep723() {
    settings().bind(|| {
        insta::glob!("../../../fixtures/pep723", "*.py", |path| {
            insta::assert_snapshot!(check(path));
        })
    });
}

#[test]
fn tasks() {
    settings().bind(|| {
        insta::glob!("../../../fixtures/tasks", "*.toml", |path| {
            insta::assert_snapshot!(check(path));
        })
    });
}

#[test]
fn fingerprint_ignores_order_spelling_and_spans() {
    let a = "# /// script\n# dependencies = [\"Rich >= 13\", \"requests\"]\n# ///\n";
    let b = "x = 1\n# /// script\n# dependencies = [\n#   \"requests\",\n#   \"rich>=13\",\n# ]\n# ///\n";
    let fa = script_fingerprint_input(&parse_script(a, "a.py").metadata.unwrap());
    let fb = script_fingerprint_input(&parse_script(b, "b.py").metadata.unwrap());
    assert_eq!(fa, fb);
    let c = "# /// script\n# dependencies = [\"rich>=13\", \"requests\"]\n# requires-python = \">=3.12\"\n# ///\n";
    let fc = script_fingerprint_input(&parse_script(c, "c.py").metadata.unwrap());
    assert_ne!(fa, fc);
}

#[test]
fn closing_line_is_the_last_of_the_comment_run() {
    // The spec: `# ///` ends the block only when the next line is not a
    // content line, so the first `# ///` here is content (and not TOML).
    let input = "# /// script\n# dependencies = [\"a\"]\n# ///\n# [tool.x]\n# ///\nprint()\n";
    let parsed = parse_script(input, "s.py");
    assert_eq!(parsed.diagnostics.len(), 1, "{:#?}", parsed.diagnostics);
    assert_eq!(parsed.diagnostics[0].code.as_str(), "PB0101");
    let span = parsed.diagnostics[0]
        .location
        .as_ref()
        .unwrap()
        .span
        .unwrap();
    assert_eq!(span.line, 3);
    // A lone `#` line is empty content; the block still closes at the last `# ///`.
    let input = "# /// script\n# dependencies = []\n#\n# ///\n";
    let parsed = parse_script(input, "s.py");
    assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
    assert!(parsed.metadata.is_some());
}

#[test]
fn split_command_rules() {
    let split = |s: &str| split_command(s).unwrap();
    assert_eq!(split("  a  b\tc\n"), ["a", "b", "c"]);
    assert_eq!(
        split(r#"a 'b c' "d \"e\" \\ \n" f\ g"#),
        ["a", "b c", r#"d "e" \ \n"#, "f g"]
    );
    assert_eq!(split(r#"--x="a b"'c'd"#), ["--x=a bcd"]);
    assert_eq!(split("'' \"\""), ["", ""]);
    assert_eq!(split("a \\\nb"), ["a", "b"]);
    assert_eq!(split("echo $HOME *.py ~"), ["echo", "$HOME", "*.py", "~"]);
    assert_eq!(split(""), Vec::<String>::new());
    let err = split_command("echo \"x").unwrap_err();
    assert_eq!((err.offset, err.len), (5, 1));
    assert!(split_command("echo x\\").is_err());
}

#[test]
fn plan_errors() {
    let parsed = parse_tasks(
        "[tool.pybun.scripts]\ntest = \"pytest\"\n",
        "pyproject.toml",
    );
    let err = task_plan(&parsed.tasks, "tset", &[]).unwrap_err();
    assert_eq!(err.code.as_str(), "PB0114");
    assert_eq!(err.hints[0], "did you mean `test`?");
}
