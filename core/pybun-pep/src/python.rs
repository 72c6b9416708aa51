//! `Requires-Python` helpers.

use pep440_rs::{Version, VersionSpecifiers};
use version_ranges::Ranges;

use crate::specifiers_to_ranges;

/// The lowest Python version a `requires-python` range allows, if it has a lower bound.
#[must_use]
pub fn requires_python_floor(requires_python: &VersionSpecifiers) -> Option<Version> {
    let range = specifiers_to_ranges(requires_python);
    let (lower, _) = range.bounding_range()?;
    match lower {
        std::ops::Bound::Included(v) | std::ops::Bound::Excluded(v) => Some(v.clone()),
        std::ops::Bound::Unbounded => None,
    }
}

/// The Pythons a `Requires-Python` admits when only its lower bound counts,
/// as in uv: `>=3.8,<4` admits 3.8 and everything later, `<=3.8` admits
/// everything. Upper bounds in `Requires-Python` are nearly always guesses
/// that would wrongly exclude working versions. The bound is compared on its
/// release numbers, so `>=3.8` admits a Python of `3.8` and `3.8.1` alike.
#[must_use]
pub fn requires_python_upward(candidate: &VersionSpecifiers) -> Ranges<Version> {
    let range = specifiers_to_ranges(candidate);
    match range.bounding_range() {
        // Empty range: nothing is allowed.
        None => Ranges::empty(),
        Some((lower, _)) => match lower {
            std::ops::Bound::Unbounded => Ranges::full(),
            std::ops::Bound::Included(v) => Ranges::higher_than(Version::new(v.release().iter().copied())),
            std::ops::Bound::Excluded(v) => Ranges::strictly_higher_than(Version::new(v.release().iter().copied())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn check(candidate: &str, floor: Option<&str>, expected: bool) {
        let candidate = VersionSpecifiers::from_str(candidate).unwrap();
        // No floor: the resolver's Python is then version 0.
        let floor = Version::from_str(floor.unwrap_or("0")).unwrap();
        assert_eq!(
            requires_python_upward(&candidate).contains(&floor),
            expected,
            "{candidate} vs floor {floor:?}"
        );
    }

    #[test]
    fn lower_bounds_decide() {
        check(">=3.8", Some("3.9"), true);
        check(">=3.10", Some("3.9"), false);
        check(">=3.8,<4", Some("3.12"), true);
        check("<3.8", Some("3.9"), true);
        check(">=3.9", None, false);
        check("", None, true);
        check(">=3.8", Some("3.8"), true);
    }

    #[test]
    fn floor_of_range() {
        let spec = VersionSpecifiers::from_str(">=3.9,<4").unwrap();
        assert_eq!(requires_python_floor(&spec).unwrap().to_string(), "3.9");
    }
}
