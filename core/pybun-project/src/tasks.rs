//! Tasks: `[tool.pybun.scripts]` in `pyproject.toml`, run with `pybun run NAME`.
//!
//! ```toml
//! [tool.pybun.scripts]
//! test = "pytest -q"                               # a command line
//! lint = { cmd = ["ruff", "check", "."], help = "Lint the code" }
//! serve = { cmd = "python -m http.server", env = { PORT = "8000" }, depends = ["build"] }
//! build = "python -m build"
//! ci = { sequence = ["lint", "test"], help = "What CI runs" }
//! ```
//!
//! A task is either
//! - a string: a command line, split into argv by [`split_command`] (no shell);
//! - a table with exactly one of
//!   - `cmd`: a command line (string) or an argv (non-empty array of strings),
//!   - `sequence`: a non-empty array of task *names* run in order,
//!
//!   and optionally `env` (a table of strings, set for the task's own command;
//!   only with `cmd`), `depends` (task names run before this task) and `help`
//!   (one line shown by `pybun run` without arguments).
//!
//! A bare array is rejected: it would be ambiguous between an argv and a list
//! of tasks.
//!
//! [`task_plan`] expands a task into concrete [`TaskStep`]s: dependencies
//! first (in the order written), then the task's command or its sequence.
//! Every task appears at most once in a plan (like `make`), so a dependency
//! shared by several tasks runs once.

#![expect(
    clippy::result_large_err,
    reason = "a plan fails once, with one diagnostic for the user"
)]

use std::collections::{BTreeMap, BTreeSet};

use pybun_diagnostics::{Code, Diagnostic, Span};
use toml_edit::{Item, Value};

use crate::Spanned;
use crate::cx::{Cx, suggest};

/// The commands of the `pybun` CLI; a task with one of these names is
/// allowed (`pybun run NAME` runs it) but gets a `PB0116` note.
pub const BUILTIN_COMMANDS: &[&str] = &[
    "add", "cache", "export", "help", "init", "install", "lock", "python", "remove", "run", "sync",
    "test", "tree", "venv",
];

/// The keys of a task table.
const TASK_KEYS: &[&str] = &["cmd", "sequence", "env", "depends", "help"];

/// What a task does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskAction {
    /// Run one program: the argv (never empty) and where the command is written.
    Command(Spanned<Vec<String>>),
    /// Run these tasks in order (never empty).
    Sequence(Vec<Spanned<String>>),
}

/// One task of `[tool.pybun.scripts]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Where the task's name (the key) is written.
    pub name_span: Span,
    pub action: TaskAction,
    /// `env`: variables set for the task's command, in file order.
    pub env: Vec<(String, String)>,
    /// `depends`: tasks run before this one, in order.
    pub depends: Vec<Spanned<String>>,
    /// `help`: a one-line description.
    pub help: Option<String>,
}

/// The result of [`parse_tasks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedTasks {
    /// The valid tasks by name (invalid ones are left out).
    pub tasks: BTreeMap<String, Task>,
    /// Every problem found, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl ParsedTasks {
    /// Whether any diagnostic is an error (warnings and notes do not count).
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// One program to run, as planned by [`task_plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStep {
    /// The task the command belongs to.
    pub task: String,
    pub argv: Vec<String>,
    /// Variables to set (on top of the inherited environment).
    pub env: Vec<(String, String)>,
}

/// Why a command line could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    /// Byte offset and length of the problem in the command line.
    pub offset: usize,
    pub len: usize,
    pub message: String,
}

struct Word {
    text: String,
    /// Whether any part was quoted or escaped.
    quoted: bool,
    start: usize,
}

