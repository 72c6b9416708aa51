//! `pyvenv.cfg`: `key = value` lines, read by the interpreter's `site` module.

use std::path::{Path, PathBuf};

/// The keys of a `pyvenv.cfg` PyBun cares about (other keys are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PyvenvCfg {
    /// `home`: the directory of the base interpreter's executable.
    pub(crate) home: Option<PathBuf>,
    /// `version` (CPython, PyBun) or `version_info` (uv, virtualenv).
    pub(crate) version: Option<String>,
    /// `executable`: the resolved base executable (CPython 3.11+, PyBun).
    pub(crate) executable: Option<PathBuf>,
    pub(crate) include_system_site_packages: bool,
    pub(crate) prompt: Option<String>,
}

impl PyvenvCfg {
    /// Parse the text leniently: lines without `=` and unknown keys are skipped.
    pub(crate) fn parse(text: &str) -> Self {
        let mut cfg = Self::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else { continue };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "home" => cfg.home = Some(PathBuf::from(value)),
                "version" => cfg.version = Some(value.to_string()),
                "version_info" if cfg.version.is_none() => cfg.version = Some(value.to_string()),
                "executable" | "base-executable" => cfg.executable = Some(PathBuf::from(value)),
                "include-system-site-packages" => cfg.include_system_site_packages = value.eq_ignore_ascii_case("true"),
                "prompt" => cfg.prompt = Some(unquote(value).to_string()),
                _ => {}
            }
        }
        cfg
    }
}

/// CPython writes `prompt = 'name'` (a Python repr); others write it bare.
fn unquote(value: &str) -> &str {
    for quote in ['\'', '"'] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

/// What [`render`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CfgContents<'a> {
    pub(crate) home: &'a Path,
    pub(crate) implementation: &'a str,
    pub(crate) system_site_packages: bool,
    pub(crate) version: &'a str,
    pub(crate) executable: &'a Path,
    pub(crate) prompt: Option<&'a str>,
}

/// The `pyvenv.cfg` text, in CPython's key order plus `implementation` and `pybun`.
pub(crate) fn render(contents: &CfgContents<'_>) -> String {
    let one_line = |text: &str| text.replace(['\n', '\r'], " ");
    let mut out = String::new();
    out.push_str(&format!("home = {}\n", one_line(&contents.home.to_string_lossy())));
    out.push_str(&format!("implementation = {}\n", one_line(contents.implementation)));
    out.push_str(&format!("include-system-site-packages = {}\n", contents.system_site_packages));
    out.push_str(&format!("version = {}\n", one_line(contents.version)));
    out.push_str(&format!("executable = {}\n", one_line(&contents.executable.to_string_lossy())));
    if let Some(prompt) = contents.prompt {
        out.push_str(&format!("prompt = {}\n", one_line(prompt)));
    }
    out.push_str(&format!("pybun = {}\n", env!("CARGO_PKG_VERSION")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpython_and_uv_files_parse() {
        let cpython = PyvenvCfg::parse(
            "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\nprompt = 'my env'\nexecutable = /usr/bin/python3.11\ncommand = /usr/bin/python3 -m venv /tmp/x\n",
        );
        assert_eq!(cpython.home.as_deref(), Some(Path::new("/usr/bin")));
        assert_eq!(cpython.version.as_deref(), Some("3.11.2"));
        assert_eq!(cpython.executable.as_deref(), Some(Path::new("/usr/bin/python3.11")));
        assert_eq!(cpython.prompt.as_deref(), Some("my env"));
        assert!(!cpython.include_system_site_packages);

        let uv = PyvenvCfg::parse("home = /opt/py/bin\nimplementation = CPython\nuv = 0.5.0\nversion_info = 3.12.7\ninclude-system-site-packages = true\n");
        assert_eq!(uv.version.as_deref(), Some("3.12.7"));
        assert!(uv.include_system_site_packages);
        assert_eq!(uv.executable, None);
    }

    #[test]
    fn render_round_trips() {
        let text = render(&CfgContents {
            home: Path::new("/opt/py/bin"),
            implementation: "CPython",
            system_site_packages: true,
            version: "3.12.1",
            executable: Path::new("/opt/py/bin/python3.12"),
            prompt: Some("demo\nx"),
        });
        assert!(text.starts_with("home = /opt/py/bin\n"), "{text}");
        assert!(text.contains(&format!("\npybun = {}\n", env!("CARGO_PKG_VERSION"))));
        let cfg = PyvenvCfg::parse(&text);
        assert_eq!(cfg.version.as_deref(), Some("3.12.1"));
        assert_eq!(cfg.prompt.as_deref(), Some("demo x"));
        assert!(cfg.include_system_site_packages);
    }
}
