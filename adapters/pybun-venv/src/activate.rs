//! Activation scripts, modelled on CPython's `venv` ones: each sets
//! `VIRTUAL_ENV` and `VIRTUAL_ENV_PROMPT`, puts the venv's `bin` first on
//! `PATH`, unsets `PYTHONHOME`, prefixes the prompt (unless
//! `VIRTUAL_ENV_DISABLE_PROMPT`) and defines `deactivate`, which undoes it all.
//!
//! Values are substituted already quoted for each shell, so any path or
//! prompt text is safe.

const BASH: &str = include_str!("activate/activate.sh");
const FISH: &str = include_str!("activate/activate.fish");
const CSH: &str = include_str!("activate/activate.csh");
const POWERSHELL: &str = include_str!("activate/Activate.ps1");

/// The shells PyBun writes activation scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shell {
    /// bash and zsh (POSIX `sh` syntax).
    Posix,
    Fish,
    Csh,
    Pwsh,
}

impl Shell {
    /// `text` as one literal word of this shell.
    fn quote(self, text: &str) -> String {
        match self {
            Self::Posix => format!("'{}'", text.replace('\'', r"'\''")),
            Self::Fish => format!("'{}'", text.replace('\\', r"\\").replace('\'', r"\'")),
            Self::Csh => format!("'{}'", text.replace('\'', r"'\''").replace('!', r"\!")),
            Self::Pwsh => format!("'{}'", text.replace('\'', "''")),
        }
    }

    fn template(self) -> &'static str {
        match self {
            Self::Posix => BASH,
            Self::Fish => FISH,
            Self::Csh => CSH,
            Self::Pwsh => POWERSHELL,
        }
    }
}

/// The activation scripts for a venv at `venv_dir` (absolute) with scripts in
/// `<venv_dir>/<bin_name>`: `(file name in bin, contents)`.
pub(crate) fn scripts(venv_dir: &str, bin_name: &str, prompt: &str) -> Vec<(&'static str, String)> {
    // Prompts are single-line.
    let prompt = prompt.replace(['\n', '\r'], " ");
    [
        ("activate", Shell::Posix),
        ("activate.fish", Shell::Fish),
        ("activate.csh", Shell::Csh),
        ("Activate.ps1", Shell::Pwsh),
    ]
    .into_iter()
    .map(|(name, shell)| {
        let text = shell
            .template()
            .replace("__VENV_DIR__", &shell.quote(venv_dir))
            .replace("__VENV_BIN_NAME__", &shell.quote(bin_name))
            .replace("__VENV_PROMPT__", &shell.quote(&prompt));
        (name, text)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_for_each_shell() {
        let scripts = scripts("/tmp/it's here", "bin", "demo");
        let get = |name: &str| scripts.iter().find(|(n, _)| *n == name).map(|(_, t)| t.as_str()).unwrap();
        assert!(get("activate").contains(r"VIRTUAL_ENV='/tmp/it'\''s here'"));
        assert!(get("activate.fish").contains(r"set -gx VIRTUAL_ENV '/tmp/it\'s here'"));
        assert!(get("activate.csh").contains(r"setenv VIRTUAL_ENV '/tmp/it'\''s here'"));
        assert!(get("Activate.ps1").contains("$VenvDir = '/tmp/it''s here'"));
        for (name, text) in &scripts {
            assert!(!text.contains("__VENV_"), "{name} has an unsubstituted placeholder");
            assert!(text.contains("deactivate"), "{name} defines deactivate");
        }
    }
}
