//! Protocol tests of `pybun lsp`: the real binary, JSON-RPC with
//! `Content-Length` framing over stdio, a local index (`pybun-testkit`) for
//! the index-based checks. Also a property test of random edits.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use pybun_testkit::{DistSpec, IndexServer, PublishedVersion, TestContext, Universe};
use serde_json::{Value, json};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pybun"))
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// A client speaking LSP to a `pybun lsp` process.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<Value>,
    /// Notifications received while waiting for something else.
    pending: Vec<Value>,
    /// Requests the server sent (answered with `null`).
    seen_requests: Vec<Value>,
    next_id: i64,
}

impl Client {
    /// Start `pybun [GLOBAL ARGS] lsp` in the context, with `args` before `lsp`.
    fn start(ctx: &TestContext, server: Option<&IndexServer>, args: &[&str]) -> Self {
        let mut command = match server {
            Some(server) => ctx.command_with_index(bin(), server),
            None => ctx.command(bin()),
        };
        command.args(args).arg("lsp").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = command.spawn().expect("start pybun lsp");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let (sender, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(value) = line.strip_prefix("Content-Length: ") {
                        length = value.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("a Content-Length header")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let message: Value = serde_json::from_slice(&body).expect("a JSON body");
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        Self { child, stdin, messages, pending: Vec::new(), seen_requests: Vec::new(), next_id: 1 }
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        let stdin = self.stdin.as_mut().expect("stdin open");
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write to the server");
        stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    fn receive(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(message) => {
                // Requests from the server (none expected) get an empty answer.
                if message.get("method").is_some() && message.get("id").is_some() {
                    let id = message["id"].clone();
                    self.send(&json!({ "jsonrpc": "2.0", "id": id, "result": null }));
                    self.seen_requests.push(message.clone());
                }
                Some(message)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Send a request and wait for its response (the whole message: `result` or `error`).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let message = self.receive(deadline).unwrap_or_else(|| panic!("no response to {method}"));
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
            self.pending.push(message);
        }
    }

    fn initialize(&mut self, capabilities: Value) -> Value {
        let response = self.request("initialize", json!({ "processId": null, "rootUri": null, "capabilities": capabilities }));
        self.notify("initialized", json!({}));
        response["result"].clone()
    }

    /// The first `publishDiagnostics` for `uri` (received or pending) that satisfies `wanted`.
    fn diagnostics_until(&mut self, uri: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let is_match = |m: &Value| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri && wanted(&m["params"]);
        let mut last = None;
        if let Some(index) = self.pending.iter().position(is_match) {
            let found = self.pending.remove(index);
            self.pending.drain(..index);
            return found["params"].clone();
        }
        self.pending.clear();
        let deadline = Instant::now() + TIMEOUT;
        while let Some(message) = self.receive(deadline) {
            if is_match(&message) {
                return message["params"].clone();
            }
            if message["method"] == "textDocument/publishDiagnostics" && message["params"]["uri"] == uri {
                last = Some(message);
            }
        }
        panic!("no matching diagnostics for {uri}; last: {last:#?}");
    }

    /// Messages arriving within `quiet`.
    fn drain(&mut self, quiet: Duration) -> Vec<Value> {
        let mut all: Vec<Value> = std::mem::take(&mut self.pending);
        while let Some(message) = self.receive(Instant::now() + quiet) {
            all.push(message);
        }
        all
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "toml", "version": 1, "text": text } }),
        );
    }

    fn change(&mut self, uri: &str, version: i32, changes: Value) {
        self.notify("textDocument/didChange", json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": changes }));
    }

    /// `shutdown`, `exit`, and the process ends with status 0.
    fn shutdown(mut self) {
        let response = self.request("shutdown", Value::Null);
        assert!(response.get("error").is_none(), "{response}");
        self.notify("exit", Value::Null);
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "pybun lsp exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "pybun lsp did not exit after `exit`");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn uri_of(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The LSP range (UTF-16) of the `occurrence`-th `needle` in `text`.
fn range_of(text: &str, needle: &str) -> Value {
    let start = text.find(needle).unwrap_or_else(|| panic!("`{needle}` not in the text"));
    range_at(text, start, start + needle.len())
}

fn range_at(text: &str, start: usize, end: usize) -> Value {
    let position = |offset: usize| {
        let before = &text[..offset];
        let line = before.matches('\n').count();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        json!({ "line": line, "character": before[line_start..].encode_utf16().count() })
    };
    json!({ "start": position(start), "end": position(end) })
}

fn codes(params: &Value) -> Vec<String> {
    params["diagnostics"].as_array().expect("diagnostics").iter().map(|d| d["code"].as_str().unwrap_or("").to_string()).collect()
}

fn with_code<'a>(params: &'a Value, code: &str) -> Vec<&'a Value> {
    params["diagnostics"].as_array().expect("diagnostics").iter().filter(|d| d["code"] == code).collect()
}

