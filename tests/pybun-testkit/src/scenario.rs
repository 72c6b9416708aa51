//! Resolver scenarios: the packse TOML schema plus PyBun's extensions
//! (`[expected] error_code / error_contains`, `[index]`, `[root]` groups and
//! extras, per-version `upload_time`, `yanked_reason`, `dynamic_requires`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::dist::{DistSpec, normalize_name};
use crate::server::{Flavor, IndexServer, PublishedVersion, ServerOptions, Universe};

/// packse's default `requires_python` for packages and the root.
pub const PACKSE_DEFAULT_REQUIRES_PYTHON: &str = ">=3.8";
/// The Python version non-universal scenarios lock for when none is given.
pub const DEFAULT_PYTHON: &str = "3.12";
/// The platform non-universal scenarios lock for when none is given.
pub const DEFAULT_PLATFORM: &str = "linux";

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub root: Root,
    #[serde(default)]
    pub packages: BTreeMap<String, PackageDef>,
    pub expected: Expected,
    #[serde(default)]
    pub environment: Environment,
    #[serde(default)]
    pub resolver_options: ResolverOptions,
    /// PyBun extension: how the index serves the universe.
    #[serde(default)]
    pub index: IndexOptions,
    /// packse's template name (ignored).
    #[serde(default)]
    pub template: Option<String>,
    /// The file the scenario came from.
    #[serde(skip)]
    pub path: PathBuf,
}

/// What the root project requires.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    #[serde(default)]
    pub requires: Vec<String>,
    /// `None` means packse's default (`>=3.8`); `""` means none at all.
    #[serde(default)]
    pub requires_python: Option<String>,
    /// PyBun extension: `[dependency-groups]`.
    #[serde(default)]
    pub dependency_groups: BTreeMap<String, Vec<String>>,
    /// PyBun extension: `[project.optional-dependencies]`.
    #[serde(default)]
    pub optional_dependencies: BTreeMap<String, Vec<String>>,
}

/// `[packages.NAME]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageDef {
    #[serde(default)]
    pub versions: BTreeMap<String, VersionDef>,
}

/// `[packages.NAME.versions."V"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionDef {
    #[serde(default)]
    pub requires: Vec<String>,
    /// `None` means packse's default (`>=3.8`); `""` means none at all.
    #[serde(default)]
    pub requires_python: Option<String>,
    #[serde(default)]
    pub extras: BTreeMap<String, Vec<String>>,
    #[serde(default = "yes")]
    pub sdist: bool,
    #[serde(default = "yes")]
    pub wheel: bool,
    #[serde(default)]
    pub yanked: bool,
    /// Tag triples of the wheels; empty means one `py3-none-any` wheel.
    #[serde(default)]
    pub wheel_tags: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// PyBun extension: the yank reason (implies `yanked`).
    #[serde(default)]
    pub yanked_reason: Option<String>,
    /// PyBun extension: RFC 3339 upload time of this version's files.
    #[serde(default)]
    pub upload_time: Option<String>,
    /// PyBun extension: the sdist's `PKG-INFO` declares `Dynamic: Requires-Dist`.
    #[serde(default)]
    pub dynamic_requires: bool,
}

fn yes() -> bool {
    true
}

/// `[expected]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub satisfiable: bool,
    /// Name → version of every locked non-project package (checked only when
    /// given); a package locked at several versions (a fork) is written
    /// `"1.0.0 | 2.0.0"`.
    #[serde(default)]
    pub packages: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub explanation: Option<String>,
    /// PyBun extension: substrings the text error output must contain.
    #[serde(default)]
    pub error_contains: Vec<String>,
    /// PyBun extension: the JSON `error.code` (e.g. `PB0300`).
    #[serde(default)]
    pub error_code: Option<String>,
}

/// `[environment]`: the interpreter packse would run with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    #[serde(default)]
    pub python: Option<String>,
    #[serde(default)]
    pub additional_python: Vec<String>,
}

