//! `fnmatch.fnmatch` (POSIX: case-sensitive) and pytest's `fnmatch_ex`.

/// Python's `fnmatch.fnmatchcase`: `*` any run, `?` one character,
/// `[seq]`/`[!seq]` a set (ranges `a-z`); an unclosed `[` is a literal.
/// `*` also matches `/`, as in Python.
#[must_use]
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    matches_at(&name, &pattern)
}

fn matches_at(name: &[char], pattern: &[char]) -> bool {
    // Iterative matcher with backtracking on the last `*`.
    let (mut n, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                '*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                '?' => {
                    n += 1;
                    p += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = class_match(&pattern[p..], name[n]) {
                        if matched {
                            n += 1;
                            p += next;
                            continue;
                        }
                    } else if name[n] == '[' {
                        n += 1;
                        p += 1;
                        continue;
                    }
                }
                c => {
                    if c == name[n] {
                        n += 1;
                        p += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `pattern[0] == '['`; returns
/// (matched, length of the class) or `None` when the class is not closed.
fn class_match(pattern: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some('!'));
    if negate {
        i += 1;
    }
    // A `]` right after `[` or `[!` is a literal member.
    let start = i;
    let mut end = None;
    let mut j = i;
    while j < pattern.len() {
        if pattern[j] == ']' && j > start {
            end = Some(j);
            break;
        }
        j += 1;
    }
    let end = end?;
    let members = &pattern[start..end];
    let mut matched = false;
    let mut k = 0;
    while k < members.len() {
        if k + 2 < members.len() && members[k + 1] == '-' {
            if members[k] <= c && c <= members[k + 2] {
                matched = true;
            }
            k += 3;
        } else {
            if members[k] == c {
                matched = true;
            }
            k += 1;
        }
    }
    Some((matched != negate, end + 1))
}

/// pytest's `fnmatch_ex`: a pattern without `/` matches the last path
/// component; one with `/` matches the whole path, prefixed by `*/` because
/// pytest matches absolute paths.
#[must_use]
pub fn fnmatch_ex(pattern: &str, path: &str) -> bool {
    if pattern.contains('/') {
        let pattern = if pattern.starts_with('/') {
            pattern.to_owned()
        } else {
            format!("*/{pattern}")
        };
        fnmatch(&format!("/{path}"), &pattern)
    } else {
        let name = path.rsplit('/').next().unwrap_or(path);
        fnmatch(name, pattern)
    }
}

/// True when `s` holds a glob metacharacter (pytest checks this before `fnmatch`).
#[must_use]
pub(crate) fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_like_python() {
        assert!(fnmatch("test_a.py", "test_*.py"));
        assert!(fnmatch("a_test.py", "*_test.py"));
        assert!(!fnmatch("test_a.pyc", "test_*.py"));
        assert!(fnmatch(".git", ".*"));
        assert!(fnmatch("x.egg", "*.egg"));
        assert!(fnmatch("{arch}", "{arch}"));
        assert!(fnmatch("check_a", "check_[a-c]"));
        assert!(!fnmatch("check_d", "check_[a-c]"));
        assert!(fnmatch("check_d", "check_[!a-c]"));
        assert!(fnmatch("a[b", "a[b"));
        assert!(fnmatch("x/y", "x*y"));
        assert!(!fnmatch("Test", "test"));
    }

    #[test]
    fn fnmatch_ex_with_slash() {
        assert!(fnmatch_ex("tests/*.py", "pkg/tests/x.py"));
        assert!(fnmatch_ex("test_*.py", "pkg/tests/test_x.py"));
        assert!(!fnmatch_ex("tests/*.py", "other/x.py"));
    }
}
