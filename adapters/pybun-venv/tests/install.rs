//! Installing, listing and uninstalling distributions in a real venv.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{environments, python312, run, stdout, unpacked_wheel};
use pybun_ports::{Environments, InstalledDist, Interpreters, LinkMode, Venv, VenvOptions};
use pybun_testkit::DistSpec;

fn venv(dir: &Path) -> (pybun_venv::OsEnvironments, Venv) {
    let (envs, probe) = environments();
    let facts = probe.inspect(&python312()).unwrap();
    let venv = envs.create_venv(&dir.join(".venv"), &facts, &VenvOptions::default()).unwrap();
    (envs, venv)
}

/// Every file and directory under `root` (symlinks not followed).
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            out.insert(entry.path());
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    out
}

#[test]
fn install_run_list_and_uninstall_a_wheel_with_a_launcher() {
    let dir = tempfile::tempdir().unwrap();
    let (envs, venv) = venv(dir.path());
    let before = tree(&venv.root);
    let wheel = unpacked_wheel(&dir.path().join("cache"), &DistSpec::new("Demo_Pkg", "1.0").console_script("demo-hello", "demo_pkg:main"));

    let results = envs.install(&venv, std::slice::from_ref(&wheel), None, true);
    let dist = results.into_iter().next().unwrap().unwrap();
    assert_eq!(dist.name, "demo-pkg");
    assert_eq!(dist.version, "1.0");
    assert_eq!(dist.dist_info, venv.site_packages.join("demo_pkg-1.0.dist-info"));

    // The launcher runs with the venv's interpreter.
    let launcher = venv.scripts.join("demo-hello");
    assert_eq!(stdout(&run(&launcher, &[])), "hello from demo_pkg");
    let head = fs::read_to_string(&launcher).unwrap();
    assert!(head.starts_with(&format!("#!{}", venv.python.display())), "{head}");
    // Bytecode was compiled.
    let pycache = venv.site_packages.join("demo_pkg/__pycache__");
    assert!(fs::read_dir(&pycache).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".pyc")));
    assert_eq!(envs.installed(&venv).unwrap(), vec![dist.clone()]);

    // Installing the same distribution again replaces it in place.
    let again = envs.install(&venv, std::slice::from_ref(&wheel), Some(LinkMode::Copy), false);
    assert_eq!(again, vec![Ok(dist.clone())]);
    assert_eq!(envs.installed(&venv).unwrap(), vec![dist.clone()]);

    let record = fs::read_to_string(dist.dist_info.join("RECORD")).unwrap();
    let recorded: Vec<PathBuf> = record
        .lines()
        .filter_map(|line| line.split(',').next())
        .map(|path| venv.site_packages.join(path))
        .collect();
    assert!(recorded.iter().any(|p| p.ends_with("bin/demo-hello")), "{record}");
    envs.uninstall(&venv, &dist).unwrap();
    for path in &recorded {
        assert!(fs::symlink_metadata(path).is_err(), "{} survived", path.display());
    }
    assert!(!dist.dist_info.exists());
    assert_eq!(envs.installed(&venv).unwrap(), vec![]);
    // Nothing left behind: not the package directory, nor its __pycache__,
    // nor a hidden staging directory; bin and site-packages stay.
    assert_eq!(tree(&venv.root), before);
    // Uninstalling again is a no-op.
    envs.uninstall(&venv, &dist).unwrap();
}