/// `[resolver_options]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverOptions {
    #[serde(default)]
    pub universal: bool,
    #[serde(default)]
    pub python: Option<String>,
    #[serde(default)]
    pub python_platform: Option<String>,
    #[serde(default)]
    pub prereleases: bool,
    #[serde(default)]
    pub no_binary: Vec<String>,
    #[serde(default)]
    pub no_build: Vec<String>,
    #[serde(default)]
    pub required_environments: Vec<String>,
    /// PyBun extension: `--prerelease` mode (`allow`, `if-necessary`, `explicit`, `disallow`).
    #[serde(default)]
    pub prerelease: Option<String>,
    /// PyBun extension: `--resolution` (`highest`, `lowest`, `lowest-direct`).
    #[serde(default)]
    pub resolution: Option<String>,
    /// PyBun extension: `--exclude-newer`.
    #[serde(default)]
    pub exclude_newer: Option<String>,
}

/// `[index]` (PyBun extension).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexOptions {
    /// `"json"`, `"html"` or `"negotiate"` (default).
    #[serde(default)]
    pub flavor: Option<String>,
    /// Serve PEP 658 metadata files (default true).
    #[serde(default)]
    pub metadata_files: Option<bool>,
    /// Honour HTTP range requests (default true).
    #[serde(default)]
    pub range_requests: Option<bool>,
    /// Relative file URLs in project pages (default false).
    #[serde(default)]
    pub relative_urls: Option<bool>,
}

/// Read and check a scenario file (packse schema plus PyBun extensions).
///
/// Every requirement, version and specifier is parsed, so a typo in a fixture
/// is reported here rather than as a surprising resolver answer.
///
/// # Errors
/// A message naming the file and the problem.
pub fn try_load_scenario(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut scenario: Scenario = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    scenario.path = path.to_path_buf();
    scenario.validate().map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(scenario)
}

/// Load a packse scenario (or one of our fixtures: the schema is the same).
///
/// # Panics
/// When the file cannot be read or is not a valid scenario.
#[must_use]
pub fn load_packse(path: impl AsRef<Path>) -> Scenario {
    try_load_scenario(path.as_ref()).unwrap_or_else(|e| panic!("invalid scenario {e}"))
}

/// Load one of our fixture scenarios (same schema as [`load_packse`]).
///
/// # Panics
/// When the file cannot be read or is not a valid scenario.
#[must_use]
pub fn load_scenario(path: impl AsRef<Path>) -> Scenario {
    load_packse(path)
}

fn check_requirement(text: &str) -> Result<(), String> {
    pybun_pep::parse_requirement(text).map(|_| ()).map_err(|e| format!("invalid requirement `{text}`: {e}"))
}

fn check_specifiers(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Ok(());
    }
    pybun_pep::VersionSpecifiers::from_str(text).map(|_| ()).map_err(|e| format!("invalid specifiers `{text}`: {e}"))
}

fn check_version(text: &str) -> Result<(), String> {
    pybun_pep::Version::from_str(text).map(|_| ()).map_err(|e| format!("invalid version `{text}`: {e}"))
}

fn effective_requires_python(value: Option<&String>) -> Option<String> {
    match value {
        None => Some(PACKSE_DEFAULT_REQUIRES_PYTHON.to_string()),
        Some(v) if v.trim().is_empty() => None,
        Some(v) => Some(v.clone()),
    }
}

/// `x86_64-manylinux2014` → `linux`, etc. (the `--python-platform` values PyBun takes).
#[must_use]
pub fn platform_arg(platform: &str) -> String {
    let p = platform.to_ascii_lowercase();
    if p.contains("linux") {
        "linux".to_string()
    } else if p.contains("mac") || p.contains("darwin") || p.contains("apple") {
        "macos".to_string()
    } else if p.contains("win") {
        "windows".to_string()
    } else {
        platform.to_string()
    }
}

