//! Installing a wheel again into an environment of the same layout.
//!
//! A wheel's installed `RECORD` depends only on where the scheme directories
//! lie relative to each other (`RECORD` paths are relative to the directory
//! holding the `.dist-info`), plus, when the installer generates scripts
//! (launchers, rewritten `#!python` scripts), the interpreter written in
//! their shebangs. So after one checked install, an installer can keep the
//! installed `RECORD`, `INSTALLER` and the generated scripts beside the
//! unpacked wheel (a [`Recipe`]) and install the wheel again into any
//! environment of the same [`scheme_layout`] (and interpreter, for scripts)
//! by placing the wheel's files at their [`destinations`] and hard-linking
//! those prepared files: no `RECORD` to parse, no plan to check, no file to
//! write. The checks of [`crate::plan_install`] ran on the first install.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::installed::{INSTALLER, record_path};
use crate::plan::{ArchiveEntry, SchemeKey, SchemePaths};
use crate::record::{Record, RecordEntry, RecordHash};
use crate::script::{rewrite_shebang, script_launcher};

/// Where the scheme directories lie relative to purelib, as `RECORD` paths
/// (`platlib=;scripts=../../../bin;headers=…;data=../../..`). Equal layouts
/// give equal installed `RECORD`s.
#[must_use]
pub fn scheme_layout(scheme: &SchemePaths) -> String {
    let from = &scheme.purelib;
    format!(
        "platlib={};scripts={};headers={};data={}",
        record_path(from, &scheme.platlib),
        record_path(from, &scheme.scripts),
        record_path(from, &scheme.headers),
        record_path(from, &scheme.data)
    )
}

/// The name of the directory holding the recipe for `layout` (and, for a
/// wheel with generated scripts, `interpreter`): 32 hex digits of a sha256.
/// The hash also covers what this PyBun generates (`INSTALLER`, a sample
/// launcher and rewritten shebang, a sample installed `RECORD` row), so a
/// PyBun that writes them differently never uses another's recipes.
#[must_use]
pub fn recipe_key(layout: &str, interpreter: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(MAGIC.as_bytes());
    hasher.update(INSTALLER.as_bytes());
    let sample = Path::new("/p q/bin/python");
    hasher.update(script_launcher(sample, "m", "f.g", false).as_bytes());
    hasher.update(rewrite_shebang(b"#!python -u\n", sample).unwrap_or_default());
    let row = RecordEntry { path: "a,b".to_string(), hash: Some(RecordHash::sha256(b"")), size: Some(0) };
    hasher.update(Record { entries: vec![row] }.to_csv().as_bytes());
    hasher.update(b"\0layout\0");
    hasher.update(layout.as_bytes());
    if let Some(interpreter) = interpreter {
        hasher.update(b"\0interpreter\0");
        hasher.update(interpreter.as_bytes());
    }
    let digest = hasher.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// What an installer needs, besides the unpacked wheel and the prepared
/// `RECORD` and `INSTALLER`, to install a wheel again without planning it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// [`scheme_layout`] of the environment it was made for.
    pub layout: String,
    /// The interpreter in the generated scripts' shebangs; `None` when there are none.
    pub interpreter: Option<String>,
    /// `Root-Is-Purelib` of the wheel.
    pub root_is_purelib: bool,
    /// The `.dist-info` directory name.
    pub dist_info: String,
    /// Generated scripts (launchers, rewritten `#!python` scripts), as paths
    /// relative to the scripts directory; the recipe keeps the `n`th as `script-<n>`.
    pub scripts: Vec<String>,
    /// The plan's warnings, repeated on every install.
    pub warnings: Vec<String>,
}

/// The first line of a recipe; a change in what a recipe means gets a new number.
const MAGIC: &str = "pybun-install-recipe 1";

fn plain(text: &str) -> bool {
    !text.contains(['\n', '\r', '\t'])
}

