//! Just enough HTML for PEP 503 pages: `<a>` anchors (attributes and text)
//! and `<base href>`, with entity unescaping. Comments are skipped.

/// One `<a ...>text</a>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Anchor {
    /// Lower-cased attribute names with unescaped values (`None` for bare attributes).
    pub(crate) attrs: Vec<(String, Option<String>)>,
    /// The unescaped text inside the anchor, tags removed, trimmed.
    pub(crate) text: String,
}

impl Anchor {
    /// The attribute's value (`Some("")` for a bare attribute).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_deref().unwrap_or(""))
    }
}

/// A parsed page: its `<base href>` and anchors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Document {
    pub(crate) base: Option<String>,
    pub(crate) anchors: Vec<Anchor>,
}

/// Parse the anchors of an HTML page. Never fails: malformed markup yields
/// fewer anchors.
pub(crate) fn parse(html: &str) -> Document {
    let mut doc = Document::default();
    let bytes = html.as_bytes();
    let mut pos = 0;
    while let Some(offset) = html[pos..].find('<') {
        let start = pos + offset;
        let rest = &html[start..];
        if rest.starts_with("<!--") {
            pos = rest.find("-->").map_or(html.len(), |end| start + end + 3);
            continue;
        }
        let name_start = start + 1;
        let name_end = html[name_start..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(html.len(), |n| name_start + n);
        let tag = &html[name_start..name_end];
        if tag.is_empty() {
            pos = name_start;
            continue;
        }
        let (attrs, after) = parse_attributes(html, name_end);
        if tag.eq_ignore_ascii_case("a") {
            let text_end = find_ignore_case(&html[after..], "</a").map_or(html.len(), |n| after + n);
            let text = strip_tags(&html[after..text_end]);
            doc.anchors.push(Anchor { attrs, text: unescape(text.trim()) });
            pos = text_end.min(bytes.len());
        } else {
            if tag.eq_ignore_ascii_case("base") && doc.base.is_none() {
                doc.base = attrs.into_iter().find(|(n, _)| n == "href").and_then(|(_, v)| v);
            }
            pos = after;
        }
    }
    doc
}

/// Attributes from `pos` (just after the tag name) to the closing `>`;
/// returns them and the position after `>`.
fn parse_attributes(html: &str, mut pos: usize) -> (Vec<(String, Option<String>)>, usize) {
    let bytes = html.as_bytes();
    let mut attrs = Vec::new();
    loop {
        while pos < bytes.len() && (bytes[pos].is_ascii_whitespace() || bytes[pos] == b'/') {
            pos += 1;
        }
        if pos >= bytes.len() {
            return (attrs, pos);
        }
        if bytes[pos] == b'>' {
            return (attrs, pos + 1);
        }
        let name_start = pos;
        while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() && !matches!(bytes[pos], b'=' | b'>' | b'/') {
            pos += 1;
        }
        let name = html[name_start..pos].to_ascii_lowercase();
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos < bytes.len() && bytes[pos] == b'=' {
            pos += 1;
            while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            let value = if pos < bytes.len() && matches!(bytes[pos], b'"' | b'\'') {
                let quote = bytes[pos];
                let value_start = pos + 1;
                let value_end =
                    bytes[value_start..].iter().position(|&b| b == quote).map_or(bytes.len(), |n| value_start + n);
                pos = (value_end + 1).min(bytes.len());
                &html[value_start..value_end]
            } else {
                let value_start = pos;
                while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() && bytes[pos] != b'>' {
                    pos += 1;
                }
                &html[value_start..pos]
            };
            attrs.push((name, Some(unescape(value))));
        } else if !name.is_empty() {
            attrs.push((name, None));
        } else {
            // A stray character: skip it so the loop always advances.
            pos += 1;
        }
    }
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Replace character references (`&gt;`, `&#62;`, `&#x3E;`, ...). Unknown
/// entities are kept as written.
pub(crate) fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    if let Some(hex) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                        u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
                    } else if let Some(dec) = entity.strip_prefix('#') {
                        dec.parse().ok().and_then(char::from_u32)
                    } else {
                        None
                    }
                }
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_attributes() {
        let doc = parse(
            r#"<!DOCTYPE html><html><head><BASE HREF="https://files.example/"></head><body>
            <!-- <a href="commented">no</a> -->
            <A HREF="a-1.0.tar.gz#sha256=ab" data-requires-python="&gt;=3.8" data-yanked>a-1.0.tar.gz</A><br/>
            <a href='b.whl' data-yanked="bad &amp; broken" data-core-metadata=true><span>b.whl</span></a>
            <a href=c.whl>c &#x2B; d&#43;</a>
            </body></html>"#,
        );
        assert_eq!(doc.base.as_deref(), Some("https://files.example/"));
        assert_eq!(doc.anchors.len(), 3);
        let a = &doc.anchors[0];
        assert_eq!(a.get("href"), Some("a-1.0.tar.gz#sha256=ab"));
        assert_eq!(a.get("data-requires-python"), Some(">=3.8"));
                assert_eq!(a.get("data-yanked"), Some(""));
        assert_eq!(a.text, "a-1.0.tar.gz");
        let b = &doc.anchors[1];
        assert_eq!(b.get("data-yanked"), Some("bad & broken"));
        assert_eq!(b.get("data-core-metadata"), Some("true"));
        assert_eq!(b.text, "b.whl");
        assert_eq!(doc.anchors[2].get("href"), Some("c.whl"));
        assert_eq!(doc.anchors[2].text, "c + d+");
    }

    #[test]
    fn malformed_markup_does_not_loop() {
        for html in ["<", "<a", "<a href=", "<a href=\"x", "< a>", "<a =>x</a>", "&", "<a>&#xFFFFFFFF;</a>"] {
            let _ = parse(html);
        }
        assert_eq!(unescape("&bogus; &amp &lt;"), "&bogus; &amp <");
    }
}
