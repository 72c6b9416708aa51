//! Static test discovery in one module, by pytest's collection rules.

use std::collections::{HashMap, HashSet};

use pybun_diagnostics::{Diagnostic, Span};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};

use crate::codes;
use crate::config::TestConfig;
use crate::ids::{
    ascii_escaped_bytes, ascii_escaped_str, make_unique, py_float_repr, py_imag_repr,
};

/// What discovery found in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleTests {
    /// The test items, in pytest's order.
    pub items: Vec<TestItem>,
    /// The file is a `conftest.py`.
    pub conftest: bool,
    /// Why the static result may differ from pytest's (the runner then uses pytest).
    pub needs_pytest: Vec<PytestReason>,
    /// Collection errors (a syntax error). Not cached: a file with errors is rediscovered.
    #[serde(skip)]
    pub errors: Vec<Diagnostic>,
    /// The modules the file imports anywhere (functions included), as
    /// absolute dotted names; relative imports resolved against the file's
    /// directory (`from . import helpers` in `tests/test_a.py`:
    /// `tests.helpers`); `from a import b` gives `a` and `a.b`. Sorted, unique.
    pub imports: Vec<String>,
    /// Why some node ids cannot be known statically: in a test file, its own
    /// ids (a `pytest_generate_tests`, parameters computed at runtime, tests
    /// bound in `if`/`try`, imported, or inherited from unknown bases); in a
    /// conftest, the ids of every test file under its directory (collection
    /// hooks, `collect_ignore`). Parametrized fixtures are in [`Self::fixtures`]:
    /// whether they change a file's ids depends on which tests request them
    /// ([`crate::dynamic_files`]).
    #[serde(default)]
    pub dynamic: Vec<PytestReason>,
    /// Reasons that make every file's ids dynamic: a conftest's
    /// `pytest_collection_modifyitems` (it sees, and may reorder, the whole
    /// session's items), `pytest_plugins`.
    #[serde(default)]
    pub dynamic_everywhere: Vec<PytestReason>,
    /// The fixtures this file defines (module level and in classes).
    #[serde(default)]
    pub fixtures: Vec<FixtureDef>,
    /// A conftest's `pytest_ignore_collect` (its line): whether each file
    /// under it is collected at all is the hook's answer
    /// ([`crate::files_under_ignore_hooks`]).
    #[serde(default)]
    pub ignore_hook: Option<usize>,
    /// A conftest's `collect_ignore` / `collect_ignore_glob` (its line): the
    /// files under it are dynamic, and pytest, given their directory (not
    /// the files: it never ignores the paths it is given), tells which it
    /// collects. The tests it keeps need no pytest to run.
    #[serde(default)]
    pub collect_ignore: Option<usize>,
    /// A conftest's `collect_ignore` / `collect_ignore_glob` when read
    /// statically ([`CollectIgnore`]); then [`Self::collect_ignore`] is `None`
    /// and the files under it are not dynamic for it.
    #[serde(default)]
    pub collect_ignore_lists: Option<CollectIgnore>,
}

/// A conftest's `collect_ignore` and `collect_ignore_glob`, read statically:
/// each set once, at module level, to a list or tuple of string literals
/// (relative paths), and named nowhere else in the file. Entries are
/// relative to the conftest's directory; `None`: the conftest does not set it
/// (pytest takes each list from the closest conftest that sets it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CollectIgnore {
    pub paths: Option<Vec<String>>,
    pub globs: Option<Vec<String>>,
}

/// [`CollectIgnore`] of a conftest, or `None` when a list is set otherwise
/// (computed, extended, set conditionally, absolute).
fn static_collect_ignore(body: &[Stmt], source: &str) -> Option<CollectIgnore> {
    let mut lists = CollectIgnore::default();
    for name in ["collect_ignore", "collect_ignore_glob"] {
        let is_ident = |c: char| c == '_' || c.is_alphanumeric();
        let mentions = source
            .match_indices(name)
            .filter(|(at, _)| {
                !source[..*at].chars().next_back().is_some_and(is_ident) && !source[at + name.len()..].chars().next().is_some_and(is_ident)
            })
            .count();
        if mentions == 0 {
            continue;
        }
        if mentions > 1 {
            return None;
        }
        let values = body.iter().find_map(|stmt| match stmt {
            Stmt::Assign(assign) if assign.targets.len() == 1 && matches!(&assign.targets[0], Expr::Name(n) if n.id.as_str() == name) => {
                Some(match &*assign.value {
                    Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }) => elts
                        .iter()
                        .map(|e| match e {
                            Expr::StringLiteral(s) if !s.value.to_str().starts_with('/') => Some(s.value.to_str().to_owned()),
                            _ => None,
                        })
                        .collect::<Option<Vec<String>>>(),
                    _ => None,
                })
            }
            _ => None,
        })??;
        if name == "collect_ignore" {
            lists.paths = Some(values);
        } else {
            lists.globs = Some(values);
        }
    }
    Some(lists)
}

/// A `@pytest.fixture` definition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FixtureDef {
    /// The fixture's name (`name=` when given).
    pub name: String,
    /// 1-based line of the decorator.
    pub line: usize,
    /// Parametrized with `params=` (its ids are known only at runtime).
    pub parametrized: bool,
    pub autouse: bool,
    /// The fixtures it requests (its argument names).
    pub requests: Vec<String>,
}

/// Something only real pytest can collect or run faithfully, and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PytestReason {
    /// 1-based line in the file.
    pub line: usize,
    pub reason: String,
}

/// A `@pytest.mark.NAME(...)` applied to a test.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mark {
    pub name: String,
    /// The source text between the call's parentheses (empty without a call).
    pub args_source: String,
    /// 1-based line of the mark.
    pub line: usize,
}

/// How a test is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TestKind {
    Function,
    Method,
    UnittestMethod,
}

/// One collected test.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TestItem {
    /// As `pytest --collect-only -q` prints it: `tests/test_a.py::TestX::test_y[1-2]`.
    pub node_id: String,
    /// The item name: `test_y[1-2]`.
    pub name: String,
    /// 1-based line of the `def`.
    pub line: usize,
    /// The enclosing classes joined by `::` (`TestOuter::TestInner`).
    pub class: Option<String>,
    /// Marks in pytest's `iter_markers` order: the function's (closest
    /// decorator first), then each class's from the innermost, then the module's.
    pub marks: Vec<Mark>,
    pub kind: TestKind,
    pub parametrized: bool,
    /// The argument names pytest would request as fixtures.
    pub fixtures: Vec<String>,
}

/// Conftest hooks that change which tests a directory's files yield, or their ids.
const COLLECTION_HOOKS: &[&str] = &[
    "pytest_collect_file",
    "pytest_collect_directory",
    "pytest_pycollect_makemodule",
    "pytest_pycollect_makeitem",
];

/// Conftest hooks that see (and may change) the whole session's items.
const GLOBAL_COLLECTION_HOOKS: &[&str] =
    &["pytest_collection_modifyitems", "pytest_collection", "pytest_deselected", "pytest_make_parametrize_id"];

const UNITTEST_CASES: [&str; 2] = ["TestCase", "IsolatedAsyncioTestCase"];

/// Standard-library modules whose classes are never `unittest.TestCase`s.
const STDLIB_CLASS_MODULES: &[&str] = &[
    "abc", "argparse", "array", "ast", "asyncio", "collections", "configparser", "contextlib", "csv", "dataclasses",
    "datetime", "decimal", "email", "enum", "fractions", "functools", "html", "http", "io", "ipaddress", "itertools",
    "json", "logging", "numbers", "operator", "os", "pathlib", "pickle", "queue", "random", "re", "socket",
    "socketserver", "string", "struct", "subprocess", "tempfile", "threading", "types", "typing", "urllib", "uuid",
    "weakref", "xml", "zipfile",
];

