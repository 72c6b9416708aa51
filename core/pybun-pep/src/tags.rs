//! Wheel tag compatibility (PEP 425) for a target CPython and platform.

use crate::WheelFilename;

/// A CPython target: version and platform family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetTags {
    pub major: u64,
    pub minor: u64,
    pub platform: TargetPlatform,
}

/// The platform a single-environment lock targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetPlatform {
    /// glibc Linux on x86_64 (manylinux / linux tags).
    LinuxX86_64,
    /// glibc Linux on aarch64.
    LinuxAarch64,
    /// macOS, any architecture.
    MacOs,
    /// Windows on x86_64.
    WindowsAmd64,
}

impl TargetPlatform {
    /// Parse `linux`, `macos`, `windows`, or a uv-style `x86_64-manylinux2014` target.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.to_ascii_lowercase();
        Some(match text.as_str() {
            "linux" | "x86_64-unknown-linux-gnu" => Self::LinuxX86_64,
            "aarch64-unknown-linux-gnu" | "linux-aarch64" => Self::LinuxAarch64,
            "macos" | "darwin" | "aarch64-apple-darwin" | "x86_64-apple-darwin" => Self::MacOs,
            "windows" | "win32" | "x86_64-pc-windows-msvc" => Self::WindowsAmd64,
            t if t.starts_with("x86_64-manylinux") => Self::LinuxX86_64,
            t if t.starts_with("aarch64-manylinux") => Self::LinuxAarch64,
            _ => return None,
        })
    }

    /// `sys_platform` for markers.
    #[must_use]
    pub fn sys_platform(self) -> &'static str {
        match self {
            Self::LinuxX86_64 | Self::LinuxAarch64 => "linux",
            Self::MacOs => "darwin",
            Self::WindowsAmd64 => "win32",
        }
    }

    /// `platform_system` for markers.
    #[must_use]
    pub fn platform_system(self) -> &'static str {
        match self {
            Self::LinuxX86_64 | Self::LinuxAarch64 => "Linux",
            Self::MacOs => "Darwin",
            Self::WindowsAmd64 => "Windows",
        }
    }

    /// `platform_machine` for markers.
    #[must_use]
    pub fn platform_machine(self) -> &'static str {
        match self {
            Self::LinuxX86_64 => "x86_64",
            Self::LinuxAarch64 | Self::MacOs => "arm64",
            Self::WindowsAmd64 => "AMD64",
        }
    }

    /// `os_name` for markers.
    #[must_use]
    pub fn os_name(self) -> &'static str {
        match self {
            Self::WindowsAmd64 => "nt",
            _ => "posix",
        }
    }

    fn platform_tag_ok(self, tag: &str) -> bool {
        if tag == "any" {
            return true;
        }
        match self {
            Self::LinuxX86_64 => {
                (tag.starts_with("manylinux") || tag.starts_with("linux")) && tag.ends_with("_x86_64")
            }
            Self::LinuxAarch64 => {
                (tag.starts_with("manylinux") || tag.starts_with("linux")) && tag.ends_with("_aarch64")
            }
            Self::MacOs => {
                tag.starts_with("macosx_")
                    && ["_x86_64", "_arm64", "_universal2", "_universal", "_intel"]
                        .iter()
                        .any(|arch| tag.ends_with(arch))
            }
            Self::WindowsAmd64 => tag == "win_amd64",
        }
    }
}

impl TargetTags {
    /// Whether a wheel can be installed on this target.
    #[must_use]
    pub fn is_compatible(&self, wheel: &WheelFilename) -> bool {
        wheel.tags().any(|(python, abi, platform)| {
            self.platform.platform_tag_ok(platform) && self.python_abi_ok(python, abi)
        })
    }

    fn python_abi_ok(&self, python: &str, abi: &str) -> bool {
        let cp_minor = |tag: &str, prefix: &str| -> Option<u64> {
            let rest = tag.strip_prefix(prefix)?;
            let rest = rest.strip_prefix(&self.major.to_string())?;
            if rest.is_empty() {
                return Some(u64::MAX);
            }
            rest.trim_end_matches(['m', 'd', 'u', 't']).parse().ok()
        };
        match abi {
            "none" => {
                if let Some(minor) = cp_minor(python, "py") {
                    minor == u64::MAX || minor <= self.minor
                } else if let Some(minor) = cp_minor(python, "cp") {
                    minor == self.minor
                } else {
                    false
                }
            }
            "abi3" => cp_minor(python, "cp").is_some_and(|minor| minor != u64::MAX && minor <= self.minor),
            abi => {
                cp_minor(python, "cp") == Some(self.minor)
                    && cp_minor(abi, "cp") == Some(self.minor)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn ok(target: (u64, u64, TargetPlatform), wheel: &str) -> bool {
        let tags = TargetTags { major: target.0, minor: target.1, platform: target.2 };
        tags.is_compatible(&WheelFilename::from_str(wheel).unwrap())
    }

    #[test]
    fn compatibility() {
        use TargetPlatform::*;
        assert!(ok((3, 12, LinuxX86_64), "a-1-py3-none-any.whl"));
        assert!(ok((3, 12, LinuxX86_64), "a-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"));
        assert!(!ok((3, 11, LinuxX86_64), "a-1-cp312-cp312-manylinux_2_17_x86_64.whl"));
        assert!(ok((3, 13, WindowsAmd64), "a-1-cp312-abi3-win_amd64.whl"));
        assert!(!ok((3, 12, LinuxX86_64), "a-1-cp312-cp312-win_amd64.whl"));
        assert!(!ok((3, 12, LinuxX86_64), "a-1-py3-none-macosx_10_0_ppc64.whl"));
        assert!(!ok((3, 12, LinuxX86_64), "a-1-graalpy310-none-any.whl"));
        assert!(ok((3, 10, LinuxX86_64), "a-1-py310-none-any.whl"));
        assert!(!ok((3, 9, LinuxX86_64), "a-1-py310-none-any.whl"));
        assert!(ok((3, 12, MacOs), "a-1-cp312-cp312-macosx_11_0_arm64.whl"));
    }
}
