//! Tidy checks that keep the architecture honest: dependency direction over
//! `cargo metadata`, no IO in core sources, and the error-code list in
//! `SPECS.md` matching the registry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

fn metadata() -> serde_json::Value {
    // Only the host platform: metadata for every platform would need crates we never download.
    let mut args = vec!["metadata".to_string(), "--format-version".into(), "1".into(), "--offline".into()];
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        args.push("--filter-platform".into());
        args.push(format!("{}-unknown-linux-gnu", std::env::consts::ARCH));
    }
    let output = Command::new(env!("CARGO"))
        .args(&args)
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The group folder (`core`, `adapters`, `frontends`, `tests`) of each workspace crate.
fn groups(metadata: &serde_json::Value) -> BTreeMap<String, String> {
    let root = workspace_root();
    let members: BTreeSet<&str> =
        metadata["workspace_members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    let mut groups = BTreeMap::new();
    for package in metadata["packages"].as_array().unwrap() {
        if !members.contains(package["id"].as_str().unwrap()) {
            continue;
        }
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
        let dir = manifest.parent().unwrap();
        let relative = dir.strip_prefix(&root).unwrap();
        let group = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
        let name = package["name"].as_str().unwrap().to_string();
        assert_eq!(folder, name, "folder name must equal crate name");
        groups.insert(name, group);
    }
    groups
}

/// Normal (non-dev, non-build) dependency closure of a package, by name.
fn closure(metadata: &serde_json::Value, name: &str) -> BTreeSet<String> {
    let nodes = metadata["resolve"]["nodes"].as_array().unwrap();
    let by_id: BTreeMap<&str, &serde_json::Value> = nodes.iter().map(|n| (n["id"].as_str().unwrap(), n)).collect();
    let package_name = |id: &str| -> String {
        metadata["packages"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap()["name"].as_str().unwrap().to_string()
    };
    let start = metadata["packages"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["id"].as_str().unwrap();
    let mut seen = BTreeSet::new();
    let mut stack = vec![start.to_string()];
    while let Some(id) = stack.pop() {
        for dep in by_id[id.as_str()]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(dep_id.to_string()) {
                stack.push(dep_id.to_string());
            }
        }
    }
    seen.iter().map(|id| package_name(id)).collect()
}

#[test]
fn dependency_direction() {
    let metadata = metadata();
    let groups = groups(&metadata);
    let forbidden_in_core = ["tokio", "reqwest", "hyper", "mio", "socket2", "tempfile", "fs4", "tiny_http"];
    for (name, group) in &groups {
        let deps = closure(&metadata, name);
        let workspace_deps: Vec<(&String, &String)> =
            deps.iter().filter_map(|d| groups.get(d).map(|g| (d, g))).collect();
        match group.as_str() {
            "core" => {
                for (dep, dep_group) in &workspace_deps {
                    assert_eq!(dep_group.as_str(), "core", "core crate `{name}` depends on `{dep}` ({dep_group})");
                }
                for crate_name in forbidden_in_core {
                    assert!(!deps.contains(crate_name), "core crate `{name}` depends on `{crate_name}` (IO)");
                }
            }
            "adapters" => {
                // Adapters build on core and on the foundational adapters
                // (filesystem, HTTP): the cache reuses the index client's
                // connection pool and the unpacker, the venv adapter the
                // installer. Never on use cases, frontends or test crates.
                let foundational = ["pybun-fs-os", "pybun-index-http"];
                for (dep, dep_group) in &workspace_deps {
                    assert!(
                        dep_group.as_str() == "core" || foundational.contains(&dep.as_str()),
                        "adapter `{name}` depends on `{dep}` ({dep_group})"
                    );
                    assert_ne!(dep.as_str(), "pybun-engine", "adapter `{name}` depends on the use cases");
                }
            }
            "frontends" => {
                for (dep, dep_group) in &workspace_deps {
                    assert_ne!(dep_group.as_str(), "tests", "frontend `{name}` depends on test crate `{dep}`");
                    // Only the CLI's composition root names adapters; other
                    // frontends (the language server) get their ports injected.
                    if name != "pybun-cli" {
                        assert_eq!(dep_group.as_str(), "core", "frontend `{name}` depends on `{dep}` ({dep_group}): it must take its ports from the CLI");
                    }
                    // The CLI hosts the language server; no other frontend-to-frontend edges.
                    if dep_group.as_str() == "frontends" {
                        assert_eq!((name.as_str(), dep.as_str()), ("pybun-cli", "pybun-lsp"), "frontend `{name}` depends on frontend `{dep}`");
                    }
                }
            }
            "tests" => {
                for (dep, dep_group) in &workspace_deps {
                    assert_eq!(dep_group.as_str(), "core", "test kit `{name}` depends on `{dep}`: it must stay independent of adapters and frontends");
                }
            }
            other => panic!("crate `{name}` lives in unknown group `{other}`"),
        }
    }
    assert!(groups.values().any(|g| g == "core"), "no core crates found");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_sources_do_no_io() {
    let core = workspace_root().join("core");
    let banned = ["std::fs", "std::net", "std::process", "std::env::", "tokio::", "reqwest::", "File::open", "File::create"];
    let mut offenders = Vec::new();
    for crate_dir in std::fs::read_dir(&core).unwrap() {
        let src = crate_dir.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for pattern in banned {
                    if code.contains(pattern) {
                        offenders.push(format!("{}:{}: `{pattern}`", file.display(), number + 1));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "IO in core crates (use a port instead):\n{}", offenders.join("\n"));
    assert!(core.join("clippy.toml").is_file(), "core/clippy.toml bans IO methods for clippy");
}

#[test]
fn error_codes_are_documented_in_specs() {
    let specs = std::fs::read_to_string(workspace_root().join("SPECS.md")).unwrap();
    for code in pybun_engine::Code::ALL {
        let row = format!("| `{}` |", code.as_str());
        assert!(specs.contains(&row), "SPECS.md does not list {} ({})", code.as_str(), code.summary());
    }
}
