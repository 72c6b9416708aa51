//! Which environment a command runs in, and why (`pybun env`, `pybun run`).
//!
//! The order (SPECS §16):
//! 1. `PYBUN_ENV`: an environment path, used as it is (never synced or changed implicitly);
//! 2. the project's `.venv` (created and synced on demand) when the command runs in a project;
//! 3. an active `VIRTUAL_ENV`;
//! 4. PyBun's global environment under its data directory.

use std::fmt;
use std::path::{Path, PathBuf};

/// What the selection looks at; the frontend reads the environment variables
/// and the filesystem and passes the facts in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvironmentInputs {
    /// `PYBUN_ENV`, if set and not empty (absolute, or relative to the working directory).
    pub pybun_env: Option<PathBuf>,
    /// The project root (a directory with `pyproject.toml` at or above the working directory).
    pub project_root: Option<PathBuf>,
    /// `VIRTUAL_ENV`, if set and not empty.
    pub virtual_env: Option<PathBuf>,
    /// The global environment, e.g. `<data_dir>/environments/default`.
    pub global_env: PathBuf,
}

/// The rule that chose the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvironmentRule {
    PybunEnv,
    ProjectVenv,
    VirtualEnv,
    Global,
}

impl EnvironmentRule {
    /// Stable name for JSON: `pybun-env`, `project`, `virtual-env`, `global`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PybunEnv => "pybun-env",
            Self::ProjectVenv => "project",
            Self::VirtualEnv => "virtual-env",
            Self::Global => "global",
        }
    }

    /// Whether PyBun may create and sync this environment on demand.
    #[must_use]
    pub fn is_managed(self) -> bool {
        matches!(self, Self::ProjectVenv | Self::Global)
    }
}

impl fmt::Display for EnvironmentRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The chosen environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentChoice {
    pub rule: EnvironmentRule,
    pub path: PathBuf,
    /// One sentence: why this one (and what was passed over).
    pub reason: String,
}

/// Apply the order above.
#[must_use]
pub fn select_environment(inputs: &EnvironmentInputs) -> EnvironmentChoice {
    let shadowed = |rule: EnvironmentRule| -> String {
        let mut others = Vec::new();
        if rule != EnvironmentRule::ProjectVenv
            && let Some(root) = &inputs.project_root
            && rule == EnvironmentRule::PybunEnv
        {
            others.push(format!("the project's `{}`", root.join(".venv").display()));
        }
        if rule != EnvironmentRule::VirtualEnv
            && let Some(venv) = &inputs.virtual_env
            && matches!(rule, EnvironmentRule::PybunEnv | EnvironmentRule::ProjectVenv)
        {
            others.push(format!("the active `VIRTUAL_ENV` `{}`", venv.display()));
        }
        if others.is_empty() { String::new() } else { format!(" (it takes precedence over {})", others.join(" and ")) }
    };
    if let Some(path) = &inputs.pybun_env {
        return EnvironmentChoice {
            rule: EnvironmentRule::PybunEnv,
            path: path.clone(),
            reason: format!("`PYBUN_ENV` is set to `{}`{}", path.display(), shadowed(EnvironmentRule::PybunEnv)),
        };
    }
    if let Some(root) = &inputs.project_root {
        let path = root.join(".venv");
        return EnvironmentChoice {
            rule: EnvironmentRule::ProjectVenv,
            reason: format!("the project at `{}` uses its `.venv`{}", root.display(), shadowed(EnvironmentRule::ProjectVenv)),
            path,
        };
    }
    if let Some(path) = &inputs.virtual_env {
        return EnvironmentChoice {
            rule: EnvironmentRule::VirtualEnv,
            path: path.clone(),
            reason: format!("no project here, and `VIRTUAL_ENV` is `{}`", path.display()),
        };
    }
    EnvironmentChoice {
        rule: EnvironmentRule::Global,
        path: inputs.global_env.clone(),
        reason: format!("no `PYBUN_ENV`, no project and no active `VIRTUAL_ENV`: the global environment `{}`", inputs.global_env.display()),
    }
}

/// `bin/python` of an environment.
#[must_use]
pub fn environment_python(root: &Path) -> PathBuf {
    root.join("bin").join("python")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(pybun_env: bool, project: bool, virtual_env: bool) -> EnvironmentInputs {
        EnvironmentInputs {
            pybun_env: pybun_env.then(|| PathBuf::from("/envs/explicit")),
            project_root: project.then(|| PathBuf::from("/work/app")),
            virtual_env: virtual_env.then(|| PathBuf::from("/home/me/venv")),
            global_env: PathBuf::from("/data/pybun/environments/default"),
        }
    }

    /// (PYBUN_ENV, project, VIRTUAL_ENV) → (rule, path, reason fragment)
    #[test]
    fn precedence() {
        let cases = [
            ((true, true, true), EnvironmentRule::PybunEnv, "/envs/explicit", "takes precedence over the project's"),
            ((true, false, false), EnvironmentRule::PybunEnv, "/envs/explicit", "`PYBUN_ENV` is set"),
            ((false, true, true), EnvironmentRule::ProjectVenv, "/work/app/.venv", "over the active `VIRTUAL_ENV`"),
            ((false, true, false), EnvironmentRule::ProjectVenv, "/work/app/.venv", "uses its `.venv`"),
            ((false, false, true), EnvironmentRule::VirtualEnv, "/home/me/venv", "`VIRTUAL_ENV` is"),
            ((false, false, false), EnvironmentRule::Global, "/data/pybun/environments/default", "the global environment"),
        ];
        for ((e, p, v), rule, path, fragment) in cases {
            let choice = select_environment(&inputs(e, p, v));
            assert_eq!(choice.rule, rule, "{e} {p} {v}");
            assert_eq!(choice.path, PathBuf::from(path));
            assert!(choice.reason.contains(fragment), "{}", choice.reason);
        }
        assert!(EnvironmentRule::ProjectVenv.is_managed() && !EnvironmentRule::PybunEnv.is_managed());
        assert!(!EnvironmentRule::VirtualEnv.is_managed() && EnvironmentRule::Global.is_managed());
    }
}
