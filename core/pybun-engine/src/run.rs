//! `pybun run`, `pybun x` and `pybun env`: choose (and prepare) an
//! environment, then say what to execute. The frontend executes it (on Unix
//! by `exec`, so nothing of PyBun stays between the user and Python).
//!
//! * A PEP 723 script (a `.py` file with a `# /// script` block) runs in a
//!   cached ephemeral environment. A pointer keyed by the script's metadata
//!   (and `--with`, `--python`, the indexes) names the environment, so the
//!   second run reads the script, hashes its metadata, reads the pointer and
//!   executes: no resolution, no network, no interpreter discovery.
//! * Anything else runs in the selected environment (SPECS §16): `PYBUN_ENV`
//!   as it is; the project's `.venv`, synced first unless its sync stamp
//!   says nothing changed; an active `VIRTUAL_ENV` as it is; else the global
//!   environment (created on first use).
//! * `pybun run NAME` runs, in this order: a task of `[tool.pybun.scripts]`,
//!   a file, a command in the environment's `bin/`, a command on `PATH`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pybun_diagnostics::{Code, Diagnostic};
use pybun_env::{EnvironmentChoice, EnvironmentInputs, EnvironmentRule, Interpreter, select_environment};
use pybun_lockfile::ExportSelection;
use pybun_pep::{Req, VersionSpecifiers};
use pybun_ports::{Event, VenvOptions};
use pybun_project::{parse_script, parse_tasks, script_fingerprint_input, task_plan};
use sha2::{Digest, Sha256};

use crate::Failure;
use crate::interpreter::choose_interpreter;
use crate::lock::{IndexSettings, existing_lock_path, lock_requirements};
use crate::project::find_project_root;
use crate::sync::{
    EarlyInstalls, LockMode, SYNC_STAMP, SyncPorts, SyncRequest, WantedKind, environment_failure, environment_key_text, install_prepared, prepare, sync, sync_stamp,
    wanted_packages,
};

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunTarget {
    /// `pybun run NAME`: a task, a file, or a command.
    Name(String),
    /// `pybun run -m MODULE`.
    Module(String),
    /// `pybun run -c CODE`.
    Code(String),
}

/// `pybun run`.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub directory: PathBuf,
    pub target: RunTarget,
    pub args: Vec<String>,
    /// `--with`: extra requirements (an ephemeral overlay environment).
    pub with: Vec<String>,
    pub python: Option<String>,
    /// Use the project's lock and environment as they are.
    pub frozen: bool,
    pub index: IndexSettings,
    /// Environment facts read by the frontend (`PYBUN_ENV`, `VIRTUAL_ENV`, the global env path).
    pub environment: EnvironmentInputs,
}

/// One process to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecStep {
    /// A path, or a bare name to look up on `PATH` (with `path_prepend` first).
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Extra variables (a task's `env`).
    pub env: Vec<(String, String)>,
    /// The task this step belongs to, for messages.
    pub task: Option<String>,
}

/// How the environment was made ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preparation {
    /// Used as it was.
    Reused,
    /// Synced (project) or created (global, ephemeral) by this run.
    Prepared,
}

/// What to execute, and where.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// `None` for a script's or `x`'s ephemeral environment.
    pub rule: Option<EnvironmentRule>,
    pub environment: PathBuf,
    pub reason: String,
    pub preparation: Preparation,
    /// `VIRTUAL_ENV` for the child, and its `bin/` goes first on `PATH`.
    pub path_prepend: PathBuf,
    pub steps: Vec<ExecStep>,
    pub warnings: Vec<Diagnostic>,
}

/// `pybun env`: the environment a command would use, and why.
#[derive(Debug, Clone)]
pub struct EnvOutcome {
    pub choice: EnvironmentChoice,
    pub exists: bool,
    pub python: Option<PathBuf>,
    pub python_version: Option<String>,
    /// Whether PyBun creates and syncs it on demand.
    pub managed: bool,
}