#[test]
fn several_wheels_install_in_parallel_and_list_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let (envs, venv) = venv(dir.path());
    let cache = dir.path().join("cache");
    let wheels = vec![
        unpacked_wheel(&cache, &DistSpec::new("zeta", "2.0")),
        unpacked_wheel(&cache, &DistSpec::new("alpha", "0.1")),
        unpacked_wheel(&cache, &DistSpec::new("mid.dle", "3.0rc1")),
    ];
    for mode in [LinkMode::Hardlink, LinkMode::Symlink] {
        let results = envs.install(&venv, &wheels, Some(mode), false);
        let names: Vec<String> = results.into_iter().map(|r| r.unwrap().name).collect();
        assert_eq!(names, ["zeta", "alpha", "mid-dle"], "one result per wheel, in order");
    }
    let listed: Vec<(String, String)> =
        envs.installed(&venv).unwrap().into_iter().map(|d| (d.name, d.version)).collect();
    assert_eq!(
        listed,
        [("alpha".into(), "0.1".into()), ("mid-dle".into(), "3.0rc1".into()), ("zeta".into(), "2.0".into())]
    );
    let imported = stdout(&run(&venv.python, &["-c", "import alpha, zeta, mid_dle; print(alpha.__version__, zeta.__version__)"]));
    assert_eq!(imported, "0.1 2.0");

    // A broken wheel fails alone.
    let broken = pybun_ports::WheelToInstall {
        filename: "broken-1.0-py3-none-any.whl".into(),
        unpacked: dir.path().join("nowhere"),
        direct_url: None,
    };
    let results = envs.install(&venv, &[broken, wheels[1].clone()], None, false);
    assert!(results[0].is_err());
    assert_eq!(results[1].as_ref().unwrap().name, "alpha");
}

#[test]
fn hidden_staging_dirs_are_ignored_and_stale_ones_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (envs, venv) = venv(dir.path());
    let site = &venv.site_packages;
    let staging = site.join(".demo-1.0.dist-info-Ab12Cd");
    let uninstalling = site.join(".pybun-uninstall-old-1.0.dist-info-1-0");
    let fresh = site.join(".fresh-1.0.dist-info-Zz99Yy");
    for path in [&staging, &uninstalling, &fresh] {
        fs::create_dir_all(path).unwrap();
        fs::write(path.join("METADATA"), "Name: x\n").unwrap();
    }
    fs::create_dir_all(site.join("not_a_version-x.y.dist-info")).unwrap();
    fs::write(site.join("file-1.0.dist-info"), "").unwrap();
    assert_eq!(envs.installed(&venv).unwrap(), Vec::<InstalledDist>::new());

    // Older than an hour: an install removes them; a fresh one (maybe a concurrent install) stays.
    let old = SystemTime::now() - Duration::from_secs(2 * 60 * 60);
    for path in [&staging, &uninstalling] {
        fs::File::open(path).unwrap().set_modified(old).unwrap();
    }
    let wheel = unpacked_wheel(&dir.path().join("cache"), &DistSpec::new("demo", "1.0"));
    envs.install(&venv, &[wheel], None, false).into_iter().for_each(|r| drop(r.unwrap()));
    assert!(!staging.exists());
    assert!(!uninstalling.exists());
    assert!(fresh.exists());
    let names: Vec<String> = envs.installed(&venv).unwrap().into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["demo"]);
}

#[test]
fn uninstall_never_leaves_the_venv() {
    let dir = tempfile::tempdir().unwrap();
    let (envs, venv) = venv(dir.path());
    let wheel = unpacked_wheel(&dir.path().join("cache"), &DistSpec::new("demo", "1.0"));
    let dist = envs.install(&venv, &[wheel], None, false).remove(0).unwrap();

    let outside = dir.path().join("outside.txt");
    fs::write(&outside, "precious").unwrap();
    // A tampered RECORD: a path escaping the venv, an absolute one, a missing one.
    let record_path = dist.dist_info.join("RECORD");
    let mut record = fs::read_to_string(&record_path).unwrap();
    record.push_str("../../../../outside.txt,,\n");
    record.push_str(&format!("{},,\n", outside.display()));
    record.push_str("demo/missing.py,,\n");
    fs::write(&record_path, record).unwrap();

    envs.uninstall(&venv, &dist).unwrap();
    assert_eq!(fs::read_to_string(&outside).unwrap(), "precious");
    assert!(!venv.site_packages.join("demo").exists());
    assert!(venv.site_packages.is_dir());
}

