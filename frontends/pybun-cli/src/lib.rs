//! The pybun command line
