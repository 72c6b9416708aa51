//! The language server: documents, diagnostics layers, hover, completion,
//! code actions and the `pybun.lock` command.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex, PoisonError};

use pybun_diagnostics::{Diagnostic, Fix, FixCommand, Span};
use pybun_engine::check;
use pybun_engine::editor::{self, CompletionTarget, DocumentKind};
use pybun_engine::{LockRequest, LockStatus};
use pybun_ports::{NullReporter, PackageIndex};
use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CodeActionProviderCapability, CodeActionResponse,
    Command, CompletionItem, CompletionItemKind, CompletionOptions, CompletionParams, CompletionResponse,
    DidChangeTextDocumentParams, DidChangeWatchedFilesParams, DidChangeWatchedFilesRegistrationOptions,
    DidCloseTextDocumentParams, FileSystemWatcher, GlobPattern, Registration, TextDocumentSyncSaveOptions, DidOpenTextDocumentParams, DidSaveTextDocumentParams,
    ExecuteCommandOptions, ExecuteCommandParams, Hover, HoverContents, HoverParams, HoverProviderCapability,
    InitializeParams, InitializeResult, InitializedParams, LSPAny, MarkupContent, MarkupKind, MessageType,
    PositionEncodingKind, ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, TextEdit, Uri, WorkspaceEdit,
};
use tower_lsp_server::{Client, LanguageServer};

use crate::LspConfig;
use crate::convert;
use crate::layers::{self, Indexes};
use crate::position::{self, Encoding};

/// How long an index handle (and its in-memory memo) is kept unused.
const INDEX_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// The command that runs the lock use case for a document's project.
pub const LOCK_COMMAND: &str = "pybun.lock";

/// Something of the background layer (a diagnostic or a requirement
/// action), with the text it was attached to, so that it follows its
/// requirement while the user edits elsewhere.
#[derive(Debug, Clone)]
struct Anchored<T> {
    item: T,
    anchor: Option<Anchor>,
}

/// What a background result is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Anchor {
    /// A requirement string literal (its text), the result `offset` bytes into it.
    Requirement { literal: String, offset: usize },
    /// Other text (e.g. the `[project]` header of a stale-lock note).
    Text(String),
}

impl Anchor {
    /// The anchor of the span `start..end` of `text`, given the requirement literals' spans.
    fn of(text: &str, spans: &[(usize, usize)], start: usize, end: usize) -> Option<Self> {
        if end <= start {
            return None;
        }
        match spans.iter().find(|(s, e)| *s <= start && end <= *e) {
            Some(&(s, e)) => Some(Self::Requirement { literal: text.get(s..e)?.to_string(), offset: start - s }),
            None => Some(Self::Text(text.get(start..end)?.to_string())),
        }
    }

    /// Where the anchored span (`old_start..old_end` before the edit) is in
    /// the new `text`: in the requirement literal with the same text, or at the occurrence of the text nearest to where it
    /// was; `None` when it is gone (the requirement was edited: the result
    /// is stale until the next background run).
    fn find(&self, text: &str, spans: &[(usize, usize)], old_start: usize, old_end: usize) -> Option<(usize, usize)> {
        match self {
            Self::Requirement { literal, offset } => {
                // Of several literals with the same text, the one nearest to where it was.
                let (start, _) = spans
                    .iter()
                    .filter(|(s, e)| text.get(*s..*e) == Some(literal.as_str()))
                    .min_by_key(|(s, _)| (s + offset).abs_diff(old_start))?;
                Some((start + offset, start + offset + (old_end - old_start)))
            }
            Self::Text(anchor) => {
                let start = text.match_indices(anchor.as_str()).map(|(i, _)| i).min_by_key(|i| i.abs_diff(old_start))?;
                Some((start, start + anchor.len()))
            }
        }
    }
}

/// The spans of the requirement string literals of a document's project.
fn requirement_spans(project: Option<&pybun_project::Project>) -> Vec<(usize, usize)> {
    project
        .map(|p| {
            p.dependencies
                .iter()
                .chain(p.optional_dependencies.values().flatten())
                .chain(p.dependency_groups.values().flatten())
                .chain(p.tool.dev_dependencies.iter())
                .chain(p.build_requires.iter())
                .map(|r| (r.span.start, r.span.end))
                .collect()
        })
        .unwrap_or_default()
}