/// The environment the rules choose here (no changes made).
///
/// # Errors
/// An unreadable environment.
pub fn show_environment(directory: &Path, inputs: &EnvironmentInputs, ports: &SyncPorts<'_>) -> Result<EnvOutcome, Failure> {
    let inputs = EnvironmentInputs {
        project_root: inputs.project_root.clone().or_else(|| find_project_root(ports.fs, directory)),
        ..inputs.clone()
    };
    let choice = select_environment(&inputs);
    let venv = ports.environments.open_venv(&choice.path).map_err(environment_failure)?;
    Ok(EnvOutcome {
        exists: venv.is_some(),
        python: venv.as_ref().map(|v| v.python.clone()),
        python_version: venv.as_ref().map(|v| v.interpreter.python_full_version.clone()),
        managed: choice.rule.is_managed(),
        choice,
    })
}

/// The fast path of a PEP 723 script whose environment is cached: only the
/// filesystem port, no interpreter or index. `None` when it must be prepared.
#[must_use]
pub fn cached_script_plan(request: &RunRequest, fs: &dyn pybun_ports::FileSystem, environments_dir: &Path) -> Option<RunPlan> {
    let RunTarget::Name(name) = &request.target else { return None };
    let script = resolve_path(&request.directory, name);
    if !name.ends_with(".py") && !name.ends_with(".pyw") {
        return None;
    }
    let text = fs.read_to_string(&script).ok()?;
    if !text.contains("# /// script") {
        return None;
    }
    let parsed = parse_script(&text, &script.display().to_string());
    if parsed.diagnostics.iter().any(Diagnostic::is_error) {
        return None;
    }
    let metadata = parsed.metadata?;
    let key = pointer_key("script", &script_fingerprint_input(&metadata), request);
    let env = read_pointer(fs, environments_dir, &key)?;
    Some(script_plan(&env, &script, request, Preparation::Reused))
}

fn script_plan(env: &Path, script: &Path, request: &RunRequest, preparation: Preparation) -> RunPlan {
    let mut args = vec![script.display().to_string()];
    args.extend(request.args.iter().cloned());
    RunPlan {
        rule: None,
        environment: env.to_path_buf(),
        reason: format!("`{}` declares its dependencies (PEP 723): its own cached environment", script.display()),
        preparation,
        path_prepend: env.join("bin"),
        steps: vec![ExecStep { program: env.join("bin").join("python"), args, env: Vec::new(), task: None }],
        warnings: Vec::new(),
    }
}

/// Prepare what `pybun run` executes.
///
/// # Errors
/// Invalid script metadata, an unusable environment, a failed sync or
/// resolution, an unknown task.
pub fn prepare_run(request: &RunRequest, ports: &SyncPorts<'_>) -> Result<RunPlan, Failure> {
    // A PEP 723 script.
    if let RunTarget::Name(name) = &request.target {
        let script = resolve_path(&request.directory, name);
        if (name.ends_with(".py") || name.ends_with(".pyw"))
            && let Ok(text) = ports.fs.read_to_string(&script)
            && text.contains("# /// script")
        {
            return prepare_script(request, &script, &text, ports);
        }
    }

    let (mut plan, tasks_root) = environment_plan(request, ports)?;
    if !request.with.is_empty() {
        let overlay = prepare_overlay(request, &plan.environment, ports)?;
        plan.reason = format!("{} with `--with` requirements in an overlay environment", plan.reason);
        plan.environment.clone_from(&overlay);
        plan.path_prepend = overlay.join("bin");
    }
    plan.steps = resolve_target(request, &plan.environment, tasks_root.as_deref(), ports)?;
    Ok(plan)
}

