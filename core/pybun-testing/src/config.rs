//! pytest's configuration: which file wins, how its values are read, and the
//! collection predicates that depend on it.

use pybun_diagnostics::{Diagnostic, Span};

use crate::codes;
use crate::glob::{fnmatch, fnmatch_ex, has_glob};

/// The config files pytest looks for in one directory, in precedence order
/// (pytest 9's `CONFIG_LOADERS_BY_NAME`).
pub const CONFIG_FILES: [&str; 7] = [
    "pytest.toml",
    ".pytest.toml",
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
];

/// pytest's default `norecursedirs`.
pub const DEFAULT_NORECURSEDIRS: [&str; 9] = [
    "*.egg",
    ".*",
    "_darcs",
    "build",
    "CVS",
    "dist",
    "node_modules",
    "venv",
    "{arch}",
];

/// The collection settings of one pytest configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestConfig {
    /// Globs for test module file names (`test_*.py *_test.py`).
    pub python_files: Vec<String>,
    /// Prefixes or globs for test class names (`Test`).
    pub python_classes: Vec<String>,
    /// Prefixes or globs for test function and method names (`test`).
    pub python_functions: Vec<String>,
    /// Where to look when no paths are given (relative to the rootdir).
    pub testpaths: Vec<String>,
    /// Globs of directories not to recurse into.
    pub norecursedirs: Vec<String>,
    /// Registered markers, one `name: description` line each.
    pub markers: Vec<String>,
    /// `addopts` as written (a TOML list is joined with spaces).
    pub addopts: String,
    /// Fixtures used by every test.
    pub usefixtures: Vec<String>,
    /// `collect_imported_tests` (default true).
    pub collect_imported_tests: bool,
    /// Options present in the file that discovery does not interpret, by name
    /// (e.g. `strict`, `python_paths`), kept so callers can decide to defer to pytest.
    pub other_options: Vec<String>,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            python_files: vec!["test_*.py".into(), "*_test.py".into()],
            python_classes: vec!["Test".into()],
            python_functions: vec!["test".into()],
            testpaths: Vec::new(),
            norecursedirs: DEFAULT_NORECURSEDIRS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            markers: Vec::new(),
            addopts: String::new(),
            usefixtures: Vec::new(),
            collect_imported_tests: true,
            other_options: Vec::new(),
        }
    }
}

/// One raw value: INI text, or a TOML list / scalar.
#[derive(Debug, Clone)]
enum RawValue {
    Text(String),
    List(Vec<String>),
}

impl TestConfig {
    /// Reads the configuration from the files of one directory, given as
    /// `(file name, text)`: the first of [`CONFIG_FILES`] that holds pytest
    /// configuration wins (`pytest.ini`/`pytest.toml` always do, even empty).
    /// Returns the config, the name of the file it came from, and problems.
    #[must_use]
    pub fn from_files(files: &[(&str, &str)]) -> (TestConfig, Option<String>, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        for name in CONFIG_FILES {
            let Some((_, text)) = files.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            let found = match name {
                "pytest.toml" | ".pytest.toml" => Some(
                    toml_section(name, text, &["pytest"], &mut diagnostics).unwrap_or_default(),
                ),
                "pyproject.toml" => pyproject_section(name, text, &mut diagnostics),
                "pytest.ini" | ".pytest.ini" => {
                    Some(ini_section(name, text, "pytest", &mut diagnostics).unwrap_or_default())
                }
                "tox.ini" => ini_section(name, text, "pytest", &mut diagnostics),
                _ => {
                    let found = ini_section(name, text, "tool:pytest", &mut diagnostics);
                    if found.is_none()
                        && ini_section(name, text, "pytest", &mut Vec::new()).is_some()
                    {
                        diagnostics.push(
                            Diagnostic::error(
                                codes::CONFIG_INVALID,
                                "`[pytest]` in `setup.cfg` is not supported by pytest",
                            )
                            .in_file(name)
                            .with_hint("rename the section to `[tool:pytest]`"),
                        );
                    }
                    found
                }
            };
            if let Some(values) = found {
                let config = Self::from_values(name, &values, &mut diagnostics);
                return (config, Some(name.to_owned()), diagnostics);
            }
        }
        (TestConfig::default(), None, diagnostics)
    }