impl Scenario {
    fn validate(&self) -> Result<(), String> {
        for requirement in self.root.requires.iter().chain(self.root.dependency_groups.values().flatten()) {
            check_requirement(requirement)?;
        }
        for requirement in self.root.optional_dependencies.values().flatten() {
            check_requirement(requirement)?;
        }
        if let Some(rp) = &self.root.requires_python {
            check_specifiers(rp)?;
        }
        for (name, package) in &self.packages {
            pybun_pep::PackageName::from_str(name).map_err(|e| format!("invalid package name `{name}`: {e}"))?;
            for (version, def) in &package.versions {
                check_version(version)?;
                if let Some(rp) = &def.requires_python {
                    check_specifiers(rp)?;
                }
                for requirement in def.requires.iter().chain(def.extras.values().flatten()) {
                    check_requirement(requirement)?;
                }
            }
        }
        if let Some(packages) = &self.expected.packages {
            for versions in packages.values() {
                for version in versions.split('|') {
                    check_version(version.trim())?;
                }
            }
        }
        if let Some(flavor) = &self.index.flavor
            && !matches!(flavor.as_str(), "json" | "html" | "negotiate") {
                return Err(format!("unknown [index] flavor `{flavor}`"));
            }
        Ok(())
    }

    /// The scenario file's stem (e.g. `fork-basic`).
    #[must_use]
    pub fn file_stem(&self) -> String {
        self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| self.name.clone())
    }

    /// The packages to publish, with packse's defaults: each version gets a
    /// wheel (`py3-none-any` or its `wheel_tags`) unless `wheel = false`, an
    /// sdist unless `sdist = false`, and `Requires-Python: >=3.8` unless it
    /// says otherwise (`requires_python = ""` for none).
    #[must_use]
    pub fn universe(&self) -> Universe {
        let mut universe = Universe::default();
        for (name, package) in &self.packages {
            let mut versions: Vec<(&String, &VersionDef)> = package.versions.iter().collect();
            versions.sort_by_key(|(v, _)| pybun_pep::Version::from_str(v).ok());
            for (version, def) in versions {
                let spec = DistSpec {
                    name: name.clone(),
                    version: version.clone(),
                    requires_dist: def.requires.clone(),
                    requires_python: effective_requires_python(def.requires_python.as_ref()),
                    extras: def.extras.clone(),
                    entry_points: Vec::new(),
                    build_system: None,
                };
                let wheel_tags = if !def.wheel {
                    Vec::new()
                } else if def.wheel_tags.is_empty() {
                    vec!["py3-none-any".to_string()]
                } else {
                    def.wheel_tags.clone()
                };
                let yanked = match (&def.yanked_reason, def.yanked) {
                    (Some(reason), _) => Some(reason.clone()),
                    (None, true) => Some(String::new()),
                    (None, false) => None,
                };
                universe.add(PublishedVersion {
                    spec,
                    wheel_tags,
                    sdist: def.sdist,
                    dynamic_requires: def.dynamic_requires,
                    yanked,
                    upload_time: def.upload_time.clone(),
                });
            }
        }
        universe
    }

    /// The index server options from `[index]`.
    #[must_use]
    pub fn server_options(&self) -> ServerOptions {
        let defaults = ServerOptions::default();
        ServerOptions {
            flavor: match self.index.flavor.as_deref() {
                Some("json") => Flavor::Json,
                Some("html") => Flavor::Html,
                _ => Flavor::Negotiate,
            },
            metadata_files: self.index.metadata_files.unwrap_or(defaults.metadata_files),
            range_requests: self.index.range_requests.unwrap_or(defaults.range_requests),
            relative_urls: self.index.relative_urls.unwrap_or(defaults.relative_urls),
        }
    }

    /// Start an index serving this scenario's universe with its `[index]` options.
    #[must_use]
    pub fn start_server(&self) -> IndexServer {
        IndexServer::start_with(self.universe(), self.server_options())
    }

    /// The root project's `requires-python`: for universal scenarios
    /// `>=resolver_options.python` when given; else `[root] requires_python`,
    /// else packse's `>=3.8` (`None` when the scenario sets `""`).
    #[must_use]
    pub fn root_requires_python(&self) -> Option<String> {
        if self.resolver_options.universal
            && let Some(python) = &self.resolver_options.python {
                return Some(format!(">={python}"));
            }
        effective_requires_python(self.root.requires_python.as_ref())
    }

    /// A `pyproject.toml` for the root project (`root-project` 0.1.0).
    #[must_use]
    pub fn pyproject_toml(&self) -> String {
        let s = |t: &str| toml::Value::String(t.to_string()).to_string();
        let array = |items: &[String]| {
            if items.is_empty() {
                return "[]".to_string();
            }
            let mut out = String::from("[\n");
            for item in items {
                let _ = writeln!(out, "  {},", s(item));
            }
            out.push(']');
            out
        };
        let mut text = String::from("[project]\nname = \"root-project\"\nversion = \"0.1.0\"\n");
        if let Some(rp) = self.root_requires_python() {
            let _ = writeln!(text, "requires-python = {}", s(&rp));
        }
        let _ = writeln!(text, "dependencies = {}", array(&self.root.requires));
        if !self.root.optional_dependencies.is_empty() {
            text.push_str("\n[project.optional-dependencies]\n");
            for (extra, requirements) in &self.root.optional_dependencies {
                let _ = writeln!(text, "{} = {}", s(extra), array(requirements));
            }
        }
        if !self.root.dependency_groups.is_empty() {
            text.push_str("\n[dependency-groups]\n");
            for (group, requirements) in &self.root.dependency_groups {
                let _ = writeln!(text, "{} = {}", s(group), array(requirements));
            }
        }
        text
    }

    /// The Python version a non-universal scenario locks for:
    /// `resolver_options.python`, else `environment.python`, else 3.12.
    #[must_use]
    pub fn target_python(&self) -> String {
        self.resolver_options
            .python
            .clone()
            .or_else(|| self.environment.python.clone())
            .unwrap_or_else(|| DEFAULT_PYTHON.to_string())
    }

    /// The platform a non-universal scenario locks for: `resolver_options.python_platform`
    /// mapped to `linux`/`macos`/`windows`, else `linux` (packse's expectations
    /// assume an x86-64 Linux host, e.g. `local-not-latest`).
    #[must_use]
    pub fn target_platform(&self) -> String {
        self.resolver_options.python_platform.as_deref().map_or_else(|| DEFAULT_PLATFORM.to_string(), platform_arg)
    }

    /// Extra `pybun lock` arguments for the scenario's options.
    ///
    /// Non-universal scenarios lock for one environment (`--python-version
    /// X --python-platform P`, see [`Scenario::target_python`] and
    /// [`Scenario::target_platform`]); universal ones pass neither.
    #[must_use]
    pub fn lock_args(&self) -> Vec<String> {
        let options = &self.resolver_options;
        let mut args = Vec::new();
        if !options.universal {
            args.push("--python-version".to_string());
            args.push(self.target_python());
            args.push("--python-platform".to_string());
            args.push(self.target_platform());
        }
        if let Some(mode) = &options.prerelease {
            args.push("--prerelease".to_string());
            args.push(mode.clone());
        } else if options.prereleases {
            args.push("--prerelease".to_string());
            args.push("allow".to_string());
        }
        if let Some(resolution) = &options.resolution {
            args.push("--resolution".to_string());
            args.push(resolution.clone());
        }
        if let Some(date) = &options.exclude_newer {
            args.push("--exclude-newer".to_string());
            args.push(date.clone());
        }
        for package in &options.no_binary {
            args.push("--no-binary".to_string());
            args.push(package.clone());
        }
        for package in &options.no_build {
            args.push("--no-build".to_string());
            args.push(package.clone());
        }
        args
    }
}

