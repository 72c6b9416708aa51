//! Environment policy as plain data: what an interpreter is ([`Interpreter`]),
//! which wheels it can install (tags), which interpreter a request selects,
//! and how a virtual environment is laid out. No IO: the facts come from the
//! `Interpreters` port, the layout is written by the `Environments` port.

mod interpreter;

pub use interpreter::{Interpreter, Libc};