/// Builtin names whose value has a `__name__` (ids use it).
const BUILTIN_NAMED: &[&str] = &[
    "int",
    "str",
    "float",
    "bool",
    "bytes",
    "bytearray",
    "complex",
    "list",
    "dict",
    "set",
    "frozenset",
    "tuple",
    "object",
    "type",
    "len",
    "print",
    "repr",
    "abs",
    "min",
    "max",
    "sum",
    "sorted",
    "reversed",
    "iter",
    "next",
    "map",
    "filter",
    "zip",
    "range",
    "enumerate",
    "isinstance",
    "callable",
    "id",
    "hash",
    "open",
    "Exception",
    "BaseException",
    "ValueError",
    "TypeError",
    "KeyError",
    "IndexError",
    "RuntimeError",
    "AttributeError",
    "ZeroDivisionError",
    "OSError",
    "IOError",
    "NotImplementedError",
    "AssertionError",
    "StopIteration",
    "ImportError",
    "LookupError",
    "ArithmeticError",
    "OverflowError",
    "FileNotFoundError",
    "PermissionError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "Warning",
    "UserWarning",
    "DeprecationWarning",
    "RuntimeWarning",
    "memoryview",
    "slice",
    "property",
    "staticmethod",
    "classmethod",
];

/// Discovers the tests of one module. `relative_path` is the path from the
/// rootdir with `/` separators (it prefixes node ids); `source` the decoded text.
#[must_use]
pub fn discover_module(relative_path: &str, source: &str, config: &TestConfig) -> ModuleTests {
    let file_name = relative_path.rsplit('/').next().unwrap_or(relative_path);
    let mut result = ModuleTests {
        conftest: file_name == "conftest.py",
        ..ModuleTests::default()
    };
    let parsed = match ruff_python_parser::parse_module(source) {
        Ok(parsed) => parsed,
        Err(err) => {
            let range = err.location;
            let span = Span::in_source(source, range.start().to_usize(), range.end().to_usize());
            result.errors.push(
                Diagnostic::error(
                    codes::PYTHON_SYNTAX,
                    format!("`{relative_path}` has a syntax error"),
                )
                .at(relative_path, span)
                .with_label(err.error.to_string()),
            );
            return result;
        }
    };
    let module = parsed.syntax();
    result.imports = imports_of(relative_path, &module.body);
    let mut cx = Cx::new(relative_path, source, config, &module.body);
    cx.scan_reasons(&module.body, result.conftest);
    if cx.collect_ignore.is_some()
        && let Some(lists) = static_collect_ignore(&module.body, source)
    {
        // Known without pytest: the walk leaves the files out.
        cx.dynamic.retain(|r| !r.reason.starts_with("conftest sets `collect_ignore"));
        cx.collect_ignore = None;
        result.collect_ignore_lists = Some(lists);
    }
    if !result.conftest || config.collects_file(relative_path) {
        cx.collect_module(&module.body);
    }
    result.items = cx.items;
    result.needs_pytest = cx.reasons;
    result.dynamic = cx.dynamic;
    result.dynamic_everywhere = cx.dynamic_everywhere;
    result.fixtures = cx.fixture_defs;
    result.ignore_hook = cx.ignore_hook;
    result.collect_ignore = cx.collect_ignore;
    result
}

/// Every import statement's modules (see [`ModuleTests::imports`]).
fn imports_of(relative_path: &str, body: &[Stmt]) -> Vec<String> {
    use ruff_python_ast::visitor::{Visitor, walk_stmt};
    struct Imports<'p> {
        package: Vec<&'p str>,
        names: std::collections::BTreeSet<String>,
    }
    impl<'a> Visitor<'a> for Imports<'_> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            match stmt {
                Stmt::Import(import) => {
                    for alias in &import.names {
                        self.names.insert(alias.name.id.to_string());
                    }
                }
                Stmt::ImportFrom(import) => {
                    let level = import.level as usize;
                    let mut base: Vec<String> = if level == 0 {
                        Vec::new()
                    } else {
                        let keep = self.package.len().saturating_sub(level - 1);
                        self.package[..keep].iter().map(|s| (*s).to_string()).collect()
                    };
                    if let Some(module) = &import.module {
                        base.extend(module.id.split('.').map(str::to_string));
                    }
                    if !base.is_empty() {
                        self.names.insert(base.join("."));
                    }
                    for alias in &import.names {
                        if alias.name.id.as_str() != "*" {
                            let mut full = base.clone();
                            full.push(alias.name.id.to_string());
                            self.names.insert(full.join("."));
                        }
                    }
                }
                _ => walk_stmt(self, stmt),
            }
        }
        fn visit_expr(&mut self, _expr: &'a ruff_python_ast::Expr) {}
    }
    let mut package: Vec<&str> = relative_path.split('/').collect();
    package.pop();
    let mut visitor = Imports { package, names: std::collections::BTreeSet::new() };
    for stmt in body {
        visitor.visit_stmt(stmt);
    }
    visitor.names.into_iter().collect()
}

/// A binding in a namespace (module or class `__dict__`), in first-binding order.
#[derive(Clone, Copy)]
enum Binding<'a> {
    Function(&'a ast::StmtFunctionDef),
    Class(&'a ast::StmtClassDef),
    /// An assignment or import: (line, is a possible callable or class).
    Other(usize, bool, bool),
}

struct Cx<'a> {
    path: &'a str,
    source: &'a str,
    line_starts: Vec<usize>,
    config: &'a TestConfig,
    pytest_names: HashSet<String>,
    mark_names: HashSet<String>,
    param_names: HashSet<String>,
    fixture_names: HashSet<String>,
    unittest_modules: HashSet<String>,
    testcase_names: HashSet<String>,
    /// Names bound by an import, and the module they come from.
    import_sources: HashMap<String, String>,
    /// Module-level `NAME = pytest.mark...`.
    mark_vars: HashMap<String, &'a Expr>,
    /// Module-level `NAME = <expr>` assigned exactly once.
    constants: HashMap<String, Option<&'a Expr>>,
    /// Module-level classes and functions by name (last definition).
    classes: HashMap<String, &'a ast::StmtClassDef>,
    functions: HashSet<String>,
    items: Vec<TestItem>,
    reasons: Vec<PytestReason>,
    dynamic: Vec<PytestReason>,
    dynamic_everywhere: Vec<PytestReason>,
    fixture_defs: Vec<FixtureDef>,
    ignore_hook: Option<usize>,
    collect_ignore: Option<usize>,
}

/// A parametrization: one id per parameter set, and that set's marks.
type ParamSets = Vec<(String, Vec<Mark>)>;

