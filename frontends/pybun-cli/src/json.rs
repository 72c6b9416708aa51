//! The JSON wire format (see `SPECS.md`, "JSON output"). Core types are
//! converted here by hand: the wire format is the CLI's, not the core's.

use pybun_engine::{ConflictNode, Diagnostic, Failure};
use serde_json::{Value, json};

/// The version of the JSON document layout.
pub(crate) const SCHEMA_VERSION: u32 = 1;

pub(crate) fn diagnostic(diagnostic: &Diagnostic) -> Value {
    let mut value = json!({
        "code": diagnostic.code.as_str(),
        "severity": diagnostic.severity.as_str(),
        "message": diagnostic.message,
        "causes": diagnostic.causes,
        "hints": diagnostic.hints,
    });
    if let Some(location) = &diagnostic.location {
        value["file"] = json!(location.file);
        if let Some(span) = location.span {
            value["line"] = json!(span.line);
            value["column"] = json!(span.column);
            value["span"] = json!({ "start": span.start, "end": span.end });
        }
    }
    if let Some(label) = &diagnostic.label {
        value["label"] = json!(label);
    }
    value
}

pub(crate) fn conflict_node(node: &ConflictNode) -> Value {
    match node {
        ConflictNode::Dependency { package, range, dependency, dependency_range } => json!({
            "kind": "dependency", "package": package, "range": range,
            "dependency": dependency, "dependency_range": dependency_range,
        }),
        ConflictNode::NoVersions { package, range } => json!({ "kind": "no-versions", "package": package, "range": range }),
        ConflictNode::Unavailable { package, range, reason } => {
            json!({ "kind": "unavailable", "package": package, "range": range, "reason": reason })
        }
        ConflictNode::Root { package } => json!({ "kind": "root", "package": package }),
        ConflictNode::Derived { conclusion, causes } => json!({
            "kind": "derived", "conclusion": conclusion,
            "causes": causes.iter().map(conflict_node).collect::<Vec<_>>(),
        }),
    }
}

pub(crate) fn success_document(command: &str, result: &Value, warnings: &[Diagnostic]) -> Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "ok": true,
        "result": result,
        "warnings": warnings.iter().map(diagnostic).collect::<Vec<_>>(),
    })
}

pub(crate) fn failure_document(command: &str, failure: &Failure, warnings: &[Diagnostic]) -> Value {
    let mut error = diagnostic(&failure.diagnostic);
    if let Some(conflict) = &failure.conflict {
        error["conflict"] = conflict_node(&conflict.tree);
    }
    json!({
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "ok": false,
        "error": error,
        "related": failure.related.iter().map(diagnostic).collect::<Vec<_>>(),
        "warnings": warnings.iter().map(diagnostic).collect::<Vec<_>>(),
    })
}
