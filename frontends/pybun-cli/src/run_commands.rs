//! `run`, `x` and `env`: prepare an environment, then hand the terminal to
//! the program (on Unix by `exec`: exit codes, signals, stdin and stdout are
//! the program's own).

use std::path::PathBuf;
use std::process::ExitCode;

use pybun_engine::{
    EnvironmentInputs, ExecStep, Failure, Preparation, RunPlan, RunRequest, RunTarget, SyncPorts, ToolRequest,
};
use pybun_fs_os::OsFs;
use serde_json::{Value, json};

use crate::cli::{Cli, OutputFormat, RunArgs, XArgs};
use crate::commands::{cache_dir, index_settings};
use crate::env_commands::data_dir;
use crate::{Rendered, Settings};

fn environment_inputs(settings: &Settings) -> EnvironmentInputs {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    EnvironmentInputs {
        pybun_env: var("PYBUN_ENV").map(|p| if p.is_absolute() { p } else { settings.directory.join(p) }),
        project_root: None,
        virtual_env: var("VIRTUAL_ENV"),
        global_env: data_dir().join("environments").join("default"),
    }
}

/// `ENVIRONMENTS_DIR` of the cache, without building the adapters.
fn environments_dir(cli: &Cli) -> PathBuf {
    cache_dir(cli).join(pybun_cache::ENVIRONMENTS_DIR)
}

/// Run with the adapters (the slow path: something must be prepared).
fn with_ports<T>(cli: &Cli, settings: &Settings, f: impl FnOnce(&SyncPorts<'_>) -> Result<T, Failure>) -> Result<T, Failure> {
    crate::env_commands::with_ports(cli, settings, f).map(|(value, _)| value)
}

pub(crate) fn run(cli: &Cli, settings: &Settings, args: &RunArgs) -> Result<ExitCode, Failure> {
    let (target, rest) = match (&args.module, &args.code) {
        (Some(module), _) => (RunTarget::Module(module.clone()), args.rest.clone()),
        (None, Some(code)) => (RunTarget::Code(code.clone()), args.rest.clone()),
        (None, None) => {
            let Some((first, rest)) = args.rest.split_first() else {
                return Err(Failure::new(
                    pybun_engine::Diagnostic::error(pybun_engine::Code::Usage, "nothing to run")
                        .with_hint("`pybun run FILE.py`, `pybun run -m MODULE`, `pybun run -c CODE`, `pybun run TASK` or `pybun run COMMAND`"),
                ));
            };
            (RunTarget::Name(first.clone()), rest.to_vec())
        }
    };
    let request = RunRequest {
        directory: settings.directory.clone(),
        target,
        args: rest,
        with: args.with.clone(),
        python: args.python.clone(),
        frozen: args.frozen,
        index: index_settings(cli),
        environment: environment_inputs(settings),
    };
    // A cached PEP 723 environment needs nothing but a few reads.
    let plan = match pybun_engine::cached_script_plan(&request, &OsFs, &environments_dir(cli)) {
        Some(plan) => plan,
        None => with_ports(cli, settings, |ports| pybun_engine::prepare_run(&request, ports))?,
    };
    execute(settings, "run", &plan)
}

pub(crate) fn x(cli: &Cli, settings: &Settings, args: &XArgs) -> Result<ExitCode, Failure> {
    let (package, rest) = args.rest.split_first().expect("clap requires the package");
    let request = ToolRequest {
        directory: settings.directory.clone(),
        package: package.clone(),
        from: args.from.clone(),
        args: rest.to_vec(),
        with: args.with.clone(),
        python: args.python.clone(),
        index: index_settings(cli),
    };
    let plan = match pybun_engine::cached_tool_plan(&request, &OsFs, &environments_dir(cli)) {
        Some(plan) => plan,
        None => with_ports(cli, settings, |ports| pybun_engine::prepare_tool(&request, ports))?,
    };
    execute(settings, "x", &plan)
}

fn plan_json(plan: &RunPlan) -> Value {
    json!({
        "environment": plan.environment,
        "rule": plan.rule.map(|r| r.as_str()),
        "reason": plan.reason,
        "prepared": plan.preparation == Preparation::Prepared,
        "steps": plan.steps.iter().map(|s| json!({
            "program": s.program,
            "args": s.args,
            "task": s.task,
        })).collect::<Vec<_>>(),
    })
}

/// Hand over to the program(s). Our own report goes to stderr (one JSON
/// document in JSON mode), never to stdout: stdout is the program's.
fn execute(settings: &Settings, command: &str, plan: &RunPlan) -> Result<ExitCode, Failure> {
    if settings.format == OutputFormat::Json {
        let document = crate::json::success_document(command, &plan_json(plan), &plan.warnings);
        crate::print_stderr(&document.to_string());
    } else if !settings.quiet {
        for warning in &plan.warnings {
            crate::print_stderr(&crate::text::diagnostic(warning));
        }
    }
    let path = match std::env::var_os("PATH") {
        Some(old) => {
            let mut paths = vec![plan.path_prepend.clone()];
            paths.extend(std::env::split_paths(&old));
            std::env::join_paths(paths).unwrap_or(old)
        }
        None => plan.path_prepend.clone().into_os_string(),
    };
    let build = |step: &ExecStep| {
        let mut command = std::process::Command::new(&step.program);
        command
            .args(&step.args)
            .env("PATH", &path)
            .env("VIRTUAL_ENV", &plan.environment)
            .env_remove("PYTHONHOME")
            .envs(step.env.iter().map(|(k, v)| (k, v)));
        command
    };
    let not_found = |step: &ExecStep, error: &std::io::Error| {
        Failure::new(
            pybun_engine::Diagnostic::error(
                pybun_engine::Code::RunTargetNotFound,
                format!("could not run `{}`: {error}", step.program.display()),
            )
            .with_hint("it is not a task of `[tool.pybun.scripts]`, a file, or a command in the environment or on `PATH`"),
        )
    };
    let Some((last, before)) = plan.steps.split_last() else {
        return Ok(ExitCode::SUCCESS);
    };
    if !before.is_empty() {
        // Several steps: Ctrl-C reaches the children (one process group); we
        // only wait for them and stop at the first failure.
        let _ = ctrlc::set_handler(|| {});
    }
    for step in before {
        if let Some(task) = &step.task
            && settings.format == OutputFormat::Text
            && !settings.quiet
        {
            crate::print_stderr(&format!("$ {} ({task})", shell_words(step)));
        }
        let status = build(step).status().map_err(|e| not_found(step, &e))?;
        if !status.success() {
            return Ok(exit_code(status));
        }
    }
    if let Some(task) = &last.task
        && settings.format == OutputFormat::Text
        && !settings.quiet
    {
        crate::print_stderr(&format!("$ {} ({task})", shell_words(last)));
    }
    #[cfg(unix)]
    if before.is_empty() {
        use std::os::unix::process::CommandExt as _;
        let error = build(last).exec();
        return Err(not_found(last, &error));
    }
    let status = build(last).status().map_err(|e| not_found(last, &e))?;
    Ok(exit_code(status))
}

fn shell_words(step: &ExecStep) -> String {
    let mut words = vec![step.program.display().to_string()];
    words.extend(step.args.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() }));
    words.join(" ")
}

