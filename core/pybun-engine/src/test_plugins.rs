//! pytest plugins a suite gets without naming them: the `[pytest11]` entry
//! points of the distributions installed in the environment, which pytest
//! loads at start-up unless `PYTEST_DISABLE_PLUGIN_AUTOLOAD` is set or
//! `-p no:NAME` blocks one; and plugins named by `-p NAME` in `addopts` /
//! `PYTEST_ADDOPTS` or by `PYTEST_PLUGINS`. Each one the native engine
//! cannot stand in for makes the tests it reaches run under pytest, with a
//! [`CompatReason`] saying which plugin and where it is declared.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pybun_diagnostics::{Code, Diagnostic};
use pybun_ports::EntryPointsFile;
use pybun_testing::ModuleTests;

use crate::test_run::CompatReason;

/// The entry-point group pytest autoloads plugins from.
pub(crate) const PYTEST_GROUP: &str = "pytest11";

/// One `name = value` line of an `entry_points.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryPointLine {
    pub group: String,
    pub name: String,
    pub value: String,
    /// 1-based.
    pub line: usize,
}

/// A line a parser of a small line-based file cannot read (here: one
/// `importlib.metadata`, and so pytest, cannot read in `entry_points.txt`;
/// also the snapshot files' problems).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FormatProblem {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Parse `entry_points.txt` as `importlib.metadata` does: `[group]` headers,
/// `name = value` lines (split at the first `=`, both sides trimmed), blank
/// lines and lines starting with `#` or `;` skipped, lines before the first
/// header ignored. Every problem is collected, none stops the parse: a line
/// without `=` after a header (Python raises on it), and in the `pytest11`
/// group a value that is not `module[:attribute] [extras]` (pytest cannot
/// load it).
pub(crate) fn parse_entry_points(text: &str) -> (Vec<EntryPointLine>, Vec<FormatProblem>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let mut group: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let value = raw.trim();
        if value.is_empty() || value.starts_with('#') || value.starts_with(';') {
            continue;
        }
        if value.starts_with('[') && value.ends_with(']') {
            group = Some(value.trim_matches(|c| c == '[' || c == ']').to_string());
            continue;
        }
        let Some(group) = &group else { continue };
        let Some((name, target)) = value.split_once('=') else {
            problems.push(FormatProblem { line, message: format!("`{value}` is not `name = value`") });
            continue;
        };
        let (name, target) = (name.trim(), target.trim());
        if group == PYTEST_GROUP && !is_object_reference(target) {
            problems.push(FormatProblem { line, message: format!("`{target}` is not `module[:attribute]`, so pytest cannot load the plugin `{name}`") });
        }
        entries.push(EntryPointLine { group: group.clone(), name: name.to_string(), value: target.to_string(), line });
    }
    (entries, problems)
}

/// `importlib.metadata.EntryPoint`'s pattern: `[\w.]+\s*(:\s*[\w.]+\s*)?(\[.*\]\s*)?`.
fn is_object_reference(value: &str) -> bool {
    let reference = match value.split_once('[') {
        Some((reference, extras)) if extras.trim_end().ends_with(']') => reference,
        Some(_) => return false,
        None => value,
    };
    let dotted = |s: &str| !s.is_empty() && s.chars().all(|c| c == '.' || c == '_' || c.is_alphanumeric());
    match reference.split_once(':') {
        Some((module, attribute)) => dotted(module.trim()) && dotted(attribute.trim()),
        None => dotted(reference.trim()),
    }
}

/// What an autoloaded plugin can change in a suite the native engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PluginReach {
    /// Nothing a natively supported test relies on (see [`KNOWN_PLUGINS`]).
    Nothing,
    /// Only tests carrying one of these marks: their modules run under pytest.
    Marked(&'static [&'static str]),
    /// Only tests of modules importing one of these (or a submodule): those modules run under pytest.
    Importing(&'static [&'static str]),
    /// Any test: every module runs under pytest.
    Everything,
}

/// A plugin whose reach is known, by its distribution and entry-point names.
struct KnownPlugin {
    distribution: &'static str,
    entry_points: &'static [&'static str],
    reach: PluginReach,
}

