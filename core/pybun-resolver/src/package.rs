//! The packages PubGrub reasons about.

use std::fmt;

use pybun_pep::{ExtraName, PackageName};

/// A node of the resolution graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Node {
    /// The project (its requirements, extras and groups).
    Root(String),
    /// The Python interpreter; its only version is the target (or the floor of `requires-python`).
    Python,
    Package(PackageName),
    /// `name[extra]`: depends on `name` at the same version and on the extra's requirements.
    Extra(PackageName, ExtraName),
}

impl Node {
    pub(crate) fn name(&self) -> Option<&PackageName> {
        match self {
            Self::Package(name) | Self::Extra(name, _) => Some(name),
            Self::Root(_) | Self::Python => None,
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root(name) => f.write_str(name),
            Self::Python => f.write_str("Python"),
            Self::Package(name) => write!(f, "{name}"),
            Self::Extra(name, extra) => write!(f, "{name}[{extra}]"),
        }
    }
}
