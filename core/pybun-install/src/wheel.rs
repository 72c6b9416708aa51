//! The `.dist-info/WHEEL` file: `Key: value` lines.

use crate::error::FormatError;

const FILE: &str = "WHEEL";

/// What `WHEEL` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelMeta {
    /// `Wheel-Version` as `(major, minor)`.
    pub wheel_version: (u32, u32),
    /// `Root-Is-Purelib`: the archive root goes to purelib (else platlib).
    pub root_is_purelib: bool,
    /// `Tag` lines, in order.
    pub tags: Vec<String>,
    /// `Build`, when given.
    pub build: Option<String>,
    /// `Generator`, when given.
    pub generator: Option<String>,
}

impl WheelMeta {
    /// Parse `WHEEL` text. Unknown keys are ignored.
    ///
    /// # Errors
    /// A line that is not `Key: value`, or a missing or malformed
    /// `Wheel-Version` or `Root-Is-Purelib`.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let mut wheel_version = None;
        let mut root_is_purelib = None;
        let mut tags = Vec::new();
        let mut build = None;
        let mut generator = None;
        for (index, line) in text.lines().enumerate() {
            let err = |reason: String| FormatError::new(FILE, Some(index + 1), reason);
            if line.trim().is_empty() {
                continue;
            }
            let (key, value) = line.split_once(':').ok_or_else(|| err(format!("`{line}` is not `Key: value`")))?;
            let value = value.trim();
            match key.trim() {
                "Wheel-Version" => {
                    let parsed = value
                        .split_once('.')
                        .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)))
                        .ok_or_else(|| err(format!("Wheel-Version `{value}` is not `major.minor`")))?;
                    wheel_version = Some(parsed);
                }
                "Root-Is-Purelib" => {
                    root_is_purelib = Some(match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(err(format!("Root-Is-Purelib `{value}` is not `true` or `false`"))),
                    });
                }
                "Tag" => tags.push(value.to_string()),
                "Build" => build = Some(value.to_string()),
                "Generator" => generator = Some(value.to_string()),
                _ => {}
            }
        }
        Ok(Self {
            wheel_version: wheel_version.ok_or_else(|| FormatError::new(FILE, None, "no Wheel-Version"))?,
            root_is_purelib: root_is_purelib.ok_or_else(|| FormatError::new(FILE, None, "no Root-Is-Purelib"))?,
            tags,
            build,
            generator,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(Wheel-Version, Root-Is-Purelib, tags)`.
    type Expected<'a> = ((u32, u32), bool, &'a [&'a str]);

    fn check(input: &str, expected: Result<Expected<'_>, &str>) {
        let got = WheelMeta::parse(input);
        match (got, expected) {
            (Ok(meta), Ok((version, purelib, tags))) => {
                assert_eq!((meta.wheel_version, meta.root_is_purelib), (version, purelib), "{input}");
                assert_eq!(meta.tags, tags, "{input}");
            }
            (Err(error), Err(message)) => assert_eq!(error.to_string(), message, "{input}"),
            (got, expected) => panic!("input:\n{input}\ngot {got:?}\nexpected {expected:?}"),
        }
    }

    #[test]
    fn parses() {
        check(
            "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.41.2)\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            Ok(((1, 0), true, &["py3-none-any"])),
        );
        check(
            "Wheel-Version: 1.9\r\nRoot-Is-Purelib: False\r\nTag: cp312-cp312-linux_x86_64\r\nTag: cp312-abi3-linux_x86_64\r\n",
            Ok(((1, 9), false, &["cp312-cp312-linux_x86_64", "cp312-abi3-linux_x86_64"])),
        );
        let meta = WheelMeta::parse("Wheel-Version: 1.0\nRoot-Is-Purelib: true\nBuild: 1\nGenerator: x\n").unwrap();
        assert_eq!((meta.build.as_deref(), meta.generator.as_deref()), (Some("1"), Some("x")));
    }

    #[test]
    fn rejects() {
        check("Root-Is-Purelib: true\n", Err("invalid WHEEL: no Wheel-Version"));
        check("Wheel-Version: 1.0\n", Err("invalid WHEEL: no Root-Is-Purelib"));
        check("Wheel-Version: one\n", Err("invalid WHEEL (line 1): Wheel-Version `one` is not `major.minor`"));
        check(
            "Wheel-Version: 1.0\nRoot-Is-Purelib: yes\n",
            Err("invalid WHEEL (line 2): Root-Is-Purelib `yes` is not `true` or `false`"),
        );
        check("Wheel-Version 1.0\n", Err("invalid WHEEL (line 1): `Wheel-Version 1.0` is not `Key: value`"));
    }
}