impl Recipe {
    /// The recipe as text; `None` when a field cannot be written on one line.
    #[must_use]
    pub fn render(&self) -> Option<String> {
        let mut fields: Vec<(&str, &str)> = vec![
            ("layout", &self.layout),
            ("root", if self.root_is_purelib { "purelib" } else { "platlib" }),
            ("dist-info", &self.dist_info),
        ];
        if let Some(interpreter) = &self.interpreter {
            fields.push(("interpreter", interpreter));
        }
        fields.extend(self.scripts.iter().map(|s| ("script", s.as_str())));
        fields.extend(self.warnings.iter().map(|w| ("warning", w.as_str())));
        let mut out = format!("{MAGIC}\n");
        for (key, value) in fields {
            if !plain(value) {
                return None;
            }
            out.push_str(key);
            out.push('\t');
            out.push_str(value);
            out.push('\n');
        }
        Some(out)
    }

    /// Read [`Recipe::render`]'s text; `None` for anything else (the caller
    /// then installs the slow way).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut recipe = Self {
            layout: String::new(),
            interpreter: None,
            root_is_purelib: true,
            dist_info: String::new(),
            scripts: Vec::new(),
            warnings: Vec::new(),
        };
        let (mut layout, mut root, mut dist_info) = (false, false, false);
        for line in lines {
            let (key, value) = line.split_once('\t')?;
            match key {
                "layout" => (recipe.layout, layout) = (value.to_string(), true),
                "root" => {
                    recipe.root_is_purelib = match value {
                        "purelib" => true,
                        "platlib" => false,
                        _ => return None,
                    };
                    root = true;
                }
                "dist-info" => (recipe.dist_info, dist_info) = (value.to_string(), true),
                "interpreter" => recipe.interpreter = Some(value.to_string()),
                "script" => recipe.scripts.push(value.to_string()),
                "warning" => recipe.warnings.push(value.to_string()),
                _ => return None,
            }
        }
        let valid_dist_info = recipe.dist_info.ends_with(".dist-info") && !recipe.dist_info.contains('/');
        let valid_scripts = recipe.scripts.iter().all(|s| {
            !s.is_empty() && !s.starts_with('/') && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        });
        (layout && root && dist_info && valid_dist_info && valid_scripts).then_some(recipe)
    }
}

/// One file of an unpacked wheel and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination<'a> {
    pub archive_path: &'a str,
    pub dest: PathBuf,
    pub in_dist_info: bool,
}

