//! The lock model and its two encodings.
//!
//! One model ([`Lock`]), two deterministic encodings: `pybun.lock` (TOML text,
//! the default, reviewable) and `pybun.lockb` (binary, versioned, checksummed).
//! Both round-trip to the identical model. This crate never opens a file: it
//! turns bytes into a model plus diagnostics and back.
//!
//! Values are kept as their canonical strings (normalized names, PEP 440
//! normalized versions, marker strings as `pep508_rs` prints them) so the two
//! encodings agree byte for byte on content; producers normalize before
//! building a model.

mod model;

pub use model::{
    FORMAT_VERSION, Lock, LockOptions, LockedDependency, LockedFile, LockedPackage, Source,
    TargetEnvironment,
};