const BROKEN: &str = r#"[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = [
  "good>=1",
  "bad req",
  "émoji😀 >= 1",
]
"#;

#[test]
fn static_diagnostics_with_exact_ranges_then_change_and_close() {
    let ctx = TestContext::new();
    ctx.write_pyproject(BROKEN);
    let mut client = Client::start(&ctx, None, &["--offline"]);
    let result = client.initialize(json!({}));
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-16");
    assert_eq!(result["capabilities"]["textDocumentSync"]["change"], 2, "incremental sync");
    let uri = uri_of(&ctx.project_dir.join("pyproject.toml"));
    client.open(&uri, BROKEN);

    // The static layer first, at once.
    let first = client.diagnostics_until(&uri, |_| true);
    assert_eq!(first["version"], 1);
    assert_eq!(codes(&first), ["PB0103", "PB0103"], "{first:#}");
    let bad = &first["diagnostics"][0];
    let r = BROKEN.find("bad req").unwrap() + 4;
    assert_eq!(bad["range"], range_at(BROKEN, r, r + 1), "the bad part of `bad req`: {bad:#}");
    assert_eq!(bad["severity"], 1);
    assert_eq!(bad["source"], "pybun");
    let line = BROKEN.lines().position(|l| l.contains("émoji")).unwrap();
    assert_eq!(first["diagnostics"][1]["range"]["start"]["line"], line);
    // Offline: the index checks are skipped with one note.
    let second = client.diagnostics_until(&uri, |p| codes(p).contains(&"PB0801".to_string()));
    assert_eq!(with_code(&second, "PB0801").len(), 1);
    assert_eq!(with_code(&second, "PB0801")[0]["severity"], 3, "information");

    // Fix `bad req` with an incremental change: `bad req` → `bad`.
    let start = BROKEN.find("bad req").unwrap() + 3;
    client.change(&uri, 2, json!([{ "range": range_at(BROKEN, start, start + 4), "text": "" }]));
    let fixed = client.diagnostics_until(&uri, |p| p["version"] == 2);
    assert_eq!(codes(&fixed).iter().filter(|c| *c == "PB0103").count(), 1, "{fixed:#}");

    // A TOML syntax error on every broken line, not only the first.
    let text = BROKEN.replace("name = \"demo\"", "name = \"demo").replace("version = \"0.1.0\"", "version = = 1");
    client.change(&uri, 3, json!([{ "text": text }]));
    let syntax = client.diagnostics_until(&uri, |p| p["version"] == 3);
    let toml_errors = with_code(&syntax, "PB0101");
    assert_eq!(toml_errors.len(), 2, "{syntax:#}");
    assert_eq!(toml_errors[0]["range"]["start"]["line"], 1);
    assert_eq!(toml_errors[1]["range"]["start"]["line"], 2);

    // Closing clears the diagnostics.
    client.notify("textDocument/didClose", json!({ "textDocument": { "uri": uri } }));
    let closed = client.diagnostics_until(&uri, |p| p["diagnostics"].as_array().is_some_and(Vec::is_empty));
    assert!(closed.get("version").is_none() || closed["version"].is_null());
    client.shutdown();
}

