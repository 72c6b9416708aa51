//! Dependency resolution: PubGrub over the [`PackageIndex`](pybun_ports::PackageIndex) port.
//!
//! The resolution is *universal* by default: markers are kept on the edges of
//! the result instead of being evaluated away, so one lock serves every
//! platform. Requirements that are false for every Python the project
//! supports (`requires-python`) are dropped. One version per package is
//! chosen; when the requirements need different versions on different
//! platforms (a fork), resolution fails with [`ResolveError::SplitNeeded`].
//!
//! With a [`TargetEnvironment`], markers are evaluated for that one
//! environment and wheels must match its tags (like `pip compile
//! --python-version --python-platform`).

mod candidate;
mod direct_url;
mod fork;
mod options;
mod package;
mod provider;
mod report;
mod resolve;

pub use options::{PrereleaseMode, ResolutionMode, ResolveOptions, TargetEnvironment};
pub use report::{ConflictNode, ConflictReport};
pub use resolve::{Edge, ResolveError, ResolveRequest, ResolvedPackage, Resolution, resolve};