/// Split a command line into argv, with simple POSIX-like rules and no shell:
///
/// - unquoted spaces, tabs and newlines separate arguments;
/// - `'...'` keeps everything literally (no escapes inside);
/// - `"..."` keeps everything literally except `\"` and `\\`, which give `"`
///   and `\` (any other backslash is kept, so `"C:\dir"` works);
/// - outside quotes, `\x` gives `x` and a backslash before a newline joins
///   the lines;
/// - quoted parts join the surrounding text (`--name="a b"` is one argument),
///   and `''` or `""` alone is an empty argument;
/// - nothing else is special: no variables, globs, `~`, pipes, redirections
///   or `&&` — those characters reach the program as they are.
///
/// # Errors
///
/// An unterminated quote or a trailing backslash.
pub fn split_command(line: &str) -> Result<Vec<String>, SplitError> {
    Ok(split_words(line)?.into_iter().map(|w| w.text).collect())
}

fn split_words(line: &str) -> Result<Vec<Word>, SplitError> {
    let mut words = Vec::new();
    let mut current: Option<Word> = None;
    let mut chars = line.char_indices().peekable();
    let new_word = |start: usize| Word {
        text: String::new(),
        quoted: false,
        start,
    };
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => words.extend(current.take()),
            '\'' => {
                let word = current.get_or_insert_with(|| new_word(i));
                word.quoted = true;
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => word.text.push(c),
                        None => {
                            return Err(SplitError {
                                offset: i,
                                len: 1,
                                message: "this single quote is not closed".to_owned(),
                            });
                        }
                    }
                }
            }
            '"' => {
                let word = current.get_or_insert_with(|| new_word(i));
                word.quoted = true;
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.peek() {
                            Some(&(_, escaped @ ('"' | '\\'))) => {
                                chars.next();
                                word.text.push(escaped);
                            }
                            _ => word.text.push('\\'),
                        },
                        Some((_, c)) => word.text.push(c),
                        None => {
                            return Err(SplitError {
                                offset: i,
                                len: 1,
                                message: "this double quote is not closed".to_owned(),
                            });
                        }
                    }
                }
            }
            '\\' => match chars.next() {
                Some((_, '\n')) => {}
                Some((_, escaped)) => {
                    let word = current.get_or_insert_with(|| new_word(i));
                    word.quoted = true;
                    word.text.push(escaped);
                }
                None => {
                    return Err(SplitError {
                        offset: i,
                        len: 1,
                        message: "a backslash at the end escapes nothing".to_owned(),
                    });
                }
            },
            c => current.get_or_insert_with(|| new_word(i)).text.push(c),
        }
    }
    words.extend(current);
    Ok(words)
}

/// Unquoted words a shell would treat as operators.
const SHELL_OPERATORS: &[&str] = &["|", "||", "&", "&&", ";", "<", ">", ">>", "2>", "2>&1"];

/// Read and validate the tasks of a `pyproject.toml`'s `[tool.pybun.scripts]`;
/// `file` is the path to show in diagnostics.
///
/// Never fails: a file without the table has no tasks and no diagnostics.
/// Codes: `PB0101` (TOML), `PB0113` (a task's shape or command), `PB0107`
/// (unknown key, warning), `PB0114` (reference to a task that does not
/// exist), `PB0115` (cycle), `PB0116` (name of a built-in command, note).
#[must_use]
pub fn parse_tasks(text: &str, file: &str) -> ParsedTasks {
    let mut cx = Cx::new(text, file);
    let mut tasks = BTreeMap::new();
    match crate::recover::parse_document(text) {
        Err(error) => crate::script::push_toml_error(&mut cx, &error),
        Ok(document) => {
            if let Some(item) = document
                .get("tool")
                .and_then(|tool| tool.get("pybun"))
                .and_then(|pybun| pybun.get("scripts"))
            {
                tasks = read_tasks(&mut cx, item);
            }
        }
    }
    let mut diagnostics = cx.diagnostics;
    diagnostics.sort_by_key(|d| {
        d.location
            .as_ref()
            .and_then(|l| l.span)
            .map(|s| (s.start, s.end))
    });
    ParsedTasks { tasks, diagnostics }
}

