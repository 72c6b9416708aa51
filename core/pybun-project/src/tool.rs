//! `[tool.pybun]`: PyBun's own settings.

use pybun_diagnostics::{Code, Diagnostic};
use toml_edit::{Item, Value};

use crate::cx::{Cx, suggest};
use crate::{LockfileFormat, ToolPybun};

/// Every key PyBun reads from `[tool.pybun]`.
pub(crate) const TOOL_KEYS: &[&str] = &[
    "lockfile",
    "index-url",
    "extra-index-urls",
    "dev-dependencies",
    "scripts",
];

const T: Code = Code::ToolSettings;

pub(crate) fn read(cx: &mut Cx<'_>, item: &Item) -> ToolPybun {
    let mut tool = ToolPybun::default();
    let Some(table) = cx.table_item(T, "tool.pybun", item) else {
        return tool;
    };
    for (key, value) in table.iter() {
        let path = format!("tool.pybun.{key}");
        match key {
            "lockfile" => {
                if let Some(format) = cx.str_item(T, &path, value) {
                    match format {
                        "text" => tool.lockfile_format = LockfileFormat::Text,
                        "binary" => tool.lockfile_format = LockfileFormat::Binary,
                        other => cx.push(
                            Diagnostic::error(T, format!("`tool.pybun.lockfile` must be `\"text\"` or `\"binary\"`, found `\"{other}\"`"))
                                .with_label("unknown lockfile format")
                                .with_hint("`text` writes a reviewable `pybun.lock`; `binary` a compact one that loads faster"),
                            value.span(),
                        ),
                    }
                }
            }
            "index-url" => {
                if let Some(url) = value.as_value().filter(|v| v.is_str()) {
                    tool.index_url = index_url(cx, &path, url);
                } else {
                    cx.wrong_type(T, &path, "a string", value);
                }
            }
            "extra-index-urls" => {
                if let Some(array) = cx.array_item(T, &path, value) {
                    for url in array {
                        if url.is_str() {
                            tool.extra_index_urls.extend(index_url(cx, &path, url));
                        } else {
                            cx.wrong_element(T, &path, "URL strings", url);
                        }
                    }
                }
            }
            "dev-dependencies" => tool.dev_dependencies = cx.requirements(&path, value),
            // Tasks: validated by `parse_tasks` (`pybun run NAME`).
            "scripts" => {}
            _ => {
                let mut diagnostic = Diagnostic::warning(
                    Code::UnknownKey,
                    format!("unknown key `{key}` in `[tool.pybun]`"),
                );
                diagnostic = match suggest(key, TOOL_KEYS) {
                    Some(s) => diagnostic.with_hint(format!("did you mean `{s}`?")),
                    None => diagnostic.with_hint(format!(
                        "PyBun reads {}",
                        TOOL_KEYS
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                cx.push(diagnostic, table.key(key).and_then(toml_edit::Key::span));
            }
        }
    }
    tool
}

/// An index URL: absolute `http`, `https` or `file`.
fn index_url(cx: &mut Cx<'_>, path: &str, value: &Value) -> Option<String> {
    let text = value.as_str()?;
    let problem = match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https" | "file") => {
            return Some(text.to_owned());
        }
        Ok(url) => format!("the scheme `{}` is not supported", url.scheme()),
        Err(err) => err.to_string(),
    };
    cx.push(
        Diagnostic::error(T, format!("`{text}` in `{path}` is not a valid index URL: {problem}"))
            .with_label("invalid index URL")
            .with_hint("use an absolute `https://`, `http://` or `file://` URL, e.g. `https://pypi.org/simple`"),
        value.span(),
    );
    None
}
