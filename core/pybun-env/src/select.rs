//! Which interpreter a request selects: `--python`, `.python-version`,
//! `requires-python`, applied to the interpreters found on the machine.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pybun_pep::{Version, VersionSpecifiers};

use crate::Interpreter;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonRequest {
    /// `3`, `3.12`, `3.12.1`, `312`, `cpython3.12`, `python3.12`, `pypy3.10`,
    /// `cp312`, `3.13t` (free-threaded). The first discovered match wins.
    Version {
        /// `None` for any implementation (`3.12`, `python3.12`).
        implementation: Option<Implementation>,
        major: u64,
        minor: Option<u64>,
        patch: Option<u64>,
        /// A prerelease suffix for an exact request (`3.13.0rc1`), compared too.
        prerelease: Option<String>,
        free_threaded: bool,
    },
    /// PEP 440 specifiers (`>=3.10,<3.13`). The newest match wins.
    Range { implementation: Option<Implementation>, specifiers: VersionSpecifiers },
    /// A path to an interpreter or to an environment (`./.venv`,
    /// `/usr/bin/python3`). Relative paths are resolved by the caller, which
    /// also inspects the path (it need not be among the discovered ones).
    Path(PathBuf),
}

/// A Python implementation named in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Implementation {
    CPython,
    PyPy,
    GraalPy,
}

impl Implementation {
    /// The `sys.implementation.name` this stands for.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::CPython => "cpython",
            Self::PyPy => "pypy",
            Self::GraalPy => "graalpy",
        }
    }
}

/// A request that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonRequestError {
    pub text: String,
    pub reason: String,
}

impl fmt::Display for PythonRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a Python request: {} (expected a version like `3.12`, a range like `>=3.10,<3.13`, \
             an implementation like `cpython3.12`, or a path)",
            self.text, self.reason
        )
    }
}

impl std::error::Error for PythonRequestError {}

impl FromStr for PythonRequest {
    type Err = PythonRequestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let error = |reason: &str| PythonRequestError { text: text.to_string(), reason: reason.to_string() };
        if trimmed.is_empty() {
            return Err(error("it is empty"));
        }
        if looks_like_path(trimmed) {
            return Ok(Self::Path(PathBuf::from(trimmed)));
        }
        let lower = trimmed.to_ascii_lowercase();
        let (implementation, rest) = split_implementation(&lower);
        let rest = rest.strip_prefix('@').unwrap_or(rest);
        if rest.is_empty() {
            return if implementation.is_some() || lower == "python" {
                // `python`, `cpython`, `pypy`: any version of Python 3.
                Ok(Self::Version { implementation, major: 3, minor: None, patch: None, prerelease: None, free_threaded: false })
            } else {
                Err(error("no version"))
            };
        }
        if rest.starts_with(['<', '>', '=', '!', '~']) {
            let specifiers = VersionSpecifiers::from_str(rest).map_err(|e| error(&e.to_string()))?;
            if specifiers.is_empty() {
                return Err(error("no version specifiers"));
            }
            return Ok(Self::Range { implementation, specifiers });
        }
        let (rest, free_threaded) = match rest.strip_suffix('t') {
            Some(rest) => (rest, true),
            None => (rest, false),
        };
        parse_version(rest, implementation, free_threaded).ok_or_else(|| error("not a version"))
    }
}

fn looks_like_path(text: &str) -> bool {
    text.contains(['/', '\\']) || text.starts_with('.') || text.starts_with('~') || text.ends_with(".exe")
}

fn split_implementation(text: &str) -> (Option<Implementation>, &str) {
    // Longest first: `pypy` before `py`, `cpython` before `cp`.
    for (prefix, implementation) in [
        ("cpython", Some(Implementation::CPython)),
        ("graalpy", Some(Implementation::GraalPy)),
        ("python", None),
        ("pypy", Some(Implementation::PyPy)),
        ("cp", Some(Implementation::CPython)),
        ("pp", Some(Implementation::PyPy)),
        ("gp", Some(Implementation::GraalPy)),
        ("py", None),
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return (implementation, rest.strip_prefix('-').unwrap_or(rest));
        }
    }
    (None, text)
}