/// The child's exit code; `128 + N` when killed by signal `N` (as shells report it).
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        return ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return ExitCode::from(u8::try_from(128 + signal).unwrap_or(1));
        }
    }
    ExitCode::from(1)
}

pub(crate) fn env(cli: &Cli, settings: &Settings) -> Result<Rendered, Failure> {
    let inputs = environment_inputs(settings);
    let outcome = with_ports(cli, settings, |ports| pybun_engine::show_environment(&settings.directory, &inputs, ports))?;
    let choice = &outcome.choice;
    let mut text = format!("{}\n  rule: {} ({})\n", choice.path.display(), choice.rule, choice.reason);
    match (&outcome.python, &outcome.python_version) {
        (Some(python), Some(version)) => text.push_str(&format!("  python: {} (Python {version})\n", python.display())),
        _ => text.push_str("  does not exist yet\n"),
    }
    text.push_str(if outcome.managed {
        "  managed: created and synced by PyBun on demand"
    } else {
        "  managed: no (used as it is; PyBun never changes it implicitly)"
    });
    let order = ["pybun-env", "project", "virtual-env", "global"];
    Ok(Rendered {
        json: json!({
            "environment": choice.path,
            "rule": choice.rule.as_str(),
            "reason": choice.reason,
            "exists": outcome.exists,
            "python": outcome.python,
            "python_version": outcome.python_version,
            "managed": outcome.managed,
            "order": order,
        }),
        stdout: text,
        stderr: String::new(),
        warnings: Vec::new(),
        exit: 0,
    })
}