/// An open document.
#[derive(Debug)]
struct Document {
    path: PathBuf,
    kind: DocumentKind,
    version: i32,
    text: String,
    /// The static layer for `version`.
    static_diagnostics: Vec<Diagnostic>,
    /// The background layer of the latest finished run, re-anchored to `text`.
    background: Vec<Anchored<Diagnostic>>,
    actions: Vec<Anchored<check::RequirementAction>>,
    /// The latest background run started; only its result is kept (a run
    /// after a lock change must not be undone by an older one finishing late).
    run: u64,
}

/// Move `span` and `fixes` from `old_start` to `new_start..new_end` of `text`.
fn move_to(text: &str, span: &mut Span, fixes: &mut [Fix], new_start: usize, new_end: usize) {
    let old_start = span.start;
    *span = Span::in_source(text, new_start, new_end);
    for fix in fixes {
        for edit in &mut fix.edits {
            let (start, end) = (shift(edit.span.start, old_start, new_start), shift(edit.span.end, old_start, new_start));
            edit.span = Span::in_source(text, start, end);
        }
    }
}

impl Document {
    fn file(&self) -> String {
        self.path.display().to_string()
    }

    /// Every diagnostic for the current text.
    fn merged(&self) -> Vec<Diagnostic> {
        self.static_diagnostics.iter().cloned().chain(self.background.iter().map(|a| a.item.clone())).collect()
    }

    /// Recompute the static layer and move the background results to where
    /// their requirement now is (dropping those whose requirement is gone).
    fn refresh(&mut self) {
        let checked = layers::static_layer(&self.text, &self.file(), self.kind);
        self.static_diagnostics = checked.diagnostics;
        let spans = requirement_spans(checked.project.as_ref());
        let text = &self.text;
        self.background.retain_mut(|anchored| {
            let Some(anchor) = &anchored.anchor else { return true };
            let (old_start, old_end) = convert::byte_range(&anchored.item);
            let Some((start, end)) = anchor.find(text, &spans, old_start, old_end) else { return false };
            let diagnostic = &mut anchored.item;
            if let Some(span) = diagnostic.location.as_mut().and_then(|l| l.span.as_mut()) {
                move_to(text, span, &mut diagnostic.fixes, start, end);
            }
            true
        });
        self.actions.retain_mut(|anchored| {
            let Some(anchor) = &anchored.anchor else { return false };
            let action = &mut anchored.item;
            let Some((start, end)) = anchor.find(text, &spans, action.span.start, action.span.end) else { return false };
            move_to(text, &mut action.span, std::slice::from_mut(&mut action.fix), start, end);
            true
        });
    }
}

fn shift(offset: usize, from: usize, to: usize) -> usize {
    (offset + to).saturating_sub(from)
}

/// A copy of a document's state for blocking work.
struct Snapshot {
    text: String,
    path: PathBuf,
    kind: DocumentKind,
    diagnostics: Vec<Diagnostic>,
    actions: Vec<check::RequirementAction>,
}

/// What the server shares between its handlers and background tasks.
struct State {
    config: Arc<LspConfig>,
    indexes: Indexes,
    documents: Mutex<HashMap<Uri, Document>>,
    encoding: Mutex<Encoding>,
    /// Whether the client lets the server register file watchers (for the locks).
    watch_files: std::sync::atomic::AtomicBool,
    /// Serializes publications, so the last one sent is built from the latest state.
    publishing: tokio::sync::Mutex<()>,
}

/// The `LanguageServer` implementation.
pub struct Backend {
    client: Client,
    state: Arc<State>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").finish_non_exhaustive()
    }
}

fn document_path(uri: &Uri) -> PathBuf {
    uri.to_file_path().map_or_else(|| PathBuf::from(uri.as_str()), |p| p.into_owned())
}

/// Run blocking work (index look-ups, resolution) on a plain thread. Not on
/// tokio's blocking pool: inside a runtime's context the index adapter
/// cannot block on its own runtime and starts a helper thread for every
/// call (dozens of threads, and their memory, per check).
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("pybun-lsp-work".into())
        .spawn(move || {
            let _ = sender.send(work());
        })
        .map_err(internal)?;
    receiver.await.map_err(internal)
}

