//! `entry_points.txt`: INI sections of `name = module:object [extras]`.
//!
//! Only the `[console_scripts]` and `[gui_scripts]` groups matter to an
//! installer; other groups (plugins) are skipped without being validated.

use crate::error::FormatError;

const FILE: &str = "entry_points.txt";

/// One entry point: `name = module:object [extras]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    pub name: String,
    /// Dotted module path (`pkg.mod`).
    pub module: String,
    /// Dotted attribute path inside the module (`func` or `Class.method`), if given.
    pub object: Option<String>,
    /// Deprecated `[extra1, extra2]` suffix, kept for completeness.
    pub extras: Vec<String>,
}

impl EntryPoint {
    /// Parse the value `module:object [extras]` of an entry named `name`.
    ///
    /// # Errors
    /// A reason when the module or object is not a dotted Python name, or the extras are malformed.
    pub fn parse(name: &str, value: &str) -> Result<Self, String> {
        let (reference, extras) = match value.split_once('[') {
            Some((reference, rest)) => {
                let inner = rest
                    .trim_end()
                    .strip_suffix(']')
                    .ok_or_else(|| format!("`{value}`: extras must end with `]`"))?;
                let extras: Vec<String> =
                    inner.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_string).collect();
                (reference, extras)
            }
            None => (value, Vec::new()),
        };
        let (module, object) = match reference.split_once(':') {
            Some((module, object)) => (module.trim(), Some(object.trim())),
            None => (reference.trim(), None),
        };
        if !is_dotted_name(module) {
            return Err(format!("`{module}` is not a dotted module name"));
        }
        if let Some(object) = object
            && !is_dotted_name(object)
        {
            return Err(format!("`{object}` is not a dotted attribute name"));
        }
        Ok(Self {
            name: name.to_string(),
            module: module.to_string(),
            object: object.map(str::to_string),
            extras,
        })
    }
}

/// `a.b.c` where each part is a Python identifier.
fn is_dotted_name(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && chars.all(|c| c == '_' || c.is_alphanumeric())
        })
}

/// The script entry points of a distribution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryPoints {
    pub console_scripts: Vec<EntryPoint>,
    pub gui_scripts: Vec<EntryPoint>,
}

impl EntryPoints {
    /// Parse `entry_points.txt`. Comments start with `#` or `;`; keys keep their case.
    ///
    /// # Errors
    /// A malformed section header, a line without `=` in a script group, or an
    /// invalid object reference in one.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let mut out = Self::default();
        let mut group: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let err = |reason: String| FormatError::new(FILE, Some(index + 1), reason);
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(header) = line.strip_prefix('[') {
                let name = header.strip_suffix(']').ok_or_else(|| err(format!("`{line}` is not a `[group]` header")))?;
                group = Some(name.trim().to_string());
                continue;
            }
            let target = match group.as_deref() {
                Some("console_scripts") => &mut out.console_scripts,
                Some("gui_scripts") => &mut out.gui_scripts,
                _ => continue,
            };
            let (name, value) = line.split_once('=').ok_or_else(|| err(format!("`{line}` is not `name = value`")))?;
            let entry = EntryPoint::parse(name.trim(), value.trim()).map_err(err)?;
            target.push(entry);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(group, name, module, object)`.
    type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>);

    /// Parse `input` and compare the script entry points, or the error message.
    fn check(input: &str, expected: Result<&[Row<'_>], &str>) {
        let got = EntryPoints::parse(input).map(|eps| {
            let rows = |group: &'static str, list: &[EntryPoint]| {
                list.iter()
                    .map(|e| (group, e.name.clone(), e.module.clone(), e.object.clone()))
                    .collect::<Vec<_>>()
            };
            let mut all = rows("console_scripts", &eps.console_scripts);
            all.extend(rows("gui_scripts", &eps.gui_scripts));
            all
        });
        match (got, expected) {
            (Ok(rows), Ok(expected)) => {
                let expected: Vec<_> = expected
                    .iter()
                    .map(|(g, n, m, o)| (*g, (*n).to_string(), (*m).to_string(), o.map(str::to_string)))
                    .collect();
                assert_eq!(rows, expected, "input:\n{input}");
            }
            (Err(error), Err(message)) => assert_eq!(error.to_string(), message, "input:\n{input}"),
            (got, expected) => panic!("input:\n{input}\ngot {got:?}\nexpected {expected:?}"),
        }
    }

    #[test]
    fn parses_fixture() {
        check(
            include_str!("../../../fixtures/install/entry_points.txt"),
            Ok(&[
                ("console_scripts", "demo", "demo", Some("main")),
                ("console_scripts", "Demo-Nested", "demo.cli", Some("App.run")),
                ("console_scripts", "demo-extras", "demo.cli", Some("extra_main")),
                ("gui_scripts", "demo-gui", "demo.gui", Some("start")),
            ]),
        );
        let eps = EntryPoints::parse(include_str!("../../../fixtures/install/entry_points.txt")).unwrap();
        assert_eq!(eps.console_scripts[2].extras, ["fancy", "more"]);
    }

    #[test]
    fn module_only_and_errors() {
        check("[console_scripts]\nx = pkg.mod\n", Ok(&[("console_scripts", "x", "pkg.mod", None)]));
        // Other groups are not validated.
        check("[pygments.lexers]\nnot an entry\n", Ok(&[]));
        check("[console_scripts]\nx\n", Err("invalid entry_points.txt (line 2): `x` is not `name = value`"));
        check(
            "[console_scripts]\nx = 1pkg:main\n",
            Err("invalid entry_points.txt (line 2): `1pkg` is not a dotted module name"),
        );
        check(
            "[console_scripts]\nx = pkg:main()\n",
            Err("invalid entry_points.txt (line 2): `main()` is not a dotted attribute name"),
        );
        check("[console_scripts\n", Err("invalid entry_points.txt (line 1): `[console_scripts` is not a `[group]` header"));
    }
}