fn parse_version(text: &str, implementation: Option<Implementation>, free_threaded: bool) -> Option<PythonRequest> {
    let make = |major, minor, patch, prerelease| {
        Some(PythonRequest::Version { implementation, major, minor, patch, prerelease, free_threaded })
    };
    if !text.contains('.') {
        if !text.bytes().all(|b| b.is_ascii_digit()) || text.is_empty() {
            return None;
        }
        // `3` or the compact `312`.
        let major: u64 = text[..1].parse().ok()?;
        if text.len() == 1 {
            return make(major, None, None, None);
        }
        return make(major, Some(text[1..].parse().ok()?), None, None);
    }
    let mut parts = text.splitn(3, '.');
    let major: u64 = parts.next()?.parse().ok()?;
    let minor: u64 = parts.next()?.parse().ok()?;
    let Some(patch) = parts.next() else {
        return make(major, Some(minor), None, None);
    };
    let digits = patch.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let (number, suffix) = patch.split_at(digits);
    let prerelease = if suffix.is_empty() {
        None
    } else {
        // Only PEP 440 pre-releases: `a1`, `b2`, `rc1`.
        let kind = suffix.trim_end_matches(|c: char| c.is_ascii_digit());
        if !matches!(kind, "a" | "b" | "rc") || kind.len() == suffix.len() {
            return None;
        }
        Some(suffix.to_string())
    };
    make(major, Some(minor), Some(number.parse().ok()?), prerelease)
}

impl fmt::Display for PythonRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let implementation = |implementation: &Option<Implementation>| implementation.map_or("", |i| i.name());
        match self {
            Self::Version { implementation: imp, major, minor, patch, prerelease, free_threaded } => {
                write!(f, "{}{major}", implementation(imp))?;
                if let Some(minor) = minor {
                    write!(f, ".{minor}")?;
                }
                if let Some(patch) = patch {
                    write!(f, ".{patch}")?;
                }
                if let Some(prerelease) = prerelease {
                    f.write_str(prerelease)?;
                }
                if *free_threaded {
                    f.write_str("t")?;
                }
                Ok(())
            }
            Self::Range { implementation: imp, specifiers } => {
                let imp = implementation(imp);
                if imp.is_empty() { write!(f, "{specifiers}") } else { write!(f, "{imp}@{specifiers}") }
            }
            Self::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

impl PythonRequest {
    /// Whether `interpreter` satisfies this request (the implementation, the
    /// version, free-threading; a path matches the interpreter found at it,
    /// its `sys.executable`, or the environment rooted there).
    #[must_use]
    pub fn matches(&self, interpreter: &Interpreter) -> bool {
        let implementation_ok = |implementation: &Option<Implementation>| {
            implementation.is_none_or(|i| i.name() == interpreter.implementation_name)
        };
        let free_threaded = interpreter.gil_disabled || interpreter.abiflags.contains('t');
        match self {
            Self::Version { implementation, major, minor, patch, prerelease, free_threaded: wants_t } => {
                if !implementation_ok(implementation) || *wants_t != free_threaded {
                    return false;
                }
                let version = interpreter.version();
                let release = version.release();
                let at = |i: usize| release.get(i).copied().unwrap_or(0);
                if at(0) != *major || minor.is_some_and(|m| at(1) != m) || patch.is_some_and(|p| at(2) != p) {
                    return false;
                }
                match prerelease {
                    None => true,
                    Some(wanted) => version.pre().is_some_and(|pre| pre.to_string() == *wanted),
                }
            }
            Self::Range { implementation, specifiers } => {
                implementation_ok(implementation) && !free_threaded && specifiers.contains(&interpreter.version())
            }
            Self::Path(path) => {
                same_path(&interpreter.path, path) || same_path(&interpreter.sys_executable, path) || same_path(&interpreter.prefix, path)
            }
        }
    }

    /// Whether the newest match wins (a range) rather than the first found.
    #[must_use]
    pub fn prefers_newest(&self) -> bool {
        matches!(self, Self::Range { .. })
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    a.components().eq(b.components())
}

/// The request in a `.python-version` file: its first line that is neither
/// blank nor a `#` comment (pyenv lists several versions one per line; the
/// first is the one asked for). `Ok(None)` for a file with no such line.
///
/// # Errors
/// When that line is not a request.
pub fn parse_python_version_file(content: &str) -> Result<Option<PythonRequest>, PythonRequestError> {
    let line = content.lines().map(str::trim).find(|line| !line.is_empty() && !line.starts_with('#'));
    line.map(PythonRequest::from_str).transpose()
}

/// Where a request came from, so a selection can say which rule won.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestSource {
    /// The `--python` option.
    Flag,
    /// An environment variable (`PYBUN_PYTHON`).
    Environment { variable: String },
    /// A `.python-version` file.
    PythonVersionFile { path: PathBuf },
}

impl fmt::Display for RequestSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag => f.write_str("`--python`"),
            Self::Environment { variable } => write!(f, "`{variable}`"),
            Self::PythonVersionFile { path } => write!(f, "`{}`", path.display()),
        }
    }
}