/// The selected environment (section 16), prepared; and the project root, if any.
pub(crate) fn environment_plan(request: &RunRequest, ports: &SyncPorts<'_>) -> Result<(RunPlan, Option<PathBuf>), Failure> {
    let project_root = find_project_root(ports.fs, &request.directory);
    let inputs = EnvironmentInputs { project_root: project_root.clone(), ..request.environment.clone() };
    let choice = select_environment(&inputs);
    let (plan, tasks_root) = match choice.rule {
        EnvironmentRule::ProjectVenv => {
            let root = project_root.clone().expect("the project rule needs a project");
            (prepare_project_env(request, &root, &choice, ports)?, Some(root))
        }
        EnvironmentRule::Global => (prepare_global_env(request, &choice, ports)?, None),
        EnvironmentRule::PybunEnv | EnvironmentRule::VirtualEnv => {
            if ports.environments.open_venv(&choice.path).map_err(environment_failure)?.is_none() {
                return Err(Failure::new(
                    Diagnostic::error(
                        Code::RunEnvironmentMissing,
                        format!("the environment `{}` does not exist ({})", choice.path.display(), choice.reason),
                    )
                    .with_hint("create it with `pybun venv PATH`, or unset the variable to use the project's `.venv`"),
                ));
            }
            (plan_in(&choice.path, Some(choice.rule), choice.reason.clone(), Preparation::Reused), project_root.clone())
        }
    };
    Ok((plan, tasks_root))
}

fn plan_in(env: &Path, rule: Option<EnvironmentRule>, reason: String, preparation: Preparation) -> RunPlan {
    RunPlan {
        rule,
        environment: env.to_path_buf(),
        reason,
        preparation,
        path_prepend: env.join("bin"),
        steps: Vec::new(),
        warnings: Vec::new(),
    }
}

fn prepare_project_env(
    request: &RunRequest,
    root: &Path,
    choice: &EnvironmentChoice,
    ports: &SyncPorts<'_>,
) -> Result<RunPlan, Failure> {
    let selection = ExportSelection { groups: vec!["dev".to_string()], ..ExportSelection::default() };
    // Two reads and a hash (the lock is not parsed): is the venv already synced from this pyproject and lock?
    // (`--python` may ask for another interpreter: then sync decides.)
    if request.python.is_none()
        && let Some(lock_path) = existing_lock_path(ports.fs, root)
    {
        let stamp = ports.fs.read(&choice.path.join(SYNC_STAMP)).ok();
        if let (Some(stamp), Some(now)) = (stamp, sync_stamp(ports.fs, root, &lock_path, &selection))
            && stamp == now.as_bytes()
            && ports.fs.exists(&choice.path.join("bin").join("python"))
        {
            return Ok(plan_in(&choice.path, Some(choice.rule), choice.reason.clone(), Preparation::Reused));
        }
    }
    let outcome = sync(
        &SyncRequest {
            directory: root.to_path_buf(),
            index: request.index.clone(),
            python: request.python.clone(),
            lock_mode: if request.frozen { LockMode::Frozen } else { LockMode::Auto },
            selection,
            ..SyncRequest::default()
        },
        ports,
    )?;
    let mut plan = plan_in(&outcome.venv, Some(choice.rule), choice.reason.clone(), Preparation::Prepared);
    plan.warnings = outcome.warnings;
    Ok(plan)
}

fn prepare_global_env(request: &RunRequest, choice: &EnvironmentChoice, ports: &SyncPorts<'_>) -> Result<RunPlan, Failure> {
    if ports.environments.open_venv(&choice.path).map_err(environment_failure)?.is_some() {
        return Ok(plan_in(&choice.path, Some(choice.rule), choice.reason.clone(), Preparation::Reused));
    }
    let picked = choose_interpreter(ports.fs, ports.interpreters, &request.directory, request.python.as_deref(), None, None)?;
    let venv = ports
        .environments
        .create_venv(&choice.path, picked.interpreter(), &VenvOptions { prompt: Some("pybun-global".into()), ..VenvOptions::default() })
        .map_err(environment_failure)?;
    ports.reporter.report(Event::VenvCreated { path: venv.root.clone(), python: venv.interpreter.python_full_version.clone() });
    Ok(plan_in(&choice.path, Some(choice.rule), choice.reason.clone(), Preparation::Prepared))
}

