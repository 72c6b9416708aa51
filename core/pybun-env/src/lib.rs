//! Environment policy as plain data: what an interpreter is ([`Interpreter`]),
//! which wheels it can install ([`Tags`]), which interpreter a request selects
//! ([`select_interpreter`]), and how a virtual environment is laid out. No IO:
//! the facts come from the `Interpreters` port, the layout is written by the
//! `Environments` port.

mod environment;
mod interpreter;
mod select;
mod tags;

pub use environment::{EnvironmentChoice, EnvironmentInputs, EnvironmentRule, environment_python, select_environment};
pub use interpreter::{Interpreter, Libc};
pub use select::{
    Found, Implementation, PythonRequest, PythonRequestError, RequestSource, Selection, SelectionError,
    parse_python_version_file, select_interpreter,
};
pub use tags::{Tags, mac_platforms, platform_tags};