fn internal(message: impl std::fmt::Display) -> Error {
    let mut error = Error::internal_error();
    error.message = message.to_string().into();
    error
}

impl Backend {
    pub(crate) fn new(client: Client, config: Arc<LspConfig>) -> Self {
        let state = State {
            indexes: Indexes::new(config.clone()),
            config,
            documents: Mutex::new(HashMap::new()),
            encoding: Mutex::new(Encoding::Utf16),
            watch_files: std::sync::atomic::AtomicBool::new(false),
            publishing: tokio::sync::Mutex::new(()),
        };
        Self { client, state: Arc::new(state) }
    }

    fn encoding(&self) -> Encoding {
        *self.state.encoding.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publish the current diagnostics of `uri` (an empty list when it is closed).
    async fn publish(client: &Client, state: &State, uri: &Uri) {
        let _serial = state.publishing.lock().await;
        let encoding = *state.encoding.lock().unwrap_or_else(PoisonError::into_inner);
        let payload = {
            let documents = state.documents.lock().unwrap_or_else(PoisonError::into_inner);
            documents.get(uri).map(|doc| (convert::to_lsp(&doc.merged(), &doc.text, uri, encoding), doc.version))
        };
        match payload {
            Some((diagnostics, version)) => client.publish_diagnostics(uri.clone(), diagnostics, Some(version)).await,
            None => client.publish_diagnostics(uri.clone(), Vec::new(), None).await,
        }
    }

    /// Run the background layer for `uri` at `version` after the debounce;
    /// its result is dropped when the document changed meanwhile.
    fn schedule_background(&self, uri: Uri, version: i32) {
        let client = self.client.clone();
        let state = self.state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(state.config.debounce).await;
            let (input, run) = {
                let mut documents = state.documents.lock().unwrap_or_else(PoisonError::into_inner);
                match documents.get_mut(&uri) {
                    Some(doc) if doc.version == version => {
                        doc.run += 1;
                        ((doc.text.clone(), doc.path.clone(), doc.kind), doc.run)
                    }
                    _ => return,
                }
            };
            let worker = state.clone();
            let Ok((found, actions)) = off_runtime(move || {
                let (text, path, kind) = input;
                let found = layers::background_layer(&worker.indexes, worker.config.fs.as_ref(), &text, &path, kind);
                // The text each result points at, to follow it through later edits.
                let spans = requirement_spans(layers::static_layer(&text, &path.display().to_string(), kind).project.as_ref());
                let anchor_of = |span: Option<Span>| span.and_then(|s| Anchor::of(&text, &spans, s.start, s.end));
                let diagnostics: Vec<Anchored<Diagnostic>> = found
                    .diagnostics
                    .into_iter()
                    .map(|item| Anchored { anchor: anchor_of(item.location.as_ref().and_then(|l| l.span)), item })
                    .collect();
                let actions: Vec<Anchored<check::RequirementAction>> =
                    found.actions.into_iter().map(|item| Anchored { anchor: anchor_of(Some(item.span)), item }).collect();
                (diagnostics, actions)
            })
            .await
            else {
                return;
            };
            {
                let mut documents = state.documents.lock().unwrap_or_else(PoisonError::into_inner);
                match documents.get_mut(&uri) {
                    Some(doc) if doc.version == version && doc.run == run => {
                        doc.background = found;
                        doc.actions = actions;
                    }
                    _ => return,
                }
            }
            Self::publish(&client, &state, &uri).await;
        });
    }

    /// Run the background layer again for every open document.
    fn recheck_open_documents(&self) {
        let open: Vec<(Uri, i32)> = {
            let documents = self.state.documents.lock().unwrap_or_else(PoisonError::into_inner);
            documents.iter().map(|(uri, doc)| (uri.clone(), doc.version)).collect()
        };
        for (uri, version) in open {
            self.schedule_background(uri, version);
        }
    }

    /// A snapshot of a document for blocking work: its text, path, kind.
    fn snapshot(&self, uri: &Uri) -> Option<Snapshot> {
        let documents = self.state.documents.lock().unwrap_or_else(PoisonError::into_inner);
        documents.get(uri).map(|doc| Snapshot {
            text: doc.text.clone(),
            path: doc.path.clone(),
            kind: doc.kind,
            diagnostics: doc.merged(),
            actions: doc.actions.iter().map(|a| a.item.clone()).collect(),
        })
    }

    /// The index for hover, completion and actions: the project's, else the default one.
    fn index_for(state: &State, project: Option<&pybun_project::Project>) -> Option<Arc<dyn PackageIndex>> {
        let default = pybun_project::Project::default();
        state.indexes.for_project(project.unwrap_or(&default)).ok()
    }
}