/// The chosen interpreter and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub interpreter: Interpreter,
    /// One sentence: which rule won, e.g. "`.python-version` asks for 3.12:
    /// Python 3.12.1 at `/usr/bin/python3.12` (the first match found)".
    pub reason: String,
}

/// An interpreter found but not chosen, as listed in a [`SelectionError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub implementation: String,
    pub version: String,
    pub free_threaded: bool,
    pub path: PathBuf,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = if self.free_threaded { " (free-threaded)" } else { "" };
        let implementation = if self.implementation == "cpython" { "" } else { self.implementation.as_str() };
        let space = if implementation.is_empty() { "" } else { " " };
        write!(f, "{implementation}{space}{}{t} at `{}`", self.version, self.path.display())
    }
}

/// No interpreter fits: what was asked and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionError {
    /// The request and where it came from.
    pub request: Option<(PythonRequest, RequestSource)>,
    pub requires_python: Option<VersionSpecifiers>,
    /// Every interpreter found, in discovery order.
    pub found: Vec<Found>,
    /// Those that satisfy the request but not `requires-python` (a conflict
    /// between the two, rather than a missing interpreter).
    pub conflicting: Vec<Found>,
}

impl SelectionError {
    /// What to do about it.
    #[must_use]
    pub fn hint(&self) -> String {
        if self.found.is_empty() {
            return "install Python 3 (or put it on `PATH`); PyBun looks in its managed directory, `PATH`, \
                    `/usr/bin` and `~/.pyenv/versions`"
                .into();
        }
        if let (Some((request, source)), Some(requires)) = (&self.request, &self.requires_python)
            && !self.conflicting.is_empty()
        {
            return format!(
                "{source} asks for {request} but the project requires Python `{requires}`: change one of them"
            );
        }
        match &self.request {
            Some((PythonRequest::Path(_), _)) => "check the path, or pass a version like `--python 3.12` instead".into(),
            Some((_, RequestSource::PythonVersionFile { path })) => format!(
                "install a matching Python, or edit `{}` to name one of the versions found",
                path.display()
            ),
            Some(_) => "install a matching Python, or ask for one of the versions found".into(),
            None => "install a Python that satisfies `requires-python`, or relax it".into(),
        }
    }
}

impl fmt::Display for SelectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut asked = Vec::new();
        if let Some((request, source)) = &self.request {
            asked.push(format!("{source} asks for {request}"));
        }
        if let Some(requires) = &self.requires_python {
            asked.push(format!("`requires-python` is `{requires}`"));
        }
        if asked.is_empty() {
            asked.push("any Python 3 will do".into());
        }
        if self.found.is_empty() {
            return write!(f, "no Python interpreter found ({})", asked.join(", "));
        }
        write!(f, "no Python interpreter matches: {}; found ", asked.join(", "))?;
        let found: Vec<String> = self.found.iter().map(ToString::to_string).collect();
        f.write_str(&found.join(", "))
    }
}

impl std::error::Error for SelectionError {}

