//! `just bench-check`: the compute cost of each check layer on a
//! 60-dependency `pyproject.toml`, with the in-memory fakes (no network, no
//! disk): what the language server adds on top of its own work per edit.
//! Prints the median of many runs per layer.
#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pybun_engine::check::{self, ResolutionSettings};
use pybun_engine::{Failure, IndexSettings, LockRequest};
use pybun_pep::PackageName;
use pybun_ports::testing::{FixtureIndex, MemoryFs};
use pybun_ports::{DistFile, NullReporter, PackageIndex};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let samples = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    median(samples)
}

fn main() {
    let mut index = FixtureIndex::new();
    let mut deps = String::new();
    for i in 0..60 {
        let name = format!("package-{i}");
        for minor in 0..5 {
            let version = format!("1.{minor}.0");
            let filename = format!("package_{i}-{version}-py3-none-any.whl");
            let requires = if i % 3 == 0 && i + 1 < 60 { format!("Requires-Dist: package-{}>=1\n", i + 1) } else { String::new() };
            let metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{requires}");
            let file = DistFile {
                filename: filename.clone(),
                url: format!("https://example.invalid/{filename}"),
                index: IndexSettings::PYPI.to_string(),
                sha256: Some("00".repeat(32)),
                size: Some(1),
                requires_python: None,
                yanked: None,
                upload_time: None,
                has_metadata: true,
            };
            index.add_file(&PackageName::from_str(&name).expect("a name"), file, &metadata);
        }
        deps.push_str(&format!("  \"{name}[extra]>=1.{},<3; python_version >= '3.9'\",\n", i % 5));
    }
    let text = format!(
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\n{deps}]\n\n[tool.pybun]\nlockfile = \"text\"\n"
    );
    let index: Arc<dyn PackageIndex> = Arc::new(index);
    let file = "/project/pyproject.toml";
    let fs = MemoryFs::new();
    fs.insert(file, text.as_bytes());
    let opener = |_: &IndexSettings| -> Result<Arc<dyn PackageIndex>, Failure> { Ok(index.clone()) };
    pybun_engine::lock(&LockRequest { directory: PathBuf::from("/project"), ..LockRequest::default() }, &fs, &opener, &NullReporter)
        .expect("the benchmark project locks");
    let edited = text.replacen("\"0.1.0\"", "\"0.1.1\"", 1);

    let project = check::check_static(&text, file).project.expect("a project");
    assert!(check::check_static(&text, file).diagnostics.is_empty());
    let static_time = time(500, || check::check_static(&text, file));
    let index_time = time(200, || check::check_index(&text, &project, file, index.as_ref()));
    let settings = ResolutionSettings::default();
    let resolution_time = time(50, || check::check_resolution(&project, Path::new(file), index.as_ref(), &settings, &NullReporter));
    let lock_time = time(200, || check::check_lock(&edited, Path::new(file), &fs, &IndexSettings::default()));
    println!("60-dependency pyproject.toml ({} bytes), in-memory index and filesystem, median:", text.len());
    println!("  static      {static_time:>10.2?}  (target < 20 ms per keystroke)");
    println!("  index       {index_time:>10.2?}");
    println!("  resolution  {resolution_time:>10.2?}  (target < 200 ms)");
    println!("  lock        {lock_time:>10.2?}");
}