/// `pybun run SCRIPT.py [ARGS]` with nothing else on the command line and a
/// cached PEP 723 environment: exec without parsing the full command line
/// or setting up logging (they cost a good part of a millisecond). `None`
/// means "take the normal path" (any option, any setting variable, a miss).
pub(crate) fn fast_path(args: &[String]) -> Option<ExitCode> {
    let [_, run, script, rest @ ..] = args else { return None };
    if run != "run" || !script.ends_with(".py") || script.starts_with('-') {
        return None;
    }
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if ["PYBUN_PYTHON", "PYBUN_FORMAT", "PYBUN_LOG"].iter().any(|v| set(v)) {
        return None;
    }
    let cache = match std::env::var_os("PYBUN_CACHE_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir).join("pybun"),
            None => PathBuf::from(std::env::var_os("HOME")?).join(".cache").join("pybun"),
        },
    };
    let directory = std::env::current_dir().ok()?;
    let settings = Settings { format: OutputFormat::Text, quiet: false, directory };
    let request = RunRequest {
        directory: settings.directory.clone(),
        target: RunTarget::Name(script.clone()),
        args: rest.to_vec(),
        with: Vec::new(),
        python: None,
        frozen: false,
        index: pybun_engine::IndexSettings {
            index_url: std::env::var("PYBUN_INDEX_URL").ok().filter(|v| !v.is_empty()),
            ..pybun_engine::IndexSettings::default()
        },
        environment: EnvironmentInputs::default(),
    };
    let plan = pybun_engine::cached_script_plan(&request, &OsFs, &cache.join(pybun_cache::ENVIRONMENTS_DIR))?;
    execute(&settings, "run", &plan).ok()
}

/// `pybun run -m MODULE ARGS...` and `pybun run -c CODE ARGS...` pass every
/// argument after the module or code to the program, like `python -m` does,
/// even when it looks like a pybun option (`pybun run -m http.server --help`).
/// clap cannot express "the rest after this option's value", so a `--` is
/// inserted after the value before parsing. Nothing else is changed.
pub(crate) fn separate_program_args(args: Vec<String>) -> Vec<String> {
    use clap::CommandFactory as _;
    let command = crate::cli::Cli::command();
    let takes_value = |cmd: &clap::Command, token: &str| -> bool {
        cmd.get_arguments().any(|arg| {
            let matches = match token.strip_prefix("--") {
                Some(long) => arg.get_long() == Some(long),
                None => token.len() == 2 && arg.get_short().is_some_and(|s| token.ends_with(s)),
            };
            matches && arg.get_action().takes_values()
        })
    };
    // Find the subcommand: the first token that is not an option or an option's value.
    let mut index = 1;
    while index < args.len() {
        let token = &args[index];
        if token == "--" || !token.starts_with('-') {
            break;
        }
        index += if !token.contains('=') && takes_value(&command, token) { 2 } else { 1 };
    }
    if args.get(index).map(String::as_str) != Some("run") {
        return args;
    }
    let Some(run) = command.find_subcommand("run") else { return args };
    let mut position = index + 1;
    while position < args.len() {
        let token = &args[position];
        if token == "--" || !token.starts_with('-') || token == "-" {
            return args;
        }
        let value_end = if token == "-m" || token == "-c" {
            Some(position + 2)
        } else if (token.starts_with("-m") || token.starts_with("-c")) && !token.starts_with("--") {
            Some(position + 1)
        } else {
            None
        };
        if let Some(end) = value_end {
            if end >= args.len() || args[end] == "--" {
                return args;
            }
            let mut args = args;
            args.insert(end, "--".to_owned());
            return args;
        }
        let global = takes_value(&command, token);
        position += if !token.contains('=') && (global || takes_value(run, token)) { 2 } else { 1 };
    }
    args
}

#[cfg(test)]
mod tests {
    use super::separate_program_args;

    fn check(input: &str, expected: &str) {
        let args: Vec<String> = input.split(' ').map(str::to_owned).collect();
        assert_eq!(separate_program_args(args).join(" "), expected, "for `{input}`");
    }

    #[test]
    fn arguments_after_a_module_or_code_go_to_the_program() {
        check("pybun run -m http.server --help", "pybun run -m http.server -- --help");
        check("pybun run -mhttp.server -v", "pybun run -mhttp.server -- -v");
        check("pybun run -c print(1) -x", "pybun run -c print(1) -- -x");
        check(
            "pybun --cache-dir /c run --with rich --python 3.12 -m rich --help",
            "pybun --cache-dir /c run --with rich --python 3.12 -m rich -- --help",
        );
        check("pybun run --frozen -m pip --version", "pybun run --frozen -m pip -- --version");
    }

    #[test]
    fn other_command_lines_are_left_alone() {
        check("pybun run -m http.server -- --help", "pybun run -m http.server -- --help");
        check("pybun run -m http.server", "pybun run -m http.server");
        check("pybun run script.py -m x --help", "pybun run script.py -m x --help");
        check("pybun x ruff -m x --help", "pybun x ruff -m x --help");
        check("pybun --format json run -m", "pybun --format json run -m");
        check("pybun lock -m x", "pybun lock -m x");
    }
}