#[test]
fn utf8_positions_when_the_client_offers_them() {
    let ctx = TestContext::new();
    let mut client = Client::start(&ctx, None, &["--offline"]);
    let result = client.initialize(json!({ "general": { "positionEncodings": ["utf-8", "utf-16"] } }));
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-8");
    let text = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\ndependencies = [\"é😀 x\"]\n";
    let uri = uri_of(&ctx.project_dir.join("pyproject.toml"));
    client.open(&uri, text);
    let params = client.diagnostics_until(&uri, |p| !codes(p).is_empty());
    let diagnostic = with_code(&params, "PB0103")[0];
    let literal = text.find("\"é").unwrap();
    let span_start = diagnostic["range"]["start"]["character"].as_u64().unwrap() as usize;
    // In bytes: at or after the literal's opening quote on that line.
    let line_start = text[..literal].rfind('\n').unwrap() + 1;
    assert!(span_start >= literal - line_start, "{diagnostic:#}");
    assert!(span_start <= text[line_start..].find('\n').unwrap(), "{diagnostic:#}");
    // An incremental edit addressed in bytes: replace `é😀 x` by `ok`.
    let inner = literal + 1;
    let end = inner + "é😀 x".len();
    let range = json!({
        "start": { "line": 3, "character": inner - line_start },
        "end": { "line": 3, "character": end - line_start },
    });
    client.change(&uri, 2, json!([{ "range": range, "text": "ok" }]));
    let params = client.diagnostics_until(&uri, |p| p["version"] == 2);
    assert!(with_code(&params, "PB0103").is_empty(), "{params:#}");
    client.shutdown();
}

fn version(name: &str, version: &str) -> PublishedVersion {
    PublishedVersion::new(DistSpec::new(name, version))
}

/// `attrs` 1 and 2; `flask` 1 needs `werkzeug<2`; `werkzeug` 1, 2, 3 (which needs Python 3.8).
fn universe() -> Universe {
    Universe::default()
        .with(version("attrs", "1.0.0"))
        .with(version("attrs", "2.0.0"))
        .with(PublishedVersion::new(DistSpec::new("flask", "1.0.0").requires(&["werkzeug<2"]).requires_python(">=3.8")))
        .with(version("werkzeug", "1.0.0"))
        .with(version("werkzeug", "2.0.0"))
        .with(PublishedVersion::new(DistSpec::new("werkzeug", "3.0.0").requires_python(">=3.8")))
}

#[test]
fn index_checks_unknown_names_unmatched_specifiers_and_conflicts() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    let mut client = Client::start(&ctx, Some(&server), &[]);
    client.initialize(json!({}));
    let uri = uri_of(&ctx.project_dir.join("pyproject.toml"));
    let text = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"pyattrs\", \"werkzeug>=9\"]\n";
    client.open(&uri, text);
    let params = client.diagnostics_until(&uri, |p| codes(p).contains(&"PB0301".to_string()));
    let unknown = with_code(&params, "PB0301")[0];
    assert_eq!(unknown["range"], range_of(text, "\"pyattrs\""));
    assert!(unknown["message"].as_str().unwrap().contains("did you mean `attrs`"), "{unknown:#}");
    let unmatched = with_code(&params, "PB0800");
    assert_eq!(unmatched.len(), 1, "{params:#}");
    assert_eq!(unmatched[0]["range"], range_of(text, ">=9"), "the specifier");
    assert!(unmatched[0]["message"].as_str().unwrap().contains("the latest release is 3.0.0"), "{params:#}");

    // The did-you-mean fix is a quick fix.
    let actions = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": unknown["range"], "context": { "diagnostics": [] } }),
    );
    let actions = actions["result"].as_array().expect("actions").clone();
    let rename = actions.iter().find(|a| a["title"].as_str().is_some_and(|t| t.contains("attrs"))).unwrap_or_else(|| panic!("{actions:#?}"));
    assert_eq!(rename["kind"], "quickfix");
    let edit = &rename["edit"]["changes"][&uri][0];
    assert_eq!(edit["newText"], "attrs");

    // A conflict: each requirement involved carries it, with the others as related information.
    let conflict = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"flask==1.0.0\", \"werkzeug>=2\"]\n";
    client.change(&uri, 2, json!([{ "text": conflict }]));
    let params = client.diagnostics_until(&uri, |p| p["version"] == 2 && codes(p).contains(&"PB0300".to_string()));
    let conflicts = with_code(&params, "PB0300");
    assert_eq!(conflicts.len(), 2, "{params:#}");
    assert_eq!(conflicts[0]["range"], range_of(conflict, "\"flask==1.0.0\""));
    assert_eq!(conflicts[1]["range"], range_of(conflict, "\"werkzeug>=2\""));
    let related = conflicts[0]["relatedInformation"].as_array().expect("related information");
    assert_eq!(related[0]["location"]["range"], range_of(conflict, "\"werkzeug>=2\""));
    assert!(conflicts[0]["message"].as_str().unwrap().contains("werkzeug"), "{params:#}");
    client.shutdown();
}

