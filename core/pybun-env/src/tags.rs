//! Wheel tag compatibility (PEP 425) for one real interpreter, in the
//! priority order of `packaging.tags.sys_tags()`.

use std::collections::HashMap;
use std::str::FromStr;

use pybun_pep::WheelFilename;

use crate::{Interpreter, Libc};

/// The wheel tags an interpreter accepts, best first.
///
/// A wheel's priority is the position of its best tag in this list (lower is
/// better); a wheel none of whose tags is listed cannot be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tags {
    ordered: Vec<(String, String, String)>,
    index: HashMap<String, usize>,
}

impl Tags {
    /// The tags `packaging.tags.sys_tags()` would list for this interpreter.
    ///
    /// For CPython, in order:
    /// 1. `cpXY-cpXY{flags}-{plat}` for every platform (best platform first),
    /// 2. `cpXY-abi3-{plat}` (not for free-threaded builds),
    /// 3. `cpXY-none-{plat}`,
    /// 4. `cp3W-abi3-{plat}` for W from Y-1 down to 2 (not for free-threaded builds),
    /// 5. `py3Y-none-{plat}`, `py3-none-{plat}`, `py3W-none-{plat}` for W from Y-1 down to 0,
    /// 6. `cpXY-none-any` (as `packaging` 24+ does; older versions omit it),
    /// 7. `py3Y-none-any`, `py3-none-any`, `py3W-none-any` for W from Y-1 down to 0.
    ///
    /// Other implementations (PyPy, GraalPy) get their interpreter tag with
    /// the ABI from `EXT_SUFFIX`, then `none`, then the same `py*` tags (PyPy
    /// with `pp3-none-any` before the `py*-none-any` ones).
    #[must_use]
    pub fn for_interpreter(interpreter: &Interpreter) -> Self {
        let platforms = platform_tags(interpreter);
        let (major, minor) = (interpreter.major, interpreter.minor);
        let mut tags = Vec::new();
        let mut push = |python: &str, abi: &str, platforms: &[String]| {
            for platform in platforms {
                tags.push((python.to_string(), abi.to_string(), platform.clone()));
            }
        };
        let any = ["any".to_string()];

        let interpreter_tag;
        if interpreter.implementation_name == "cpython" {
            interpreter_tag = format!("cp{major}{minor}");
            let free_threaded = interpreter.gil_disabled || interpreter.abiflags.contains('t');
            let mut abiflags = interpreter.abiflags.clone();
            if free_threaded && !abiflags.contains('t') {
                abiflags.insert(0, 't');
            }
            push(&interpreter_tag, &format!("cp{major}{minor}{abiflags}"), &platforms);
            // A debug build of 3.8+ also loads release-ABI extensions.
            if (major, minor) >= (3, 8) && abiflags.contains('d') {
                let threading = if free_threaded { "t" } else { "" };
                push(&interpreter_tag, &format!("cp{major}{minor}{threading}"), &platforms);
            }
            let abi3 = major == 3 && minor >= 2 && !free_threaded;
            if abi3 {
                push(&interpreter_tag, "abi3", &platforms);
            }
            push(&interpreter_tag, "none", &platforms);
            if abi3 {
                for older in (2..minor).rev() {
                    push(&format!("cp{major}{older}"), "abi3", &platforms);
                }
            }
        } else {
            interpreter_tag = format!("{}{major}{minor}", implementation_abbreviation(&interpreter.implementation_name));
            if let Some(abi) = interpreter.ext_suffix.as_deref().and_then(abi_from_ext_suffix) {
                push(&interpreter_tag, &abi, &platforms);
            }
            push(&interpreter_tag, "none", &platforms);
        }

        let py_range = py_interpreter_range(major, minor);
        for python in &py_range {
            push(python, "none", &platforms);
        }
        // `packaging` 24+: `cpXY-none-any` for CPython, `pp3-none-any` for PyPy.
        match interpreter.implementation_name.as_str() {
            "cpython" => push(&interpreter_tag, "none", &any),
            "pypy" => push(&format!("pp{major}"), "none", &any),
            _ => {}
        }
        for python in &py_range {
            push(python, "none", &any);
        }
        Self::from_ordered(tags)
    }