fn read_tasks(cx: &mut Cx<'_>, item: &Item) -> BTreeMap<String, Task> {
    let mut tasks = BTreeMap::new();
    let Some(table) = cx.table_item(Code::TaskInvalid, "tool.pybun.scripts", item) else {
        return tasks;
    };
    let declared: Vec<&str> = table.iter().map(|(name, _)| name).collect();
    for (name, item) in table.iter() {
        let key_range = table
            .key(name)
            .and_then(toml_edit::Key::span)
            .or_else(|| item.span());
        let name_span = cx.span(key_range.clone().unwrap_or(0..0));
        let name_ok = valid_name(name);
        if !name_ok {
            cx.push(
                Diagnostic::error(Code::TaskInvalid, format!("`{name}` is not a valid task name"))
                    .with_label("invalid task name")
                    .with_hint("task names contain only ASCII letters, digits, `-`, `_`, `.` and `:`, and start with a letter or digit"),
                key_range.clone(),
            );
        }
        if BUILTIN_COMMANDS.contains(&name) {
            cx.push(
                Diagnostic::info(
                    Code::TaskShadowsCommand,
                    format!("task `{name}` has the name of a built-in pybun command"),
                )
                .with_hint(format!(
                    "`pybun run {name}` runs the task; `pybun {name}` still runs the built-in command"
                )),
                key_range.clone(),
            );
        }
        if let Some(task) = read_task(cx, name, name_span, item)
            && name_ok
        {
            tasks.insert(name.to_owned(), task);
        }
    }

    // References to tasks that do not exist.
    for (name, task) in &tasks {
        let sequence: &[Spanned<String>] = match &task.action {
            TaskAction::Sequence(items) => items,
            TaskAction::Command(_) => &[],
        };
        let references = task
            .depends
            .iter()
            .map(|d| ("depends", d))
            .chain(sequence.iter().map(|s| ("sequence", s)));
        for (field, reference) in references {
            if !declared.contains(&reference.value.as_str()) {
                let mut diagnostic = Diagnostic::error(
                    Code::UnknownTask,
                    format!(
                        "task `{name}` refers to `{}` in `{field}`, which is not a task",
                        reference.value
                    ),
                )
                .with_label("no such task");
                if let Some(s) = suggest(&reference.value, &declared) {
                    diagnostic = diagnostic.with_hint(format!("did you mean `{s}`?"));
                }
                cx.diagnostics.push(diagnostic.at(cx.file, reference.span));
            }
        }
    }

    for (cycle, span) in find_cycles(&tasks) {
        let path = cycle
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(" → ");
        cx.diagnostics.push(
            Diagnostic::error(Code::TaskCycle, format!("tasks form a cycle: {path}"))
                .with_label("this reference closes the cycle")
                .with_hint("remove one of the references in `depends` or `sequence`")
                .at(cx.file, span),
        );
    }
    tasks
}