/// Choose an interpreter.
///
/// Rules, in order:
/// 1. With a request (`--python`, `PYBUN_PYTHON`, `.python-version`), only
///    interpreters matching it count, and they must also satisfy
///    `requires-python` when given. A range request (`>=3.10,<3.13`) takes
///    the newest match; any other request the first match in discovery order.
/// 2. Without a request but with `requires-python`, the first interpreter
///    found that satisfies it (as uv does: `PATH` order is the user's preference).
/// 3. With neither, the first interpreter found.
///
/// Free-threaded builds are chosen only when asked for (`3.13t`) or by path.
/// Among equal versions the first found wins.
///
/// # Errors
/// When nothing fits; the error lists what was asked and what was found.
#[allow(clippy::result_large_err, reason = "built once per command, on the error path")]
pub fn select_interpreter(
    candidates: &[Interpreter],
    request: Option<(&PythonRequest, &RequestSource)>,
    requires_python: Option<&VersionSpecifiers>,
) -> Result<Selection, SelectionError> {
    let satisfies_requires = |interpreter: &Interpreter| {
        requires_python.is_none_or(|specifiers| specifiers.contains(&interpreter.version()))
    };
    let free_threaded = |interpreter: &Interpreter| interpreter.gil_disabled || interpreter.abiflags.contains('t');
    let describe = |interpreter: &Interpreter| {
        format!("Python {} at `{}`", interpreter.python_full_version, interpreter.path.display())
    };
    let requires_text = requires_python.map(|r| format!(" and `requires-python` is `{r}`")).unwrap_or_default();

    let chosen = match request {
        Some((request, source)) => {
            let matching: Vec<&Interpreter> = candidates.iter().filter(|i| request.matches(i)).collect();
            let fitting: Vec<&Interpreter> = matching.iter().copied().filter(|i| satisfies_requires(i)).collect();
            let newest = request.prefers_newest();
            pick(&fitting, newest).map(|interpreter| {
                let rule = if newest { "the newest match" } else { "the first match found" };
                let reason = format!("{source} asks for {request}{requires_text}: {} ({rule})", describe(interpreter));
                (interpreter, reason)
            })
        }
        None => match requires_python {
            Some(requires) => {
                let fitting: Vec<&Interpreter> =
                    candidates.iter().filter(|i| !free_threaded(i) && satisfies_requires(i)).collect();
                pick(&fitting, false).map(|interpreter| {
                    let reason = format!(
                        "`requires-python` is `{requires}`: {} (the first found that satisfies it)",
                        describe(interpreter)
                    );
                    (interpreter, reason)
                })
            }
            None => candidates.iter().find(|i| !free_threaded(i)).map(|interpreter| {
                (interpreter, format!("no Python was requested: {} (the first found)", describe(interpreter)))
            }),
        },
    };

    match chosen {
        Some((interpreter, reason)) => Ok(Selection { interpreter: interpreter.clone(), reason }),
        None => {
            let found_of = |interpreter: &Interpreter| Found {
                implementation: interpreter.implementation_name.clone(),
                version: interpreter.python_full_version.clone(),
                free_threaded: free_threaded(interpreter),
                path: interpreter.path.clone(),
            };
            let conflicting = match request {
                Some((request, _)) if requires_python.is_some() => {
                    candidates.iter().filter(|i| request.matches(i)).map(found_of).collect()
                }
                _ => Vec::new(),
            };
            Err(SelectionError {
                request: request.map(|(request, source)| (request.clone(), source.clone())),
                requires_python: requires_python.cloned(),
                found: candidates.iter().map(found_of).collect(),
                conflicting,
            })
        }
    }
}