fn source_is_project(source: Option<&serde_json::Value>) -> bool {
    match source {
        Some(serde_json::Value::String(s)) => s == "project",
        Some(serde_json::Value::Object(map)) => {
            map.contains_key("project")
                || ["kind", "type"].iter().any(|k| map.get(*k).and_then(|v| v.as_str()) == Some("project"))
        }
        _ => false,
    }
}

/// The locked `name → version` of a `pybun --format json lock` result,
/// without the project itself (`source: "project"`). Names are normalized; a
/// package locked at several versions (a fork) maps to `"v1 | v2"`.
#[must_use]
pub fn locked_versions(json: &serde_json::Value) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let packages = json.pointer("/result/packages").and_then(|p| p.as_array());
    for package in packages.into_iter().flatten() {
        if source_is_project(package.get("source")) {
            continue;
        }
        let (Some(name), Some(version)) =
            (package.get("name").and_then(|n| n.as_str()), package.get("version").and_then(|v| v.as_str()))
        else {
            continue;
        };
        out.entry(normalize_name(name)).or_default().push(version.to_string());
    }
    out.into_iter()
        .map(|(name, mut versions)| {
            versions.sort_by_key(|v| (pybun_pep::Version::from_str(v).ok(), v.clone()));
            versions.dedup();
            (name, versions.join(" | "))
        })
        .collect()
}