impl<'a> Cx<'a> {
    fn new(path: &'a str, source: &'a str, config: &'a TestConfig, body: &'a [Stmt]) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        let mut cx = Cx {
            path,
            source,
            line_starts,
            config,
            pytest_names: HashSet::new(),
            mark_names: HashSet::new(),
            param_names: HashSet::new(),
            fixture_names: HashSet::new(),
            unittest_modules: HashSet::new(),
            testcase_names: HashSet::new(),
            import_sources: HashMap::new(),
            mark_vars: HashMap::new(),
            constants: HashMap::new(),
            classes: HashMap::new(),
            functions: HashSet::new(),
            items: Vec::new(),
            reasons: Vec::new(),
            dynamic: Vec::new(),
            dynamic_everywhere: Vec::new(),
            fixture_defs: Vec::new(),
            ignore_hook: None,
            collect_ignore: None,
        };
        cx.scan_imports(body);
        for stmt in body {
            match stmt {
                Stmt::ClassDef(class) => {
                    cx.classes.insert(class.name.id.to_string(), class);
                }
                Stmt::FunctionDef(function) => {
                    cx.functions.insert(function.name.id.to_string());
                }
                Stmt::Assign(assign) => {
                    for target in &assign.targets {
                        if let Expr::Name(name) = target {
                            let key = name.id.to_string();
                            if cx.is_mark_expr(&assign.value) {
                                cx.mark_vars.insert(key.clone(), &assign.value);
                            }
                            let seen = cx.constants.contains_key(&key);
                            cx.constants
                                .insert(key, if seen { None } else { Some(&assign.value) });
                        }
                    }
                }
                Stmt::AugAssign(aug) => {
                    if let Expr::Name(name) = &*aug.target {
                        cx.constants.insert(name.id.to_string(), None);
                    }
                }
                _ => {}
            }
        }
        cx
    }

    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    fn line_of(&self, node: &impl Ranged) -> usize {
        self.line(node.range().start().to_usize())
    }

    fn text(&self, range: TextRange) -> &'a str {
        &self.source[range.start().to_usize()..range.end().to_usize()]
    }

    /// A reason pytest must run the file that also makes its node ids
    /// (a conftest's: those of the files under it) unknowable statically.
    fn dynamic_reason(&mut self, line: usize, reason: impl Into<String>) {
        let reason = reason.into();
        if !self.dynamic.iter().any(|r| r.line == line && r.reason == reason) {
            self.dynamic.push(PytestReason { line, reason: reason.clone() });
        }
        self.reason(line, reason);
    }

    /// Like [`Self::dynamic_reason`], for every file of the session.
    fn dynamic_everywhere_reason(&mut self, line: usize, reason: impl Into<String>) {
        let reason = reason.into();
        if !self.dynamic_everywhere.iter().any(|r| r.line == line && r.reason == reason) {
            self.dynamic_everywhere.push(PytestReason { line, reason: reason.clone() });
        }
        self.reason(line, reason);
    }

    fn reason(&mut self, line: usize, reason: impl Into<String>) {
        let reason = reason.into();
        if !self
            .reasons
            .iter()
            .any(|r| r.line == line && r.reason == reason)
        {
            self.reasons.push(PytestReason { line, reason });
        }
    }

    fn scan_imports(&mut self, body: &'a [Stmt]) {
        for stmt in body {
            match stmt {
                Stmt::Import(import) => {
                    for alias in &import.names {
                        let name = alias.name.id.as_str();
                        let bound = alias.asname.as_ref().map_or(name, |a| a.id.as_str());
                        let top = if alias.asname.is_some() { name } else { name.split('.').next().unwrap_or(name) };
                        self.import_sources.insert(bound.split('.').next().unwrap_or(bound).to_owned(), top.to_owned());
                        match name {
                            "pytest" => {
                                self.pytest_names.insert(bound.to_owned());
                            }
                            "unittest" => {
                                self.unittest_modules.insert(bound.to_owned());
                            }
                            _ => {}
                        }
                    }
                }
                Stmt::ImportFrom(import) => {
                    let module = import.module.as_ref().map(|m| m.id.as_str());
                    for alias in &import.names {
                        let name = alias.name.id.as_str();
                        let bound = alias
                            .asname
                            .as_ref()
                            .map_or(name, |a| a.id.as_str())
                            .to_owned();
                        if let (Some(module), 0) = (module, import.level) {
                            self.import_sources.insert(bound.clone(), module.to_owned());
                        }
                        match (module, name) {
                            (Some("pytest" | "_pytest.mark"), "mark") => {
                                self.mark_names.insert(bound);
                            }
                            (Some("pytest"), "param") => {
                                self.param_names.insert(bound);
                            }
                            (Some("pytest" | "_pytest.fixtures"), "fixture") => {
                                self.fixture_names.insert(bound);
                            }
                            (Some("unittest" | "unittest.case"), n)
                                if UNITTEST_CASES.contains(&n) =>
                            {
                                self.testcase_names.insert(bound);
                            }
                            _ => {}
                        }
                    }
                }
                Stmt::If(s) => {
                    self.scan_imports(&s.body);
                    for clause in &s.elif_else_clauses {
                        self.scan_imports(&clause.body);
                    }
                }
                Stmt::Try(s) => {
                    self.scan_imports(&s.body);
                    for handler in &s.handlers {
                        let ast::ExceptHandler::ExceptHandler(h) = handler;
                        self.scan_imports(&h.body);
                    }
                    self.scan_imports(&s.orelse);
                    self.scan_imports(&s.finalbody);
                }
                _ => {}
            }
        }
    }

    /// Hooks, plugins and parametrized fixtures: things pytest must handle.
    fn scan_reasons(&mut self, body: &'a [Stmt], conftest: bool) {
        for stmt in body {
            match stmt {
                Stmt::FunctionDef(function) => {
                    let name = function.name.id.as_str();
                    let line = self.line_of(&function.name);
                    if name == "pytest_generate_tests" {
                        self.dynamic_reason(
                            line,
                            "`pytest_generate_tests` hook parametrizes tests dynamically",
                        );
                    } else if conftest && GLOBAL_COLLECTION_HOOKS.contains(&name) {
                        self.dynamic_everywhere_reason(line, format!("conftest hook `{name}`"));
                    } else if conftest && name == "pytest_ignore_collect" {
                        // The native engine asks it (per file) when running and
                        // when listing; the ids within a file do not depend on it.
                        self.ignore_hook = Some(line);
                    } else if conftest && COLLECTION_HOOKS.contains(&name) {
                        self.dynamic_reason(line, format!("conftest hook `{name}`"));
                    } else if conftest && name.starts_with("pytest_") {
                        self.reason(line, format!("conftest hook `{name}`"));
                    }
                    self.check_fixture(function);
                }
                Stmt::ClassDef(class) => self.scan_class_fixtures(class),
                Stmt::Assign(assign) => {
                    for target in &assign.targets {
                        if let Expr::Name(name) = target {
                            let line = self.line_of(target);
                            match name.id.as_str() {
                                "pytest_plugins" => {
                                    self.dynamic_everywhere_reason(line, "`pytest_plugins` loads plugins");
                                }
                                "collect_ignore" | "collect_ignore_glob" if conftest => {
                                    // Which files it leaves out is pytest's answer (a
                                    // collection); how the others run does not change.
                                    let reason = PytestReason { line, reason: format!("conftest sets `{}`", name.id) };
                                    if !self.dynamic.contains(&reason) {
                                        self.dynamic.push(reason);
                                    }
                                    self.collect_ignore.get_or_insert(line);
                                }
                                _ => {}
                            }
                        }
                    }
                }
                Stmt::AnnAssign(assign) => {
                    if let Expr::Name(name) = &*assign.target
                        && name.id.as_str() == "pytest_plugins"
                    {
                        let line = self.line_of(&*assign.target);
                        self.dynamic_everywhere_reason(line, "`pytest_plugins` loads plugins");
                    }
                }
                Stmt::If(s) => {
                    self.scan_reasons(&s.body, conftest);
                    for clause in &s.elif_else_clauses {
                        self.scan_reasons(&clause.body, conftest);
                    }
                }
                Stmt::Try(s) => {
                    self.scan_reasons(&s.body, conftest);
                    self.scan_reasons(&s.orelse, conftest);
                }
                _ => {}
            }
        }
    }

    fn scan_class_fixtures(&mut self, class: &'a ast::StmtClassDef) {
        for stmt in &class.body {
            match stmt {
                Stmt::FunctionDef(function) => {
                    if function.name.id.as_str() == "pytest_generate_tests" {
                        let line = self.line_of(&function.name);
                        self.dynamic_reason(
                            line,
                            "`pytest_generate_tests` hook parametrizes tests dynamically",
                        );
                    }
                    self.check_fixture(function);
                }
                Stmt::ClassDef(inner) => self.scan_class_fixtures(inner),
                _ => {}
            }
        }
    }

    /// Records a fixture definition (`FixtureDef`); `params=` also asks for pytest.
    fn check_fixture(&mut self, function: &ast::StmtFunctionDef) {
        for decorator in &function.decorator_list {
            if !self.is_fixture(&decorator.expression) {
                continue;
            }
            let keywords: &[ast::Keyword] = match &decorator.expression {
                Expr::Call(call) => &call.arguments.keywords,
                _ => &[],
            };
            let keyword = |name: &str| keywords.iter().find(|k| k.arg.as_ref().is_some_and(|a| a.id.as_str() == name)).map(|k| &k.value);
            let line = self.line_of(decorator);
            let parametrized = keyword("params").is_some_and(|v| !matches!(v, Expr::NoneLiteral(_)));
            let autouse = keyword("autouse").is_some_and(|v| !matches!(v, Expr::BooleanLiteral(b) if !b.value));
            let name = match keyword("name") {
                Some(Expr::StringLiteral(s)) => s.value.to_str().to_owned(),
                _ => function.name.id.to_string(),
            };
            let requests = function
                .parameters
                .posonlyargs
                .iter()
                .chain(&function.parameters.args)
                .chain(&function.parameters.kwonlyargs)
                .filter(|p| p.default.is_none())
                .map(|p| p.parameter.name.id.to_string())
                .filter(|n| n != "self" && n != "cls")
                .collect();
            self.fixture_defs.push(FixtureDef { name, line, parametrized, autouse, requests });
            if parametrized {
                self.reason(
                    line,
                    format!(
                        "fixture `{}` is parametrized with `params=`",
                        function.name.id
                    ),
                );
            }
        }
    }

    fn is_pytest(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Name(n) if self.pytest_names.contains(n.id.as_str()))
    }

    fn is_fixture(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Name(n) => self.fixture_names.contains(n.id.as_str()),
            Expr::Attribute(a) => a.attr.id.as_str() == "fixture" && self.is_pytest(&a.value),
            Expr::Call(c) => self.is_fixture(&c.func),
            _ => false,
        }
    }

    fn is_mark_root(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Name(n) => self.mark_names.contains(n.id.as_str()),
            Expr::Attribute(a) => a.attr.id.as_str() == "mark" && self.is_pytest(&a.value),
            _ => false,
        }
    }

    fn is_mark_expr(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Attribute(a) => self.is_mark_root(&a.value),
            Expr::Call(c) => self.is_mark_expr(&c.func),
            _ => false,
        }
    }

    /// The marks an expression stands for (`pytest.mark.x`, `pytest.mark.x(...)`,
    /// `.with_args(...)`, a module-level alias, or a list/tuple of those).
    fn marks_of(&self, expr: &'a Expr, line: usize, depth: usize) -> Option<Vec<Mark>> {
        if depth > 8 {
            return None;
        }
        match expr {
            Expr::Attribute(a) if self.is_mark_root(&a.value) => Some(vec![Mark {
                name: a.attr.id.to_string(),
                args_source: String::new(),
                line,
            }]),
            Expr::Call(call) => {
                let func = match &*call.func {
                    Expr::Attribute(a) if a.attr.id.as_str() == "with_args" => &*a.value,
                    f => f,
                };
                let inner = self.marks_of(func, line, depth + 1)?;
                let [mark] = inner.as_slice() else {
                    return None;
                };
                if !mark.args_source.is_empty() {
                    return None;
                }
                let args = call.arguments.range();
                let text = self.text(args);
                let text = text
                    .strip_prefix('(')
                    .and_then(|t| t.strip_suffix(')'))
                    .unwrap_or(text);
                Some(vec![Mark {
                    name: mark.name.clone(),
                    args_source: text.trim().to_owned(),
                    line,
                }])
            }
            Expr::Name(n) => {
                let value = self.mark_vars.get(n.id.as_str())?;
                self.marks_of(value, line, depth + 1)
            }
            Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }) => {
                let mut marks = Vec::new();
                for elt in elts {
                    let line = self.line_of(elt);
                    marks.extend(self.marks_of(elt, line, depth + 1)?);
                }
                Some(marks)
            }
            _ => None,
        }
    }

    /// The raw `parametrize` call expression behind a mark, found again from source.
    fn mark_call(&self, expr: &'a Expr, depth: usize) -> Option<&'a ast::ExprCall> {
        if depth > 8 {
            return None;
        }
        match expr {
            Expr::Call(call) => Some(call),
            Expr::Name(n) => self.mark_call(self.mark_vars.get(n.id.as_str())?, depth + 1),
            _ => None,
        }
    }

    /// Marks (with their expressions) of decorators; the closest decorator first.
    fn decorator_marks(&mut self, decorators: &'a [ast::Decorator]) -> Vec<(Mark, &'a Expr)> {
        let mut marks = Vec::new();
        for decorator in decorators.iter().rev() {
            let line = self.line_of(decorator);
            if let Some(found) = self.marks_of(&decorator.expression, line, 0) {
                marks.extend(found.into_iter().map(|m| (m, &decorator.expression)));
            } else if self.is_mark_expr(&decorator.expression) {
                self.dynamic_reason(line, "a mark decorator that cannot be read statically");
            }
        }
        marks
    }

    /// `pytestmark = ...` in a body (the last assignment wins).
    fn pytestmark(&mut self, body: &'a [Stmt]) -> Vec<(Mark, &'a Expr)> {
        let mut found = Vec::new();
        for stmt in body {
            let (targets, value): (Vec<&Expr>, &'a Expr) = match stmt {
                Stmt::Assign(a) => (a.targets.iter().collect(), &a.value),
                Stmt::AnnAssign(a) => match &a.value {
                    Some(v) => (vec![&*a.target], v),
                    None => continue,
                },
                _ => continue,
            };
            if targets
                .iter()
                .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == "pytestmark"))
            {
                let line = self.line_of(value);
                match self.marks_of(value, line, 0) {
                    Some(marks) => {
                        let exprs: Vec<&'a Expr> = match value {
                            Expr::List(l) => l.elts.iter().collect(),
                            Expr::Tuple(t) => t.elts.iter().collect(),
                            v => vec![v],
                        };
                        found = if exprs.len() == marks.len() {
                            marks.into_iter().zip(exprs).collect()
                        } else {
                            marks.into_iter().map(|m| (m, value)).collect()
                        };
                    }
                    None => {
                        self.dynamic_reason(line, "`pytestmark` cannot be read statically");
                        found = Vec::new();
                    }
                }
            }
        }
        found
    }

    /// The bindings of a namespace in `__dict__` order (first binding's
    /// position, last binding's value).
    fn bindings(&mut self, body: &'a [Stmt]) -> Vec<(String, Binding<'a>)> {
        let mut order: Vec<(String, Binding<'a>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut bind = |name: String, binding: Binding<'a>| match index.get(&name) {
            Some(&i) => order[i].1 = binding,
            None => {
                index.insert(name.clone(), order.len());
                order.push((name, binding));
            }
        };
        for stmt in body {
            match stmt {
                Stmt::FunctionDef(f) => bind(f.name.id.to_string(), Binding::Function(f)),
                Stmt::ClassDef(c) => bind(c.name.id.to_string(), Binding::Class(c)),
                Stmt::Assign(a) => {
                    let callable = !is_plain_data(&a.value);
                    for target in &a.targets {
                        if let Expr::Name(n) = target {
                            let line = self.line(n.range.start().to_usize());
                            bind(n.id.to_string(), Binding::Other(line, callable, false));
                        }
                    }
                }
                Stmt::AnnAssign(a) => {
                    if let Expr::Name(n) = &*a.target {
                        let callable = a.value.as_deref().is_some_and(|v| !is_plain_data(v));
                        let line = self.line(n.range.start().to_usize());
                        bind(n.id.to_string(), Binding::Other(line, callable, false));
                    }
                }
                Stmt::Import(i) => {
                    for alias in &i.names {
                        let bound = alias.asname.as_ref().map_or_else(
                            || {
                                alias
                                    .name
                                    .id
                                    .split('.')
                                    .next()
                                    .unwrap_or_default()
                                    .to_owned()
                            },
                            |a| a.id.to_string(),
                        );
                        let line = self.line_of(alias);
                        bind(bound, Binding::Other(line, false, false));
                    }
                }
                Stmt::ImportFrom(i) => {
                    let module = i.module.as_ref().map_or("", |m| m.id.as_str());
                    let ours = matches!(
                        module,
                        "pytest" | "unittest" | "unittest.case" | "unittest.mock" | "mock"
                    );
                    for alias in &i.names {
                        let bound = alias.asname.as_ref().unwrap_or(&alias.name).id.to_string();
                        let line = self.line_of(alias);
                        if alias.name.id.as_str() == "*" {
                            self.dynamic_reason(line, format!("`from {module} import *` may import tests"));
                            continue;
                        }
                        bind(bound, Binding::Other(line, false, !ours));
                    }
                }
                Stmt::If(_)
                | Stmt::Try(_)
                | Stmt::With(_)
                | Stmt::For(_)
                | Stmt::While(_)
                | Stmt::Match(_) => {
                    if let Some(line) = self.conditional_test_def(stmt) {
                        self.dynamic_reason(
                            line,
                            "a test defined inside a compound statement (`if`, `try`, …)",
                        );
                    }
                }
                _ => {}
            }
        }
        order
    }

    fn conditional_test_def(&self, stmt: &'a Stmt) -> Option<usize> {
        let mut bodies: Vec<&'a [Stmt]> = Vec::new();
        match stmt {
            Stmt::If(s) => {
                bodies.push(&s.body);
                bodies.extend(s.elif_else_clauses.iter().map(|c| c.body.as_slice()));
            }
            Stmt::Try(s) => {
                bodies.push(&s.body);
                bodies.push(&s.orelse);
                bodies.push(&s.finalbody);
                for handler in &s.handlers {
                    let ast::ExceptHandler::ExceptHandler(h) = handler;
                    bodies.push(&h.body);
                }
            }
            Stmt::With(s) => bodies.push(&s.body),
            Stmt::For(s) => bodies.push(&s.body),
            Stmt::While(s) => bodies.push(&s.body),
            Stmt::Match(s) => bodies.extend(s.cases.iter().map(|c| c.body.as_slice())),
            _ => {}
        }
        for body in bodies {
            for inner in body {
                match inner {
                    Stmt::FunctionDef(f) if self.config.matches_function(&f.name.id) => {
                        return Some(self.line_of(&f.name));
                    }
                    Stmt::ClassDef(c) => return Some(self.line_of(&c.name)),
                    Stmt::Assign(_) | Stmt::ImportFrom(_) | Stmt::Import(_) => {}
                    other => {
                        if let Some(line) = self.conditional_test_def(other) {
                            return Some(line);
                        }
                    }
                }
            }
        }
        None
    }

    fn dunder_test(body: &[Stmt]) -> Option<bool> {
        let mut value = None;
        for stmt in body {
            if let Stmt::Assign(a) = stmt
                && a.targets
                    .iter()
                    .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == "__test__"))
            {
                value = match &*a.value {
                    Expr::BooleanLiteral(b) => Some(b.value),
                    _ => Some(true),
                };
            }
        }
        value
    }

    fn collect_module(&mut self, body: &'a [Stmt]) {
        if Self::dunder_test(body) == Some(false) {
            return;
        }
        let module_marks = self.pytestmark(body);
        let bindings = self.bindings(body);
        let scope = Scope {
            classes: Vec::new(),
            marks: module_marks,
        };
        for (name, binding) in bindings {
            self.collect_binding(&name, binding, &scope, true);
        }
    }

    fn collect_binding(
        &mut self,
        name: &str,
        binding: Binding<'a>,
        scope: &Scope<'a>,
        module_level: bool,
    ) {
        match binding {
            Binding::Function(f) => {
                if self.config.matches_function(name) {
                    self.collect_function(name, f, scope, !module_level);
                }
            }
            Binding::Class(c) => {
                let resolved = self.resolve_class(c);
                if resolved.unittest {
                    if !resolved.abstract_ {
                        self.collect_unittest(name, c, &resolved, scope);
                    }
                } else if (self.config.matches_class(name)
                    || Self::dunder_test(&c.body) == Some(true))
                    && !resolved.abstract_
                {
                    self.collect_class(name, c, &resolved, scope);
                }
            }
            Binding::Other(line, callable, imported) => {
                let test_name =
                    self.config.matches_function(name) || self.config.matches_class(name);
                if test_name && imported && self.config.collect_imported_tests {
                    self.dynamic_reason(
                        line,
                        format!("`{name}` is imported and pytest collects imported tests"),
                    );
                } else if test_name && callable {
                    self.dynamic_reason(
                        line,
                        format!("`{name}` is bound to a value that may be a test"),
                    );
                }
            }
        }
    }

    /// Bases resolved in this module: the MRO (approximated depth-first,
    /// last occurrence kept) and what it implies.
    fn resolve_class(&mut self, class: &'a ast::StmtClassDef) -> ResolvedClass<'a> {
        let mut resolved = ResolvedClass {
            mro: Vec::new(),
            unittest: false,
            abstract_: false,
            unknown_base: None,
        };
        let mut abc = false;
        self.walk_bases(class, &mut resolved, &mut abc, 0);
        // C3 approximation: keep the last occurrence of each class.
        let mut seen = HashSet::new();
        let mut mro: Vec<&'a ast::StmtClassDef> = Vec::new();
        for c in resolved.mro.iter().rev() {
            if seen.insert(c.name.id.as_str()) {
                mro.push(c);
            }
        }
        mro.reverse();
        resolved.mro = mro;
        if abc {
            let mut abstract_methods: HashSet<&str> = HashSet::new();
            for c in resolved.mro.iter().rev() {
                for stmt in &c.body {
                    if let Stmt::FunctionDef(f) = stmt {
                        let is_abstract = f
                            .decorator_list
                            .iter()
                            .any(|d| decorator_name(&d.expression) == Some("abstractmethod"));
                        if is_abstract {
                            abstract_methods.insert(f.name.id.as_str());
                        } else {
                            abstract_methods.remove(f.name.id.as_str());
                        }
                    }
                }
            }
            resolved.abstract_ = !abstract_methods.is_empty();
        }
        if let Some((line, base)) = resolved.unknown_base.clone() {
            self.dynamic_reason(
                line,
                format!(
                    "class `{}` derives from `{base}`, which is not defined in this module",
                    class.name.id
                ),
            );
        }
        resolved
    }

    fn walk_bases(
        &self,
        class: &'a ast::StmtClassDef,
        resolved: &mut ResolvedClass<'a>,
        abc: &mut bool,
        depth: usize,
    ) {
        resolved.mro.push(class);
        if depth > 16 {
            return;
        }
        let Some(arguments) = &class.arguments else {
            return;
        };
        for keyword in &arguments.keywords {
            if keyword
                .arg
                .as_ref()
                .is_some_and(|a| a.id.as_str() == "metaclass")
            {
                if decorator_name(&keyword.value) == Some("ABCMeta") {
                    *abc = true;
                } else if resolved.unknown_base.is_none() {
                    resolved.unknown_base = Some((
                        self.line_of(keyword),
                        self.text(keyword.value.range()).to_owned(),
                    ));
                }
            }
        }
        for base in &arguments.args {
            let base = match base {
                Expr::Subscript(s) => &*s.value,
                b => b,
            };
            match base {
                Expr::Name(n) if n.id.as_str() == "object" => {}
                Expr::Name(n) if self.testcase_names.contains(n.id.as_str()) => {
                    resolved.unittest = true
                }
                Expr::Attribute(a)
                    if UNITTEST_CASES.contains(&a.attr.id.as_str())
                        && matches!(&*a.value, Expr::Name(m) if self.unittest_modules.contains(m.id.as_str())) =>
                {
                    resolved.unittest = true;
                }
                Expr::Name(n) if matches!(n.id.as_str(), "ABC") => *abc = true,
                Expr::Attribute(a) if a.attr.id.as_str() == "ABC" => *abc = true,
                Expr::Name(n) if matches!(n.id.as_str(), "Generic" | "Protocol") => {}
                Expr::Attribute(a) if matches!(a.attr.id.as_str(), "Generic" | "Protocol") => {}
                Expr::Name(n)
                    if self.classes.contains_key(n.id.as_str()) && n.id != class.name.id =>
                {
                    let base_class = self.classes[n.id.as_str()];
                    self.walk_bases(base_class, resolved, abc, depth + 1);
                }
                other if self.stdlib_class(other) && !self.config.matches_class(resolved.mro[0].name.id.as_str()) => {}
                other => {
                    if resolved.unknown_base.is_none() {
                        resolved.unknown_base =
                            Some((self.line_of(other), self.text(other.range()).to_owned()));
                    }
                }
            }
        }
    }

    /// A base that is a standard-library class other than `unittest`'s (a
    /// builtin, or imported from a standard module): never a `TestCase`, so a
    /// class whose name pytest would not collect stays uncollected.
    fn stdlib_class(&self, base: &Expr) -> bool {
        let module = match base {
            Expr::Name(n) => {
                let name = n.id.as_str();
                if self.classes.contains_key(name) {
                    return false;
                }
                match self.import_sources.get(name) {
                    Some(module) => module.as_str(),
                    None => return BUILTIN_NAMED.contains(&name) || matches!(name, "dict" | "list" | "object"),
                }
            }
            Expr::Attribute(a) => match &*a.value {
                Expr::Name(m) => match self.import_sources.get(m.id.as_str()) {
                    Some(module) => module.as_str(),
                    None => return false,
                },
                _ => return false,
            },
            _ => return false,
        };
        let top = module.split('.').next().unwrap_or(module);
        STDLIB_CLASS_MODULES.contains(&top)
    }

    fn collect_class(
        &mut self,
        name: &str,
        class: &'a ast::StmtClassDef,
        resolved: &ResolvedClass<'a>,
        scope: &Scope<'a>,
    ) {
        if Self::dunder_test(&class.body) == Some(false) {
            return;
        }
        for c in &resolved.mro {
            for stmt in &c.body {
                if let Stmt::FunctionDef(f) = stmt
                    && matches!(f.name.id.as_str(), "__init__" | "__new__")
                {
                    return; // pytest warns and does not collect the class
                }
            }
        }
        let mut marks = self.class_marks(resolved);
        let mut classes = scope.classes.clone();
        classes.push(name.to_owned());
        marks.extend(scope.marks.iter().cloned());
        let inner = Scope { classes, marks };
        // Reverse-MRO: inherited members first, each name once (the most derived wins).
        let mut seen = HashSet::new();
        let mut per_class: Vec<Vec<(String, Binding<'a>)>> = Vec::new();
        for c in &resolved.mro {
            let bindings = self.bindings(&c.body);
            let mut values = Vec::new();
            for (member, binding) in bindings {
                if seen.insert(member.clone()) {
                    values.push((member, binding));
                }
            }
            per_class.push(values);
        }
        for values in per_class.into_iter().rev() {
            for (member, binding) in values {
                self.collect_binding(&member, binding, &inner, false);
            }
        }
    }

    /// The marks of a class and its bases (pytest reads marks along the MRO).
    fn class_marks(&mut self, resolved: &ResolvedClass<'a>) -> Vec<(Mark, &'a Expr)> {
        let mut marks = Vec::new();
        for c in &resolved.mro {
            let mut own = self.pytestmark(&c.body);
            own.extend(self.decorator_marks(&c.decorator_list));
            for mark in own {
                if !marks.iter().any(|(m, _): &(Mark, &Expr)| *m == mark.0) {
                    marks.push(mark);
                }
            }
        }
        marks
    }

    fn collect_unittest(
        &mut self,
        name: &str,
        class: &'a ast::StmtClassDef,
        resolved: &ResolvedClass<'a>,
        scope: &Scope<'a>,
    ) {
        if Self::dunder_test(&class.body) == Some(false) {
            return;
        }
        let mut marks = self.class_marks(resolved);
        marks.extend(scope.marks.iter().cloned());
        let mut classes = scope.classes.clone();
        classes.push(name.to_owned());
        let mut methods: HashMap<String, &'a ast::StmtFunctionDef> = HashMap::new();
        let mut disabled: HashSet<String> = HashSet::new();
        for c in resolved.mro.iter().rev() {
            for stmt in &c.body {
                match stmt {
                    Stmt::FunctionDef(f) => {
                        let n = f.name.id.to_string();
                        disabled.remove(&n);
                        methods.insert(n, f);
                    }
                    Stmt::Assign(a) => {
                        for t in &a.targets {
                            if let Expr::Name(n) = t {
                                methods.remove(n.id.as_str());
                                if n.id.starts_with("test") && !is_plain_data(&a.value) {
                                    let line = self.line_of(t);
                                    self.dynamic_reason(
                                        line,
                                        format!(
                                            "`{}` is bound to a value that may be a test",
                                            n.id
                                        ),
                                    );
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            let _ = &mut disabled;
        }
        let mut names: Vec<&String> = methods.keys().filter(|n| n.starts_with("test")).collect();
        names.sort();
        let class_path = classes.join("::");
        let mark_list: Vec<Mark> = marks.iter().map(|(m, _)| m.clone()).collect();
        let mut found = false;
        for method in names {
            let f = methods[method];
            if f.decorator_list.iter().any(|d| {
                matches!(
                    decorator_name(&d.expression),
                    Some("property" | "cached_property")
                )
            }) {
                continue;
            }
            let mut item_marks: Vec<Mark> = self
                .decorator_marks(&f.decorator_list)
                .into_iter()
                .map(|(m, _)| m)
                .collect();
            item_marks.extend(mark_list.iter().cloned());
            self.items.push(TestItem {
                node_id: format!("{}::{class_path}::{method}", self.path),
                name: method.clone(),
                line: self.line_of(&f.name),
                class: Some(class_path.clone()),
                marks: item_marks,
                kind: TestKind::UnittestMethod,
                parametrized: false,
                fixtures: Vec::new(),
            });
            found = true;
        }
        if !found && let Some(f) = methods.get("runTest") {
            self.items.push(TestItem {
                node_id: format!("{}::{class_path}::runTest", self.path),
                name: "runTest".into(),
                line: self.line_of(&f.name),
                class: Some(class_path),
                marks: mark_list,
                kind: TestKind::UnittestMethod,
                parametrized: false,
                fixtures: Vec::new(),
            });
        }
    }

    fn collect_function(
        &mut self,
        name: &str,
        f: &'a ast::StmtFunctionDef,
        scope: &Scope<'a>,
        method: bool,
    ) {
        let mut is_static = false;
        let mut patches = 0usize;
        for decorator in &f.decorator_list {
            let expr = &decorator.expression;
            if self.is_fixture(expr) {
                return;
            }
            match decorator_name(expr) {
                Some("property" | "cached_property") => return,
                Some("staticmethod") => is_static = true,
                Some("patch" | "object") if is_patch(expr) => patches += 1,
                _ => {}
            }
        }
        let line = self.line_of(&f.name);
        if contains_yield(&f.body) {
            self.reason(
                line,
                format!("`{name}` is a generator; pytest reports a collection error"),
            );
        }
        let mut fixtures: Vec<String> = f
            .parameters
            .args
            .iter()
            .chain(&f.parameters.kwonlyargs)
            .filter(|p| p.default.is_none())
            .map(|p| p.parameter.name.id.to_string())
            .collect();
        if method && !is_static && !fixtures.is_empty() {
            // the first parameter is `self` (or `cls`), unless it has a default or is positional-only
            let first_regular = f.parameters.posonlyargs.is_empty()
                && f.parameters
                    .args
                    .first()
                    .is_some_and(|p| p.default.is_none());
            if first_regular {
                fixtures.remove(0);
            }
        }
        if patches > 0 {
            fixtures.drain(..patches.min(fixtures.len()));
        }
        let mut marks = self.decorator_marks(&f.decorator_list);
        marks.extend(scope.marks.iter().cloned());
        let class = (!scope.classes.is_empty()).then(|| scope.classes.join("::"));
        let prefix = match &class {
            Some(c) => format!("{}::{c}", self.path),
            None => self.path.to_owned(),
        };
        let kind = if method {
            TestKind::Method
        } else {
            TestKind::Function
        };
        let plain_marks: Vec<Mark> = marks.iter().map(|(m, _)| m.clone()).collect();
        let parametrizes: Vec<(Mark, &'a Expr)> = marks
            .iter()
            .filter(|(m, _)| m.name == "parametrize")
            .cloned()
            .collect();
        if parametrizes.is_empty() {
            self.items.push(TestItem {
                node_id: format!("{prefix}::{name}"),
                name: name.to_owned(),
                line,
                class,
                marks: plain_marks,
                kind,
                parametrized: false,
                fixtures,
            });
            return;
        }
        // Combine the parametrizations in pytest's order: ids of earlier calls vary slowest.
        let mut calls: Vec<(Vec<String>, Vec<Mark>)> = vec![(Vec::new(), Vec::new())];
        let mut argnames_seen: HashSet<String> = HashSet::new();
        for (mark, expr) in &parametrizes {
            let sets = match self
                .mark_call(expr, 0)
                .ok_or_else(|| "parametrize without arguments".to_owned())
                .and_then(|call| self.param_sets(call, &fixtures, &mut argnames_seen))
            {
                Ok(sets) => sets,
                Err(reason) => {
                    self.dynamic_reason(mark.line, format!("`{name}`: {reason}"));
                    return;
                }
            };
            let mut next = Vec::new();
            for (ids, marks) in &calls {
                for (id, set_marks) in &sets {
                    let mut ids = ids.clone();
                    ids.push(id.clone());
                    let mut marks = marks.clone();
                    marks.extend(set_marks.iter().cloned());
                    next.push((ids, marks));
                }
            }
            calls = next;
        }
        for (ids, set_marks) in calls {
            let id = ids.join("-");
            let item_name = format!("{name}[{id}]");
            let mut item_marks = set_marks;
            item_marks.extend(plain_marks.iter().cloned());
            self.items.push(TestItem {
                node_id: format!("{prefix}::{item_name}"),
                name: item_name,
                line,
                class: class.clone(),
                marks: item_marks,
                kind,
                parametrized: true,
                fixtures: fixtures.clone(),
            });
        }
    }

    /// One `parametrize(...)` call as parameter sets with pytest's ids.
    fn param_sets(
        &self,
        call: &'a ast::ExprCall,
        fixtures: &[String],
        seen: &mut HashSet<String>,
    ) -> Result<ParamSets, String> {
        let args = &call.arguments;
        let mut argnames_expr = args.args.first();
        let mut argvalues_expr = args.args.get(1);
        let mut ids_expr = None;
        for keyword in &args.keywords {
            match keyword.arg.as_ref().map(|a| a.id.as_str()) {
                Some("argnames") => argnames_expr = Some(&keyword.value),
                Some("argvalues") => argvalues_expr = Some(&keyword.value),
                Some("ids") => ids_expr = Some(&keyword.value),
                Some("indirect") => {
                    if !matches!(&keyword.value, Expr::BooleanLiteral(b) if !b.value) {
                        return Err("`indirect=` parametrization goes through fixtures".into());
                    }
                }
                Some("scope") => {}
                Some(other) => return Err(format!("unsupported `parametrize` argument `{other}`")),
                None => return Err("`**kwargs` in `parametrize`".into()),
            }
        }
        if args.args.len() > 4 || args.args.iter().any(|a| matches!(a, Expr::Starred(_))) {
            return Err("`parametrize` arguments cannot be read statically".into());
        }
        if let Some(indirect) = args.args.get(2)
            && !matches!(indirect, Expr::BooleanLiteral(b) if !b.value)
        {
            return Err("`indirect=` parametrization goes through fixtures".into());
        }
        if ids_expr.is_none() {
            ids_expr = args.args.get(3);
        }
        let argnames = match argnames_expr.ok_or("`parametrize` without argument names")? {
            Expr::StringLiteral(s) => s
                .value
                .to_str()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
            Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }) => {
                elts.iter()
                    .map(|e| match e {
                        Expr::StringLiteral(s) => Ok(s.value.to_str().to_owned()),
                        _ => Err("argument names are not string literals".to_owned()),
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => return Err("argument names are not literals".into()),
        };
        for argname in &argnames {
            if !fixtures.contains(argname) {
                return Err(format!(
                    "parametrized argument `{argname}` is not a parameter of the function"
                ));
            }
            if !seen.insert(argname.clone()) {
                return Err(format!("argument `{argname}` is parametrized twice"));
            }
        }
        let values_expr = argvalues_expr.ok_or("`parametrize` without argument values")?;
        let values_expr = self.resolve_constant(values_expr);
        let elements: &[Expr] = match values_expr {
            Expr::List(l) => &l.elts,
            Expr::Tuple(t) => &t.elts,
            _ => return Err("argument values are not a literal list or tuple".into()),
        };
        let explicit_ids: Option<Vec<Option<String>>> = match ids_expr
            .map(|e| self.resolve_constant(e))
        {
            None | Some(Expr::NoneLiteral(_)) => None,
            Some(
                Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }),
            ) => Some(
                elts.iter()
                    .map(|e| match e {
                        Expr::NoneLiteral(_) => Ok(None),
                        e => match self.value_id(e)? {
                            Some(id) => Ok(Some(id)),
                            None => Err("an `ids` entry is not a str, number or None".to_owned()),
                        },
                    })
                    .collect::<Result<Vec<_>, String>>()?,
            ),
            Some(_) => return Err("`ids` is not a literal list (a callable or generator)".into()),
        };
        if let Some(ids) = &explicit_ids
            && ids.len() != elements.len()
        {
            return Err("`ids` and argument values differ in length".into());
        }
        let mut ids = Vec::new();
        let mut marks = Vec::new();
        if elements.is_empty() {
            // pytest: one skipped parameter set of NOTSET values, with the id `NOTSET`
            ids.push("NOTSET".to_owned());
            marks.push(vec![Mark {
                name: "skip".into(),
                args_source: String::new(),
                line: self.line_of(call),
            }]);
        }
        for (index, element) in elements.iter().enumerate() {
            let (values, set_id, set_marks): (Vec<&Expr>, Option<String>, Vec<Mark>) = match element
            {
                Expr::Call(c) if self.is_param(&c.func) => {
                    let mut set_id = None;
                    let mut set_marks = Vec::new();
                    for keyword in &c.arguments.keywords {
                        match keyword.arg.as_ref().map(|a| a.id.as_str()) {
                            Some("id") => match &keyword.value {
                                Expr::StringLiteral(s) => {
                                    set_id = Some(ascii_escaped_str(s.value.to_str()))
                                }
                                Expr::NoneLiteral(_) => {}
                                _ => {
                                    return Err(
                                        "a `pytest.param` id is not a string literal".into()
                                    );
                                }
                            },
                            Some("marks") => {
                                let line = self.line_of(&keyword.value);
                                set_marks = self
                                    .marks_of(&keyword.value, line, 0)
                                    .ok_or("`pytest.param(marks=...)` cannot be read statically")?;
                            }
                            _ => return Err("unsupported `pytest.param` argument".into()),
                        }
                    }
                    if c.arguments
                        .args
                        .iter()
                        .any(|a| matches!(a, Expr::Starred(_)))
                    {
                        return Err("`pytest.param(*values)` cannot be read statically".into());
                    }
                    (c.arguments.args.iter().collect(), set_id, set_marks)
                }
                Expr::Starred(_) => return Err("starred argument values".into()),
                e if argnames.len() == 1 => (vec![e], None, Vec::new()),
                Expr::List(ast::ExprList { elts, .. })
                | Expr::Tuple(ast::ExprTuple { elts, .. }) => {
                    (elts.iter().collect(), None, Vec::new())
                }
                _ => return Err("a parameter set is not a literal tuple".into()),
            };
            if values.len() != argnames.len() {
                return Err("a parameter set does not have one value per argument name".into());
            }
            let id = match (
                set_id,
                explicit_ids.as_ref().and_then(|ids| ids[index].clone()),
            ) {
                (Some(id), _) | (None, Some(id)) => id,
                (None, None) => {
                    let mut parts = Vec::new();
                    for (value, argname) in values.iter().zip(&argnames) {
                        parts.push(
                            self.value_id(value)?
                                .unwrap_or_else(|| format!("{argname}{index}")),
                        );
                    }
                    parts.join("-")
                }
            };
            ids.push(id);
            marks.push(set_marks);
        }
        Ok(make_unique(ids).into_iter().zip(marks).collect())
    }

    fn is_param(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Name(n) => self.param_names.contains(n.id.as_str()),
            Expr::Attribute(a) => a.attr.id.as_str() == "param" && self.is_pytest(&a.value),
            _ => false,
        }
    }

    fn resolve_constant(&self, expr: &'a Expr) -> &'a Expr {
        if let Expr::Name(n) = expr
            && let Some(Some(value)) = self.constants.get(n.id.as_str())
        {
            return value;
        }
        expr
    }

    /// pytest's `_idval_from_value` for a literal: `Ok(Some(id))`, `Ok(None)`
    /// when pytest falls back to `argname + index`, `Err` when unknown statically.
    fn value_id(&self, expr: &Expr) -> Result<Option<String>, String> {
        let unknown = |e: &Expr| {
            Err(format!(
                "the parameter value `{}` cannot be evaluated statically",
                self.text(e.range())
            ))
        };
        match expr {
            Expr::StringLiteral(s) => Ok(Some(ascii_escaped_str(s.value.to_str()))),
            Expr::FString(f) => {
                let mut text = String::new();
                for part in f.value.as_slice() {
                    match part {
                        ast::FStringPart::Literal(literal) => text.push_str(&literal.value),
                        ast::FStringPart::FString(fstring) => {
                            for element in &fstring.elements {
                                match element {
                                    ast::InterpolatedStringElement::Literal(literal) => {
                                        text.push_str(&literal.value)
                                    }
                                    ast::InterpolatedStringElement::Interpolation(_) => {
                                        return unknown(expr);
                                    }
                                }
                            }
                        }
                    }
                }
                Ok(Some(ascii_escaped_str(&text)))
            }
            Expr::BytesLiteral(b) => Ok(Some(ascii_escaped_bytes(
                &b.value.bytes().collect::<Vec<u8>>(),
            ))),
            Expr::NumberLiteral(n) => number_id(&n.value, false)
                .map(Some)
                .ok_or_else(|| "an unusual number literal".to_owned()),
            Expr::UnaryOp(u) if matches!(u.op, ast::UnaryOp::USub | ast::UnaryOp::UAdd) => {
                match &*u.operand {
                    Expr::NumberLiteral(n) => {
                        number_id(&n.value, matches!(u.op, ast::UnaryOp::USub))
                            .map(Some)
                            .ok_or_else(|| "an unusual number literal".to_owned())
                    }
                    e => unknown(e),
                }
            }
            Expr::BooleanLiteral(b) => Ok(Some(if b.value { "True" } else { "False" }.into())),
            Expr::NoneLiteral(_) => Ok(Some("None".into())),
            Expr::Lambda(_) => Ok(Some("<lambda>".into())),
            Expr::EllipsisLiteral(_)
            | Expr::List(_)
            | Expr::Tuple(_)
            | Expr::Dict(_)
            | Expr::Set(_)
            | Expr::ListComp(_)
            | Expr::SetComp(_)
            | Expr::DictComp(_) => Ok(None),
            Expr::Name(n) => {
                let id = n.id.as_str();
                if self.functions.contains(id)
                    || self.classes.contains_key(id)
                    || BUILTIN_NAMED.contains(&id)
                {
                    Ok(Some(id.to_owned()))
                } else if let Some(Some(value)) = self.constants.get(id) {
                    if matches!(value, Expr::Name(_)) {
                        unknown(expr)
                    } else {
                        self.value_id(value)
                    }
                } else {
                    unknown(expr)
                }
            }
            e => unknown(e),
        }
    }
}

fn number_id(number: &ast::Number, negative: bool) -> Option<String> {
    let sign = if negative { "-" } else { "" };
    match number {
        ast::Number::Int(i) => {
            let text = i.to_string();
            if !text.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let text = text.trim_start_matches('0');
            Some(if text.is_empty() {
                "0".to_owned()
            } else {
                format!("{sign}{text}")
            })
        }
        ast::Number::Float(f) => Some(py_float_repr(if negative { -f } else { *f })),
        ast::Number::Complex { real, imag } if *real == 0.0 && !negative => {
            Some(py_imag_repr(*imag))
        }
        ast::Number::Complex { .. } => None,
    }
}

#[derive(Clone)]
struct Scope<'a> {
    classes: Vec<String>,
    marks: Vec<(Mark, &'a Expr)>,
}

#[derive(Clone)]
struct ResolvedClass<'a> {
    /// The class first, then its bases.
    mro: Vec<&'a ast::StmtClassDef>,
    unittest: bool,
    abstract_: bool,
    unknown_base: Option<(usize, String)>,
}

/// The last name of a decorator (`x`, `a.b.x`, `x(...)`).
fn decorator_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(n) => Some(n.id.as_str()),
        Expr::Attribute(a) => Some(a.attr.id.as_str()),
        Expr::Call(c) => decorator_name(&c.func),
        _ => None,
    }
}

/// `mock.patch(target)` / `patch.object(obj, attr)` without a replacement
/// value: each injects one positional argument (pytest skips those).
fn is_patch(expr: &Expr) -> bool {
    let Expr::Call(call) = expr else { return false };
    let positional_max = match &*call.func {
        Expr::Name(n) if n.id.as_str() == "patch" => 1,
        Expr::Attribute(a) if a.attr.id.as_str() == "patch" => 1,
        Expr::Attribute(a)
            if a.attr.id.as_str() == "object" && decorator_name(&a.value) == Some("patch") =>
        {
            2
        }
        _ => return false,
    };
    call.arguments.args.len() <= positional_max
        && !call
            .arguments
            .keywords
            .iter()
            .any(|k| k.arg.as_ref().is_some_and(|a| a.id.as_str() == "new"))
}

/// Values that are never callables or classes.
fn is_plain_data(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::StringLiteral(_)
            | Expr::BytesLiteral(_)
            | Expr::NumberLiteral(_)
            | Expr::BooleanLiteral(_)
            | Expr::NoneLiteral(_)
            | Expr::List(_)
            | Expr::Tuple(_)
            | Expr::Dict(_)
            | Expr::Set(_)
            | Expr::FString(_)
            | Expr::ListComp(_)
            | Expr::DictComp(_)
            | Expr::SetComp(_)
            | Expr::BinOp(_)
            | Expr::Compare(_)
    )
}

/// Does a function body `yield` (outside nested functions and classes)?
fn contains_yield(body: &[Stmt]) -> bool {
    use ruff_python_ast::visitor::{self, Visitor};
    struct Finder(bool);
    impl<'b> Visitor<'b> for Finder {
        fn visit_stmt(&mut self, stmt: &'b Stmt) {
            if !matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
                visitor::walk_stmt(self, stmt);
            }
        }
        fn visit_expr(&mut self, expr: &'b Expr) {
            match expr {
                Expr::Yield(_) | Expr::YieldFrom(_) => self.0 = true,
                Expr::Lambda(_) => {}
                _ => visitor::walk_expr(self, expr),
            }
        }
    }
    let mut finder = Finder(false);
    finder.visit_body(body);
    finder.0
}

#[cfg(test)]
mod collect_ignore_tests {
    use super::*;

    /// A conftest's source: its static lists, or `None` with the line pytest must be asked about.
    fn check(source: &str, expected: Result<CollectIgnore, usize>) {
        let module = discover_module("tests/conftest.py", source, &TestConfig::default());
        match expected {
            Ok(lists) => {
                assert_eq!(module.collect_ignore_lists.as_ref(), Some(&lists), "{source}");
                assert_eq!(module.collect_ignore, None, "{source}");
                assert!(module.dynamic.is_empty() && module.needs_pytest.is_empty(), "{source}: {:?}", module.dynamic);
            }
            Err(line) => {
                assert_eq!(module.collect_ignore_lists, None, "{source}");
                assert_eq!(module.collect_ignore, Some(line), "{source}");
                assert!(module.dynamic.iter().any(|r| r.line == line), "{source}: {:?}", module.dynamic);
            }
        }
    }

    fn strings(values: &[&str]) -> Option<Vec<String>> {
        Some(values.iter().map(|v| (*v).to_string()).collect())
    }

    #[test]
    fn literal_lists_are_read_statically() {
        check(
            "collect_ignore = [\"setup.py\", 'legacy']\ncollect_ignore_glob = (\"*_py2.py\",)\n",
            Ok(CollectIgnore { paths: strings(&["setup.py", "legacy"]), globs: strings(&["*_py2.py"]) }),
        );
        check("import os\n\ncollect_ignore_glob = []\n", Ok(CollectIgnore { paths: None, globs: strings(&[]) }));
        // `collect_ignore_glob` alone does not count as `collect_ignore`.
        check("collect_ignore_glob = ['x']\n", Ok(CollectIgnore { paths: None, globs: strings(&["x"]) }));
    }

    #[test]
    fn other_lists_are_left_to_pytest() {
        check("collect_ignore = ['a']\nif True:\n    collect_ignore.append('b')\n", Err(1));
        check("import sys\nif sys.version_info < (3, 12):\n    collect_ignore = ['new_syntax.py']\n", Err(3));
        check("x = 'a'\ncollect_ignore = [x]\n", Err(2));
        check("collect_ignore = ['/abs/path.py']\n", Err(1));
        check("collect_ignore = ['a'] + ['b']\n", Err(1));
        check("# collect_ignore is set below\ncollect_ignore = ['a']\n", Err(2));
        // Not a conftest: nothing.
        let module = discover_module("tests/test_a.py", "collect_ignore = ['a']\n", &TestConfig::default());
        assert_eq!((module.collect_ignore, module.collect_ignore_lists), (None, None));
    }
}