#[test]
fn hover_completion_and_requirement_actions() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    let text = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"werkzeug<3\", \"Attrs\"]\n";
    ctx.write_pyproject(text);
    let mut client = Client::start(&ctx, Some(&server), &[]);
    client.initialize(json!({}));
    let uri = uri_of(&ctx.project_dir.join("pyproject.toml"));
    client.open(&uri, text);
    client.diagnostics_until(&uri, |p| p["version"] == 1);

    // Hover: latest version, summary, requires-python, lock status.
    let on = range_of(text, "werkzeug<3")["start"].clone();
    let hover = client.request("textDocument/hover", json!({ "textDocument": { "uri": uri }, "position": on }));
    let markdown = hover["result"]["contents"]["value"].as_str().unwrap_or_else(|| panic!("{hover:#}")).to_string();
    assert!(markdown.contains("**werkzeug** — The werkzeug test package"), "{markdown}");
    assert!(markdown.contains("latest: `3.0.0` (not allowed by this requirement)"), "{markdown}");
    assert!(markdown.contains("requires-python: `>=3.8`"), "{markdown}");
    assert!(markdown.contains("locked: not in the lock"), "{markdown}");
    assert_eq!(hover["result"]["range"], range_of(text, "\"werkzeug<3\""));
    let nothing = client.request("textDocument/hover", json!({ "textDocument": { "uri": uri }, "position": { "line": 1, "character": 2 } }));
    assert!(nothing["result"].is_null());

    // Versions complete after an operator, newest first.
    let typing = text.replace("\"Attrs\"", "\"Attrs\", \"werkzeug>=2.");
    client.change(&uri, 2, json!([{ "text": typing }]));
    let cursor = range_at(&typing, typing.len() - 2, typing.len() - 2)["start"].clone();
    let completion = client.request("textDocument/completion", json!({ "textDocument": { "uri": uri }, "position": cursor }));
    let labels: Vec<&str> = completion["result"].as_array().expect("items").iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["2.0.0"], "{completion:#}");
    let item = &completion["result"][0];
    assert_eq!(item["textEdit"]["range"], range_at(&typing, typing.len() - 4, typing.len() - 2), "replaces `2.`");

    // Names complete from what the index has seen (and the lock).
    let typing_name = text.replace("\"Attrs\"", "\"Attrs\", \"fl");
    client.change(&uri, 3, json!([{ "text": typing_name }]));
    client.diagnostics_until(&uri, |p| p["version"] == 3);
    let cursor = range_at(&typing_name, typing_name.len() - 2, typing_name.len() - 2)["start"].clone();
    let completion = client.request("textDocument/completion", json!({ "textDocument": { "uri": uri }, "position": cursor }));
    let labels: Vec<&str> = completion["result"].as_array().expect("items").iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert!(labels.is_empty() || labels.iter().all(|l| l.starts_with("fl")), "{labels:?}");
    // `werkzeug` was asked by the background checks of this session.
    let typing_name = text.replace("\"Attrs\"", "\"Attrs\", \"Wer");
    client.change(&uri, 5, json!([{ "text": typing_name }]));
    let cursor = range_at(&typing_name, typing_name.len() - 2, typing_name.len() - 2)["start"].clone();
    let completion = client.request("textDocument/completion", json!({ "textDocument": { "uri": uri }, "position": cursor }));
    let items = completion["result"].as_array().expect("items");
    assert_eq!(items.iter().map(|i| i["label"].as_str().unwrap()).collect::<Vec<_>>(), ["werkzeug"], "{completion:#}");
    assert_eq!(items[0]["textEdit"]["range"], range_at(&typing_name, typing_name.len() - 5, typing_name.len() - 2));

    // Back to the file; the background layer offers bump / normalize / lower bound.
    client.change(&uri, 6, json!([{ "text": text }]));
    client.diagnostics_until(&uri, |p| p["version"] == 6);
    let actions_at = |client: &mut Client, needle: &str| -> Vec<Value> {
        let range = range_of(text, needle);
        let response = client.request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": uri }, "range": range, "context": { "diagnostics": [] } }),
        );
        response["result"].as_array().cloned().unwrap_or_default()
    };
    let apply = |action: &Value| -> String {
        let edit = &action["edit"]["changes"][&uri][0];
        let start = offset_of(text, &edit["range"]["start"]);
        let end = offset_of(text, &edit["range"]["end"]);
        format!("{}{}{}", &text[..start], edit["newText"].as_str().unwrap(), &text[end..])
    };
    // The actions come with the background run: ask until they are there.
    let deadline = Instant::now() + TIMEOUT;
    let mut werkzeug = actions_at(&mut client, "werkzeug<3");
    while werkzeug.len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        werkzeug = actions_at(&mut client, "werkzeug<3");
    }
    let bump = werkzeug.iter().find(|a| a["title"].as_str().unwrap().contains("latest")).unwrap_or_else(|| panic!("{werkzeug:#?}"));
    assert_eq!(bump["kind"], "refactor.rewrite");
    assert!(apply(bump).contains("\"werkzeug>=3.0.0\""), "{}", apply(bump));
    assert!(werkzeug.iter().any(|a| apply(a).contains("\"werkzeug>=2.0.0,<3\"")), "{werkzeug:#?}");
    let attrs = actions_at(&mut client, "Attrs");
    let normalize = attrs.iter().find(|a| apply(a).contains("\"attrs\"")).unwrap_or_else(|| panic!("{attrs:#?}"));
    assert!(normalize["title"].as_str().unwrap().contains("attrs"));
    let bound = attrs.iter().find(|a| apply(a).contains("\"Attrs>=2.0.0\"") || apply(a).contains("\"attrs>=2.0.0\""));
    assert!(bound.is_some(), "a lower bound action: {attrs:#?}");
    client.shutdown();
}