    /// Tags from an explicit best-first list of `(python, abi, platform)`;
    /// a repeated triple keeps its first (best) position.
    #[must_use]
    pub fn from_ordered(tags: Vec<(String, String, String)>) -> Self {
        let mut ordered = Vec::with_capacity(tags.len());
        let mut index = HashMap::with_capacity(tags.len());
        for (python, abi, platform) in tags {
            let key = format!("{python}-{abi}-{platform}");
            if index.contains_key(&key) {
                continue;
            }
            index.insert(key, ordered.len());
            ordered.push((python, abi, platform));
        }
        Self { ordered, index }
    }

    /// Every tag, best first, as `(python, abi, platform)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.ordered.iter().map(|(p, a, s)| (p.as_str(), a.as_str(), s.as_str()))
    }

    /// How many tags.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    /// No tags at all (nothing installs).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }

    /// The priority of one tag triple (lower is better).
    #[must_use]
    pub fn tag_priority(&self, python: &str, abi: &str, platform: &str) -> Option<usize> {
        self.index.get(&format!("{python}-{abi}-{platform}")).copied()
    }

    /// The priority of a wheel: that of its best tag (lower is better);
    /// `None` when the wheel cannot be installed on this interpreter.
    #[must_use]
    pub fn priority(&self, wheel: &WheelFilename) -> Option<usize> {
        wheel.tags().filter_map(|(python, abi, platform)| self.tag_priority(python, abi, platform)).min()
    }

    /// Whether a wheel can be installed on this interpreter.
    #[must_use]
    pub fn is_compatible(&self, wheel: &WheelFilename) -> bool {
        self.priority(wheel).is_some()
    }

    /// The best wheel among `filenames`: the lowest priority; on a tie the
    /// higher build tag, then the first given. Names that are not wheel
    /// filenames are ignored.
    pub fn best_wheel<'a>(&self, filenames: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        type Candidate<'a> = (usize, Option<(u64, String)>, &'a str);
        let mut best: Option<Candidate<'a>> = None;
        for filename in filenames {
            let Ok(wheel) = WheelFilename::from_str(filename) else {
                continue;
            };
            let Some(priority) = self.priority(&wheel) else {
                continue;
            };
            let build = wheel.build_tag.as_deref().map(build_tag_key);
            let better = match &best {
                None => true,
                Some((best_priority, best_build, _)) => {
                    priority < *best_priority || (priority == *best_priority && build > *best_build)
                }
            };
            if better {
                best = Some((priority, build, filename));
            }
        }
        best.map(|(_, _, filename)| filename)
    }
}

/// A build tag sorts by its leading number, then the rest (PEP 427).
fn build_tag_key(tag: &str) -> (u64, String) {
    let digits = tag.chars().take_while(char::is_ascii_digit).count();
    (tag[..digits].parse().unwrap_or(0), tag[digits..].to_string())
}

/// `py3Y`, `py3`, `py3W` for W from Y-1 down to 0.
fn py_interpreter_range(major: u64, minor: u64) -> Vec<String> {
    let mut range = vec![format!("py{major}{minor}"), format!("py{major}")];
    range.extend((0..minor).rev().map(|older| format!("py{major}{older}")));
    range
}

fn implementation_abbreviation(name: &str) -> &str {
    match name {
        "cpython" => "cp",
        "pypy" => "pp",
        "ironpython" => "ip",
        "jython" => "jy",
        other => other,
    }
}

