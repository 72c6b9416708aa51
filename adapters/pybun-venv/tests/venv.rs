//! Creating, reusing, clearing and opening venvs with the machine's real interpreters.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{environments, interpreters, pyenv, python312, run, stdout};
use pybun_ports::{EnvironmentError, Environments, Interpreters, VenvOptions};

fn options() -> VenvOptions {
    VenvOptions::default()
}

#[test]
fn venvs_of_every_interpreter_run_with_the_venv_as_prefix() {
    let (envs, probe) = environments();
    let dir = tempfile::tempdir().unwrap();
    for (index, python) in interpreters().iter().enumerate() {
        let facts = probe.inspect(python).unwrap();
        let root = dir.path().join(format!("venv-{index}"));
        let venv = envs.create_venv(&root, &facts, &options()).unwrap();
        let label = format!("{} ({})", python.display(), facts.python_full_version);

        assert_eq!(venv.root, root);
        assert_eq!(venv.python, root.join("bin/python"));
        assert_eq!(venv.scripts, root.join("bin"));
        assert_eq!(venv.site_packages, root.join(format!("lib/python{}/site-packages", facts.python_version)));
        assert!(venv.site_packages.is_dir(), "{label}");
        assert_eq!(venv.interpreter, facts);

        // The links: python -> the base interpreter, the others -> python.
        assert_eq!(fs::read_link(root.join("bin/python")).unwrap(), *python, "{label}");
        for name in ["python3".to_string(), format!("python{}", facts.python_version)] {
            assert_eq!(fs::read_link(root.join("bin").join(&name)).unwrap(), Path::new("python"), "{label}: {name}");
        }
        assert_eq!(fs::read_link(root.join("lib64")).unwrap(), Path::new("lib"));
        assert_eq!(fs::read_to_string(root.join(".gitignore")).unwrap().lines().last(), Some("*"));
        assert!(fs::read_to_string(root.join("CACHEDIR.TAG")).unwrap().starts_with("Signature: 8a477f597d28d172789f06886806bc55"));
        assert!(!root.join(".pybun-venv-incomplete").exists());

        let cfg = fs::read_to_string(root.join("pyvenv.cfg")).unwrap();
        let home = python.parent().unwrap().display().to_string();
        assert!(cfg.starts_with(&format!("home = {home}\n")), "{label}: {cfg}");
        assert!(cfg.contains("\ninclude-system-site-packages = false\n"), "{cfg}");
        assert!(cfg.contains(&format!("\nversion = {}\n", facts.python_full_version)), "{cfg}");
        let resolved = fs::canonicalize(python).unwrap();
        assert!(cfg.contains(&format!("\nexecutable = {}\n", resolved.display())), "{cfg}");
        assert!(cfg.contains(&format!("\npybun = {}\n", env!("CARGO_PKG_VERSION"))), "{cfg}");
        assert!(!cfg.contains("prompt"), "{cfg}");

        // The interpreter agrees it runs in the venv, on top of its base.
        let script = "import sys, sysconfig; print(sys.prefix); print(sys.base_prefix); print(sysconfig.get_paths()['purelib']); print(sys.flags.no_user_site or 'user-site-ok')";
        for exe in ["python", "python3"] {
            let output = run(&root.join("bin").join(exe), &["-c", script]);
            let text = stdout(&output);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[0], root.display().to_string(), "{label}: sys.prefix");
            assert_eq!(lines[1], facts.base_prefix.display().to_string(), "{label}: sys.base_prefix");
            assert_eq!(lines[2], venv.site_packages.display().to_string(), "{label}: purelib");
        }
        // site-packages is on sys.path (site processed the venv).
        let path = stdout(&run(&venv.python, &["-c", "import sys; print('\\n'.join(sys.path))"]));
        assert!(path.lines().any(|l| Path::new(l) == venv.site_packages), "{label}: {path}");

        // Opening it again gives the same venv, from the base interpreter named by pyvenv.cfg.
        let opened = envs.open_venv(&root).unwrap().expect("a venv");
        assert_eq!(opened, venv, "{label}");
    }
}

#[test]
fn system_site_packages_and_prompt_are_written() {
    let (envs, probe) = environments();
    let dir = tempfile::tempdir().unwrap();
    let facts = probe.inspect(&python312()).unwrap();
    let root = dir.path().join("with-options");
    let options = VenvOptions { prompt: Some("my 'env'".into()), system_site_packages: true, clear: false };
    envs.create_venv(&root, &facts, &options).unwrap();
    let cfg = fs::read_to_string(root.join("pyvenv.cfg")).unwrap();
    assert!(cfg.contains("\ninclude-system-site-packages = true\n"), "{cfg}");
    assert!(cfg.contains("\nprompt = my 'env'\n"), "{cfg}");
    let seen = stdout(&run(&root.join("bin/python"), &["-c", "import site, sys; print(site.ENABLE_USER_SITE is not None and any(p.startswith(sys.base_prefix) and p.endswith('site-packages') for p in sys.path))"]));
    assert_eq!(seen, "True");
}

