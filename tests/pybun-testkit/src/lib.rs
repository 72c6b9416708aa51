//! Test kit: a local package index server, wheel and sdist builders, scenario loaders.
//!
//! - [`build_wheel`] / [`build_sdist`]: valid, deterministic archives in memory.
//! - [`IndexServer`]: a PEP 503/691 Simple API on `127.0.0.1` serving a [`Universe`],
//!   with PEP 658 metadata files, range requests and fault injection.
//! - [`load_packse`]: packse scenario files (and our `fixtures/resolver` ones,
//!   which extend the schema), turned into a universe, a `pyproject.toml`
//!   and `pybun lock` arguments; [`check_scenario`] compares an outcome.
//! - [`TestContext`]: a temporary project and cache with a preset `pybun`
//!   command, and [`filter_output`] for snapshots.

mod cli_run;
mod context;
mod dist;
mod scenario;
mod server;

pub use cli_run::CliRun;
pub use context::{
    ScenarioRun, TestContext, dir_from_env, filter_durations, filter_output, fixture_scenario_files, fixtures_dir,
    packse_scenario_files, run_and_check_scenario, run_scenario, shared_dir, workspace_root,
};
pub use dist::{
    DistSpec, build_sdist, build_wheel, filename_name, metadata_text, normalize_name, sdist_filename,
    sdist_pkg_info, sha256_hex, test_backend_wheel, urlsafe_b64_nopad, wheel_filename, wheel_from_files,
    wheel_metadata, TEST_BACKEND, TEST_BACKEND_NAME,
};
pub use scenario::{
    DEFAULT_PLATFORM, DEFAULT_PYTHON, Environment, Expected, IndexOptions, PACKSE_DEFAULT_REQUIRES_PYTHON, PackageDef,
    ResolverOptions, Root, Scenario, VersionDef, check_scenario, load_packse, load_scenario, locked_versions,
    platform_arg, try_load_scenario,
};
pub use server::{
    DEFAULT_UPLOAD_TIME, Flavor, IndexServer, PublishedVersion, RequestRecord, ServerOptions, Universe,
};