/// `.pypy310-pp73-x86_64-linux-gnu.so` → `pypy310_pp73`;
/// `.graalpy231-310-native-x86_64-linux.so` → `graalpy231_310_native`.
fn abi_from_ext_suffix(suffix: &str) -> Option<String> {
    let middle = suffix.strip_prefix('.')?.split('.').next()?;
    let parts: Vec<&str> = middle.split('-').collect();
    match parts.as_slice() {
        [first, second, ..] if first.starts_with("pypy") => Some(format!("{first}_{second}")),
        [first, second, third, ..] if first.starts_with("graalpy") => Some(format!("{first}_{second}_{third}")),
        _ => None,
    }
    .map(|abi| abi.replace(['-', '.'], "_"))
}

/// The platform tags of an interpreter, best first.
///
/// - glibc Linux: `manylinux_2_N_{arch}` for N from the glibc minor down to
///   the architecture's oldest (5 on x86_64/i686, 17 elsewhere), each legacy
///   alias (`manylinux2014` = 2.17, `manylinux2010` = 2.12, `manylinux1` = 2.5)
///   right after its version, then `linux_{arch}`;
/// - musl Linux: `musllinux_1_N_{arch}` for N from the musl minor down to 0,
///   then `linux_{arch}`;
/// - macOS: `macosx_{ver}_{format}` from the running version down (see
///   [`mac_platforms`]);
/// - Windows: `win_amd64`, `win32` or `win_arm64`.
#[must_use]
pub fn platform_tags(interpreter: &Interpreter) -> Vec<String> {
    let machine = interpreter.platform_machine.to_ascii_lowercase();
    match interpreter.sys_platform.as_str() {
        "darwin" => {
            let arch = match machine.as_str() {
                "arm64" | "aarch64" => "arm64",
                "x86_64" | "amd64" if !interpreter.is_64bit => "i386",
                other => other,
            };
            mac_platforms(macos_version(&interpreter.platform_release), arch)
        }
        "win32" | "cygwin" => {
            let tag = match machine.as_str() {
                "arm64" | "aarch64" => "win_arm64",
                _ if !interpreter.is_64bit => "win32",
                _ => "win_amd64",
            };
            vec![tag.to_string()]
        }
        platform if platform.starts_with("linux") => {
            let arch = linux_arch(&machine, interpreter.is_64bit);
            let mut tags = Vec::new();
            match interpreter.libc {
                Some(Libc::Glibc { major: 2, minor }) => tags.extend(manylinux_platforms(u64::from(minor), &arch)),
                Some(Libc::Musl { major: 1, minor }) => {
                    tags.extend((0..=u64::from(minor)).rev().map(|n| format!("musllinux_1_{n}_{arch}")));
                }
                _ => {}
            }
            tags.push(format!("linux_{arch}"));
            tags
        }
        other => {
            // FreeBSD and friends: `sysconfig.get_platform()`-style, best effort.
            let system = interpreter.platform_system.to_ascii_lowercase();
            let release = interpreter.platform_release.replace(['.', '-', ' '], "_");
            let name = if system.is_empty() { other.to_string() } else { system };
            vec![format!("{name}_{release}_{machine}")]
        }
    }
}

/// The wheel architecture of a Linux machine (a 32-bit Python on a 64-bit
/// kernel uses the 32-bit architecture).
fn linux_arch(machine: &str, is_64bit: bool) -> String {
    match (machine, is_64bit) {
        ("x86_64" | "amd64", false) => "i686".into(),
        ("aarch64" | "arm64", false) => "armv7l".into(),
        ("i386" | "i486" | "i586", _) => "i686".into(),
        ("amd64", true) => "x86_64".into(),
        ("arm64", true) => "aarch64".into(),
        (other, _) => other.replace(['-', '.', ' '], "_"),
    }
}