/// What `pybun run NAME` means here.
fn resolve_target(
    request: &RunRequest,
    env: &Path,
    project_root: Option<&Path>,
    ports: &SyncPorts<'_>,
) -> Result<Vec<ExecStep>, Failure> {
    let python = env.join("bin").join("python");
    let step = |program: PathBuf, args: Vec<String>| ExecStep { program, args, env: Vec::new(), task: None };
    let with_args = |mut first: Vec<String>| {
        first.extend(request.args.iter().cloned());
        first
    };
    match &request.target {
        RunTarget::Module(module) => Ok(vec![step(python, with_args(vec!["-m".into(), module.clone()]))]),
        RunTarget::Code(code) => Ok(vec![step(python, with_args(vec!["-c".into(), code.clone()]))]),
        RunTarget::Name(name) => {
            if let Some(root) = project_root {
                let pyproject = root.join("pyproject.toml");
                if let Ok(text) = ports.fs.read_to_string(&pyproject) {
                    let parsed = parse_tasks(&text, &pyproject.display().to_string());
                    if parsed.tasks.contains_key(name.as_str()) {
                        if let Some(error) = parsed.diagnostics.iter().find(|d| d.is_error()) {
                            return Err(Failure::new(error.clone()));
                        }
                        let steps = task_plan(&parsed.tasks, name, &request.args).map_err(Failure::new)?;
                        return Ok(steps
                            .into_iter()
                            .map(|task_step| {
                                let mut argv = task_step.argv.into_iter();
                                let program = argv.next().unwrap_or_default();
                                ExecStep {
                                    program: command_path(&program, env, ports),
                                    args: argv.collect(),
                                    env: task_step.env,
                                    task: Some(task_step.task),
                                }
                            })
                            .collect());
                    }
                }
            }
            let as_path = resolve_path(&request.directory, name);
            if name.ends_with(".py") || name.ends_with(".pyw") || (name.contains('/') && ports.fs.exists(&as_path)) {
                if !ports.fs.exists(&as_path) {
                    return Err(Failure::new(
                        Diagnostic::error(Code::RunTargetNotFound, format!("`{}` does not exist", as_path.display()))
                            .with_hint("check the path of the script"),
                    ));
                }
                return Ok(vec![step(python, with_args(vec![as_path.display().to_string()]))]);
            }
            Ok(vec![step(command_path(name, env, ports), request.args.clone())])
        }
    }
}

/// `python` and commands installed in the environment resolve to its `bin/`; others stay names (looked up on `PATH`).
fn command_path(name: &str, env: &Path, ports: &SyncPorts<'_>) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    let candidate = env.join("bin").join(name);
    if ports.fs.exists(&candidate) { candidate } else { PathBuf::from(name) }
}

fn resolve_path(directory: &Path, name: &str) -> PathBuf {
    let path = Path::new(name);
    if path.is_absolute() { path.to_path_buf() } else { directory.join(path) }
}

