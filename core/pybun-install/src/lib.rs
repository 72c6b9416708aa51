//! Wheel installation, the pure part: what goes where, and whether it may.
//!
//! Nothing here touches the filesystem. An adapter (`pybun-fs-os`) lists the
//! archive, reads `WHEEL`, `RECORD` and `entry_points.txt`, and hands them to
//! [`plan_install`], which maps every archive path to its destination in the
//! target environment's [`SchemePaths`] and refuses unsafe wheels (absolute
//! paths, `..`, backslashes, drive letters, symlinks, duplicate destinations,
//! files missing from `RECORD` or `RECORD` entries missing from the archive).
//! The adapter then places the files, writes the [`generated_files`]
//! (console/GUI launchers, `INSTALLER`, `direct_url.json`) and the installed
//! `RECORD` from [`rewrite_record`].
//!
//! Specifications: the binary distribution format (wheel 1.0, PEP 427),
//! recording installed projects (PEP 376/627), entry points, and the direct
//! URL origin (PEP 610).

mod entry_points;
mod error;
mod installed;
mod plan;
mod recipe;
mod record;
mod script;
mod wheel;

pub use entry_points::{EntryPoint, EntryPoints};
pub use error::{FormatError, InstallError};
pub use installed::{GeneratedFile, INSTALLER, generated_files, path_bytes, record_path, rewrite_record};
pub use plan::{
    ArchiveEntry, InstallPlan, PlannedFile, SchemeKey, SchemePaths, check_archive, find_dist_info, is_safe_member_path,
    plan_install,
};
pub use recipe::{Destination, Recipe, destinations, recipe_key, scheme_layout};
pub use record::{HashAlgorithm, Record, RecordEntry, RecordHash, RecordHasher};
pub use script::{rewrite_shebang, script_launcher, shebang};
pub use wheel::WheelMeta;