/// The first of `interpreters`, or the newest (the first among equals).
fn pick<'a>(interpreters: &[&'a Interpreter], newest: bool) -> Option<&'a Interpreter> {
    if !newest {
        return interpreters.first().copied();
    }
    let mut best: Option<(&'a Interpreter, Version)> = None;
    for interpreter in interpreters {
        let version = interpreter.version();
        if best.as_ref().is_none_or(|(_, best_version)| version > *best_version) {
            best = Some((interpreter, version));
        }
    }
    best.map(|(interpreter, _)| interpreter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpreter::fixtures::cpython;

    #[test]
    fn parse_requests() {
        let v = |implementation, major, minor, patch| PythonRequest::Version {
            implementation,
            major,
            minor,
            patch,
            prerelease: None,
            free_threaded: false,
        };
        let cases: &[(&str, PythonRequest)] = &[
            ("3", v(None, 3, None, None)),
            ("3.12", v(None, 3, Some(12), None)),
            (" 3.12.1 ", v(None, 3, Some(12), Some(1))),
            ("312", v(None, 3, Some(12), None)),
            ("cpython3.12", v(Some(Implementation::CPython), 3, Some(12), None)),
            ("CPython-3.12", v(Some(Implementation::CPython), 3, Some(12), None)),
            ("cp312", v(Some(Implementation::CPython), 3, Some(12), None)),
            ("python3.12", v(None, 3, Some(12), None)),
            ("python3", v(None, 3, None, None)),
            ("python", v(None, 3, None, None)),
            ("pypy3.10", v(Some(Implementation::PyPy), 3, Some(10), None)),
            ("py3.11", v(None, 3, Some(11), None)),
            ("/usr/bin/python3", PythonRequest::Path("/usr/bin/python3".into())),
            ("./venv/bin/python", PythonRequest::Path("./venv/bin/python".into())),
            (".venv", PythonRequest::Path(".venv".into())),
            ("bin/python3.12", PythonRequest::Path("bin/python3.12".into())),
            (
                "3.13t",
                PythonRequest::Version {
                    implementation: None,
                    major: 3,
                    minor: Some(13),
                    patch: None,
                    prerelease: None,
                    free_threaded: true,
                },
            ),
            (
                "3.13.0rc1",
                PythonRequest::Version {
                    implementation: None,
                    major: 3,
                    minor: Some(13),
                    patch: Some(0),
                    prerelease: Some("rc1".into()),
                    free_threaded: false,
                },
            ),
            (
                ">=3.10,<3.13",
                PythonRequest::Range { implementation: None, specifiers: VersionSpecifiers::from_str(">=3.10,<3.13").unwrap() },
            ),
            (
                "cpython@>=3.10",
                PythonRequest::Range {
                    implementation: Some(Implementation::CPython),
                    specifiers: VersionSpecifiers::from_str(">=3.10").unwrap(),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(&PythonRequest::from_str(text).unwrap(), expected, "{text}");
        }
        for garbage in ["", "  ", "foo", "3.x", "3.12.x", ">=abc", "python3.", "3..1", "cpython3.12.1zz", "jython2.7", "three"] {
            let error = PythonRequest::from_str(garbage).unwrap_err();
            assert!(error.to_string().contains("is not a Python request"), "{garbage}: {error}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["3", "3.12", "3.12.1", "cpython3.12", "3.13t", ">=3.10, <3.13", "cpython@>=3.10", "/usr/bin/python3", "3.13.0rc1"] {
            let request = PythonRequest::from_str(text).unwrap();
            assert_eq!(PythonRequest::from_str(&request.to_string()).unwrap(), request, "{text}");
        }
    }

    #[test]
    fn python_version_files() {
        let parse = |content: &str| parse_python_version_file(content).map(|r| r.map(|r| r.to_string()));
        assert_eq!(parse("3.12\n"), Ok(Some("3.12".into())));
        assert_eq!(parse("# pinned\n\n  3.11.7  \n3.10\n"), Ok(Some("3.11.7".into())));
        assert_eq!(parse("\r\n3.12\r\n"), Ok(Some("3.12".into())));
        assert_eq!(parse("# nothing\n\n"), Ok(None));
        assert_eq!(parse(""), Ok(None));
        assert!(parse("not-a-version\n").is_err());
    }

    fn machine() -> Vec<Interpreter> {
        // Discovery order: PATH's python3 (3.11.7), /usr/bin (3.11.2), then pyenv.
        let mut list: Vec<Interpreter> = ["3.11.7", "3.11.2", "3.13.0", "3.12.1", "3.10.13", "3.9.18", "3.7.16"]
            .iter()
            .map(|v| cpython(v))
            .collect();
        let mut free = cpython("3.13.0");
        free.gil_disabled = true;
        free.abiflags = "t".into();
        free.path = "/opt/python/3.13.0t/bin/python3.13t".into();
        list.insert(0, free);
        let mut pypy = cpython("3.10.14");
        pypy.implementation_name = "pypy".into();
        pypy.path = "/opt/pypy/bin/pypy3".into();
        list.push(pypy);
        list
    }

    /// (request, requires-python, expected path's version, reason fragment)
    #[test]
    fn selection_rules() {
        let candidates = machine();
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<&'a str, &'a str>, &'a str);
        let cases: &[Case<'_>] = &[
            (None, None, Ok("3.11.7"), "no Python was requested"),
            (None, Some(">=3.8"), Ok("3.11.7"), "the first found that satisfies it"),
            (None, Some(">=3.12,<3.13"), Ok("3.12.1"), "`requires-python` is `>=3.12, <3.13`"),
            (Some("3.11"), None, Ok("3.11.7"), "the first match found"),
            (Some("3.11.2"), None, Ok("3.11.2"), "asks for 3.11.2"),
            (Some("3"), None, Ok("3.11.7"), "first match"),
            (Some(">=3.9,<3.12"), None, Ok("3.11.7"), "the newest match"),
            (Some(">=3.9"), Some("<3.13"), Ok("3.12.1"), "the newest match"),
            (Some("cpython3.10"), None, Ok("3.10.13"), "asks for cpython3.10"),
            (Some("pypy3.10"), None, Ok("3.10.14"), "asks for pypy3.10"),
            (Some("3.13t"), None, Ok("3.13.0"), "asks for 3.13t"),
            (Some("/opt/python/3.9.18/bin/python3"), None, Ok("3.9.18"), "asks for /opt/python/3.9.18/bin/python3"),
            (Some("/opt/python/3.9.18"), None, Ok("3.9.18"), "first match"),
            (Some("3.14"), None, Err("asks for 3.14"), "install a matching Python"),
            (Some("3.9"), Some(">=3.10"), Err("`requires-python` is `>=3.10`"), "but the project requires Python `>=3.10`"),
            (None, Some(">=3.14"), Err("`requires-python` is `>=3.14`"), "relax it"),
            (Some("/nope/python"), None, Err("asks for /nope/python"), "check the path"),
        ];
        for (request, requires, expected, fragment) in cases {
            let request = request.map(|r| PythonRequest::from_str(r).unwrap());
            let requires = requires.map(|r| VersionSpecifiers::from_str(r).unwrap());
            let source = RequestSource::Flag;
            let result = select_interpreter(&candidates, request.as_ref().map(|r| (r, &source)), requires.as_ref());
            match (expected, result) {
                (Ok(version), Ok(selection)) => {
                    assert_eq!(selection.interpreter.python_full_version, *version, "{request:?} {requires:?}");
                    assert!(selection.reason.contains(fragment), "{}", selection.reason);
                }
                (Err(message), Err(error)) => {
                    let text = error.to_string();
                    assert!(text.contains(message), "{text}");
                    assert!(text.contains("3.11.7 at `/opt/python/3.11.7/bin/python3`"), "{text}");
                    assert!(error.hint().contains(fragment), "{}", error.hint());
                }
                (expected, got) => panic!("{request:?} {requires:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn reasons_name_the_source() {
        let candidates = machine();
        let request = PythonRequest::from_str("3.12").unwrap();
        let source = RequestSource::PythonVersionFile { path: "/work/app/.python-version".into() };
        let selection = select_interpreter(&candidates, Some((&request, &source)), None).unwrap();
        assert_eq!(
            selection.reason,
            "`/work/app/.python-version` asks for 3.12: Python 3.12.1 at `/opt/python/3.12.1/bin/python3` (the first match found)"
        );
        let request = PythonRequest::from_str("3.14").unwrap();
        let error = select_interpreter(&candidates, Some((&request, &source)), None).unwrap_err();
        assert!(error.hint().contains("edit `/work/app/.python-version`"), "{}", error.hint());
        let env = RequestSource::Environment { variable: "PYBUN_PYTHON".into() };
        let selection = select_interpreter(&candidates, Some((&request, &env)), None).unwrap_err();
        assert!(selection.to_string().starts_with("no Python interpreter matches: `PYBUN_PYTHON` asks for 3.14; found "));
    }

    #[test]
    fn nothing_found() {
        let error = select_interpreter(&[], None, None).unwrap_err();
        assert_eq!(error.to_string(), "no Python interpreter found (any Python 3 will do)");
        assert!(error.hint().contains("install Python 3"));
    }

    #[test]
    fn equal_versions_keep_discovery_order() {
        let mut first = cpython("3.12.1");
        first.path = "/first/python3".into();
        let second = cpython("3.12.1");
        let requires = VersionSpecifiers::from_str(">=3.12").unwrap();
        let selection = select_interpreter(&[first, second], None, Some(&requires)).unwrap();
        assert_eq!(selection.interpreter.path, Path::new("/first/python3"));
    }
}