/// The plugins known to leave the native engine's results as pytest's
/// (entirely, or outside what the [`PluginReach`] names). Fixtures a plugin
/// adds need no entry: a test requesting a fixture the native engine does not
/// know is rerun under pytest anyway. Any other autoloaded plugin reaches
/// everything.
///
/// - `pytest-xdist`: distributes only with `-n`/`--dist`/`--looponfail`,
///   which PyBun's own workers replace (its `worker_id` and `testrun_uid`
///   fixtures are requested, so rerun under pytest).
/// - `pytest-cov`: measures coverage only with `--cov`; outcomes are the same
///   (the native engine does not measure coverage: `--engine pytest` does).
/// - `pytest-mock`: its `mocker` fixtures; its `pytest_configure` only
///   rewords `unittest.mock`'s assertion messages.
/// - `anyio` (a dependency of httpx, starlette…): acts only on tests marked
///   `anyio` (or requesting its `anyio_backend` fixtures).
/// - `hypothesis`: its hooks act only on `@given` tests (a health check of
///   function-scoped fixtures, statistics, the `hypothesis` mark).
const KNOWN_PLUGINS: &[KnownPlugin] = &[
    KnownPlugin { distribution: "pytest-xdist", entry_points: &["xdist", "xdist.looponfail"], reach: PluginReach::Nothing },
    KnownPlugin { distribution: "pytest-cov", entry_points: &["pytest_cov"], reach: PluginReach::Nothing },
    KnownPlugin { distribution: "pytest-mock", entry_points: &["pytest_mock"], reach: PluginReach::Nothing },
    KnownPlugin { distribution: "anyio", entry_points: &["anyio"], reach: PluginReach::Marked(&["anyio"]) },
    KnownPlugin { distribution: "hypothesis", entry_points: &["hypothesispytest"], reach: PluginReach::Importing(&["hypothesis"]) },
];

fn reach_of(distribution: &str, entry_point: &str) -> PluginReach {
    KNOWN_PLUGINS
        .iter()
        .find(|known| known.distribution == distribution && known.entry_points.contains(&entry_point))
        .map_or(PluginReach::Everything, |known| known.reach)
}

/// How pytest is told about plugins, besides the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PluginOptions {
    /// `PYTEST_DISABLE_PLUGIN_AUTOLOAD` (set and non-empty) or `--disable-plugin-autoload`.
    pub autoload_disabled: bool,
    /// `-p no:NAME` (with `pytest_NAME`, as pytest blocks both).
    pub blocked: BTreeSet<String>,
    /// `-p NAME`: `(name, where)`.
    pub named: Vec<(String, Where)>,
}

/// Where an option was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Where {
    /// The configuration file's `addopts` (relative path, 1-based line).
    Config(String, usize),
    /// An environment variable.
    Variable(&'static str),
}

impl Where {
    fn file_and_line(&self) -> (String, usize) {
        match self {
            Self::Config(file, line) => (file.clone(), *line),
            Self::Variable(name) => (format!("${name}"), 0),
        }
    }
}

/// Read the plugin options of `addopts` (from the configuration file `config`,
/// whose text is `config_text`) and of `PYTEST_ADDOPTS` (appended after it,
/// as pytest does).
pub(crate) fn plugin_options(addopts: &str, config: Option<(&str, &str)>, pytest_addopts: Option<&str>, autoload_disabled: bool) -> PluginOptions {
    let mut options = PluginOptions { autoload_disabled, ..PluginOptions::default() };
    let config_where = config.map_or(Where::Variable("PYTEST_ADDOPTS"), |(file, text)| {
        let line = text.lines().position(|l| l.trim_start().starts_with("addopts")).map_or(1, |i| i + 1);
        Where::Config(file.to_string(), line)
    });
    let sources = [(addopts, config_where), (pytest_addopts.unwrap_or_default(), Where::Variable("PYTEST_ADDOPTS"))];
    for (text, place) in sources {
        let words = split_words(text);
        let mut index = 0;
        while index < words.len() {
            let word = words[index].as_str();
            let value = if word == "-p" {
                index += 1;
                words.get(index).map(String::as_str)
            } else if let Some(rest) = word.strip_prefix("-p").filter(|r| !r.is_empty() && !word.starts_with("--")) {
                Some(rest)
            } else {
                if word == "--disable-plugin-autoload" {
                    options.autoload_disabled = true;
                }
                None
            };
            index += 1;
            let Some(value) = value else { continue };
            match value.strip_prefix("no:") {
                Some(name) => {
                    options.blocked.insert(name.to_string());
                    if !name.starts_with("pytest_") {
                        options.blocked.insert(format!("pytest_{name}"));
                    }
                }
                None => options.named.push((value.to_string(), place.clone())),
            }
        }
    }
    options
}