/// Where every file of an unpacked wheel goes in `scheme` (as
/// [`crate::plan_install`] maps it), without its checks: for a wheel that
/// passed them for an environment of the same layout. The wheel's own
/// `RECORD` and signatures are left out. `None` when an entry does not map
/// (a path that is not normal, an unknown `.data` key): install the slow way.
#[must_use]
pub fn destinations<'a>(
    entries: &'a [ArchiveEntry],
    dist_info: &str,
    root_is_purelib: bool,
    scheme: &SchemePaths,
) -> Option<Vec<Destination<'a>>> {
    let data_dir = format!("{}.data", dist_info.strip_suffix(".dist-info")?);
    let root = if root_is_purelib { &scheme.purelib } else { &scheme.platlib };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries.iter().filter(|e| !e.is_dir) {
        let path = entry.path.as_str();
        if path.is_empty()
            || path.starts_with('/')
            || path.contains(['\\', '\0'])
            || path.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        {
            return None;
        }
        let (first, rest) = path.split_once('/').unwrap_or((path, ""));
        if first == dist_info && (matches!(rest, "RECORD" | "RECORD.jws" | "RECORD.p7s") || crate::plan::installer_owned(rest)) {
            continue;
        }
        let dest = if first == data_dir {
            let (key, rest) = rest.split_once('/')?;
            let key = match key {
                "purelib" => SchemeKey::Purelib,
                "platlib" => SchemeKey::Platlib,
                "scripts" => SchemeKey::Scripts,
                "headers" => SchemeKey::Headers,
                "data" => SchemeKey::Data,
                _ => return None,
            };
            scheme.dir(key).join(rest)
        } else {
            root.join(path)
        };
        out.push(Destination { archive_path: path, dest, in_dist_info: first == dist_info });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::plan_install;
    use crate::record::{Record, RecordHash};
    use crate::wheel::WheelMeta;
    use pybun_pep::WheelFilename;
    use std::fmt::Write as _;
    use std::str::FromStr;

    fn scheme(root: &str, python: &str) -> SchemePaths {
        let site = PathBuf::from(format!("{root}/lib/{python}/site-packages"));
        SchemePaths {
            purelib: site.clone(),
            platlib: site,
            scripts: PathBuf::from(format!("{root}/bin")),
            headers: PathBuf::from(format!("{root}/include/site/{python}/demo")),
            data: PathBuf::from(root),
        }
    }

    #[test]
    fn layouts_depend_on_relative_places_only() {
        let a = scheme_layout(&scheme("/a/.venv", "python3.12"));
        assert_eq!(a, "platlib=;scripts=../../../bin;headers=../../../include/site/python3.12/demo;data=../../..");
        assert_eq!(a, scheme_layout(&scheme("/elsewhere/deeper/env", "python3.12")));
        assert_ne!(a, scheme_layout(&scheme("/a/.venv", "python3.13")));
        assert_eq!(recipe_key(&a, None).len(), 32);
        assert_ne!(recipe_key(&a, None), recipe_key(&a, Some("/a/.venv/bin/python")));
    }

    #[test]
    fn recipes_round_trip_and_refuse_other_text() {
        let recipe = Recipe {
            layout: "platlib=;scripts=../../../bin;headers=x;data=../../..".to_string(),
            interpreter: Some("/env/bin/python".to_string()),
            root_is_purelib: false,
            dist_info: "demo-1.0.dist-info".to_string(),
            scripts: vec!["demo".to_string(), "sub/tool".to_string()],
            warnings: vec!["newer".to_string()],
        };
        let text = recipe.render().unwrap();
        assert_eq!(Recipe::parse(&text), Some(recipe.clone()));
        assert_eq!(Recipe::parse(&text.replace("pybun-install-recipe 1", "pybun-install-recipe 2")), None);
        assert_eq!(Recipe::parse(&text.replace("sub/tool", "../tool")), None);
        assert_eq!(Recipe::parse(&text.replace("root\tplatlib", "root\tother")), None);
        assert_eq!(Recipe::parse(&format!("{text}unknown\tfield\n")), None);
        let odd = Recipe { scripts: vec!["tab\there".to_string()], ..recipe };
        assert_eq!(odd.render(), None);
    }

    /// The fast mapping agrees with the checked plan.
    #[test]
    fn destinations_match_the_plan() {
        let files = [
            "demo/__init__.py",
            "demo-1.0.data/scripts/demo-tool",
            "demo-1.0.data/data/share/demo/readme.txt",
            "demo-1.0.data/headers/demo.h",
            "demo-1.0.data/platlib/demo_ext.so",
            "demo-1.0.dist-info/METADATA",
            "demo-1.0.dist-info/WHEEL",
            "demo-1.0.dist-info/RECORD",
        ];
        let mut record = String::new();
        let mut entries = Vec::new();
        for path in files {
            entries.push(ArchiveEntry::file(path, 1, Some(0o100_644)));
            if path.ends_with("RECORD") {
                let _ = writeln!(record, "{path},,");
            } else {
                let _ = writeln!(record, "{path},{},1", RecordHash::sha256(b"x"));
            }
        }
        let mut scheme = scheme("/env", "python3.12");
        scheme.platlib = PathBuf::from("/env/lib64/python3.12/site-packages");
        let meta = WheelMeta::parse("Wheel-Version: 1.0\nRoot-Is-Purelib: false\n").unwrap();
        let name = WheelFilename::from_str("demo-1.0-cp312-cp312-linux_x86_64.whl").unwrap();
        let plan = plan_install(&name, &entries, &meta, &Record::parse(&record).unwrap(), &scheme).unwrap();
        let mut fast: Vec<_> = destinations(&entries, "demo-1.0.dist-info", false, &scheme)
            .unwrap()
            .into_iter()
            .map(|d| (d.archive_path.to_string(), d.dest, d.in_dist_info))
            .collect();
        fast.sort();
        let planned: Vec<_> = plan.files.iter().map(|f| (f.archive_path.clone(), f.dest.clone(), f.in_dist_info)).collect();
        assert_eq!(fast, planned);

        let odd = [ArchiveEntry::file("demo-1.0.data/config/x", 1, None)];
        assert_eq!(destinations(&odd, "demo-1.0.dist-info", true, &scheme), None);
        let odd = [ArchiveEntry::file("demo/../x", 1, None)];
        assert_eq!(destinations(&odd, "demo-1.0.dist-info", true, &scheme), None);
    }
}
