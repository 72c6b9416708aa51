//! Parametrize ids exactly as pytest's `IdMaker` makes them.

/// pytest's `ascii_escaped` for a `str`: `unicode_escape`, then the
/// remaining non-printable ASCII as `\xNN`.
#[must_use]
pub(crate) fn ascii_escaped_str(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let code = c as u32;
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ' '..='~' => out.push(c),
            _ if code < 0x100 => out.push_str(&format!("\\x{code:02x}")),
            _ if code < 0x10000 => out.push_str(&format!("\\u{code:04x}")),
            _ => out.push_str(&format!("\\U{code:08x}")),
        }
    }
    out
}

/// pytest's `ascii_escaped` for `bytes`: `backslashreplace` for non-ASCII,
/// then non-printable ASCII escaped (a backslash stays single).
#[must_use]
pub(crate) fn ascii_escaped_bytes(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value {
        match b {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Python's `repr(float)` (shortest round-trip digits, exponent when the
/// decimal point is more than 16 digits right or 4 left of the first digit).
#[must_use]
pub(crate) fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let formatted = format!("{x:e}");
    let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa
        .trim_start_matches('-')
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let ndigits = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let decpt = exponent + 1;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if decpt > 16 || decpt <= -4 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        out.push_str(&format!(
            "e{}{:02}",
            if e < 0 { '-' } else { '+' },
            e.unsigned_abs()
        ));
    } else if decpt <= 0 {
        out.push_str("0.");
        for _ in 0..(-decpt) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if decpt >= ndigits {
        out.push_str(&digits);
        for _ in 0..(decpt - ndigits) {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        let point = usize::try_from(decpt).unwrap_or(0);
        out.push_str(&digits[..point]);
        out.push('.');
        out.push_str(&digits[point..]);
    }
    out
}

/// Python's `repr(complex)` for a pure imaginary literal (`2j`, `1.5j`).
#[must_use]
pub(crate) fn py_imag_repr(imag: f64) -> String {
    let repr = py_float_repr(imag);
    let repr = repr.strip_suffix(".0").unwrap_or(&repr);
    format!("{repr}j")
}

/// pytest's `make_unique_by_index`: duplicate ids get `0`, `1`, … suffixes
/// (`_0` when the id ends with a digit), skipping ids already taken.
#[must_use]
pub(crate) fn make_unique(ids: Vec<String>) -> Vec<String> {
    let mut resolved = ids;
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for id in &resolved {
        *counts.entry(id.clone()).or_default() += 1;
    }
    if counts.values().all(|&c| c == 1) {
        return resolved;
    }
    let mut suffixes: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for index in 0..resolved.len() {
        let id = resolved[index].clone();
        if counts.get(&id).copied().unwrap_or(0) > 1 {
            let sep = if id.chars().last().is_some_and(char::is_numeric) {
                "_"
            } else {
                ""
            };
            let counter = suffixes.entry(id.clone()).or_default();
            let mut new_id = format!("{id}{sep}{counter}");
            while resolved.contains(&new_id) {
                *counter += 1;
                new_id = format!("{id}{sep}{counter}");
            }
            *counter += 1;
            resolved[index] = new_id;
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_python() {
        for (x, s) in [
            (1.5, "1.5"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (123_456.789, "123456.789"),
            (1.2345e100, "1.2345e+100"),
        ] {
            assert_eq!(py_float_repr(x), s, "{x}");
        }
        assert_eq!(py_imag_repr(2.0), "2j");
        assert_eq!(py_imag_repr(1.5), "1.5j");
    }

    #[test]
    fn escaping() {
        assert_eq!(ascii_escaped_str("a b"), "a b");
        assert_eq!(
            ascii_escaped_str("é\n\\☃\u{1F600}\x01"),
            "\\xe9\\n\\\\\\u2603\\U0001f600\\x01"
        );
        assert_eq!(ascii_escaped_bytes(b"a\\\xff\t"), "a\\\\xff\\t");
    }

    #[test]
    fn unique() {
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(make_unique(ids(&["a", "a", "b"])), ["a0", "a1", "b"]);
        assert_eq!(make_unique(ids(&["1", "1"])), ["1_0", "1_1"]);
        assert_eq!(make_unique(ids(&["a", "a", "a0"])), ["a1", "a2", "a0"]);
    }
}