/// Words of an option string, as pytest splits `addopts` (`shlex.split`;
/// on an unclosed quote, at whitespace).
fn split_words(text: &str) -> Vec<String> {
    pybun_testing::shlex_split(text).unwrap_or_else(|| text.split_whitespace().map(str::to_string).collect())
}

/// An autoloaded plugin found in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plugin {
    pub distribution: String,
    pub version: String,
    pub name: String,
    pub value: String,
    /// Its `entry_points.txt`.
    pub path: PathBuf,
    /// The entry's line.
    pub line: usize,
    pub reach: PluginReach,
}

/// The plugins pytest autoloads from `files` (none when autoloading is
/// off; blocked ones left out), and the problems of files pytest would
/// fail to read (only when it reads them: autoloading on).
pub(crate) fn autoloaded_plugins(files: &[EntryPointsFile], options: &PluginOptions) -> (Vec<Plugin>, Vec<(PathBuf, FormatProblem)>) {
    let mut plugins = Vec::new();
    let mut problems = Vec::new();
    if options.autoload_disabled {
        return (plugins, problems);
    }
    for file in files {
        let (entries, file_problems) = parse_entry_points(&file.text);
        problems.extend(file_problems.into_iter().map(|p| (file.path.clone(), p)));
        for entry in entries.into_iter().filter(|e| e.group == PYTEST_GROUP) {
            if options.blocked.contains(&entry.name) || plugins.iter().any(|p: &Plugin| p.name == entry.name) {
                // Blocked, or already registered under that name (pytest skips it).
                continue;
            }
            plugins.push(Plugin {
                reach: reach_of(&file.name, &entry.name),
                distribution: file.name.clone(),
                version: file.version.clone(),
                name: entry.name,
                value: entry.value,
                path: file.path.clone(),
                line: entry.line,
            });
        }
    }
    (plugins, problems)
}

/// What the plugins mean for the suite: the reasons, and the test files
/// that must run under pytest.
pub(crate) fn plugin_compat(
    plugins: &[Plugin],
    rootdir: &Path,
    test_files: &[String],
    modules: &BTreeMap<String, ModuleTests>,
) -> (Vec<CompatReason>, BTreeSet<String>) {
    let mut reasons = Vec::new();
    let mut files = BTreeSet::new();
    for plugin in plugins {
        let reached: Vec<&String> = match plugin.reach {
            PluginReach::Nothing => continue,
            PluginReach::Everything => test_files.iter().collect(),
            PluginReach::Marked(marks) => test_files
                .iter()
                .filter(|rel| {
                    modules.get(*rel).is_some_and(|m| m.items.iter().any(|item| item.marks.iter().any(|mark| marks.contains(&mark.name.as_str()))))
                })
                .collect(),
            PluginReach::Importing(names) => test_files
                .iter()
                .filter(|rel| {
                    modules.get(*rel).is_some_and(|m| {
                        m.imports.iter().any(|import| names.iter().any(|n| import == n || import.starts_with(&format!("{n}."))))
                    })
                })
                .collect(),
        };
        if reached.is_empty() {
            continue;
        }
        let what = format!(
            "pytest autoloads the plugin `{}` (`{}`) of {} {} installed in the environment",
            plugin.name,
            plugin.value,
            plugin.distribution,
            if plugin.version.is_empty() { "(no version)" } else { &plugin.version }
        );
        let reason = match plugin.reach {
            PluginReach::Marked(marks) => format!("{what}; it runs the tests marked `{}`, as in {}", marks.join("`, `"), list_files(&reached)),
            PluginReach::Importing(names) => format!("{what}; it acts on the tests of modules importing `{}`, as {}", names.join("`, `"), list_files(&reached)),
            _ => format!("{what}; it may change how any test runs (`-p no:{}` in addopts, or PYTEST_DISABLE_PLUGIN_AUTOLOAD=1, turns it off)", plugin.name),
        };
        let file = plugin.path.strip_prefix(rootdir).map_or_else(|_| plugin.path.display().to_string(), |p| p.to_string_lossy().replace('\\', "/"));
        reasons.push(CompatReason { file, line: plugin.line, reason });
        files.extend(reached.into_iter().cloned());
    }
    (reasons, files)
}

