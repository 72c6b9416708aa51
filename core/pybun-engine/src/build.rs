//! Building wheels from source (PEP 517) and editable wheels of the project
//! (PEP 660), in isolated build environments that are cached.
//!
//! A build environment is a venv in the cache holding the resolved
//! `[build-system] requires` (plus whatever `get_requires_for_build_*`
//! adds), keyed by the interpreter and the exact `name==version` set, so a
//! second build with the same requirements reuses it. Wheels built from an
//! sdist are cached by the sdist's sha256 and the interpreter.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pybun_diagnostics::{Code, Diagnostic};
use pybun_env::Interpreter;
use pybun_lockfile::{ExportSelection, LockedFile, LockedPackage};
use pybun_pep::Req;
use pybun_ports::{
    ArtifactRequest, BuildError, Hook, HookOutput, HookRequest, PreparedWheel, Venv, VenvOptions, WheelToInstall,
};
use pybun_project::parse_pyproject;
use sha2::{Digest, Sha256};

use crate::Failure;
use crate::lock::{IndexSettings, lock_requirements};
use crate::sync::{SyncPorts, WantedKind, artifact_failure, environment_failure, environment_key_text, wanted_packages};

/// PEP 517's fallback for a source tree without `[build-system]`.
const LEGACY_BACKEND: &str = "setuptools.build_meta:__legacy__";
const LEGACY_REQUIRES: &str = "setuptools>=40.8.0";
/// Written last into a complete build environment.
const COMPLETE_MARKER: &str = ".pybun-build-env-complete";

pub(crate) struct Builder<'a, 'p> {
    pub(crate) ports: &'a SyncPorts<'p>,
    pub(crate) index: &'a IndexSettings,
    pub(crate) interpreter: &'a Interpreter,
}

/// `[build-system]` of a source tree.
struct BuildSystem {
    requires: Vec<Req>,
    backend: String,
    backend_path: Vec<String>,
}

impl Builder<'_, '_> {
    /// Build the project at `source_dir` as an editable wheel (PEP 660) and take it into the cache.
    pub(crate) fn build_editable(&self, source_dir: &Path, label: &str) -> Result<PreparedWheel, Failure> {
        self.build_into_cache(source_dir, true, label)
    }

    /// Build the tree at `source_dir` and take the wheel into the cache, unkeyed.
    fn build_into_cache(&self, source_dir: &Path, editable: bool, label: &str) -> Result<PreparedWheel, Failure> {
        let scratch = self.ports.build_cache.scratch_dir().map_err(|e| artifact_failure(e, &label_request(label)))?;
        let result = self.build_tree(source_dir, editable, &scratch, label).and_then(|wheel| {
            self.ports
                .build_cache
                .store_built_wheel(None, &wheel)
                .map_err(|e| artifact_failure(e, &label_request(label)))
        });
        let _ = self.ports.fs.remove_dir_all(&scratch);
        result
    }

    /// A wheel built from the source tree `source_dir` (a direct URL
    /// requirement naming a directory), taken into the cache. Built every
    /// time: a source tree has no hash to key it by.
    pub(crate) fn wheel_from_directory(&self, source_dir: &Path, label: &str) -> Result<PreparedWheel, Failure> {
        if !self.ports.fs.exists(&source_dir.join("pyproject.toml")) && !self.ports.fs.exists(&source_dir.join("setup.py")) {
            return Err(Failure::new(
                Diagnostic::error(Code::DirectUrl, format!("`{}` is not a Python source tree (no `pyproject.toml` or `setup.py`)", source_dir.display()))
                    .with_hint(format!("point `{label}` at a project directory, or at a wheel or sdist")),
            ));
        }
        self.build_into_cache(source_dir, false, label)
    }

    /// A wheel for a locked package that has only an sdist: from the cache, else built.
    pub(crate) fn wheel_from_sdist(&self, package: &LockedPackage, sdist: &LockedFile) -> Result<PreparedWheel, Failure> {
        self.wheel_from_archive(&ArtifactRequest {
            name: package.name.clone(),
            version: package.version.clone(),
            filename: sdist.filename.clone(),
            url: sdist.url.clone(),
            hash: sdist.hash.clone(),
            size: sdist.size,
        })
    }