/// A second venv at the same path gets the wheel from the recipe the first
/// install left in the cache (hard-linked `RECORD`): same files, RECORD
/// verified, launcher runs, bytecode compiled; uninstalling it or upgrading
/// over it leaves the cache's recipe intact.
#[test]
fn a_recreated_venv_installs_from_the_recipe_and_uninstalls_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let spec = DistSpec::new("Demo_Pkg", "1.0").console_script("demo-hello", "demo_pkg:main");
    let wheel = unpacked_wheel(&cache, &spec);
    let project = dir.path().join("project");
    let (envs, first) = venv(&project);
    let before = tree(&first.root);
    let dist = envs.install(&first, std::slice::from_ref(&wheel), Some(LinkMode::Hardlink), false).remove(0).unwrap();
    let first_tree: BTreeSet<PathBuf> =
        tree(&first.root).iter().map(|p| p.strip_prefix(&first.root).unwrap().to_path_buf()).collect();
    let recipes = wheel.unpacked.join(pybun_fs_os::RECIPES_DIR);
    assert_eq!(fs::read_dir(&recipes).unwrap().count(), 1);

    fs::rename(&first.root, dir.path().join("old-venv")).unwrap();
    let (envs, second) = venv(&project);
    let again = envs.install(&second, std::slice::from_ref(&wheel), Some(LinkMode::Hardlink), true).remove(0).unwrap();
    assert_eq!(again, dist);
    let record_path = dist.dist_info.join("RECORD");
    assert!(fs::metadata(&record_path).map(|m| std::os::unix::fs::MetadataExt::nlink(&m)).unwrap() >= 2);
    let second_tree: BTreeSet<PathBuf> = tree(&second.root)
        .iter()
        .map(|p| p.strip_prefix(&second.root).unwrap().to_path_buf())
        .filter(|p| !p.components().any(|c| c.as_os_str() == "__pycache__"))
        .collect();
    assert_eq!(second_tree, first_tree);
    // Every RECORD row is there with its hash.
    let record = pybun_install::Record::parse(&fs::read_to_string(&record_path).unwrap()).unwrap();
    for entry in &record.entries {
        let path = pybun_venv_normalize(&second.site_packages.join(&entry.path));
        let content = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Some(hash) = &entry.hash {
            assert_eq!(&pybun_install::RecordHash::of(hash.algorithm, &content), hash, "{}", entry.path);
        }
    }
    assert_eq!(stdout(&run(&second.scripts.join("demo-hello"), &[])), "hello from demo_pkg");
    let pycache = second.site_packages.join("demo_pkg/__pycache__");
    assert!(fs::read_dir(&pycache).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".pyc")));

    // Upgrade: the new version replaces it; then uninstall.
    let newer = unpacked_wheel(&cache, &DistSpec::new("Demo_Pkg", "2.0").console_script("demo-hello", "demo_pkg:main"));
    envs.uninstall(&second, &again).unwrap();
    let upgraded = envs.install(&second, std::slice::from_ref(&newer), Some(LinkMode::Hardlink), false).remove(0).unwrap();
    assert_eq!(upgraded.version, "2.0");
    assert_eq!(envs.installed(&second).unwrap(), vec![upgraded.clone()]);
    envs.uninstall(&second, &upgraded).unwrap();
    let left: BTreeSet<PathBuf> = tree(&second.root)
        .into_iter()
        .map(|p| p.strip_prefix(&second.root).unwrap().to_path_buf())
        .collect();
    let expected: BTreeSet<PathBuf> = before.iter().map(|p| p.strip_prefix(&first.root).unwrap().to_path_buf()).collect();
    assert_eq!(left, expected);
    // The recipe still holds its RECORD, unchanged.
    let recipe_dir = fs::read_dir(&recipes).unwrap().next().unwrap().unwrap().path();
    assert_eq!(fs::read_to_string(recipe_dir.join("RECORD")).unwrap(), record.to_csv());
}

/// `path` with `..` resolved lexically.
fn pybun_venv_normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