fn manylinux_platforms(glibc_minor: u64, arch: &str) -> Vec<String> {
    let oldest = if matches!(arch, "x86_64" | "i686") { 5 } else { 17 };
    let legacy_2014 = ["x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"].contains(&arch);
    let legacy_old = matches!(arch, "x86_64" | "i686");
    let mut tags = Vec::new();
    for minor in (oldest..=glibc_minor).rev() {
        tags.push(format!("manylinux_2_{minor}_{arch}"));
        match minor {
            17 if legacy_2014 => tags.push(format!("manylinux2014_{arch}")),
            12 if legacy_old => tags.push(format!("manylinux2010_{arch}")),
            5 if legacy_old => tags.push(format!("manylinux1_{arch}")),
            _ => {}
        }
    }
    tags
}

/// The macOS version from the Darwin kernel release (`platform.release()`):
/// Darwin 20 is macOS 11, 24 is 15, 25 is 26 (Tahoe); Darwin 8–19 is 10.4–10.15.
fn macos_version(darwin_release: &str) -> (u64, u64) {
    let darwin: u64 = darwin_release.split('.').next().and_then(|major| major.parse().ok()).unwrap_or(20);
    match darwin {
        0..=7 => (10, 3),
        8..=19 => (10, darwin - 4),
        20..=24 => (darwin - 9, 0),
        _ => (darwin + 1, 0),
    }
}

fn mac_binary_formats(version: (u64, u64), arch: &str) -> Vec<String> {
    let mut formats = vec![arch.to_string()];
    match arch {
        "x86_64" => {
            if version < (10, 4) {
                return Vec::new();
            }
            formats.extend(["intel", "fat64", "fat32"].map(String::from));
        }
        "i386" => {
            if version < (10, 4) {
                return Vec::new();
            }
            formats.extend(["intel", "fat32", "fat"].map(String::from));
        }
        _ => {}
    }
    if matches!(arch, "arm64" | "x86_64") {
        formats.push("universal2".into());
    }
    if matches!(arch, "x86_64" | "i386") {
        formats.push("universal".into());
    }
    formats
}

