//! The lock model and its text (pybun.lock) and binary (pybun.lockb) encodings
