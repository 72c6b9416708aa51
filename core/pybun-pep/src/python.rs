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

/// Whether a distribution with `candidate` as its `Requires-Python` can serve a
/// project whose supported Pythons start at `floor`.
///
/// Like uv, only lower bounds decide: a candidate is compatible when it allows
/// the project's lowest Python or anything later (an upper bound such as `<4`
/// on the candidate does not exclude it). `None` as floor means "any Python".
#[must_use]
pub fn requires_python_allows_floor(candidate: &VersionSpecifiers, floor: Option<&Version>) -> bool {
    let range = specifiers_to_ranges(candidate);
    let Some((lower, _)) = range.bounding_range() else {
        // Empty range: nothing is allowed.
        return false;
    };
    let Some(floor) = floor else {
        return matches!(lower, std::ops::Bound::Unbounded);
    };
    // Extend the candidate range upward to infinity and check the floor.
    let upward: Ranges<Version> = match lower {
        std::ops::Bound::Unbounded => Ranges::full(),
        std::ops::Bound::Included(v) => Ranges::higher_than(v.clone()),
        std::ops::Bound::Excluded(v) => Ranges::strictly_higher_than(v.clone()),
    };
    // Compare on the release only, so `>=3.8` admits a floor of `3.8` and a
    // floor of `3.8.1` alike, and `>3.8` (which PEP 440 reads as `>=3.9`)
    // is still decided on the release numbers.
    upward.contains(&Version::new(floor.release().iter().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn check(candidate: &str, floor: Option<&str>, expected: bool) {
        let candidate = VersionSpecifiers::from_str(candidate).unwrap();
        let floor = floor.map(|f| Version::from_str(f).unwrap());
        assert_eq!(
            requires_python_allows_floor(&candidate, floor.as_ref()),
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
