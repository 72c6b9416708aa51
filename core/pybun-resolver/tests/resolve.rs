//! Resolver behaviour on in-memory registries.

mod common;

use std::str::FromStr;

use pybun_pep::VersionSpecifiers;
use pybun_ports::testing::FixtureIndex;
use pybun_ports::{DistFile, MetadataOrigin, NullReporter};
use pybun_resolver::{PrereleaseMode, ResolveError, ResolveRequest, resolve};

use common::{add, add_full, request};


/// Resolve and render `name==version` lines, or the error's explanation.
fn check(index: &FixtureIndex, request: &ResolveRequest, expected: &[&str]) {
    match resolve(request, index, &NullReporter) {
        Ok(resolution) => {
            let got: Vec<String> =
                resolution.packages.iter().map(|p| format!("{}=={}", p.name, p.version)).collect();
            assert_eq!(got, expected);
        }
        Err(ResolveError::NoSolution(report)) => {
            panic!("no solution:\n{}\nhints: {:?}", report.explanation.join("\n"), report.hints)
        }
        Err(other) => panic!("error: {other}"),
    }
}

fn no_solution(index: &FixtureIndex, request: &ResolveRequest) -> String {
    match resolve(request, index, &NullReporter) {
        Err(ResolveError::NoSolution(report)) => {
            format!("{}\nhint: {}", report.explanation.join("\n"), report.hints.join("\nhint: "))
        }
        other => panic!("expected no solution, got {other:?}"),
    }
}

#[test]
fn transitive_and_backtracking() {
    let mut index = FixtureIndex::new();
    add(&mut index, "a", "1.0", &["b>=1"]);
    add(&mut index, "a", "2.0", &["b>=2", "c"]);
    add(&mut index, "b", "1.0", &[]);
    add(&mut index, "b", "2.0", &["c<1"]);
    add(&mut index, "c", "1.0", &[]);
    // a 2.0 needs c (>=1 exists only) and b>=2 needs c<1: back off to a 1.0 with b 1.0.
    check(&index, &request(&["a"]), &["a==1.0", "b==1.0"]);
}

#[test]
fn conflict_is_explained_with_hint() {
    let mut index = FixtureIndex::new();
    add(&mut index, "flask", "3.0", &["werkzeug>=3"]);
    add(&mut index, "werkzeug", "2.0", &[]);
    add(&mut index, "werkzeug", "3.0", &[]);
    let text = no_solution(&index, &request(&["flask>=3", "werkzeug<3"]));
    assert!(text.contains("flask>=3.0 depends on werkzeug>=3"), "{text}");
    assert!(text.contains("you require werkzeug<3"), "{text}");
    assert!(text.contains("hint: "), "{text}");
}

#[test]
fn extras_and_markers_are_kept_on_edges() {
    let mut index = FixtureIndex::new();
    add(&mut index, "a", "1.0", &["b ; extra == 'x'", "c ; sys_platform == 'win32'", "d ; python_version < '3.8'"]);
    add(&mut index, "b", "1.0", &[]);
    add(&mut index, "c", "1.0", &[]);
    add(&mut index, "d", "1.0", &[]);
    let resolution = resolve(&request(&["a[x]"]), &index, &NullReporter).unwrap();
    let names: Vec<String> = resolution.packages.iter().map(|p| p.name.to_string()).collect();
    // `d` is only for Python < 3.8, which the project does not support.
    assert_eq!(names, ["a", "b", "c"]);
    let a = &resolution.packages[0];
    assert_eq!(a.dependencies.len(), 1);
    assert_eq!(a.dependencies[0].marker.try_to_string().unwrap(), "sys_platform == 'win32'");
    assert_eq!(a.optional_dependencies.len(), 1);
}

