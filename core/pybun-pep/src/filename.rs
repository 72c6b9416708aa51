//! Distribution filenames: wheels (PEP 427 / PEP 425 tags) and sdists.

use std::fmt;
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::PackageName;

/// A filename that is not a wheel or sdist name we understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{filename}` is not a valid distribution filename: {reason}")]
pub struct FilenameError {
    pub filename: String,
    pub reason: String,
}

fn err(filename: &str, reason: impl Into<String>) -> FilenameError {
    FilenameError { filename: filename.to_string(), reason: reason.into() }
}

/// `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WheelFilename {
    pub name: PackageName,
    pub version: Version,
    pub build_tag: Option<String>,
    /// Compressed tag sets are expanded: `py2.py3` gives `["py2", "py3"]`.
    pub python_tags: Vec<String>,
    pub abi_tags: Vec<String>,
    pub platform_tags: Vec<String>,
}

impl WheelFilename {
    /// Whether the wheel is pure Python for every platform (`any` platform, `none` abi).
    #[must_use]
    pub fn is_universal_platform(&self) -> bool {
        self.platform_tags.iter().any(|p| p == "any")
    }

    /// The tag triples this wheel supports.
    pub fn tags(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.python_tags.iter().flat_map(move |py| {
            self.abi_tags.iter().flat_map(move |abi| {
                self.platform_tags.iter().map(move |plat| (py.as_str(), abi.as_str(), plat.as_str()))
            })
        })
    }
}

impl FromStr for WheelFilename {
    type Err = FilenameError;

    fn from_str(filename: &str) -> Result<Self, Self::Err> {
        let stem = filename
            .strip_suffix(".whl")
            .ok_or_else(|| err(filename, "a wheel name ends in `.whl`"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build_tag, python, abi, platform) = match parts.as_slice() {
            [name, version, python, abi, platform] => (*name, *version, None, *python, *abi, *platform),
            [name, version, build, python, abi, platform] => {
                if !build.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(err(filename, "the build tag must start with a digit"));
                }
                (*name, *version, Some((*build).to_string()), *python, *abi, *platform)
            }
            _ => return Err(err(filename, "expected 5 or 6 dash-separated parts")),
        };
        let name = PackageName::from_str(name).map_err(|e| err(filename, e.to_string()))?;
        let version = Version::from_str(version).map_err(|e| err(filename, e.to_string()))?;
        let split = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
        Ok(Self {
            name,
            version,
            build_tag,
            python_tags: split(python),
            abi_tags: split(abi),
            platform_tags: split(platform),
        })
    }
}

impl fmt::Display for WheelFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_ref().replace('-', "_");
        write!(f, "{name}-{}", self.version)?;
        if let Some(build) = &self.build_tag {
            write!(f, "-{build}")?;
        }
        write!(
            f,
            "-{}-{}-{}.whl",
            self.python_tags.join("."),
            self.abi_tags.join("."),
            self.platform_tags.join(".")
        )
    }
}

/// `{name}-{version}.tar.gz` (or `.zip`, legacy).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SdistFilename {
    pub name: PackageName,
    pub version: Version,
    pub extension: String,
}

impl SdistFilename {
    /// Parse an sdist filename. Sdist names are ambiguous (`a-b-1.0` could be
    /// `a-b` 1.0 or `a` `b-1.0`), so the expected package name is needed.
    ///
    /// # Errors
    /// When the file does not start with the package name or has no valid version.
    pub fn parse(filename: &str, package: &PackageName) -> Result<Self, FilenameError> {
        let (stem, extension) = [".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar"]
            .iter()
            .find_map(|ext| filename.strip_suffix(ext).map(|stem| (stem, *ext)))
            .ok_or_else(|| err(filename, "not an sdist extension"))?;
        // Try every dash as the name/version separator, preferring the one whose
        // name part normalises to the expected package.
        for (index, _) in stem.match_indices('-') {
            let (name, version) = (&stem[..index], &stem[index + 1..]);
            if let (Ok(name), Ok(version)) = (PackageName::from_str(name), Version::from_str(version))
                && &name == package
            {
                return Ok(Self { name, version, extension: extension.to_string() });
            }
        }
        Err(err(filename, format!("does not name package `{package}` followed by a version")))
    }
}

/// Either kind of distribution file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DistFilename {
    Wheel(WheelFilename),
    Sdist(SdistFilename),
}

impl DistFilename {
    /// Parse a filename listed for `package` on an index.
    ///
    /// # Errors
    /// When it is neither a wheel nor an sdist name of that package.
    pub fn parse(filename: &str, package: &PackageName) -> Result<Self, FilenameError> {
        if filename.ends_with(".whl") {
            WheelFilename::from_str(filename).map(Self::Wheel)
        } else {
            SdistFilename::parse(filename, package).map(Self::Sdist)
        }
    }

    #[must_use]
    pub fn version(&self) -> &Version {
        match self {
            Self::Wheel(w) => &w.version,
            Self::Sdist(s) => &s.version,
        }
    }

    #[must_use]
    pub fn name(&self) -> &PackageName {
        match self {
            Self::Wheel(w) => &w.name,
            Self::Sdist(s) => &s.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_roundtrip() {
        let name = "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        let wheel = WheelFilename::from_str(name).unwrap();
        assert_eq!(wheel.name.as_ref() as &str, "numpy");
        assert_eq!(wheel.platform_tags.len(), 2);
        assert_eq!(wheel.to_string(), name);
        let built = WheelFilename::from_str("foo_bar-1.0-1-py2.py3-none-any.whl").unwrap();
        assert_eq!(built.build_tag.as_deref(), Some("1"));
        assert_eq!(built.python_tags, ["py2", "py3"]);
        assert!(built.is_universal_platform());
    }

    #[test]
    fn bad_wheels() {
        assert!(WheelFilename::from_str("foo-1.0.whl").is_err());
        assert!(WheelFilename::from_str("foo-1.0-x-py3-none-any.whl").is_err());
        assert!(WheelFilename::from_str("foo-notaversion-py3-none-any.whl").is_err());
    }

    #[test]
    fn sdists() {
        let pkg = PackageName::from_str("foo-bar").unwrap();
        let sdist = SdistFilename::parse("foo_bar-1.2.post1.tar.gz", &pkg).unwrap();
        assert_eq!(sdist.version.to_string(), "1.2.post1");
        let pkg = PackageName::from_str("a").unwrap();
        assert!(SdistFilename::parse("b-1.0.tar.gz", &pkg).is_err());
    }
}