/// `packaging.tags.mac_platforms`: from macOS `version` down to 10.0 for
/// `arch`, each version with its binary formats (`arm64`, `universal2`;
/// `x86_64`, `intel`, `fat64`, `fat32`, `universal2`, `universal`).
#[must_use]
pub fn mac_platforms(version: (u64, u64), arch: &str) -> Vec<String> {
    let mut tags = Vec::new();
    let mut emit = |version: (u64, u64), formats: Vec<String>| {
        for format in formats {
            tags.push(format!("macosx_{}_{}_{format}", version.0, version.1));
        }
    };
    if version.0 == 10 {
        for minor in (0..=version.1).rev() {
            emit((10, minor), mac_binary_formats((10, minor), arch));
        }
        return tags;
    }
    // macOS 11 and later: each yearly release bumps the major version.
    for major in (11..=version.0).rev() {
        emit((major, 0), mac_binary_formats((major, 0), arch));
    }
    // They run binaries built for 10.x: all of them on x86_64, universal2 ones on arm64.
    for minor in (4..=16).rev() {
        if arch == "x86_64" {
            emit((10, minor), mac_binary_formats((10, minor), arch));
        } else {
            emit((10, minor), vec!["universal2".into()]);
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpreter::fixtures::cpython;

    fn priority(tags: &Tags, wheel: &str) -> Option<usize> {
        tags.priority(&WheelFilename::from_str(wheel).unwrap())
    }

    #[test]
    fn order_matches_packaging_for_cpython_312_glibc() {
        let tags = Tags::for_interpreter(&cpython("3.12.1"));
        let list: Vec<String> = tags.iter().map(|(p, a, s)| format!("{p}-{a}-{s}")).collect();
        assert_eq!(list[0], "cp312-cp312-manylinux_2_36_x86_64");
        assert_eq!(list[1], "cp312-cp312-manylinux_2_35_x86_64");
        // 2.36 down to 2.5 = 32 versions, 3 legacy aliases, then `linux`.
        assert_eq!(list[35], "cp312-cp312-linux_x86_64");
        assert_eq!(list[36], "cp312-abi3-manylinux_2_36_x86_64");
        let at = |tag: &str| list.iter().position(|t| t == tag).unwrap_or_else(|| panic!("{tag} missing"));
        assert_eq!(at("cp312-cp312-manylinux2014_x86_64"), at("cp312-cp312-manylinux_2_17_x86_64") + 1);
        assert_eq!(at("cp312-cp312-manylinux2010_x86_64"), at("cp312-cp312-manylinux_2_12_x86_64") + 1);
        assert_eq!(at("cp312-cp312-manylinux1_x86_64"), at("cp312-cp312-manylinux_2_5_x86_64") + 1);
        assert!(at("cp312-abi3-linux_x86_64") < at("cp312-none-manylinux_2_36_x86_64"));
        assert!(at("cp312-none-linux_x86_64") < at("cp311-abi3-manylinux_2_36_x86_64"));
        assert!(at("cp311-abi3-linux_x86_64") < at("cp32-abi3-manylinux_2_36_x86_64"));
        assert!(at("cp32-abi3-linux_x86_64") < at("py312-none-manylinux_2_36_x86_64"));
        assert!(at("py312-none-linux_x86_64") < at("py3-none-manylinux_2_36_x86_64"));
        assert!(at("py3-none-linux_x86_64") < at("py311-none-manylinux_2_36_x86_64"));
        assert!(at("py30-none-linux_x86_64") < at("cp312-none-any"));
        assert_eq!(at("py312-none-any"), at("cp312-none-any") + 1);
        assert_eq!(at("py3-none-any"), at("cp312-none-any") + 2);
        assert_eq!(list.last().unwrap(), "py30-none-any");
        assert!(!list.iter().any(|t| t.starts_with("cp31-abi3") || t.starts_with("cp313")));
        assert!(!list.iter().any(|t| t.contains("manylinux_2_4_")));
    }

    #[test]
    fn realistic_wheels() {
        let tags = Tags::for_interpreter(&cpython("3.12.1"));
        let numpy = "numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        let numpy_aarch64 = "numpy-2.1.3-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl";
        let numpy_311 = "numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        let numpy_musl = "numpy-2.1.3-cp312-cp312-musllinux_1_2_x86_64.whl";
        let numpy_mac = "numpy-2.1.3-cp312-cp312-macosx_14_0_arm64.whl";
        let numpy_win = "numpy-2.1.3-cp312-cp312-win_amd64.whl";
        let numpy_new_glibc = "numpy-2.1.3-cp312-cp312-manylinux_2_39_x86_64.whl";
        let numpy_28 = "numpy-2.1.3-cp312-cp312-manylinux_2_28_x86_64.whl";
        let crypto = "cryptography-43.0.3-cp39-abi3-manylinux_2_28_x86_64.whl";
        let crypto_37 = "cryptography-43.0.3-cp37-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        let six = "six-1.16.0-py2.py3-none-any.whl";
        let pure = "requests-2.32.3-py3-none-any.whl";
        let py2 = "futures-3.4.0-py2-none-any.whl";

        for incompatible in [numpy_aarch64, numpy_311, numpy_musl, numpy_mac, numpy_win, numpy_new_glibc, py2] {
            assert_eq!(priority(&tags, incompatible), None, "{incompatible}");
        }
        let p = |w| priority(&tags, w).unwrap_or_else(|| panic!("{w} should install"));
        assert!(p(numpy_28) < p(numpy), "newer manylinux is better");
        assert!(p(crypto) < p(crypto_37), "newer abi3 is better");
        assert!(p(numpy) < p(crypto));
        assert!(p(crypto_37) < p(pure));
        assert_eq!(p(six), p(pure));

        assert_eq!(tags.best_wheel([pure, numpy, numpy_311, numpy_28]), Some(numpy_28));
        assert_eq!(tags.best_wheel([numpy_311, numpy_win, "numpy-2.1.3.tar.gz"]), None);
        assert_eq!(tags.best_wheel([numpy_win, six]), Some(six));
        assert_eq!(tags.best_wheel([crypto_37, crypto]), Some(crypto));
    }

    #[test]
    fn cp311_does_not_take_cp312_wheels() {
        let tags = Tags::for_interpreter(&cpython("3.11.7"));
        let cp312 = "numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        let cp311 = "numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
        let abi3_312 = "pkg-1-cp312-abi3-manylinux_2_17_x86_64.whl";
        assert_eq!(priority(&tags, cp312), None);
        assert_eq!(priority(&tags, abi3_312), None);
        assert_eq!(tags.best_wheel([cp312, cp311]), Some(cp311));
        assert!(priority(&tags, "pkg-1-py311-none-any.whl").is_some());
        assert!(priority(&tags, "pkg-1-py312-none-any.whl").is_none());
    }

    #[test]
    fn old_cpython_uses_the_m_abi() {
        let tags = Tags::for_interpreter(&cpython("3.7.16"));
        assert!(priority(&tags, "numpy-1.21.6-cp37-cp37m-manylinux_2_12_x86_64.manylinux2010_x86_64.whl").is_some());
        assert!(priority(&tags, "numpy-1.21.6-cp37-cp37-manylinux_2_12_x86_64.whl").is_none());
        assert!(priority(&tags, "numpy-1.21.6-cp37-cp37m-manylinux1_x86_64.whl").is_some());
    }

    #[test]
    fn free_threaded_has_no_abi3() {
        let mut python = cpython("3.13.0");
        python.gil_disabled = true;
        python.abiflags = "t".into();
        let tags = Tags::for_interpreter(&python);
        assert_eq!(tags.iter().next(), Some(("cp313", "cp313t", "manylinux_2_36_x86_64")));
        assert!(priority(&tags, "pkg-1-cp313-cp313t-manylinux_2_17_x86_64.whl").is_some());
        assert!(priority(&tags, "pkg-1-cp313-cp313-manylinux_2_17_x86_64.whl").is_none());
        assert!(priority(&tags, "pkg-1-cp39-abi3-manylinux_2_17_x86_64.whl").is_none());
        assert!(priority(&tags, "pkg-1-py3-none-any.whl").is_some());
    }

    #[test]
    fn musl_and_aarch64_and_old_glibc() {
        let mut python = cpython("3.12.1");
        python.libc = Some(Libc::Musl { major: 1, minor: 2 });
        let tags = Tags::for_interpreter(&python);
        assert!(priority(&tags, "pkg-1-cp312-cp312-musllinux_1_1_x86_64.whl").is_some());
        assert!(priority(&tags, "pkg-1-cp312-cp312-musllinux_1_3_x86_64.whl").is_none());
        assert!(priority(&tags, "pkg-1-cp312-cp312-manylinux2014_x86_64.whl").is_none());

        python.libc = Some(Libc::Glibc { major: 2, minor: 31 });
        python.platform_machine = "aarch64".into();
        let tags = Tags::for_interpreter(&python);
        assert!(priority(&tags, "pkg-1-cp312-cp312-manylinux2014_aarch64.whl").is_some());
        assert!(priority(&tags, "pkg-1-cp312-cp312-manylinux_2_28_aarch64.whl").is_some());
        assert!(priority(&tags, "pkg-1-cp312-cp312-manylinux_2_34_aarch64.whl").is_none());
        assert!(priority(&tags, "pkg-1-cp312-cp312-manylinux2010_aarch64.whl").is_none());
        assert!(priority(&tags, "pkg-1-cp312-cp312-manylinux_2_12_aarch64.whl").is_none());
        assert!(priority(&tags, "pkg-1-cp312-cp312-linux_aarch64.whl").is_some());
    }

    #[test]
    fn macos_platforms() {
        let mut python = cpython("3.12.1");
        python.sys_platform = "darwin".into();
        python.platform_system = "Darwin".into();
        python.platform_release = "23.1.0".into(); // macOS 14
        python.platform_machine = "arm64".into();
        python.libc = None;
        let platforms = platform_tags(&python);
        assert_eq!(&platforms[..4], ["macosx_14_0_arm64", "macosx_14_0_universal2", "macosx_13_0_arm64", "macosx_13_0_universal2"]);
        assert!(platforms.contains(&"macosx_10_9_universal2".to_string()));
        assert!(!platforms.contains(&"macosx_10_9_arm64".to_string()));
        let tags = Tags::for_interpreter(&python);
        assert!(priority(&tags, "numpy-2.1.3-cp312-cp312-macosx_14_0_arm64.whl").is_some());
        assert!(priority(&tags, "numpy-2.1.3-cp312-cp312-macosx_15_0_arm64.whl").is_none());
        assert!(priority(&tags, "numpy-2.1.3-cp312-cp312-macosx_10_13_x86_64.whl").is_none());
        assert!(priority(&tags, "pkg-1-cp312-cp312-macosx_10_9_universal2.whl").is_some());

        python.platform_machine = "x86_64".into();
        python.platform_release = "19.6.0".into(); // 10.15
        let platforms = platform_tags(&python);
        assert_eq!(platforms[0], "macosx_10_15_x86_64");
        assert!(platforms.contains(&"macosx_10_9_intel".to_string()));
        assert!(platforms.contains(&"macosx_10_4_universal".to_string()));
        assert!(!platforms.iter().any(|p| p.starts_with("macosx_11")));
        assert!(!platforms.iter().any(|p| p.starts_with("macosx_10_3_")));
    }

    #[test]
    fn windows_platforms() {
        let mut python = cpython("3.12.1");
        python.sys_platform = "win32".into();
        python.platform_machine = "AMD64".into();
        python.libc = None;
        let tags = Tags::for_interpreter(&python);
        assert_eq!(tags.iter().next(), Some(("cp312", "cp312", "win_amd64")));
        assert!(priority(&tags, "numpy-2.1.3-cp312-cp312-win_amd64.whl").is_some());
        assert!(priority(&tags, "numpy-2.1.3-cp312-cp312-win32.whl").is_none());
        python.is_64bit = false;
        assert_eq!(platform_tags(&python), ["win32"]);
    }

    #[test]
    fn pypy_uses_its_ext_suffix_abi() {
        let mut python = cpython("3.10.14");
        python.implementation_name = "pypy".into();
        python.ext_suffix = Some(".pypy310-pp73-x86_64-linux-gnu.so".into());
        let tags = Tags::for_interpreter(&python);
        assert_eq!(tags.iter().next(), Some(("pp310", "pypy310_pp73", "manylinux_2_36_x86_64")));
        assert!(priority(&tags, "numpy-2.0.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").is_some());
        assert!(priority(&tags, "numpy-2.0.0-cp310-cp310-manylinux_2_17_x86_64.whl").is_none());
        assert!(priority(&tags, "pkg-1-cp310-abi3-manylinux_2_17_x86_64.whl").is_none());
        assert!(priority(&tags, "six-1.16.0-py2.py3-none-any.whl").is_some());
    }

    #[test]
    fn build_tags_break_ties() {
        let tags = Tags::for_interpreter(&cpython("3.12.1"));
        assert_eq!(
            tags.best_wheel(["pkg-1-1-py3-none-any.whl", "pkg-1-2-py3-none-any.whl", "pkg-1-py3-none-any.whl"]),
            Some("pkg-1-2-py3-none-any.whl")
        );
        assert_eq!(tags.best_wheel(["a-1-py3-none-any.whl", "b-1-py3-none-any.whl"]), Some("a-1-py3-none-any.whl"));
    }
}