    /// A wheel built from the sdist `request` names: from the cache (keyed by
    /// the sdist's sha256 and the interpreter), else built.
    pub(crate) fn wheel_from_archive(&self, request: &ArtifactRequest) -> Result<PreparedWheel, Failure> {
        // A wheel built for one interpreter may not fit another.
        let key = |source_hash: &str| {
            hex::encode(Sha256::digest(
                format!("{source_hash}\n{}\n{}", self.interpreter.sys_executable.display(), self.interpreter.python_full_version)
                    .as_bytes(),
            ))
        };
        // With the locked hash, a wheel built before is found without the sdist (which may be gone from the cache).
        let locked = request.hash.as_ref().map(|hash| key(hash.trim_start_matches("sha256:")));
        if let Some(wheel) = locked.as_deref().and_then(|key| self.ports.build_cache.built_wheel(key)) {
            return Ok(wheel);
        }
        let archive = self.ports.build_cache.fetch_archive(request).map_err(|e| artifact_failure(e, request))?;
        let key = match locked {
            Some(key) => key,
            None => {
                let bytes = self.ports.fs.read(&archive).map_err(|e| Failure::io(&archive, &e, "read"))?;
                key(&hex::encode(Sha256::digest(&bytes)))
            }
        };
        if let Some(wheel) = self.ports.build_cache.built_wheel(&key) {
            return Ok(wheel);
        }
        let scratch = self.ports.build_cache.scratch_dir().map_err(|e| artifact_failure(e, request))?;
        let label = if request.version.is_empty() {
            request.filename.clone()
        } else {
            format!("{}=={}", request.name, request.version)
        };
        let result = self
            .ports
            .frontend
            .unpack_sdist(&archive, &scratch.join("src"))
            .map_err(|e| build_failure(e, &label))
            .and_then(|source_root| self.build_tree(&source_root, false, &scratch.join("out"), &label))
            .and_then(|wheel| {
                self.ports.build_cache.store_built_wheel(Some(&key), &wheel).map_err(|e| artifact_failure(e, request))
            });
        let _ = self.ports.fs.remove_dir_all(&scratch);
        result
    }

    fn build_tree(&self, source_dir: &Path, editable: bool, output_dir: &Path, label: &str) -> Result<PathBuf, Failure> {
        let system = self.build_system(source_dir)?;
        let mut env = self.build_env(&system.requires, label, source_dir)?;
        let (requires_hook, build_hook) = if editable {
            (Hook::GetRequiresForBuildEditable, Hook::BuildEditable)
        } else {
            (Hook::GetRequiresForBuildWheel, Hook::BuildWheel)
        };
        let call = |env: &Venv, hook: Hook| {
            self.ports
                .frontend
                .call_hook(&HookRequest {
                    python: env.python.clone(),
                    source_dir: source_dir.to_path_buf(),
                    backend: system.backend.clone(),
                    backend_path: system.backend_path.clone(),
                    hook,
                    output_dir: output_dir.to_path_buf(),
                })
                .map_err(|e| build_failure(e, label))
        };
        if let HookOutput::Requires(extra) = call(&env, requires_hook)? {
            let mut extra_reqs = Vec::new();
            for text in &extra {
                let req = Req::from_str(text).map_err(|e| {
                    Failure::new(
                        Diagnostic::error(Code::BuildFailed, format!("the build backend of `{label}` asked for an invalid requirement `{text}`: {e}"))
                            .with_hint("report this to the package's maintainers"),
                    )
                })?;
                if !system.requires.iter().any(|r| r.to_string() == req.to_string()) {
                    extra_reqs.push(req);
                }
            }
            if !extra_reqs.is_empty() {
                let mut all = system.requires.clone();
                all.extend(extra_reqs);
                env = self.build_env(&all, label, source_dir)?;
            }
        }
        match call(&env, build_hook)? {
            HookOutput::Wheel(path) => Ok(path),
            HookOutput::Requires(_) => Err(Failure::new(Diagnostic::error(
                Code::Internal,
                format!("the build of `{label}` returned requirements instead of a wheel"),
            ))),
        }
    }

    fn build_system(&self, source_dir: &Path) -> Result<BuildSystem, Failure> {
        let path = source_dir.join("pyproject.toml");
        let legacy = || BuildSystem {
            requires: vec![Req::from_str(LEGACY_REQUIRES).expect("valid")],
            backend: LEGACY_BACKEND.to_string(),
            backend_path: Vec::new(),
        };
        let Ok(text) = self.ports.fs.read_to_string(&path) else {
            return Ok(legacy());
        };
        let parsed = parse_pyproject(&text, &path.display().to_string());
        let Some(project) = parsed.project else { return Ok(legacy()) };
        if !project.has_build_system {
            return Ok(legacy());
        }
        Ok(BuildSystem {
            requires: project.build_requires.iter().map(|r| r.value.clone()).collect(),
            backend: project.build_backend.clone().unwrap_or_else(|| LEGACY_BACKEND.to_string()),
            backend_path: project.build_backend_path.clone(),
        })
    }

