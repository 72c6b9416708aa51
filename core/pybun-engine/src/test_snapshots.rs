//! Snapshot files of the `snapshot` fixture (`pybun test`, SPECS §19):
//! `<dir of the test file>/__snapshots__/<test file name>.snap`. The worker
//! writes them; here (no IO) they are read to find obsolete entries and
//! rewritten without them.
//!
//! Format (deterministic: entries sorted by key, `\n` line ends):
//!
//! ```text
//! # pybun snapshot v1
//! # name: tests/test_x.py::test_a
//!   <value line, indented by two spaces>
//! # ---
//! ```

use std::collections::HashSet;

use crate::test_plugins::FormatProblem;

/// The first line of every snapshot file.
pub(crate) const HEADER: &str = "# pybun snapshot v1";

/// A snapshot file's place for a test file (`tests/test_x.py` →
/// `tests/__snapshots__/test_x.py.snap`), both relative to the rootdir.
pub(crate) fn snapshot_file(test_file: &str) -> String {
    match test_file.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/__snapshots__/{name}.snap"),
        None => format!("__snapshots__/{test_file}.snap"),
    }
}

/// One stored snapshot: its key and its text (the value's lines, unindented).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotEntry {
    pub key: String,
    pub value: String,
}

/// Parses a snapshot file: its entries, and every problem found (with lines).
pub(crate) fn parse_snapshots(text: &str) -> (Vec<SnapshotEntry>, Vec<FormatProblem>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    if text.is_empty() {
        return (entries, problems);
    }
    let mut problem = |line: usize, message: String| problems.push(FormatProblem { line, message });
    let mut lines = text.strip_suffix('\n').unwrap_or(text).split('\n').enumerate().map(|(i, l)| (i + 1, l)).peekable();
    match lines.next() {
        Some((_, HEADER)) => {}
        Some((line, _)) => problem(line, format!("the first line is not `{HEADER}`")),
        None => {}
    }
    // (key, its line, value lines) of the entry being read.
    let mut current: Option<(String, usize, Vec<&str>)> = None;
    for (number, line) in lines {
        if let Some(key) = line.strip_prefix("# name: ") {
            if let Some((key, start, _)) = current.take() {
                problem(start, format!("the entry `{key}` has no closing `# ---`"));
            }
            current = Some((key.to_string(), number, Vec::new()));
        } else if line == "# ---" {
            match current.take() {
                Some((key, _, values)) => entries.push(SnapshotEntry { key, value: values.join("\n") }),
                None => problem(number, "`# ---` without an entry".to_string()),
            }
        } else if let Some((_, _, values)) = current.as_mut() {
            match line.strip_prefix("  ") {
                Some(value) => values.push(value),
                None => problem(number, "a value line is not indented by two spaces".to_string()),
            }
        } else if !line.is_empty() {
            problem(number, "a line outside any entry".to_string());
        }
    }
    if let Some((key, start, _)) = current {
        problem(start, format!("the entry `{key}` has no closing `# ---`"));
    }
    (entries, problems)
}

/// The file's text for `entries` (sorted by key here).
pub(crate) fn serialize_snapshots(entries: &[SnapshotEntry]) -> String {
    let mut sorted: Vec<&SnapshotEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut text = format!("{HEADER}\n");
    for entry in sorted {
        text.push_str("# name: ");
        text.push_str(&entry.key);
        text.push('\n');
        for line in entry.value.split('\n') {
            text.push_str("  ");
            text.push_str(line);
            text.push('\n');
        }
        text.push_str("# ---\n");
    }
    text
}

/// The test a key belongs to: the key without its ` [n]` suffix (the n-th
/// snapshot taken in the same test).
pub(crate) fn key_test(key: &str) -> &str {
    if let Some((test, n)) = key.rsplit_once(" [")
        && n.strip_suffix(']').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        return test;
    }
    key
}

/// The keys of `entries` whose test is not among `known` node ids.
pub(crate) fn obsolete_keys<'a>(entries: &'a [SnapshotEntry], known: &HashSet<&str>) -> Vec<&'a str> {
    entries.iter().map(|e| e.key.as_str()).filter(|key| !known.contains(key_test(key))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str) -> SnapshotEntry {
        SnapshotEntry { key: key.into(), value: value.into() }
    }

    #[test]
    fn a_file_round_trips_sorted() {
        let entries = vec![entry("t.py::test_b", "'x'"), entry("t.py::test_a [1]", "{'a': 1,\n 'b': [1, 2]}"), entry("t.py::test_a", "")];
        let text = serialize_snapshots(&entries);
        assert_eq!(
            text,
            "# pybun snapshot v1\n# name: t.py::test_a\n  \n# ---\n# name: t.py::test_a [1]\n  {'a': 1,\n   'b': [1, 2]}\n# ---\n# name: t.py::test_b\n  'x'\n# ---\n"
        );
        let (parsed, problems) = parse_snapshots(&text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(parsed, vec![entries[2].clone(), entries[1].clone(), entries[0].clone()]);
        assert_eq!(serialize_snapshots(&parsed), text);
    }

    #[test]
    fn problems_are_collected_with_lines() {
        let text = "# pybun snap\n# name: a\nnot indented\n# ---\nstray\n# ---\n# name: b\n  1\n";
        let (entries, problems) = parse_snapshots(text);
        assert_eq!(entries, vec![entry("a", "")]);
        let found: Vec<(usize, &str)> = problems.iter().map(|p| (p.line, p.message.as_str())).collect();
        assert_eq!(
            found,
            vec![
                (1, "the first line is not `# pybun snapshot v1`"),
                (3, "a value line is not indented by two spaces"),
                (5, "a line outside any entry"),
                (6, "`# ---` without an entry"),
                (7, "the entry `b` has no closing `# ---`"),
            ]
        );
    }

    #[test]
    fn obsolete_keys_are_those_of_unknown_tests() {
        let entries = vec![entry("t.py::test_a", "1"), entry("t.py::test_a [2]", "2"), entry("t.py::test_p[x [1]]", "3"), entry("t.py::gone [1]", "4")];
        let known: HashSet<&str> = ["t.py::test_a", "t.py::test_p[x [1]]"].into_iter().collect();
        assert_eq!(obsolete_keys(&entries, &known), vec!["t.py::gone [1]"]);
        assert_eq!(key_test("t.py::test_p[x [1]] [3]"), "t.py::test_p[x [1]]");
        assert_eq!(snapshot_file("tests/test_x.py"), "tests/__snapshots__/test_x.py.snap");
        assert_eq!(snapshot_file("test_x.py"), "__snapshots__/test_x.py.snap");
    }
}
