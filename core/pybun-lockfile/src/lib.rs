//! The lock model and its two encodings.
//!
//! One model ([`Lock`]), two deterministic encodings: `pybun.lock` (TOML text,
//! the default, reviewable) and `pybun.lockb` (binary, versioned, checksummed).
//! Both round-trip to the identical model. This crate never opens a file: it
//! turns bytes into a model plus diagnostics and back.
//!
//! Values are kept as their canonical strings (normalized names, PEP 440
//! normalized versions, marker strings as `pep508_rs` prints them) so the two
//! encodings agree byte for byte on content; producers normalize before
//! building a model.
//!
//! Besides the two encodings, a lock can be exported as a hashed
//! `requirements.txt` ([`to_requirements_txt`]) or a PEP 751 `pylock.toml`
//! ([`to_pylock_toml`]).

mod binary;
mod export;
mod model;
mod text;

pub use binary::{MAGIC, from_binary, to_binary};
pub use export::{ExportSelection, Reachable, reachable, to_pylock_toml, to_requirements_txt};
pub use model::{
    FORMAT_VERSION, Lock, LockOptions, LockedDependency, LockedFile, LockedPackage, Source,
    TargetEnvironment,
};
pub use text::{HEADER, from_text, to_text, to_text_via_toml_edit};

use pybun_diagnostics::{Code, Diagnostic, Span};

/// Decode a lockfile of either encoding: binary when it starts with
/// [`MAGIC`], text otherwise. `file` is the name shown in diagnostics.
///
/// # Errors
/// The diagnostics of [`from_binary`] or [`from_text`]; text that is not
/// UTF-8 is [`Code::LockSyntax`], pointing at the first invalid byte.
pub fn detect_and_parse(bytes: &[u8], file: &str) -> Result<Lock, Vec<Diagnostic>> {
    if bytes.starts_with(MAGIC) {
        return from_binary(bytes, file);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => from_text(text, file),
        Err(error) => {
            let valid = error.valid_up_to();
            // The valid prefix is UTF-8, so line and column are computed on it.
            let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
            let mut span = Span::in_source(prefix, valid, valid);
            span.end = valid + error.error_len().unwrap_or(1);
            Err(vec![
                Diagnostic::error(
                    Code::LockSyntax,
                    "the lockfile is neither valid UTF-8 text nor a binary lockfile",
                )
                .at(file, span)
                .with_label("invalid UTF-8 byte")
                .with_hint("regenerate it with `pybun lock`"),
            ])
        }
    }
}
