//! Launchers for entry points and `#!python` shebang rewriting (POSIX).

use std::path::Path;

/// The longest shebang line the kernel reliably honours (Linux used 127 bytes).
const MAX_SHEBANG: usize = 127;

/// The first line(s) of a script run by `interpreter`.
///
/// `#!/abs/path/python\n` when the path has no whitespace and fits the kernel's
/// shebang limit; otherwise the `/bin/sh` trick (as pip and uv write it): the
/// shell re-executes the file with the interpreter, and Python reads the
/// shell lines as a string literal.
#[must_use]
pub fn shebang(interpreter: &Path) -> String {
    let path = interpreter.to_string_lossy();
    let simple = format!("#!{path}\n");
    if simple.len() - 1 <= MAX_SHEBANG && !path.contains(char::is_whitespace) {
        return simple;
    }
    let mut quoted = String::with_capacity(path.len() + 2);
    quoted.push('"');
    for c in path.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    format!("#!/bin/sh\n'''exec' {quoted} \"$0\" \"$@\"\n' '''\n")
}

/// A launcher for the entry point `module:function` (`function` may be dotted:
/// `App.run` imports `App` and calls `App.run()`).
///
/// On POSIX console and GUI launchers are the same script (`gui` would select
/// `pythonw` on Windows, which PyBun does not target yet).
#[must_use]
pub fn script_launcher(interpreter: &Path, module: &str, function: &str, gui: bool) -> String {
    let _ = gui;
    let import_name = function.split('.').next().unwrap_or(function);
    format!(
        "{shebang}# -*- coding: utf-8 -*-\n\
         import re\n\
         import sys\n\
         from {module} import {import_name}\n\
         if __name__ == \"__main__\":\n\
         \x20   sys.argv[0] = re.sub(r\"(-script\\.pyw|\\.exe)?$\", \"\", sys.argv[0])\n\
         \x20   sys.exit({function}())\n",
        shebang = shebang(interpreter),
    )
}

/// If `content` starts with `#!python` (including `#!pythonw`, `#!python3`…),
/// the script with that first line replaced by [`shebang`] for `interpreter`.
/// Anything after the interpreter name on the first line is dropped, as pip does.
#[must_use]
pub fn rewrite_shebang(content: &[u8], interpreter: &Path) -> Option<Vec<u8>> {
    if !content.starts_with(b"#!python") {
        return None;
    }
    let rest = match content.iter().position(|&b| b == b'\n') {
        Some(end) => &content[end + 1..],
        None => &[],
    };
    let mut out = shebang(interpreter).into_bytes();
    out.extend_from_slice(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(interpreter: &str, expected: &str) {
        assert_eq!(shebang(Path::new(interpreter)), expected, "{interpreter}");
    }

    #[test]
    fn shebangs() {
        check("/venv/bin/python", "#!/venv/bin/python\n");
        check("/my venv/bin/python", "#!/bin/sh\n'''exec' \"/my venv/bin/python\" \"$0\" \"$@\"\n' '''\n");
        check("/a $b\"/python", "#!/bin/sh\n'''exec' \"/a \\$b\\\"/python\" \"$0\" \"$@\"\n' '''\n");
        let long = format!("/{}/python", "x".repeat(130));
        assert!(shebang(Path::new(&long)).starts_with("#!/bin/sh\n"));
    }

    #[test]
    fn launcher() {
        assert_eq!(
            script_launcher(Path::new("/venv/bin/python"), "pkg.cli", "App.run", false),
            "#!/venv/bin/python\n\
             # -*- coding: utf-8 -*-\n\
             import re\n\
             import sys\n\
             from pkg.cli import App\n\
             if __name__ == \"__main__\":\n\
             \x20   sys.argv[0] = re.sub(r\"(-script\\.pyw|\\.exe)?$\", \"\", sys.argv[0])\n\
             \x20   sys.exit(App.run())\n"
        );
        assert_eq!(
            script_launcher(Path::new("/v/python"), "m", "f", true),
            script_launcher(Path::new("/v/python"), "m", "f", false)
        );
    }

    #[test]
    fn rewrites_python_shebangs_only() {
        let python = Path::new("/venv/bin/python");
        assert_eq!(rewrite_shebang(b"#!python\nprint(1)\n", python).unwrap(), b"#!/venv/bin/python\nprint(1)\n");
        assert_eq!(rewrite_shebang(b"#!pythonw -u\nx\n", python).unwrap(), b"#!/venv/bin/python\nx\n");
        assert_eq!(rewrite_shebang(b"#!python", python).unwrap(), b"#!/venv/bin/python\n");
        assert_eq!(rewrite_shebang(b"#!/bin/sh\necho\n", python), None);
        assert_eq!(rewrite_shebang(b"\x7fELF", python), None);
    }
}