fn list_files(files: &[&String]) -> String {
    let shown: Vec<String> = files.iter().take(3).map(|f| format!("`{f}`")).collect();
    match files.len() {
        n if n > 3 => format!("{} and {} more", shown.join(", "), n - 3),
        _ => shown.join(", "),
    }
}

/// The reasons of plugins named by `-p NAME` and `PYTEST_PLUGINS` (every
/// test file runs under pytest), but those known to reach nothing.
pub(crate) fn named_plugin_reasons(options: &PluginOptions, pytest_plugins: Option<&str>) -> Vec<CompatReason> {
    let inert = |name: &str| KNOWN_PLUGINS.iter().any(|k| k.reach == PluginReach::Nothing && k.entry_points.contains(&name));
    let mut reasons = Vec::new();
    for (name, place) in &options.named {
        if inert(name) {
            continue;
        }
        let (file, line) = place.file_and_line();
        reasons.push(CompatReason { file, line, reason: format!("`-p {name}` loads the pytest plugin `{name}`") });
    }
    for name in pytest_plugins.unwrap_or_default().split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if inert(name) {
            continue;
        }
        let (file, line) = Where::Variable("PYTEST_PLUGINS").file_and_line();
        reasons.push(CompatReason { file, line, reason: format!("PYTEST_PLUGINS loads the pytest plugin `{name}`") });
    }
    reasons
}