/// Whether two `v1 | v2 | …` version sets are equal (PEP 440 equality, any order).
fn same_versions(a: &str, b: &str) -> bool {
    let parse = |text: &str| {
        let mut versions: Vec<Result<pybun_pep::Version, String>> = text
            .split('|')
            .map(|v| pybun_pep::Version::from_str(v.trim()).map_err(|_| v.trim().to_string()))
            .collect();
        versions.sort_by(|x, y| match (x, y) {
            (Ok(x), Ok(y)) => x.cmp(y),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(x), Err(y)) => x.cmp(y),
        });
        versions.dedup();
        versions
    };
    parse(a) == parse(b)
}

/// The text of a JSON error (message, causes, hints), for when no text output was captured.
fn json_error_text(json: &serde_json::Value) -> String {
    let mut text = String::new();
    if let Some(error) = json.get("error") {
        if let Some(message) = error.get("message").and_then(|m| m.as_str()) {
            text.push_str(message);
            text.push('\n');
        }
        for key in ["causes", "hints"] {
            for item in error.get(key).and_then(|c| c.as_array()).into_iter().flatten() {
                match item.as_str() {
                    Some(s) => text.push_str(s),
                    None => text.push_str(&item.to_string()),
                }
                text.push('\n');
            }
        }
    }
    text
}