    /// A cached venv with exactly these requirements resolved for the interpreter.
    fn build_env(&self, requires: &[Req], label: &str, source_dir: &Path) -> Result<Venv, Failure> {
        let lock = lock_requirements(
            &format!("the build requirements of `{label}`"),
            &source_dir.join("pyproject.toml"),
            requires.to_vec(),
            &self.interpreter.python_full_version,
            self.index,
            self.ports.open_index,
            self.ports.reporter,
        )?;
        let wanted = wanted_packages(&lock, &ExportSelection::all(), self.interpreter, None)?;
        if let Some(sdist_only) = wanted.iter().find(|w| w.kind != WantedKind::Wheel) {
            return Err(Failure::new(
                Diagnostic::error(
                    Code::NoCompatibleWheel,
                    format!(
                        "the build requirement `{}=={}` of `{label}` has no wheel for Python {}",
                        sdist_only.package.name, sdist_only.package.version, self.interpreter.python_full_version
                    ),
                )
                .with_hint("build requirements must be installable from wheels; use another interpreter (`--python`)"),
            ));
        }
        let key_text = environment_key_text(self.interpreter, &wanted);
        let key = hex::encode(Sha256::digest(key_text.as_bytes()));
        let dir = self.ports.build_cache.build_env_dir(&key[..32]);
        let marker = dir.join(COMPLETE_MARKER);
        if self.ports.fs.exists(&marker)
            && let Some(venv) = self.ports.environments.open_venv(&dir).map_err(environment_failure)?
        {
            return Ok(venv);
        }
        let venv = self
            .ports
            .environments
            .create_venv(&dir, self.interpreter, &VenvOptions { prompt: Some("pybun-build".into()), system_site_packages: false, clear: true })
            .map_err(environment_failure)?;
        let requests: Vec<ArtifactRequest> = wanted
            .iter()
            .map(|w| {
                let file = w.package.files.iter().find(|f| f.filename == w.filename).expect("chosen among the files");
                ArtifactRequest {
                    name: w.package.name.clone(),
                    version: w.package.version.clone(),
                    filename: file.filename.clone(),
                    url: file.url.clone(),
                    hash: file.hash.clone(),
                    size: file.size,
                }
            })
            .collect();
        let mut wheels = Vec::new();
        for (result, request) in self.ports.artifacts.prepare_wheels(&requests).into_iter().zip(&requests) {
            let wheel = result.map_err(|e| artifact_failure(e, request))?;
            wheels.push(WheelToInstall { filename: wheel.filename, unpacked: wheel.unpacked, direct_url: None });
        }
        for result in self.ports.environments.install(&venv, &wheels, None, false) {
            result.map_err(environment_failure)?;
        }
        self.ports.fs.write_atomic(&marker, key_text.as_bytes()).map_err(|e| Failure::io(&marker, &e, "write"))?;
        Ok(venv)
    }
}

fn label_request(label: &str) -> ArtifactRequest {
    ArtifactRequest {
        name: label.to_string(),
        version: String::new(),
        filename: String::new(),
        url: String::new(),
        hash: None,
        size: None,
    }
}

pub(crate) fn build_failure(error: BuildError, label: &str) -> Failure {
    let (code, hint) = match &error {
        BuildError::HookFailed { .. } => (Code::BuildFailed, "the output above is the build backend's; fix the project's build configuration, or require a version with wheels"),
        BuildError::Unsupported { .. } => (Code::BuildFailed, "use a build backend that supports editable installs (PEP 660), e.g. setuptools>=64 or hatchling"),
        BuildError::InvalidSdist { .. } => (Code::InvalidWheel, "the source distribution on the index is broken or unsafe: report it to the package's maintainers"),
        BuildError::Io { .. } => (Code::Io, "check the permissions and free space of the cache directory (`pybun cache dir`)"),
    };
    Failure::new(Diagnostic::error(code, error.to_string()).with_cause(format!("while building `{label}`")).with_hint(hint))
}