    fn from_values(
        file: &str,
        values: &[(String, RawValue)],
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Self {
        let mut config = TestConfig::default();
        for (key, value) in values {
            let args = match value {
                RawValue::Text(text) => shlex_split(text).unwrap_or_else(|| {
                    diagnostics.push(
                        Diagnostic::error(
                            codes::CONFIG_INVALID,
                            format!("`{key}` has an unclosed quote"),
                        )
                        .in_file(file),
                    );
                    text.split_whitespace().map(str::to_owned).collect()
                }),
                RawValue::List(list) => list.clone(),
            };
            match key.as_str() {
                "python_files" => config.python_files = args.clone(),
                "python_classes" => config.python_classes = args.clone(),
                "python_functions" => config.python_functions = args.clone(),
                "testpaths" => config.testpaths = args.clone(),
                "norecursedirs" => config.norecursedirs = args.clone(),
                "usefixtures" => config.usefixtures = args.clone(),
                "markers" => {
                    config.markers = match value {
                        RawValue::Text(text) => text
                            .lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        RawValue::List(list) => list.clone(),
                    }
                }
                "addopts" => {
                    config.addopts = match value {
                        RawValue::Text(text) => text.clone(),
                        RawValue::List(list) => list.join(" "),
                    }
                }
                "collect_imported_tests" => {
                    let text = match value {
                        RawValue::Text(text) => text.trim().to_ascii_lowercase(),
                        RawValue::List(_) => String::new(),
                    };
                    match text.as_str() {
                        "true" | "1" | "yes" | "on" => config.collect_imported_tests = true,
                        "false" | "0" | "no" | "off" => config.collect_imported_tests = false,
                        _ => diagnostics.push(
                            Diagnostic::error(
                                codes::CONFIG_INVALID,
                                "`collect_imported_tests` is not a boolean",
                            )
                            .in_file(file),
                        ),
                    }
                }
                _ => config.other_options.push(key.clone()),
            }
        }
        config
    }

    /// Would pytest collect this `.py` file as a test module (by `python_files`)?
    /// `relative_path` uses `/` separators.
    #[must_use]
    pub fn collects_file(&self, relative_path: &str) -> bool {
        relative_path.ends_with(".py")
            && self
                .python_files
                .iter()
                .any(|p| fnmatch_ex(p, relative_path))
    }

    /// Would pytest recurse into a directory of this name (`__pycache__` and
    /// `norecursedirs`)? Virtual environments are checked by [`is_virtualenv_dir`].
    #[must_use]
    pub fn recurses_into(&self, dir_path: &str) -> bool {
        let name = dir_path.rsplit('/').next().unwrap_or(dir_path);
        name != "__pycache__" && !self.norecursedirs.iter().any(|p| fnmatch_ex(p, dir_path))
    }

    /// Does a class name match `python_classes`?
    #[must_use]
    pub fn matches_class(&self, name: &str) -> bool {
        matches_prefix_or_glob(&self.python_classes, name)
    }

    /// Does a function or method name match `python_functions`?
    #[must_use]
    pub fn matches_function(&self, name: &str) -> bool {
        matches_prefix_or_glob(&self.python_functions, name)
    }
}

/// pytest's `_matches_prefix_or_glob_option`.
fn matches_prefix_or_glob(options: &[String], name: &str) -> bool {
    options.iter().any(|option| {
        name.starts_with(option.as_str()) || (has_glob(option) && fnmatch(name, option))
    })
}

/// pytest's `_in_venv`: a directory is a virtual environment when it holds a
/// `pyvenv.cfg` file, or a conda environment's `conda-meta/history`. `entries`
/// are the directory's `(name, is_dir)`; `conda_meta_has_history` tells
/// whether `conda-meta/history` exists (only asked when `conda-meta` is there).
#[must_use]
pub fn is_virtualenv_dir(
    entries: &[(String, bool)],
    conda_meta_has_history: impl FnOnce() -> bool,
) -> bool {
    entries
        .iter()
        .any(|(name, is_dir)| name == "pyvenv.cfg" && !is_dir)
        || (entries
            .iter()
            .any(|(name, is_dir)| name == "conda-meta" && *is_dir)
            && conda_meta_has_history())
}

/// Python's `shlex.split` (POSIX mode, no comments); `None` on an unclosed quote.
#[must_use]
pub fn shlex_split(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some(&n @ ('\\' | '"' | '$' | '`' | '\n')) => {
                                chars.next();
                                word.push(n);
                            }
                            _ => word.push('\\'),
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// Parses INI text like `iniconfig` and returns the keys of `section`
/// (`None` when the section is absent).
fn ini_section(
    file: &str,
    text: &str,
    section: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, RawValue)>> {
    let mut current: Option<String> = None;
    let mut found = false;
    let mut values: Vec<(String, String)> = Vec::new();
    let mut offset = 0;
    for raw in text.split_inclusive('\n') {
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        let line = line.trim_end();
        if line.starts_with('[') {
            let mut header = line;
            for c in ['#', ';'] {
                header = header.split(c).next().unwrap_or("").trim_end();
            }
            if let Some(name) = header.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                current = Some(name.to_owned());
                if name == section {
                    found = true;
                }
                continue;
            }
            if current.as_deref() == Some(section) || current.is_none() {
                diagnostics.push(ini_error(
                    file,
                    text,
                    line_start,
                    line,
                    "a section header is not closed",
                ));
            }
            continue;
        }
        let in_section = current.as_deref() == Some(section);
        if line.starts_with(char::is_whitespace) {
            if in_section {
                match values.last_mut() {
                    Some((_, value)) => {
                        if !value.is_empty() {
                            value.push('\n');
                        }
                        value.push_str(line.trim());
                    }
                    None => diagnostics.push(ini_error(
                        file,
                        text,
                        line_start,
                        line,
                        "a continuation line has no key",
                    )),
                }
            }
            continue;
        }
        let pair = match line.split_once('=') {
            Some((name, value)) if !name.contains(':') => Some((name, value)),
            _ => line
                .split_once(": ")
                .or_else(|| line.strip_suffix(':').map(|name| (name, ""))),
        };
        match pair {
            Some((name, value)) => {
                if in_section {
                    let name = name.trim().to_owned();
                    values.retain(|(n, _)| *n != name);
                    values.push((name, value.trim().to_owned()));
                }
            }
            None => {
                if in_section {
                    diagnostics.push(ini_error(
                        file,
                        text,
                        line_start,
                        line,
                        "a line is neither `key = value` nor a section",
                    ));
                }
            }
        }
    }
    found.then(|| {
        values
            .into_iter()
            .map(|(k, v)| (k, RawValue::Text(v)))
            .collect()
    })
}

fn ini_error(file: &str, text: &str, start: usize, line: &str, message: &str) -> Diagnostic {
    Diagnostic::error(codes::CONFIG_INVALID, message)
        .at(file, Span::in_source(text, start, start + line.len()))
        .with_label(format!("unexpected line `{}`", line.trim()))
}

fn parse_toml(
    file: &str,
    text: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<toml_edit::DocumentMut> {
    // `toml_edit` panics on a few invalid texts (e.g. `",\n==a\n.="`).
    let Ok(parsed) = std::panic::catch_unwind(|| text.parse::<toml_edit::DocumentMut>()) else {
        diagnostics.push(
            Diagnostic::error(codes::TOML_SYNTAX, format!("`{file}` is not valid TOML"))
                .in_file(file)
                .with_label("the TOML parser cannot read it"),
        );
        return None;
    };
    match parsed {
        Ok(doc) => Some(doc),
        Err(err) => {
            let range = err.span().unwrap_or(0..0);
            diagnostics.push(
                Diagnostic::error(codes::TOML_SYNTAX, format!("`{file}` is not valid TOML"))
                    .at(file, Span::in_source(text, range.start, range.end))
                    .with_label(err.message().to_owned()),
            );
            None
        }
    }
}

fn table_values(table: &dyn toml_edit::TableLike) -> Vec<(String, RawValue)> {
    let mut values = Vec::new();
    for (key, item) in table.iter() {
        let value = match item.as_value() {
            Some(toml_edit::Value::Array(array)) => RawValue::List(
                array
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map_or_else(|| v.to_string().trim().to_owned(), str::to_owned)
                    })
                    .collect(),
            ),
            Some(toml_edit::Value::String(s)) => RawValue::Text(s.value().clone()),
            Some(other) => RawValue::Text(other.to_string().trim().to_owned()),
            None => continue,
        };
        values.push((key.to_owned(), value));
    }
    values
}