#[test]
fn requires_python_excludes_new_versions() {
    let mut index = FixtureIndex::new();
    add_full(&mut index, "a", "1.0", &[], Some(">=3.8"), None);
    add_full(&mut index, "a", "2.0", &[], Some(">=3.12"), None);
    // The project supports 3.9+: a 2.0 serves 3.12+, a 1.0 the rest (a Python fork, as uv does).
    check(&index, &request(&["a"]), &["a==1.0", "a==2.0"]);
    let resolution = resolve(&request(&["a"]), &index, &NullReporter).unwrap();
    let markers: Vec<String> = resolution
        .packages
        .iter()
        .map(|p| p.python_marker.as_ref().and_then(pybun_pep::MarkerTree::try_to_string).unwrap_or_default())
        .collect();
    assert_eq!(markers, ["python_full_version < '3.12'", "python_full_version >= '3.12'"]);
    let edges: Vec<String> = resolution
        .project_dependencies
        .iter()
        .map(|e| format!("{}=={} ; {}", e.name, e.version.as_ref().unwrap(), e.marker.try_to_string().unwrap()))
        .collect();
    assert_eq!(edges, ["a==1.0 ; python_full_version < '3.12'", "a==2.0 ; python_full_version >= '3.12'"]);
    // Without a newer Python to serve, no fork.
    let mut narrow = request(&["a"]);
    narrow.requires_python = Some(VersionSpecifiers::from_str(">=3.9,<3.12").unwrap());
    check(&index, &narrow, &["a==1.0"]);
    let text = no_solution(&index, &request(&["a>=2"]));
    assert!(text.contains("requires Python>=3.12"), "{text}");
}

#[test]
fn prereleases_only_when_needed_or_asked() {
    let mut index = FixtureIndex::new();
    add(&mut index, "a", "1.0", &[]);
    add(&mut index, "a", "2.0b1", &[]);
    add(&mut index, "b", "1.0a1", &[]);
    check(&index, &request(&["a", "b"]), &["a==1.0", "b==1.0a1"]);
    check(&index, &request(&["a>=2.0b1"]), &["a==2.0b1"]);
    let mut req = request(&["a"]);
    req.options.prerelease = PrereleaseMode::Allow;
    check(&index, &req, &["a==2.0b1"]);
    let mut req = request(&["b"]);
    req.options.prerelease = PrereleaseMode::Explicit;
    let text = no_solution(&index, &req);
    assert!(text.contains("pre-releases of `b`"), "{text}");
}

#[test]
fn yanked_skipped_unless_pinned() {
    let mut index = FixtureIndex::new();
    add(&mut index, "a", "1.0", &[]);
    add_full(&mut index, "a", "2.0", &[], None, Some("broken"));
    check(&index, &request(&["a"]), &["a==1.0"]);
    check(&index, &request(&["a==2.0"]), &["a==2.0"]);
}