fn offset_of(text: &str, position: &Value) -> usize {
    let line = position["line"].as_u64().unwrap() as usize;
    let character = position["character"].as_u64().unwrap() as usize;
    let line_start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    let mut units = 0;
    for (index, ch) in text[line_start..].char_indices() {
        if units >= character || ch == '\n' {
            return line_start + index;
        }
        units += ch.len_utf16();
    }
    text.len()
}

#[test]
fn stale_lock_info_and_the_lock_command() {
    let server = IndexServer::start(universe());
    let ctx = TestContext::new();
    let text = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"attrs\"]\n";
    ctx.write_pyproject(text);
    let mut lock = ctx.command_with_index(bin(), &server);
    lock.arg("lock");
    assert!(lock.output().expect("pybun lock").status.success());

    let mut client = Client::start(&ctx, Some(&server), &[]);
    client.initialize(json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } }));
    // Names complete from the on-disk cache `pybun lock` filled, before this server asked anything.
    let script = "# /// script\n# dependencies = [\"at";
    let script_uri = uri_of(&ctx.project_dir.join("tool.py"));
    client.open(&script_uri, script);
    let cursor = range_at(script, script.len(), script.len())["start"].clone();
    let completion = client.request("textDocument/completion", json!({ "textDocument": { "uri": script_uri }, "position": cursor }));
    let labels: Vec<&str> = completion["result"].as_array().expect("items").iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["attrs"], "{completion:#}");

    let uri = uri_of(&ctx.project_dir.join("pyproject.toml"));
    client.open(&uri, text);
    let fresh = client.diagnostics_until(&uri, |p| p["version"] == 1);
    std::thread::sleep(Duration::from_millis(500));
    let later = client.drain(Duration::from_millis(200));
    let all: Vec<&Value> = std::iter::once(&fresh).chain(later.iter().map(|m| &m["params"])).collect();
    assert!(all.iter().all(|p| with_code(p, "PB0403").is_empty()), "an up-to-date lock is not reported: {all:#?}");

    // The saved file gains a requirement: the lock is stale (information), with a `pybun lock` action.
    let edited = text.replace("[\"attrs\"]", "[\"attrs\", \"werkzeug\"]");
    ctx.write_pyproject(&edited);
    client.change(&uri, 2, json!([{ "text": edited }]));
    let stale = client.diagnostics_until(&uri, |p| p["version"] == 2 && !with_code(p, "PB0403").is_empty());
    let diagnostic = with_code(&stale, "PB0403")[0].clone();
    assert_eq!(diagnostic["severity"], 3, "information");
    assert_eq!(diagnostic["range"], range_of(&edited, "[project]"));
    let actions = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": diagnostic["range"], "context": { "diagnostics": [diagnostic] } }),
    );
    let actions = actions["result"].as_array().expect("actions").clone();
    let run_lock = actions.iter().find(|a| a["command"]["command"] == "pybun.lock").unwrap_or_else(|| panic!("{actions:#?}"));
    let command = run_lock["command"].clone();
    let executed = client.request("workspace/executeCommand", json!({ "command": command["command"], "arguments": command["arguments"] }));
    assert_eq!(executed["result"]["status"], "updated", "{executed:#}");
    assert!(ctx.read_file("pybun.lock").unwrap().contains("name = \"werkzeug\""));
    // The lock is fresh again: the note goes away.
    client.diagnostics_until(&uri, |p| p["version"] == 2 && with_code(p, "PB0403").is_empty());

    // The server asked to watch the locks; `pybun lock` in a terminal clears the note too.
    let registered: Vec<Value> =
        std::mem::take(&mut client.seen_requests).into_iter().filter(|m| m["method"] == "client/registerCapability").collect();
    assert_eq!(registered.len(), 1, "one registration request");
    let watchers = &registered[0]["params"]["registrations"][0];
    assert_eq!(watchers["method"], "workspace/didChangeWatchedFiles");
    assert_eq!(watchers["registerOptions"]["watchers"][0]["globPattern"], "**/pybun.lock");
    let again = edited.replace("\"werkzeug\"]", "\"werkzeug\", \"flask\"]");
    ctx.write_pyproject(&again);
    client.change(&uri, 3, json!([{ "text": again }]));
    client.diagnostics_until(&uri, |p| p["version"] == 3 && !with_code(p, "PB0403").is_empty());
    let mut lock = ctx.command_with_index(bin(), &server);
    lock.arg("lock");
    assert!(lock.output().expect("pybun lock").status.success());
    client.notify("workspace/didChangeWatchedFiles", json!({ "changes": [{ "uri": uri_of(&ctx.project_dir.join("pybun.lock")), "type": 2 }] }));
    client.diagnostics_until(&uri, |p| p["version"] == 3 && with_code(p, "PB0403").is_empty());
    client.shutdown();
}