/// The warnings for entry-point files pytest cannot read.
pub(crate) fn problem_warnings(problems: &[(PathBuf, FormatProblem)]) -> Vec<Diagnostic> {
    problems
        .iter()
        .map(|(path, problem)| {
            Diagnostic::warning(Code::TestPluginMetadata, format!("{}:{}: {}", path.display(), problem.line, problem.message))
                .in_file(path.display().to_string())
                .with_hint("pytest (through importlib.metadata) fails on this file at start-up: reinstall or remove the distribution")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(group, name, value, line)` entries and `(line, message)` problems.
    fn check(text: &str, entries: &[(&str, &str, &str, usize)], problems: &[(usize, &str)]) {
        let (got, got_problems) = parse_entry_points(text);
        let got: Vec<(&str, &str, &str, usize)> = got.iter().map(|e| (e.group.as_str(), e.name.as_str(), e.value.as_str(), e.line)).collect();
        assert_eq!(got, entries, "{text}");
        let got_problems: Vec<(usize, &str)> = got_problems.iter().map(|p| (p.line, p.message.as_str())).collect();
        assert_eq!(got_problems, problems, "{text}");
    }

    #[test]
    fn entry_points_parse_as_importlib_metadata_reads_them() {
        check(
            "[console_scripts]\nx = pkg.cli:main\n\n[pytest11]\n# a comment\n; another\nasyncio = pytest_asyncio.plugin\n  xdist.looponfail=xdist.looponfail  \n",
            &[
                ("console_scripts", "x", "pkg.cli:main", 2),
                ("pytest11", "asyncio", "pytest_asyncio.plugin", 7),
                ("pytest11", "xdist.looponfail", "xdist.looponfail", 8),
            ],
            &[],
        );
        // Before any header: ignored. Extras and an attribute are fine.
        check("stray line\n[pytest11]\np = pkg.mod:Plugin [extra]\n", &[("pytest11", "p", "pkg.mod:Plugin [extra]", 3)], &[]);
        check("", &[], &[]);
    }

    #[test]
    fn malformed_entry_points_collect_every_problem() {
        check(
            "[pytest11]\nno equals sign\ngood = good.plugin\nbad = not a module\n[console_scripts]\nalso bad\nweird = ()\n[pytest11\n",
            &[("pytest11", "good", "good.plugin", 3), ("pytest11", "bad", "not a module", 4), ("console_scripts", "weird", "()", 7)],
            &[
                (2, "`no equals sign` is not `name = value`"),
                (4, "`not a module` is not `module[:attribute]`, so pytest cannot load the plugin `bad`"),
                (6, "`also bad` is not `name = value`"),
                (8, "`[pytest11` is not `name = value`"),
            ],
        );
        // Bytes that are no text at all, unbalanced brackets: problems, no panic.
        check("[\u{fffd}]\n=\n[]\n]x[\n", &[("\u{fffd}", "", "", 2)], &[(4, "`]x[` is not `name = value`")]);
    }

    #[test]
    fn any_text_parses_without_panicking() {
        // Every sequence of up to four of these pieces: problems, never a panic.
        let pieces = ["[", "]", "=", "[pytest11]", "\n", " ", "a", ":", "#", "\u{e9}", "\r\n", "\u{fffd}", "[x"];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            texts = texts.iter().flat_map(|t| pieces.iter().map(move |p| format!("{t}{p}"))).collect();
            for text in &texts {
                let (entries, problems) = parse_entry_points(text);
                assert!(entries.iter().all(|e| e.line >= 1) && problems.iter().all(|p| p.line >= 1), "{text:?}");
            }
        }
    }

    fn file(name: &str, version: &str, text: &str) -> EntryPointsFile {
        EntryPointsFile {
            name: name.into(),
            version: version.into(),
            path: PathBuf::from(format!("/env/lib/python3.11/site-packages/{name}-{version}.dist-info/entry_points.txt")),
            text: text.into(),
        }
    }

    fn env() -> Vec<EntryPointsFile> {
        vec![
            file("anyio", "4.2.0", "[pytest11]\nanyio = anyio.pytest_plugin\n"),
            file("pytest-asyncio", "0.23.5", "[pytest11]\nasyncio = pytest_asyncio.plugin\n"),
            file("pytest-xdist", "3.8.0", "[pytest11]\nxdist = xdist.plugin\nxdist.looponfail = xdist.looponfail\n"),
            file("rich", "13.0", "[console_scripts]\nrich = rich:main\n"),
            file("broken", "1.0", "[pytest11]\noops\n"),
        ]
    }

    #[test]
    fn autoloaded_plugins_honour_blocking_and_the_switch() {
        let names = |options: &PluginOptions| -> Vec<(String, PluginReach)> {
            autoloaded_plugins(&env(), options).0.into_iter().map(|p| (p.name, p.reach)).collect()
        };
        let all = names(&PluginOptions::default());
        assert_eq!(
            all,
            [
                ("anyio".to_string(), PluginReach::Marked(&["anyio"])),
                ("asyncio".to_string(), PluginReach::Everything),
                ("xdist".to_string(), PluginReach::Nothing),
                ("xdist.looponfail".to_string(), PluginReach::Nothing),
            ]
        );
        let (_, problems) = autoloaded_plugins(&env(), &PluginOptions::default());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].1.line, 2);
        assert!(problems[0].0.ends_with("broken-1.0.dist-info/entry_points.txt"));

        // `-p no:asyncio` in addopts, `-pno:anyio` in PYTEST_ADDOPTS.
        let options = plugin_options("-ra -p no:asyncio", Some(("pytest.ini", "[pytest]\naddopts = -ra -p no:asyncio\n")), Some("-pno:anyio"), false);
        assert_eq!(names(&options).iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["xdist", "xdist.looponfail"]);
        // The environment variable, or pytest's option.
        assert!(autoloaded_plugins(&env(), &plugin_options("", None, None, true)).0.is_empty());
        assert!(autoloaded_plugins(&env(), &plugin_options("--disable-plugin-autoload", None, None, false)).1.is_empty());
        // `-p no:cov` blocks `pytest_cov` too, as pytest does.
        assert!(plugin_options("-p no:cov", None, None, false).blocked.contains("pytest_cov"));
    }

    #[test]
    fn named_plugins_are_reasons_where_they_are_named() {
        let options = plugin_options(
            "-p myplugin -p 'xdist' -p no:randomly",
            Some(("setup.cfg", "[metadata]\nname = x\n[tool:pytest]\naddopts = -p myplugin -p xdist -p no:randomly\n")),
            Some("-p other"),
            false,
        );
        let reasons = named_plugin_reasons(&options, Some("a.plugin, b"));
        let got: Vec<(String, usize, String)> = reasons.into_iter().map(|r| (r.file, r.line, r.reason)).collect();
        assert_eq!(
            got,
            [
                ("setup.cfg".to_string(), 4, "`-p myplugin` loads the pytest plugin `myplugin`".to_string()),
                ("$PYTEST_ADDOPTS".to_string(), 0, "`-p other` loads the pytest plugin `other`".to_string()),
                ("$PYTEST_PLUGINS".to_string(), 0, "PYTEST_PLUGINS loads the pytest plugin `a.plugin`".to_string()),
                ("$PYTEST_PLUGINS".to_string(), 0, "PYTEST_PLUGINS loads the pytest plugin `b`".to_string()),
            ]
        );
    }

    #[test]
    fn a_plugins_reach_decides_which_modules_run_under_pytest() {
        let config = pybun_testing::TestConfig::default();
        let sources = [
            ("tests/test_plain.py", "def test_a():\n    pass\n"),
            ("tests/test_anyio.py", "import pytest\n\n@pytest.mark.anyio\nasync def test_b():\n    pass\n"),
            ("tests/test_hyp.py", "from hypothesis import given, strategies as st\n\n@given(st.integers())\ndef test_c(x):\n    pass\n"),
        ];
        let modules: BTreeMap<String, ModuleTests> =
            sources.iter().map(|(rel, text)| ((*rel).to_string(), pybun_testing::discover_module(rel, text, &config))).collect();
        let test_files: Vec<String> = sources.iter().map(|(rel, _)| (*rel).to_string()).collect();
        let mut files = env();
        files.push(file("hypothesis", "6.100.0", "[pytest11]\nhypothesispytest = _hypothesis_pytestplugin\n"));
        let root = Path::new("/project");

        // anyio, hypothesis, xdist: only the marked and the importing module.
        let options = plugin_options("-p no:asyncio", None, None, false);
        let (plugins, _) = autoloaded_plugins(&files, &options);
        let (reasons, reached) = plugin_compat(&plugins, root, &test_files, &modules);
        assert_eq!(reached.into_iter().collect::<Vec<_>>(), ["tests/test_anyio.py", "tests/test_hyp.py"]);
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert_eq!(reasons[0].file, "/env/lib/python3.11/site-packages/anyio-4.2.0.dist-info/entry_points.txt");
        assert_eq!(reasons[0].line, 2);
        assert!(reasons[0].reason.contains("the plugin `anyio` (`anyio.pytest_plugin`) of anyio 4.2.0"), "{}", reasons[0].reason);
        assert!(reasons[0].reason.contains("marked `anyio`, as in `tests/test_anyio.py`"), "{}", reasons[0].reason);

        // pytest-asyncio reaches everything.
        let (plugins, _) = autoloaded_plugins(&files, &PluginOptions::default());
        let (reasons, reached) = plugin_compat(&plugins, root, &test_files, &modules);
        assert_eq!(reached.len(), 3);
        assert!(reasons.iter().any(|r| r.reason.contains("`asyncio` (`pytest_asyncio.plugin`) of pytest-asyncio 0.23.5") && r.reason.contains("`-p no:asyncio`")));

        // An environment inside the rootdir is shown relative to it.
        let (reasons, _) = plugin_compat(&plugins, Path::new("/env"), &test_files, &modules);
        assert!(reasons.iter().any(|r| r.file == "lib/python3.11/site-packages/pytest-asyncio-0.23.5.dist-info/entry_points.txt"));
    }
}