fn bash(script: &str) -> String {
    let output = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", script])
        .env("PATH", "/usr/bin:/bin")
        .env_remove("VIRTUAL_ENV")
        .env("PYTHONHOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A venv (of Python 3.12) at a path with a space and a quote, which the
/// activation scripts must quote: the temporary directory and the venv root.
fn venv_at_a_path_to_quote() -> (tempfile::TempDir, PathBuf) {
    let (envs, probe) = environments();
    let dir = tempfile::tempdir().unwrap();
    let facts = probe.inspect(&python312()).unwrap();
    let root = dir.path().join("my 'project'/.venv");
    fs::create_dir_all(root.parent().unwrap()).unwrap();
    envs.create_venv(&root, &facts, &options()).unwrap();
    (dir, root)
}

#[test]
fn activation_scripts_activate_and_deactivate() {
    let (_dir, root) = venv_at_a_path_to_quote();
    let activate = root.join("bin/activate");
    let quoted = format!("'{}'", activate.display().to_string().replace('\'', r"'\''"));

    let out = bash(&format!(
        "PS1='$ '\n\
         source {quoted}\n\
         python -c 'import sys; print(sys.prefix)'\n\
         echo \"env=$VIRTUAL_ENV\"\n\
         echo \"prompt=$VIRTUAL_ENV_PROMPT\"\n\
         echo \"ps1=$PS1\"\n\
         echo \"home=${{PYTHONHOME:-unset}}\"\n\
         command -v python\n\
         deactivate\n\
         echo \"after=${{VIRTUAL_ENV:-none}} $PATH ps1=$PS1 home=$PYTHONHOME\"\n\
         type deactivate >/dev/null 2>&1 || echo gone"
    ));
    let lines: Vec<&str> = out.lines().collect();
    let root_text = root.display().to_string();
    assert_eq!(lines[0], root_text, "{out}");
    assert_eq!(lines[1], format!("env={root_text}"));
    assert_eq!(lines[2], "prompt=.venv");
    assert_eq!(lines[3], "ps1=(.venv) $ ");
    assert_eq!(lines[4], "home=unset");
    assert_eq!(lines[5], format!("{root_text}/bin/python"));
    assert_eq!(lines[6], "after=none /usr/bin:/bin ps1=$  home=/nonexistent");
    assert_eq!(lines[7], "gone");

    // The other shells' scripts exist and name the venv (quoted for their shell).
    let fish = fs::read_to_string(root.join("bin/activate.fish")).unwrap();
    assert!(fish.contains(&format!("set -gx VIRTUAL_ENV '{}'", root_text.replace('\'', r"\'"))), "{fish}");
    assert!(fish.contains("function deactivate"));
    let csh = fs::read_to_string(root.join("bin/activate.csh")).unwrap();
    assert!(csh.contains(&format!("setenv VIRTUAL_ENV '{}'", root_text.replace('\'', r"'\''"))), "{csh}");
    let ps1 = fs::read_to_string(root.join("bin/Activate.ps1")).unwrap();
    assert!(ps1.contains(&format!("$VenvDir = '{}'", root_text.replace('\'', "''"))), "{ps1}");
    assert!(ps1.contains("function global:deactivate"));
}

/// zsh (with the POSIX `activate`) and fish (`activate.fish`) activate and
/// deactivate the venv, when they are installed (skipped, saying so, when not).
#[test]
#[expect(clippy::print_stderr, reason = "says which shells are not installed")]
fn zsh_fish_and_csh_activate_and_deactivate_where_installed() {
    let (_dir, root) = venv_at_a_path_to_quote();
    let root_text = root.display().to_string();
    let shell = |program: &str, args: &[&str], script: &str| -> Option<String> {
        let output = Command::new(program)
            .args(args)
            .arg(script)
            .env("PATH", "/usr/bin:/bin")
            .env_remove("VIRTUAL_ENV")
            .output();
        let Ok(output) = output else {
            eprintln!("skipped: `{program}` is not installed");
            return None;
        };
        assert!(output.status.success(), "{program}: {}", String::from_utf8_lossy(&output.stderr));
        Some(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let posix = format!("'{}'", root.join("bin/activate").display().to_string().replace('\'', r"'\''"));
    if let Some(out) = shell(
        "zsh",
        &["-f", "-c"],
        &format!(
            "source {posix}\npython -c 'import sys; print(sys.prefix)'\necho \"env=$VIRTUAL_ENV\"\n\
             deactivate\necho \"after=${{VIRTUAL_ENV:-none}} $PATH\""
        ),
    ) {
        assert_eq!(out, format!("{root_text}\nenv={root_text}\nafter=none /usr/bin:/bin\n"), "zsh");
    }
    let fish = format!("'{}'", root.join("bin/activate.fish").display().to_string().replace('\'', r"\'"));
    if let Some(out) = shell(
        "fish",
        &["--no-config", "-c"],
        &format!(
            "source {fish}; python -c 'import sys; print(sys.prefix)'; echo \"env=$VIRTUAL_ENV\"; \
             deactivate; set -q VIRTUAL_ENV; or echo after=none; echo $PATH"
        ),
    ) {
        assert_eq!(out, format!("{root_text}\nenv={root_text}\nafter=none\n/usr/bin /bin\n"), "fish");
    }
    // csh reads a script file more predictably than `-c` (its `if` needs lines of its own).
    let csh_script = root.parent().unwrap().join("check.csh");
    fs::write(
        &csh_script,
        format!(
            "source {posix}\npython -c 'import sys; print(sys.prefix)'\necho \"env=$VIRTUAL_ENV\"\ndeactivate\n\
             if ($?VIRTUAL_ENV) then\necho \"after=$VIRTUAL_ENV\"\nelse\necho after=none\nendif\necho \"$PATH\"\n",
            posix = posix.replace("activate'", "activate.csh'")
        ),
    )
    .unwrap();
    if let Some(out) = shell("csh", &["-f"], csh_script.to_str().unwrap()) {
        assert_eq!(out, format!("{root_text}\nenv={root_text}\nafter=none\n/usr/bin:/bin\n"), "csh");
    }
}

#[test]
fn a_venv_made_from_a_venv_interpreter_uses_the_base() {
    let (envs, probe) = environments();
    let dir = tempfile::tempdir().unwrap();
    let base = python312();
    let base_facts = probe.inspect(&base).unwrap();
    let first = envs.create_venv(&dir.path().join("first"), &base_facts, &options()).unwrap();

    // Whether a probe sees the venv depends on `-S`: both must work.
    let probed = probe.inspect(&first.python).unwrap();
    assert_eq!(probed.sys_executable, first.python);
    let with_site = pybun_env::Interpreter { is_virtualenv: true, prefix: first.root.clone(), ..probed.clone() };
    let without_site =
        pybun_env::Interpreter { is_virtualenv: false, prefix: probed.base_prefix.clone(), ..probed.clone() };
    let other = envs.create_venv(&dir.path().join("other"), &with_site, &options()).unwrap();
    assert_eq!(other.interpreter, base_facts);
    assert_eq!(fs::read_link(other.root.join("bin/python")).unwrap(), base);
    let second = envs.create_venv(&dir.path().join("second"), &without_site, &options()).unwrap();
    assert_eq!(second.interpreter, base_facts, "the venv reports its base interpreter");
    assert_eq!(fs::read_link(second.root.join("bin/python")).unwrap(), base);
    let cfg = fs::read_to_string(second.root.join("pyvenv.cfg")).unwrap();
    assert!(cfg.starts_with(&format!("home = {}\n", base.parent().unwrap().display())), "{cfg}");
    let base_prefix = stdout(&run(&second.python, &["-c", "import sys; print(sys.base_prefix)"]));
    assert_eq!(PathBuf::from(base_prefix), base_facts.base_prefix);
}

#[test]
fn an_existing_venv_is_reused_replaced_only_when_cleared() {
    let (envs, probe) = environments();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".venv");
    let py312 = probe.inspect(&python312()).unwrap();
    let venv = envs.create_venv(&root, &py312, &options()).unwrap();
    fs::write(venv.site_packages.join("keep.txt"), "mine").unwrap();
    let cfg_before = fs::read_to_string(root.join("pyvenv.cfg")).unwrap();

    // Same interpreter: reused as it is (even when asked to clear).
    for clear in [false, true] {
        let again = envs.create_venv(&root, &py312, &VenvOptions { clear, ..options() }).unwrap();
        assert_eq!(again, venv);
        assert!(venv.site_packages.join("keep.txt").exists());
        assert_eq!(fs::read_to_string(root.join("pyvenv.cfg")).unwrap(), cfg_before);
    }

    // Another interpreter: refused without `clear`, replaced with it.
    let other_path = [pyenv("3.13.0"), pyenv("3.9.18"), PathBuf::from("/usr/bin/python3")]
        .into_iter()
        .find(|p| p.exists() && *p != python312())
        .expect("a second interpreter");
    let other = probe.inspect(&other_path).unwrap();
    let err = envs.create_venv(&root, &other, &options()).unwrap_err();
    assert!(matches!(&err, EnvironmentError::NotAVenv { path, .. } if *path == root), "{err}");
    assert!(err.to_string().contains(&py312.python_full_version), "{err}");
    assert!(venv.site_packages.join("keep.txt").exists());

    let replaced = envs.create_venv(&root, &other, &VenvOptions { clear: true, ..options() }).unwrap();
    assert_eq!(replaced.interpreter, other);
    assert!(!venv.site_packages.exists(), "the old site-packages is gone");
    let version = stdout(&run(&replaced.python, &["-c", "import platform; print(platform.python_version())"]));
    assert_eq!(version, other.python_full_version);
}

#[test]
fn directories_that_are_not_venvs_are_never_deleted() {
    let (envs, probe) = environments();
    let dir = tempfile::tempdir().unwrap();
    let facts = probe.inspect(&python312()).unwrap();

    let project = dir.path().join("project");
    fs::create_dir_all(&project).unwrap();
    fs::write(project.join("important.py"), "x = 1").unwrap();
    for clear in [false, true] {
        let err = envs.create_venv(&project, &facts, &VenvOptions { clear, ..options() }).unwrap_err();
        assert!(matches!(&err, EnvironmentError::NotAVenv { .. }), "{err}");
        assert!(err.to_string().contains(&project.display().to_string()), "{err}");
        assert!(project.join("important.py").exists());
    }

    let file = dir.path().join("a-file");
    fs::write(&file, "").unwrap();
    let err = envs.create_venv(&file, &facts, &VenvOptions { clear: true, ..options() }).unwrap_err();
    assert!(matches!(err, EnvironmentError::NotAVenv { .. }));

    // An empty directory is fine.
    let empty = dir.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    envs.create_venv(&empty, &facts, &options()).unwrap();
    assert!(empty.join("pyvenv.cfg").exists());
}

#[test]
fn an_interrupted_creation_is_not_a_venv_and_is_redone() {
    let (envs, probe) = environments();
    let dir = tempfile::tempdir().unwrap();
    let facts = probe.inspect(&python312()).unwrap();
    let root = dir.path().join(".venv");
    envs.create_venv(&root, &facts, &options()).unwrap();
    // Simulate a kill before `pyvenv.cfg` was written.
    fs::write(root.join(".pybun-venv-incomplete"), "").unwrap();
    fs::remove_file(root.join("pyvenv.cfg")).unwrap();
    assert_eq!(envs.open_venv(&root).unwrap(), None);

    let venv = envs.create_venv(&root, &facts, &options()).unwrap();
    assert!(root.join("pyvenv.cfg").exists());
    assert!(!root.join(".pybun-venv-incomplete").exists());
    assert_eq!(envs.open_venv(&root).unwrap(), Some(venv));
}

#[test]
fn open_venv_is_none_without_a_usable_venv() {
    let (envs, probe) = environments();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(envs.open_venv(&dir.path().join("missing")).unwrap(), None);
    assert_eq!(envs.open_venv(dir.path()).unwrap(), None);
    fs::write(dir.path().join("file"), "").unwrap();
    assert_eq!(envs.open_venv(&dir.path().join("file")).unwrap(), None);

    let facts = probe.inspect(&python312()).unwrap();
    let root = dir.path().join(".venv");
    envs.create_venv(&root, &facts, &options()).unwrap();
    // The base interpreter disappears: the link dangles.
    fs::remove_file(root.join("bin/python")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone/python3"), root.join("bin/python")).unwrap();
    assert_eq!(envs.open_venv(&root).unwrap(), None);
    // A dangling venv is not reused: without `clear` it is refused.
    let err = envs.create_venv(&root, &facts, &options()).unwrap_err();
    assert!(matches!(err, EnvironmentError::NotAVenv { .. }));
    let venv = envs.create_venv(&root, &facts, &VenvOptions { clear: true, ..options() }).unwrap();
    assert_eq!(envs.open_venv(&root).unwrap(), Some(venv));
}

#[test]
fn venvs_made_by_cpython_open_too() {
    let (envs, probe) = environments();
    let dir = tempfile::tempdir().unwrap();
    let python = python312();
    let root = dir.path().join("cpython-venv");
    run(&python, &["-m", "venv", "--without-pip", root.to_str().unwrap()]);
    let venv = envs.open_venv(&root).unwrap().expect("a venv");
    assert_eq!(venv.interpreter, probe.inspect(&python).unwrap());
    assert_eq!(venv.site_packages, root.join("lib/python3.12/site-packages").to_path_buf());
    // And it is reused by create_venv.
    let reused = envs.create_venv(&root, &venv.interpreter, &options()).unwrap();
    assert_eq!(reused, venv);
    assert!(fs::read_to_string(root.join("pyvenv.cfg")).unwrap().contains("command = "));
}
