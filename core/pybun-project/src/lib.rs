//! pyproject.toml reading and validation with spans