/// The pointer key of an ephemeral environment: what it is for, plus everything else that shapes it.
fn pointer_key(kind: &str, input: &str, request: &RunRequest) -> String {
    let mut text = format!("{kind}\n{input}\n");
    let mut with = request.with.clone();
    with.sort();
    for requirement in &with {
        text.push_str(&format!("with:{requirement}\n"));
    }
    text.push_str(&format!("python:{}\n", request.python.as_deref().unwrap_or("")));
    for url in request.index.index_urls() {
        text.push_str(&format!("index:{url}\n"));
    }
    for link in &request.index.find_links {
        text.push_str(&format!("find-links:{link}\n"));
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}

const POINTERS: &str = "pointers";
const COMPLETE: &str = ".pybun-env-complete";

fn read_pointer(fs: &dyn pybun_ports::FileSystem, environments_dir: &Path, key: &str) -> Option<PathBuf> {
    let name = fs.read_to_string(&environments_dir.join(POINTERS).join(key)).ok()?;
    let env = environments_dir.join(name.trim());
    (fs.exists(&env.join(COMPLETE)) && fs.exists(&env.join("bin").join("python"))).then_some(env)
}

fn prepare_script(request: &RunRequest, script: &Path, text: &str, ports: &SyncPorts<'_>) -> Result<RunPlan, Failure> {
    let parsed = parse_script(text, &script.display().to_string());
    let (errors, warnings): (Vec<Diagnostic>, Vec<Diagnostic>) = parsed.diagnostics.into_iter().partition(Diagnostic::is_error);
    if !errors.is_empty() {
        return Err(Failure::from_diagnostics(errors));
    }
    let Some(metadata) = parsed.metadata else {
        return Err(Failure::new(Diagnostic::error(Code::Internal, "a `# /// script` block without metadata")));
    };
    let environments_dir = ports.build_cache.environments_dir();
    let key = pointer_key("script", &script_fingerprint_input(&metadata), request);
    if let Some(env) = read_pointer(ports.fs, &environments_dir, &key) {
        let mut plan = script_plan(&env, script, request, Preparation::Reused);
        plan.warnings = warnings;
        return Ok(plan);
    }
    let mut requirements: Vec<Req> = metadata.dependencies.iter().map(|r| r.value.clone()).collect();
    requirements.extend(parse_with(&request.with)?);
    let requires_python = metadata.requires_python.as_ref().map(|r| r.value.clone());
    let mut index = request.index.clone();
    if index.index_url.is_none() {
        index.index_url.clone_from(&metadata.tool_pybun.index_url);
    }
    index.extra_index_urls.extend(metadata.tool_pybun.extra_index_urls.iter().cloned());
    let directory = script.parent().map_or_else(|| request.directory.clone(), Path::to_path_buf);
    let env = ephemeral_env(&format!("`{}`", script.display()), script, requirements, requires_python.as_ref(), &directory, request.python.as_deref(), &index, ports)?;
    write_pointer(ports, &environments_dir, &key, &env)?;
    let mut plan = script_plan(&env, script, request, Preparation::Prepared);
    plan.warnings = warnings;
    Ok(plan)
}

fn parse_with(with: &[String]) -> Result<Vec<Req>, Failure> {
    with.iter()
        .map(|text| {
            Req::from_str(text).map_err(|e| {
                Failure::new(
                    Diagnostic::error(Code::InvalidRequirement, format!("invalid `--with` requirement `{text}`: {e}"))
                        .with_hint("give a PEP 508 requirement such as `rich>=13`"),
                )
            })
        })
        .collect()
}

fn write_pointer(ports: &SyncPorts<'_>, environments_dir: &Path, key: &str, env: &Path) -> Result<(), Failure> {
    let path = environments_dir.join(POINTERS).join(key);
    let name = env.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    ports.fs.write_atomic(&path, name.as_bytes()).map_err(|e| Failure::io(&path, &e, "write"))
}

/// A cached environment holding exactly `requirements` resolved for the
/// chosen interpreter; keyed by the interpreter and the resolved set.
#[expect(clippy::too_many_arguments, reason = "one internal helper shared by scripts, overlays and `x`")]
fn ephemeral_env(
    label: &str,
    source: &Path,
    requirements: Vec<Req>,
    requires_python: Option<&VersionSpecifiers>,
    directory: &Path,
    python: Option<&str>,
    index: &IndexSettings,
    ports: &SyncPorts<'_>,
) -> Result<PathBuf, Failure> {
    let picked = choose_interpreter(ports.fs, ports.interpreters, directory, python, requires_python, None)?;
    let interpreter: &Interpreter = picked.interpreter();
    let lock = lock_requirements(
        &format!("the requirements of {label}"),
        source,
        requirements,
        &interpreter.python_full_version,
        index,
        ports.open_index,
        ports.reporter,
    )?;
    let wanted = wanted_packages(&lock, &ExportSelection::all(), interpreter, None)?;
    let key_text = environment_key_text(interpreter, &wanted);
    let key = hex::encode(Sha256::digest(key_text.as_bytes()));
    let env = ports.build_cache.environments_dir().join(&key[..32]);
    if ports.fs.exists(&env.join(COMPLETE)) && ports.environments.open_venv(&env).map_err(environment_failure)?.is_some() {
        return Ok(env);
    }
    let venv = ports
        .environments
        .create_venv(&env, interpreter, &VenvOptions { prompt: Some("pybun-run".into()), system_site_packages: false, clear: true })
        .map_err(environment_failure)?;
    let install: Vec<_> = wanted.iter().filter(|w| w.kind != WantedKind::Editable).collect();
    // A new environment: each downloaded wheel installed as soon as it is unpacked.
    let early = EarlyInstalls::new(ports.environments, &venv, None);
    let (wheels, _) = prepare(&install, directory, interpreter, index, ports, Some(&early), None)?;
    let results = install_prepared(ports.environments, &venv, &wheels, Some(early), None, false);
    for (result, want) in results.into_iter().zip(&install) {
        result.map_err(environment_failure)?;
        ports.reporter.report(Event::Installed { name: want.package.name.clone(), version: want.package.version.clone() });
    }
    let marker = env.join(COMPLETE);
    ports.fs.write_atomic(&marker, key_text.as_bytes()).map_err(|e| Failure::io(&marker, &e, "write"))?;
    Ok(env)
}

/// `--with` on top of an environment: an ephemeral environment with the
/// extra requirements whose `.pth` file adds the base environment's
/// site-packages after its own.
fn prepare_overlay(request: &RunRequest, base: &Path, ports: &SyncPorts<'_>) -> Result<PathBuf, Failure> {
    let base_venv = ports.environments.open_venv(base).map_err(environment_failure)?.ok_or_else(|| {
        Failure::new(Diagnostic::error(Code::RunEnvironmentMissing, format!("the environment `{}` does not exist", base.display())))
    })?;
    let python = Some(base_venv.interpreter.sys_executable.display().to_string());
    let env = ephemeral_env(
        "`--with`",
        &request.directory.join("pyproject.toml"),
        parse_with(&request.with)?,
        None,
        &request.directory,
        python.as_deref(),
        &request.index,
        ports,
    )?;
    let overlay = ports.environments.open_venv(&env).map_err(environment_failure)?.ok_or_else(|| {
        Failure::new(Diagnostic::error(Code::Internal, format!("the overlay environment `{}` vanished", env.display())))
    })?;
    let pth = overlay.site_packages.join("_pybun_overlay.pth");
    let line = format!("{}\n", base_venv.site_packages.display());
    if ports.fs.read(&pth).ok().as_deref() != Some(line.as_bytes()) {
        ports.fs.write_atomic(&pth, line.as_bytes()).map_err(|e| Failure::io(&pth, &e, "write"))?;
    }
    Ok(env)
}

/// `pybun x PKG[@VERSION] [ARGS]`.
#[derive(Debug, Clone)]
pub struct ToolRequest {
    pub directory: PathBuf,
    /// `PKG`, `PKG@VERSION` or a PEP 508 requirement.
    pub package: String,
    /// `--from`: the package providing the command when its name differs; `package` is then the command.
    pub from: Option<String>,
    pub args: Vec<String>,
    pub with: Vec<String>,
    pub python: Option<String>,
    pub index: IndexSettings,
}

/// The requirement and command of `pybun x`.
fn tool_requirement(request: &ToolRequest) -> Result<(String, String), Failure> {
    let spec = request.from.as_deref().unwrap_or(&request.package);
    let requirement = match spec.split_once('@') {
        Some((name, version)) if !name.is_empty() && !version.is_empty() && !version.contains('/') => {
            if version == "latest" { name.to_string() } else { format!("{name}=={version}") }
        }
        _ => spec.to_string(),
    };
    let req = Req::from_str(&requirement).map_err(|e| {
        Failure::new(
            Diagnostic::error(Code::InvalidRequirement, format!("invalid package `{spec}`: {e}"))
                .with_hint("give a package name, `NAME@VERSION`, or a PEP 508 requirement"),
        )
    })?;
    let command = if request.from.is_some() {
        request.package.clone()
    } else {
        req.name.to_string()
    };
    Ok((req.to_string(), command))
}

/// Cached fast path of `pybun x` (only the filesystem port).
#[must_use]
pub fn cached_tool_plan(request: &ToolRequest, fs: &dyn pybun_ports::FileSystem, environments_dir: &Path) -> Option<RunPlan> {
    let (requirement, command) = tool_requirement(request).ok()?;
    let key = pointer_key("x", &requirement, &tool_as_run(request));
    let env = read_pointer(fs, environments_dir, &key)?;
    tool_plan(&env, &command, request, fs, Preparation::Reused).ok()
}

fn tool_as_run(request: &ToolRequest) -> RunRequest {
    RunRequest {
        directory: request.directory.clone(),
        target: RunTarget::Name(String::new()),
        args: Vec::new(),
        with: request.with.clone(),
        python: request.python.clone(),
        frozen: false,
        index: request.index.clone(),
        environment: EnvironmentInputs::default(),
    }
}

fn tool_plan(env: &Path, command: &str, request: &ToolRequest, fs: &dyn pybun_ports::FileSystem, preparation: Preparation) -> Result<RunPlan, Failure> {
    let program = env.join("bin").join(command);
    if !fs.exists(&program) {
        let mut commands: Vec<String> = fs
            .read_dir(&env.join("bin"))
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .filter(|n| !n.starts_with("python") && !n.starts_with("activate") && !n.starts_with("Activate") && !n.starts_with("pip"))
            .collect();
        commands.sort();
        let hint = if commands.is_empty() {
            "the package installs no commands".to_string()
        } else {
            format!("it installs {}; use `pybun x --from PACKAGE COMMAND`", commands.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "))
        };
        return Err(Failure::new(
            Diagnostic::error(Code::RunTargetNotFound, format!("the package does not provide a command `{command}`")).with_hint(hint),
        ));
    }
    let mut plan = plan_in(env, None, format!("`{command}` from its own cached environment"), preparation);
    plan.steps = vec![ExecStep { program, args: request.args.clone(), env: Vec::new(), task: None }];
    Ok(plan)
}

/// Prepare `pybun x`.
///
/// # Errors
/// An invalid package, a failed resolution or install, a missing command.
pub fn prepare_tool(request: &ToolRequest, ports: &SyncPorts<'_>) -> Result<RunPlan, Failure> {
    let (requirement, command) = tool_requirement(request)?;
    let run = tool_as_run(request);
    let environments_dir = ports.build_cache.environments_dir();
    let key = pointer_key("x", &requirement, &run);
    if let Some(env) = read_pointer(ports.fs, &environments_dir, &key) {
        return tool_plan(&env, &command, request, ports.fs, Preparation::Reused);
    }
    let mut requirements = vec![Req::from_str(&requirement).map_err(|e| Failure::new(Diagnostic::error(Code::InvalidRequirement, e.to_string())))?];
    requirements.extend(parse_with(&request.with)?);
    let env = ephemeral_env(
        &format!("`{requirement}`"),
        &request.directory.join("pyproject.toml"),
        requirements,
        None,
        &request.directory,
        request.python.as_deref(),
        &request.index,
        ports,
    )?;
    let plan = tool_plan(&env, &command, request, ports.fs, Preparation::Prepared)?;
    write_pointer(ports, &environments_dir, &key, &env)?;
    Ok(plan)
}
