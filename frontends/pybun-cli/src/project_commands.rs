//! `add`, `remove` and `init`: the commands that edit the project.

use std::fmt::Write as _;
use std::time::Instant;

use pybun_engine::{DependencyTarget, EditOperation, EditOutcome, EditRequest, Failure, InitRequest};
use pybun_fs_os::OsFs;
use serde_json::{Value, json};

use crate::cli::{AddArgs, Cli, InitArgs, RemoveArgs};
use crate::commands::index_settings;
use crate::env_commands::{EnvAdapters, default_selection, sync_json, sync_request, sync_text, with_ports};
use crate::{Rendered, Settings};

fn target(dev: bool, group: Option<&String>, optional: Option<&String>) -> Option<DependencyTarget> {
    if dev {
        Some(DependencyTarget::dev())
    } else if let Some(group) = group {
        Some(DependencyTarget::Group(group.clone()))
    } else {
        optional.map(|extra| DependencyTarget::Optional(extra.clone()))
    }
}

pub(crate) fn add(cli: &Cli, settings: &Settings, args: &AddArgs) -> Result<Rendered, Failure> {
    let request = EditRequest {
        operation: EditOperation::Add(args.requirements.clone()),
        target: target(args.dev, args.group.as_ref(), args.optional.as_ref()),
        sync: (!args.no_sync).then(|| sync_request(cli, settings, &args.env, default_selection())),
        directory: settings.directory.clone(),
        index: index_settings(cli),
        frozen: args.env.frozen,
    };
    run_edit(cli, settings, &request, "Added")
}

pub(crate) fn remove(cli: &Cli, settings: &Settings, args: &RemoveArgs) -> Result<Rendered, Failure> {
    let request = EditRequest {
        operation: EditOperation::Remove(args.packages.clone()),
        target: target(args.dev, args.group.as_ref(), args.optional.as_ref()),
        sync: (!args.no_sync).then(|| sync_request(cli, settings, &args.env, default_selection())),
        directory: settings.directory.clone(),
        index: index_settings(cli),
        frozen: args.env.frozen,
    };
    run_edit(cli, settings, &request, "Removed")
}

fn run_edit(cli: &Cli, settings: &Settings, request: &EditRequest, verb: &str) -> Result<Rendered, Failure> {
    let started = Instant::now();
    let (outcome, mut warnings) = with_ports(cli, settings, |ports| pybun_engine::edit_dependencies(request, ports))?;
    if let Some(lock) = &outcome.lock {
        warnings.extend(lock.warnings.iter().cloned());
    }
    Ok(Rendered {
        json: edit_json(&outcome),
        stdout: String::new(),
        stderr: edit_text(&outcome, verb, started.elapsed()),
        warnings,
        exit: 0,
    })
}

fn edit_json(outcome: &EditOutcome) -> Value {
    json!({
        "pyproject": outcome.pyproject,
        "target": outcome.target,
        "entries": outcome.entries,
        "replaced": outcome.replaced,
        "lockfile": outcome.lock.as_ref().map(|l| &l.path),
        "sync": outcome.sync.as_ref().map(sync_json),
    })
}

fn edit_text(outcome: &EditOutcome, verb: &str, elapsed: std::time::Duration) -> String {
    let mut text = String::new();
    let quoted: Vec<String> = outcome.entries.iter().map(|e| format!("`{e}`")).collect();
    let preposition = if verb == "Added" { "to" } else { "from" };
    let _ = writeln!(text, "{verb} {} {preposition} {}", quoted.join(", "), outcome.target);
    for old in &outcome.replaced {
        let _ = writeln!(text, "  (replacing `{old}`)");
    }
    if let Some(lock) = &outcome.lock {
        let _ = writeln!(text, "Locked `{}`", lock.path.display());
    }
    if let Some(sync) = &outcome.sync {
        text.push_str(&sync_text(sync, elapsed));
    }
    text.trim_end().to_string()
}

pub(crate) fn init(cli: &Cli, settings: &Settings, args: &InitArgs) -> Result<Rendered, Failure> {
    let adapters = EnvAdapters::new(cli)?;
    let directory = match &args.path {
        Some(path) if path.is_relative() => settings.directory.join(path),
        Some(path) => path.clone(),
        None => settings.directory.clone(),
    };
    let outcome = pybun_engine::init(
        &InitRequest { directory, name: args.name.clone(), python: args.python.clone(), package: args.package },
        &OsFs,
        adapters.interpreters.as_ref(),
    )?;
    let stderr = format!(
        "Initialized project `{}` in `{}` (Python {}): {}",
        outcome.name,
        outcome.directory.display(),
        outcome.python_version,
        outcome.files.join(", ")
    );
    Ok(Rendered {
        json: json!({
            "directory": outcome.directory,
            "name": outcome.name,
            "python_version": outcome.python_version,
            "files": outcome.files,
        }),
        stdout: String::new(),
        stderr,
        warnings: Vec::new(),
        exit: 0,
    })
}
