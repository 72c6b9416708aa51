//! The build port: PEP 517/660 hooks of a build backend, run in a build
//! environment the engine prepared, and sdist unpacking.

use std::path::{Path, PathBuf};

/// A PEP 517 / PEP 660 hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    GetRequiresForBuildWheel,
    GetRequiresForBuildEditable,
    BuildWheel,
    BuildEditable,
}

impl Hook {
    /// The hook's function name in the backend.
    #[must_use]
    pub fn function(self) -> &'static str {
        match self {
            Self::GetRequiresForBuildWheel => "get_requires_for_build_wheel",
            Self::GetRequiresForBuildEditable => "get_requires_for_build_editable",
            Self::BuildWheel => "build_wheel",
            Self::BuildEditable => "build_editable",
        }
    }
}

/// One hook call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRequest {
    /// The build environment's interpreter.
    pub python: PathBuf,
    /// The source tree (the hook's working directory).
    pub source_dir: PathBuf,
    /// `build-backend`, e.g. `setuptools.build_meta` or `hatchling.build`
    /// (PEP 517's default `setuptools.build_meta:__legacy__` when the project names none).
    pub backend: String,
    /// `backend-path` entries (in-tree backends), relative to `source_dir`.
    pub backend_path: Vec<String>,
    pub hook: Hook,
    /// Where `build_wheel`/`build_editable` write the wheel.
    pub output_dir: PathBuf,
}

/// What a hook returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutput {
    /// `get_requires_for_build_*`: extra PEP 508 requirements (empty when the backend lacks the hook).
    Requires(Vec<String>),
    /// `build_*`: the built wheel's path (in `output_dir`).
    Wheel(PathBuf),
}

/// Why a build step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The backend raised or the interpreter exited non-zero; `output` is its combined stdout/stderr (tail).
    #[error("`{hook}` of build backend `{backend}` failed:\n{output}")]
    HookFailed { backend: String, hook: String, output: String },
    /// The backend does not define a mandatory hook (e.g. no `build_editable`).
    #[error("build backend `{backend}` does not support `{hook}`")]
    Unsupported { backend: String, hook: String },
    /// The sdist archive is not a valid or safe `.tar.gz`/`.zip`.
    #[error("`{archive}` is not a valid source distribution: {reason}")]
    InvalidSdist { archive: String, reason: String },
    /// IO failure.
    #[error("could not {action} `{path}`: {reason}")]
    Io { action: String, path: PathBuf, reason: String },
}

/// Runs build backends.
pub trait BuildFrontend: Send + Sync {
    /// Unpack an sdist (`.tar.gz` or `.zip`) into `dest` (created; must not
    /// exist) safely (no absolute paths, `..`, or links escaping `dest`) and
    /// return the source tree root (the archive's single top-level directory).
    ///
    /// # Errors
    /// [`BuildError::InvalidSdist`] or [`BuildError::Io`].
    fn unpack_sdist(&self, archive: &Path, dest: &Path) -> Result<PathBuf, BuildError>;

    /// Call one hook in a subprocess of `request.python`.
    ///
    /// # Errors
    /// When the hook fails or is unsupported.
    fn call_hook(&self, request: &HookRequest) -> Result<HookOutput, BuildError>;
}