fn valid_name(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn read_task(cx: &mut Cx<'_>, name: &str, name_span: Span, item: &Item) -> Option<Task> {
    let path = format!("tool.pybun.scripts.{name}");
    if let Some(value) = item.as_value().filter(|v| v.is_str()) {
        let argv = command_line(cx, &path, value)?;
        return Some(Task {
            name_span,
            action: TaskAction::Command(argv),
            env: Vec::new(),
            depends: Vec::new(),
            help: None,
        });
    }
    if item.as_array().is_some() {
        cx.push(
            Diagnostic::error(
                Code::TaskInvalid,
                format!("task `{name}` must be a command string or a table, found an array"),
            )
            .with_label("expected a string or a table")
            .with_hint(format!(
                "for an argv write `{name} = {{ cmd = [\"prog\", \"arg\"] }}`; to run tasks in order write `{name} = {{ sequence = [\"lint\", \"test\"] }}`"
            )),
            item.span(),
        );
        return None;
    }
    let Some(table) = item.as_table_like() else {
        cx.wrong_type(
            Code::TaskInvalid,
            &path,
            "a command string or a table",
            item,
        );
        return None;
    };

    let mut ok = true;
    let mut command = None;
    let mut sequence = None;
    let mut env = Vec::new();
    let mut depends = Vec::new();
    let mut help = None;
    for (key, value) in table.iter() {
        let key_path = format!("{path}.{key}");
        match key {
            "cmd" => match value.as_value() {
                Some(v) if v.is_str() => {
                    command = command_line(cx, &key_path, v);
                    ok &= command.is_some();
                }
                Some(Value::Array(array)) => {
                    let argv = cx.string_array(Code::TaskInvalid, &key_path, value);
                    if argv.len() != array.len() {
                        ok = false;
                    } else if argv.is_empty() {
                        cx.push(
                            Diagnostic::error(
                                Code::TaskInvalid,
                                format!("`{key_path}` is empty"),
                            )
                            .with_label("no program to run")
                            .with_hint("the first element is the program, e.g. `cmd = [\"pytest\", \"-q\"]`"),
                            value.span(),
                        );
                        ok = false;
                    } else {
                        command = Some(Spanned {
                            value: argv.into_iter().map(|a| a.value).collect(),
                            span: cx.span(value.span().unwrap_or(0..0)),
                        });
                    }
                }
                _ => {
                    cx.wrong_type(
                        Code::TaskInvalid,
                        &key_path,
                        "a string or an array of strings",
                        value,
                    );
                    ok = false;
                }
            },
            "sequence" => {
                let before = cx.diagnostics.len();
                let items = cx.string_array(Code::TaskInvalid, &key_path, value);
                if cx.diagnostics.len() != before {
                    ok = false;
                } else if items.is_empty() {
                    cx.push(
                        Diagnostic::error(Code::TaskInvalid, format!("`{key_path}` is empty"))
                            .with_label("no tasks to run")
                            .with_hint("list task names, e.g. `sequence = [\"lint\", \"test\"]`"),
                        value.span(),
                    );
                    ok = false;
                } else {
                    sequence = Some(items);
                }
            }
            "env" => {
                let Some(vars) = cx.table_item(Code::TaskInvalid, &key_path, value) else {
                    ok = false;
                    continue;
                };
                for (var, var_value) in vars.iter() {
                    match var_value.as_str() {
                        Some(s) => env.push((var.to_owned(), s.to_owned())),
                        None => {
                            cx.wrong_type(
                                Code::TaskInvalid,
                                &format!("{key_path}.{var}"),
                                "a string",
                                var_value,
                            );
                            ok = false;
                        }
                    }
                }
            }
            "depends" => {
                let before = cx.diagnostics.len();
                depends = cx.string_array(Code::TaskInvalid, &key_path, value);
                ok &= cx.diagnostics.len() == before;
            }
            "help" => {
                help = cx
                    .str_item(Code::TaskInvalid, &key_path, value)
                    .map(str::to_owned);
                ok &= help.is_some();
            }
            _ => {
                let mut diagnostic = Diagnostic::warning(
                    Code::UnknownKey,
                    format!("unknown key `{key}` in task `{name}`"),
                );
                diagnostic = match suggest(key, TASK_KEYS) {
                    Some(s) => diagnostic.with_hint(format!("did you mean `{s}`?")),
                    None => diagnostic.with_hint(
                        "a task table has `cmd` or `sequence`, and optionally `env`, `depends` and `help`",
                    ),
                };
                cx.push(diagnostic, table.key(key).and_then(toml_edit::Key::span));
            }
        }
    }

    let name_range = Some(name_span.start..name_span.end);
    let action = match (command, sequence) {
        (Some(_), Some(_)) => {
            cx.push(
                Diagnostic::error(
                    Code::TaskInvalid,
                    format!("task `{name}` has both `cmd` and `sequence`"),
                )
                .with_hint("a task runs either one command or a sequence of tasks; move the command into its own task"),
                name_range,
            );
            return None;
        }
        (Some(command), None) => TaskAction::Command(command),
        (None, Some(sequence)) => {
            if !env.is_empty() {
                cx.push(
                    Diagnostic::error(
                        Code::TaskInvalid,
                        format!("task `{name}` has `env` but no `cmd`"),
                    )
                    .with_hint("`env` applies to the task's own command; set it on the tasks of the sequence"),
                    table.key("env").and_then(toml_edit::Key::span),
                );
                return None;
            }
            TaskAction::Sequence(sequence)
        }
        (None, None) => {
            if ok {
                cx.push(
                    Diagnostic::error(
                        Code::TaskInvalid,
                        format!("task `{name}` has neither `cmd` nor `sequence`"),
                    )
                    .with_hint("e.g. `cmd = \"pytest -q\"` or `sequence = [\"lint\", \"test\"]`"),
                    name_range,
                );
            }
            return None;
        }
    };
    ok.then_some(Task {
        name_span,
        action,
        env,
        depends,
        help,
    })
}

/// A command-line string split into argv; problems reported at their place.
fn command_line(cx: &mut Cx<'_>, path: &str, value: &Value) -> Option<Spanned<Vec<String>>> {
    let line = value.as_str()?;
    let words = match split_words(line) {
        Ok(words) => words,
        Err(err) => {
            let range = cx.inner_range(value, err.offset, err.len);
            cx.push(
                Diagnostic::error(
                    Code::TaskInvalid,
                    format!("the command of `{path}` cannot be split: {}", err.message),
                )
                .with_label(err.message)
                .with_hint("quotes and backslashes follow POSIX shell rules; write `cmd = [\"prog\", \"arg\"]` to give the argv directly"),
                range,
            );
            return None;
        }
    };
    if words.is_empty() {
        cx.push(
            Diagnostic::error(
                Code::TaskInvalid,
                format!("the command of `{path}` is empty"),
            )
            .with_label("no program to run"),
            value.span(),
        );
        return None;
    }
    for word in words
        .iter()
        .filter(|w| !w.quoted && SHELL_OPERATORS.contains(&w.text.as_str()))
    {
        let range = cx.inner_range(value, word.start, word.text.len());
        cx.push(
            Diagnostic::warning(
                Code::TaskInvalid,
                format!(
                    "`{}` in the command of `{path}` is passed to the program as an argument: tasks do not run in a shell",
                    word.text
                ),
            )
            .with_label("not a shell operator here")
            .with_hint("split the work into tasks and use `depends` or `sequence`, or run a shell explicitly: `cmd = [\"sh\", \"-c\", \"...\"]`"),
            range,
        );
    }
    Some(Spanned {
        value: words.into_iter().map(|w| w.text).collect(),
        span: cx.value_span(value),
    })
}

/// The edges of the task graph: `depends` then `sequence` references.
fn references(task: &Task) -> impl Iterator<Item = &Spanned<String>> {
    let sequence: &[Spanned<String>] = match &task.action {
        TaskAction::Sequence(items) => items,
        TaskAction::Command(_) => &[],
    };
    task.depends.iter().chain(sequence)
}

/// Every cycle (found by depth-first search in name order), as the path of
/// names from a task back to itself, with the span of the closing reference.
fn find_cycles(tasks: &BTreeMap<String, Task>) -> Vec<(Vec<String>, Span)> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum State {
        Active,
        Done,
    }
    fn visit<'t>(
        name: &'t str,
        tasks: &'t BTreeMap<String, Task>,
        state: &mut BTreeMap<&'t str, State>,
        stack: &mut Vec<&'t str>,
        cycles: &mut Vec<(Vec<String>, Span)>,
    ) {
        state.insert(name, State::Active);
        stack.push(name);
        for reference in references(&tasks[name]) {
            let Some((next, _)) = tasks.get_key_value(reference.value.as_str()) else {
                continue;
            };
            match state.get(next.as_str()) {
                Some(State::Active) => {
                    let from = stack.iter().position(|n| *n == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        stack[from..].iter().map(|n| (*n).to_owned()).collect();
                    cycle.push(next.clone());
                    cycles.push((cycle, reference.span));
                }
                Some(State::Done) => {}
                None => visit(next, tasks, state, stack, cycles),
            }
        }
        stack.pop();
        state.insert(name, State::Done);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for name in tasks.keys() {
        if !state.contains_key(name.as_str()) {
            visit(name, tasks, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    cycles
}

/// Expand task `name` into the ordered commands to run.
///
/// Dependencies come first, depth first in the order written; a sequence
/// expands to its tasks in order; every task appears at most once.
/// `extra_args` (from `pybun run NAME -- ARGS`) are appended to the named
/// task's own command only, never to its dependencies.
///
/// # Errors
///
/// `PB0114` when `name` (or a task it refers to) does not exist, `PB0115` on
/// a cycle, `PB0113` when `extra_args` are given to a sequence task. The
/// diagnostics have no location: the caller adds the file if it wants.
pub fn task_plan(
    tasks: &BTreeMap<String, Task>,
    name: &str,
    extra_args: &[String],
) -> Result<Vec<TaskStep>, Diagnostic> {
    let Some(task) = tasks.get(name) else {
        let names: Vec<&str> = tasks.keys().map(String::as_str).collect();
        let mut diagnostic =
            Diagnostic::error(Code::UnknownTask, format!("there is no task `{name}`"));
        if let Some(s) = suggest(name, &names) {
            diagnostic = diagnostic.with_hint(format!("did you mean `{s}`?"));
        }
        diagnostic = if names.is_empty() {
            diagnostic.with_hint("define tasks in `[tool.pybun.scripts]` of `pyproject.toml`")
        } else {
            diagnostic.with_hint(format!(
                "tasks: {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
        return Err(diagnostic);
    };
    if !extra_args.is_empty() && matches!(task.action, TaskAction::Sequence(_)) {
        return Err(Diagnostic::error(
            Code::TaskInvalid,
            format!("task `{name}` runs a sequence of tasks and cannot take extra arguments"),
        )
        .with_hint(
            "give the arguments to one of the tasks of the sequence with `pybun run TASK -- ARGS`",
        ));
    }
    let mut planner = Planner {
        tasks,
        done: BTreeSet::new(),
        stack: Vec::new(),
        steps: Vec::new(),
    };
    planner.visit(name, extra_args)?;
    Ok(planner.steps)
}

struct Planner<'t> {
    tasks: &'t BTreeMap<String, Task>,
    done: BTreeSet<&'t str>,
    stack: Vec<&'t str>,
    steps: Vec<TaskStep>,
}

impl<'t> Planner<'t> {
    fn visit(&mut self, name: &'t str, extra_args: &[String]) -> Result<(), Diagnostic> {
        if self.done.contains(name) {
            return Ok(());
        }
        if let Some(from) = self.stack.iter().position(|n| *n == name) {
            let path = self.stack[from..]
                .iter()
                .chain([&name])
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" → ");
            return Err(Diagnostic::error(
                Code::TaskCycle,
                format!("tasks form a cycle: {path}"),
            ));
        }
        let Some((name, task)) = self.tasks.get_key_value(name) else {
            let parent = self.stack.last().copied().unwrap_or_default();
            return Err(Diagnostic::error(
                Code::UnknownTask,
                format!("task `{parent}` refers to `{name}`, which is not a task"),
            ));
        };
        self.stack.push(name);
        for dependency in &task.depends {
            self.visit(&dependency.value, &[])?;
        }
        match &task.action {
            TaskAction::Command(argv) => self.steps.push(TaskStep {
                task: name.clone(),
                argv: argv.value.iter().chain(extra_args).cloned().collect(),
                env: task.env.clone(),
            }),
            TaskAction::Sequence(items) => {
                for item in items {
                    self.visit(&item.value, &[])?;
                }
            }
        }
        self.stack.pop();
        self.done.insert(name);
        Ok(())
    }
}