/// Compare a `pybun --format json lock` outcome (and the text-mode stderr of
/// the same run, for `error_contains`) against the scenario's `[expected]`.
///
/// # Errors
/// A human-readable description of every mismatch.
pub fn check_scenario(scenario: &Scenario, outcome_json: &serde_json::Value, text_stderr: &str) -> Result<(), String> {
    let expected = &scenario.expected;
    let mut problems = Vec::new();
    let ok = outcome_json.get("ok").and_then(serde_json::Value::as_bool);
    let error_code = outcome_json.pointer("/error/code").and_then(|c| c.as_str());
    let error_text = json_error_text(outcome_json);
    match ok {
        None => problems.push(format!("the output has no boolean `ok`: {outcome_json}")),
        Some(ok) if ok != expected.satisfiable => {
            if expected.satisfiable {
                problems.push(format!(
                    "expected a solution, got error {}: {}",
                    error_code.unwrap_or("?"),
                    error_text.trim()
                ));
            } else {
                problems.push(format!(
                    "expected no solution, got {:?}",
                    locked_versions(outcome_json)
                ));
            }
        }
        Some(_) => {}
    }
    if expected.satisfiable && ok == Some(true)
        && let Some(want) = &expected.packages {
            let got = locked_versions(outcome_json);
            let want: BTreeMap<String, String> =
                want.iter().map(|(k, v)| (normalize_name(k), v.clone())).collect();
            for (name, version) in &want {
                match got.get(name) {
                    None => problems.push(format!("expected `{name}=={version}`, it is not locked")),
                    Some(got_version) if !same_versions(got_version, version) => {
                        problems.push(format!("expected `{name}=={version}`, locked `{got_version}`"));
                    }
                    Some(_) => {}
                }
            }
            for (name, version) in &got {
                if !want.contains_key(name) {
                    problems.push(format!("`{name}=={version}` is locked but not expected"));
                }
            }
        }
    if let Some(code) = &expected.error_code
        && error_code != Some(code.as_str()) {
            problems.push(format!("expected error code {code}, got {}", error_code.unwrap_or("none")));
        }
    if !expected.error_contains.is_empty() {
        let haystack = if text_stderr.trim().is_empty() { error_text.as_str() } else { text_stderr };
        for needle in &expected.error_contains {
            if !haystack.contains(needle.as_str()) {
                problems.push(format!("the error output does not contain {needle:?}"));
            }
        }
        if !problems.is_empty() {
            problems.push(format!("error output was:\n{haystack}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("scenario `{}` ({}):\n  {}", scenario.name, scenario.path.display(), problems.join("\n  ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Scenario {
        let mut s: Scenario = toml::from_str(text).unwrap();
        s.path = PathBuf::from("inline.toml");
        s.validate().unwrap();
        s
    }

    #[test]
    fn packse_defaults() {
        let s = parse(
            r#"
name = "x"
[root]
requires = ["a"]
[expected]
satisfiable = true
[packages.a.versions."1.0.0"]
[packages.a.versions."2.0.0"]
wheel = false
yanked = true
[packages.b.versions]
"1.0.0" = {}
"#,
        );
        let u = s.universe();
        let a = &u.packages["a"];
        assert_eq!(a[0].wheel_tags, ["py3-none-any"]);
        assert!(a[0].sdist);
        assert_eq!(a[0].spec.requires_python.as_deref(), Some(">=3.8"));
        assert!(a[1].wheel_tags.is_empty());
        assert_eq!(a[1].yanked.as_deref(), Some(""));
        assert_eq!(s.lock_args(), ["--python-version", "3.12", "--python-platform", "linux"]);
        assert!(s.pyproject_toml().contains("requires-python = \">=3.8\""));
    }

    #[test]
    fn lock_args_from_options() {
        let s = parse(
            r#"
name = "x"
[root]
requires = ["a"]
[expected]
satisfiable = true
[environment]
python = "3.9"
[resolver_options]
python_platform = "x86_64-manylinux2014"
prereleases = true
no_binary = ["a"]
"#,
        );
        assert_eq!(
            s.lock_args(),
            ["--python-version", "3.9", "--python-platform", "linux", "--prerelease", "allow", "--no-binary", "a"]
        );
        let s = parse(
            r#"
name = "x"
[root]
requires = ["a ; sys_platform == 'linux'"]
[expected]
satisfiable = true
[resolver_options]
universal = true
python = "3.10"
"#,
        );
        assert!(s.lock_args().is_empty());
        let pyproject = s.pyproject_toml();
        assert!(pyproject.contains("requires-python = \">=3.10\""), "{pyproject}");
        let parsed: toml::Table = toml::from_str(&pyproject).unwrap();
        assert_eq!(parsed["project"]["dependencies"][0].as_str(), Some("a ; sys_platform == 'linux'"));
    }

    #[test]
    fn checks() {
        let s = parse(
            r#"
name = "x"
[root]
requires = ["a"]
[expected]
satisfiable = true
[expected.packages]
a = "1.0.0"
"#,
        );
        let good = serde_json::json!({"ok": true, "result": {"packages": [
            {"name": "root-project", "version": "0.1.0", "source": "project"},
            {"name": "a", "version": "1.0", "source": "registry"}]}});
        assert_eq!(check_scenario(&s, &good, ""), Ok(()));
        let extra = serde_json::json!({"ok": true, "result": {"packages": [
            {"name": "a", "version": "1.0.0", "source": "registry"},
            {"name": "b", "version": "1.0.0", "source": "registry"}]}});
        assert!(check_scenario(&s, &extra, "").unwrap_err().contains("`b==1.0.0` is locked but not expected"));
        let fork = serde_json::json!({"ok": true, "result": {"packages": [
            {"name": "a", "version": "2.0.0", "source": "registry"},
            {"name": "a", "version": "10.0.0", "source": "registry"}]}});
        assert_eq!(locked_versions(&fork)["a"], "2.0.0 | 10.0.0");
        let mut forked = s.clone();
        forked.expected.packages = Some([("a".to_string(), "10.0 | 2.0.0".to_string())].into_iter().collect());
        assert_eq!(check_scenario(&forked, &fork, ""), Ok(()));
        assert!(check_scenario(&s, &fork, "").is_err());
        let bad = serde_json::json!({"ok": false, "error": {"code": "PB0300", "message": "no"}});
        assert!(check_scenario(&s, &bad, "").is_err());

        let s = parse(
            r#"
name = "x"
[root]
requires = ["a"]
[expected]
satisfiable = false
error_code = "PB0300"
error_contains = ["a depends on b"]
"#,
        );
        let err = serde_json::json!({"ok": false, "error": {"code": "PB0300", "message": "no solution", "causes": ["a depends on b"]}});
        assert_eq!(check_scenario(&s, &err, ""), Ok(()));
        assert!(check_scenario(&s, &err, "error[PB0300]: something else").is_err());
    }
}