fn hover_markdown(hover: &editor::RequirementHover) -> String {
    let mut text = format!("**{}**", hover.name);
    if let Some(summary) = hover.facts.as_ref().and_then(|f| f.summary.as_ref()) {
        text.push_str(" — ");
        text.push_str(summary);
    }
    text.push_str(&format!("\n\n`{}`\n", hover.requirement));
    if let Some(facts) = &hover.facts {
        match &facts.latest {
            Some(latest) => {
                let allowed = match hover.allows_latest {
                    Some(false) => " (not allowed by this requirement)",
                    _ => "",
                };
                text.push_str(&format!("\n- latest: `{latest}`{allowed}"));
            }
            None => text.push_str("\n- latest: no installable release"),
        }
        if let Some(requires_python) = &facts.requires_python {
            text.push_str(&format!("\n- requires-python: `{requires_python}`"));
        }
    }
    match hover.locked.as_slice() {
        [] => text.push_str("\n- locked: not in the lock"),
        versions => {
            let list: Vec<String> = versions.iter().map(|v| format!("`{v}`")).collect();
            text.push_str(&format!("\n- locked: {}", list.join(", ")));
        }
    }
    if let Some(error) = &hover.index_error {
        text.push_str(&format!("\n\n_index: {error}_"));
    }
    text
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let offers_utf8 = params
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref())
            .is_some_and(|encodings| encodings.contains(&PositionEncodingKind::UTF8));
        let encoding = if offers_utf8 { Encoding::Utf8 } else { Encoding::Utf16 };
        *self.state.encoding.lock().unwrap_or_else(PoisonError::into_inner) = encoding;
        let watch_files = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|d| d.dynamic_registration)
            .unwrap_or(false);
        self.state.watch_files.store(watch_files, std::sync::atomic::Ordering::Relaxed);
        Ok(InitializeResult {
            server_info: Some(ServerInfo { name: "pybun".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
            capabilities: ServerCapabilities {
                position_encoding: Some(if offers_utf8 { PositionEncodingKind::UTF8 } else { PositionEncodingKind::UTF16 }),
                text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::INCREMENTAL),
                    save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                    ..TextDocumentSyncOptions::default()
                })),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(["\"", "'", "=", ">", "<", "~", "!"].iter().map(|s| (*s).to_string()).collect()),
                    ..CompletionOptions::default()
                }),
                code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
                execute_command_provider: Some(ExecuteCommandOptions { commands: vec![LOCK_COMMAND.into()], ..ExecuteCommandOptions::default() }),
                ..ServerCapabilities::default()
            },
            ..InitializeResult::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        // Locks written by `pybun lock` in a terminal make stale-lock notes stale: watch them.
        if self.state.watch_files.load(std::sync::atomic::Ordering::Relaxed) {
            let client = self.client.clone();
            tokio::spawn(async move {
                let watchers = ["**/pybun.lock", "**/pybun.lockb", "**/*.py.lock"]
                    .iter()
                    .map(|glob| FileSystemWatcher { glob_pattern: GlobPattern::String((*glob).to_string()), kind: None })
                    .collect();
                let registration = Registration {
                    id: "pybun-locks".into(),
                    method: "workspace/didChangeWatchedFiles".into(),
                    register_options: serde_json::to_value(DidChangeWatchedFilesRegistrationOptions { watchers }).ok(),
                };
                if let Err(error) = client.register_capability(vec![registration]).await {
                    tracing::debug!(%error, "the client refused the lock file watchers");
                }
            });
        }
        // Give the index's memory back after a pause in editing.
        let state = self.state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(INDEX_IDLE / 4).await;
                let worker = state.clone();
                let _ = off_runtime(move || worker.indexes.release_idle(INDEX_IDLE)).await;
            }
        });
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let uri = params.text_document.uri;
        let path = document_path(&uri);
        let Some(kind) = DocumentKind::of_path(&path) else { return };
        let version = params.text_document.version;
        {
            let mut doc = Document {
                path,
                kind,
                version,
                text: params.text_document.text,
                static_diagnostics: Vec::new(),
                background: Vec::new(),
                actions: Vec::new(),
                run: 0,
            };
            doc.refresh();
            self.state.documents.lock().unwrap_or_else(PoisonError::into_inner).insert(uri.clone(), doc);
        }
        Self::publish(&self.client, &self.state, &uri).await;
        self.schedule_background(uri, version);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        // The state changes before the first await, so changes apply in arrival order.
        let uri = params.text_document.uri;
        let version = params.text_document.version;
        let encoding = self.encoding();
        {
            let mut documents = self.state.documents.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(doc) = documents.get_mut(&uri) else { return };
            if version <= doc.version {
                return;
            }
            for change in params.content_changes {
                position::apply_change(&mut doc.text, change.range, &change.text, encoding);
            }
            doc.version = version;
            doc.refresh();
        }
        Self::publish(&self.client, &self.state, &uri).await;
        self.schedule_background(uri, version);
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        // The lock check compares against the file on disk: run the background layer again.
        let version = {
            let documents = self.state.documents.lock().unwrap_or_else(PoisonError::into_inner);
            documents.get(&params.text_document.uri).map(|d| d.version)
        };
        if let Some(version) = version {
            self.schedule_background(params.text_document.uri, version);
        }
    }

    async fn did_change_watched_files(&self, _: DidChangeWatchedFilesParams) {
        // A lock changed on disk: check the open documents' locks again.
        self.recheck_open_documents();
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.state.documents.lock().unwrap_or_else(PoisonError::into_inner).remove(&uri);
        Self::publish(&self.client, &self.state, &uri).await;
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let uri = params.text_document_position_params.text_document.uri;
        let Some(Snapshot { text, path, kind, .. }) = self.snapshot(&uri) else { return Ok(None) };
        let encoding = self.encoding();
        let offset = position::to_offset(&text, params.text_document_position_params.position, encoding);
        let state = self.state.clone();
        let found = off_runtime(move || {
            let file = path.display().to_string();
            let project = layers::static_layer(&text, &file, kind).project?;
            editor::requirement_at(&project, offset)?;
            let index = Self::index_for(&state, Some(&project));
            let lock = editor::document_lock(state.config.fs.as_ref(), &path, kind);
            let hover = editor::hover(&project, offset, index.as_deref(), lock.as_ref())?;
            let range = position::to_range(&text, hover.start, hover.end, encoding);
            Some((hover_markdown(&hover), range))
        })
        .await?;
        Ok(found.map(|(markdown, range)| Hover {
            contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: markdown }),
            range: Some(range),
        }))
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let uri = params.text_document_position.text_document.uri;
        let Some(Snapshot { text, path, kind, .. }) = self.snapshot(&uri) else { return Ok(None) };
        let encoding = self.encoding();
        let cursor = position::to_offset(&text, params.text_document_position.position, encoding);
        let Some(target) = editor::completion_target(&text, cursor, kind) else { return Ok(None) };
        let state = self.state.clone();
        let items = off_runtime(move || {
            let file = path.display().to_string();
            let project = layers::static_layer(&text, &file, kind).project;
            let index = Self::index_for(&state, project.as_ref());
            let edit = |start: usize, new_text: String| {
                tower_lsp_server::ls_types::CompletionTextEdit::Edit(TextEdit {
                    range: position::to_range(&text, start, cursor, encoding),
                    new_text,
                })
            };
            match target {
                CompletionTarget::Name { prefix, start } => {
                    let lock = editor::document_lock(state.config.fs.as_ref(), &path, kind);
                    editor::complete_names(&prefix, index.as_deref(), lock.as_ref(), 200)
                        .into_iter()
                        .map(|name| CompletionItem {
                            label: name.clone(),
                            kind: Some(CompletionItemKind::MODULE),
                            text_edit: Some(edit(start, name)),
                            ..CompletionItem::default()
                        })
                        .collect::<Vec<_>>()
                }
                CompletionTarget::Version { name, prefix, start } => {
                    let Some(index) = index else { return Vec::new() };
                    let versions = editor::complete_versions(index.as_ref(), &name, &prefix).unwrap_or_default();
                    versions
                        .iter()
                        .enumerate()
                        .map(|(rank, version)| CompletionItem {
                            label: version.to_string(),
                            kind: Some(CompletionItemKind::VALUE),
                            detail: Some(format!("{name} {version}")),
                            sort_text: Some(format!("{rank:05}")),
                            text_edit: Some(edit(start, version.to_string())),
                            ..CompletionItem::default()
                        })
                        .collect()
                }
            }
        })
        .await?;
        Ok(Some(CompletionResponse::Array(items)))
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let Some(Snapshot { text, diagnostics, actions: requirement_actions, .. }) = self.snapshot(&uri) else { return Ok(None) };
        let encoding = self.encoding();
        let start = position::to_offset(&text, params.range.start, encoding);
        let end = position::to_offset(&text, params.range.end, encoding).max(start);
        let overlaps = |s: usize, e: usize| s <= end && start <= e;
        let edit_of = |fix: &Fix| {
            let edits: Vec<TextEdit> = fix
                .edits
                .iter()
                .map(|e| TextEdit { range: position::to_range(&text, e.span.start, e.span.end, encoding), new_text: e.new_text.clone() })
                .collect();
            (!edits.is_empty()).then(|| WorkspaceEdit { changes: Some(HashMap::from([(uri.clone(), edits)])), ..WorkspaceEdit::default() })
        };
        let mut actions: Vec<CodeActionOrCommand> = Vec::new();
        // The fixes the diagnostics carry.
        let converted = convert::to_lsp(&diagnostics, &text, &uri, encoding);
        for (diagnostic, lsp_diagnostic) in diagnostics.iter().zip(converted) {
            let (d_start, d_end) = convert::byte_range(diagnostic);
            let whole_file = diagnostic.location.as_ref().and_then(|l| l.span).is_none();
            if !whole_file && !overlaps(d_start, d_end) {
                continue;
            }
            for fix in &diagnostic.fixes {
                let command = fix.command.map(|command| match command {
                    FixCommand::Lock => Command { title: fix.title.clone(), command: LOCK_COMMAND.into(), arguments: Some(vec![json!(uri.as_str())]) },
                });
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![lsp_diagnostic.clone()]),
                    edit: edit_of(fix),
                    command,
                    is_preferred: Some(true),
                    ..CodeAction::default()
                }));
            }
        }
        // Refactorings of the requirements in range (bump to the latest release, …).
        for action in requirement_actions.iter().filter(|a| overlaps(a.span.start, a.span.end)) {
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: action.fix.title.clone(),
                kind: Some(CodeActionKind::REFACTOR_REWRITE),
                edit: edit_of(&action.fix),
                ..CodeAction::default()
            }));
        }
        Ok(Some(actions))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        if params.command != LOCK_COMMAND {
            return Err(Error::invalid_params(format!("unknown command `{}`", params.command)));
        }
        let Some(uri) = params.arguments.first().and_then(Value::as_str).and_then(|s| Uri::from_str(s).ok()) else {
            return Err(Error::invalid_params("`pybun.lock` takes the document URI"));
        };
        let path = document_path(&uri);
        let kind = DocumentKind::of_path(&path);
        let state = self.state.clone();
        let outcome = off_runtime(move || {
            let directory = path.parent().map(PathBuf::from).unwrap_or_default();
            let request = LockRequest {
                directory,
                index: state.config.index.clone(),
                script: (kind == Some(DocumentKind::Script)).then(|| path.clone()),
                keep_settings: true,
                ..LockRequest::default()
            };
            let opener = |settings: &pybun_engine::IndexSettings| state.indexes.open(settings);
            pybun_engine::lock(&request, state.config.fs.as_ref(), &opener, &NullReporter)
        })
        .await?;
        match outcome {
            Ok(outcome) => {
                let status = match outcome.status {
                    LockStatus::Created => "created",
                    LockStatus::Updated => "updated",
                    LockStatus::Unchanged => "unchanged",
                    LockStatus::UpToDate => "up-to-date",
                };
                self.client.show_message(MessageType::INFO, format!("pybun lock: `{}` {status}", outcome.path.display())).await;
                // The lock changed: check the open documents again.
                self.recheck_open_documents();
                Ok(Some(json!({ "lockfile": outcome.path, "status": status })))
            }
            Err(failure) => {
                let message = convert::message(&failure.diagnostic);
                self.client.show_message(MessageType::ERROR, format!("pybun lock failed: {message}")).await;
                let mut error = Error::internal_error();
                error.message = format!("pybun lock failed [{}]: {}", failure.diagnostic.code.as_str(), failure.diagnostic.message).into();
                error.data = Some(json!({ "code": failure.diagnostic.code.as_str() }));
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pybun_diagnostics::Code;

    fn document(text: &str) -> Document {
        let mut doc = Document {
            path: PathBuf::from("/p/pyproject.toml"),
            kind: DocumentKind::Pyproject,
            version: 1,
            text: text.to_string(),
            static_diagnostics: Vec::new(),
            background: Vec::new(),
            actions: Vec::new(),
            run: 0,
        };
        doc.refresh();
        doc
    }

    #[test]
    fn background_results_follow_their_requirement_and_go_with_it() {
        let text = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\ndependencies = [\"a>=1\", \"b>=9\"]\n";
        let mut doc = document(text);
        let start = text.find("\"b>=9\"").unwrap();
        let end = start + "\"b>=9\"".len();
        let spec = text.find(">=9").unwrap();
        let diagnostic = Diagnostic::error(Code::NoMatchingRelease, "no release of `b` matches `>=9`")
            .at("/p/pyproject.toml", Span::in_source(text, start, end))
            .with_fix(Fix::replace("Use the latest release", Span::in_source(text, spec, spec + 3), ">=2"));
        let whole_file = Diagnostic::info(Code::ChecksSkipped, "note").in_file("/p/pyproject.toml");
        let header = Diagnostic::info(Code::LockStale, "stale").at("/p/pyproject.toml", Span::in_source(text, 0, 9));
        doc.background = vec![
            Anchored { item: diagnostic, anchor: Some(Anchor::Requirement { literal: "\"b>=9\"".into(), offset: 0 }) },
            Anchored { item: whole_file, anchor: None },
            Anchored { item: header, anchor: Some(Anchor::Text("[project]".into())) },
        ];
        // A diagnostic on the specifier only (as `PB0800` is) is anchored inside its literal.
        let project = layers::static_layer(text, "/p/pyproject.toml", DocumentKind::Pyproject).project;
        let spans = requirement_spans(project.as_ref());
        let anchor = Anchor::of(text, &spans, spec, spec + 3).unwrap();
        assert_eq!(anchor, Anchor::Requirement { literal: "\"b>=9\"".into(), offset: 2 });
        assert_eq!(Anchor::of(text, &spans, 0, 9), Some(Anchor::Text("[project]".into())));
        let on_specifier = Diagnostic::error(Code::NoMatchingRelease, "no release").at("/p/pyproject.toml", Span::in_source(text, spec, spec + 3));
        doc.background.push(Anchored { item: on_specifier, anchor: Some(anchor) });

        // Typing elsewhere (a new first dependency) moves the diagnostic and its fix.
        doc.text = text.replace("[\"a>=1\"", "[\"zz\", \"a>=1\"");
        doc.refresh();
        let moved = &doc.background[0].item;
        let new_start = doc.text.find("\"b>=9\"").unwrap();
        assert_eq!(convert::byte_range(moved), (new_start, new_start + 6));
        let edit = &moved.fixes[0].edits[0];
        assert_eq!(&doc.text[edit.span.start..edit.span.end], ">=9");
        assert_eq!(doc.background.len(), 4);
        assert_eq!(convert::byte_range(&doc.background[2].item), (0, 9), "the stale-lock note stays on `[project]`");
        let (s, e) = convert::byte_range(&doc.background[3].item);
        assert_eq!(&doc.text[s..e], ">=9");
        assert_eq!(s, new_start + 2);

        // Editing the requirement itself drops it until the next background run; the notes stay.
        doc.text = format!("# comment\n{}", doc.text.replace("\"b>=9\"", "\"b>=1\""));
        doc.refresh();
        let codes: Vec<Code> = doc.background.iter().map(|a| a.item.code).collect();
        assert_eq!(codes, [Code::ChecksSkipped, Code::LockStale]);
        assert_eq!(convert::byte_range(&doc.background[1].item), (10, 19));
    }
}