#[test]
fn unknown_package() {
    let index = FixtureIndex::new();
    match resolve(&request(&["nope"]), &index, &NullReporter) {
        Err(ResolveError::NotFound { name, .. }) => assert_eq!(name.to_string(), "nope"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn split_needed_is_reported() {
    let mut index = FixtureIndex::new();
    add(&mut index, "a", "1.0", &[]);
    add(&mut index, "a", "2.0", &[]);
    match resolve(&request(&["a>=2 ; sys_platform == 'linux'", "a<2 ; sys_platform == 'darwin'"]), &index, &NullReporter) {
        Err(ResolveError::SplitNeeded { package, requirements, .. }) => {
            assert_eq!(package.to_string(), "a");
            assert_eq!(requirements.len(), 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn preferences_keep_locked_versions() {
    let mut index = FixtureIndex::new();
    add(&mut index, "a", "1.0", &[]);
    add(&mut index, "a", "2.0", &[]);
    let mut req = request(&["a"]);
    req.preferences.insert("a".parse().unwrap(), "1.0".parse().unwrap());
    check(&index, &req, &["a==1.0"]);
    let mut req = request(&["a>=2"]);
    req.preferences.insert("a".parse().unwrap(), "1.0".parse().unwrap());
    check(&index, &req, &["a==2.0"]);
}

/// Runs the resolver's candidate guesses at once against the fixture (as the
/// HTTP index does when pages arrive) and records what they pick and what
/// the resolver then reads.
struct Guessing {
    inner: FixtureIndex,
    guessed: std::sync::Mutex<Vec<String>>,
    read: std::sync::Mutex<Vec<String>>,
}

impl pybun_ports::PackageIndex for Guessing {
    fn project(&self, name: &pybun_pep::PackageName) -> Result<std::sync::Arc<pybun_ports::ProjectFiles>, pybun_ports::IndexError> {
        self.inner.project(name)
    }

    fn metadata(
        &self,
        name: &pybun_pep::PackageName,
        file: &pybun_ports::DistFile,
    ) -> Result<std::sync::Arc<pybun_ports::RawMetadata>, pybun_ports::IndexError> {
        self.read.lock().unwrap().push(file.filename.clone());
        self.inner.metadata(name, file)
    }

    fn prefetch_candidate(&self, name: &pybun_pep::PackageName, pick: pybun_ports::CandidatePick) {
        let Ok(project) = self.inner.project(name) else { return };
        let Some(file) = pick.pick(&project) else { return };
        self.guessed.lock().unwrap().push(file.filename.clone());
        let Ok(metadata) = self.inner.metadata(name, &file) else { return };
        for (next, pick) in pick.next(&metadata) {
            self.prefetch_candidate(&next, pick);
        }
    }
}

#[test]
fn candidate_guesses_are_the_metadata_the_resolver_reads() {
    let mut index = FixtureIndex::new();
    add(&mut index, "a", "1.0", &["c"]);
    add(&mut index, "a", "2.0", &["c>=1", "x ; extra == 'extra'", "old ; python_version < '3.8'", "d ; sys_platform == 'win32'"]);
    add(&mut index, "a", "3.0b1", &[]);
    add(&mut index, "b", "0.9", &[]);
    add_full(&mut index, "b", "1.0", &[], None, Some("broken"));
    add(&mut index, "c", "1.0", &["d<2"]);
    add(&mut index, "d", "1.5", &[]);
    add(&mut index, "d", "2.0", &[]);
    add(&mut index, "x", "1.0", &[]);
    add(&mut index, "old", "1.0", &[]);
    let guessing = Guessing { inner: index, guessed: std::sync::Mutex::default(), read: std::sync::Mutex::default() };
    let resolution = resolve(&request(&["a>=1", "b"]), &guessing, &NullReporter).unwrap();
    let got: Vec<String> = resolution.packages.iter().map(|p| format!("{}=={}", p.name, p.version)).collect();
    assert_eq!(got, ["a==2.0", "b==0.9", "c==1.0", "d==1.5"]);
    let mut guessed = guessing.guessed.into_inner().unwrap();
    let mut read = guessing.read.into_inner().unwrap();
    guessed.sort();
    read.sort();
    // `d` is guessed from `a` (d, any version: 2.0) before `c` narrows it to <2.
    assert_eq!(guessed, ["a-2.0-py3-none-any.whl", "b-0.9-py3-none-any.whl", "c-1.0-py3-none-any.whl", "d-2.0-py3-none-any.whl"]);
    assert_eq!(read, ["a-2.0-py3-none-any.whl", "b-0.9-py3-none-any.whl", "c-1.0-py3-none-any.whl", "d-1.5-py3-none-any.whl"]);
}

/// An sdist's `PKG-INFO` whose dependencies may be dynamic (Metadata < 2.2)
/// is not trusted, whether it comes from an index or a find-links directory;
/// the metadata of a wheel built from that sdist is.
#[test]
fn dynamic_sdist_metadata_is_not_trusted() {
    let sdist = |origin: MetadataOrigin| {
        let mut index = FixtureIndex::new();
        let file = DistFile::new(
            "old-1.0.tar.gz",
            "https://example.invalid/files/old-1.0.tar.gz",
            "https://example.invalid/simple",
        );
        let metadata = "Metadata-Version: 2.1\nName: old\nVersion: 1.0\nRequires-Dist: dep\n";
        index.add_file_from(&"old".parse().unwrap(), file, metadata, origin);
        add(&mut index, "dep", "1.0", &[]);
        index
    };
    for origin in [MetadataOrigin::SdistPkgInfo, MetadataOrigin::Local] {
        match resolve(&request(&["old"]), &sdist(origin), &NullReporter) {
            Err(ResolveError::DynamicSdist { filename, .. }) => assert_eq!(filename, "old-1.0.tar.gz"),
            other => panic!("{origin:?}: expected DynamicSdist, got {other:?}"),
        }
    }
    check(&sdist(MetadataOrigin::WheelDownload), &request(&["old"]), &["dep==1.0", "old==1.0"]);
}