fn toml_section(
    file: &str,
    text: &str,
    path: &[&str],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, RawValue)>> {
    let doc = parse_toml(file, text, diagnostics)?;
    let mut item: &toml_edit::Item = doc.as_item();
    for key in path {
        item = item.get(key)?;
    }
    item.as_table_like().map(table_values)
}

/// `[tool.pytest]` (native TOML, pytest 9) or `[tool.pytest.ini_options]`.
fn pyproject_section(
    file: &str,
    text: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, RawValue)>> {
    let doc = parse_toml(file, text, diagnostics)?;
    let tool_pytest = doc.get("tool")?.get("pytest")?.as_table_like()?;
    let native: Vec<(String, RawValue)> = table_values(tool_pytest);
    let ini = tool_pytest
        .get("ini_options")
        .and_then(toml_edit::Item::as_table_like)
        .map(table_values);
    match ini {
        Some(ini) => {
            if !native.is_empty() {
                diagnostics.push(
                    Diagnostic::error(
                        codes::CONFIG_INVALID,
                        "`[tool.pytest]` and `[tool.pytest.ini_options]` cannot be used together",
                    )
                    .in_file(file),
                );
            }
            Some(ini)
        }
        None if native.is_empty() => None,
        None => Some(native),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pyproject_the_toml_parser_panics_on_is_a_diagnostic() {
        let (config, _, diagnostics) = TestConfig::from_files(&[("pyproject.toml", ",\n==a\n.=")]);
        assert_eq!(config, TestConfig::default());
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(diagnostics[0].message.contains("not valid TOML"));
    }

    #[test]
    fn defaults() {
        let (config, source, diagnostics) = TestConfig::from_files(&[("README.md", "x")]);
        assert_eq!(config, TestConfig::default());
        assert!(source.is_none() && diagnostics.is_empty());
        assert!(config.collects_file("tests/test_a.py"));
        assert!(config.collects_file("a_test.py"));
        assert!(!config.collects_file("tests/helper.py"));
        assert!(!config.collects_file("conftest.py"));
        assert!(config.recurses_into("src"));
        assert!(!config.recurses_into("pkg/.git"));
        assert!(!config.recurses_into("node_modules"));
        assert!(!config.recurses_into("x/__pycache__"));
        assert!(config.matches_class("TestX") && !config.matches_class("XTest"));
        assert!(config.matches_function("test") && config.matches_function("tests_x"));
    }

    #[test]
    fn precedence_and_sections() {
        let files = [
            ("setup.cfg", "[tool:pytest]\npython_files = check_*.py\n"),
            ("tox.ini", "[tox]\nenvlist = py3\n"),
            ("pyproject.toml", "[project]\nname = 'x'\n"),
        ];
        let (config, source, diagnostics) = TestConfig::from_files(&files);
        assert_eq!(source.as_deref(), Some("setup.cfg"));
        assert!(diagnostics.is_empty());
        assert_eq!(config.python_files, ["check_*.py"]);

        let files = [
            ("pytest.ini", "[other]\n"),
            (
                "pyproject.toml",
                "[tool.pytest.ini_options]\npython_files = ['x_*.py']\n",
            ),
        ];
        let (config, source, _) = TestConfig::from_files(&files);
        assert_eq!(source.as_deref(), Some("pytest.ini"));
        assert_eq!(config, TestConfig::default());
    }

    #[test]
    fn ini_values() {
        let text = "[pytest]\naddopts = -ra -q\nmarkers =\n    slow: slow tests\n    db\n\
                    python_classes = Check *Suite\ntestpaths = tests \"other dir\"\nnorecursedirs = .* legacy\n";
        let (config, _, diagnostics) = TestConfig::from_files(&[("tox.ini", text)]);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(config.addopts, "-ra -q");
        assert_eq!(config.markers, ["slow: slow tests", "db"]);
        assert_eq!(config.python_classes, ["Check", "*Suite"]);
        assert_eq!(config.testpaths, ["tests", "other dir"]);
        assert!(!config.recurses_into("legacy"));
        assert!(config.recurses_into("build"));
        assert!(config.matches_class("MySuite") && config.matches_class("Checker"));
    }

    #[test]
    fn toml_native_and_errors() {
        let (config, source, _) = TestConfig::from_files(&[(
            "pyproject.toml",
            "[tool.pytest]\npython_functions = ['check_*']\n",
        )]);
        assert_eq!(source.as_deref(), Some("pyproject.toml"));
        assert_eq!(config.python_functions, ["check_*"]);
        assert!(config.matches_function("check_x") && !config.matches_function("test_x"));

        let (_, source, diagnostics) =
            TestConfig::from_files(&[("pyproject.toml", "[tool.pytest\n")]);
        assert!(source.is_none());
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, codes::TOML_SYNTAX);

        let (_, _, diagnostics) =
            TestConfig::from_files(&[("setup.cfg", "[pytest]\naddopts = -q\n")]);
        assert_eq!(diagnostics.len(), 1);
    }

    #[test]
    fn virtualenv_detection() {
        let venv = [("bin".to_owned(), true), ("pyvenv.cfg".to_owned(), false)];
        assert!(is_virtualenv_dir(&venv, || false));
        let conda = [("conda-meta".to_owned(), true)];
        assert!(is_virtualenv_dir(&conda, || true));
        assert!(!is_virtualenv_dir(&conda, || false));
        assert!(!is_virtualenv_dir(&[("src".to_owned(), true)], || true));
    }

    #[test]
    fn shlex() {
        assert_eq!(
            shlex_split("a 'b c' \"d\\\"e\" f\\ g").unwrap(),
            ["a", "b c", "d\"e", "f g"]
        );
        assert!(shlex_split("'open").is_none());
    }
}