#[test]
fn an_unreachable_index_gives_one_note() {
    let ctx = TestContext::new();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/simple");
    let mut client = Client::start(&ctx, None, &["--index-url", &url]);
    client.initialize(json!({}));
    let uri = uri_of(&ctx.project_dir.join("pyproject.toml"));
    let text = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\ndependencies = [\"attrs\", \"werkzeug\"]\n";
    client.open(&uri, text);
    let params = client.diagnostics_until(&uri, |p| !codes(p).is_empty());
    assert_eq!(codes(&params), ["PB0801"], "{params:#}");
    let note = &params["diagnostics"][0];
    assert_eq!(note["severity"], 3);
    assert!(note["message"].as_str().unwrap().starts_with("index checks skipped: could not reach"), "{note:#}");
    client.shutdown();
}

#[test]
fn pep723_script_blocks_are_checked() {
    let ctx = TestContext::new();
    let mut client = Client::start(&ctx, None, &["--offline"]);
    client.initialize(json!({}));
    let script = "import sys\n# /// script\n# dependencies = [\"ok\", \"bad req\"]\n# ///\nprint(1)\n";
    let uri = uri_of(&ctx.project_dir.join("tool.py"));
    client.open(&uri, script);
    let params = client.diagnostics_until(&uri, |p| !codes(p).is_empty());
    assert_eq!(with_code(&params, "PB0103")[0]["range"]["start"]["line"], 2, "{params:#}");
    // A Python file without a block has nothing to report.
    let plain = uri_of(&ctx.project_dir.join("plain.py"));
    client.open(&plain, "print('hello')\n");
    let params = client.diagnostics_until(&plain, |_| true);
    assert!(params["diagnostics"].as_array().unwrap().is_empty(), "{params:#}");
    client.shutdown();
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    const START: &str = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\ndependencies = [\n  \"requests>=2\",\n  \"é😀\",\n]\n\n[dependency-groups]\ndev = [\"pytest\"]\n";
    const SNIPPETS: &[&str] = &["\"", "[", "]", "=", "\n", ",", " ", "#", "é", "😀", "requests>=", "\"a<1\"", "[project]", "x = 1", ""];

    /// An edit: replace `len` characters at character `at` (both scaled to the text) by a snippet.
    fn edit() -> impl Strategy<Value = (f64, usize, usize)> {
        (0.0..1.0f64, 0usize..6, 0..SNIPPETS.len())
    }

    /// What the server must end with for `text`: the static layer, plus the offline note when a project is read.
    fn expected(text: &str, path: &str, uri: &str) -> Vec<(String, Value)> {
        let checked = pybun_engine::check::check_static(text, path);
        let parsed_uri: pybun_lsp::ls_types::Uri = uri.parse().expect("uri");
        let mut diagnostics: Vec<(String, Value)> =
            pybun_lsp::convert::to_lsp(&checked.diagnostics, text, &parsed_uri, pybun_lsp::position::Encoding::Utf16)
                .into_iter()
                .map(|d| (d.message.clone(), serde_json::to_value(d.range).unwrap()))
                .collect();
        if checked.project.is_some() {
            diagnostics.push(("PB0801".into(), Value::Null));
        }
        diagnostics
    }

    fn published(params: &Value) -> Vec<(String, Value)> {
        params["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| if d["code"] == "PB0801" { ("PB0801".into(), Value::Null) } else { (d["message"].as_str().unwrap().to_string(), d["range"].clone()) })
            .collect()
    }

    #[test]
    fn random_edits_never_crash_and_end_with_the_final_texts_diagnostics() {
        let ctx = TestContext::new();
        let client = std::cell::RefCell::new(Client::start(&ctx, None, &["--offline"]));
        client.borrow_mut().initialize(json!({}));
        let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
        let case = std::cell::Cell::new(0);
        runner
            .run(&proptest::collection::vec(proptest::collection::vec(edit(), 1..4), 1..8), |batches| {
                case.set(case.get() + 1);
                let mut client = client.borrow_mut();
                let path = ctx.project_dir.join(format!("case{}", case.get())).join("pyproject.toml");
                let uri = uri_of(&path);
                let mut text = START.to_string();
                client.open(&uri, &text);
                let mut version = 1;
                for batch in batches {
                    let mut changes = Vec::new();
                    for (at, len, snippet) in batch {
                        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
                        let index = ((boundaries.len() - 1) as f64 * at) as usize;
                        let start = boundaries[index];
                        let end = boundaries[(index + len).min(boundaries.len() - 1)];
                        changes.push(json!({ "range": range_at(&text, start, end), "text": SNIPPETS[snippet] }));
                        text.replace_range(start..end, SNIPPETS[snippet]);
                    }
                    version += 1;
                    client.change(&uri, version, Value::Array(changes));
                }
                let want = expected(&text, &path.display().to_string(), &uri);
                let got = client.diagnostics_until(&uri, |p| p["version"] == version && published(p) == want);
                prop_assert_eq!(published(&got), want);
                client.notify("textDocument/didClose", json!({ "textDocument": { "uri": uri } }));
                Ok(())
            })
            .unwrap();
        // Still alive and answering.
        client.into_inner().shutdown();
    }
}
